/// One CO-RE access path resolved in a BTF: the root type and each step from it, as
/// `bpf_core_parse_spec` and `bpf_core_spec_match` in the kernel and libbpf walk them.
struct COREAccess: Sendable {
    struct Step: Sendable {
        /// The struct/union (or array) this step indexes into.
        var type: UInt32
        /// Member index (for named members) or array index.
        var index: Int
        /// Member name; nil for array elements and the root step.
        var name: String?
    }

    var rootType: UInt32
    var steps: [Step] = []
    /// Every raw index from the access string (anonymous members included), local side only.
    var rawIndexes: [Int] = []
    var bitOffset: UInt64 = 0
    /// The type reached by the last step (the field's type; the enum for enum relocations).
    var finalType: UInt32 = 0
    /// The member reached last, for bitfield sizes.
    var finalMemberBitfieldSize: UInt32 = 0
    var finalIsMember = false

    /// A readable path: `task_struct.real_parent.tgid`, `args[1]`.
    func path(in btf: BTF) -> String {
        var text = (try? btf.name(of: rootType)) ?? "type \(rootType)"
        for step in steps.dropFirst() {
            if let name = step.name { text += "." + name } else { text += "[\(step.index)]" }
        }
        if steps.first.map({ $0.index != 0 }) == true { text = "(\(text))[\(steps[0].index)]" }
        return text
    }
}

/// The name with any `___flavor` suffix cut, so `task_struct___old` matches `task_struct`.
func essentialName(_ name: String) -> Substring {
    let bytes = Array(name.utf8)
    var cut = bytes.count
    var index = bytes.count - 4
    while index >= 1 {
        // exactly three underscores between a non-underscore and a non-underscore
        if bytes[index] == 0x5f, bytes[index + 1] == 0x5f, bytes[index + 2] == 0x5f,
           bytes[index - 1] != 0x5f, index + 3 < bytes.count, bytes[index + 3] != 0x5f {
            cut = index
            break
        }
        index -= 1
    }
    return name.utf8.count == cut ? Substring(name) : Substring(String(decoding: bytes[0..<cut], as: UTF8.self))
}

extension BTF {
    /// Parses the local side of a relocation: the access string's indexes from `root`.
    func localAccess(root: UInt32, accessString: String, kind relocationKind: CORERelocationKind) throws -> COREAccess {
        let indexes = try accessString.split(separator: ":").map { (part: Substring) throws -> Int in
            guard let value = Int(part), value >= 0 else { throw BTFError("bad CO-RE access string \(accessString)") }
            return value
        }
        guard let first = indexes.first else { throw BTFError("empty CO-RE access string") }
        var access = COREAccess(rootType: root, rawIndexes: indexes)
        if relocationKind.isTypeBased {
            guard indexes == [0] else { throw BTFError("type relocation with access string \(accessString)") }
            access.finalType = root
            return access
        }
        if relocationKind.isEnumBased {
            let enumType = try skippingQualifiers(root)
            let values = try enumerators(of: enumType)
            guard indexes.count == 1, first < values.count else { throw BTFError("enumerator index \(first) out of range") }
            access.steps = [COREAccess.Step(type: enumType, index: first, name: values[first].name)]
            access.finalType = enumType
            return access
        }
        // Field: the first index treats the root pointer as an array.
        var current = try skippingQualifiers(root)
        access.steps.append(COREAccess.Step(type: root, index: first, name: nil))
        access.bitOffset = UInt64(first) * UInt64(try size(of: current)) * 8
        for index in indexes.dropFirst() {
            current = try skippingQualifiers(current)
            switch try kind(of: current) {
            case .struct, .union:
                let members = try members(of: current)
                guard index < members.count else { throw BTFError("member index \(index) out of range in type \(current)") }
                let member = members[index]
                access.bitOffset += UInt64(member.bitOffset)
                if !member.name.isEmpty {
                    access.steps.append(COREAccess.Step(type: current, index: index, name: member.name))
                }
                access.finalMemberBitfieldSize = member.bitfieldSize
                access.finalIsMember = true
                current = member.type
            case .array:
                let array = try array(current)
                access.steps.append(COREAccess.Step(type: current, index: index, name: nil))
                access.bitOffset += UInt64(index) * UInt64(try size(of: array.element)) * 8
                access.finalMemberBitfieldSize = 0
                access.finalIsMember = false
                current = array.element
            default:
                throw BTFError("access string \(accessString) indexes into a \(try kind(of: current))")
            }
        }
        access.finalType = current
        return access
    }

