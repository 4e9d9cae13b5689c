// Loading the loader fixture into the running kernel, attaching it to
// syscalls:sys_enter_getppid and reading everything it writes. The program counts only
// the thread that loaded it (pid and tid are .rodata constants), so tests running in
// parallel do not see each other's calls.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Testing
@testable import BPFKit

@Suite("Loading and reading a tracepoint program", .needsGetppidTracepoint)
struct LoaderTests {
    @Test("global counter, hash map, per-CPU array, ring buffer and perf buffer")
    func endToEnd() throws {
        let object = try loadLoaderForThisThread()
        defer { object.close() }
        // The perf buffer must exist before events: it fills the map with per-CPU events.
        let perf = try PerfBuffer(map: object.map("perf_events"), pagesPerCPU: 8)
        defer { perf.close() }
        let ring = try RingBuffer(map: object.map("events"))
        defer { ring.close() }

        #expect(try object.global("hits", as: UInt64.self) == 0)
        try object.attachAll()
        #expect(object.links.count == 1)
        callGetppid(5)

        // .bss counter, .rodata and .data as the program sees them.
        #expect(eventually { (try? object.global("hits", as: UInt64.self)) == 5 })
        #expect(try object.global("target_pid", as: UInt32.self) == UInt32(getpid()))
        #expect(try object.global("target_tid", as: UInt32.self) == currentThreadID())
        #expect(try object.global("data_marker", as: UInt64.self) == 0x1122_3344_5566_7788)
        #expect(try object.global("data_small", as: UInt32.self) == 7)
        #expect(throws: ObjectError.self) { try object.global("hits", as: UInt32.self) }
        #expect(throws: ObjectError.self) { try object.global("nope", as: UInt32.self) }

        // Hash map: seq → pid_tgid.
        let calls = try object.map("calls")
        #expect((calls.type, calls.keySize, calls.valueSize, calls.maxEntries) == (.hash, 4, 8, 64))
        let pidTGID = UInt64(getpid()) << 32 | UInt64(currentThreadID())
        let entries = try calls.entries()
        #expect(entries.count == 5)
        #expect(Set(entries.map { $0.key.load(UInt32.self, at: 0) }) == [0, 1, 2, 3, 4])
        #expect(entries.allSatisfy { $0.value.load(UInt64.self, at: 0) == pidTGID })
        #expect(Set(try calls.keys()) == Set(entries.map(\.key)))
        #expect(try calls.lookup(key: UInt32(3).littleEndianBytes) == pidTGID.littleEndianBytes)
        #expect(try calls.lookup(key: UInt32(99).littleEndianBytes) == nil)
        // nextKey walks every key once, then ends.
        var walked: [[UInt8]] = []
        var cursor: [UInt8]? = nil
        while let next = try calls.nextKey(after: cursor) {
            walked.append(next)
            cursor = next
            if walked.count > 64 { break }
        }
        #expect(Set(walked) == Set(entries.map(\.key)) && walked.count == 5)
        #expect(try calls.delete(key: UInt32(3).littleEndianBytes))
        #expect(try !calls.delete(key: UInt32(3).littleEndianBytes))
        #expect(try calls.lookup(key: UInt32(3).littleEndianBytes) == nil)
        #expect(try calls.keys().count == 4)

        // Per-CPU array: round_up(4, 8) bytes for each possible CPU; the slots add up to the calls.
        let perCPU = try object.map("percpu_hits")
        #expect(perCPU.lookupSize == 8 * CPUs.possible.count)
        let slots = try #require(try perCPU.lookup(key: UInt32(0).littleEndianBytes))
        #expect(slots.count == perCPU.lookupSize)
        let total = stride(from: 0, to: slots.count, by: 8).reduce(0) { $0 + Int(slots.load(UInt32.self, at: $1)) }
        #expect(total == 5)
        #expect(try perCPU.lookup(key: UInt32(1).littleEndianBytes) == [UInt8](repeating: 0, count: perCPU.lookupSize))
        #expect(try perCPU.entries().count == 2)

        // Ring buffer: five events, in order.
        var ringEvents: [LoaderEvent] = []
        _ = eventually {
            _ = try? ring.poll(timeout: 50) { if let event = LoaderEvent($0) { ringEvents.append(event) } }
            return ringEvents.count >= 5
        }
        #expect(ringEvents.map(\.seq) == [0, 1, 2, 3, 4])
        #expect(ringEvents.allSatisfy { $0.pid == UInt32(getpid()) && $0.tid == currentThreadID() && $0.magic == LoaderEvent.magicValue })
        #expect(ring.consume { _ in } == 0)

        // Perf buffer: the same five events, each padded by the kernel.
        var perfEvents: [LoaderEvent] = []
        _ = eventually {
            _ = try? perf.poll(timeout: 50) { cpu, bytes in
                #expect(CPUs.online.contains(cpu))
                #expect(bytes.count >= LoaderEvent.size)
                if let event = LoaderEvent(bytes) { perfEvents.append(event) }
            }
            return perfEvents.count >= 5
        }
        #expect(perfEvents.map(\.seq).sorted() == [0, 1, 2, 3, 4])
        #expect(perfEvents.allSatisfy { $0.tid == currentThreadID() && $0.magic == LoaderEvent.magicValue })
        #expect(perf.lostEvents == 0)
    }

