import CBPF

/// What the running kernel supports, probed once per process on first question and cached,
/// so a tool picks its path up front (fentry or tracepoint, ring or perf buffer) and says why.
///
/// Probes are tiny: a two-instruction program, a one-entry map. They need the same
/// privileges as the tools.
///
/// ```swift
/// if KernelFeatures.shared.has(.fentry) { … } else { print(KernelFeatures.shared.why(.fentry)) }
/// ```
public final class KernelFeatures: @unchecked Sendable {
    public static let shared = KernelFeatures()

    /// Features a tool may choose between.
    public enum Feature: String, CaseIterable, Sendable {
        case btf = "kernel BTF"
        case tracepoint = "tracepoint programs"
        case rawTracepoint = "raw tracepoint programs"
        case btfTracepoint = "BTF tracepoints (tp_btf)"
        case fentry = "fentry/fexit"
        case kprobe = "kprobes"
        case uprobe = "uprobes"
        case uprobeMulti = "uprobe_multi links"
        case uprobeSession = "uprobe sessions"
        case perfEvent = "perf_event programs (sampling)"
        case ringBuffer = "ring buffer maps"
        case perfEventArray = "perf event arrays"
        case stackTrace = "stack trace maps"
        case taskStorage = "task storage maps"
        case loopHelper = "bpf_loop helper"
        case hardwarePMU = "hardware PMU (cycles)"
    }

    private let lock = Mutex()
    private var results: [Feature: String?] = [:]  // nil reason = available

    /// Whether the kernel has `feature` (probing it the first time).
    public func has(_ feature: Feature) -> Bool { reasonMissing(feature) == nil }

    /// Why `feature` is missing, in one line; nil when it is there.
    public func reasonMissing(_ feature: Feature) -> String? {
        if let known = lock.withLock({ results[feature] }) { return known }
        let reason = probe(feature)
        lock.withLock { results[feature] = .some(reason) }
        return reason
    }

