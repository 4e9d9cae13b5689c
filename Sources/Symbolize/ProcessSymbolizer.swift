#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import BPFKit
import CSymbolize

/// Turns the user-space addresses of one process into function names.
///
/// For an address it finds the mapping in `/proc/PID/maps` (read on first use, read again
/// when an address falls outside every known mapping), then:
/// - a file mapping: the ELF file, opened through `/proc/PID/root` (so processes in other
///   mount namespaces, containers, resolve), or `/proc/PID/map_files/START-END` when the file
///   was deleted or replaced since it was mapped; the address becomes a file offset
///   (`address − start + mapping offset`) and then a virtual address through the file's
///   `PT_LOAD` headers, which works alike for PIE and non-PIE executables and shared
///   libraries; symbols come from ``ElfSymbolCache`` (one parse per file for all processes);
/// - the vDSO (`[vdso]`): its image, read from the process's memory (`/proc/PID/mem`) or,
///   failing that, from this process's own vDSO (the kernel's same image);
/// - anonymous memory, or a file address with no symbol: the process's JIT map,
///   `/tmp/perf-PID.map` (see ``PerfMap``), read when first needed and again when it grows.
///
/// Results are cached per address. A process that exits keeps resolving through what was
/// already read: call ``prepare()`` while it runs to read its maps and every executable
/// mapping's symbols up front. Not thread-safe: use one symbolizer per thread (they share
/// the symbol cache).
///
/// ```swift
/// let symbolizer = ProcessSymbolizer(pid: 1234)
/// symbolizer.prepare()                       // optional: read everything while it lives
/// for address in userStack {
///     print(symbolizer.symbolize(address).text(showModule: true))   // "main", "[libfoo.so+0x1234]"
/// }
/// ```
public final class ProcessSymbolizer {
    public let pid: Int32
    /// How names are demangled; nil keeps linker names.
    public let demangle: Demangler.Style?
    public let cache: ElfSymbolCache

    private struct ModuleKey: Hashable {
        var path: String
        var inode: UInt64
        var device: UInt64
        var deletedAt: UInt64
    }

    private struct Module {
        var name: String
        var table: ElfSymbolTable?
    }

    private var knownMappings: [ProcessMapping] = []
    private var mapsReadAt: UInt64?
    private var modules: [ModuleKey: Module] = [:]
    private var frames: [UInt64: Frame] = [:]
    private var perfMap: PerfMap?
    private var perfMapStamp: (path: String, size: Int, seconds: Int, nanoseconds: Int)?
    private var perfMapCheckedAt: UInt64?

    /// Files that could not be read or parsed, one line each (`path: cause`).
    public private(set) var problems: [String] = []

    /// Nothing is read until the first ``symbolize(_:)`` or ``prepare()``.
    public init(pid: Int32, demangle: Demangler.Style? = .simplified, cache: ElfSymbolCache = .shared) {
        self.pid = pid
        self.demangle = demangle
        self.cache = cache
    }

    /// The process's mappings, as last read (read now if never read).
    public var mappings: [ProcessMapping] {
        if mapsReadAt == nil { readMaps() }
        return knownMappings
    }

    /// Reads the maps, the symbols of every executable mapping and the JIT map now, so that
    /// the process's addresses still resolve after it exits.
    public func prepare() {
        readMaps()
        for mapping in knownMappings where mapping.isExecutable && (mapping.isFile || mapping.path == "[vdso]") {
            _ = module(for: mapping)
        }
        refreshPerfMap(force: true)
    }

    /// Reads `/proc/PID/maps` again (after `dlopen` or `exec`), keeping loaded symbols.
    public func refresh() {
        readMaps()
        frames.removeAll(keepingCapacity: true)
    }

    /// The frame for `address`: the function when known, else the module and offset.
    public func symbolize(_ address: UInt64) -> Frame {
        if let known = frames[address] { return known }
        let frame = resolve(address)
        // An address with no mapping may resolve later (a new mapping, a JIT map entry).
        if frame.name != nil || frame.module != nil {
            if frames.count >= 1 << 16 { frames.removeAll(keepingCapacity: true) }
            frames[address] = frame
        }
        return frame
    }

