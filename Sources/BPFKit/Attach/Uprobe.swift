import CBPF

/// Where a uprobe goes: a binary (or library) and a function in it, or an address.
public struct UprobeTarget: Sendable, CustomStringConvertible {
    /// A path, or a short library name such as `c` or `pthread` (looked up in the target
    /// process's mappings, then in the system's library directories).
    public var binary: String
    /// A function symbol (from `.symtab`, else `.dynsym`); nil to probe `address`.
    public var symbol: String?
    /// Bytes after the symbol, or the virtual address itself when `symbol` is nil.
    public var offset: UInt64
    /// Only this process (nil: every process that maps the binary).
    public var pid: Int32?
    /// Whether an entry probe may move past leading instructions that change nothing it
    /// reads, to one the kernel emulates (x86-64; see ``UprobeEntrySite``): much cheaper
    /// where out-of-line single-steps are costly.
    public var movesToEmulatedInstruction = false

    public init(binary: String, symbol: String? = nil, offset: UInt64 = 0, pid: Int32? = nil) {
        self.binary = binary
        self.symbol = symbol
        self.offset = offset
        self.pid = pid
    }

    public var description: String {
        binary + ":" + (symbol.map { $0 + (offset > 0 ? "+0x\(String(offset, radix: 16))" : "") } ?? "0x" + String(offset, radix: 16))
    }

    /// The binary's path as the kernel should open it, and the probe's file offset.
    public func resolve() throws -> (path: String, fileOffset: UInt64) {
        let path = try Self.locate(binary, pid: pid)
        guard let bytes = readFileBytes(path) else { throw AttachError("uprobe \(self): cannot read \(path)") }
        let elf: ELFFile
        do { elf = try ELFFile(bytes: bytes) } catch { throw AttachError("uprobe \(self): \(path): \(error)") }
        let address: UInt64
        if let symbol {
            let found = try (elf.symbols() + elf.symbols(dynamic: true)).first {
                $0.name == symbol && $0.isFunction && $0.sectionIndex != 0 && $0.value != 0
            }
            guard let found else { throw AttachError("uprobe: no function \(symbol) in \(path)") }
            address = found.value + offset
        } else {
            address = offset
        }
        let fileOffset = try Self.fileOffset(of: address, in: elf, path: path)
        #if arch(x86_64)
        if movesToEmulatedInstruction, fileOffset < UInt64(bytes.count) {
            let start = Int(fileOffset)
            return (path, fileOffset + UInt64(UprobeEntrySite.cheapOffset(code: Array(bytes[start..<min(bytes.count, start + 32)]))))
        }
        #endif
        return (path, fileOffset)
    }

    /// A virtual address to a file offset, through the PT_LOAD segment holding it
    /// (the uprobe PMU wants file offsets; for non-PIE and lld-linked binaries they differ).
    static func fileOffset(of address: UInt64, in elf: ELFFile, path: String) throws -> UInt64 {
        for header in elf.programHeaders where header.type == ELFFile.ProgramHeader.load {
            if address >= header.virtualAddress && address < header.virtualAddress + header.memorySize {
                return address - header.virtualAddress + header.offset
            }
        }
        if elf.programHeaders.isEmpty { return address }
        throw AttachError("uprobe: address 0x\(String(address, radix: 16)) is in no loadable segment of \(path)")
    }

    /// Finds a binary: a path as given (inside the process's root for a pid), or a short
    /// library name in the process's mappings or the usual library directories.
    public static func locate(_ binary: String, pid: Int32?) throws -> String {
        if binary.contains("/") {
            let path = pid.map { "/proc/\($0)/root" + binary } ?? binary
            guard readFileBytes(path, limit: 4) != nil else { throw AttachError("uprobe: cannot open \(binary)") }
            return path
        }
        let stem = binary.hasPrefix("lib") ? binary : "lib" + binary
        func matches(_ file: Substring) -> Bool {
            file == stem + ".so" || file.hasPrefix(stem + ".so.") || file.hasPrefix(stem + "-") && file.contains(".so")
        }
        if let pid {
            guard let maps = readSmallFile("/proc/\(pid)/maps", limit: 16 << 20) else {
                throw AttachError("uprobe: process \(pid) does not exist (no /proc/\(pid)/maps)")
            }
            for line in maps.split(separator: "\n") {
                guard let path = line.split(separator: " ", omittingEmptySubsequences: true).last, path.hasPrefix("/") else { continue }
                if let file = path.split(separator: "/").last, matches(file) { return "/proc/\(pid)/root" + path }
            }
        }
        for directory in ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib",
                          "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu"] {
            for candidate in [stem + ".so.6", stem + ".so.1", stem + ".so.0", stem + ".so"] {
                let path = directory + "/" + candidate
                if readFileBytes(path, limit: 4)?.starts(with: [0x7f, 0x45, 0x4c, 0x46]) == true { return path }
            }
        }
        throw AttachError("uprobe: library \(binary) not found")
    }
}

extension BPFProgram {
    /// Attaches a `uprobe` (or, with `returnProbe`, `uretprobe`) program to a user function,
    /// through the uprobe PMU.
    ///
    /// ```swift
    /// let link = try program.attachUprobe(UprobeTarget(binary: "c", symbol: "malloc", pid: pid))
    /// ```
    ///
    /// `cookie` is what the program's `bpf_get_attach_cookie` returns (one program serving
    /// many sites tells them apart by it); `referenceCounterOffset` is the file offset of a
    /// USDT semaphore the kernel should count this probe in (0: none).
    public func attachUprobe(_ target: UprobeTarget, returnProbe: Bool? = nil, cookie: UInt64 = 0,
                             referenceCounterOffset: UInt64 = 0) throws -> Link {
        let (path, fileOffset) = try target.resolve()
        return try attachUprobe(path: path, fileOffset: fileOffset, pid: target.pid, returnProbe: returnProbe,
                                cookie: cookie, referenceCounterOffset: referenceCounterOffset, description: "\(target)")
    }

    /// Attaches at a file offset already known (a USDT site from ``ELFFile/usdtProbes()``),
    /// without reading the binary again: `path` as the kernel should open it.
    public func attachUprobe(path: String, fileOffset: UInt64, pid: Int32?, returnProbe: Bool? = nil, cookie: UInt64 = 0,
                             referenceCounterOffset: UInt64 = 0, description: String? = nil) throws -> Link {
        let isReturn = isReturnProbe(returnProbe)
        let target = description ?? "\(path):0x\(String(fileOffset, radix: 16))"
        guard let pmu = ProbePMU.named("uprobe") else {
            throw AttachError("attach \(name): this kernel has no uprobe PMU (CONFIG_UPROBE_EVENTS off)")
        }
        let event: FileDescriptor
        do {
            event = try pmu.open(target: path, offset: fileOffset, returnProbe: isReturn,
                                 pid: pid ?? -1, cpu: pid == nil ? 0 : -1,
                                 referenceCounterOffset: referenceCounterOffset)
        } catch {
            throw AttachError("attach \(name) to \(isReturn ? "uretprobe" : "uprobe") \(target): \(error)")
        }
        return try attachPerfEvent(event, description: "\(isReturn ? "uretprobe" : "uprobe") \(target)", cookie: cookie)
    }
}
