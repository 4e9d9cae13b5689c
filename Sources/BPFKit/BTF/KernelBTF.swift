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
