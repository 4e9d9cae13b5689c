import Foundation

/// A TCP listener on an ephemeral port of `host` (127.0.0.1 or ::1), for connections this
/// process makes to itself.
final class LoopbackListener {
    let host: String
    let family: Int32
    let port: UInt16
    private let fd: Int32

    init(host: String) throws {
        self.host = host
        family = host.contains(":") ? AF_INET6 : AF_INET
        let fd = socket(family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw LoopbackSession.Failure(description: "socket: errno \(errno)") }
        self.fd = fd
        do {
            var address = try LoopbackSession.address(host, family: family, port: 0)
            try LoopbackSession.check(LoopbackSession.withAddress(&address) { bind(fd, $0, $1) }, "bind")
            try LoopbackSession.check(listen(fd, 8), "listen")
            port = try LoopbackSession.port(of: fd, family: family)
        } catch {
            close(fd)
            throw error
        }
    }

    /// Connects, accepts, sends `upload` bytes client to server and `download` back, then
    /// closes the client and then the server end.
    func session(upload: Int = 0, download: Int = 0) throws -> LoopbackSession {
        var address = try LoopbackSession.address(host, family: family, port: port)
        let client = socket(family, Int32(SOCK_STREAM.rawValue), 0)
        guard client >= 0 else { throw LoopbackSession.Failure(description: "socket: errno \(errno)") }
        defer { close(client) }
        try LoopbackSession.check(LoopbackSession.withAddress(&address) { connect(client, $0, $1) }, "connect")
        let clientPort = try LoopbackSession.port(of: client, family: family)
        let server = accept(fd, nil, nil)
        guard server >= 0 else { throw LoopbackSession.Failure(description: "accept: errno \(errno)") }
        defer { close(server) }
        try LoopbackSession.transfer(upload, from: client, to: server)
        try LoopbackSession.transfer(download, from: server, to: client)
        return LoopbackSession(serverPort: port, clientPort: clientPort)
    }

    deinit { close(fd) }
}

/// One TCP connection this process made to itself (see ``LoopbackListener``).
struct LoopbackSession {
    let serverPort: UInt16
    let clientPort: UInt16

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    init(serverPort: UInt16, clientPort: UInt16) {
        self.serverPort = serverPort
        self.clientPort = clientPort
    }

    /// A session on a fresh listener of `host`.
    init(host: String, upload: Int = 0, download: Int = 0) throws {
        self = try LoopbackListener(host: host).session(upload: upload, download: download)
    }

    /// Connects to `port` of `host`, where nobody need listen (the SYN goes out; the result is ignored).
    static func connectOnly(host: String, port: UInt16) throws {
        let family = host.contains(":") ? AF_INET6 : AF_INET
        var address = try address(host, family: family, port: port)
        let client = socket(family, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(client) }
        _ = withAddress(&address) { connect(client, $0, $1) }
    }

    /// Sends `count` bytes in pieces small enough that one thread can write and read them.
    static func transfer(_ count: Int, from sender: Int32, to receiver: Int32) throws {
        var remaining = count
        var buffer = [UInt8](repeating: 0x61, count: 16384)
        while remaining > 0 {
            let piece = min(remaining, buffer.count)
            var sent = 0
            while sent < piece {
                let written = buffer.withUnsafeBytes { write(sender, $0.baseAddress! + sent, piece - sent) }
                guard written > 0 else { throw Failure(description: "write: errno \(errno)") }
                sent += written
            }
            var received = 0
            while received < piece {
                let got = buffer.withUnsafeMutableBytes { read(receiver, $0.baseAddress!, piece - received) }
                guard got > 0 else { throw Failure(description: "read: errno \(errno)") }
                received += got
            }
            remaining -= piece
        }
    }

    static func address(_ host: String, family: Int32, port: UInt16) throws -> sockaddr_storage {
        var storage = sockaddr_storage()
        let ok = withUnsafeMutableBytes(of: &storage) { raw -> Bool in
            if family == AF_INET6 {
                let address = raw.baseAddress!.assumingMemoryBound(to: sockaddr_in6.self)
                address.pointee.sin6_family = sa_family_t(AF_INET6)
                address.pointee.sin6_port = port.bigEndian
                return inet_pton(AF_INET6, host, &address.pointee.sin6_addr) == 1
            }
            let address = raw.baseAddress!.assumingMemoryBound(to: sockaddr_in.self)
            address.pointee.sin_family = sa_family_t(AF_INET)
            address.pointee.sin_port = port.bigEndian
            return inet_pton(AF_INET, host, &address.pointee.sin_addr) == 1
        }
        guard ok else { throw Failure(description: "bad address \(host)") }
        return storage
    }

