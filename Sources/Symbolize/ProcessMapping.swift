import BPFKit

/// One line of `/proc/PID/maps`: a range of a process's address space and what backs it.
///
/// ```swift
/// let maps = ProcessMapping.parse(readFileBytes("/proc/self/maps")!)
/// let libc = maps.first { $0.isExecutable && $0.path.hasSuffix("/libc.so.6") }
/// // start 0x7f…, offset 0x28000, path "/usr/lib/x86_64-linux-gnu/libc.so.6"
/// ```
public struct ProcessMapping: Sendable, Equatable {
    public var start: UInt64
    public var end: UInt64
    /// The file offset mapped at `start`.
    public var offset: UInt64
    public var isReadable: Bool
    public var isWritable: Bool
    public var isExecutable: Bool
    /// Device major and minor numbers of the backing file (0:0 for anonymous memory).
    public var deviceMajor: UInt32
    public var deviceMinor: UInt32
    public var inode: UInt64
    /// The file path without ` (deleted)`, a special name (`[vdso]`, `[heap]`, `[stack]`,
    /// `[anon:…]`), or "" for anonymous memory.
    public var path: String
    /// The file was deleted or replaced after it was mapped.
    public var isDeleted: Bool

    public init(start: UInt64, end: UInt64, offset: UInt64 = 0, isReadable: Bool = true, isWritable: Bool = false,
                isExecutable: Bool = true, deviceMajor: UInt32 = 0, deviceMinor: UInt32 = 0, inode: UInt64 = 0,
                path: String = "", isDeleted: Bool = false) {
        self.start = start
        self.end = end
        self.offset = offset
        self.isReadable = isReadable
        self.isWritable = isWritable
        self.isExecutable = isExecutable
        self.deviceMajor = deviceMajor
        self.deviceMinor = deviceMinor
        self.inode = inode
        self.path = path
        self.isDeleted = isDeleted
    }

    /// Backed by a file (an absolute path, including `/memfd:…` and deleted files).
    public var isFile: Bool { path.hasPrefix("/") }

    public func contains(_ address: UInt64) -> Bool { address >= start && address < end }

    /// The file name after the last `/` (the whole name for special mappings).
    public var fileName: String {
        guard isFile, let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return path }
        return String(path[path.utf8.index(after: slash)...])
    }

    /// Parses the text of a maps file; malformed lines are skipped.
    public static func parse(_ bytes: [UInt8]) -> [ProcessMapping] {
        var result: [ProcessMapping] = []
        var i = 0
        while i < bytes.count {
            var end = i
            while end < bytes.count && bytes[end] != 0x0a { end += 1 }
            if let mapping = parseLine(bytes[i..<end]) { result.append(mapping) }
            i = end + 1
        }
        return result
    }

    /// `start-end perms offset major:minor inode   path`.
    static func parseLine(_ line: ArraySlice<UInt8>) -> ProcessMapping? {
        var position = line.startIndex
        func hex(until terminator: UInt8) -> UInt64? {
            var value: UInt64 = 0
            let start = position
            while position < line.endIndex, line[position] != terminator {
                guard position - start < 16, let digit = hexDigitValue(line[position]) else { return nil }
                value = value << 4 | UInt64(digit)
                position += 1
            }
            guard position > start, position < line.endIndex else { return nil }
            position += 1  // the terminator
            return value
        }
        guard let start = hex(until: UInt8(ascii: "-")), let end = hex(until: 0x20), start <= end else { return nil }
        guard line.endIndex - position >= 5, line[position + 4] == 0x20 else { return nil }
        let readable = line[position] == UInt8(ascii: "r")
        let writable = line[position + 1] == UInt8(ascii: "w")
        let executable = line[position + 2] == UInt8(ascii: "x")
        position += 5
        guard let offset = hex(until: 0x20), let major = hex(until: UInt8(ascii: ":")), let minor = hex(until: 0x20),
              major <= UInt32.max, minor <= UInt32.max
        else { return nil }
        var inode: UInt64 = 0
        let inodeStart = position
        while position < line.endIndex, line[position] >= 0x30, line[position] <= 0x39 {
            let (times, overflow1) = inode.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times.addingReportingOverflow(UInt64(line[position] - 0x30))
            guard !overflow1, !overflow2 else { return nil }
            inode = sum
            position += 1
        }
        guard position > inodeStart else { return nil }
        while position < line.endIndex, line[position] == 0x20 || line[position] == 0x09 { position += 1 }
        var path = line[position...]
        let deletedSuffix = Array(" (deleted)".utf8)
        var deleted = false
        if path.count > deletedSuffix.count, path.suffix(deletedSuffix.count).elementsEqual(deletedSuffix) {
            path = path.dropLast(deletedSuffix.count)
            deleted = true
        }
        return ProcessMapping(
            start: start, end: end, offset: offset, isReadable: readable, isWritable: writable, isExecutable: executable,
            deviceMajor: UInt32(major), deviceMinor: UInt32(minor), inode: inode,
            path: String(decoding: path, as: UTF8.self), isDeleted: deleted)
    }
}
