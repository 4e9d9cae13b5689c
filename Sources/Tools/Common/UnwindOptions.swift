import ArgumentParser
import BPFKit
import ToolEvents

/// How the stack tools walk user stacks.
enum UnwindMethod: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// Frame pointers, walked by the kernel (bpf_get_stackid): cheap, but stops early in
    /// code built without them (most distribution libraries, libc included).
    case fp
    /// A copy of the user stack and registers, unwound in user space with each file's
    /// `.eh_frame`/`.debug_frame`.
    case dwarf
    /// dwarf until a process is judged to keep frame pointers everywhere, then fp for it.
    case auto

    var bpfMode: UInt32 {
        switch self {
        case .fp: UInt32(UNWIND_FP)
        case .dwarf: UInt32(UNWIND_DWARF)
        case .auto: UInt32(UNWIND_AUTO)
        }
    }
}

/// `--unwind` and `--user-stack-bytes`, for every tool whose BPF program includes
/// bpfkit_unwind.h (profile, the off-CPU tools, memleak).
struct UnwindOptions: ParsableArguments {
    // Each tool picks its default (`useByDefault`): auto for profile, whose whole cost per
    // sample is under half of perf --call-graph dwarf's; fp for the others (bench/RESULTS.md,
    // "User stacks without frame pointers").
    @Option(name: .customLong("unwind"), help: "How to walk user stacks: fp (frame pointers, in the kernel), dwarf (copy the stack, unwind with .eh_frame in user space), auto (dwarf unless the process's code keeps frame pointers). Default: auto for profile, fp for the other tools.")
    var requestedMethod: UnwindMethod?

    /// What --unwind asked for, else the tool's default (fp unless it set another).
    var method: UnwindMethod { requestedMethod ?? .fp }

    /// Sets the method used when --unwind is not given.
    mutating func useByDefault(_ method: UnwindMethod) {
        if requestedMethod == nil { requestedMethod = method }
    }

    @Option(name: .customLong("user-stack-bytes"), help: "With --unwind dwarf/auto: bytes of user stack copied per sample (8-65536).")
    var userStackBytes: UInt32 = UInt32(UNWIND_DEFAULT_STACK_BYTES)

    init() {}

    func check() throws {
        guard userStackBytes >= 8, userStackBytes <= UInt32(UNWIND_MAX_STACK_BYTES) else {
            throw ValidationError("--user-stack-bytes must be between 8 and \(UNWIND_MAX_STACK_BYTES)")
        }
    }

    var copiesStacks: Bool { method != .fp }

    /// Sets the program's unwind globals and sizes its scratch map and ring: one scratch
    /// slot per possible CPU; when stacks are copied, a ring for 32 copies per online CPU (64
    /// at least), one page otherwise (nothing is sent). The ring is a burst reserve only (the
    /// programs wake the reader at a quarter full, and it drains every 20 ms), and every byte
    /// of it is resident twice: the kernel maps a ring's data pages twice.
    func configure(_ spec: inout ObjectSpec) throws {
        try spec.setGlobal("unwind_mode", to: method.bpfMode)
        try spec.setGlobal("user_stack_bytes", to: userStackBytes)
        let slots = UInt32(max(1, (CPUs.possible.max() ?? 0) + 1))
        try spec.updateMap("unwind_scratch") { $0.maxEntries = copiesStacks ? slots : 1 }
        var ring: UInt32 = 4096
        if copiesStacks {
            let wanted = UInt64(max(64, 32 * CPUs.online.count)) * UInt64(userStackBytes + 128)
            ring = 1 << 16
            while UInt64(ring) < wanted && ring < 1 << 26 { ring <<= 1 }
        }
        try spec.updateMap("events") { $0.maxEntries = ring }
    }
}
