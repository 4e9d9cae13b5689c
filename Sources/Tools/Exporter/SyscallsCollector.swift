import BPFKit
import ToolEvents

/// System calls by name, counted per CPU by number at raw_syscalls:sys_enter. Only calls
/// seen at least once become series, so the label set stays within the syscall table.
final class SyscallsCollector: Collector {
    private var object: BPFObject?
    private var calls: BPFMap?

    init(options: inout CollectorOptions) throws {}

    func start() throws {
        let object = try BPFObject(base64: BPFObjects.exporter_syscalls, name: "exporter_syscalls")
        try object.attachAll()
        calls = try object.map("calls")
        self.object = object
    }

    func collect(into families: inout [MetricFamily]) throws {
        guard let calls else { return }
        var family = MetricFamily("bpfkit_syscalls", .counter, help: "System calls entered, by name (raw_syscalls:sys_enter).")
        for (number, total) in try PerCPUCounters.totals(calls) {
            family.add(.integer(total), labels: [("syscall", SyscallNames.name(of: Int(number)))])
        }
        families.append(family)
    }

    func close() { object?.close() }
}