    static func withAddress(_ storage: inout sockaddr_storage, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
        let length = socklen_t(storage.ss_family == sa_family_t(AF_INET6) ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size)
        return withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) } }
    }

    static func port(of fd: Int32, family: Int32) throws -> UInt16 {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        try check(result, "getsockname")
        return withUnsafeBytes(of: storage) { raw in
            family == AF_INET6
                ? UInt16(bigEndian: raw.load(as: sockaddr_in6.self).sin6_port)
                : UInt16(bigEndian: raw.load(as: sockaddr_in.self).sin_port)
        }
    }

    static func check(_ result: Int32, _ call: String) throws {
        if result != 0 { throw Failure(description: "\(call): errno \(errno)") }
    }
}


/// How many BPF links process `pid` holds: a tool that prints nothing until it ends is
/// attached once it holds all of its links.
func bpfLinkCount(_ pid: Int32) -> Int {
    let directory = "/proc/\(pid)/fd"
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
    return entries.filter { (try? FileManager.default.destinationOfSymbolicLink(atPath: directory + "/" + $0)) == "anon_inode:bpf_link" }.count
}

/// Where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup, or …/unified on hybrid systems).
func cgroup2Mount() -> String? {
    guard let mounts = try? String(contentsOfFile: "/proc/mounts", encoding: .utf8) else { return nil }
    for line in mounts.split(separator: "\n") {
        let fields = line.split(separator: " ")
        if fields.count > 2, fields[2] == "cgroup2" { return String(fields[1]) }
    }
    return nil
}

/// A C program that listens on ADDRESS:PORT, connects to itself, writes 2000 bytes from the
/// client and stays SECONDS seconds (so a dropped write is retransmitted meanwhile).
let tcpPeerSource = """
    #include <arpa/inet.h>
    #include <netinet/in.h>
    #include <stdio.h>
    #include <stdlib.h>
    #include <string.h>
    #include <sys/socket.h>
    #include <unistd.h>
    int main(int argc, char **argv) {
        int v6 = strchr(argv[1], ':') != NULL;
        struct sockaddr_storage ss = {0};
        socklen_t len;
        if (v6) {
            struct sockaddr_in6 *a = (void *)&ss;
            a->sin6_family = AF_INET6; a->sin6_port = htons(atoi(argv[2]));
            inet_pton(AF_INET6, argv[1], &a->sin6_addr); len = sizeof(*a);
        } else {
            struct sockaddr_in *a = (void *)&ss;
            a->sin_family = AF_INET; a->sin_port = htons(atoi(argv[2]));
            inet_pton(AF_INET, argv[1], &a->sin_addr); len = sizeof(*a);
        }
        int server = socket(ss.ss_family, SOCK_STREAM, 0), one = 1;
        setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(server, (void *)&ss, len) || listen(server, 4)) { perror("listen"); return 1; }
        int client = socket(ss.ss_family, SOCK_STREAM, 0);
        if (connect(client, (void *)&ss, len)) { perror("connect"); return 1; }
        char data[2000];
        memset(data, 'x', sizeof(data));
        if (write(client, data, sizeof(data)) != sizeof(data)) return 1;
        usleep((useconds_t)(atof(argv[3]) * 1e6));
        return 0;
    }
    """

/// A C program that resolves argv[1] with getaddrinfo every 20 ms, argv[2] times.
let lookupSource = """
    #include <netdb.h>
    #include <stdlib.h>
    #include <unistd.h>
    int main(int argc, char **argv) {
        int times = argc > 2 ? atoi(argv[2]) : 1;
        for (int i = 0; i < times; i++) {
            struct addrinfo *result = NULL;
            if (getaddrinfo(argv[1], NULL, NULL, &result) == 0)
                freeaddrinfo(result);
            usleep(20000);
        }
        return 0;
    }
    """
