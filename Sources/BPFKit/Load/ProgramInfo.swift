import CBPF

/// What the kernel says about a loaded program (BPF_OBJ_GET_INFO_BY_FD).
public struct ProgramInfo: Sendable {
    public var id: UInt32
    public var type: ProgramType
    public var name: String

    public init(descriptor: FileDescriptor) throws {
        var info = cbpf_prog_info()
        try withUnsafeMutableBytes(of: &info) { (buffer) throws in
            var attribute = cbpf_info_attr()
            attribute.bpf_fd = UInt32(descriptor.rawValue)
            attribute.info_len = UInt32(buffer.count)
            attribute.info = address(buffer.baseAddress)
            try bpf(.objectGetInfoByFD, &attribute)
        }
        id = info.id
        type = ProgramType(rawValue: info.type)
        name = withUnsafeBytes(of: info.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    /// The ids of every program loaded in the kernel (BPF_PROG_GET_NEXT_ID), for checks
    /// such as "did this tool leave anything behind".
    public static func allIDs() throws -> [UInt32] {
        try nextIDs(.programGetNextID)
    }

    /// Opens a program by id and describes it; nil if it went away meanwhile.
    public static func info(id: UInt32) -> ProgramInfo? {
        var attribute = cbpf_id_attr()
        attribute.id = id
        guard let descriptor = try? bpfDescriptor(.programGetFDByID, &attribute) else { return nil }
        return try? ProgramInfo(descriptor: descriptor)
    }
}

/// Walks BPF_*_GET_NEXT_ID until ENOENT.
func nextIDs(_ command: BPFCommand) throws -> [UInt32] {
    var ids: [UInt32] = []
    var attribute = cbpf_id_attr()
    while true {
        guard try bpfUnlessMissing(command, &attribute) else { return ids }
        ids.append(attribute.next_id)
        attribute.id = attribute.next_id
    }
}

/// The ids of every map and link loaded in the kernel.
public enum KernelObjects {
    public static func mapIDs() throws -> [UInt32] { try nextIDs(.mapGetNextID) }
    public static func linkIDs() throws -> [UInt32] { try nextIDs(.linkGetNextID) }
}
