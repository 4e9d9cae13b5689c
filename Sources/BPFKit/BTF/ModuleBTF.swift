import CBPF

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Attach targets inside kernel modules. Distribution kernels build file systems and drivers
/// as modules (Debian's ext4, xfs, btrfs), so their functions are in the module's split BTF,
/// not vmlinux's, and fentry on them names the module's BTF object at load time.
public struct ModuleFunction: Sendable {
    /// The module's name, as in /sys/kernel/btf/<module>.
    public var module: String
    /// The function's id in the module's split BTF (numbered after vmlinux's types).
    public var typeID: UInt32
}

extension KernelBTF {
    nonisolated(unsafe) private static var vmlinuxShape: (typeCount: UInt32, stringLength: Int)?
    nonisolated(unsafe) private static var moduleFunctions: [String: ModuleFunction?] = [:]
    private static let moduleLock = Mutex()

    /// The loaded module whose BTF has function `name`, if any. Scans each module's split
    /// BTF for the name without merging it onto vmlinux's (a merge and parse costs what
    /// vmlinux's does, per module). Names a module shares with vmlinux's strings are found in
    /// vmlinux's BTF first, so only the module's own strings are compared. Cached.
    public static func moduleFunction(named name: String) -> ModuleFunction? {
        moduleLock.withLock {
            if let known = moduleFunctions[name] { return known }
            let found = findModuleFunction(Array(name.utf8))
            moduleFunctions[name] = found
            return found
        }
    }

    private static func findModuleFunction(_ name: [UInt8]) -> ModuleFunction? {
        guard let shape = vmlinuxShape ?? readVmlinuxShape() else { return nil }
        vmlinuxShape = shape
        for module in moduleNames() {
            guard let bytes = readFileBytes("/sys/kernel/btf/" + module) else { continue }
            var found: UInt32?
            bytes.withUnsafeBytes { blob in
                walkTypes(in: blob, firstID: shape.typeCount) { id, kind, nameOffset, strings in
                    guard kind == .function, nameOffset >= shape.stringLength else { return true }
                    if matches(name, strings, at: nameOffset - shape.stringLength) { found = id }
                    return found == nil
                }
            }
            if let found { return ModuleFunction(module: module, typeID: found) }
        }
        return nil
    }

    /// vmlinux's type count (counting void: a module's first type id) and string length.
    private static func readVmlinuxShape() -> (typeCount: UInt32, stringLength: Int)? {
        guard let bytes = readBytes(path) else { return nil }
        return bytes.withUnsafeBytes { blob in
            var stringLength = 0
            let count = walkTypes(in: blob) { _, _, _, strings in
                stringLength = strings.count
                return true
            }
            return count.map { ($0, stringLength) }
        }
    }

    /// A descriptor of a loaded module's BTF object (BPF_BTF_GET_NEXT_ID and
    /// BPF_BTF_GET_FD_BY_ID, matched by the name BPF_OBJ_GET_INFO_BY_FD reports), to pass
    /// as `attach_btf_obj_fd` when loading a program that attaches inside the module.
    public static func moduleObject(named module: String) throws -> FileDescriptor {
        for id in try nextIDs(.btfGetNextID) {
            var attribute = cbpf_id_attr()
            attribute.id = id
            guard let descriptor = try? bpfDescriptor(.btfGetFDByID, &attribute) else { continue }
            if let info = try? kernelBTFInfo(descriptor), info.isKernel, info.name == module { return descriptor }
        }
        throw BTFError("no BTF object for kernel module \(module) (is it loaded?)")
    }

    /// `struct bpf_btf_info`: btf@0 btf_size@8 id@12 name@16 name_len@24 kernel_btf@28.
    private static func kernelBTFInfo(_ descriptor: FileDescriptor) throws -> (name: String, isKernel: Bool) {
        var name = [UInt8](repeating: 0, count: 64)
        var info = [UInt8](repeating: 0, count: 32)
        try name.withUnsafeMutableBytes { (nameBuffer) throws in
            try info.withUnsafeMutableBytes { (infoBuffer) throws in
                infoBuffer.storeBytes(of: address(nameBuffer.baseAddress), toByteOffset: 16, as: UInt64.self)
                infoBuffer.storeBytes(of: UInt32(nameBuffer.count), toByteOffset: 24, as: UInt32.self)
                var attribute = cbpf_info_attr()
                attribute.bpf_fd = UInt32(descriptor.rawValue)
                attribute.info_len = UInt32(infoBuffer.count)
                attribute.info = address(infoBuffer.baseAddress)
                try bpf(.objectGetInfoByFD, &attribute)
            }
        }
        let isKernel = info.withUnsafeBytes { $0.load(fromByteOffset: 28, as: UInt32.self) } != 0
        return (String(decoding: name.prefix { $0 != 0 }, as: UTF8.self), isKernel)
    }
}
