import ArgumentParser
import BPFKit
import Report

#if canImport(Glibc)
import Glibc
#endif

/// `bpfkit btf`: the kernel's types as CO-RE sees them — a struct's members with their
/// offsets, an enum's values — and how long parsing the kernel's BTF takes.
public struct BTFDump: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "btf",
        abstract: "Show kernel types from BTF (members and offsets), or BTF parse statistics.")

    @Option(name: .shortAndLong, help: "A BTF file to read instead of the kernel's.")
    var file: String = KernelBTF.path

    @Flag(help: "Print the number of types and the parse and index times.")
    var stats = false

    @Argument(help: "Type names to show (struct, union, enum, typedef, func).")
    var types: [String] = []

    public init() {}

    public func run() throws {
        try reportingFailures(tool: "btf") {
            let out = Output.standardOutput
            let start = Clock.monotonicNanoseconds()
            guard let bytes = KernelBTF.readBytes(file) else { throw ValidationError("cannot read \(file)") }
            let read = Clock.monotonicNanoseconds()
            let btf = try BTF(bytes: bytes)
            let parsed = Clock.monotonicNanoseconds()
            if stats {
                _ = btf.typeID(named: "task_struct")  // builds the name index
                let indexed = Clock.monotonicNanoseconds()
                func ms(_ nanoseconds: UInt64) -> String { Columns.fixed(Double(nanoseconds) / 1e6, decimals: 2) }
                out.line("types \(btf.typeCount) bytes \(bytes.count) read_ms \(ms(read - start)) parse_ms \(ms(parsed - read)) name_index_ms \(ms(indexed - parsed))")
            }
            for name in types {
                let ids = btf.typeIDs(named: name)
                guard !ids.isEmpty else { throw ValidationError("no type named \(name) in \(file)") }
                for id in ids { out.write(try describe(id, in: btf)) }
            }
        }
    }

    private func describe(_ id: UInt32, in btf: BTF) throws -> String {
        let kind = try btf.kind(of: id)
        let name = try btf.name(of: id)
        var text = "[\(id)] \(kind) \(name)"
        switch kind {
        case .struct, .union:
            text += " size \(try btf.sizeOrType(of: id))\n"
            for member in try btf.members(of: id) {
                let offset = member.bitOffset % 8 == 0 && member.bitfieldSize == 0
                    ? "\(member.bitOffset / 8)" : "bit \(member.bitOffset)"
                let bits = member.bitfieldSize > 0 ? ":\(member.bitfieldSize)" : ""
                text += "    \(Columns.left(offset, 8)) \(member.name.isEmpty ? "(anonymous)" : member.name)\(bits): \(try typeName(member.type, in: btf))\n"
            }
        case .enum, .enum64:
            text += "\n"
            for (valueName, value) in try btf.enumerators(of: id) { text += "    \(valueName) = \(value)\n" }
        default:
            text += ": \(try typeName(btf.sizeOrType(of: id), in: btf))\n"
        }
        return text
    }

    /// A short C-like name for a type: `struct task_struct *`, `char[16]`, `u32`.
    private func typeName(_ id: UInt32, in btf: BTF, depth: Int = 0) throws -> String {
        guard id != 0 else { return "void" }
        guard depth < 16 else { return "…" }
        let name = try btf.name(of: id)
        switch try btf.kind(of: id) {
        case .pointer: return try typeName(btf.sizeOrType(of: id), in: btf, depth: depth + 1) + " *"
        case .array:
            let array = try btf.array(id)
            return try typeName(array.element, in: btf, depth: depth + 1) + "[\(array.count)]"
        case .const: return "const " + (try typeName(btf.sizeOrType(of: id), in: btf, depth: depth + 1))
        case .volatile: return "volatile " + (try typeName(btf.sizeOrType(of: id), in: btf, depth: depth + 1))
        case .struct: return "struct " + (name.isEmpty ? "{…}" : name)
        case .union: return "union " + (name.isEmpty ? "{…}" : name)
        case .enum, .enum64: return "enum " + (name.isEmpty ? "{…}" : name)
        case .functionPrototype: return "function"
        default: return name.isEmpty ? "\(try btf.kind(of: id))" : name
        }
    }
}
