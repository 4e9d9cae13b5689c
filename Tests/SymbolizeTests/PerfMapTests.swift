// JIT perf maps and /proc/PID/maps lines: the text formats, their odd corners, and properties.
import Testing
@testable import Symbolize

@Suite("Perf maps and process maps")
struct PerfMapTests {
    @Test("perf map lines: with or without 0x, any case, tabs, CRLF, names with spaces")
    func lineFormats() {
        let map = PerfMap(parsing: Array("""
            7f0000001000 40 LazyCompile:~handler /srv/app.js:12
            0x7F0000001040 0X10 Lfoo/Bar;::baz
            7f0000001100\t20\tstub with   spaces\t\r
              7f0000001200 8 leading blanks

            """.utf8))
        #expect(map.malformedLines == 0)
        #expect(map.entries.count == 4)
        #expect(map.lookup(0x7f0000001000)! == (PerfMap.Entry(start: 0x7f0000001000, size: 0x40, name: "LazyCompile:~handler /srv/app.js:12"), 0))
        #expect(map.lookup(0x7f000000104f)?.entry.name == "Lfoo/Bar;::baz")
        #expect(map.lookup(0x7f0000001050) == nil)
        #expect(map.lookup(0x7f0000001110)?.entry.name == "stub with   spaces")
        #expect(map.lookup(0x7f0000001207)?.entry.name == "leading blanks")
        #expect(map.lookup(0x7f0000000fff) == nil)
    }

    @Test("malformed perf map lines are skipped and counted")
    func malformedLines() {
        let map = PerfMap(parsing: Array("""
            zzzz 10 bad_start
            1000 bad_size name
            2000 10
            3000
            40000000000000000 10 too_long
            5000 10 good
            """.utf8))
        #expect(map.malformedLines == 5)
        #expect(map.entries.map(\.name) == ["good"])
    }

    @Test("overlapping entries: the one written last wins (a JIT reused the memory)")
    func overlaps() {
        let map = PerfMap(parsing: Array("""
            1000 100 old_function
            1000 100 new_function
            1080 10 newer_inner
            0fff 1000 huge_old
            """.utf8))
        #expect(map.lookup(0x1010)?.entry.name == "huge_old")
        let ordered = PerfMap(parsing: Array("0fff 1000 huge_old\n1000 100 old_function\n1000 100 new_function\n1080 10 newer_inner\n".utf8))
        #expect(ordered.lookup(0x1010)?.entry.name == "new_function")
        #expect(ordered.lookup(0x1085)?.entry.name == "newer_inner")
        #expect(ordered.lookup(0x1200)?.entry.name == "huge_old")
        #expect(ordered.lookup(0x1085)?.offset == 5)
    }

    @Test("property: every address inside a generated function resolves to it", arguments: [1, 2, 3])
    func generatedMaps(seed: UInt64) {
        var random = SeededRandom(seed: seed)
        var entries: [PerfMap.Entry] = []
        var address: UInt64 = UInt64.random(in: 0x1000...0x7fff_0000_0000, using: &random)
        for index in 0..<500 {
            address += UInt64.random(in: 0...64, using: &random)  // gaps, sometimes none
            let size = UInt64.random(in: 1...512, using: &random)
            entries.append(.init(start: address, size: size, name: "fn_\(index) [jit]"))
            address += size
        }
        let text = entries.shuffled(using: &random).map { entry in
            let start = Bool.random(using: &random) ? "0x" + String(entry.start, radix: 16) : String(entry.start, radix: 16, uppercase: true)
            return "\(start) \(String(entry.size, radix: 16)) \(entry.name)"
        }.joined(separator: "\n")
        let map = PerfMap(parsing: Array(text.utf8))
        #expect(map.entries.count == entries.count)
        for entry in entries {
            let inside = entry.start + UInt64.random(in: 0..<entry.size, using: &random)
            #expect(map.lookup(inside)?.entry == entry)
            #expect(map.lookup(inside)?.offset == inside - entry.start)
        }
        #expect(map.lookup(entries[0].start - 1) == nil)
        #expect(map.lookup(entries.last!.end) == nil)
    }

    @Test("/proc/PID/maps lines: files, deleted files, spaces in paths, special mappings")
    func mapsLines() {
        let maps = ProcessMapping.parse(Array("""
            55d0c3a00000-55d0c3a02000 r--p 00000000 08:01 1311234                    /usr/bin/cat
            55d0c3a02000-55d0c3a07000 r-xp 00002000 08:01 1311234                    /usr/bin/cat
            7f10a0000000-7f10a0021000 rw-p 00000000 00:00 0
            7f10a1000000-7f10a1001000 r-xp 00001000 fd:02 99                         /tmp/my lib.so (deleted)
            7ffd5e1f0000-7ffd5e1f2000 r-xp 00000000 00:00 0                          [vdso]
            ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
            garbage line
            7f10a2000000-7f10a1000000 r-xp 00000000 00:00 0 backwards
            """.utf8))
        #expect(maps.count == 6)
        #expect(maps[1] == ProcessMapping(start: 0x55d0c3a02000, end: 0x55d0c3a07000, offset: 0x2000, isExecutable: true,
                                          deviceMajor: 8, deviceMinor: 1, inode: 1311234, path: "/usr/bin/cat"))
        #expect(maps[1].fileName == "cat")
        #expect(maps[2].path == "" && !maps[2].isFile && maps[2].isWritable && !maps[2].isExecutable)
        #expect(maps[3].path == "/tmp/my lib.so" && maps[3].isDeleted && maps[3].fileName == "my lib.so")
        #expect(maps[3].deviceMajor == 0xfd && maps[3].deviceMinor == 2)
        #expect(maps[4].path == "[vdso]" && !maps[4].isFile && maps[4].fileName == "[vdso]")
        #expect(maps[5].start == 0xffffffffff600000 && !maps[5].isReadable)
    }
}
