import BPFKit
import ToolEvents

/// Block I/O latency per disk, from the request's issue to the driver to its completion.
/// Option: `"disk": "sda"` traces one disk only.
final class BiolatencyCollector: Collector {
    private let disk: String?
    private var object: BPFObject?
    private var disks: TypedMap<UInt32, exporter_histogram>?
    private let names = BlockDevices()

    init(options: inout CollectorOptions) throws {
        disk = try options.string("disk")
    }

    func start() throws {
        let targetDev = try disk.map(BlockDevices.disk(named:)) ?? 0
        let object = try BPFObject(base64: BPFObjects.exporter_biolatency, name: "exporter_biolatency") { spec in
            try spec.setGlobal("target_dev", to: targetDev)
        }
        try object.attachAll()
        disks = try TypedMap(object.map("disks"))
        self.object = object
    }

    func collect(into families: inout [MetricFamily]) throws {
        guard let disks else { return }
        var family = MetricFamily("bpfkit_block_io_latency_seconds", .histogram,
                                  help: "Block I/O latency from issue to the device driver to completion, per disk.")
        for (dev, histogram) in try disks.entries().map({ (names.name(of: $0.key), $0.value) }).sorted(by: { $0.0 < $1.0 }) {
            LatencyHistogram.add([histogram], to: &family, labels: [("disk", dev)])
        }
        families.append(family)
    }

    func close() { object?.close() }
}