    /// The mapping `address` falls in and its file's GNU build ID (nil for anonymous memory
    /// or a file that could not be read): what a pprof profile records beside an address.
    public func mappingAndBuildID(containing address: UInt64) -> (mapping: ProcessMapping, buildID: [UInt8]?)? {
        guard let mapping = mapping(containing: address) else { return nil }
        guard mapping.isFile || mapping.path == "[vdso]" else { return (mapping, nil) }
        return (mapping, module(for: mapping).table?.buildID)
    }

    private func resolve(_ address: UInt64) -> Frame {
        guard let mapping = mapping(containing: address), mapping.isFile || mapping.path == "[vdso]" else {
            return jitFrame(address) ?? .unknown
        }
        let module = module(for: mapping)
        let fileOffset = address - mapping.start &+ mapping.offset
        guard let table = module.table else {
            return jitFrame(address) ?? Frame(name: nil, module: module.name, moduleOffset: fileOffset)
        }
        let virtualAddress = table.virtualAddress(fileOffset: fileOffset) ?? fileOffset
        if let (name, offset) = table.symbolize(virtualAddress: virtualAddress, demangle: demangle) {
            return Frame(name: name, offset: offset, module: module.name, moduleOffset: virtualAddress)
        }
        return jitFrame(address) ?? Frame(name: nil, module: module.name, moduleOffset: virtualAddress)
    }

    // MARK: - Mappings

    /// The mapping holding `address`; when none does, the maps are read again (at most
    /// every 250 ms: a new mapping after `dlopen`).
    public func mapping(containing address: UInt64) -> ProcessMapping? {
        if mapsReadAt == nil { readMaps() }
        if let found = find(address) { return found }
        guard let readAt = mapsReadAt, Self.now() &- readAt > 250_000_000 else { return nil }
        readMaps()
        return find(address)
    }

    private func readMaps() {
        mapsReadAt = Self.now()
        // A process that exited keeps the mappings read while it ran.
        guard let bytes = readFileBytes("/proc/\(pid)/maps") else { return }
        knownMappings = ProcessMapping.parse(bytes).sorted { $0.start < $1.start }
    }

    private func find(_ address: UInt64) -> ProcessMapping? {
        var low = 0, high = knownMappings.count
        while low < high {
            let middle = (low + high) / 2
            if knownMappings[middle].start <= address { low = middle + 1 } else { high = middle }
        }
        guard low > 0, knownMappings[low - 1].contains(address) else { return nil }
        return knownMappings[low - 1]
    }

    private func module(for mapping: ProcessMapping) -> Module {
        let key = ModuleKey(
            path: mapping.path, inode: mapping.inode,
            device: UInt64(mapping.deviceMajor) << 32 | UInt64(mapping.deviceMinor),
            deletedAt: mapping.isDeleted ? mapping.start : 0)
        if let known = modules[key] { return known }
        let module: Module
        if mapping.path == "[vdso]" {
            module = Module(name: "[vdso]", table: vdsoTable(mapping))
        } else {
            module = Module(name: mapping.fileName, table: fileTable(mapping))
        }
        modules[key] = module
        return module
    }

    /// The mapped file's symbols, through the process's root, then its map_files link (the
    /// only way to a deleted file), then the path as this process sees it.
    private func fileTable(_ mapping: ProcessMapping) -> ElfSymbolTable? {
        let root = "/proc/\(pid)/root"
        var lastError: SymbolizeError?
        for candidate in filePaths(for: mapping) {
            do throws(SymbolizeError) {
                return try cache.table(forFileAt: candidate, originalPath: mapping.path, root: root, expectedInode: mapping.inode)
            } catch {
                lastError = error
                if error.isMalformedFile { break }  // the other paths lead to the same bytes
            }
        }
        if let lastError { problems.append(lastError.message) }
        return nil
    }

    /// Where a mapping's file can be opened: through the process's root, then its map_files
    /// link (the only way to a deleted file), then the path as this process sees it.
    func filePaths(for mapping: ProcessMapping) -> [String] {
        var candidates: [String] = []
        if !mapping.isDeleted { candidates.append("/proc/\(pid)/root" + mapping.path) }
        candidates.append("/proc/\(pid)/map_files/\(String(mapping.start, radix: 16))-\(String(mapping.end, radix: 16))")
        if !mapping.isDeleted { candidates.append(mapping.path) }
        return candidates
    }

