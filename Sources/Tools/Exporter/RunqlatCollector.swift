import BPFKit
import ToolEvents

/// Run-queue latency of every thread, one histogram: from wakeup (or preemption while
/// runnable) to running.
final class RunqlatCollector: Collector {
    private var object: BPFObject?
    private var latency: PerCPUMap<UInt32, exporter_histogram>?

    init(options: inout CollectorOptions) throws {}

    func start() throws {
        let object = try BPFObject(base64: BPFObjects.exporter_runqlat, name: "exporter_runqlat")
        try object.attachAll()
        latency = try PerCPUMap(object.map("latency"))
        self.object = object
    }

    func collect(into families: inout [MetricFamily]) throws {
        guard let latency else { return }
        var family = MetricFamily("bpfkit_runqueue_latency_seconds", .histogram,
                                  help: "Time runnable threads waited for a CPU, from wakeup or preemption to running.")
        LatencyHistogram.add(try latency.lookup(0) ?? [], to: &family)
        families.append(family)
    }

    func close() { object?.close() }
}
