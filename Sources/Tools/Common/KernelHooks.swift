import BPFKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// How a tool chooses between its ways into the kernel: the fastest one this kernel allows
/// (fentry, BTF tracepoints), else trace events, with the reason in one line for `-v`.
///
/// `BPFKIT_HOOKS=tracepoints` in the environment forces the trace-event path, so tests and
/// comparisons can run it on a kernel that has the faster ones.
enum KernelHooks {
    static var tracepointsForced: Bool {
        guard let value = getenv("BPFKIT_HOOKS") else { return false }
        return String(cString: value) == "tracepoints"
    }

    /// Nil when BTF tracepoints for every one of `events` can be used; else why not.
    static func whyNoBTFTracepoints(_ events: [String]) -> String? {
        if tracepointsForced { return "BPFKIT_HOOKS=tracepoints" }
        if let reason = KernelFeatures.shared.reasonMissing(.btfTracepoint) { return reason }
        let names = events.map { "btf_trace_" + $0 }
        let found = KernelBTF.typeIDs(named: names, kind: .typedef)
        for name in names where found[name] == nil { return "kernel BTF has no \(name)" }
        return nil
    }

    /// Nil when fentry/fexit on every one of `functions` can be used; else why not.
    static func whyNoFentry(_ functions: [String]) -> String? {
        if tracepointsForced { return "BPFKIT_HOOKS=tracepoints" }
        if let reason = KernelFeatures.shared.reasonMissing(.fentry) { return reason }
        let found = KernelBTF.typeIDs(named: functions, kind: .function)
        for function in functions where found[function] == nil && KernelBTF.moduleFunction(named: function) == nil {
            return "kernel BTF has no function \(function) (inlined, or in a module not loaded)"
        }
        return nil
    }

    /// Throws EACCES when tracefs's events cannot be read (not root), so that a missing
    /// event is not blamed on the kernel.
    static func requireReadableEvents() throws {
        guard let root = try? Tracefs.root(), access(root + "/events", R_OK | X_OK) == 0 else {
            throw SystemCallError(call: "read tracefs events", errno: EACCES)
        }
    }

    /// Whether the kernel has trace event CATEGORY:NAME.
    static func hasEvent(_ category: String, _ name: String) -> Bool {
        Tracefs.hasEvent(category: category, name: name)
    }
}

extension ObjectSpec {
    /// Points program `name` at another hook before loading (a placeholder section's real target).
    mutating func retarget(_ name: String, to point: AttachPoint) {
        if let index = programs.firstIndex(where: { $0.name == name }) { programs[index].attachPoint = point }
    }
}

/// A fixed-size C char array (a `const volatile char name[16]` global) holding `text`.
func cChars16(_ text: String) -> (
    UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8
) {
    var value: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)
        = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    withUnsafeMutableBytes(of: &value) { bytes in
        for (index, byte) in text.utf8.prefix(15).enumerated() { bytes[index] = byte }
    }
    return value
}
