import BPFKit
import ToolEvents

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Off-CPU time of the processes that spent the most time off CPU. Options: `"top"`, how
/// many processes become series (default 10: a bounded label set), and `"processes"`, how
/// many the kernel tracks at once (default 4096; the least recently switched make room).
final class OffCPUCollector: Collector {
    private let top: Int
    private let tracked: Int
    private var object: BPFObject?
    private var processes: TypedMap<UInt32, exporter_offcpu>?

    init(options: inout CollectorOptions) throws {
        top = try options.integer("top", in: 1...1000) ?? 10
        tracked = try options.integer("processes", in: 16...1_000_000) ?? 4096
    }

    func start() throws {
        let tracked = UInt32(tracked)
        let object = try BPFObject(base64: BPFObjects.exporter_offcpu, name: "exporter_offcpu") { spec in
            try spec.updateMap("processes") { $0.maxEntries = tracked }
        }
        try object.attachAll()
        processes = try TypedMap(object.map("processes"))
        self.object = object
    }

    func collect(into families: inout [MetricFamily]) throws {
        guard let processes else { return }
        var family = MetricFamily("bpfkit_offcpu_seconds", .counter,
                                  help: "Time the threads of the top processes spent off CPU (blocked or waiting), by process.")
        let all = try processes.entries()
        var shown = 0
        for (pid, total) in all.sorted(by: { $0.value.ns > $1.value.ns }) where shown < top {
            // A process that exited keeps its sum until the LRU map evicts it: drop it now,
            // so the top N are live processes.
            if access("/proc/\(pid)", F_OK) != 0 {
                try processes.delete(pid)
                continue
            }
            family.add(.real(Double(total.ns) / 1e9), labels: [("pid", String(pid)), ("comm", cString(total.comm))])
            shown += 1
        }
        var count = MetricFamily("bpfkit_offcpu_processes", .gauge, help: "Processes whose off-CPU time the kernel now tracks.")
        count.add(.integer(UInt64(all.count)))
        families += [family, count]
    }

    func close() { object?.close() }
}