    /// Attaches, calls getppid `count` times and detaches again, all on the calling thread
    /// and before the test first suspends: after that its thread may run another test, whose
    /// getppid calls a program filtering on this thread's id would count too.
    private func attachCallDetach(_ object: BPFObject, _ count: Int) throws {
        try object.attachAll()
        callGetppid(count)
        for link in object.links { link.close() }
    }

    @Test("ring buffer records as an AsyncSequence")
    func ringBufferRecords() async throws {
        let object = try loadLoaderForThisThread()
        defer { object.close() }
        try attachCallDetach(object, 3)
        // Not closed by the test: the sequence's poll thread may still be inside a poll when
        // the loop breaks, and keeps the reader alive until it returns.
        let ring = try RingBuffer(map: object.map("events"))

        let events = try await withThrowingTaskGroup(of: [LoaderEvent]?.self) { group in
            group.addTask {
                var events: [LoaderEvent] = []
                for try await record in ring.records {
                    if let event = LoaderEvent(record) { events.append(event) }
                    if events.count == 3 { break }
                }
                return events
            }
            group.addTask {
                try await Task.sleep(for: .seconds(2))
                return nil
            }
            let first = try await group.next()!
            group.cancelAll()
            return first
        }
        let received = try #require(events, "no ring buffer records within 2 s")
        #expect(received.map(\.seq) == [0, 1, 2])
        #expect(received.allSatisfy { $0.magic == LoaderEvent.magicValue })
    }

    @Test("perf buffer records as an AsyncSequence")
    func perfBufferRecords() async throws {
        let object = try loadLoaderForThisThread()
        defer { object.close() }
        let perf = try PerfBuffer(map: object.map("perf_events"), pagesPerCPU: 4)
        try attachCallDetach(object, 2)

        let events = try await withThrowingTaskGroup(of: [LoaderEvent]?.self) { group in
            group.addTask {
                var events: [LoaderEvent] = []
                for try await record in perf.records {
                    if let event = LoaderEvent(record.bytes) { events.append(event) }
                    if events.count == 2 { break }
                }
                return events
            }
            group.addTask {
                try await Task.sleep(for: .seconds(2))
                return nil
            }
            let first = try await group.next()!
            group.cancelAll()
            return first
        }
        let received = try #require(events, "no perf buffer records within 2 s")
        #expect(received.map(\.seq).sorted() == [0, 1])
    }

    @Test("a frozen .rodata map refuses writes from user space")
    func rodataFrozen() throws {
        let object = try loadLoaderForThisThread()
        defer { object.close() }
        let rodata = try object.map("loader.rodata")
        let current = try #require(try rodata.lookup(key: UInt32(0).littleEndianBytes))
        #expect(current.count == 8)
        let error = try #require(throws: SystemCallError.self) {
            try rodata.update(key: UInt32(0).littleEndianBytes, value: current)
        }
        #expect(error.errno == EPERM)
        // .bss and .data stay writable: a write is what the program then reads.
        try object.map("loader.bss").update(key: UInt32(0).littleEndianBytes, value: UInt64(100).littleEndianBytes)
        #expect(try object.global("hits", as: UInt64.self) == 100)
        try object.attachAll()
        callGetppid(1)
        #expect(try object.global("hits", as: UInt64.self) == 101)
    }

    @Test("an unconfigured object loads and counts nothing")
    func unconfigured() throws {
        let object = try BPFObject(base64: BPFObjects.loader, name: "loader")
        defer { object.close() }
        try object.attachAll()
        callGetppid(3)
        #expect(try object.global("hits", as: UInt64.self) == 0)
        #expect(try object.map("calls").keys().isEmpty)
    }

    @Test("program info names the loaded program")
    func programInfo() throws {
        let object = try loadLoaderForThisThread()
        defer { object.close() }
        let program = try object.program("on_getppid")
        let info = try ProgramInfo(descriptor: program.descriptor)
        #expect(info.type == .tracepoint)
        #expect(info.name == "on_getppid")
        #expect(info.id == program.id && info.id != 0)
        #expect(try ProgramInfo.allIDs().contains(info.id))
        #expect(ProgramInfo.info(id: info.id)?.name == "on_getppid")
        #expect(throws: ObjectError.self) { try object.program("nope") }
        #expect(throws: ObjectError.self) { try object.map("nope") }
    }
}

@Suite("Map operations", .needsBPF)
struct MapTests {
    private func hashMap(_ name: String, entries: UInt32 = 64) throws -> BPFMap {
        try BPFMap.create(MapSpec(name: name, type: .hash, keySize: 4, valueSize: 8, maxEntries: entries))
    }

