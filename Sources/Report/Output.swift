#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Writes text straight to a file descriptor with write(2), one call per line or block (or per
/// drained burst of events, see ``gathering(_:)``), so `bpfkit execsnoop | grep x` sees every
/// event as it happens (stdio would hold output back in a 4 KiB buffer when stdout is a pipe).
public struct Output: Sendable {
    public let descriptor: Int32

    public static let standardOutput = Output(descriptor: 1)
    public static let standardError = Output(descriptor: 2)

    public init(descriptor: Int32) { self.descriptor = descriptor }

    /// Writes `text` followed by a newline.
    public func line(_ text: String) { write(text + "\n") }

    public func write(_ text: String) {
        var text = text
        text.withUTF8 { buffer in
            if Output.gatheringThread != nil {
                if descriptor == 1 && pthread_equal(Output.gatheringThread!, pthread_self()) != 0 {
                    Output.gathered.append(contentsOf: buffer)
                    if Output.gathered.count >= Output.gatherLimit { Output.flushGathered() }
                    return
                }
                // Another stream (standard error): what was gathered goes first, in order.
                if pthread_equal(Output.gatheringThread!, pthread_self()) != 0 { Output.flushGathered() }
            }
            Output.writeAll(descriptor, UnsafeRawBufferPointer(buffer))
        }
    }

    // MARK: - Gathering a batch of lines

    /// Runs `body` with the lines this thread writes to standard output gathered and written
    /// in one call at its end (or every 64 KiB): a ring buffer drained in a burst costs one
    /// write(2), not one per event, and each burst still reaches a pipe as soon as it is read.
    public static func gathering<T>(_ body: () throws -> T) rethrows -> T {
        guard gatheringThread == nil else { return try body() }
        gatheringThread = pthread_self()
        defer {
            flushGathered()
            gatheringThread = nil
        }
        return try body()
    }

    private static let gatherLimit = 64 * 1024
    // Used only by the gathering thread (checked against it on every write).
    nonisolated(unsafe) private static var gatheringThread: pthread_t?
    nonisolated(unsafe) private static var gathered: [UInt8] = []

    private static func flushGathered() {
        guard !gathered.isEmpty else { return }
        gathered.withUnsafeBytes { writeAll(1, $0) }
        gathered.removeAll(keepingCapacity: true)
    }

    private static func writeAll(_ descriptor: Int32, _ buffer: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < buffer.count {
            let written = Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                return  // EPIPE and the like: the reader went away
            }
            offset += written
        }
    }
}
