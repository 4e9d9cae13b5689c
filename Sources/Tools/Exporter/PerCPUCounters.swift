import BPFKit

/// Per-CPU `u32 -> u64` counter maps (syscalls, TCP), summed over CPUs in one pass over
/// the raw batch lookup: the generic typed-map path allocates per entry and per CPU, which
/// made a 512-entry map cost milliseconds per scrape.
enum PerCPUCounters {
    /// Each key's total over CPUs; keys whose total is 0 are left out.
    static func totals(_ map: BPFMap) throws -> [(key: UInt32, total: UInt64)] {
        let stride = (map.valueSize + 7) & ~7
        var totals: [(key: UInt32, total: UInt64)] = []
        for (key, value) in try map.entries() {
            var total: UInt64 = 0
            value.withUnsafeBytes { raw in
                var offset = 0
                while offset + 8 <= raw.count {
                    total &+= raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
                    offset += stride
                }
            }
            if total > 0 { totals.append((key.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }, total)) }
        }
        return totals.sorted { $0.key < $1.key }
    }
}
