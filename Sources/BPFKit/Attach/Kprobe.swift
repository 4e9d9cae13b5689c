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
        let isReturn = isReturnProbe(returnProbe)
        let kind = isReturn ? "kretprobe" : "kprobe"
        guard let pmu = ProbePMU.named("kprobe") else {
            throw AttachError("\(kind) \(function): this kernel has no kprobes (no kprobe PMU in \(ProbePMU.root); CONFIG_KPROBES is off)")
        }
        let event: FileDescriptor
        do {
            event = try pmu.open(target: function, offset: offset, returnProbe: isReturn, pid: -1, cpu: 0)
        } catch {
            throw AttachError("\(kind) \(function): \(error)")
        }
        return try attachPerfEvent(event, description: "\(kind) \(function)")
    }
}
