import CBPF

/// A program loaded into the kernel. It stays loaded while this object or a link
/// attaching it exists.
public final class BPFProgram: @unchecked Sendable {
    public let name: String
    public let spec: ProgramSpec
    public let descriptor: FileDescriptor

    init(name: String, spec: ProgramSpec, descriptor: FileDescriptor) {
        self.name = name
        self.spec = spec
        self.descriptor = descriptor
    }

    /// The kernel's id for this program (as `bpftool prog list` shows it).
    public var id: UInt32 {
        (try? ProgramInfo(descriptor: descriptor).id) ?? 0
    }

    /// Closes the program's descriptor now.
    public func close() { descriptor.close() }
}

/// Options for loading programs.
public struct ProgramLoadOptions: Sendable {
    /// Where CO-RE relocations are resolved.
    public enum CORERelocation: Sendable {
        /// By the kernel (Linux 5.17+), falling back to user space on kernels that refuse
        /// `core_relos`. The kernel's own BTF is then never read by this process.
        case automatic
        /// By the kernel only.
        case kernel
        /// By BPFKit, against `/sys/kernel/btf/vmlinux` (any kernel with BTF).
        case userSpace
    }

    /// Size of the buffer for the verifier log read after a rejection.
    public var logSize = 1 << 20
    public var coreRelocation = CORERelocation.automatic
    public init() {}
}

/// Loads instructions as a program (BPF_PROG_LOAD). On rejection the load is repeated with
/// the verifier log on, so the error carries it; a successful load costs no log.
func loadProgram(
    name: String, type: ProgramType, expectedAttachType: AttachType, instructions: [Instruction], license: String,
    btf: FileDescriptor?, functionInfos: [BTFExt.FunctionInfo], lineInfos: [BTFExt.LineInfo],
    coreRelocations: [BTFExt.CoreRelocation], attachBTFID: UInt32 = 0, attachBTFObject: FileDescriptor? = nil,
    options: ProgramLoadOptions = .init()
) throws -> FileDescriptor {
    let licenseBytes = Array(license.utf8) + [0]
    var functionRecords = functionInfos.flatMap { [$0.instructionOffset, $0.typeID] }
    var lineRecords = lineInfos.flatMap { [$0.instructionOffset, $0.fileNameOffset, $0.lineOffset, $0.lineColumn] }
    var coreRecords = coreRelocations.flatMap { [$0.instructionOffset, $0.typeID, $0.accessStringOffset, $0.kind] }
    var code = instructions

    func attempt(logLevel: UInt32, log: inout [UInt8]) throws -> FileDescriptor {
        try code.withUnsafeMutableBytes { (codeBytes) throws -> FileDescriptor in
            try licenseBytes.withUnsafeBytes { (licenseBuffer) throws -> FileDescriptor in
                try functionRecords.withUnsafeMutableBytes { (functionBytes) throws -> FileDescriptor in
                    try lineRecords.withUnsafeMutableBytes { (lineBytes) throws -> FileDescriptor in
                        try coreRecords.withUnsafeMutableBytes { (coreBytes) throws -> FileDescriptor in
                            try log.withUnsafeMutableBytes { (logBytes) throws -> FileDescriptor in
                                var attribute = cbpf_prog_load_attr()
                                attribute.prog_type = type.rawValue
                                attribute.expected_attach_type = expectedAttachType.rawValue
                                attribute.insn_cnt = UInt32(instructions.count)
                                attribute.insns = address(codeBytes.baseAddress)
                                attribute.license = address(licenseBuffer.baseAddress)
                                setCString(&attribute.prog_name, name)
                                attribute.attach_btf_id = attachBTFID
                                attribute.attach_btf_obj_fd = UInt32(attachBTFObject?.rawValue ?? 0)
                                if let btf, !functionInfos.isEmpty {
                                    attribute.prog_btf_fd = UInt32(btf.rawValue)
                                    attribute.func_info_rec_size = 8
                                    attribute.func_info = address(functionBytes.baseAddress)
                                    attribute.func_info_cnt = UInt32(functionInfos.count)
                                    if !lineInfos.isEmpty {
                                        attribute.line_info_rec_size = 16
                                        attribute.line_info = address(lineBytes.baseAddress)
                                        attribute.line_info_cnt = UInt32(lineInfos.count)
                                    }
                                    if !coreRelocations.isEmpty {
                                        // The kernel relocates against its own BTF (5.17+); it does
                                        // so only when func_info is passed too.
                                        attribute.core_relos = address(coreBytes.baseAddress)
                                        attribute.core_relo_cnt = UInt32(coreRelocations.count)
                                        attribute.core_relo_rec_size = 16
                                    }
                                }
                                if logLevel > 0 {
                                    attribute.log_level = logLevel
                                    attribute.log_size = UInt32(logBytes.count)
                                    attribute.log_buf = address(logBytes.baseAddress)
                                }
                                var attempts = 0
                                while true {  // EAGAIN: the kernel asks to retry (libbpf does, 5 times)
                                    let result = withUnsafeMutableBytes(of: &attribute) {
                                        cbpf_bpf(BPFCommand.programLoad.rawValue, $0.baseAddress, UInt32($0.count))
                                    }
                                    if result >= 0 { return FileDescriptor(owning: Int32(result)) }
                                    attempts += 1
                                    if result != -11 || attempts == 5 {
                                        throw SystemCallError(call: "BPF_PROG_LOAD", errno: Int32(-result))
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    var noLog: [UInt8] = []
    do {
        return try attempt(logLevel: 0, log: &noLog)
    } catch {
        let first = error as? SystemCallError ?? SystemCallError(call: "BPF_PROG_LOAD", errno: 22)
        // Repeat with the log on. The kernel keeps the log's tail when the buffer is too
        // small (ENOSPC), which is the part that says why.
        var log = [UInt8](repeating: 0, count: options.logSize)
        do {
            return try attempt(logLevel: 1, log: &log)
        } catch _ {
            let text = log.getCString(at: 0) ?? ""
            if text.isEmpty {
                throw LoadError("load program \(name)", first)
            }
            throw VerifierError(program: name, errno: first.errno, log: text)
        }
    }
}