    /// The vDSO's image: from the process's memory, else this process's own (the same).
    func vdsoImage(_ mapping: ProcessMapping) -> [UInt8]? {
        let size = mapping.end - mapping.start
        guard size > 0, size <= 1 << 24 else { return nil }
        return Self.readMemory(pid: pid, at: mapping.start, count: Int(size)) ?? Self.ownVDSO
    }

    /// The vDSO's symbols: its image from the process's memory, else this process's own.
    private func vdsoTable(_ mapping: ProcessMapping) -> ElfSymbolTable? {
        let size = mapping.end - mapping.start
        guard size > 0, size <= 1 << 24 else { return nil }
        let image = Self.readMemory(pid: pid, at: mapping.start, count: Int(size)) ?? Self.ownVDSO
        guard let image else {
            problems.append("[vdso]: cannot read the image of process \(pid) or of this process")
            return nil
        }
        do throws(SymbolizeError) {
            return try cache.table(image: image, name: "[vdso]")
        } catch {
            problems.append(error.message)
            return nil
        }
    }

    /// `count` bytes of process `pid`'s memory at `address`, via `/proc/PID/mem`.
    static func readMemory(pid: Int32, at address: UInt64, count: Int) -> [UInt8]? {
        let descriptor = open("/proc/\(pid)/mem", O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes = [UInt8](repeating: 0, count: count)
        let read = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, count, off_t(Int64(bitPattern: address))) }
        return read == count ? bytes : nil
    }

    /// This process's vDSO image (from `AT_SYSINFO_EHDR` and its mapping's size).
    private static let ownVDSO: [UInt8]? = {
        let base = UInt64(bpfkit_vdso_base())
        guard base != 0, let maps = readFileBytes("/proc/self/maps"),
              let mapping = ProcessMapping.parse(maps).first(where: { $0.start == base && $0.path == "[vdso]" }),
              let pointer = UnsafeRawPointer(bitPattern: UInt(base))
        else { return nil }
        return Array(UnsafeRawBufferPointer(start: pointer, count: Int(mapping.end - mapping.start)))
    }()

    // MARK: - JIT map

    private func jitFrame(_ address: UInt64) -> Frame? {
        refreshPerfMap(force: false)
        guard let perfMap, let (entry, offset) = perfMap.lookup(address) else { return nil }
        let name = demangle.map { Demangler.demangle(entry.name, style: $0) } ?? entry.name
        return Frame(name: name, offset: offset, module: "perf-\(pid).map", moduleOffset: address)
    }

    /// Reads the JIT map when it appeared or changed; checks at most every 100 ms.
    private func refreshPerfMap(force: Bool) {
        let now = Self.now()
        if !force, let checked = perfMapCheckedAt, now &- checked < 100_000_000 { return }
        perfMapCheckedAt = now
        for path in perfMapPaths() {
            var status = stat()
            guard stat(path, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { continue }
            let stamp = (path, Int(status.st_size), Int(status.st_mtim.tv_sec), Int(status.st_mtim.tv_nsec))
            if let old = perfMapStamp, old == stamp { return }
            guard let map = PerfMap.load(path: path) else { continue }
            perfMap = map
            perfMapStamp = stamp
            return
        }
        // No map (any more): keep what was read, the process may have exited.
    }

    /// `/tmp/perf-PID.map`, then the map inside the process's mount namespace, named with
    /// its pid in its own pid namespace.
    private func perfMapPaths() -> [String] {
        var paths = [PerfMap.path(pid: pid)]
        var namespacePID = pid
        if let status = readSmallFile("/proc/\(pid)/status") {
            for line in status.split(separator: "\n") where line.hasPrefix("NSpid:") {
                if let last = line.split(whereSeparator: { $0 == "\t" || $0 == " " }).last, let value = Int32(last) {
                    namespacePID = value
                }
            }
        }
        paths.append("/proc/\(pid)/root" + PerfMap.path(pid: namespacePID))
        return paths
    }

    private static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }
}
