import ArgumentParser
import BPFKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Block devices by the kernel's dev_t (`major << 20 | minor`, as trace events and BPF
/// programs see them), read from `/sys/class/block`.
final class BlockDevices {
    private var names: [UInt32: String] = [:]

    init() { refresh() }

    /// The device's name ("sda", "loop0"), or "<unknown>" (bcc's word) when it is gone or 0.
    func name(of dev: UInt32) -> String {
        if dev == 0 { return "<unknown>" }
        if let name = names[dev] { return name }
        refresh()  // a device that appeared since (a new loop device)
        return names[dev] ?? "<unknown>"
    }

    private func refresh() {
        for name in Self.entries() {
            if let dev = Self.dev(of: name) { names[dev] = name }
        }
    }

    /// The dev_t of whole disk `name` (`sda` or `/dev/sda`), or a one-line error.
    static func disk(named given: String) throws -> UInt32 {
        let name = given.hasPrefix("/dev/") ? String(given.dropFirst(5)) : given
        guard !name.isEmpty, !name.contains("/"), name != ".", name != "..", let dev = dev(of: name) else {
            throw ValidationError("no such disk '\(given)'")
        }
        if access("/sys/class/block/\(name)/partition", F_OK) == 0 {
            throw ValidationError("'\(given)' is a partition: block I/O is traced per disk, give its disk instead")
        }
        return dev
    }

    private static func dev(of name: String) -> UInt32? {
        guard let text = readSmallFile("/sys/class/block/\(name)/dev") else { return nil }
        let parts = text.split(whereSeparator: { $0 == ":" || $0 == "\n" })
        guard parts.count >= 2, let major = UInt32(parts[0]), let minor = UInt32(parts[1]) else { return nil }
        return major << 20 | minor
    }

    private static func entries() -> [String] {
        guard let directory = opendir("/sys/class/block") else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            }
            if !name.hasPrefix(".") { names.append(name) }
        }
        return names
    }
}

/// A block request's operation and flags as bcc names them ("Sync-Write", "ReadAhead-Read"),
/// from the request's `cmd_flags` (bit positions from the kernel's own BTF, enums
/// `req_op` and `req_flag_bits`, which move between versions) or from a trace event's
/// `rwbs` text ("WS", "RA", "FWFS").
struct RequestFlags {
    private var operations: [UInt32: String] = [
        0: "Read", 1: "Write", 2: "Flush", 3: "Discard", 5: "SecureErase", 7: "ZoneAppend", 9: "WriteZeros",
        11: "ZoneOpen", 13: "ZoneClose", 15: "ZoneFinish", 17: "ZoneReset", 19: "ZoneResetAll", 34: "DrvIn", 35: "DrvOut",
    ]
    private var operationBits: UInt32 = 8
    /// (bit, name), in the order bcc prepends them: the last one printed first.
    private var flagBits: [(bit: UInt32, name: String)] = [
        (11, "Sync"), (12, "Metadata"), (17, "ForcedUnitAccess"), (13, "Priority"), (14, "NoMerge"), (15, "Idle"),
        (19, "ReadAhead"), (20, "Background"), (21, "NoWait"),
    ]

    /// The running kernel's layout where its BTF says; Linux 6.x's otherwise.
    init(btf: BTF?) {
        guard let btf else { return }
        if let id = btf.typeID(named: "req_op", kind: .enum) ?? btf.typeID(named: "req_opf", kind: .enum),
           let values = try? btf.enumerators(of: id) {
            var names: [UInt32: String] = [:]
            for (name, value) in values where name.hasPrefix("REQ_OP_") && name != "REQ_OP_LAST" && value >= 0 {
                names[UInt32(value)] = Self.camelCase(String(name.dropFirst("REQ_OP_".count)))
            }
            if !names.isEmpty { operations = names }
        }
        if let id = btf.typeID(named: "req_flag_bits", kind: .enum), let values = try? btf.enumerators(of: id) {
            let bits = Dictionary(values.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
            if let first = bits["__REQ_FAILFAST_DEV"], first > 0, first < 32 { operationBits = UInt32(first) }
            let named = [
                ("__REQ_SYNC", "Sync"), ("__REQ_META", "Metadata"), ("__REQ_FUA", "ForcedUnitAccess"),
                ("__REQ_PRIO", "Priority"), ("__REQ_NOMERGE", "NoMerge"), ("__REQ_IDLE", "Idle"),
                ("__REQ_RAHEAD", "ReadAhead"), ("__REQ_BACKGROUND", "Background"), ("__REQ_NOWAIT", "NoWait"),
            ]
            flagBits = named.compactMap { key, name in
                guard let bit = bits[key], bit >= 0, bit < 32 else { return nil }
                return (UInt32(bit), name)
            }
        }
    }

    /// bcc's `flags_print`: the operation, each set flag prepended ("ForcedUnitAccess-Sync-Write").
    func describe(cmdFlags: UInt32) -> String {
        let mask: UInt32 = (1 << operationBits) - 1
        var text = operations[cmdFlags & mask] ?? "Unknown"
        for (bit, name) in flagBits where cmdFlags & (1 << bit) != 0 { text = name + "-" + text }
        return text
    }

    func isWrite(cmdFlags: UInt32) -> Bool { cmdFlags & ((1 << operationBits) - 1) == 1 }

    /// The same description from a trace event's rwbs (blk_fill_rwbs: [F]op[F][A][S][M]).
    static func describe(rwbs: String) -> String {
        let parsed = parse(rwbs)
        var text = parsed.operation
        let order = [("S", "Sync"), ("M", "Metadata"), ("F", "ForcedUnitAccess"), ("A", "ReadAhead")]
        for (letter, name) in order where parsed.flags.contains(letter) { text = name + "-" + text }
        return text
    }

    static func isWrite(rwbs: String) -> Bool { parse(rwbs).operation == "Write" }

    private static func parse(_ rwbs: String) -> (operation: String, flags: Set<String>) {
        var letters = rwbs.map(String.init)
        // A leading F is a preflush when an operation letter follows it.
        if letters.count > 1, letters[0] == "F", ["W", "R", "D", "N", "F"].contains(letters[1]) { letters.removeFirst() }
        guard let first = letters.first else { return ("Unknown", []) }
        letters.removeFirst()
        var operation: String
        switch first {
        case "R": operation = "Read"
        case "W": operation = "Write"
        case "F": operation = "Flush"
        case "D":
            operation = "Discard"
            if letters.first == "E" {
                operation = "SecureErase"
                letters.removeFirst()
            }
        default: operation = "Unknown"
        }
        return (operation, Set(letters))
    }

    /// WRITE_ZEROES → WriteZeros (bcc's spelling), ZONE_RESET_ALL → ZoneResetAll.
    private static func camelCase(_ name: String) -> String {
        if name == "WRITE_ZEROES" { return "WriteZeros" }
        return name.split(separator: "_").map { $0.prefix(1) + $0.dropFirst().lowercased() }.joined()
    }
}

/// A little-endian 8-byte field holding up to 8 characters (a trace event's rwbs).
func shortText(_ packed: UInt64) -> String {
    withUnsafeBytes(of: packed.littleEndian) { bytes in
        String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }
}
