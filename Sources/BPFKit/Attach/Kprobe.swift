import CBPF

extension BPFProgram {
    /// Attaches a `kprobe` (or, with `returnProbe`, `kretprobe`) program to a kernel
    /// function through the kprobe PMU.
    ///
    /// Kernels built without kprobes have no such PMU: the error says so in one line, and
    /// tools fall back to a tracepoint or fentry (see ``KernelFeatures``).
    ///
    /// ```swift
    /// let link = try program.attachKprobe(function: "do_sys_openat2")
    /// ```
    public func attachKprobe(function: String, offset: UInt64 = 0, returnProbe: Bool? = nil) throws -> Link {
        let isReturn: Bool
        if let returnProbe {
            isReturn = returnProbe
        } else if case .kretprobe = spec.attachPoint {
            isReturn = true
        } else {
            isReturn = false
        }
        let kind = isReturn ? "kretprobe" : "kprobe"
        guard let pmu = ProbePMU.named("kprobe") else {
            throw AttachError("\(kind) \(function): this kernel has no kprobes (no kprobe PMU in \(ProbePMU.root); CONFIG_KPROBES is off)")
        }
        let nameBytes = Array(function.utf8) + [0]
        let event = try nameBytes.withUnsafeBytes { (text) throws -> FileDescriptor in
            var attribute = cbpf_perf_event_attr()
            attribute.type = pmu.type
            attribute.config = isReturn ? pmu.returnBit : 0
            attribute.config1 = address(text.baseAddress)
            attribute.config2 = offset
            attribute.sample_period_or_freq = 1
            attribute.wakeup_events_or_watermark = 1
            do {
                return try perfEventOpen(&attribute, pid: -1, cpu: 0)
            } catch {
                throw AttachError("\(kind) \(function): \(error)")
            }
        }
        return try attachPerfEvent(event, description: "\(kind) \(function)")
    }
}
