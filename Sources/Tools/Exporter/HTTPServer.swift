import BPFKit
import CBPF

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A small HTTP/1.1 server for the exporter's few GET routes, on one thread and one epoll
/// set (with the termination signals, as every tool's wait loop): keep-alive, pipelined
/// requests, partial writes resumed when the socket drains. No TLS, no request bodies.
///
/// Written here rather than taken from SwiftNIO or Hummingbird: three routes need ~250
/// lines, not a dependency tree that adds minutes to a clean CI build and megabytes to the
/// binary every tool shares.
final class HTTPServer {
    struct Request {
        var method: String
        var path: String
        var headers: [(String, String)]

        func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name }?.1
        }
    }

    struct Response {
        var status: Int
        var contentType: String
        var body: [UInt8]
        var extraHeaders: [(String, String)] = []

        init(status: Int, contentType: String = "text/plain; charset=utf-8", body: String, extraHeaders: [(String, String)] = []) {
            self.status = status
            self.contentType = contentType
            self.body = Array(body.utf8)
            self.extraHeaders = extraHeaders
        }
    }

    /// Where the server listens (the real port when 0 was asked for).
    let address: ListenAddress
    private let listener: FileDescriptor
    private var connections: [Int32: Connection] = [:]
    private var activity: UInt64 = 0
    /// Where each read lands before it is appended to its connection's input.
    private var readBuffer = [UInt8](repeating: 0, count: 16 * 1024)

    static let maximumConnections = 64
    static let maximumRequestBytes = 64 * 1024

    private final class Connection {
        let descriptor: FileDescriptor
        var input: [UInt8] = []
        var output: [UInt8] = []
        var written = 0
        var closeWhenWritten = false
        var lastActivity: UInt64 = 0
        var waitingToWrite = false

        init(_ descriptor: FileDescriptor) { self.descriptor = descriptor }
    }

    /// Binds and listens; a port in use or a bad address is one line.
    init(_ requested: ListenAddress) throws {
        let family = requested.isIPv6 ? AF_INET6 : AF_INET
        let raw = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard raw >= 0 else { throw ConfigError("listen \(requested): socket: \(Self.lastError())") }
        listener = FileDescriptor(owning: raw)
        let fd = listener.rawValue  // moved above 2 if it was below
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var port = requested.port
        let bound: Int32
        if requested.isIPv6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = requested.port.bigEndian
            inet_pton(AF_INET6, requested.host, &address.sin6_addr)
            bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = requested.port.bigEndian
            inet_pton(AF_INET, requested.host, &address.sin_addr)
            bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
        guard bound == 0 else {
            let hint = errno == EADDRINUSE ? " (another exporter running? pick another port with --listen)" : ""
            throw ConfigError("listen \(requested): \(Self.lastError())\(hint)")
        }
        guard listen(fd, 128) == 0 else { throw ConfigError("listen \(requested): \(Self.lastError())") }
        if requested.port == 0 {
            var storage = sockaddr_in6()
            var length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(fd, $0, &length) }
            }
            // sin_port and sin6_port sit at the same offset.
            port = UInt16(bigEndian: storage.sin6_port)
        }
        address = ListenAddress(host: requested.host, port: port)
    }

    private static let listenerToken: UInt64 = .max
    private static let signalToken: UInt64 = .max - 1

    /// Serves until SIGINT, SIGTERM or SIGHUP; returns the signal.
    func serve(_ respond: (Request) -> Response) throws -> Int32 {
        let epollFD = cbpf_epoll_create()
        guard epollFD >= 0 else { throw SystemCallError(call: "epoll_create1", errno: -epollFD) }
        let epoll = FileDescriptor(owning: epollFD)
        let signalFD = cbpf_signalfd_termination()
        guard signalFD >= 0 else { throw SystemCallError(call: "signalfd", errno: -signalFD) }
        let signals = FileDescriptor(owning: signalFD)
        for (fd, token) in [(listener.rawValue, Self.listenerToken), (signalFD, Self.signalToken)] {
            let result = cbpf_epoll_add(epoll.rawValue, fd, token)
            guard result == 0 else { throw SystemCallError(call: "epoll_ctl", errno: -result) }
        }
        defer { connections.removeAll() }
        var tokens = [UInt64](repeating: 0, count: 64)
        while true {
            let count = cbpf_epoll_wait(epoll.rawValue, &tokens, Int32(tokens.count), -1)
            if count < 0 { throw SystemCallError(call: "epoll_wait", errno: -count) }
            for token in tokens.prefix(Int(count)) {
                switch token {
                case Self.signalToken:
                    let signal = cbpf_signalfd_read(signals.rawValue)
                    if signal > 0 { return signal }
                case Self.listenerToken:
                    acceptAll(epoll: epoll.rawValue)
                default:
                    service(Int32(truncatingIfNeeded: token), epoll: epoll.rawValue, respond)
                }
            }
        }
    }

    private func acceptAll(epoll: Int32) {
        while true {
            let raw = cbpf_accept(listener.rawValue)
            guard raw >= 0 else { return }  // EAGAIN: all taken; other errors: the client gave up
            if connections.count >= Self.maximumConnections,
               let idlest = connections.values.min(by: { $0.lastActivity < $1.lastActivity }) {
                connections[idlest.descriptor.rawValue] = nil
            }
            let connection = Connection(FileDescriptor(owning: raw))
            let fd = connection.descriptor.rawValue
            activity += 1
            connection.lastActivity = activity
            guard cbpf_epoll_add(epoll, fd, UInt64(fd)) == 0 else { continue }
            connections[fd] = connection
        }
    }

    /// Reads what arrived, answers every complete request, writes what the socket takes.
    private func service(_ fd: Int32, epoll: Int32, _ respond: (Request) -> Response) {
        guard let connection = connections[fd] else { return }
        activity += 1
        connection.lastActivity = activity
        while true {
            let count = readBuffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                connection.input += readBuffer[..<count]
                if connection.input.count > Self.maximumRequestBytes { break }
                continue
            }
            if count == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                // The peer closed (or the socket failed): nothing more to answer.
                connections[fd] = nil
                return
            }
            if errno == EINTR { continue }
            break
        }
        while !connection.closeWhenWritten, let request = takeRequest(connection) {
            connection.output += encode(respond(request), withBody: request.method != "HEAD", connection: connection)
        }
        flush(connection, epoll: epoll)
    }

    /// The next complete request from the connection's input, or nil until more arrives.
    /// A malformed or oversized request gets a 400/431 answer and the connection closes.
    private func takeRequest(_ connection: Connection) -> Request? {
        let input = connection.input
        guard let end = Self.headerEnd(input) else {
            if input.count > Self.maximumRequestBytes {
                reject(connection, status: 431, "request headers too large")
            }
            return nil
        }
        // Split on bytes: as Characters, "\r\n" is one grapheme and no "\n".
        var lines = input[..<end.start].split(separator: 0x0A, omittingEmptySubsequences: false).map { line in
            String(decoding: line.last == 0x0D ? line.dropLast() : line, as: UTF8.self)
        }
        let requestLine = lines.isEmpty ? [] : lines.removeFirst().split(separator: " ")
        guard requestLine.count == 3, requestLine[2].hasPrefix("HTTP/1.") else {
            reject(connection, status: 400, "malformed request line")
            return nil
        }
        var headers: [(String, String)] = []
        for line in lines where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else {
                reject(connection, status: 400, "malformed header")
                return nil
            }
            headers.append((String(line[..<colon]), String(line[line.index(after: colon)...].drop { $0 == " " || $0 == "\t" })))
        }
        let request = Request(method: String(requestLine[0]), path: String(requestLine[1].split(separator: "?", maxSplits: 1).first ?? ""),
                              headers: headers)
        // Bodies are not expected (GET, HEAD); skip one of a stated length, refuse chunked.
        if request.header("transfer-encoding") != nil {
            reject(connection, status: 400, "request bodies are not accepted")
            return nil
        }
        let bodyLength = Int(request.header("content-length") ?? "0") ?? -1
        guard bodyLength >= 0, bodyLength <= Self.maximumRequestBytes else {
            reject(connection, status: 400, "bad content-length")
            return nil
        }
        guard input.count >= end.end + bodyLength else { return nil }
        connection.input.removeFirst(end.end + bodyLength)
        let version = requestLine[2]
        let connectionHeader = request.header("connection")?.lowercased() ?? ""
        if connectionHeader.contains("close") || (version == "HTTP/1.0" && !connectionHeader.contains("keep-alive")) {
            connection.closeWhenWritten = true
        }
        return request
    }

    /// Where the header block ends: the start of its blank line and the first byte after it.
    private static func headerEnd(_ input: [UInt8]) -> (start: Int, end: Int)? {
        var index = 0
        while index + 1 < input.count {
            if input[index] == 0x0A {
                if input[index + 1] == 0x0A { return (index, index + 2) }
                if input[index + 1] == 0x0D, index + 2 < input.count, input[index + 2] == 0x0A { return (index, index + 3) }
            }
            index += 1
        }
        return nil
    }

    private func reject(_ connection: Connection, status: Int, _ reason: String) {
        connection.closeWhenWritten = true
        connection.input.removeAll()
        connection.output += encode(Response(status: status, body: reason + "\n"), withBody: true, connection: connection)
    }

    /// The status line, headers and (unless for HEAD) the body.
    private func encode(_ response: Response, withBody: Bool, connection: Connection) -> [UInt8] {
        var head = "HTTP/1.1 \(response.status) \(Self.reason(response.status))\r\n"
        head += "Content-Type: \(response.contentType)\r\n"
        head += "Content-Length: \(response.body.count)\r\n"
        for (name, value) in response.extraHeaders { head += "\(name): \(value)\r\n" }
        if connection.closeWhenWritten { head += "Connection: close\r\n" }
        head += "\r\n"
        return withBody ? Array(head.utf8) + response.body : Array(head.utf8)
    }

    /// Writes as much as the socket takes; waits for writability when it is full, and
    /// closes the connection once everything is written if it is to close.
    private func flush(_ connection: Connection, epoll: Int32) {
        let fd = connection.descriptor.rawValue
        while connection.written < connection.output.count {
            let count = connection.output.withUnsafeBytes { raw in
                send(fd, raw.baseAddress! + connection.written, raw.count - connection.written, Int32(MSG_NOSIGNAL))
            }
            if count > 0 {
                connection.written += count
                continue
            }
            if count < 0 && errno == EINTR { continue }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                if !connection.waitingToWrite {
                    connection.waitingToWrite = true
                    _ = cbpf_epoll_watch(epoll, fd, UInt64(fd), 1)
                }
                return
            }
            connections[fd] = nil  // the peer went away
            return
        }
        connection.output.removeAll(keepingCapacity: true)
        connection.written = 0
        if connection.waitingToWrite {
            connection.waitingToWrite = false
            _ = cbpf_epoll_watch(epoll, fd, UInt64(fd), 0)
        }
        if connection.closeWhenWritten { connections[fd] = nil }
    }

    private static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 400: "Bad Request"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        default: "Status"
        }
    }

    private static func lastError() -> String {
        let text = String(cString: strerror(errno))
        return text.prefix(1).lowercased() + text.dropFirst()
    }
}
