/// One argument of a USDT probe, parsed from the GNU assembler operand `<sdt.h>` records:
/// `-4@%edi` (4 signed bytes in a register), `8@-16(%rbp)` (8 bytes in memory at a register
/// plus an offset), `4@$5` (a constant). x86-64 operands only.
public struct USDTArgument: Sendable, Equatable, CustomStringConvertible {
    public enum Location: Sendable, Equatable {
        case register(USDTRegister)
        /// Memory at the register's value plus `offset`.
        case memory(USDTRegister, offset: Int64)
        case constant(Int64)
        /// An operand this parser does not decode (symbol-relative, indexed), kept verbatim.
        case unsupported(String)
    }

    /// 1, 2, 4 or 8 bytes.
    public var size: Int
    public var isSigned: Bool
    public var location: Location

    public init(size: Int, isSigned: Bool, location: Location) {
        self.size = size
        self.isSigned = isSigned
        self.location = location
    }

    /// Parses one operand; nil when it is not `[-]SIZE@LOCATION` with a size of 1, 2, 4 or 8.
    public init?(_ operand: some StringProtocol) {
        let text = Substring(operand)
        guard let at = text.firstIndex(of: "@") else { return nil }
        var sizeText = text[text.startIndex..<at]
        isSigned = sizeText.hasPrefix("-")
        if isSigned { sizeText = sizeText.dropFirst() }
        guard let size = Int(sizeText), [1, 2, 4, 8].contains(size) else { return nil }
        self.size = size
        location = Self.parseLocation(text[text.index(after: at)...])
    }

    /// The space-separated operands of a note; an operand without a size becomes an
    /// unsupported 8-byte argument, so argument numbers stay right.
    public static func parseList(_ text: String) -> [USDTArgument] {
        text.split(separator: " ", omittingEmptySubsequences: true).map {
            USDTArgument($0) ?? USDTArgument(size: 8, isSigned: false, location: .unsupported(String($0)))
        }
    }

    static func parseLocation(_ text: Substring) -> Location {
        if text.hasPrefix("$") {
            guard let value = Int64(text.dropFirst()) else { return .unsupported(String(text)) }
            return .constant(value)
        }
        if text.hasPrefix("%") {
            guard let register = USDTRegister(named: text.dropFirst()) else { return .unsupported(String(text)) }
            return .register(register)
        }
        // OFFSET(%REG): a decimal offset (possibly empty) and one base register, no index.
        guard text.hasSuffix(")"), let open = text.firstIndex(of: "(") else { return .unsupported(String(text)) }
        let offsetText = text[text.startIndex..<open]
        let inner = text[text.index(after: open)..<text.index(before: text.endIndex)]
        guard inner.hasPrefix("%"), !inner.contains(","),
              let register = USDTRegister(named: inner.dropFirst()), register.name != "rip",
              let offset = offsetText.isEmpty ? 0 : Int64(offsetText)
        else { return .unsupported(String(text)) }
        return .memory(register, offset: offset)
    }

    /// bcc's wording: `4 signed bytes @ register %edi`.
    public var description: String {
        let kind = "\(size) \(isSigned ? "signed" : "unsigned") bytes @ "
        switch location {
        case .register(let register): return kind + "register %\(register.name)"
        case .memory(let register, let offset): return kind + "\(offset)(%\(register.name))"
        case .constant(let value): return kind + "constant \(value)"
        case .unsupported(let text): return kind + "unsupported \(text)"
        }
    }
}

/// An x86-64 general-purpose register as an operand names it (`%edi`, `%r12`, `%al`), and
/// where the kernel's `struct pt_regs` keeps its 64-bit value.
public struct USDTRegister: Sendable, Equatable {
    /// The name as written, without `%`.
    public var name: String
    /// Byte offset in x86-64 `struct pt_regs`.
    public var ptRegsOffset: Int

    /// The 64-bit register's pt_regs slot for every alias (rax eax ax al, r8 r8d r8w r8b…).
    private static let slots: [String: Int] = {
        var table: [String: Int] = [:]
        let legacy: [(String, Int)] = [("a", 80), ("b", 40), ("c", 88), ("d", 96)]
        for (letter, offset) in legacy {
            for alias in ["r\(letter)x", "e\(letter)x", "\(letter)x", "\(letter)l"] { table[alias] = offset }
        }
        let pointers: [(String, Int)] = [("si", 104), ("di", 112), ("bp", 32), ("sp", 152)]
        for (stem, offset) in pointers {
            for alias in ["r" + stem, "e" + stem, stem, stem + "l"] { table[alias] = offset }
        }
        let numbered: [(Int, Int)] = [(8, 72), (9, 64), (10, 56), (11, 48), (12, 24), (13, 16), (14, 8), (15, 0)]
        for (number, offset) in numbered {
            for suffix in ["", "d", "w", "b"] { table["r\(number)\(suffix)"] = offset }
        }
        table["rip"] = 128
        return table
    }()

    public init?(named name: some StringProtocol) {
        guard let offset = Self.slots[String(name)] else { return nil }
        self.name = String(name)
        ptRegsOffset = offset
    }
}
