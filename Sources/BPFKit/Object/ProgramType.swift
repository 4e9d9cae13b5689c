/// A program type (`enum bpf_prog_type`).
public struct ProgramType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// BPF_PROG_TYPE_KPROBE: kprobes, uprobes and USDT.
    public static let kprobe = ProgramType(rawValue: 2)
    /// BPF_PROG_TYPE_TRACEPOINT.
    public static let tracepoint = ProgramType(rawValue: 5)
    /// BPF_PROG_TYPE_PERF_EVENT: timed sampling.
    public static let perfEvent = ProgramType(rawValue: 7)
    /// BPF_PROG_TYPE_RAW_TRACEPOINT.
    public static let rawTracepoint = ProgramType(rawValue: 17)
    /// BPF_PROG_TYPE_TRACING: fentry, fexit, tp_btf, iterators.
    public static let tracing = ProgramType(rawValue: 26)

    public var description: String {
        switch self {
        case .kprobe: "kprobe"
        case .tracepoint: "tracepoint"
        case .perfEvent: "perf_event"
        case .rawTracepoint: "raw_tracepoint"
        case .tracing: "tracing"
        default: "type \(rawValue)"
        }
    }
}

/// An attach type (`enum bpf_attach_type`), as far as tracing needs.
public struct AttachType: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let none = AttachType(rawValue: 0)
    /// BPF_TRACE_RAW_TP: `tp_btf` programs.
    public static let traceRawTracepoint = AttachType(rawValue: 23)
    /// BPF_TRACE_FENTRY.
    public static let traceFentry = AttachType(rawValue: 24)
    /// BPF_TRACE_FEXIT.
    public static let traceFexit = AttachType(rawValue: 25)
    /// BPF_PERF_EVENT: a link to a perf event (tracepoint, probe, sampling).
    public static let perfEvent = AttachType(rawValue: 41)
    /// BPF_TRACE_UPROBE_MULTI: one link for many uprobes (Linux 6.6).
    public static let traceUprobeMulti = AttachType(rawValue: 48)
    /// BPF_TRACE_UPROBE_SESSION: one program at entry and return, the entry deciding
    /// whether the return runs (Linux 6.13).
    public static let traceUprobeSession = AttachType(rawValue: 57)
}

/// Where a program attaches, as its ELF section name says (libbpf's conventions).
public enum AttachPoint: Sendable, Equatable {
    /// `tracepoint/CATEGORY/NAME` or `tp/CATEGORY/NAME`.
    case tracepoint(category: String, name: String)
    /// `raw_tracepoint/NAME` or `raw_tp/NAME`.
    case rawTracepoint(name: String)
    /// `tp_btf/NAME`: a raw tracepoint with typed (BTF) arguments.
    case btfTracepoint(name: String)
    /// `fentry/FUNCTION`.
    case fentry(function: String)
    /// `fexit/FUNCTION`.
    case fexit(function: String)
    /// `kprobe/FUNCTION[+OFFSET]`.
    case kprobe(function: String, offset: UInt64)
    /// `kretprobe/FUNCTION`.
    case kretprobe(function: String)
    /// `uprobe[/PATH:FUNCTION[+OFFSET]]`; without a target the caller names it at attach time.
    case uprobe(path: String?, function: String?, offset: UInt64)
    /// `uretprobe[/PATH:FUNCTION]`.
    case uretprobe(path: String?, function: String?, offset: UInt64)
    /// `uprobe.multi` or `uretprobe.multi`: many functions in one link; the targets are
    /// named at attach time.
    case uprobeMulti(returnProbe: Bool)
    /// `uprobe.session`: runs at a function's entry and, unless the entry returned nonzero,
    /// at its return (`bpf_session_is_return()` tells which).
    case uprobeSession
    /// `perf_event`: attached to sampling events the caller opens.
    case perfEvent

    /// Program type, expected attach type, and a recognised section name.
    public init?(sectionName: String) {
        let parts = sectionName.split(separator: "/", maxSplits: 1).map(String.init)
        guard let prefix = parts.first else { return nil }  // "" or "/": no prefix at all
        let rest = parts.count > 1 ? parts[1] : ""
        switch prefix {
        case "tracepoint", "tp":
            let pieces = rest.split(separator: "/", maxSplits: 1).map(String.init)
            guard pieces.count == 2, !pieces[0].isEmpty, !pieces[1].isEmpty else { return nil }
            self = .tracepoint(category: pieces[0], name: pieces[1])
        case "raw_tracepoint", "raw_tp":
            guard !rest.isEmpty else { return nil }
            self = .rawTracepoint(name: rest)
        case "tp_btf":
            guard !rest.isEmpty else { return nil }
            self = .btfTracepoint(name: rest)
        case "fentry":
            guard !rest.isEmpty else { return nil }
            self = .fentry(function: rest)
        case "fexit":
            guard !rest.isEmpty else { return nil }
            self = .fexit(function: rest)
        case "kprobe", "kretprobe":
            let (function, offset) = Self.splitOffset(rest)
            guard !function.isEmpty else { return nil }
            self = prefix == "kprobe" ? .kprobe(function: function, offset: offset) : .kretprobe(function: function)
        case "uprobe", "uretprobe":
            var path: String?, function: String?, offset: UInt64 = 0
            if !rest.isEmpty {
                guard let colon = rest.lastIndex(of: ":") else { return nil }
                path = String(rest[..<colon])
                let (name, parsedOffset) = Self.splitOffset(String(rest[rest.index(after: colon)...]))
                function = name.isEmpty ? nil : name
                offset = parsedOffset
            }
            self = prefix == "uprobe"
                ? .uprobe(path: path, function: function, offset: offset)
                : .uretprobe(path: path, function: function, offset: offset)
        case "uprobe.multi", "uretprobe.multi":
            self = .uprobeMulti(returnProbe: prefix == "uretprobe.multi")
        case "uprobe.session":
            self = .uprobeSession
        case "perf_event":
            self = .perfEvent
        default:
            return nil
        }
    }

    private static func splitOffset(_ text: String) -> (String, UInt64) {
        guard let plus = text.lastIndex(of: "+") else { return (text, 0) }
        let number = text[text.index(after: plus)...]
        let value = number.hasPrefix("0x") ? UInt64(number.dropFirst(2), radix: 16) : UInt64(number)
        guard let value else { return (text, 0) }
        return (String(text[..<plus]), value)
    }

    public var programType: ProgramType {
        switch self {
        case .tracepoint: .tracepoint
        case .rawTracepoint: .rawTracepoint
        case .btfTracepoint, .fentry, .fexit: .tracing
        case .kprobe, .kretprobe, .uprobe, .uretprobe, .uprobeMulti, .uprobeSession: .kprobe
        case .perfEvent: .perfEvent
        }
    }

    /// fentry and fexit go through a BPF trampoline, which locked-down kernels refuse.
    public var isTrampoline: Bool {
        switch self {
        case .fentry, .fexit: true
        default: false
        }
    }

    public var expectedAttachType: AttachType {
        switch self {
        case .btfTracepoint: .traceRawTracepoint
        case .fentry: .traceFentry
        case .fexit: .traceFexit
        case .uprobeMulti: .traceUprobeMulti
        case .uprobeSession: .traceUprobeSession
        default: .none
        }
    }
}
