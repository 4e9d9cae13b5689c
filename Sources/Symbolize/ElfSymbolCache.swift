import BPFKit
import Synchronization

/// Symbol tables of ELF files, read once and shared by every process that maps the file:
/// keyed by GNU build-id, and by device, inode, size and modification time (so a file
/// rewritten in place or replaced is read again, and the same library seen through different
/// paths — `/proc/PID/root/…`, `/proc/PID/map_files/…` — is read once).
///
/// Reading a file loads only its headers, symbol and string tables and notes, never its code.
/// A file without `.symtab` (stripped) gets its symbols from a separate debug file when one
/// is found, in the order gdb and perf search:
/// 1. `<debug dir>/.build-id/<first 2 hex digits>/<other digits>.debug`, for its build-id;
/// 2. its `.gnu_debuglink` name next to the file, in `.debug/` there, and under
///    `<debug dir>/<the file's directory>/`.
/// A debug file counts only when its build-id matches (or, without build-ids, the CRC-32 the
/// link records). Files that failed to parse are remembered, so the error is not repeated.
///
/// Tables are evicted, least recently used first, beyond `capacity` bytes. Thread-safe.
///
/// ```swift
/// let cache = ElfSymbolCache.shared
/// let libc = try cache.table(forFileAt: "/usr/lib/x86_64-linux-gnu/libc.so.6")
/// print(libc.count, libc.debugPath ?? "no debug file")
/// let again = cache.table(buildID: libc.buildID!)      // the same table, from the cache
/// ```
public final class ElfSymbolCache: Sendable {
    /// The cache the symbolizers use unless told otherwise.
    public static let shared = ElfSymbolCache()

    /// Where separate debug files are searched (`/usr/lib/debug`).
    public let debugDirectories: [String]
    /// The memory budget for cached tables, in bytes.
    public let capacity: Int

    private struct Resident {
        var table: ElfSymbolTable
        var lastUse: UInt64
    }

    private struct State {
        var byIdentity: [ReadOnlyFile.Identity: ElfSymbolTable] = [:]
        var byBuildID: [[UInt8]: ElfSymbolTable] = [:]
        var failures: [ReadOnlyFile.Identity: SymbolizeError] = [:]
        var residents: [ObjectIdentifier: Resident] = [:]
        var clock: UInt64 = 0
        var bytes = 0
    }

    private let state = Mutex(State())

    public init(debugDirectories: [String] = ["/usr/lib/debug"], capacity: Int = 1 << 30) {
        self.debugDirectories = debugDirectories
        self.capacity = capacity
    }

    /// The number of distinct tables held.
    public var count: Int { state.withLock { $0.residents.count } }

    /// Forgets every table and every remembered failure.
    public func removeAll() {
        state.withLock { $0 = State() }
    }

    /// The symbols of the ELF file at `path` (from the cache when this file was read before).
    /// Throws a one-line ``SymbolizeError`` when the file cannot be opened or is not a
    /// well-formed ELF file.
    public func table(forFileAt path: String) throws(SymbolizeError) -> ElfSymbolTable {
        try table(forFileAt: path, originalPath: path, root: "", expectedInode: nil)
    }

    /// The table of the file with this build-id: from the cache, or from the file that
    /// `<debug dir>/.build-id/xx/yyyy` links to (the Debian and Fedora layout). Nil when
    /// neither has it.
    public func table(buildID: [UInt8]) -> ElfSymbolTable? {
        guard buildID.count >= 2 else { return nil }
        if let known = state.withLock({ state in state.byBuildID[buildID].map { touch($0, in: &state) } }) { return known }
        let hex = ELFFile.hex(buildID)
        for directory in debugDirectories {
            let path = "\(directory)/.build-id/\(hex.prefix(2))/\(hex.dropFirst(2))"
            if let table = try? table(forFileAt: path), table.buildID == buildID { return table }
        }
        return nil
    }

    /// Symbolizes a build-id stack frame (`BPF_F_STACK_BUILD_ID`: a build-id and a file
    /// offset), nil when no file with that build-id is known.
    public func symbolize(buildID: [UInt8], fileOffset: UInt64, demangle: Demangler.Style? = .simplified) -> Frame? {
        guard let table = table(buildID: buildID) else { return nil }
        let module = fileName(of: table.path)
        let address = table.virtualAddress(fileOffset: fileOffset) ?? fileOffset
        guard let (name, offset) = table.symbolize(virtualAddress: address, demangle: demangle) else {
            return Frame(name: nil, module: module, moduleOffset: address)
        }
        return Frame(name: name, offset: offset, module: module, moduleOffset: address)
    }

    /// The table of an ELF image already in memory (a process's vDSO), cached by build-id.
    public func table(image bytes: [UInt8], name: String) throws(SymbolizeError) -> ElfSymbolTable {
        let image: ELFFile
        do throws(ELFError) {
            image = try ELFFile(bytes: bytes)
        } catch {
            throw SymbolizeError(path: name, error)
        }
        if let id = image.buildID, let known = state.withLock({ state in state.byBuildID[id].map { touch($0, in: &state) } }) {
            return known
        }
        let table: ElfSymbolTable
        do throws(ELFError) {
            table = try ElfSymbolTable(image: image, path: name)
        } catch {
            throw SymbolizeError(path: name, error)
        }
        insert(table, identity: nil)
        return table
    }

