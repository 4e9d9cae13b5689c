import CBPF

/// A dynamic perf PMU for probes (`/sys/bus/event_source/devices/{kprobe,uprobe}`): its
/// perf event type and the config bit that turns a probe into a return probe.
struct ProbePMU {
    var type: UInt32
    var returnBit: UInt64

    static let root = "/sys/bus/event_source/devices/"

    /// nil when the kernel has no such PMU (kprobes compiled out, for example).
    static func named(_ name: String) -> ProbePMU? {
        guard let typeText = readSmallFile(root + name + "/type"),
              let type = UInt32(typeText.split(separator: "\n").first ?? "")
        else { return nil }
        // "config:0" → bit 0 of config.
        var bit: UInt64 = 0
        if let format = readSmallFile(root + name + "/format/retprobe"),
           let number = format.split(separator: ":").last.flatMap({ UInt64($0.split(separator: "\n").first ?? "") }) {
            bit = number
        }
        return ProbePMU(type: type, returnBit: 1 << bit)
    }

    /// Opens a probe event: `target` is the string config1 points at (binary path or
    /// function name), `offset` goes in config2. A uprobe's `referenceCounterOffset` (the file
    /// offset of a USDT semaphore, 0 for none) goes in config bits 32–63: the kernel (4.20+)
    /// then increments the semaphore in every process while the probe exists.
    func open(target: String, offset: UInt64, returnProbe: Bool, pid: Int32, cpu: Int32,
              referenceCounterOffset: UInt64 = 0) throws(SystemCallError) -> FileDescriptor {
        let bytes = Array(target.utf8) + [0]
        var attribute = cbpf_perf_event_attr()
        attribute.type = type
        attribute.config = (returnProbe ? returnBit : 0) | referenceCounterOffset << 32
        attribute.config2 = offset
        attribute.sample_period_or_freq = 1
        attribute.wakeup_events_or_watermark = 1
        return try bytes.withUnsafeBufferPointer { (text) throws(SystemCallError) -> FileDescriptor in
            attribute.config1 = address(text.baseAddress)
            return try perfEventOpen(&attribute, pid: pid, cpu: cpu)
        }
    }
}

extension BPFProgram {
    /// Whether to attach as a return probe: as asked, else as the section name says.
    func isReturnProbe(_ asked: Bool?) -> Bool {
        if let asked { return asked }
        switch spec.attachPoint {
        case .kretprobe, .uretprobe: return true
        default: return false
        }
    }
}
