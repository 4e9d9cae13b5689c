// The fast part of reliability/no-leaks: a few tools, each stopped by SIGINT at random
// moments (while loading, while running, during the final read). Afterwards every program,
// map and link the tool held is gone, no tracefs probe event was left, and the tool closed
// every descriptor it opened (its own count at exit, through BPFKIT_FD_AUDIT).
import BPFKit
import Foundation
import Testing

/// The BPF objects a live process holds through its descriptors (from its fdinfo).
private func heldObjects(by pid: Int32) -> (programs: Set<UInt32>, maps: Set<UInt32>, links: Set<UInt32>) {
    var programs = Set<UInt32>(), maps = Set<UInt32>(), links = Set<UInt32>()
    let directory = "/proc/\(pid)/fdinfo"
    for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
        guard let text = try? String(contentsOfFile: directory + "/" + name, encoding: .utf8) else { continue }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, let id = UInt32(parts[1]) else { continue }
            switch parts[0] {
            case "prog_id": programs.insert(id)
            case "map_id": maps.insert(id)
            case "link_id": links.insert(id)
            default: break
            }
        }
    }
    return (programs, maps, links)
}

/// The tracefs dynamic probe definitions (kprobes, uprobes), one per line.
private func probeEvents() -> Set<String> {
    var lines = Set<String>()
    for name in ["kprobe_events", "uprobe_events", "dynamic_events"] {
        let text = (try? String(contentsOfFile: "/sys/kernel/tracing/" + name, encoding: .utf8)) ?? ""
        lines.formUnion(text.split(separator: "\n").map { name + ": " + $0 })
    }
    return lines
}

/// Polls until `condition` holds (kernel frees wait for an RCU grace period).
private func eventually(_ seconds: Double = 3, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        Thread.sleep(forTimeInterval: 0.05)
    }
    return try condition()
}

@Suite("No leaks: tools stopped by SIGINT at random moments", .serialized)
struct NoLeakTests {
    enum Moment: String, CaseIterable, Sendable { case loading, running, finalRead }

    @Test("stopped at a random moment, a tool leaves nothing behind",
          arguments: ["execsnoop", "runqlat", "profile", "biolatency"])
    func stopAtRandom(tool: String) throws {
        var random = SystemRandomNumberGenerator()
        for moment in Moment.allCases {
            let probesBefore = probeEvents()
            let run = try ToolRun(ToolRun.binary.path, [tool], environment: ["BPFKIT_FD_AUDIT": "1"])
            var held = (programs: Set<UInt32>(), maps: Set<UInt32>(), links: Set<UInt32>())
            if moment == .loading {
                Thread.sleep(forTimeInterval: Double.random(in: 0...0.03, using: &random))
            } else {
                // Attached once it holds a link; then a random while longer.
                let attached = try run.wait(timeout: 20) { _ in !heldObjects(by: run.process.processIdentifier).links.isEmpty }
                #expect(attached, "\(tool) never attached: \(run.stderr)")
                Thread.sleep(forTimeInterval: Double.random(in: 0...0.3, using: &random))
                held = heldObjects(by: run.process.processIdentifier)
                #expect(!held.programs.isEmpty && !held.maps.isEmpty)
            }
            kill(run.process.processIdentifier, SIGINT)
            if moment == .finalRead {
                Thread.sleep(forTimeInterval: Double.random(in: 0...0.02, using: &random))
                kill(run.process.processIdentifier, SIGINT)
            }
            let status = run.waitForExit(timeout: 30)
            let context = "\(tool) stopped while \(moment.rawValue): status \(status), stderr: \(run.stderr)"

            // Killed by the signal before it blocked it (while loading), or a clean exit.
            if run.process.terminationReason == .uncaughtSignal {
                #expect(status == SIGINT && moment == .loading, "\(context)")
            } else {
                #expect(status == 0, "\(context)")
                let audit = run.stderr.split(separator: "\n").filter { $0.hasPrefix("bpfkit: fd audit:") }
                let counts = audit.first.map { $0.split(separator: " ") }
                #expect(counts != nil && counts![3] == counts![7], "descriptors left open: \(audit)")
            }
            for marker in trapMarkers { #expect(!run.stderr.contains(marker), "\(context)") }

            #expect(try eventually { held.links.isDisjoint(with: try KernelObjects.linkIDs()) }, "links left: \(context)")
            #expect(try eventually { held.programs.isDisjoint(with: try ProgramInfo.allIDs()) }, "programs left: \(context)")
            #expect(try eventually { held.maps.isDisjoint(with: try KernelObjects.mapIDs()) }, "maps left: \(context)")
            #expect(probeEvents() == probesBefore, "tracefs probe events left: \(context)")
        }
    }
}
