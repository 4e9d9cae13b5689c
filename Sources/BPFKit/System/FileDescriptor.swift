#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A file descriptor this process owns: closed when the last reference goes away, or
/// earlier by ``close()``.
///
/// Descriptors 0, 1 and 2 are never kept: the BPF API reads 0 as "none" in several fields,
/// and a process started with stdin closed gets fd 0 from BPF_MAP_CREATE. Such a descriptor
/// is moved to 3 or above first.
public final class FileDescriptor: @unchecked Sendable {
    /// The descriptor number, or -1 once closed.
    public private(set) var rawValue: Int32

    /// Takes ownership of `raw`, which must be open.
    public init(owning raw: Int32) {
        var fd = raw
        if raw >= 0 && raw < 3 {
            let moved = fcntl(raw, F_DUPFD_CLOEXEC, 3)
            if moved >= 0 {
                Glibc.close(raw)
                fd = moved
            }
        }
        rawValue = fd
    }

    /// Closes the descriptor now. Closing twice does nothing.
    public func close() {
        guard rawValue >= 0 else { return }
        Glibc.close(rawValue)
        rawValue = -1
    }

    deinit { close() }
}
