import BPFKit
import CBPF
import Report

/// The wait loop every tool runs: event sources (ring buffers, perf buffers), Ctrl-C,
/// SIGTERM and SIGHUP, an optional duration and an optional interval, all in one epoll
/// set. Signals arrive through a signalfd, so a signal never interrupts a half-printed
/// event; the loop returns and the tool's objects are released in order.
public final class EventLoop {
    public enum Stop: Sendable, Equatable {
        case signal(Int32)
        case durationElapsed
        case intervalsDone
        /// The process watched with ``stop(whenExits:)`` ended.
        case processExited
    }

    private let epoll: FileDescriptor
    private let signals: FileDescriptor
    private var timer: FileDescriptor?
    private var intervalTimer: FileDescriptor?
    private var drainTimer: FileDescriptor?
    private var sources: [() throws -> Void] = []
    private var intervalHandler: (() throws -> Void)?
    private var remainingIntervals: Int?

    private static let signalToken: UInt64 = .max
    private static let durationToken: UInt64 = .max - 1
    private static let intervalToken: UInt64 = .max - 2
    private static let exitToken: UInt64 = .max - 3
    private static let drainToken: UInt64 = .max - 4

    /// - Parameter duration: seconds after which ``run()`` returns; nil runs until a signal.
    public init(duration: Double? = nil) throws {
        let epollFD = cbpf_epoll_create()
        guard epollFD >= 0 else { throw SystemCallError(call: "epoll_create1", errno: -epollFD) }
        epoll = FileDescriptor(owning: epollFD)
        let signalFD = cbpf_signalfd_termination()
        guard signalFD >= 0 else { throw SystemCallError(call: "signalfd", errno: -signalFD) }
        signals = FileDescriptor(owning: signalFD)
        try add(signals.rawValue, token: Self.signalToken)
        if let duration {
            timer = try addTimer(firstAfter: duration, repeating: false, token: Self.durationToken)
        }
    }

    /// Calls `handler` every `seconds`; after `count` calls (if given) ``run()`` returns.
    public func every(_ seconds: Double, count: Int? = nil, _ handler: @escaping () throws -> Void) throws {
        intervalTimer = try addTimer(firstAfter: seconds, repeating: true, token: Self.intervalToken)
        intervalHandler = handler
        remainingIntervals = count
    }

    /// Makes ``run()`` return when the process behind `pidfd` (from pidfd_open) exits.
    public func stop(whenExits pidfd: Int32) throws {
        try add(pidfd, token: Self.exitToken)
    }

    /// Watches a ring buffer, handing each record to `handler` as it arrives.
    ///
    /// - Parameter interval: also drain every source this often, for programs that write
    ///   records without waking the reader (`BPF_RB_NO_WAKEUP`, see bpfkit_unwind.h).
    public func watch(
        _ ring: RingBuffer, drainingEvery interval: Double? = nil, _ handler: @escaping (UnsafeRawBufferPointer) throws -> Void
    ) throws {
        try add(ring.pollDescriptor, token: UInt64(sources.count))
        sources.append { () throws -> Void in try Output.gathering { _ = try ring.consume(handler) } }
        if let interval, drainTimer == nil {
            drainTimer = try addTimer(firstAfter: interval, repeating: true, token: Self.drainToken)
        }
    }

    /// Watches a perf buffer.
    public func watch(_ buffer: PerfBuffer, _ handler: @escaping (Int, UnsafeRawBufferPointer) throws -> Void) throws {
        try add(buffer.pollDescriptor, token: UInt64(sources.count))
        sources.append { () throws -> Void in try Output.gathering { _ = try buffer.consume(handler) } }
    }

    /// Runs until a signal, the duration's end, or the last interval.
    @discardableResult
    public func run() throws -> Stop {
        // Records that arrived between attaching and now.
        for source in sources { try source() }
        var tokens = [UInt64](repeating: 0, count: 16)
        while true {
            let count = cbpf_epoll_wait(epoll.rawValue, &tokens, Int32(tokens.count), -1)
            if count < 0 { throw SystemCallError(call: "epoll_wait", errno: -count) }
            // Drain events first: what arrived before the stop still gets printed.
            for token in tokens.prefix(Int(count)) where Int(exactly: token).map({ $0 < sources.count }) ?? false {
                try sources[Int(token)]()
            }
            for token in tokens.prefix(Int(count)) {
                switch token {
                case Self.signalToken:
                    let signal = cbpf_signalfd_read(signals.rawValue)
                    if signal > 0 {
                        for source in sources { try source() }
                        return .signal(signal)
                    }
                case Self.durationToken:
                    for source in sources { try source() }
                    return .durationElapsed
                case Self.exitToken:
                    for source in sources { try source() }
                    return .processExited
                case Self.drainToken:
                    guard let drainTimer, cbpf_timerfd_read(drainTimer.rawValue) > 0 else { continue }
                    for source in sources { try source() }
                case Self.intervalToken:
                    guard let intervalTimer, cbpf_timerfd_read(intervalTimer.rawValue) > 0 else { continue }
                    for source in sources { try source() }
                    try intervalHandler?()
                    if let remaining = remainingIntervals {
                        remainingIntervals = remaining - 1
                        if remaining - 1 <= 0 { return .intervalsDone }
                    }
                default:
                    break
                }
            }
        }
    }

    /// A timerfd in the epoll set that fires after `seconds` (and every `seconds` after, if
    /// repeating).
    private func addTimer(firstAfter seconds: Double, repeating: Bool, token: UInt64) throws -> FileDescriptor {
        let nanoseconds = Self.nanoseconds(seconds)
        let timerFD = cbpf_timerfd(nanoseconds, repeating ? nanoseconds : 0)
        guard timerFD >= 0 else { throw SystemCallError(call: "timerfd_create", errno: -timerFD) }
        let timer = FileDescriptor(owning: timerFD)
        try add(timerFD, token: token)
        return timer
    }

    private func add(_ fd: Int32, token: UInt64) throws {
        let result = cbpf_epoll_add(epoll.rawValue, fd, token)
        guard result == 0 else { throw SystemCallError(call: "epoll_ctl", errno: -result) }
    }

    private static func nanoseconds(_ seconds: Double) -> UInt64 {
        max(1, UInt64(max(0, min(seconds, 1e9)) * 1e9))
    }
}
