#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Report

/// With `BPFKIT_FD_AUDIT` set, the process notes its open descriptors when it starts and, as
/// it exits, prints one line comparing them and one per descriptor left open. The
/// reliability suite stops tools at random moments and reads these lines: a descriptor the
/// tool forgot (a map, a link, a perf event) shows up here even though the kernel would
/// close it at exit.
public enum DescriptorAudit {
    /// Starts the audit when the environment asks for it (once, at the top of `main`).
    public static func startIfRequested() {
        guard getenv("BPFKIT_FD_AUDIT") != nil else { return }
        descriptorsAtStart = openDescriptors()
        atexit { DescriptorAudit.report() }
    }

    nonisolated(unsafe) private static var descriptorsAtStart: [Int32: String] = [:]

    private static func report() {
        let now = openDescriptors()
        Output.standardError.line("bpfkit: fd audit: \(descriptorsAtStart.count) open at start, \(now.count) at exit")
        for (descriptor, target) in now.sorted(by: { $0.key < $1.key }) where descriptorsAtStart[descriptor] != target {
            Output.standardError.line("bpfkit: fd audit: left open: \(descriptor) -> \(target)")
        }
    }

    /// Descriptor numbers and what they point at, from /proc/self/fd (less the directory's own).
    static func openDescriptors() -> [Int32: String] {
        guard let directory = opendir("/proc/self/fd") else { return [:] }
        defer { closedir(directory) }
        let own = dirfd(directory)
        var result: [Int32: String] = [:]
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let descriptor = Int32(name), descriptor != own else { continue }
            var buffer = [CChar](repeating: 0, count: 256)
            let length = readlink("/proc/self/fd/" + name, &buffer, buffer.count - 1)
            result[descriptor] = length > 0
                ? String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self) : "?"
        }
        return result
    }
}
