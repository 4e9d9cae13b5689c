import CBPF

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
    /// The module whose BTF has function `name`, if a loaded module's does. Parses module
    /// BTF one module at a time: only asked after vmlinux's BTF lacked the function.
    public static func moduleFunction(named name: String) -> ModuleFunction? {
        for module in moduleNames() {
            guard let btf = try? KernelBTF.module(module), let id = btf.typeID(named: name, kind: .function) else { continue }
            return ModuleFunction(module: module, typeID: id)
        }
        return nil
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
