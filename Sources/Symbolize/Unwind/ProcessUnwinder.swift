/// Unwinds one process's user stacks from the registers and stack copy a BPF program took
/// (`ip`, `sp`, `bp` and the bytes from `sp` up), with the CFI of each mapped ELF file —
/// for code built without frame pointers, where the kernel's own unwinder stops after a
/// frame or two.
///
/// Each step finds the mapping holding the address through the process's
/// ``ProcessSymbolizer`` (its `/proc/PID/maps`, shared with symbolization), the file's
/// ``CallFrameTable`` (from ``CallFrameCache``, one parse per file for all processes), the
/// row for the address, and from it the caller's `rip`, `rsp` and `rbp`. Code without CFI
/// (JIT code) is stepped over by its frame pointer when `rbp` points into the copy. The walk
/// stops honestly: at the outermost frame, or where the copy ends (``UnwoundStack/End/truncated``).
/// Not thread-safe: one unwinder per process per thread.
///
/// ```swift
/// let unwinder = ProcessUnwinder(symbolizer: ProcessSymbolizer(pid: pid))
/// let stack = stackBytes.withUnsafeBytes { unwinder.unwind(UserRegisters(ip: ip, sp: sp, bp: bp), stack: $0) }
/// stack.addresses      // leaf first
/// stack.end            // .complete, or .truncated when 16 KiB of stack were not enough
/// ```
public final class ProcessUnwinder {
    public let symbolizer: ProcessSymbolizer
    public let cache: CallFrameCache

    private struct MappingKey: Hashable {
        var start: UInt64
        var end: UInt64
        var inode: UInt64
    }

    /// What one code address needs: the row (nil: no CFI) and the bytes its expressions use.
    private struct Step {
        var row: UnwindRow
        var section: CallFrameSection
    }

    private var tables: [MappingKey: CallFrameTable?] = [:]
    private var steps: [UInt64: Step?] = [:]

    /// Files whose CFI could not be read, one line each.
    public private(set) var problems: [String] = []

    public init(symbolizer: ProcessSymbolizer, cache: CallFrameCache = .shared) {
        self.symbolizer = symbolizer
        self.cache = cache
    }

