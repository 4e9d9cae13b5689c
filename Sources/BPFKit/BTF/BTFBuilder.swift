/// Builds a raw BTF blob type by type: for feature probes (tiny BTF loads) and for tests
/// that need exact shapes (each CO-RE relocation kind against a hand-made "kernel").
///
/// ```swift
/// var builder = BTFBuilder()
/// let int = builder.addInt("int", size: 4, signed: true)
/// let task = builder.addStruct("task_struct", size: 8, members: [("pid", int, 0), ("tgid", int, 32)])
/// let btf = try BTF(bytes: builder.bytes())
/// ```
public struct BTFBuilder: Sendable {
    private var types: [UInt8] = []
    private var strings: [UInt8] = [0]
    private var stringOffsets: [String: UInt32] = ["": 0]
    private var count: UInt32 = 0

    /// Offset added to string offsets, and ids before the first one: non-zero for split BTF.
    private var stringBase: UInt32 = 0

    public init() {}

    /// A builder for split BTF on top of `base` (as kernel modules' BTF is): ids continue
    /// after the base's last type, string offsets after the base's string section.
    public init(splitAfter base: BTF) {
        count = UInt32(base.typeCount)
        stringBase = UInt32(base.stringsEnd - base.stringsStart)
        strings = []
        stringOffsets = [:]
    }

    /// The id the next added type gets.
    public var nextID: UInt32 { count + 1 }

    public mutating func string(_ text: String) -> UInt32 {
        if let offset = stringOffsets[text] { return offset }
        if text.isEmpty && stringBase > 0 { return 0 }  // the base's empty string
        let offset = stringBase + UInt32(strings.count)
        strings += Array(text.utf8) + [0]
        stringOffsets[text] = offset
        return offset
    }

    private mutating func append(_ words: [UInt32]) {
        for word in words { withUnsafeBytes(of: word.littleEndian) { types += $0 } }
    }

    /// Adds a type with its 12-byte header and trailing words; returns its id.
    @discardableResult
    public mutating func addType(
        name: String, kind: BTF.Kind, vlen: Int = 0, kindFlag: Bool = false, sizeOrType: UInt32, trailing: [UInt32] = []
    ) -> UInt32 {
        let info = UInt32(kind.rawValue) << 24 | UInt32(vlen & 0xffff) | (kindFlag ? 1 << 31 : 0)
        append([string(name), info, sizeOrType] + trailing)
        count += 1
        return count
    }

    public mutating func addInt(_ name: String, size: UInt32, signed: Bool = false, bits: UInt32? = nil, bitOffset: UInt32 = 0) -> UInt32 {
        let encoding: UInt32 = signed ? 1 : 0
        return addType(name: name, kind: .int, sizeOrType: size, trailing: [encoding << 24 | bitOffset << 16 | (bits ?? size * 8)])
    }

    public mutating func addPointer(to type: UInt32) -> UInt32 { addType(name: "", kind: .pointer, sizeOrType: type) }

    public mutating func addTypedef(_ name: String, _ type: UInt32) -> UInt32 { addType(name: name, kind: .typedef, sizeOrType: type) }

    public mutating func addConst(_ type: UInt32) -> UInt32 { addType(name: "", kind: .const, sizeOrType: type) }

    public mutating func addArray(of element: UInt32, index: UInt32, count: UInt32) -> UInt32 {
        addType(name: "", kind: .array, sizeOrType: 0, trailing: [element, index, count])
    }

    /// Members as (name, type, bit offset, bitfield size); a non-zero bitfield size sets kind_flag.
    public mutating func addStruct(
        _ name: String, size: UInt32, members: [(String, UInt32, UInt32, UInt32)], union: Bool = false
    ) -> UInt32 {
        let bitfields = members.contains { $0.3 != 0 }
        var trailing: [UInt32] = []
        for (memberName, type, offset, bits) in members {
            trailing += [string(memberName), type, bitfields ? bits << 24 | offset : offset]
        }
        return addType(name: name, kind: union ? .union : .struct, vlen: members.count, kindFlag: bitfields,
                       sizeOrType: size, trailing: trailing)
    }

    public mutating func addStruct(_ name: String, size: UInt32, members: [(String, UInt32, UInt32)]) -> UInt32 {
        addStruct(name, size: size, members: members.map { ($0.0, $0.1, $0.2, 0) })
    }

    public mutating func addEnum(_ name: String, size: UInt32 = 4, values: [(String, Int32)], signed: Bool = false) -> UInt32 {
        var trailing: [UInt32] = []
        for (valueName, value) in values { trailing += [string(valueName), UInt32(bitPattern: value)] }
        return addType(name: name, kind: .enum, vlen: values.count, kindFlag: signed, sizeOrType: size, trailing: trailing)
    }

    public mutating func addFunctionPrototype(returning type: UInt32, parameters: [(String, UInt32)]) -> UInt32 {
        var trailing: [UInt32] = []
        for (parameter, parameterType) in parameters { trailing += [string(parameter), parameterType] }
        return addType(name: "", kind: .functionPrototype, vlen: parameters.count, sizeOrType: type, trailing: trailing)
    }

    public mutating func addFunction(_ name: String, prototype: UInt32, linkage: Int = 1) -> UInt32 {
        addType(name: name, kind: .function, vlen: linkage, sizeOrType: prototype)
    }

    /// The blob: header, types, strings.
    public func bytes() -> [UInt8] {
        var header: [UInt8] = [0x9f, 0xeb, 1, 0]
        for word in [UInt32(24), 0, UInt32(types.count), UInt32(types.count), UInt32(strings.count)] {
            withUnsafeBytes(of: word.littleEndian) { header += $0 }
        }
        return header + types + strings
    }
}