    /// Every type of a compatible kind whose essential name equals the local type's.
    func candidates(forLocal localKind: Kind, name: Substring) -> [UInt32] {
        typeIDs(named: String(name)).filter { id in
            guard let kind = try? self.kind(of: id) else { return false }
            switch localKind {
            case .enum, .enum64: return kind == .enum || kind == .enum64
            default: return kind == localKind
            }
        }
    }

    /// Matches a local field access against a target candidate root: each named member is
    /// found by name (looking through anonymous members), each array index checked.
    func matchAccess(_ local: COREAccess, localBTF: BTF, candidate: UInt32) throws -> COREAccess? {
        var target = COREAccess(rootType: candidate)
        var current = try skippingQualifiers(candidate)
        target.steps.append(COREAccess.Step(type: candidate, index: local.steps[0].index, name: nil))
        target.bitOffset = UInt64(local.steps[0].index) * UInt64(try size(of: current)) * 8
        for step in local.steps.dropFirst() {
            current = try skippingQualifiers(current)
            if let name = step.name {
                guard try kind(of: current) == .struct || kind(of: current) == .union else { return nil }
                guard let (member, offset) = try findMember(named: name, in: current) else { return nil }
                target.bitOffset += offset
                target.steps.append(COREAccess.Step(type: current, index: 0, name: name))
                target.finalMemberBitfieldSize = member.bitfieldSize
                target.finalIsMember = true
                current = member.type
            } else {
                guard try kind(of: current) == .array else { return nil }
                let array = try array(current)
                // A trailing zero-length (flexible) array accepts any index.
                if step.index >= Int(array.count) && !(array.count == 0 && step.type == local.steps.last?.type) {
                    return nil
                }
                target.steps.append(COREAccess.Step(type: current, index: step.index, name: nil))
                target.bitOffset += UInt64(step.index) * UInt64(try size(of: array.element)) * 8
                target.finalMemberBitfieldSize = 0
                target.finalIsMember = false
                current = array.element
            }
        }
        target.finalType = current
        // The field types must be compatible.
        guard try fieldsCompatible(local: local.finalType, localBTF: localBTF, target: current) else { return nil }
        return target
    }

    /// A member by name, searching anonymous struct/union members recursively; returns the
    /// member and its bit offset from `type`.
    func findMember(named name: String, in type: UInt32) throws -> (Member, UInt64)? {
        for member in try members(of: type) {
            if member.name == name { return (member, UInt64(member.bitOffset)) }
            if member.name.isEmpty {
                let inner = try skippingQualifiers(member.type)
                let innerKind = try kind(of: inner)
                if innerKind == .struct || innerKind == .union, let (found, offset) = try findMember(named: name, in: inner) {
                    return (found, offset + UInt64(member.bitOffset))
                }
            }
        }
        return nil
    }

    /// Field compatibility as CO-RE defines it (sizes and signedness may differ).
    func fieldsCompatible(local: UInt32, localBTF: BTF, target: UInt32) throws -> Bool {
        var local = try localBTF.skippingQualifiers(local)
        var target = try skippingQualifiers(target)
        for _ in 0..<32 {
            if local == 0 || target == 0 { return local == target }
            let localKind = try localBTF.kind(of: local)
            let targetKind = try kind(of: target)
            let localComposite = localKind == .struct || localKind == .union
            let targetComposite = targetKind == .struct || targetKind == .union
            if localComposite || targetComposite { return localComposite && targetComposite }
            let localEnum = localKind == .enum || localKind == .enum64
            let targetEnum = targetKind == .enum || targetKind == .enum64
            if localEnum && targetEnum { return try namesMatch(localBTF.name(of: local), name(of: target)) }
            guard localKind == targetKind else { return false }
            switch localKind {
            case .pointer, .float: return true
            case .forward, .enum, .enum64: return try namesMatch(localBTF.name(of: local), name(of: target))
            case .int:
                // Only whole-byte integers (bit offset 0 in the INT encoding).
                let localEncoding: UInt32 = localBTF.bytes.getInteger(at: try localBTF.checkedOffset(local) + 12)!
                let targetEncoding: UInt32 = bytes.getInteger(at: try checkedOffset(target) + 12)!
                return (localEncoding >> 16) & 0xff == 0 && (targetEncoding >> 16) & 0xff == 0
            case .array:
                local = try localBTF.skippingQualifiers(localBTF.array(local).element)
                target = try skippingQualifiers(array(target).element)
            default:
                return false
            }
        }
        return false
    }

    func namesMatch(_ local: String, _ target: String) -> Bool {
        local.isEmpty || target.isEmpty || essentialName(local) == essentialName(target)
    }
}
