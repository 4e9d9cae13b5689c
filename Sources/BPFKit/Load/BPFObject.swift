import CBPF

/// An object's maps and programs, created and loaded in the kernel.
///
/// Everything it made — BTF, maps, programs and the links attached through it — is
/// released when it goes away or on ``close()``, so a tool that exits (on Ctrl-C,
/// SIGTERM or the end of its duration) leaves nothing of its own loaded.
///
/// ```swift
/// var spec = try ObjectSpec(elf: bytes, name: "execsnoop")
/// try spec.setGlobal("target_uid", to: UInt32(1000))
/// let object = try BPFObject(spec: spec)
/// try object.attachAll()
/// ```
public final class BPFObject: @unchecked Sendable {
    public let spec: ObjectSpec
    public let btf: FileDescriptor?
    public private(set) var maps: [String: BPFMap] = [:]
    public private(set) var programs: [String: BPFProgram] = [:]
    public private(set) var links: [Link] = []

    /// Loads the object: its BTF, then its maps (writing and freezing global data), then
    /// each of its programs (or only those named in `programs`).
    public init(spec: ObjectSpec, programs only: Set<String>? = nil, options: ProgramLoadOptions = .init()) throws {
        self.spec = spec
        if let btf = spec.btf {
            do {
                self.btf = try loadBTF(btf.bytes)
            } catch {
                throw LoadError("load BTF of \(spec.name)", error)
            }
        } else {
            self.btf = nil
        }

        for mapSpec in spec.maps {
            let map = try BPFMap.create(mapSpec, btf: btf)
            if let contents = mapSpec.contents {
                do {
                    try map.update(key: [0, 0, 0, 0], value: contents)
                    if mapSpec.freeze { try map.freeze() }
                } catch {
                    throw LoadError("initialize map \(mapSpec.name)", error)
                }
            }
            maps[mapSpec.name] = map
        }

        for programSpec in spec.programs where only?.contains(programSpec.name) ?? true {
            guard let type = programSpec.type else {
                throw LoadError("load program \(programSpec.name)", ObjectError("unknown section \(programSpec.sectionName)"))
            }
            var linked = try spec.link(programSpec)
            for (index, reference) in linked.mapReferences {
                switch reference {
                case .map(let name):
                    guard let map = maps[name] else { throw LoadError("load program \(programSpec.name)", ObjectError("no map \(name)")) }
                    linked.instructions[index].source = 1  // BPF_PSEUDO_MAP_FD
                    linked.instructions[index].immediate = map.descriptor.rawValue
                case .data(let name, let offset):
                    guard let map = maps[name] else { throw LoadError("load program \(programSpec.name)", ObjectError("no map \(name)")) }
                    linked.instructions[index].source = 2  // BPF_PSEUDO_MAP_VALUE
                    linked.instructions[index].immediate = map.descriptor.rawValue
                    linked.instructions[index + 1].immediate = Int32(offset)
                }
            }
            if !linked.kernelFunctionCalls.isEmpty {
                let ids = KernelBTF.typeIDs(named: linked.kernelFunctionCalls.map(\.name), kind: .function)
                for (index, name) in linked.kernelFunctionCalls {
                    guard let id = ids[name] else {
                        throw MissingFeatureError(feature: "kfunc \(name)", reason: "the kernel's BTF has no function \(name), which \(programSpec.name) calls")
                    }
                    linked.instructions[index].source = 2  // BPF_PSEUDO_KFUNC_CALL
                    linked.instructions[index].immediate = Int32(bitPattern: id)
                    linked.instructions[index].offset = 0  // in vmlinux's BTF, not a module's
                }
            }
            let target = try Self.attachTarget(of: programSpec)
            let descriptor = try load(programSpec, type: type, linked: linked, attachTarget: target, options: options)
            self.programs[programSpec.name] = BPFProgram(name: programSpec.name, spec: programSpec, descriptor: descriptor)
        }
    }

