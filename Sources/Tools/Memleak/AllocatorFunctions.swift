import BPFKit

/// The allocator functions of one library, found with one read of it: resolving each probe
/// by name would read and parse the library (libc: 2 MB, thousands of symbols) once per
/// probe, some twenty times.
struct AllocatorFunctions {
    /// The library's path as a uprobe target names it (inside the process's root).
    let path: String
    /// Function name → virtual address, for the names asked for that the library defines.
    let addresses: [String: UInt64]

    /// Whether probes move past leading flag-only instructions (``UprobeEntrySite``).
    let movingToEmulatedInstructions: Bool

    /// Finds `library` (a path or a short name such as `c`) as process `pid` maps it.
    init(library: String, pid: UInt32, names: Set<String>, movingToEmulatedInstructions: Bool = true) throws {
        self.movingToEmulatedInstructions = movingToEmulatedInstructions
        let (found, _) = try UprobeTarget(binary: library, symbol: "free", pid: Int32(bitPattern: pid)).resolve()
        guard let bytes = readFileBytes(found) else { throw AttachError("uprobe: cannot read \(found)") }
        let elf: ELFFile
        do { elf = try ELFFile(bytes: bytes) } catch { throw AttachError("uprobe: \(found): \(error)") }
        var addresses: [String: UInt64] = [:]
        for dynamic in [false, true] {
            var entries: [ELFFile.SymbolEntry] = []
            let strings = try elf.forEachSymbolEntry(dynamic: dynamic) { entry in
                if entry.isFunction && entry.isDefined && entry.value != 0 { entries.append(entry) }
            }
            guard let strings else { continue }
            for entry in entries {
                if let name = elf.symbolName(entry, in: strings), names.contains(name), addresses[name] == nil {
                    addresses[name] = entry.value
                }
            }
        }
        let root = "/proc/\(pid)/root"
        path = found.hasPrefix(root + "/") ? String(found.dropFirst(root.count)) : found
        self.addresses = addresses
    }

    /// The probe target for `name`, or nil when the library has no such function.
    func target(_ name: String, pid: UInt32) -> UprobeTarget? {
        addresses[name].map { address in
            var target = UprobeTarget(binary: path, offset: address, pid: Int32(bitPattern: pid))
            target.movesToEmulatedInstruction = movingToEmulatedInstructions  // free's first instruction costs a single-step
            return target
        }
    }
}
