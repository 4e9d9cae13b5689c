#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Feeds folded text from a file descriptor to a ``FoldedParser`` in large blocks: from a
/// pipe as it comes, or a byte range of a regular file with pread(2), so that parts of one
/// large file can be parsed on several cores at once.
enum FoldedReader {
    static let blockSize = 8 << 20
    /// Files smaller than this per extra core are read by one thread.
    static let bytesPerWorker = 24 << 20

    /// Parses everything `descriptor` yields until end of file.
    static func readAll(_ descriptor: Int32, name: String, blockSize: Int = blockSize, into parser: inout FoldedParser) throws(FlameGraphError) {
        try feed(descriptor, name: name, blockSize: blockSize) { parser.parse(block: $0, count: $1, final: $2) }
    }

    /// Parses the lines in bytes `start ..< end` of a regular file (`start` begins a line,
    /// `end` follows a newline or is the file's end).
    static func read(_ descriptor: Int32, name: String, from start: Int, to end: Int, into parser: inout FoldedParser) throws(FlameGraphError) {
        try feed(descriptor, name: name, range: start..<end) { parser.parse(block: $0, count: $1, final: $2) }
    }

    /// Hands a descriptor's bytes to `parse` a block at a time: bytes `range` of a regular
    /// file with pread(2), or (nil) everything read(2) yields until end of file. `parse`
    /// returns how many bytes it consumed (whole lines); the rest starts the next block, and
    /// a line longer than the buffer doubles it. The last call has `final` set.
    static func feed(_ descriptor: Int32, name: String, range: Range<Int>? = nil, blockSize: Int = blockSize,
                     to parse: (_ block: UnsafePointer<UInt8>, _ count: Int, _ final: Bool) -> Int) throws(FlameGraphError) {
        var buffer = RawArray<UInt8>(capacity: range.map { min(blockSize, max($0.count, 4)) } ?? max(blockSize, 4))
        defer { buffer.deallocate() }
        var offset = range?.lowerBound ?? 0
        var filled = 0
        while range.map({ offset < $0.upperBound }) ?? true {
            if filled == buffer.capacity { buffer.reserve(buffer.capacity * 2) }
            let room = buffer.capacity - filled
            let got = range.map { pread(descriptor, buffer.base + filled, min(room, $0.upperBound - offset), off_t(offset)) }
                ?? readBytes(descriptor, buffer.base + filled, room)
            if got < 0 {
                if errno == EINTR { continue }
                throw .system("read", name, errno: errno)
            }
            if got == 0 { break }  // end of file (or a file that shrank)
            offset += got
            filled += got
            let consumed = parse(buffer.base, filled, false)
            if consumed > 0 {
                memmove(buffer.base, buffer.base + consumed, filled - consumed)
                filled -= consumed
            }
        }
        _ = parse(buffer.base, filled, true)
    }

    /// How many parts to read a descriptor in (one unless it is a large regular file), and
    /// the byte range to read: from the descriptor's current offset to the file's end.
    static func parts(for descriptor: Int32, wanted: Int? = nil) -> (parts: Int, start: Int, size: Int) {
        var info = stat()
        guard fstat(descriptor, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return (1, 0, 0) }
        let size = Int(info.st_size)
        let start = max(0, Int(lseek(descriptor, 0, SEEK_CUR)))
        guard start < size else { return (1, start, size) }
        if let wanted { return (max(1, min(wanted, (size - start) / 2)), start, size) }
        let byCores = min(WorkerThreads.processorCount, 8)
        return (max(1, min(byCores, (size - start) / bytesPerWorker)), start, size)
    }

    /// Offsets that cut bytes `start ..< size` of a file into `parts` ranges at line starts:
    /// `[start, …, size]`.
    static func boundaries(_ descriptor: Int32, name: String, start: Int, size: Int, parts: Int) throws(FlameGraphError) -> [Int] {
        var result = [start]
        var probe = [UInt8](repeating: 0, count: 1 << 16)
        for part in 1..<parts {
            // The first line start at or after the cut: just past the first newline at or
            // after the byte before it.
            var offset = max(start + (size - start) / parts * part, result.last!, 1) - 1
            var boundary = size
            search: while offset < size {
                let got = probe.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, off_t(offset)) }
                if got < 0 {
                    if errno == EINTR { continue }
                    throw .system("read", name, errno: errno)
                }
                if got == 0 { break }
                if let newline = probe[0..<got].firstIndex(of: 0x0A) {
                    boundary = offset + newline + 1
                    break search
                }
                offset += got
            }
            result.append(boundary)
        }
        result.append(size)
        return result
    }
}

/// read(2), under a name that `FoldedReader.read` does not hide.
private func readBytes(_ descriptor: Int32, _ buffer: UnsafeMutablePointer<UInt8>, _ count: Int) -> Int {
    read(descriptor, buffer, count)
}
