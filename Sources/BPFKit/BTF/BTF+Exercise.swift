extension BTF {
    /// Calls every accessor on the first `limit` types, ignoring errors, as users of a parsed
    /// blob would: what the fuzz target and the mutation tests run on untrusted bytes, where
    /// reaching the end (no trap) is the check.
    func exerciseAccessors(limit: Int) {
        guard typeCount > 0 else { return }
        for id in 1...UInt32(min(typeCount, limit)) {
            guard let kind = try? kind(of: id) else { continue }
            _ = try? name(of: id)
            _ = try? count(of: id)
            _ = try? kindFlag(of: id)
            _ = try? sizeOrType(of: id)
            _ = try? skippingQualifiers(id)
            _ = try? size(of: id)
            switch kind {
            case .struct, .union: _ = try? members(of: id)
            case .array: _ = try? array(id)
            case .dataSection: _ = try? sectionVariables(of: id)
            case .variable: _ = try? variableLinkage(of: id)
            case .enum, .enum64: _ = try? enumerators(of: id)
            default: break
            }
        }
        _ = typeID(named: "task_struct", kind: .struct)
    }
}
