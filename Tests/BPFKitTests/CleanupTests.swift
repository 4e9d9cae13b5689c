// Everything an object creates in the kernel goes away with it. Kernel ids are never
// reused soon (they are allocated cyclically), so checking our own ids is safe while other
// tests load objects in parallel. Freeing can finish after an RCU grace period: poll.
import Testing
@testable import BPFKit

@Suite("Cleanup", .needsGetppidTracepoint)
struct CleanupTests {
    struct Created {
        var programs: [UInt32]
        var maps: [UInt32]
        var links: [UInt32]
    }

    /// Loads and attaches the loader fixture, with a ring and perf buffer open, and returns
    /// the object and the kernel ids of all it made.
    private func loadEverything() throws -> (BPFObject, Created) {
        let object = try loadLoaderForThisThread()
        try object.attachAll()
        let created = Created(
            programs: object.programs.values.map(\.id),
            maps: try object.maps.values.map { try kernelID(of: $0) },
            links: try object.links.map { try kernelID(of: $0) })
        return (object, created)
    }

    private func expectAlive(_ created: Created) throws {
        #expect(created.programs.count == 1 && created.maps.count == 7 && created.links.count == 1)
        #expect(!created.programs.contains(0) && !created.maps.contains(0) && !created.links.contains(0))
        #expect(Set(created.programs).isSubset(of: try ProgramInfo.allIDs()))
        #expect(Set(created.maps).isSubset(of: try KernelObjects.mapIDs()))
        #expect(Set(created.links).isSubset(of: try KernelObjects.linkIDs()))
    }

    private func expectGone(_ created: Created) throws {
        #expect(try eventually { Set(created.links).isDisjoint(with: try KernelObjects.linkIDs()) }, "links left behind")
        #expect(try eventually { Set(created.programs).isDisjoint(with: try ProgramInfo.allIDs()) }, "programs left behind")
        #expect(try eventually { Set(created.maps).isDisjoint(with: try KernelObjects.mapIDs()) }, "maps left behind")
    }

    @Test("close() frees programs, maps and links")
    func close() throws {
        let (object, created) = try loadEverything()
        let ring = try RingBuffer(map: object.map("events"))
        let perf = try PerfBuffer(map: object.map("perf_events"), pagesPerCPU: 2)
        try expectAlive(created)
        ring.close()
        perf.close()
        object.close()
        object.close()  // twice is harmless
        try expectGone(created)
    }

    @Test("releasing the object frees everything too")
    func release() throws {
        // The object lives only inside the closure.
        let created = try { () throws -> Created in
            let (object, created) = try loadEverything()
            try expectAlive(created)
            _ = object
            return created
        }()
        try expectGone(created)
    }
}