    /// Decodes an embedded base64 object and loads it; `configure` may set globals first.
    public convenience init(
        base64: String, name: String, programs only: Set<String>? = nil, configure: (inout ObjectSpec) throws -> Void = { _ in }
    ) throws {
        guard let bytes = Base64.decode(base64) else { throw ObjectError("embedded object \(name) is not valid base64") }
        var spec = try ObjectSpec(elf: bytes, name: name)
        try configure(&spec)
        try self.init(spec: spec, programs: only)
    }

    /// Loads one linked program, resolving its CO-RE relocations where `options` say, and
    /// turning a rejection caused by an unsatisfiable relocation into an error that names it.
    private func load(
        _ programSpec: ProgramSpec, type: ProgramType, linked: LinkedProgram, attachTarget: AttachTarget, options: ProgramLoadOptions
    ) throws -> FileDescriptor {
        let name = String(programSpec.name.prefix(15))
        var instructions = linked.instructions
        var kernelRelocations = linked.coreRelocations
        var mode = options.coreRelocation
        if linked.coreRelocations.isEmpty { mode = .kernel }
        while true {
            if mode == .userSpace {
                guard let localBTF = spec.btf else { throw LoadError("load program \(programSpec.name)", ObjectError("CO-RE needs the object's BTF")) }
                instructions = linked.instructions
                let relocator = CORERelocator(local: localBTF, target: try KernelBTF.shared())
                _ = try relocator.apply(linked.coreRelocations, to: &instructions, program: programSpec.name)
                kernelRelocations = []
            }
            do {
                return try loadProgram(
                    name: name, type: type, expectedAttachType: programSpec.expectedAttachType,
                    instructions: instructions, license: spec.license, btf: btf,
                    functionInfos: linked.functionInfos, lineInfos: linked.lineInfos,
                    coreRelocations: kernelRelocations, attachBTFID: attachTarget.typeID,
                    attachBTFObject: attachTarget.module, options: options)
            } catch let error as LoadError where programSpec.attachPoint?.isTrampoline == true
                && [1, 95, 524].contains(error.systemCallError?.errno ?? 0) {
                throw MissingFeatureError(
                    feature: programSpec.sectionName.hasPrefix("fexit") ? "fexit" : "fentry",
                    reason: "the kernel refused to load \(programSpec.name) (\(errnoDescription(error.systemCallError!.errno))): "
                        + "kernel lockdown or no BPF trampoline support; use a tracepoint or kprobe instead")
            } catch let error as VerifierError where error.log.contains("unknown#195896080") {
                // A poisoned (unsatisfiable) relocation was reachable: say which one.
                throw explainPoison(linked.coreRelocations, program: programSpec.name) ?? error
            } catch let error as LoadError where mode == .automatic {
                // Kernels before 5.17 do not know `core_relos` (E2BIG or EINVAL): relocate here.
                guard let errno = error.systemCallError?.errno, errno == 7 || errno == 22 else { throw error }
                mode = .userSpace
            } catch let error as VerifierError where mode == .automatic && error.errno == 22 {
                mode = .userSpace
            }
        }
    }

    private func explainPoison(_ relocations: [BTFExt.CoreRelocation], program: String) -> (any Error)? {
        guard let localBTF = spec.btf, let kernel = try? KernelBTF.shared() else { return nil }
        let relocator = CORERelocator(local: localBTF, target: kernel)
        for record in relocations {
            if case .poison(let reason) = try? relocator.resolve(record, program: program) {
                let kind = CORERelocationKind(rawValue: record.kind)
                return CORERelocationError(
                    program: program, kind: kind, path: relocator.describe(record).split(separator: " ").first.map(String.init) ?? "",
                    reason: reason + "; guard the access with bpf_core_field_exists() or provide a ___flavor fallback")
            }
        }
        return nil
    }

    /// Where in the kernel's BTF a program attaches, for the kinds that name it at load time:
    /// a type id, and the module's BTF object when the function lives in a module.
    struct AttachTarget {
        var typeID: UInt32 = 0
        var module: FileDescriptor?
    }

