#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What went wrong reading stacks or writing a graph, as one lowercase line:
/// `open before.folded: no such file or directory`.
public struct FlameGraphError: Error, CustomStringConvertible, Equatable, Sendable {
    public let description: String

    public init(_ description: String) { self.description = description }

    /// A failed system call on `subject`, with the errno's text.
    static func system(_ call: String, _ subject: String, errno code: Int32) -> FlameGraphError {
        let text = strerror(code).map { String(cString: $0) } ?? "errno \(code)"
        let lowered = text.prefix(1).lowercased() + text.dropFirst()
        return FlameGraphError("\(call) \(subject): \(lowered)")
    }
}