    /// Opens `path` (possibly `/proc/PID/root/…` or `/proc/PID/map_files/…`); `originalPath`
    /// is the path the process sees, under `root`, for finding debug files. With
    /// `expectedInode`, a file with another inode (replaced since it was mapped) is refused.
    func table(forFileAt path: String, originalPath: String, root: String, expectedInode: UInt64?) throws(SymbolizeError) -> ElfSymbolTable {
        let file = try ReadOnlyFile(path: path)
        if let expectedInode, expectedInode != 0, file.identity.inode != expectedInode {
            throw SymbolizeError("\(originalPath): replaced since it was mapped (inode \(file.identity.inode), mapped \(expectedInode))")
        }
        let cached = state.withLock { state -> Result<ElfSymbolTable, SymbolizeError>? in
            if let table = state.byIdentity[file.identity] { return .success(touch(table, in: &state)) }
            return state.failures[file.identity].map { .failure($0) }
        }
        switch cached {
        case .success(let table): return table
        case .failure(let error): throw error
        case nil: break
        }
        do throws(ELFError) {
            let image = try Self.readImage(file) { name, type in
                type == ELFFile.Section.symtab || type == ELFFile.Section.dynsym || type == ELFFile.Section.note
                    || name == ".gnu_debuglink"
            }
            if let id = image.buildID, let known = state.withLock({ state in state.byBuildID[id].map { touch($0, in: &state) } }) {
                state.withLock { $0.byIdentity[file.identity] = known }
                return known
            }
            var debug: (image: ELFFile, path: String)?
            if !image.sections.contains(where: { $0.type == ELFFile.Section.symtab && $0.size > 24 }) {
                debug = findDebugFile(for: image, file: file, originalPath: originalPath, root: root)
            }
            let table = try ElfSymbolTable(image: image, path: originalPath, debugImage: debug?.image, debugPath: debug?.path)
            insert(table, identity: file.identity)
            return table
        } catch {
            let failure = SymbolizeError(path: originalPath, error)
            state.withLock { $0.failures[file.identity] = failure }
            throw failure
        }
    }

    /// Reads the headers and the selected sections of `file`.
    private static func readImage(_ file: ReadOnlyFile, keeping keep: (String, UInt32) -> Bool) throws(ELFError) -> ELFFile {
        try ELFFile(fileSize: file.size, loadingSections: keep) { offset, buffer in file.read(at: offset, into: buffer) }
    }

    /// The separate debug file of a stripped file, by build-id, then by `.gnu_debuglink`.
    private func findDebugFile(for image: ELFFile, file: ReadOnlyFile, originalPath: String, root: String) -> (image: ELFFile, path: String)? {
        let roots = root.isEmpty ? [""] : [root, ""]
        var candidates: [String] = []
        let buildID = image.buildID
        if let buildID, buildID.count >= 2 {
            let hex = ELFFile.hex(buildID)
            for prefix in roots {
                for directory in debugDirectories {
                    candidates.append("\(prefix)\(directory)/.build-id/\(hex.prefix(2))/\(hex.dropFirst(2)).debug")
                }
            }
        }
        let link = image.debugLink
        if let link, !link.fileName.contains("/") {
            let directory = directoryName(of: originalPath)
            for prefix in roots {
                candidates.append("\(prefix)\(directory)/\(link.fileName)")
                candidates.append("\(prefix)\(directory)/.debug/\(link.fileName)")
                for debugDirectory in debugDirectories {
                    candidates.append("\(prefix)\(debugDirectory)\(directory)/\(link.fileName)")
                }
            }
        }
        var tried = Set<String>()
        for candidate in candidates where tried.insert(candidate).inserted {
            guard let debugFile = try? ReadOnlyFile(path: candidate),
                  debugFile.identity.inode != file.identity.inode || debugFile.identity.device != file.identity.device,
                  let debugImage = try? Self.readImage(debugFile, keeping: { _, type in
                      type == ELFFile.Section.symtab || type == ELFFile.Section.note
                  }),
                  debugImage.sections.contains(where: { $0.type == ELFFile.Section.symtab })
            else { continue }
            if let buildID {
                guard debugImage.buildID == buildID else { continue }
            } else if let link {
                guard debugFile.crc32() == link.crc else { continue }
            }
            return (debugImage, candidate)
        }
        return nil
    }

    private func insert(_ table: ElfSymbolTable, identity: ReadOnlyFile.Identity?) {
        state.withLock { state in
            if let identity { state.byIdentity[identity] = table }
            if let id = table.buildID { state.byBuildID[id] = table }
            let key = ObjectIdentifier(table)
            if state.residents[key] == nil { state.bytes += table.approximateSize }
            state.clock += 1
            state.residents[key] = Resident(table: table, lastUse: state.clock)
            evict(keeping: key, in: &state)
        }
    }

    /// Drops least recently used tables until the cache fits its capacity.
    private func evict(keeping kept: ObjectIdentifier, in state: inout State) {
        guard state.bytes > capacity else { return }
        let byAge = state.residents.sorted { $0.value.lastUse < $1.value.lastUse }
        var dropped = Set<ObjectIdentifier>()
        for (key, resident) in byAge where key != kept && state.bytes > capacity {
            dropped.insert(key)
            state.bytes -= resident.table.approximateSize
            state.residents[key] = nil
        }
        state.byIdentity = state.byIdentity.filter { !dropped.contains(ObjectIdentifier($0.value)) }
        state.byBuildID = state.byBuildID.filter { !dropped.contains(ObjectIdentifier($0.value)) }
    }

    private func touch(_ table: ElfSymbolTable, in state: inout State) -> ElfSymbolTable {
        state.clock += 1
        state.residents[ObjectIdentifier(table)]?.lastUse = state.clock
        return table
    }
}

/// The part of `path` after the last `/`.
func fileName(of path: String) -> String {
    guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return path }
    return String(path[path.utf8.index(after: slash)...])
}

/// The part of `path` before the last `/` ("" for `/name`, "." without a slash).
func directoryName(of path: String) -> String {
    guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return "." }
    return String(path[..<slash])
}
