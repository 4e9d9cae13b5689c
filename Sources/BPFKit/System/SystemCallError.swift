#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A failed system call: which call, and the errno it returned.
///
/// Prints as one lowercase line, for example `BPF_MAP_CREATE: operation not permitted`.
public struct SystemCallError: Error, Equatable, CustomStringConvertible {
    /// The call, such as `BPF_PROG_LOAD` or `perf_event_open`.
    public var call: String
    /// The errno value (positive).
    public var errno: Int32

    public init(call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    public var description: String { "\(call): \(errnoDescription(errno))" }
}

/// strerror, lowercased the way Go and cilium/ebpf print errno values; 524 is the
/// kernel-internal ENOTSUPP, which user-space errno tables do not know.
public func errnoDescription(_ code: Int32) -> String {
    if code == 524 { return "operation not supported (ENOTSUPP)" }
    guard let text = strerror(code) else { return "errno \(code)" }
    let message = String(cString: text)
    guard let first = message.first else { return "errno \(code)" }
    return first.lowercased() + message.dropFirst()
}
