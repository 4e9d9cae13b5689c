/// The x86-64 DWARF register numbers the unwinder tracks.
public enum DwarfRegister {
    public static let rbp = 6
    public static let rsp = 7
    /// The return address column (`rip`).
    public static let returnAddress = 16
    static let tracked = 17
}

/// How to find the Canonical Frame Address (the caller's stack pointer before the call).
enum CFARule: Equatable {
    case registerOffset(register: Int, offset: Int64)
    /// A DWARF expression, as a range of the section's bytes (PLT entries use one).
    case expression(Range<Int>)
    case undefined
}

/// How to recover a caller's register.
enum RegisterRule: Equatable {
    /// Unspecified: the callee left it alone (callee-saved registers under the SysV ABI).
    case sameValue
    case undefined
    /// Saved at CFA + offset.
    case offset(Int64)
    /// Is CFA + offset.
    case valueOffset(Int64)
    case register(Int)
    case expression(Range<Int>)
    case valueExpression(Range<Int>)
}

/// One row of the unwind table: the rules in force at one code address.
struct UnwindRow: Equatable {
    var cfa: CFARule = .undefined
    var registers = [RegisterRule](repeating: .sameValue, count: DwarfRegister.tracked)

    subscript(register: Int) -> RegisterRule {
        get { register >= 0 && register < registers.count ? registers[register] : .sameValue }
        set { if register >= 0 && register < registers.count { registers[register] = newValue } }
    }
}

extension CallFrameSection {
    /// The row in force at `address` inside `fde`: the CIE's initial instructions, then the
    /// FDE's up to the first advance past `address`. Nil on a malformed or unsupported
    /// instruction (the unwinder then stops rather than guess).
    func row(for fde: FrameDescriptionEntry, at address: UInt64) -> UnwindRow? {
        var row = UnwindRow()
        var initial = UnwindRow()
        var location = fde.start
        guard execute(fde.cie.instructions, cie: fde.cie, row: &row, initial: nil, location: &location, target: address) else { return nil }
        initial = row
        location = fde.start
        guard execute(fde.instructions, cie: fde.cie, row: &row, initial: initial, location: &location, target: address) else { return nil }
        return row
    }

