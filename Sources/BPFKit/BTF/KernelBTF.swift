/// The running kernel's BTF (`/sys/kernel/btf/vmlinux`), read and indexed once per process
/// on first use: tools that never need it never pay for it.
public enum KernelBTF {
    nonisolated(unsafe) private static var cached: BTF?
    private static let lock = Mutex()

    public static let path = "/sys/kernel/btf/vmlinux"

    /// The kernel's BTF; throws if the kernel has none (CONFIG_DEBUG_INFO_BTF off).
    public static func shared() throws -> BTF {
        try lock.withLock {
            if let cached { return cached }
            guard let bytes = readFileBytes(path) else {
                throw BTFError("cannot read \(path): this kernel has no BTF (CONFIG_DEBUG_INFO_BTF)")
            }
            let btf = try BTF(bytes: bytes)
            cached = btf
            return btf
        }
    }
}

extension BTF {
    func requireTypeID(named name: String, kind: Kind, for program: String) throws -> UInt32 {
        guard let id = typeID(named: name, kind: kind) else {
            throw LoadError("load program \(program)", BTFError("kernel BTF has no \(kind) \(name)"))
        }
        return id
    }
}
