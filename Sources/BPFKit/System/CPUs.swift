#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The CPUs of this machine, from `/sys/devices/system/cpu/{possible,online}`.
public enum CPUs {
    /// Possible CPUs: per-CPU map values hold one slot for each.
    public static let possible: [Int] = parseList(readSmallFile("/sys/devices/system/cpu/possible") ?? "0")
    /// Online CPUs: sampling and perf buffers open one event on each.
    public static var online: [Int] { parseList(readSmallFile("/sys/devices/system/cpu/online") ?? "0") }

    /// Parses a kernel CPU list such as `0-3,8,10-11`.
    public static func parseList(_ text: String) -> [Int] {
        var cpus: [Int] = []
        for part in text.split(whereSeparator: { $0 == "," || $0 == "\n" || $0 == " " }) {
            let bounds = part.split(separator: "-").compactMap { Int($0) }
            if bounds.count == 2, bounds[0] <= bounds[1], bounds[1] - bounds[0] < 65536 {
                cpus += Array(bounds[0]...bounds[1])
            } else if bounds.count == 1 {
                cpus.append(bounds[0])
            }
        }
        return cpus.isEmpty ? [0] : cpus
    }
}

/// Reads a small text file (procfs, sysfs, tracefs) without Foundation.
public func readSmallFile(_ path: String, limit: Int = 1 << 20) -> String? {
    guard let bytes = readFileBytes(path, limit: limit) else { return nil }
    return String(decoding: bytes, as: UTF8.self)
}

/// Reads a whole file's bytes (up to `limit`), or nil if it cannot be opened. Regular files
/// are read straight into a buffer of their size; procfs and sysfs files (which report size
/// 0 or 4096) are read in chunks until the end.
public func readFileBytes(_ path: String, limit: Int = Int.max) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var status = stat()
    let knownSize = fstat(fd, &status) == 0 && status.st_size > 4096 ? min(Int(status.st_size), limit) : 0
    var result = [UInt8](repeating: 0, count: max(knownSize, 65536))
    var filled = 0
    while filled < limit {
        if filled == result.count { result += [UInt8](repeating: 0, count: max(65536, result.count)) }
        let count = result.withUnsafeMutableBytes { buffer in
            read(fd, buffer.baseAddress! + filled, min(buffer.count - filled, limit - filled))
        }
        if count < 0 && errno == EINTR { continue }
        if count <= 0 { break }
        filled += count
    }
    result.removeLast(result.count - filled)
    return result
}