    /// Runs CFA instructions; false when they are malformed or use an unsupported operation.
    private func execute(_ range: Range<Int>, cie: CommonInformationEntry, row: inout UnwindRow, initial: UnwindRow?,
                         location: inout UInt64, target: UInt64) -> Bool {
        var reader = CFIReader(bytes, base: address, position: range.lowerBound, end: range.upperBound)
        var saved: [UnwindRow] = []
        let dataAlignment = cie.dataAlignment
        func advance(_ delta: UInt64) -> Bool {
            let (next, overflow) = location.addingReportingOverflow(delta &* cie.codeAlignment)
            if overflow || next > target { return false }
            location = next
            return true
        }
        func factored(_ value: UInt64) -> Int64 { Int64(bitPattern: value) &* dataAlignment }
        func register(_ value: UInt64?) -> Int? { value.flatMap { $0 < 1 << 16 ? Int($0) : nil } }
        func block() -> Range<Int>? {
            guard let length = reader.readULEB(), length <= UInt64(reader.remaining) else { return nil }
            let start = reader.position
            reader.position += Int(length)
            return start..<reader.position
        }
        while !reader.isAtEnd {
            guard let opcode = reader.readInteger(UInt8.self) else { return false }
            switch opcode >> 6 {
            case 1:  // DW_CFA_advance_loc
                if !advance(UInt64(opcode & 0x3f)) { return true }
                continue
            case 2:  // DW_CFA_offset
                guard let offset = reader.readULEB() else { return false }
                row[Int(opcode & 0x3f)] = .offset(factored(offset))
                continue
            case 3:  // DW_CFA_restore
                guard let initial else { return false }
                row[Int(opcode & 0x3f)] = initial[Int(opcode & 0x3f)]
                continue
            default:
                break
            }
            switch opcode {
            case 0x00: break  // DW_CFA_nop
            case 0x01:  // DW_CFA_set_loc
                guard let newLocation = reader.readPointer(isDebugFrame ? .absolute : cie.pointerEncoding) else { return false }
                if newLocation > target { return true }
                location = newLocation
            case 0x02:
                guard let delta = reader.readInteger(UInt8.self) else { return false }
                if !advance(UInt64(delta)) { return true }
            case 0x03:
                guard let delta = reader.readInteger(UInt16.self) else { return false }
                if !advance(UInt64(delta)) { return true }
            case 0x04:
                guard let delta = reader.readInteger(UInt32.self) else { return false }
                if !advance(UInt64(delta)) { return true }
            case 0x05:  // DW_CFA_offset_extended
                guard let reg = register(reader.readULEB()), let offset = reader.readULEB() else { return false }
                row[reg] = .offset(factored(offset))
            case 0x06:  // DW_CFA_restore_extended
                guard let reg = register(reader.readULEB()), let initial else { return false }
                row[reg] = initial[reg]
            case 0x07:  // DW_CFA_undefined
                guard let reg = register(reader.readULEB()) else { return false }
                row[reg] = .undefined
            case 0x08:  // DW_CFA_same_value
                guard let reg = register(reader.readULEB()) else { return false }
                row[reg] = .sameValue
            case 0x09:  // DW_CFA_register
                guard let reg = register(reader.readULEB()), let other = register(reader.readULEB()) else { return false }
                row[reg] = .register(other)
            case 0x0a:  // DW_CFA_remember_state
                guard saved.count < 64 else { return false }
                saved.append(row)
            case 0x0b:  // DW_CFA_restore_state: the whole row, CFA rule included (as libgcc does)
                guard let last = saved.popLast() else { return false }
                row = last
            case 0x0c:  // DW_CFA_def_cfa
                guard let reg = register(reader.readULEB()), let offset = reader.readULEB() else { return false }
                row.cfa = .registerOffset(register: reg, offset: Int64(bitPattern: offset))
            case 0x0d:  // DW_CFA_def_cfa_register
                guard let reg = register(reader.readULEB()) else { return false }
                guard case .registerOffset(_, let offset) = row.cfa else { return false }
                row.cfa = .registerOffset(register: reg, offset: offset)
            case 0x0e:  // DW_CFA_def_cfa_offset
                guard let offset = reader.readULEB() else { return false }
                guard case .registerOffset(let reg, _) = row.cfa else { return false }
                row.cfa = .registerOffset(register: reg, offset: Int64(bitPattern: offset))
            case 0x0f:  // DW_CFA_def_cfa_expression
                guard let expression = block() else { return false }
                row.cfa = .expression(expression)
            case 0x10:  // DW_CFA_expression
                guard let reg = register(reader.readULEB()), let expression = block() else { return false }
                row[reg] = .expression(expression)
            case 0x11:  // DW_CFA_offset_extended_sf
                guard let reg = register(reader.readULEB()), let offset = reader.readSLEB() else { return false }
                row[reg] = .offset(offset &* dataAlignment)
            case 0x12:  // DW_CFA_def_cfa_sf
                guard let reg = register(reader.readULEB()), let offset = reader.readSLEB() else { return false }
                row.cfa = .registerOffset(register: reg, offset: offset &* dataAlignment)
            case 0x13:  // DW_CFA_def_cfa_offset_sf
                guard let offset = reader.readSLEB() else { return false }
                guard case .registerOffset(let reg, _) = row.cfa else { return false }
                row.cfa = .registerOffset(register: reg, offset: offset &* dataAlignment)
            case 0x14:  // DW_CFA_val_offset
                guard let reg = register(reader.readULEB()), let offset = reader.readULEB() else { return false }
                row[reg] = .valueOffset(factored(offset))
            case 0x15:  // DW_CFA_val_offset_sf
                guard let reg = register(reader.readULEB()), let offset = reader.readSLEB() else { return false }
                row[reg] = .valueOffset(offset &* dataAlignment)
            case 0x16:  // DW_CFA_val_expression
                guard let reg = register(reader.readULEB()), let expression = block() else { return false }
                row[reg] = .valueExpression(expression)
            case 0x2e:  // DW_CFA_GNU_args_size: only matters for exception landing pads
                guard reader.readULEB() != nil else { return false }
            case 0x2f:  // DW_CFA_GNU_negative_offset_extended
                guard let reg = register(reader.readULEB()), let offset = reader.readULEB() else { return false }
                row[reg] = .offset(-factored(offset))
            default:
                return false
            }
        }
        return true
    }
}
