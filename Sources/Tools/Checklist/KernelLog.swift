#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The kernel's message ring (`dmesg`), read from /dev/kmsg without blocking: the records
/// at error priority or worse, what `dmesg --level=emerg,alert,crit,err` shows.
enum KernelLog {
    struct Message {
        /// Seconds since boot.
        var time: Double
        /// syslog priority: 0 emerg … 3 err.
        var level: Int
        var text: String
    }

    /// The last `limit` error messages, oldest first; nil when /dev/kmsg cannot be read
    /// (no permission, or dmesg_restrict).
    static func errors(limit: Int = 10) -> [Message]? {
        let descriptor = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var found: [Message] = []
        var buffer = [UInt8](repeating: 0, count: 8192)
        while true {
            // One record per read: `priority,sequence,microseconds,flags;text\n` then
            // continuation lines starting with a space (key=value pairs), ignored here.
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EPIPE { continue }  // overwritten while reading: next record
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }  // EAGAIN: the end of the ring
            let record = buffer[..<count]
            guard let semicolon = record.firstIndex(of: UInt8(ascii: ";")) else { continue }
            let header = String(decoding: record[..<semicolon], as: UTF8.self).split(separator: ",")
            guard header.count >= 3, let priority = Int(header[0]), let micros = Double(header[2]) else { continue }
            let level = priority & 7
            guard level <= 3 else { continue }
            let body = record[(semicolon + 1)...].prefix { $0 != UInt8(ascii: "\n") }
            found.append(Message(time: micros / 1e6, level: level, text: String(decoding: body, as: UTF8.self)))
            if found.count > limit { found.removeFirst() }
        }
        return found
    }
}