    /// Walks the stack. `stack` holds the memory from `registers.sp` upward.
    public func unwind(_ registers: UserRegisters, stack: UnsafeRawBufferPointer, maxDepth: Int = 127) -> UnwoundStack {
        let base = registers.sp
        let limit = base &+ UInt64(stack.count)
        /// The word at `address`: nil below the copy (nonsense) or past it (truncated).
        var pastCopy = false
        func load(_ address: UInt64) -> UInt64? {
            guard address >= base, address <= limit, limit - address >= 8 else {
                if address >= base { pastCopy = true }
                return nil
            }
            return stack.loadUnaligned(fromByteOffset: Int(address - base), as: UInt64.self)
        }

        var ip = registers.ip, sp = registers.sp
        var bp: UInt64? = registers.bp
        var addresses = [ip]
        var framePointerSteps = 0
        while addresses.count < maxDepth {
            let pc = addresses.count == 1 ? ip : ip &- 1
            let cfa: UInt64
            let returnAddress: UInt64
            var callerBP: UInt64? = bp
            if let step = step(at: pc) {
                let registerValue = { (register: Int) -> UInt64? in
                    switch register {
                    case DwarfRegister.rsp: return sp
                    case DwarfRegister.rbp: return bp
                    case DwarfRegister.returnAddress: return ip
                    default: return nil
                    }
                }
                switch step.row.cfa {
                case .registerOffset(let register, let offset):
                    guard let value = registerValue(register) else { return .init(addresses: addresses, end: .unsupported, framePointerSteps: framePointerSteps) }
                    cfa = value &+ UInt64(bitPattern: offset)
                case .expression(let range):
                    guard let value = DwarfExpression(bytes: step.section.bytes, range: range).evaluate(register: registerValue, load: load) else {
                        return .init(addresses: addresses, end: pastCopy ? .truncated : .unsupported, framePointerSteps: framePointerSteps)
                    }
                    cfa = value
                case .undefined:
                    return .init(addresses: addresses, end: .unsupported, framePointerSteps: framePointerSteps)
                }
                func recover(_ rule: RegisterRule, current: UInt64?) -> UInt64?? {
                    switch rule {
                    case .sameValue: return .some(current)
                    case .undefined: return .some(nil)
                    case .offset(let offset): return load(cfa &+ UInt64(bitPattern: offset)).map { .some($0) }
                    case .valueOffset(let offset): return .some(cfa &+ UInt64(bitPattern: offset))
                    case .register(let register): return .some(registerValue(register))
                    case .expression(let range):
                        let address = DwarfExpression(bytes: step.section.bytes, range: range).evaluate(initial: cfa, register: registerValue, load: load)
                        return address.flatMap(load).map { .some($0) }
                    case .valueExpression(let range):
                        return DwarfExpression(bytes: step.section.bytes, range: range).evaluate(initial: cfa, register: registerValue, load: load).map { .some($0) }
                    }
                }
                let returnRule = step.row[DwarfRegister.returnAddress]
                if returnRule == .undefined { return .init(addresses: addresses, end: .complete, framePointerSteps: framePointerSteps) }
                guard let recovered = recover(returnRule, current: nil), let value = recovered else {
                    return .init(addresses: addresses, end: pastCopy ? .truncated : .unsupported, framePointerSteps: framePointerSteps)
                }
                returnAddress = value
                // A saved rbp beyond the copy is unknown, not fatal: only frames that use it need it.
                callerBP = recover(step.row[DwarfRegister.rbp], current: bp) ?? nil
            } else {
                // No CFI: follow the frame pointer if it points into the copy, above sp.
                guard let frame = bp, frame >= sp, let savedBP = load(frame), let value = load(frame &+ 8) else {
                    return .init(addresses: addresses, end: pastCopy ? .truncated : .noUnwindInfo, framePointerSteps: framePointerSteps)
                }
                cfa = frame &+ 16
                returnAddress = value
                callerBP = savedBP
                framePointerSteps += 1
            }
            if returnAddress == 0 { return .init(addresses: addresses, end: .complete, framePointerSteps: framePointerSteps) }
            // The caller's frame lies above this one; anything else is a loop or garbage.
            guard cfa > sp || (cfa == sp && returnAddress != ip) else {
                return .init(addresses: addresses, end: .unsupported, framePointerSteps: framePointerSteps)
            }
            sp = cfa
            bp = callerBP
            ip = returnAddress
            addresses.append(returnAddress)
        }
        return .init(addresses: addresses, end: .depthLimit, framePointerSteps: framePointerSteps)
    }

    /// Whether every mapped executable file keeps frame pointers (so the kernel's
    /// frame-pointer walk suffices): files without CFI to judge by do not count against.
    public func keepsFramePointers() -> Bool {
        var judged = false
        for mapping in symbolizer.mappings where mapping.isExecutable && mapping.isFile {
            guard let table = table(for: mapping) else { continue }
            if let keeps = table.keepsFramePointers {
                if !keeps { return false }
                judged = true
            }
        }
        return judged
    }

    private func step(at address: UInt64) -> Step? {
        if let known = steps[address] { return known }
        var found: Step?
        if let mapping = symbolizer.mapping(containing: address), mapping.isExecutable, let table = table(for: mapping) {
            let fileOffset = address - mapping.start &+ mapping.offset
            let virtualAddress = mapping.path == "[vdso]" ? address - mapping.start : table.virtualAddress(fileOffset: fileOffset)
            if let virtualAddress, let (row, section) = table.rowAndSection(at: virtualAddress) {
                found = Step(row: row, section: section)
            }
        }
        if steps.count >= 1 << 14 { steps.removeAll(keepingCapacity: true) }
        steps[address] = found
        return found
    }

    private func table(for mapping: ProcessMapping) -> CallFrameTable? {
        let key = MappingKey(start: mapping.start, end: mapping.end, inode: mapping.inode)
        if let known = tables[key] { return known }
        var table: CallFrameTable?
        if mapping.path == "[vdso]" {
            if let image = symbolizer.vdsoImage(mapping) {
                do throws(SymbolizeError) { table = try cache.table(image: image, name: "[vdso]") } catch { problems.append(error.message) }
            }
        } else if mapping.isFile {
            var lastError: SymbolizeError?
            for path in symbolizer.filePaths(for: mapping) {
                do throws(SymbolizeError) {
                    table = try cache.table(forFileAt: path, originalPath: mapping.path, expectedInode: mapping.inode)
                    lastError = nil
                    break
                } catch {
                    lastError = error
                    if error.isMalformedFile { break }
                }
            }
            if let lastError { problems.append(lastError.message) }
        }
        tables[key] = table
        return table
    }
}
