/// What a CO-RE relocation asks of the target BTF (`enum bpf_core_relo_kind`, Linux 5.17 UAPI).
public enum CORERelocationKind: UInt32, Sendable, CustomStringConvertible {
    case fieldByteOffset = 0
    case fieldByteSize = 1
    case fieldExists = 2
    case fieldSigned = 3
    case fieldLeftShiftU64 = 4
    case fieldRightShiftU64 = 5
    case typeIDLocal = 6
    case typeIDTarget = 7
    case typeExists = 8
    case typeSize = 9
    case enumValueExists = 10
    case enumValueValue = 11
    case typeMatches = 12

    var isFieldBased: Bool { rawValue <= 5 }
    var isTypeBased: Bool { (6...9).contains(rawValue) || self == .typeMatches }
    var isEnumBased: Bool { self == .enumValueExists || self == .enumValueValue }

    /// Kinds that answer 0 rather than poisoning when the target lacks the type or field,
    /// so programs can test for existence.
    var isExistenceQuery: Bool {
        switch self {
        case .fieldExists, .typeExists, .typeIDTarget, .typeSize, .enumValueExists, .typeMatches: true
        default: false
        }
    }

    public var description: String {
        switch self {
        case .fieldByteOffset: "byte_off"
        case .fieldByteSize: "byte_sz"
        case .fieldExists: "field_exists"
        case .fieldSigned: "signed"
        case .fieldLeftShiftU64: "lshift_u64"
        case .fieldRightShiftU64: "rshift_u64"
        case .typeIDLocal: "local_type_id"
        case .typeIDTarget: "target_type_id"
        case .typeExists: "type_exists"
        case .typeSize: "type_size"
        case .enumValueExists: "enumval_exists"
        case .enumValueValue: "enumval_value"
        case .typeMatches: "type_matches"
        }
    }
}

/// A CO-RE relocation the target BTF cannot satisfy, named the way a user reads it:
/// the program, the relocation kind and the type and field path (`task_struct.__state`).
public struct CORERelocationError: Error, CustomStringConvertible {
    public var program: String
    public var kind: CORERelocationKind?
    public var path: String
    public var reason: String

    public var description: String {
        let what = kind.map { " (\($0))" } ?? ""
        return "load program \(program): CO-RE relocation of \(path)\(what): \(reason)"
    }
}
