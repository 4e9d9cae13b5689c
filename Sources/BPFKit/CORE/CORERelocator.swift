/// Resolves CO-RE relocations against a target BTF (normally the running kernel's) and
/// patches the instructions they point at, in user space — what the kernel does itself
/// for `core_relos` since 5.17, for kernels before that and for explaining failures.
///
/// ```swift
/// let relocator = CORERelocator(local: spec.btf!, target: try KernelBTF.shared())
/// let result = try relocator.resolve(record, program: "execsnoop_enter")
/// ```
public struct CORERelocator: Sendable {
    /// The instruction the kernel reads as "this relocation failed": a call to helper
    /// 0xbad2310. Reached, it fails verification ("invalid func unknown#195896080");
    /// pruned (guarded by an existence check), it costs nothing.
    public static let poisonHelper: Int32 = 0x0bad_2310

    public enum Outcome: Sendable, Equatable {
        /// The value the instruction held when compiled (local BTF), and the one to write.
        case value(local: UInt64, target: UInt64, targetFieldSize: Int?)
        /// No candidate: the instruction becomes the poison call.
        case poison(reason: String)
    }

    public let local: BTF
    public let target: BTF

    public init(local: BTF, target: BTF) {
        self.local = local
        self.target = target
    }

    /// Computes what one relocation resolves to.
    public func resolve(_ record: BTFExt.CoreRelocation, program: String) throws -> Outcome {
        guard let kind = CORERelocationKind(rawValue: record.kind) else {
            throw CORERelocationError(program: program, kind: nil, path: "type \(record.typeID)", reason: "unknown relocation kind \(record.kind)")
        }
        guard let accessString = local.string(at: record.accessStringOffset) else {
            throw CORERelocationError(program: program, kind: kind, path: "type \(record.typeID)", reason: "access string out of range")
        }
        let access: COREAccess
        do {
            access = try local.localAccess(root: record.typeID, accessString: accessString, kind: kind)
        } catch {
            throw CORERelocationError(program: program, kind: kind, path: "type \(record.typeID)", reason: "\(error)")
        }
        let path = access.path(in: local)
        func failure(_ reason: String) -> CORERelocationError {
            CORERelocationError(program: program, kind: kind, path: path, reason: reason)
        }

        if kind == .typeIDLocal {
            return .value(local: UInt64(record.typeID), target: UInt64(record.typeID), targetFieldSize: nil)
        }
        let localRoot = try local.skippingQualifiers(record.typeID)
        let rootName = try local.name(of: record.typeID)
        guard !rootName.isEmpty else { throw failure("anonymous root types cannot be relocated") }
        let candidates = target.candidates(forLocal: try local.kind(of: record.typeID), name: essentialName(rootName))

        let localValue = try value(of: kind, access: access, in: local, localBTF: local, candidate: record.typeID)
        var results: [(UInt64, Int?)] = []
        for candidate in candidates {
            if kind.isTypeBased {
                guard try typesCompatible(local: record.typeID, target: candidate, matches: kind == .typeMatches) else { continue }
                results.append((try value(of: kind, access: access, in: target, localBTF: local, candidate: candidate).value, nil))
            } else if kind.isEnumBased {
                let targetEnum = try target.skippingQualifiers(candidate)
                let wanted = essentialName(access.steps[0].name ?? "")
                guard let found = try target.enumerators(of: targetEnum).first(where: { essentialName($0.name) == wanted }) else { continue }
                results.append((kind == .enumValueExists ? 1 : UInt64(bitPattern: found.value), nil))
            } else {
                guard let matched = try target.matchAccess(access, localBTF: local, candidate: candidate) else { continue }
                let computed = try value(of: kind, access: matched, in: target, localBTF: local, candidate: candidate)
                results.append((computed.value, computed.fieldSize))
            }
        }
        _ = localRoot

        guard let first = results.first else {
            if kind.isExistenceQuery {
                return .value(local: localValue.value, target: 0, targetFieldSize: nil)
            }
            return .poison(reason: candidates.isEmpty
                ? "the kernel has no type \(essentialName(rootName))" : "the kernel's \(essentialName(rootName)) has no such field")
        }
        guard results.allSatisfy({ $0.0 == first.0 }) else {
            throw failure("\(results.count) kernel types match with different results")
        }
        return .value(local: localValue.value, target: first.0, targetFieldSize: first.1)
    }

