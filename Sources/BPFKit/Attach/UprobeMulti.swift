import CBPF

extension BPFProgram {
    /// Attaches a `uprobe.multi`, `uretprobe.multi` or `uprobe.session` program to many
    /// functions of one binary with a single link (BPF_LINK_CREATE, Linux 6.6; sessions 6.13).
    ///
    /// One link costs one system call and one descriptor however many functions it covers,
    /// and a session program runs at entry and return as one program whose entry can skip
    /// the return (the return trap is what makes uretprobes costly).
    ///
    /// ```swift
    /// let targets = ["malloc", "calloc"].map { UprobeTarget(binary: "c", symbol: $0, pid: pid) }
    /// let link = try object.program("on_alloc").attachUprobes(targets, cookies: [0, 1])
    /// ```
    ///
    /// `cookies[i]` is what `bpf_get_attach_cookie` returns at `targets[i]`; every target
    /// must resolve to the same file and name the same process (or none).
    public func attachUprobes(_ targets: [UprobeTarget], cookies: [UInt64] = []) throws -> Link {
        guard let first = targets.first else { throw AttachError("attach \(name): no uprobe targets") }
        guard cookies.isEmpty || cookies.count == targets.count else {
            throw AttachError("attach \(name): \(cookies.count) cookies for \(targets.count) uprobe targets")
        }
        var path = ""
        var offsets: [UInt64] = []
        for target in targets {
            guard target.pid == first.pid else { throw AttachError("attach \(name): uprobe targets name different processes") }
            let resolved = try target.resolve()
            if offsets.isEmpty { path = resolved.path }
            guard resolved.path == path else {
                throw AttachError("attach \(name): uprobe targets are in different files (\(path), \(resolved.path))")
            }
            offsets.append(resolved.fileOffset)
        }
        let described = targets.count == 1 ? "\(first)" : "\(first.binary):{\(targets.compactMap(\.symbol).joined(separator: ","))}"
        return try attachUprobes(path: path, fileOffsets: offsets, cookies: cookies, pid: first.pid, description: described)
    }

    /// Attaches at file offsets already known: `path` as the kernel should open it.
    public func attachUprobes(path: String, fileOffsets: [UInt64], cookies: [UInt64] = [], referenceCounterOffsets: [UInt64] = [],
                              pid: Int32?, description: String? = nil) throws -> Link {
        let kind: String
        var flags: UInt32 = 0
        let attachType: AttachType
        switch spec.attachPoint {
        case .uprobeMulti(let returnProbe):
            kind = returnProbe ? "uretprobe.multi" : "uprobe.multi"
            flags = returnProbe ? 1 : 0  // BPF_F_UPROBE_MULTI_RETURN
            attachType = .traceUprobeMulti
        case .uprobeSession:
            kind = "uprobe.session"
            attachType = .traceUprobeSession
        default:
            throw AttachError("attach \(name): \(spec.sectionName) is not a uprobe.multi or uprobe.session program")
        }
        let described = "\(kind) \(description ?? "\(path) (\(fileOffsets.count) offsets)")"
        guard !fileOffsets.isEmpty,
              cookies.isEmpty || cookies.count == fileOffsets.count,
              referenceCounterOffsets.isEmpty || referenceCounterOffsets.count == fileOffsets.count
        else { throw AttachError("attach \(name) to \(described): offsets, cookies and counters differ in number") }

        do {
            let link = try createUprobeMultiLink(program: descriptor, attachType: attachType, flags: flags, path: path,
                                                 fileOffsets: fileOffsets, cookies: cookies,
                                                 referenceCounterOffsets: referenceCounterOffsets, pid: pid ?? 0)
            return Link(description: described, descriptors: [link])
        } catch {
            throw AttachError("attach \(name) to \(described): \(error)")
        }
    }
}

/// BPF_LINK_CREATE for a uprobe_multi or uprobe session link (also the feature probe's call).
func createUprobeMultiLink(program: FileDescriptor, attachType: AttachType, flags: UInt32 = 0, path: String,
                           fileOffsets: [UInt64], cookies: [UInt64] = [], referenceCounterOffsets: [UInt64] = [],
                           pid: Int32 = 0) throws(SystemCallError) -> FileDescriptor {
    let pathBytes = Array(path.utf8) + [0]
    let result = pathBytes.withUnsafeBytes { pathPointer in
        fileOffsets.withUnsafeBytes { offsetsPointer in
            cookies.withUnsafeBytes { cookiesPointer in
                referenceCounterOffsets.withUnsafeBytes { countersPointer -> Result<FileDescriptor, SystemCallError> in
                    var attribute = cbpf_link_create_attr()
                    attribute.prog_fd = UInt32(program.rawValue)
                    attribute.attach_type = attachType.rawValue
                    attribute.extra.0 = address(pathPointer.baseAddress)
                    attribute.extra.1 = address(offsetsPointer.baseAddress)
                    attribute.extra.2 = referenceCounterOffsets.isEmpty ? 0 : address(countersPointer.baseAddress)
                    attribute.extra.3 = cookies.isEmpty ? 0 : address(cookiesPointer.baseAddress)
                    attribute.extra.4 = UInt64(fileOffsets.count) | UInt64(flags) << 32
                    attribute.extra.5 = UInt64(UInt32(bitPattern: pid))
                    return Result { () throws(SystemCallError) in try bpfDescriptor(.linkCreate, &attribute) }
                }
            }
        }
    }
    return try result.get()
}
