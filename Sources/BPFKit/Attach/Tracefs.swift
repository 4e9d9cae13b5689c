#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The tracing file system, where trace event ids and formats live. Found at
/// `/sys/kernel/tracing` (or the older `/sys/kernel/debug/tracing`), and mounted at the
/// former when neither is there.
public enum Tracefs {
    nonisolated(unsafe) private static var cachedRoot: String?
    private static let lock = Mutex()

    /// The mount point; mounts tracefs if needed (root only).
    public static func root() throws(AttachError) -> String {
        let found: String? = lock.withLock {
            if let cachedRoot { return cachedRoot }
            for candidate in ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"] where access(candidate + "/events", F_OK) == 0 {
                cachedRoot = candidate
                return candidate
            }
            if mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, nil) == 0 {
                cachedRoot = "/sys/kernel/tracing"
                return cachedRoot
            }
            return nil
        }
        guard let found else {
            throw AttachError("tracefs is not mounted and mounting it at /sys/kernel/tracing failed: \(errnoDescription(errno))")
        }
        return found
    }

    /// The id of trace event CATEGORY:NAME (for perf_event_open's config).
    public static func eventID(category: String, name: String) throws(AttachError) -> UInt64 {
        guard !category.contains("/"), !name.contains("/"), !category.contains(".."), !name.contains("..") else {
            throw AttachError("invalid tracepoint name \(category):\(name)")
        }
        let path = try root() + "/events/\(category)/\(name)/id"
        guard let text = readSmallFile(path) else {
            throw AttachError("tracepoint \(category):\(name) does not exist on this kernel (no \(path))")
        }
        guard let id = UInt64(text.split(separator: "\n").first ?? "") else {
            throw AttachError("tracepoint \(category):\(name): unreadable id in \(path)")
        }
        return id
    }

    /// Whether trace event CATEGORY:NAME exists.
    public static func hasEvent(category: String, name: String) -> Bool {
        (try? eventID(category: category, name: name)) != nil
    }
}
