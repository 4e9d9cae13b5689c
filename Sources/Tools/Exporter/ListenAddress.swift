#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Where the exporter listens: `127.0.0.1:9435`, `[::1]:9435`, `localhost:9435`, or
/// `:9435` for every IPv4 address (Prometheus exporters' convention). Port 0 picks a free one.
struct ListenAddress: CustomStringConvertible {
    /// A numeric IPv4 or IPv6 address.
    let host: String
    let port: UInt16
    var isIPv6: Bool { host.contains(":") }

    static let defaultValue = "127.0.0.1:9435"

    init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    init(parsing text: String) throws {
        guard let colon = text.lastIndex(of: ":") else { throw ConfigError("listen address \"\(text)\" is not ADDRESS:PORT") }
        var host = String(text[..<colon])
        let portText = text[text.index(after: colon)...]
        guard let port = UInt16(portText) else { throw ConfigError("listen address \"\(text)\": port must be a number from 0 to 65535") }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.isEmpty { host = "0.0.0.0" }
        if host == "localhost" { host = "127.0.0.1" }
        var probe = in6_addr()
        guard inet_pton(host.contains(":") ? AF_INET6 : AF_INET, host, &probe) == 1 else {
            throw ConfigError("listen address \"\(text)\": \(host) is not a numeric IPv4 or IPv6 address")
        }
        self.init(host: host, port: port)
    }

    var description: String { isIPv6 ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
