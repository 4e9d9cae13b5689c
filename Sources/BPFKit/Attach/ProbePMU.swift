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
}
