import CBPF

/// An attachment of a program to a hook. The program stays attached while the link lives;
/// ``close()`` (or releasing the link) detaches it.
public final class Link: @unchecked Sendable {
    public let description: String
    /// The BPF link (or, on old kernels, the perf event the program hangs off), first,
    /// then any descriptors the attachment needs kept open.
    private(set) var descriptors: [FileDescriptor]

    init(description: String, descriptors: [FileDescriptor]) {
        self.description = description
        self.descriptors = descriptors
    }

    public func close() {
        for descriptor in descriptors { descriptor.close() }
    }

    /// Hands the descriptors over (to a link that groups several), leaving this one empty.
    func detach() -> [FileDescriptor] {
        let taken = descriptors
        descriptors = []
        return taken
    }

    deinit { close() }
}

extension BPFProgram {
    /// Attaches where the program's section name says (`tracepoint/…`, `raw_tp/…`, `tp_btf/…`,
    /// `fentry/…`, `fexit/…`). Probes and sampling events need a target: use the specific calls.
    public func attach() throws -> Link {
        switch spec.attachPoint {
        case .tracepoint(let category, let name):
            return try attachTracepoint(category: category, name: name)
        case .rawTracepoint(let name):
            return try attachRawTracepoint(name: name)
        case .btfTracepoint, .fentry, .fexit:
            return try attachTracing()
        case .kprobe(let function, let offset):
            return try attachKprobe(function: function, offset: offset, returnProbe: false)
        case .kretprobe(let function):
            return try attachKprobe(function: function, returnProbe: true)
        case .uprobe(let path?, let function, let offset), .uretprobe(let path?, let function, let offset):
            return try attachUprobe(UprobeTarget(binary: path, symbol: function, offset: offset))
        case .uprobe, .uretprobe:
            throw AttachError("attach \(name): a uprobe section without a binary needs attachUprobe(_:)")
        case .uprobeMulti, .uprobeSession:
            throw AttachError("attach \(name): \(spec.sectionName) programs attach with attachUprobes(_:)")
        case .perfEvent:
            throw AttachError("attach \(name): perf_event programs attach to sampling events")
        case nil:
            throw AttachError("attach \(name): unknown section \(spec.sectionName)")
        }
    }

    /// Attaches to trace event CATEGORY:NAME: a perf event for the tracepoint, linked to
    /// the program (BPF_LINK_CREATE; ioctl PERF_EVENT_IOC_SET_BPF on kernels before 5.15).
    /// tracefs is mounted first if it is not.
    ///
    /// ```swift
    /// let link = try object.program("on_exec").attachTracepoint(category: "sched", name: "sched_process_exec")
    /// ```
    public func attachTracepoint(category: String, name tracepoint: String) throws -> Link {
        let id = try Tracefs.eventID(category: category, name: tracepoint)
        var attribute = cbpf_perf_event_attr()
        attribute.type = 2  // PERF_TYPE_TRACEPOINT
        attribute.config = id
        attribute.sample_period_or_freq = 1
        attribute.wakeup_events_or_watermark = 1
        let event: FileDescriptor
        do {
            // One event (any pid, CPU 0) runs the program on every CPU.
            event = try perfEventOpen(&attribute, pid: -1, cpu: 0)
        } catch {
            throw AttachError("attach \(name) to tracepoint \(category):\(tracepoint): \(error)")
        }
        return try attachPerfEvent(event, description: "tracepoint \(category):\(tracepoint)")
    }

    /// Attaches to an open perf event (tracepoint, probe or sampling event), taking
    /// ownership of its descriptor.
    public func attachPerfEvent(_ event: FileDescriptor, description: String, cookie: UInt64 = 0) throws -> Link {
        var attribute = cbpf_link_create_attr()
        attribute.prog_fd = UInt32(descriptor.rawValue)
        attribute.target_fd = UInt32(event.rawValue)
        attribute.attach_type = AttachType.perfEvent.rawValue
        attribute.extra.0 = cookie
        do {
            let link = try bpfDescriptor(.linkCreate, &attribute)
            try? ioctl(event, 0x2400, 0, name: "PERF_EVENT_IOC_ENABLE")
            return Link(description: description, descriptors: [link, event])
        } catch let linkError {
            // Older kernels have no perf-event links: hang the program off the event instead.
            do {
                try ioctl(event, 0x4004_2408, UInt(descriptor.rawValue), name: "PERF_EVENT_IOC_SET_BPF")
                try ioctl(event, 0x2400, 0, name: "PERF_EVENT_IOC_ENABLE")
            } catch {
                throw AttachError("attach \(name) to \(description): \(linkError)")
            }
            return Link(description: description, descriptors: [event])
        }
    }

    /// Attaches a `raw_tracepoint` program (BPF_RAW_TRACEPOINT_OPEN, Linux 4.17): the
    /// tracepoint's raw arguments, without the trace event's formatting cost.
    ///
    /// ```swift
    /// let link = try object.program("on_enter").attachRawTracepoint(name: "sys_enter")
    /// ```
    public func attachRawTracepoint(name tracepoint: String) throws -> Link {
        let bytes = Array(tracepoint.utf8) + [0]
        do {
            let link = try bytes.withUnsafeBytes { (text) throws -> FileDescriptor in
                var attribute = cbpf_raw_tracepoint_attr()
                attribute.name = address(text.baseAddress)
                attribute.prog_fd = UInt32(descriptor.rawValue)
                return try bpfDescriptor(.rawTracepointOpen, &attribute)
            }
            return Link(description: "raw_tracepoint \(tracepoint)", descriptors: [link])
        } catch {
            throw AttachError("attach \(name) to raw tracepoint \(tracepoint): \(error)")
        }
    }

    /// Attaches a program whose target was fixed at load (`tp_btf/…` from Linux 5.5, `fentry/…`,
    /// `fexit/…`): typed arguments through BTF. fentry/fexit fail to load on locked-down kernels
    /// (``MissingFeatureError``); check ``KernelFeatures`` first to choose a tracepoint instead.
    ///
    /// ```swift
    /// // SEC("tp_btf/sched_switch") int on_switch(u64 *ctx) { struct task_struct *prev = (void *)ctx[1]; … }
    /// let link = try object.program("on_switch").attachTracing()
    /// ```
    public func attachTracing() throws -> Link {
        var attribute = cbpf_raw_tracepoint_attr()
        attribute.prog_fd = UInt32(descriptor.rawValue)
        do {
            let link = try bpfDescriptor(.rawTracepointOpen, &attribute)
            return Link(description: spec.sectionName, descriptors: [link])
        } catch {
            throw AttachError("attach \(name) (\(spec.sectionName)): \(error)")
        }
    }
}
