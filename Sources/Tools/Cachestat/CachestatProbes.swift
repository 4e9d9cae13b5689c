import ArgumentParser
import BPFKit
import ToolEvents

/// cachestat's BPF program, loaded and attached on the best path this kernel allows:
/// shared by `bpfkit cachestat` and the exporter's page-cache collector.
struct CachestatProbes {
    let object: BPFObject
    /// Which hooks counted what, and why (for `-v`).
    let summary: String
    private let counters: PerCPUMap<UInt32, cachestat_counters>

    /// Additions and dirtied pages come from trace events everywhere; lookups from
    /// folio_mark_accessed through fentry, or the read paths' trace events.
    init(pid: UInt32?) throws {
        let accessFunction = ["folio_mark_accessed", "mark_page_accessed"].first { KernelHooks.whyNoFentry([$0]) == nil }
        let dirtyEvent = KernelHooks.hasEvent("writeback", "writeback_dirty_folio") ? "writeback_dirty_folio" : "writeback_dirty_page"
        let btfDirty = KernelHooks.whyNoBTFTracepoints(["writeback_dirty_folio"]) == nil
        let writeCalls = SlowerTracer.syscalls(["write", "pwrite64", "writev", "pwritev", "pwritev2"])
        var programs: Set<String> = ["cachestat_add", btfDirty ? "cachestat_btf_dirty" : "cachestat_tp_dirty"]
        programs.formUnion(writeCalls.flatMap { ["cachestat_enter_" + $0, "cachestat_exit_" + $0] })
        var object: BPFObject?
        var whyNoFentry = accessFunction == nil ? KernelHooks.whyNoFentry(["folio_mark_accessed"]) : nil
        if let accessFunction {
            do {
                object = try Self.load(programs.union(["cachestat_accessed"]), pid: pid, dirtyEvent: dirtyEvent) { spec in
                    spec.retarget("cachestat_accessed", to: .fentry(function: accessFunction))
                }
            } catch {
                whyNoFentry = "fentry on \(accessFunction) failed: \(error)"
            }
        }
        if object == nil {
            // Without root tracefs is unreadable and every event looks missing: say why instead.
            try KernelHooks.requireReadableEvents()
            for event in ["mm_filemap_get_pages", "mm_filemap_fault"] where !KernelHooks.hasEvent("filemap", event) {
                throw ValidationError("this kernel allows no fentry and has no trace event filemap:\(event): "
                    + "page-cache lookups cannot be counted")
            }
            programs.formUnion(["cachestat_get_pages", "cachestat_fault"])
            object = try Self.load(programs, pid: pid, dirtyEvent: dirtyEvent)
        }
        guard let object else { throw ValidationError("cachestat: no way to attach") }
        self.object = object
        counters = try PerCPUMap(object.map("counters"))
        let lookups = whyNoFentry == nil ? "fentry/\(accessFunction ?? "")"
            : "filemap:mm_filemap_get_pages and filemap:mm_filemap_fault (no fentry: \(whyNoFentry ?? ""))"
        summary = "lookups from \(lookups); additions from filemap:mm_filemap_add_to_page_cache; "
            + "dirtied pages from " + (btfDirty ? "tp_btf/" : "writeback:") + dirtyEvent
            + "; write calls from syscalls:sys_{enter,exit}_{\(writeCalls.joined(separator: ","))}"
    }

    /// The running totals, summed over CPUs.
    func totals() throws -> cachestat_counters {
        var now = cachestat_counters()
        for value in try counters.lookup(0) ?? [] {
            now.accessed &+= value.accessed
            now.added &+= value.added
            now.added_by_writes &+= value.added_by_writes
            now.dirtied &+= value.dirtied
        }
        return now
    }

    private static func load(
        _ programs: Set<String>, pid: UInt32?, dirtyEvent: String, configure: (inout ObjectSpec) -> Void = { _ in }
    ) throws -> BPFObject {
        let object = try BPFObject(base64: BPFObjects.cachestat, name: "cachestat", programs: programs) { spec in
            try spec.setGlobal("target_pid", to: pid ?? 0)
            spec.retarget("cachestat_tp_dirty", to: .tracepoint(category: "writeback", name: dirtyEvent))
            configure(&spec)
        }
        try object.attachAll()
        return object
    }
}
