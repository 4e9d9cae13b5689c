import Foundation
import Testing

/// A running `bpfkit exporter` on a free loopback port.
final class ExporterRun {
    let run: ToolRun
    let port: Int
    private let configPath: String?

    /// Starts the exporter with `config` (JSON text; nil runs every collector) and waits
    /// until it says where it serves.
    init(config: String?) throws {
        var arguments = ["exporter", "--listen", "127.0.0.1:0"]
        if let config {
            let path = NSTemporaryDirectory() + uniqueMarker("exporter") + ".json"
            try config.write(toFile: path, atomically: true, encoding: .utf8)
            configPath = path
            arguments += ["--config", path]
        } else {
            configPath = nil
        }
        run = try ToolRun(arguments)
        try run.wait(timeout: 60) { $0.stdout.contains("/metrics") }
        guard let match = run.stdout.firstMatch(of: /serving http:\/\/127\.0\.0\.1:(\d+)\/metrics/), let port = Int(match.1) else {
            throw ExporterTestError("exporter did not start: stdout \(run.stdout) stderr \(run.stderr)")
        }
        self.port = port
    }

    func get(_ path: String, headers: [String: String] = [:], method: String = "GET") throws -> HTTPReply {
        try HTTPReply.fetch(port: port, requests: [(method, path, headers)]).first!
    }

    /// The current /metrics, parsed.
    func metrics() throws -> Exposition { Exposition(try get("/metrics").body) }

    @discardableResult
    func stop(_ signal: Int32 = SIGTERM) -> Int32 {
        defer { configPath.map { _ = unlink($0) } }
        return run.stop(signal, timeout: 15)
    }
}

struct ExporterTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// One HTTP response, read by a minimal HTTP/1.1 client over one connection (so tests see
/// exactly what the server sends, keep-alive included).
struct HTTPReply {
    var status: Int
    var headers: [String: String]
    var body: String

    /// Sends every request on one connection (pipelined) and reads the answers in order.
    static func fetch(port: Int, requests: [(method: String, path: String, headers: [String: String])]) throws -> [HTTPReply] {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ExporterTestError("socket failed") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw ExporterTestError("connect to port \(port) failed: errno \(errno)") }
        var text = ""
        for request in requests {
            text += "\(request.method) \(request.path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            for (name, value) in request.headers { text += "\(name): \(value)\r\n" }
            text += "\r\n"
        }
        let bytes = Array(text.utf8)
        guard send(fd, bytes, bytes.count, 0) == bytes.count else { throw ExporterTestError("send failed") }

        var input: [UInt8] = []
        var replies: [HTTPReply] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while replies.count < requests.count {
            if let (reply, used) = parse(input, head: requests[replies.count].method == "HEAD") {
                replies.append(reply)
                input.removeFirst(used)
                continue
            }
            let count = recv(fd, &buffer, buffer.count, 0)
            guard count > 0 else { throw ExporterTestError("connection ended after \(replies.count) replies (\(input.count) bytes pending)") }
            input += buffer[..<count]
        }
        return replies
    }

    private static func parse(_ input: [UInt8], head: Bool) -> (HTTPReply, Int)? {
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        guard let end = (0..<max(0, input.count - 3)).first(where: { Array(input[$0..<$0 + 4]) == separator }) else { return nil }
        let lines = String(decoding: input[..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let status = Int(lines[0].split(separator: " ")[1]) ?? 0
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            let parts = line.split(separator: ":", maxSplits: 1)
            headers[parts[0].lowercased()] = parts[1].trimmingCharacters(in: .whitespaces)
        }
        let length = head ? 0 : Int(headers["content-length"] ?? "0") ?? 0
        guard input.count >= end + 4 + length else { return nil }
        let body = String(decoding: input[(end + 4)..<(end + 4 + length)], as: UTF8.self)
        return (HTTPReply(status: status, headers: headers, body: body), end + 4 + length)
    }
}

/// Samples of a Prometheus text exposition, by series (`name{labels}` as printed).
struct Exposition {
    let text: String
    let samples: [String: Double]

    init(_ text: String) {
        self.text = text
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            samples[String(line[..<space])] = value
        }
        self.samples = samples
    }

    subscript(series: String) -> Double? { samples[series] }

    /// Every sample whose series starts with `prefix`.
    func all(_ prefix: String) -> [String: Double] { samples.filter { $0.key.hasPrefix(prefix) } }
}

/// A free loopback TCP port (bound then released).
func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(fd, pointer, length) == 0 ? getsockname(fd, pointer, &length) : -1
        }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}
