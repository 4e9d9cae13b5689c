import ArgumentParser
import BPFKit
import Pprof
import CBPF
import Report
import ToolEvents

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `bpfkit memleak`: allocations not freed yet, by the stack that made them, printed every
/// interval — a process's libc allocator (`-p PID`, `-c COMMAND`) or the kernel's (kmalloc,
/// kmem_cache_alloc, pages). bcc's flags and output.
public struct Memleak: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "memleak",
        abstract: "Trace outstanding memory allocations that weren't freed.",
        discussion: """
            User mode (-p PID or -c COMMAND) probes malloc, calloc, realloc, free, posix_memalign, \
            aligned_alloc, valloc, memalign, pvalloc, mmap and munmap in the process's libc; kernel \
            mode (neither) follows the kmem trace events kmalloc/kfree, kmem_cache_alloc/free and \
            mm_page_alloc/free. User stacks are walked by frame pointers (--unwind fp, the default); \
            for code built without them, --unwind dwarf copies each allocation's stack and unwinds it \
            with the code's CFI (auto: only in processes without frame pointers), at a cost per \
            allocation: consider -s. A report comes every interval (default 5 s) and once more at \
            the end: Ctrl-C, or the traced process's exit.
            """)

    @Option(name: .shortAndLong, help: "The PID to trace; if not specified, trace kernel allocs.")
    var pid: UInt32?

    @Flag(name: .shortAndLong, help: "Print trace messages for each alloc/free call.")
    var trace = false

    @Flag(name: [.customShort("a"), .customLong("show-allocs")], help: "Show allocation addresses and sizes as well as call stacks.")
    var showAllocs = false

    @Option(name: [.customShort("o"), .long], help: "Prune allocations younger than this age in milliseconds.")
    var older: UInt64 = 500

    @Option(name: [.customShort("c"), .long], help: "Execute and trace the specified command (split at spaces; held until the probes are attached).")
    var command: String?

    @Flag(name: .customLong("combined-only"), help: "Show combined allocation statistics only.")
    var combinedOnly = false

    @Option(name: [.customShort("s"), .customLong("sample-rate")], help: "Sample every N-th allocation (one in N, at random) to decrease the overhead.")
    var sampleRate: UInt32 = 1

    @Option(name: [.customShort("T"), .long], help: "Display only this many top allocating stacks (by size).")
    var top = 10

    @Option(name: [.customShort("z"), .customLong("min-size")], help: "Capture only allocations larger than this size.")
    var minSize: UInt64?

    @Option(name: [.customShort("Z"), .customLong("max-size")], help: "Capture only allocations smaller than this size.")
    var maxSize: UInt64?

    @Option(name: [.customShort("O"), .customLong("obj")], help: "Attach to allocator functions in the specified object.")
    var obj = "c"

    @Option(name: .customLong("stack-storage-size"), help: "The number of unique stack traces that can be stored and displayed.")
    var stackStorageSize: UInt32 = 16384

    @Flag(help: "Print one JSON object per stack (and per allocation or call) instead of text.")
    var json = false

    @Option(name: .customLong("pprof"), help: "Also write the last report's outstanding allocations as a gzip-compressed pprof profile (inuse_space/bytes, inuse_objects/count) to this file.")
    var pprof: String?

    // For benches and tests: the uprobe/uretprobe pairs, and probes at the exact entries.
    @Flag(name: .customLong("no-uprobe-sessions"), help: .hidden)
    var noUprobeSessions = false

    @Flag(name: .customLong("exact-entry"), help: .hidden)
    var exactEntry = false

    @OptionGroup var intervals: IntervalOptions

    @OptionGroup var unwind: UnwindOptions

    public init() {}

    public func validate() throws {
        if pid != nil && command != nil { throw ValidationError("-p and -c are mutually exclusive") }
        if let minSize, let maxSize, minSize > maxSize { throw ValidationError("min_size (-z) can't be greater than max_size (-Z)") }
        if sampleRate == 0 { throw ValidationError("-s must be above 0") }
        if top <= 0 { throw ValidationError("-T must be above 0") }
        if stackStorageSize == 0 { throw ValidationError("--stack-storage-size must be above 0") }
        if let command, command.allSatisfy({ $0 == " " }) { throw ValidationError("-c needs a command") }
        try intervals.check()
        try unwind.check()
        // bcc's users know kernel mode's stacks as kernel stacks: an unwinder for user
        // stacks there is a mistake worth saying, not ignoring.
        if pid == nil && command == nil && unwind.copiesStacks {
            throw ValidationError("--unwind \(unwind.method.rawValue) walks user stacks: use it with -p PID or -c COMMAND")
        }
    }

    public func run() throws {
        try reportingFailures(tool: "memleak") { try traceAllocations() }
    }

    private func traceAllocations() throws {
        // The target: a process given, a command started held, or the kernel.
        if let pid { try requireProcess(pid) }
        try PprofStacks.checkWritable(pprof)
        let started = PprofProfile.now()
        let held = try command.map(HeldCommand.init)
        let target = pid ?? held?.pid
        let mode: OutstandingAllocations.Mode = target.map { .user(pid: $0) } ?? .kernel
        let copiesStacks = target != nil && unwind.copiesStacks
        let kernelEvents = target == nil ? Self.kernelEvents.filter { KernelHooks.hasEvent("kmem", $0.event) } : []
        if target == nil && kernelEvents.isEmpty { throw ValidationError("this kernel has no kmem trace events") }

        // Load and attach. User mode takes uprobe sessions where the kernel has them: an
        // allocation that -z/-Z/-s leave out then costs one trap, not two.
        let sessions = target != nil && !noUprobeSessions && KernelFeatures.shared.has(.uprobeSession)
        let programs: Set<String> = target == nil
            ? Set(kernelEvents.map(\.program))
            : sessions ? ["malloc_session", "free_multi"]
            : Set(Self.allocators.flatMap { [$0.entry] + ($0.exit.map { [$0] } ?? []) })
        let object = try BPFObject(base64: BPFObjects.memleak, name: "memleak", programs: programs) { spec in
            try spec.setGlobal("target_pid", to: target ?? 0)
            try spec.setGlobal("min_size", to: minSize ?? 0)
            try spec.setGlobal("max_size", to: maxSize ?? .max)
            try spec.setGlobal("sample_rate", to: sampleRate)
            try spec.setGlobal("trace_calls", to: trace)
            try spec.setGlobal("page_size", to: UInt64(sysconf(Int32(_SC_PAGESIZE))))
            try spec.updateMap("stack_traces") { $0.maxEntries = stackStorageSize }
            if copiesStacks { try configureCopies(&spec) }
        }
        if let target {
            try attachAllocators(object, pid: target, sessions: sessions)
        } else {
            for event in kernelEvents { object.keep(try object.program(event.program).attach()) }
        }

        let loop = try EventLoop()
        let symbolizer = StackSymbolizer()
        let printer = MemleakPrinter(symbolizer: symbolizer, json: json, showAllocs: showAllocs)
        let copied = copiesStacks
            ? CopiedAllocationStacks(collector: try UserStackCollector(object: object, symbolizer: symbolizer, method: unwind.method, mergeThreads: true))
            : nil
        // One ring for both: -t's calls (a memleak_event each) and stack copies (larger).
        var ring: RingBuffer?
        func handleRecord(_ bytes: UnsafeRawBufferPointer) {
            if bytes.count == MemoryLayout<memleak_event>.size {
                printer.printCall(bytes.loadUnaligned(as: memleak_event.self))
            } else {
                copied?.handle(bytes)
            }
        }
        if trace || copied != nil {
            let events = try RingBuffer(map: object.map("events"))
            try loop.watch(events, drainingEvery: copied == nil ? nil : UserStackCollector.drainInterval) { handleRecord($0) }
            ring = events
        }
        // Stop when the traced process ends (its allocations are then reported as it left them).
        var targetExit: FileDescriptor?
        if let target {
            if let held {
                try loop.stop(whenExits: try held.exitDescriptor())
            } else {
                let pidfd = cbpf_pidfd_open(Int32(bitPattern: target))
                guard pidfd >= 0 else { throw SystemCallError(call: "pidfd_open", errno: -pidfd) }
                targetExit = FileDescriptor(owning: pidfd)
                try loop.stop(whenExits: pidfd)
            }
            symbolizer.prepare(pid: target)
        }
        if !json {
            Output.standardOutput.line(target.map { "Attaching to pid \($0), Ctrl+C to quit." }
                ?? "Attaching to kernel allocators, Ctrl+C to quit.")
        }
        try held?.release()

        // Report every interval (bcc's default: 5 s). The timer ticks ten times a second so
        // that the process's mappings are read again soon after they change (a command's
        // exec, its libraries), and its stacks still resolve after it exits.
        let interval = intervals.interval ?? 5
        let ticksPerReport = max(1, Int((interval * 10).rounded(.up)))
        var tick = 0
        var maps: String?
        var latest = OutstandingAllocations()
        func report() throws {
            // Copies still in the ring first, so their allocations have frames.
            if copied != nil { _ = ring?.consume { handleRecord($0) } }
            latest = combinedOnly
                ? try OutstandingAllocations.readCombined(from: object, mode: mode, copied: copied)
                : try OutstandingAllocations.read(from: object, mode: mode, minimumAgeNanoseconds: older * 1_000_000, copied: copied)
            printer.print(latest, top: top)
            try copied?.prune(object)
        }
        try loop.every(interval / Double(ticksPerReport), count: intervals.count.map { $0 * ticksPerReport }) {
            if let target, let now = readSmallFile("/proc/\(target)/maps", limit: 16 << 20), now != maps {
                maps = now
                symbolizer.refresh(pid: target)
                copied?.collector.forget(pid: target)
            }
            tick += 1
            if tick % ticksPerReport == 0 {
                try report()
            } else if tick % 10 == 0 {
                try copied?.prune(object)
            }
        }
        let stop = try loop.run()
        if stop != .intervalsDone { try report() }
        if let pprof { try writePprof(latest, to: pprof, symbolizer: symbolizer, user: target != nil, started: started) }
        held?.reap()
        withExtendedLifetime(targetExit) {}
        let lost = ((try? object.global("stack_collisions", as: UInt64.self)) ?? 0, (try? object.global("stack_failures", as: UInt64.self)) ?? 0)
        if lost.0 + lost.1 > 0 {
            Output.standardError.line("WARNING: \(lost.0 + lost.1) stacks could not be stored (\(lost.0) hash collisions); "
                + "consider increasing --stack-storage-size (now \(stackStorageSize)).")
        }
        if let copied {
            copied.collector.reportProblems(userStackBytes: unwind.userStackBytes)
            if let lost = try? object.global("lost_events", as: UInt64.self), lost > 0 {
                Output.standardError.line("WARNING: \(lost) user stack copies or events were lost (ring buffer full); "
                    + "their allocations show as [Missed User Stack]. Consider -s to sample allocations.")
            }
        } else {
            reportLostEvents(object)
        }
        object.close()
    }

    /// --unwind dwarf/auto: the unwind globals, the scratch slots, a ring large enough for
    /// the copies, and room in `combined_allocs` for a pseudo stack id per live allocation
    /// (allocated on use, as `allocs`).
    private func configureCopies(_ spec: inout ObjectSpec) throws {
        try unwind.configure(&spec)
        try spec.updateMap("combined_allocs") {
            $0.maxEntries = 1_000_000
            $0.flags |= 1  // BPF_F_NO_PREALLOC
        }
    }

    /// The outstanding allocations as a heap profile, as pprof's own heap profiles name them.
    private func writePprof(_ outstanding: OutstandingAllocations, to path: String, symbolizer: StackSymbolizer,
                            user: Bool, started: Int64) throws {
        var profile = PprofProfile(sampleTypes: [.init("inuse_space", "bytes"), .init("inuse_objects", "count")], timeNanos: started)
        profile.durationNanos = PprofProfile.now() - started
        profile.defaultSampleType = "inuse_space"
        var output = PprofStacks(symbolizer: symbolizer, userStacks: user, kernelStacks: !user, profile: profile)
        for stack in outstanding.stacks {
            output.add(stack.level, values: [Int64(clamping: stack.bytes), Int64(clamping: stack.allocations)])
        }
        try output.write(to: path)
    }

    /// Attaches the entry and return probes of every allocator function the library has
    /// (free-like ones first, so no allocation is kept whose free was missed while attaching).
    /// With `sessions`, two links: one uprobe.multi program on the free-like functions and
    /// one session program on the allocators, told apart by attach cookie.
    private func attachAllocators(_ object: BPFObject, pid: UInt32, sessions: Bool) throws {
        let library = try AllocatorFunctions(library: obj, pid: pid, names: Set(Self.allocators.map(\.symbol)),
                                             movingToEmulatedInstructions: !exactEntry)
        var frees: [UprobeTarget] = []
        var allocators: [UprobeTarget] = []
        var cookies: [UInt64] = []
        for allocator in Self.allocators {
            guard let target = library.target(allocator.symbol, pid: pid) else {
                if allocator.required { throw AttachError("uprobe: no function \(allocator.symbol) in \(library.path)") }
                Output.standardError.line("memleak: no \(allocator.symbol) in \(library.path); not traced")
                continue
            }
            if sessions {
                if let kind = allocator.kind {
                    allocators.append(target)
                    cookies.append(UInt64(kind.rawValue))
                } else {
                    frees.append(target)
                }
                continue
            }
            object.keep(try object.program(allocator.entry).attachUprobe(target))
            if let exit = allocator.exit { object.keep(try object.program(exit).attachUprobe(target)) }
        }
        if sessions {
            object.keep(try object.program("free_multi").attachUprobes(frees))
            object.keep(try object.program("malloc_session").attachUprobes(allocators, cookies: cookies))
        }
    }

    /// The libc functions user mode probes: entry program, return program, and the
    /// session program's cookie (allocators).
    static let allocators: [(symbol: String, entry: String, exit: String?, required: Bool, kind: memleak_allocator?)] = [
        ("free", "free_entry", nil, true, nil),
        ("munmap", "munmap_entry", nil, false, nil),
        ("malloc", "malloc_enter", "malloc_exit", true, MEMLEAK_MALLOC),
        ("calloc", "calloc_enter", "calloc_exit", false, MEMLEAK_CALLOC),
        ("realloc", "realloc_enter", "realloc_exit", false, MEMLEAK_REALLOC),
        ("mmap", "mmap_enter", "mmap_exit", false, MEMLEAK_MMAP),
        ("posix_memalign", "posix_memalign_enter", "posix_memalign_exit", false, MEMLEAK_POSIX_MEMALIGN),
        ("aligned_alloc", "aligned_alloc_enter", "aligned_alloc_exit", false, MEMLEAK_ALIGNED_ALLOC),
        ("valloc", "valloc_enter", "valloc_exit", false, MEMLEAK_VALLOC),
        ("memalign", "memalign_enter", "memalign_exit", false, MEMLEAK_MEMALIGN),
        ("pvalloc", "pvalloc_enter", "pvalloc_exit", false, MEMLEAK_PVALLOC),
    ]

    /// The kmem trace events kernel mode follows, and their programs.
    static let kernelEvents: [(event: String, program: String)] = [
        ("kfree", "kfree_event"),
        ("kmem_cache_free", "kmem_cache_free_event"),
        ("mm_page_free", "page_free_event"),
        ("mm_page_free_batched", "page_free_batched_event"),
        ("kmalloc", "kmalloc_event"),
        ("kmem_cache_alloc", "kmem_cache_alloc_event"),
        ("mm_page_alloc", "page_alloc_event"),
    ]
}
