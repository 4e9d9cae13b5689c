/// One 8-byte BPF instruction (`struct bpf_insn`); an `ld_imm64` occupies two.
public struct Instruction: Sendable, Equatable {
    public var code: UInt8
    /// dst_reg in the low nibble, src_reg in the high nibble.
    public var registers: UInt8
    public var offset: Int16
    public var immediate: Int32

    public init(code: UInt8, destination: UInt8 = 0, source: UInt8 = 0, offset: Int16 = 0, immediate: Int32 = 0) {
        self.code = code
        self.registers = (source << 4) | (destination & 0xf)
        self.offset = offset
        self.immediate = immediate
    }

    public var destination: UInt8 { registers & 0xf }
    public var source: UInt8 {
        get { registers >> 4 }
        set { registers = (newValue << 4) | (registers & 0xf) }
    }

    /// `BPF_LD | BPF_IMM | BPF_DW`, the first half of a 64-bit immediate load.
    public var isLoadImmediate64: Bool { code == 0x18 }
    /// `BPF_JMP | BPF_CALL`.
    public var isCall: Bool { code == 0x85 }
    /// A call to another BPF function (src_reg = BPF_PSEUDO_CALL).
    public var isFunctionCall: Bool { isCall && source == 1 }

    /// Decodes instructions from bytes (count = bytes / 8).
    public static func decode(_ bytes: ArraySlice<UInt8>) -> [Instruction] {
        stride(from: 0, to: bytes.count - 7, by: 8).map { at in
            Instruction(
                code: bytes[bytes.startIndex + at], registers: bytes[bytes.startIndex + at + 1],
                offset: bytes.getInteger(at: at + 2)!, immediate: bytes.getInteger(at: at + 4)!)
        }
    }

    init(code: UInt8, registers: UInt8, offset: Int16, immediate: Int32) {
        self.code = code
        self.registers = registers
        self.offset = offset
        self.immediate = immediate
    }

    // A few constructors, for programs written in Swift (tests, feature probes).
    public static func move(_ register: UInt8, _ value: Int32) -> Instruction {
        Instruction(code: 0xb7, destination: register, immediate: value)
    }
    public static let exit = Instruction(code: 0x95)
    public static func call(helper: Int32) -> Instruction { Instruction(code: 0x85, immediate: helper) }
    /// `*(u64 *)(dst + offset) = src`.
    public static func store64(_ destination: UInt8, _ offset: Int16, _ source: UInt8) -> Instruction {
        Instruction(code: 0x7b, destination: destination, source: source, offset: offset)
    }
    /// `dst = *(u64 *)(src + offset)`.
    public static func load64(_ destination: UInt8, _ source: UInt8, _ offset: Int16) -> Instruction {
        Instruction(code: 0x79, destination: destination, source: source, offset: offset)
    }
}
