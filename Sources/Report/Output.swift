#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Writes text straight to a file descriptor with write(2), one call per line or block, so
/// `bpfkit execsnoop | grep x` sees every event as it happens (stdio would hold output
/// back in a 4 KiB buffer when stdout is a pipe).
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
}
