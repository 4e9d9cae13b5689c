import ArgumentParser
import BPFKit

/// A comma-separated list of TCP ports (`-P 80,443`), at most `TCPTOOLS_MAX_PORTS` of them:
/// the BPF programs compare against a fixed array, so the filter costs no map lookup.
struct PortList: ExpressibleByArgument, Sendable {
    static let limit = 8

    var ports: [UInt16]

    init?(argument: String) {
        let parts = argument.split(separator: ",", omittingEmptySubsequences: false)
        var ports: [UInt16] = []
        for part in parts {
            guard let port = UInt16(part.trimmingPrefix(" ")), port > 0 else { return nil }
            ports.append(port)
        }
        guard !ports.isEmpty, ports.count <= Self.limit else { return nil }
        self.ports = ports
    }

    /// The ports as the programs' `const volatile uint16_t ports[8]` global.
    var global: (UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16) {
        var value: (UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16) = (0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &value) { bytes in
            for (index, port) in ports.enumerated() { bytes.storeBytes(of: port, toByteOffset: index * 2, as: UInt16.self) }
        }
        return value
    }
}

extension ObjectSpec {
    /// Sets a port-list filter: the array global `ports` and its count global `count`.
    mutating func setPorts(_ list: PortList?, _ ports: String, count: String) throws {
        guard let list else { return }
        try setGlobal(ports, to: list.global)
        try setGlobal(count, to: UInt32(list.ports.count))
    }
}