    static func attachTarget(of program: ProgramSpec) throws -> AttachTarget {
        let (name, kind): (String, BTF.Kind)
        switch program.attachPoint {
        case .btfTracepoint(let tracepoint): (name, kind) = ("btf_trace_" + tracepoint, .typedef)
        case .fentry(let function), .fexit(let function): (name, kind) = (function, .function)
        default: return AttachTarget()
        }
        if let id = KernelBTF.typeIDs(named: [name], kind: kind)[name] { return AttachTarget(typeID: id) }
        if readFileBytes(KernelBTF.path, limit: 4) == nil {
            throw LoadError("load program \(program.name)", BTFError("this kernel has no BTF (\(KernelBTF.path)), needed for \(program.sectionName)"))
        }
        if kind == .function, let found = KernelBTF.moduleFunction(named: name) {
            do {
                return AttachTarget(typeID: found.typeID, module: try KernelBTF.moduleObject(named: found.module))
            } catch {
                throw LoadError("load program \(program.name)", error)
            }
        }
        throw LoadError("load program \(program.name)", BTFError("kernel BTF has no \(kind) \(name)"))
    }

    public func map(_ name: String) throws(ObjectError) -> BPFMap {
        guard let map = maps[name] else { throw ObjectError("object \(spec.name) has no map \(name)") }
        return map
    }

    public func program(_ name: String) throws(ObjectError) -> BPFProgram {
        guard let program = programs[name] else { throw ObjectError("object \(spec.name) has no program \(name)") }
        return program
    }

    /// Attaches every loaded program where its section name says, keeping the links.
    public func attachAll() throws {
        for program in programs.values.sorted(by: { $0.name < $1.name }) {
            links.append(try program.attach())
        }
    }

    /// Keeps a link so it lives (and is released) with the object.
    public func keep(_ link: Link) { links.append(link) }

    /// Reads a global variable's current value from its data map (`.bss`, `.data`).
    public func global<T: BitwiseCopyable>(_ name: String, as type: T.Type = T.self) throws -> T {
        guard let variable = spec.variables[name] else { throw ObjectError("no global variable \(name)") }
        guard variable.size == MemoryLayout<T>.size else {
            throw ObjectError("global \(name) is \(variable.size) bytes, not \(MemoryLayout<T>.size)")
        }
        guard let bytes = try map(variable.map).lookup(key: [0, 0, 0, 0]) else { throw ObjectError("map \(variable.map) is empty") }
        return bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: variable.offset, as: T.self) }
    }

    /// Detaches every link and frees every program, map and BTF now.
    public func close() {
        for link in links.reversed() { link.close() }
        links.removeAll()
        for program in programs.values { program.close() }
        for map in maps.values { map.close() }
        btf?.close()
    }

    deinit { close() }
}

/// BPF_BTF_LOAD, with the kernel's log in the error on failure.
func loadBTF(_ bytes: [UInt8]) throws -> FileDescriptor {
    var log = [UInt8](repeating: 0, count: 64 * 1024)
    do {
        return try bytes.withUnsafeBytes { (blob) throws -> FileDescriptor in
            var attribute = cbpf_btf_load_attr()
            attribute.btf = address(blob.baseAddress)
            attribute.btf_size = UInt32(blob.count)
            return try bpfDescriptor(.btfLoad, &attribute)
        }
    } catch {
        let first = error as? SystemCallError ?? SystemCallError(call: "BPF_BTF_LOAD", errno: 22)
        _ = try? bytes.withUnsafeBytes { (blob) throws -> FileDescriptor in
            try log.withUnsafeMutableBytes { (logBytes) throws -> FileDescriptor in
                var attribute = cbpf_btf_load_attr()
                attribute.btf = address(blob.baseAddress)
                attribute.btf_size = UInt32(blob.count)
                attribute.btf_log_buf = address(logBytes.baseAddress)
                attribute.btf_log_size = UInt32(logBytes.count)
                attribute.btf_log_level = 1
                return try bpfDescriptor(.btfLoad, &attribute)
            }
        }
        let text = (log.getCString(at: 0) ?? "").split(separator: "\n").last.map(String.init) ?? ""
        throw text.isEmpty ? first : SystemCallError(call: "BPF_BTF_LOAD (\(text))", errno: first.errno)
    }
}
