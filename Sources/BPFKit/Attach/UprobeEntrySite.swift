/// Where an entry uprobe costs least on x86-64.
///
/// The kernel emulates a few instructions at a uprobe (push of a register, jumps, calls,
/// conditional branches, nop) and runs any other one out of line, single-stepped: a second
/// trap. Under virtualization that trap is the whole cost: a probe on glibc's `free` (first
/// instruction `test %rdi,%rdi`) added 19 µs per call on the development VM, the same probe
/// on the `je` after it 0.7 µs.
///
/// So a probe meant for a function's entry may move forward to the first emulated
/// instruction, over instructions that change nothing a probe reads: `endbr64`, compares and
/// tests (flags only), and moves into rax, r10 or r11 (scratch registers that carry no
/// argument). Arguments, the stack pointer (so the return address, which a return probe
/// takes) and callee-saved registers are as they were at the entry.
public enum UprobeEntrySite {
    /// How many bytes into `code` (a function's first bytes) the probe can move; 0 when
    /// no emulated instruction is reachable over such instructions within a few of them.
    public static func cheapOffset(code: [UInt8]) -> Int {
        var at = 0
        for _ in 0..<4 {
            if isEmulated(code, at: at) { return at }
            guard let length = harmlessLength(code, at: at) else { return 0 }
            at += length
        }
        return 0
    }

    /// push r64 (with REX.B for r8–r15), jmp, call, jcc short and near, nop.
    static func isEmulated(_ code: [UInt8], at start: Int) -> Bool {
        guard start < code.count else { return false }
        var at = start
        if code[at] == 0x41 { at += 1 }  // REX.B: push r8–r15
        guard at < code.count else { return false }
        let opcode = code[at]
        if (0x50...0x57).contains(opcode) { return true }
        guard at == start else { return false }  // no other prefixed forms
        switch opcode {
        case 0x70...0x7f, 0xe8, 0xe9, 0xeb, 0x90: return true
        case 0x0f: return at + 1 < code.count && (0x80...0x8f).contains(code[at + 1])
        default: return false
        }
    }

    /// The length of an instruction that writes only flags or a scratch register, else nil.
    static func harmlessLength(_ code: [UInt8], at start: Int) -> Int? {
        if code.count >= start + 4 && Array(code[start..<(start + 4)]) == [0xf3, 0x0f, 0x1e, 0xfa] { return 4 }  // endbr64
        var at = start
        var rex: UInt8 = 0
        if at < code.count, (0x40...0x4f).contains(code[at]) {
            rex = code[at]
            at += 1
        }
        guard at + 1 < code.count else { return nil }
        let opcode = code[at]
        let modrm = code[at + 1]
        let reg = (modrm >> 3) & 7
        let immediate: Int
        switch opcode {
        case 0x38, 0x39, 0x3a, 0x3b, 0x84, 0x85: immediate = 0          // cmp, test r/m, r
        case 0x80, 0x83: guard reg == 7 else { return nil }; immediate = 1  // cmp r/m, imm8
        case 0x81: guard reg == 7 else { return nil }; immediate = 4        // cmp r/m, imm32
        case 0xf6: guard reg == 0 else { return nil }; immediate = 1        // test r/m8, imm8
        case 0xf7: guard reg == 0 else { return nil }; immediate = 4        // test r/m, imm32
        case 0x89, 0x8b:                                                    // mov between registers
            guard modrm >> 6 == 3 else { return nil }
            let destination = opcode == 0x89 ? (modrm & 7) | (rex & 1) << 3 : reg | (rex & 4) << 1
            guard [0, 10, 11].contains(destination) else { return nil }     // rax, r10, r11
            immediate = 0
        default: return nil
        }
        guard let operand = operandLength(code, modrmAt: at + 1) else { return nil }
        let end = at + 1 + operand + immediate
        return end <= code.count ? end - start : nil
    }

    /// Bytes of ModRM, SIB and displacement.
    static func operandLength(_ code: [UInt8], modrmAt at: Int) -> Int? {
        guard at < code.count else { return nil }
        let modrm = code[at]
        let mode = modrm >> 6, rm = modrm & 7
        if mode == 3 { return 1 }
        var length = 1
        if rm == 4 {  // SIB
            guard at + 1 < code.count else { return nil }
            length += 1
            if mode == 0 && code[at + 1] & 7 == 5 { return length + 4 }
        } else if mode == 0 && rm == 5 {
            return length + 4  // RIP-relative
        }
        return length + (mode == 1 ? 1 : mode == 2 ? 4 : 0)
    }
}
