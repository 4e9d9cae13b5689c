import Testing
@testable import Tools

/// The storage tools' decoding and arithmetic, without the kernel.
@Suite("storage tools: flags, histograms, cache arithmetic")
struct StorageFormattingTests {
    @Test("request flags read the same from cmd_flags and from a trace event's rwbs, in bcc's words")
    func requestFlags() {
        let flags = RequestFlags(btf: nil)  // Linux 6.x bit positions
        let sync: UInt32 = 1 << 11, meta: UInt32 = 1 << 12, fua: UInt32 = 1 << 17, readahead: UInt32 = 1 << 19
        #expect(flags.describe(cmdFlags: 1) == "Write")
        #expect(flags.describe(cmdFlags: 1 | sync) == "Sync-Write")
        #expect(flags.describe(cmdFlags: 1 | sync | fua) == "ForcedUnitAccess-Sync-Write")
        #expect(flags.describe(cmdFlags: 0 | readahead) == "ReadAhead-Read")
        #expect(flags.describe(cmdFlags: 0 | meta | sync) == "Metadata-Sync-Read")
        #expect(flags.describe(cmdFlags: 2) == "Flush")
        #expect(flags.describe(cmdFlags: 9) == "WriteZeros")
        #expect(flags.describe(cmdFlags: 200) == "Unknown")
        #expect(flags.isWrite(cmdFlags: 1 | sync) && !flags.isWrite(cmdFlags: 0))

        #expect(RequestFlags.describe(rwbs: "W") == "Write")
        #expect(RequestFlags.describe(rwbs: "WS") == "Sync-Write")
        #expect(RequestFlags.describe(rwbs: "WFS") == "ForcedUnitAccess-Sync-Write")
        #expect(RequestFlags.describe(rwbs: "RA") == "ReadAhead-Read")
        #expect(RequestFlags.describe(rwbs: "RSM") == "Metadata-Sync-Read")
        #expect(RequestFlags.describe(rwbs: "FF") == "Flush")        // preflush + flush
        #expect(RequestFlags.describe(rwbs: "FWS") == "Sync-Write")  // preflush + write
        #expect(RequestFlags.describe(rwbs: "DE") == "SecureErase")
        #expect(RequestFlags.describe(rwbs: "N") == "Unknown")
        #expect(RequestFlags.isWrite(rwbs: "FWFS") && !RequestFlags.isWrite(rwbs: "RA"))
        #expect(shortText(0x5357) == "WS")
    }

    @Test("keyed histograms print as bcc's print_log2_hist does; zeros join the 0 -> 1 row")
    func sections() {
        var sections = HistogramSections()
        sections.add("sdb", slot: 3, count: 2)
        sections.add("sda", slot: 0, count: 1)
        sections.add("sda", slot: 1, count: 1)
        sections.add("sda", slot: 2, count: 4)
        #expect(sections.labels == ["sda", "sdb"])
        let text = sections.text(unit: "usecs", header: "disk")
        #expect(text.hasPrefix("""

            disk = sda
                 usecs               : count     distribution
                     0 -> 1          : 2        |********************                    |
                     2 -> 3          : 4        |****************************************|

            disk = sdb
            """))
        var totals = RunningTotals<LabeledSlot>()
        let key = LabeledSlot(label: nil, slot: 4)
        #expect(totals.delta([(key, 5)]).map(\.1) == [5])
        #expect(totals.delta([(key, 5)]).isEmpty)
        #expect(totals.delta([(key, 9)]).map(\.1) == [4])
    }

    @Test("cache hits and misses, with bcc's rule when read-ahead outruns the reads")
    func cacheStatistics() {
        let cold = CacheStatistics(accesses: 1024, misses: 1024)
        #expect(cold.hits == 0 && cold.misses == 1024 && cold.ratio == 0)
        let warm = CacheStatistics(accesses: 1024, misses: 0)
        #expect(warm.hits == 1024 && warm.ratio == 1)
        let readahead = CacheStatistics(accesses: 4, misses: 32)
        #expect(readahead.hits == 0 && readahead.misses == 4)
        let idle = CacheStatistics(accesses: 0, misses: 0)
        #expect(idle.ratio == 0)
    }
}