    private func probe(_ feature: Feature) -> String? {
        switch feature {
        case .btf:
            return readFileBytes(KernelBTF.path, limit: 4) == nil ? "no \(KernelBTF.path) (CONFIG_DEBUG_INFO_BTF off)" : nil
        case .tracepoint: return probeProgram(.tracepoint)
        case .rawTracepoint: return probeProgram(.rawTracepoint)
        case .perfEvent: return probeProgram(.perfEvent)
        case .btfTracepoint:
            guard let id = KernelBTF.typeIDs(named: ["btf_trace_sched_switch"], kind: .typedef)["btf_trace_sched_switch"] else {
                return "kernel BTF has no btf_trace_sched_switch"
            }
            return probeProgram(.tracing, attachType: .traceRawTracepoint, attachBTFID: id)
        case .fentry:
            let candidates = ["do_nanosleep", "vfs_read", "schedule"]
            let ids = KernelBTF.typeIDs(named: candidates, kind: .function)
            guard let id = candidates.lazy.compactMap({ ids[$0] }).first else {
                return "kernel BTF names no probe-able function"
            }
            if let failure = probeProgram(.tracing, attachType: .traceFentry, attachBTFID: id) {
                return failure.contains("operation not permitted")
                    ? "the kernel refuses fentry programs (operation not permitted): kernel lockdown or no BPF trampoline"
                    : failure
            }
            return nil
        case .kprobe:
            if ProbePMU.named("kprobe") != nil { return nil }
            return "no kprobe PMU in \(ProbePMU.root) (CONFIG_KPROBES off)"
        case .uprobe:
            return ProbePMU.named("uprobe") == nil ? "no uprobe PMU in \(ProbePMU.root) (CONFIG_UPROBE_EVENTS off)" : nil
        case .uprobeMulti:
            return probeUprobeLink(.traceUprobeMulti, minimum: "6.6")
        case .uprobeSession:
            if let missing = reasonMissing(.uprobeMulti) { return missing }
            guard KernelBTF.typeIDs(named: ["bpf_session_is_return"], kind: .function)["bpf_session_is_return"] != nil else {
                return "kernel BTF has no bpf_session_is_return kfunc (uprobe sessions need Linux 6.13+)"
            }
            return probeUprobeLink(.traceUprobeSession, minimum: "6.13")
        case .ringBuffer:
            return probeMap(MapSpec(name: "probe_ringbuf", type: .ringBuffer, keySize: 0, valueSize: 0, maxEntries: 4096))
        case .perfEventArray:
            return probeMap(MapSpec(name: "probe_perf", type: .perfEventArray, keySize: 4, valueSize: 4, maxEntries: 1))
        case .stackTrace:
            return probeMap(MapSpec(name: "probe_stack", type: .stackTrace, keySize: 4, valueSize: 8, maxEntries: 1))
        case .taskStorage:
            // Task storage needs BTF for its value; a map-create without it says EINVAL on
            // kernels that know the type and EINVAL otherwise too, so check the kernel's type list.
            return KernelBTF.typeIDs(named: ["bpf_local_storage_map"], kind: .struct)["bpf_local_storage_map"] != nil
                ? nil : "kernel BTF has no bpf_local_storage_map"
        case .loopHelper:
            // bpf_loop with a null callback is rejected by name ("bpf_loop … unknown func") when missing.
            let program = [Instruction.move(1, 0), .move(2, 0), .move(3, 0), .move(4, 0), .call(helper: 181), .move(0, 0), .exit]
            do {
                _ = try loadProgram(name: "probe_loop", type: .tracepoint, expectedAttachType: .none, instructions: program,
                                    license: "GPL", btf: nil, functionInfos: [], lineInfos: [], coreRelocations: [])
                return nil
            } catch let error as VerifierError {
                return error.log.contains("unknown func") || error.log.contains("invalid func") ? "no bpf_loop helper (Linux 5.17+)" : nil
            } catch {
                return "\(error)"
            }
        case .hardwarePMU:
            var attribute = cbpf_perf_event_attr()
            attribute.type = 0
            attribute.config = 0
            attribute.flags = 1  // disabled
            do {
                _ = try perfEventOpen(&attribute, pid: -1, cpu: 0)
                return nil
            } catch {
                return "no hardware PMU (cycles: \(errnoDescription(error.errno)))"
            }
        }
    }

    private func probeProgram(_ type: ProgramType, attachType: AttachType = .none, attachBTFID: UInt32 = 0) -> String? {
        do {
            _ = try loadProgram(name: "probe", type: type, expectedAttachType: attachType, instructions: [.move(0, 0), .exit],
                                license: "GPL", btf: nil, functionInfos: [], lineInfos: [], coreRelocations: [],
                                attachBTFID: attachBTFID)
            return nil
        } catch {
            return "\(error)"
        }
    }

    /// A uprobe_multi link on "/" fails with EBADF (not a regular file) on kernels that know
    /// the attach type, and with EINVAL on those that do not.
    private func probeUprobeLink(_ attachType: AttachType, minimum: String) -> String? {
        let program: FileDescriptor
        do {
            program = try loadProgram(name: "probe_umulti", type: .kprobe, expectedAttachType: attachType,
                                      instructions: [.move(0, 0), .exit], license: "GPL", btf: nil,
                                      functionInfos: [], lineInfos: [], coreRelocations: [])
        } catch {
            return "\(error)"
        }
        var errno: Int32 = 0
        do {
            _ = try createUprobeMultiLink(program: program, attachType: attachType, path: "/", fileOffsets: [0])
        } catch {
            errno = error.errno
        }
        return errno == 9 ? nil : "the kernel refused a \(attachType == .traceUprobeSession ? "uprobe session" : "uprobe_multi link") "
            + "(\(errnoDescription(errno)); needs Linux \(minimum)+)"
    }

    private func probeMap(_ spec: MapSpec) -> String? {
        do {
            _ = try BPFMap.create(spec)
            return nil
        } catch {
            return "\(error)"
        }
    }
}