    private func value(
        of kind: CORERelocationKind, access: COREAccess, in btf: BTF, localBTF: BTF, candidate: UInt32
    ) throws -> (value: UInt64, fieldSize: Int?) {
        switch kind {
        case .typeIDLocal, .typeIDTarget: return (UInt64(candidate), nil)
        case .typeExists, .typeMatches: return (1, nil)
        case .typeSize: return (UInt64(try btf.size(of: candidate)), nil)
        case .enumValueExists: return (1, nil)
        case .enumValueValue:
            let values = try btf.enumerators(of: btf.skippingQualifiers(candidate))
            let index = access.steps.first?.index ?? 0
            return (index < values.count ? UInt64(bitPattern: values[index].value) : 0, nil)
        case .fieldExists: return (1, nil)
        default: break
        }
        // Field layout: bitfields are read with a naturally aligned load big enough to hold them.
        let fieldType = access.finalType
        let bitfieldSize = access.finalIsMember ? UInt64(access.finalMemberBitfieldSize) : 0
        let bitOffset = access.bitOffset
        var byteSize: UInt64
        var byteOffset: UInt64
        let bitSize: UInt64
        if bitfieldSize == 0 {
            byteSize = UInt64(try btf.size(of: fieldType))
            byteOffset = bitOffset / 8
            bitSize = byteSize * 8
        } else {
            byteSize = UInt64(try btf.size(of: fieldType))
            bitSize = bitfieldSize
            byteOffset = bitOffset / 8 / byteSize * byteSize
            while bitOffset + bitSize - byteOffset * 8 > byteSize * 8 {
                guard byteSize < 8 else { throw BTFError("bitfield at bit \(bitOffset) does not fit a u64 load") }
                byteSize *= 2
                byteOffset = bitOffset / 8 / byteSize * byteSize
            }
        }
        switch kind {
        case .fieldByteOffset: return (byteOffset, Int(byteSize))
        case .fieldByteSize: return (byteSize, nil)
        case .fieldSigned:
            let resolved = try btf.skippingQualifiers(fieldType)
            switch try btf.kind(of: resolved) {
            case .enum, .enum64: return (try btf.kindFlag(of: resolved) ? 1 : 0, nil)
            case .int:
                let encoding: UInt32 = btf.bytes.getInteger(at: try btf.checkedOffset(resolved) + 12)!
                return (UInt64((encoding >> 24) & 1), nil)
            default: return (0, nil)
            }
        case .fieldLeftShiftU64: return (64 - (bitOffset + bitSize - byteOffset * 8), nil)
        case .fieldRightShiftU64: return (bitfieldSize != 0 ? 64 - bitSize : (8 - byteSize) * 8, nil)
        default: return (0, nil)
        }
    }

    /// Type compatibility for type-based relocations (`matches`: the stricter TYPE_MATCHES).
    private func typesCompatible(local localID: UInt32, target targetID: UInt32, matches: Bool) throws -> Bool {
        var localType = try local.skippingQualifiers(localID)
        var targetType = try target.skippingQualifiers(targetID)
        for _ in 0..<32 {
            if localType == 0 || targetType == 0 { return localType == targetType }
            let localKind = try local.kind(of: localType)
            let targetKind = try target.kind(of: targetType)
            let bothEnums = (localKind == .enum || localKind == .enum64) && (targetKind == .enum || targetKind == .enum64)
            guard localKind == targetKind || bothEnums else { return false }
            switch localKind {
            case .struct, .union:
                guard matches else { return true }
                for member in try local.members(of: localType) {
                    guard let (targetMember, _) = try target.findMember(named: member.name, in: targetType),
                          try target.fieldsCompatible(local: member.type, localBTF: local, target: targetMember.type)
                    else { return false }
                }
                return true
            case .enum, .enum64, .forward:
                guard matches else { return true }
                let targetNames = Set(try target.enumerators(of: targetType).map { essentialName($0.name) })
                return try local.enumerators(of: localType).allSatisfy { targetNames.contains(essentialName($0.name)) }
            case .int:
                guard matches else { return true }
                return try local.sizeOrType(of: localType) == target.sizeOrType(of: targetType)
            case .float:
                return true
            case .pointer:
                localType = try local.skippingQualifiers(local.sizeOrType(of: localType))
                targetType = try target.skippingQualifiers(target.sizeOrType(of: targetType))
            case .array:
                let localArray = try local.array(localType), targetArray = try target.array(targetType)
                if matches && localArray.count != targetArray.count { return false }
                localType = try local.skippingQualifiers(localArray.element)
                targetType = try target.skippingQualifiers(targetArray.element)
            case .functionPrototype:
                guard try local.count(of: localType) == target.count(of: targetType) else { return false }
                localType = try local.skippingQualifiers(local.sizeOrType(of: localType))
                targetType = try target.skippingQualifiers(target.sizeOrType(of: targetType))
            default:
                return false
            }
        }
        return false
    }

