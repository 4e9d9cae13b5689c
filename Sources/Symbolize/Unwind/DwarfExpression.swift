/// A small evaluator for the DWARF expressions call-frame information uses on x86-64: the
/// PLT's CFA (`rsp + 8 + ((rip & 15) >= 11 ? 8 : 0)`) and realigned frames
/// (`*(rbp - 8)`). Registers come from `register` (nil: unknown, the expression fails);
/// memory from `load`. Bounded in steps and stack depth; malformed input returns nil.
struct DwarfExpression {
    let bytes: [UInt8]
    let range: Range<Int>

    func evaluate(initial: UInt64? = nil, register: (Int) -> UInt64?, load: (UInt64) -> UInt64?) -> UInt64? {
        var reader = CFIReader(bytes, position: range.lowerBound, end: range.upperBound)
        var stack: [UInt64] = []
        if let initial { stack.append(initial) }
        var steps = 0
        func push(_ value: UInt64) -> Bool {
            guard stack.count < 32 else { return false }
            stack.append(value)
            return true
        }
        func binary(_ operation: (UInt64, UInt64) -> UInt64) -> Bool {
            guard stack.count >= 2 else { return false }
            let right = stack.removeLast()
            let left = stack.removeLast()
            stack.append(operation(left, right))
            return true
        }
        while !reader.isAtEnd {
            steps += 1
            guard steps <= 64, let opcode = reader.readInteger(UInt8.self) else { return nil }
            var ok = true
            switch opcode {
            case 0x30...0x4f:  // DW_OP_lit0…31
                ok = push(UInt64(opcode - 0x30))
            case 0x50...0x6f:  // DW_OP_reg0…31: a register location, not a value
                return nil
            case 0x70...0x8f:  // DW_OP_breg0…31
                guard let offset = reader.readSLEB(), let value = register(Int(opcode - 0x70)) else { return nil }
                ok = push(value &+ UInt64(bitPattern: offset))
            case 0x92:  // DW_OP_bregx
                guard let reg = reader.readULEB(), reg < 64, let offset = reader.readSLEB(), let value = register(Int(reg)) else { return nil }
                ok = push(value &+ UInt64(bitPattern: offset))
            case 0x08: guard let value = reader.readInteger(UInt8.self) else { return nil }; ok = push(UInt64(value))
            case 0x09: guard let value = reader.readInteger(Int8.self) else { return nil }; ok = push(UInt64(bitPattern: Int64(value)))
            case 0x0a: guard let value = reader.readInteger(UInt16.self) else { return nil }; ok = push(UInt64(value))
            case 0x0b: guard let value = reader.readInteger(Int16.self) else { return nil }; ok = push(UInt64(bitPattern: Int64(value)))
            case 0x0c: guard let value = reader.readInteger(UInt32.self) else { return nil }; ok = push(UInt64(value))
            case 0x0d: guard let value = reader.readInteger(Int32.self) else { return nil }; ok = push(UInt64(bitPattern: Int64(value)))
            case 0x0e: guard let value = reader.readInteger(UInt64.self) else { return nil }; ok = push(value)
            case 0x0f: guard let value = reader.readInteger(Int64.self) else { return nil }; ok = push(UInt64(bitPattern: value))
            case 0x10: guard let value = reader.readULEB() else { return nil }; ok = push(value)
            case 0x11: guard let value = reader.readSLEB() else { return nil }; ok = push(UInt64(bitPattern: value))
            case 0x12:  // DW_OP_dup
                guard let top = stack.last else { return nil }
                ok = push(top)
            case 0x13:  // DW_OP_drop
                guard stack.popLast() != nil else { return nil }
            case 0x14:  // DW_OP_over
                guard stack.count >= 2 else { return nil }
                ok = push(stack[stack.count - 2])
            case 0x16:  // DW_OP_swap
                guard stack.count >= 2 else { return nil }
                stack.swapAt(stack.count - 1, stack.count - 2)
            case 0x06:  // DW_OP_deref
                guard let address = stack.popLast(), let value = load(address) else { return nil }
                stack.append(value)
            case 0x1a: ok = binary { $0 & $1 }
            case 0x1c: ok = binary { $0 &- $1 }
            case 0x1e: ok = binary { $0 &* $1 }
            case 0x21: ok = binary { $0 | $1 }
            case 0x22: ok = binary { $0 &+ $1 }
            case 0x23:  // DW_OP_plus_uconst
                guard let value = reader.readULEB(), let top = stack.popLast() else { return nil }
                stack.append(top &+ value)
            case 0x24: ok = binary { $1 >= 64 ? 0 : $0 << $1 }
            case 0x25: ok = binary { $1 >= 64 ? 0 : $0 >> $1 }
            case 0x27: ok = binary { $0 ^ $1 }
            case 0x29: ok = binary { $0 == $1 ? 1 : 0 }
            case 0x2a: ok = binary { Int64(bitPattern: $0) >= Int64(bitPattern: $1) ? 1 : 0 }
            case 0x2b: ok = binary { Int64(bitPattern: $0) > Int64(bitPattern: $1) ? 1 : 0 }
            case 0x2c: ok = binary { Int64(bitPattern: $0) <= Int64(bitPattern: $1) ? 1 : 0 }
            case 0x2d: ok = binary { Int64(bitPattern: $0) < Int64(bitPattern: $1) ? 1 : 0 }
            case 0x2e: ok = binary { $0 != $1 ? 1 : 0 }
            case 0x96: break  // DW_OP_nop
            default:
                return nil
            }
            guard ok else { return nil }
        }
        return stack.last
    }
}
