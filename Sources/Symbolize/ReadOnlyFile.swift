#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An open regular file read with `pread`, identified by device, inode, size and modification
/// time (the key under which its symbols are cached). Closed when released.
///
/// ```swift
/// let file = try ReadOnlyFile(path: "/usr/bin/ls")
/// var header = [UInt8](repeating: 0, count: 64)
/// _ = header.withUnsafeMutableBytes { file.read(at: 0, into: $0) }
/// ```
final class ReadOnlyFile {
    /// Which file this is, as far as caching is concerned: replaced or rewritten files differ.
    struct Identity: Hashable, Sendable {
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var modifiedSeconds: Int
        var modifiedNanoseconds: Int
    }

    let path: String
    let identity: Identity
    var size: UInt64 { UInt64(max(identity.size, 0)) }
    private let descriptor: Int32

    init(path: String) throws(SymbolizeError) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw SymbolizeError("\(path): cannot open: \(Self.describe(errno))") }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            let error = errno
            close(descriptor)
            throw SymbolizeError("\(path): cannot stat: \(Self.describe(error))")
        }
        guard status.st_mode & S_IFMT == S_IFREG else {
            close(descriptor)
            throw SymbolizeError("\(path): not a regular file")
        }
        self.path = path
        self.descriptor = descriptor
        self.identity = Identity(
            device: UInt64(status.st_dev), inode: UInt64(status.st_ino), size: Int64(status.st_size),
            modifiedSeconds: Int(status.st_mtim.tv_sec), modifiedNanoseconds: Int(status.st_mtim.tv_nsec))
    }

    deinit { close(descriptor) }

    /// Fills `buffer` from `offset`; false on an error or end of file first.
    func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) -> Bool {
        guard let base = buffer.baseAddress else { return true }
        guard offset <= UInt64(Int64.max) - UInt64(buffer.count) else { return false }
        var done = 0
        while done < buffer.count {
            let count = pread(descriptor, base + done, buffer.count - done, off_t(offset) + off_t(done))
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return false }
            done += count
        }
        return true
    }

    /// The CRC-32 of the whole file (as `.gnu_debuglink` records it), nil on a read error.
    func crc32() -> UInt32? {
        var crc = CRC32()
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var offset: UInt64 = 0
        while offset < size {
            let length = Int(min(UInt64(chunk.count), size - offset))
            let ok = chunk.withUnsafeMutableBytes { read(at: offset, into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<length])) }
            guard ok else { return nil }
            crc.update(chunk[0..<length])
            offset += UInt64(length)
        }
        return crc.value
    }

    static func describe(_ error: Int32) -> String {
        guard let text = strerror(error) else { return "error \(error)" }
        return String(cString: text).lowercased()
    }
}