    /// Resolves and applies every relocation of a linked program to its instructions.
    /// Returns the poisoned relocations (instruction index and path), for error messages.
    func apply(
        _ relocations: [BTFExt.CoreRelocation], to instructions: inout [Instruction], program: String
    ) throws -> [(index: Int, description: String)] {
        var poisoned: [(index: Int, description: String)] = []
        for record in relocations {
            let index = Int(record.instructionOffset / 8)
            guard record.instructionOffset % 8 == 0, index < instructions.count else {
                throw CORERelocationError(program: program, kind: CORERelocationKind(rawValue: record.kind),
                                          path: "instruction \(index)", reason: "outside the program")
            }
            switch try resolve(record, program: program) {
            case .poison(let reason):
                let wide = instructions[index].isLoadImmediate64
                instructions[index] = Instruction(code: 0x85, immediate: Self.poisonHelper)
                if wide && index + 1 < instructions.count { instructions[index + 1] = Instruction(code: 0x85, immediate: Self.poisonHelper) }
                poisoned.append((index, "\(describe(record)): \(reason)"))
            case .value(_, let target, let targetFieldSize):
                try patch(&instructions, at: index, value: target, fieldSize: targetFieldSize, record: record, program: program)
            }
        }
        return poisoned
    }

    /// `task_struct.real_parent (byte_off)`, for messages.
    func describe(_ record: BTFExt.CoreRelocation) -> String {
        let kind = CORERelocationKind(rawValue: record.kind)
        let accessString = local.string(at: record.accessStringOffset) ?? "?"
        let path = (try? local.localAccess(root: record.typeID, accessString: accessString, kind: kind ?? .fieldByteOffset))
            .map { $0.path(in: local) } ?? "type \(record.typeID)"
        return "\(path) (\(kind.map { "\($0)" } ?? "kind \(record.kind)"))"
    }

    private func patch(
        _ instructions: inout [Instruction], at index: Int, value: UInt64, fieldSize: Int?,
        record: BTFExt.CoreRelocation, program: String
    ) throws {
        let instruction = instructions[index]
        let instructionClass = instruction.code & 0x07
        func failure(_ reason: String) -> CORERelocationError {
            CORERelocationError(program: program, kind: CORERelocationKind(rawValue: record.kind), path: describe(record), reason: reason)
        }
        switch instructionClass {
        case 0x04, 0x07:  // ALU, ALU64: the immediate
            guard instruction.code & 0x08 == 0 else { throw failure("relocated ALU instruction does not use an immediate") }
            guard value <= UInt64(UInt32.max) || Int64(bitPattern: value) >= Int64(Int32.min) else {
                throw failure("value \(value) does not fit an immediate")
            }
            instructions[index].immediate = Int32(truncatingIfNeeded: value)
        case 0x01, 0x02, 0x03:  // LDX, ST, STX: the offset, and the access size if the field's changed
            guard value <= UInt64(Int16.max) else { throw failure("offset \(value) too large for a load") }
            instructions[index].offset = Int16(value)
            if let fieldSize, CORERelocationKind(rawValue: record.kind) == .fieldByteOffset {
                let sizes: [Int: UInt8] = [1: 0x10, 2: 0x08, 4: 0x00, 8: 0x18]
                let current = [0x10: 1, 0x08: 2, 0x00: 4, 0x18: 8][Int(instruction.code & 0x18)] ?? 0
                if current != fieldSize {
                    guard let bits = sizes[fieldSize] else { throw failure("field size \(fieldSize) cannot be loaded") }
                    instructions[index].code = (instruction.code & ~0x18) | bits
                }
            }
        case 0x00 where instruction.isLoadImmediate64:
            guard index + 1 < instructions.count else { throw failure("truncated ld_imm64") }
            instructions[index].immediate = Int32(truncatingIfNeeded: value)
            instructions[index + 1].immediate = Int32(truncatingIfNeeded: value >> 32)
        default:
            throw failure("instruction 0x\(String(instruction.code, radix: 16)) cannot be relocated")
        }
    }
}
