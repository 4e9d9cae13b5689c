import BPFKit
import Synchronization

/// Call-frame tables of ELF files, read once and shared by every process mapping the file:
/// keyed by GNU build-id and by device, inode, size and modification time (as
/// ``ElfSymbolCache`` keys symbols). Reading a file loads its headers, notes and CFI
/// sections only. Files that failed are remembered. Thread-safe.
public final class CallFrameCache: Sendable {
    public static let shared = CallFrameCache()

    private struct State {
        var byIdentity: [ReadOnlyFile.Identity: CallFrameTable] = [:]
        var byBuildID: [[UInt8]: CallFrameTable] = [:]
        var failures: [ReadOnlyFile.Identity: SymbolizeError] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// The number of distinct tables held.
    public var count: Int { state.withLock { Set($0.byIdentity.values.map(ObjectIdentifier.init)).count } }

    /// The table of the ELF file at `path`.
    public func table(forFileAt path: String) throws(SymbolizeError) -> CallFrameTable {
        try table(forFileAt: path, originalPath: path, expectedInode: nil)
    }

    func table(forFileAt path: String, originalPath: String, expectedInode: UInt64?) throws(SymbolizeError) -> CallFrameTable {
        let file = try ReadOnlyFile(path: path)
        if let expectedInode, expectedInode != 0, file.identity.inode != expectedInode {
            throw SymbolizeError("\(originalPath): replaced since it was mapped")
        }
        let cached = state.withLock { state -> Result<CallFrameTable, SymbolizeError>? in
            if let table = state.byIdentity[file.identity] { return .success(table) }
            return state.failures[file.identity].map { .failure($0) }
        }
        switch cached {
        case .success(let table): return table
        case .failure(let error): throw error
        case nil: break
        }
        do throws(ELFError) {
            let image = try ELFFile(fileSize: file.size, loadingSections: { name, type in
                name == ".eh_frame" || name == ".eh_frame_hdr" || name == ".debug_frame" || type == ELFFile.Section.note
            }, read: { offset, buffer in file.read(at: offset, into: buffer) })
            if let id = image.buildID, let known = state.withLock({ $0.byBuildID[id] }) {
                state.withLock { $0.byIdentity[file.identity] = known }
                return known
            }
            let table = CallFrameTable(image: image, path: originalPath)
            state.withLock { state in
                state.byIdentity[file.identity] = table
                if let id = table.buildID { state.byBuildID[id] = table }
            }
            return table
        } catch {
            let failure = SymbolizeError(path: originalPath, error)
            state.withLock { $0.failures[file.identity] = failure }
            throw failure
        }
    }

    /// The table of an image already in memory (a process's vDSO), cached by build-id.
    public func table(image bytes: [UInt8], name: String) throws(SymbolizeError) -> CallFrameTable {
        do throws(ELFError) {
            let image = try ELFFile(bytes: bytes)
            if let id = image.buildID, let known = state.withLock({ $0.byBuildID[id] }) { return known }
            let table = CallFrameTable(image: image, path: name)
            if let id = table.buildID { state.withLock { $0.byBuildID[id] = table } }
            return table
        } catch {
            throw SymbolizeError(path: name, error)
        }
    }
}
