#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The running kernel's BTF (`/sys/kernel/btf/vmlinux`), read and indexed once per process
/// on first use: tools that never need it never pay for it (about 15 ms here).
///
/// ```swift
/// let btf = try KernelBTF.shared()
/// let task = btf.typeID(named: "task_struct", kind: .struct)!
/// for member in try btf.members(of: task) { print(member.name, member.bitOffset / 8) }
/// ```
public enum KernelBTF {
    nonisolated(unsafe) private static var cached: BTF?
    private static let lock = Mutex()

    public static let path = "/sys/kernel/btf/vmlinux"

    nonisolated(unsafe) private static var found: [String: UInt32] = [:]

    /// The ids of a few named types of one kind, for attach targets (`btf_trace_*`
    /// typedefs, fentry functions). Until something needs the whole graph, this scans the
    /// mapped file once per call instead of copying and indexing all of it: a few
    /// milliseconds instead of tens, and a fraction of the memory.
    public static func typeIDs(named names: [String], kind: BTF.Kind) -> [String: UInt32] {
        lock.withLock {
            if let cached {
                return Dictionary(uniqueKeysWithValues: names.compactMap { name in cached.typeID(named: name, kind: kind).map { (name, $0) } })
            }
            var result: [String: UInt32] = [:]
            var wanted: [[UInt8]] = []
            for name in names {
                if let id = found["\(kind.rawValue):\(name)"] { result[name] = id } else { wanted.append(Array(name.utf8)) }
            }
            if !wanted.isEmpty {
                for (name, id) in scan(for: wanted, kind: kind) {
                    result[name] = id
                    found["\(kind.rawValue):\(name)"] = id
                }
            }
            return result
        }
    }

    /// One pass over the mapped vmlinux BTF, comparing names only for types of `kind`. Kernels
    /// before 6.15 cannot map the sysfs file: there it is read into memory first.
    private static func scan(for wanted: [[UInt8]], kind: BTF.Kind) -> [(String, UInt32)] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0, status.st_size >= 24 else { return [] }
        let size = Int(status.st_size)
        guard let mapping = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), mapping != MAP_FAILED else {
            guard let bytes = readFileBytes(path) else { return [] }
            return bytes.withUnsafeBytes { scan($0, for: wanted, kind: kind) }
        }
        defer { munmap(mapping, size) }
        return scan(UnsafeRawBufferPointer(start: mapping, count: size), for: wanted, kind: kind)
    }

    private static func scan(_ bytes: UnsafeRawBufferPointer, for wanted: [[UInt8]], kind: BTF.Kind) -> [(String, UInt32)] {
        var results: [(String, UInt32)] = []
        walkTypes(in: bytes) { id, typeKind, nameOffset, strings in
            guard typeKind == kind, nameOffset < strings.count else { return true }
            for name in wanted where matches(name, strings, at: nameOffset) {
                results.append((String(decoding: name, as: UTF8.self), id))
            }
            return results.count < wanted.count
        }
        return results
    }

    /// Whether `strings` holds exactly `name` (NUL-terminated) at `offset`.
    static func matches(_ name: [UInt8], _ strings: UnsafeRawBufferPointer, at offset: Int) -> Bool {
        guard offset + name.count < strings.count, strings[offset + name.count] == 0 else { return false }
        return name.withUnsafeBytes { $0.elementsEqual(UnsafeRawBufferPointer(rebasing: strings[offset..<(offset + name.count)])) }
    }

    /// Calls `body` with each type's id (counting from `firstID`), kind, name offset and the
    /// blob's string section, until it returns false; returns the id after the last type
    /// walked, or nil if the header is malformed. Bounds-checked: a truncated blob ends the walk.
    @discardableResult
    static func walkTypes(
        in bytes: UnsafeRawBufferPointer, firstID: UInt32 = 1,
        _ body: (_ id: UInt32, _ kind: BTF.Kind, _ nameOffset: Int, _ strings: UnsafeRawBufferPointer) -> Bool
    ) -> UInt32? {
        let size = bytes.count
        guard size >= 24 else { return nil }
        func u32(_ at: Int) -> UInt32 { bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self) }
        let headerLength = Int(u32(4))
        guard bytes.loadUnaligned(as: UInt16.self) == 0xeb9f, headerLength >= 24, headerLength <= size else { return nil }
        let typesStart = headerLength + Int(u32(8)), typesEnd = typesStart + Int(u32(12))
        let stringsStart = headerLength + Int(u32(16)), stringsEnd = stringsStart + Int(u32(20))
        guard typesEnd <= size, stringsEnd <= size, stringsStart <= stringsEnd else { return nil }
        let strings = UnsafeRawBufferPointer(rebasing: bytes[stringsStart..<stringsEnd])
        var cursor = typesStart
        var id = firstID
        while cursor + 12 <= typesEnd {
            let info = u32(cursor + 4)
            guard let typeKind = BTF.Kind(rawValue: UInt8((info >> 24) & 0x1f)) else { return id }
            if !body(id, typeKind, Int(u32(cursor)), strings) { return id }
            cursor += 12 + BTF.trailingSize(of: typeKind, vlen: Int(info & 0xffff))
            id += 1
        }
        return id
    }

    /// Kernel modules with BTF (`/sys/kernel/btf/*` besides vmlinux).
    public static func moduleNames() -> [String] {
        guard let directory = opendir("/sys/kernel/btf") else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if !name.hasPrefix(".") && name != "vmlinux" { names.append(name) }
        }
        return names.sorted()
    }

    /// A module's BTF merged with vmlinux's (ids as the kernel numbers them).
    public static func module(_ name: String) throws -> BTF {
        guard !name.contains("/"), let bytes = readBytes("/sys/kernel/btf/" + name) else {
            throw BTFError("no BTF for kernel module \(name)")
        }
        return try BTF(split: bytes, base: shared())
    }

    /// A BTF file's bytes, mapped where the file allows it, else read.
    public static func readBytes(_ path: String) -> [UInt8]? { mappedFileBytes(path) ?? readFileBytes(path) }

    /// The kernel's BTF; throws if the kernel has none (CONFIG_DEBUG_INFO_BTF off).
    public static func shared() throws -> BTF {
        try lock.withLock {
            if let cached { return cached }
            guard let bytes = readBytes(path) else {
                throw BTFError("cannot read \(path): this kernel has no BTF (CONFIG_DEBUG_INFO_BTF)")
            }
            let btf = try BTF(bytes: bytes)
            cached = btf
            return btf
        }
    }
}

/// A file's bytes copied out of a read-only mapping: for sysfs' vmlinux BTF (mmap-able since
/// Linux 6.15) one copy beats 1,300 page-sized reads. nil where the file cannot be mapped.
func mappedFileBytes(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var status = stat()
    guard fstat(fd, &status) == 0, status.st_size > 0 else { return nil }
    let size = Int(status.st_size)
    guard let mapping = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), mapping != MAP_FAILED else { return nil }
    defer { munmap(mapping, size) }
    return [UInt8](UnsafeRawBufferPointer(start: mapping, count: size))
}

extension BTF {
    func requireTypeID(named name: String, kind: Kind, for program: String) throws -> UInt32 {
        guard let id = typeID(named: name, kind: kind) else {
            throw LoadError("load program \(program)", BTFError("kernel BTF has no \(kind) \(name)"))
        }
        return id
    }
}
