import CBPF

/// The `bpf(2)` commands BPFKit issues (`enum bpf_cmd`).
public enum BPFCommand: Int32, Sendable {
    case mapCreate = 0
    case mapLookupElement = 1
    case mapUpdateElement = 2
    case mapDeleteElement = 3
    case mapGetNextKey = 4
    case programLoad = 5
    case programGetNextID = 11
    case mapGetNextID = 12
    case programGetFDByID = 13
    case mapGetFDByID = 14
    case objectGetInfoByFD = 15
    case rawTracepointOpen = 17
    case btfLoad = 18
    case mapLookupAndDeleteElement = 21
    case mapFreeze = 22
    case btfGetFDByID = 19
    case btfGetNextID = 23
    case mapLookupBatch = 24
    case linkCreate = 28
    case linkGetFDByID = 30
    case linkGetNextID = 31
    case programBindMap = 35

    var name: String {
        switch self {
        case .mapCreate: "BPF_MAP_CREATE"
        case .mapLookupElement: "BPF_MAP_LOOKUP_ELEM"
        case .mapUpdateElement: "BPF_MAP_UPDATE_ELEM"
        case .mapDeleteElement: "BPF_MAP_DELETE_ELEM"
        case .mapGetNextKey: "BPF_MAP_GET_NEXT_KEY"
        case .programLoad: "BPF_PROG_LOAD"
        case .programGetNextID: "BPF_PROG_GET_NEXT_ID"
        case .mapGetNextID: "BPF_MAP_GET_NEXT_ID"
        case .programGetFDByID: "BPF_PROG_GET_FD_BY_ID"
        case .mapGetFDByID: "BPF_MAP_GET_FD_BY_ID"
        case .objectGetInfoByFD: "BPF_OBJ_GET_INFO_BY_FD"
        case .rawTracepointOpen: "BPF_RAW_TRACEPOINT_OPEN"
        case .btfLoad: "BPF_BTF_LOAD"
        case .mapLookupAndDeleteElement: "BPF_MAP_LOOKUP_AND_DELETE_ELEM"
        case .mapFreeze: "BPF_MAP_FREEZE"
        case .btfGetFDByID: "BPF_BTF_GET_FD_BY_ID"
        case .btfGetNextID: "BPF_BTF_GET_NEXT_ID"
        case .mapLookupBatch: "BPF_MAP_LOOKUP_BATCH"
        case .linkCreate: "BPF_LINK_CREATE"
        case .linkGetFDByID: "BPF_LINK_GET_FD_BY_ID"
        case .linkGetNextID: "BPF_LINK_GET_NEXT_ID"
        case .programBindMap: "BPF_PROG_BIND_MAP"
        }
    }
}

/// The one door to `bpf(2)`: every command passes here (EINTR is retried in the shim).
/// `attribute` is the command's own part of `union bpf_attr`; the kernel reads the bytes
/// not passed as zero.
@discardableResult
func bpf<Attribute>(_ command: BPFCommand, _ attribute: inout Attribute) throws(SystemCallError) -> Int32 {
    let result = withUnsafeMutableBytes(of: &attribute) { buffer in
        cbpf_bpf(command.rawValue, buffer.baseAddress, UInt32(buffer.count))
    }
    if result < 0 { throw SystemCallError(call: command.name, errno: Int32(-result)) }
    return Int32(result)
}

/// `bpf(2)` for lookups, where ENOENT means "no such element" rather than a failure:
/// returns false then.
func bpfUnlessMissing<Attribute>(_ command: BPFCommand, _ attribute: inout Attribute) throws(SystemCallError) -> Bool {
    let result = withUnsafeMutableBytes(of: &attribute) { buffer in
        cbpf_bpf(command.rawValue, buffer.baseAddress, UInt32(buffer.count))
    }
    if result == -2 { return false }
    if result < 0 { throw SystemCallError(call: command.name, errno: Int32(-result)) }
    return true
}

/// `bpf(2)` for a command that returns a new file descriptor.
func bpfDescriptor<Attribute>(_ command: BPFCommand, _ attribute: inout Attribute) throws(SystemCallError) -> FileDescriptor {
    FileDescriptor(owning: try bpf(command, &attribute))
}

/// `perf_event_open(2)`, returning an owned descriptor.
func perfEventOpen(
    _ attribute: inout cbpf_perf_event_attr, pid: Int32, cpu: Int32, groupFD: Int32 = -1, flags: UInt = 8 /* PERF_FLAG_FD_CLOEXEC */
) throws(SystemCallError) -> FileDescriptor {
    attribute.size = UInt32(MemoryLayout<cbpf_perf_event_attr>.size)
    let result = cbpf_perf_event_open(&attribute, pid, cpu, groupFD, flags)
    if result < 0 { throw SystemCallError(call: "perf_event_open", errno: -result) }
    return FileDescriptor(owning: result)
}

/// `ioctl(2)` with an integer argument.
func ioctl(_ fd: FileDescriptor, _ request: UInt, _ argument: UInt, name: String) throws(SystemCallError) {
    let result = cbpf_ioctl(fd.rawValue, request, argument)
    if result < 0 { throw SystemCallError(call: name, errno: -result) }
}

/// Copies `text` into a fixed-size C char array (a tuple), NUL-terminated and truncated.
func setCString<T>(_ field: inout T, _ text: String) {
    withUnsafeMutableBytes(of: &field) { buffer in
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        for (index, byte) in text.utf8.prefix(buffer.count - 1).enumerated() { buffer[index] = byte }
    }
}

/// The pointer of a buffer as the u64 the kernel expects.
func address(_ pointer: UnsafeRawPointer?) -> UInt64 {
    UInt64(UInt(bitPattern: pointer))
}