    @Test("update modes: createOnly, replaceOnly, any")
    func updateModes() throws {
        let map = try hashMap("t_modes")
        defer { map.close() }
        let key = UInt32(7).littleEndianBytes
        try map.update(key: key, value: UInt64(1).littleEndianBytes, mode: .createOnly)
        let exists = try #require(throws: SystemCallError.self) {
            try map.update(key: key, value: UInt64(2).littleEndianBytes, mode: .createOnly)
        }
        #expect(exists.errno == EEXIST)
        #expect(exists.call == "BPF_MAP_UPDATE_ELEM")
        #expect(try map.lookup(key: key) == UInt64(1).littleEndianBytes)

        try map.update(key: key, value: UInt64(3).littleEndianBytes, mode: .replaceOnly)
        #expect(try map.lookup(key: key) == UInt64(3).littleEndianBytes)
        let missing = try #require(throws: SystemCallError.self) {
            try map.update(key: UInt32(8).littleEndianBytes, value: UInt64(4).littleEndianBytes, mode: .replaceOnly)
        }
        #expect(missing.errno == ENOENT)
        try map.update(key: key, value: UInt64(5).littleEndianBytes, mode: .any)
        try map.update(key: UInt32(8).littleEndianBytes, value: UInt64(6).littleEndianBytes)
        #expect(try map.entries().count == 2)
    }

    @Test("a full hash map refuses new keys with E2BIG")
    func full() throws {
        let map = try hashMap("t_full", entries: 4)
        defer { map.close() }
        for key in 0..<4 as Range<UInt32> { try map.update(key: key.littleEndianBytes, value: UInt64(key).littleEndianBytes) }
        let error = try #require(throws: SystemCallError.self) {
            try map.update(key: UInt32(4).littleEndianBytes, value: UInt64(0).littleEndianBytes)
        }
        #expect(error.errno == E2BIG)
    }

    @Test("deleting while iterating empties the map and terminates")
    func iterateWhileDeleting() throws {
        let map = try hashMap("t_iter")
        defer { map.close() }
        for key in 0..<50 as Range<UInt32> { try map.update(key: key.littleEndianBytes, value: UInt64(key * 10).littleEndianBytes) }
        #expect(try map.keys().count == 50)

        // keys() reads every key first, so deleting each is safe.
        var deleted = 0
        for key in try map.keys() where key.load(UInt32.self, at: 0) % 2 == 0 {
            #expect(try map.delete(key: key))
            deleted += 1
        }
        #expect(deleted == 25)
        #expect(try map.entries().allSatisfy { $0.key.load(UInt32.self, at: 0) % 2 == 1 })

        // nextKey from a key just deleted restarts or continues, but the walk ends with the map empty.
        var cursor: [UInt8]? = nil
        var steps = 0
        while let key = try map.nextKey(after: cursor) {
            #expect(try map.delete(key: key))
            cursor = key
            steps += 1
            if steps > 200 { break }
        }
        #expect(steps == 25)
        #expect(try map.keys().isEmpty)
        #expect(try map.entries().isEmpty)
        #expect(try map.nextKey(after: nil) == nil)
    }

    @Test("entries agree with and without batch lookups", arguments: [MapType.hash, .array, .perCPUHash, .perCPUArray])
    func entries(type: MapType) throws {
        let map = try BPFMap.create(MapSpec(name: "t_entries", type: type, keySize: 4, valueSize: 4, maxEntries: 8))
        defer { map.close() }
        let slot = type.isPerCPU ? 8 : 4
        for key in 0..<5 as Range<UInt32> {
            var value = [UInt8](repeating: 0, count: map.lookupSize)
            for cpu in 0..<(map.lookupSize / slot) { value.setInteger(key * 100 + UInt32(cpu), at: cpu * slot) }
            try map.update(key: key.littleEndianBytes, value: value)
        }
        let batched = try map.lookupBatch()
        let walked = try map.keys().compactMap { key in try map.lookup(key: key).map { (key, $0) } }
        let expectedCount = type == .array || type == .perCPUArray ? 8 : 5
        #expect(batched.count == expectedCount)
        #expect(walked.count == expectedCount)
        #expect(Dictionary(uniqueKeysWithValues: batched.map { ($0.key, $0.value) })
            == Dictionary(uniqueKeysWithValues: walked.map { ($0.0, $0.1) }))
        #expect(try map.lookup(key: UInt32(2).littleEndianBytes)?.load(UInt32.self, at: 0) == 200)
        if type.isPerCPU {
            #expect(map.lookupSize == 8 * CPUs.possible.count)
        }
    }

    @Test("create refuses impossible specs with a LoadError naming the map")
    func createErrors() {
        let error = #expect(throws: LoadError.self) {
            try BPFMap.create(MapSpec(name: "t_bad", type: .array, keySize: 8, valueSize: 4, maxEntries: 1))
        }
        #expect(error?.description.hasPrefix("create map t_bad: BPF_MAP_CREATE: ") == true)
    }
}
