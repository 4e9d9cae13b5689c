/// Raw symbol-table entries, with names left as offsets into the string table: for tables of
/// hundreds of thousands of symbols (a compiler's `.symtab`), where making a `String` for
/// every name would cost more than the rest of the parse.
///
/// ```swift
/// var functions: [ELFFile.SymbolEntry] = []
/// let strings = try elf.forEachSymbolEntry { entry in
///     if entry.isFunction && entry.isDefined { functions.append(entry) }
/// }
/// if let strings { print(functions.compactMap { elf.symbolName($0, in: strings) }) }
/// ```
extension ELFFile {
    /// One `Elf64_Sym`.
    public struct SymbolEntry: Sendable, Equatable {
        /// Offset of the name in the table's string section.
        public var nameOffset: UInt32
        /// `st_info`: binding in the high nibble, type in the low one.
        public var info: UInt8
        /// `st_shndx`; 0 is SHN_UNDEF.
        public var sectionIndex: UInt16
        public var value: UInt64
        public var size: UInt64

        /// 0 local, 1 global, 2 weak.
        public var binding: UInt8 { info >> 4 }
        /// 0 none, 1 object, 2 func, 3 section, 4 file, 10 GNU indirect function.
        public var type: UInt8 { info & 0xf }
        /// STT_FUNC or STT_GNU_IFUNC.
        public var isFunction: Bool { type == 2 || type == 10 }
        /// Defined in this file (not SHN_UNDEF).
        public var isDefined: Bool { sectionIndex != 0 }
    }

    /// Calls `body` with every entry of the first SHT_SYMTAB (or, with `dynamic`, SHT_DYNSYM)
    /// section and returns its string table section; nil when there is no such table.
    @discardableResult
    public func forEachSymbolEntry(dynamic: Bool = false, _ body: (SymbolEntry) -> Void) throws(ELFError) -> Section? {
        let wanted = dynamic ? Section.dynsym : Section.symtab
        guard let table = sections.first(where: { $0.type == wanted }) else { return nil }
        guard Int(table.link) < sections.count, table.link != 0 else {
            throw ELFError("symbol table \(table.name) links to string table \(table.link), out of range")
        }
        let strings = sections[Int(table.link)]
        guard strings.type != Section.nobits, table.type != Section.nobits,
              bytes.getBytes(at: table.offset, length: table.size) != nil
        else { throw ELFError("symbol table \(table.name) has no contents") }
        let count = table.size / 24
        bytes.withUnsafeBytes { buffer in
            var base = table.offset
            for _ in 0..<count {
                body(SymbolEntry(
                    nameOffset: UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: base, as: UInt32.self)),
                    info: buffer[base + 4],
                    sectionIndex: UInt16(littleEndian: buffer.loadUnaligned(fromByteOffset: base + 6, as: UInt16.self)),
                    value: UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: base + 8, as: UInt64.self)),
                    size: UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: base + 16, as: UInt64.self))))
                base += 24
            }
        }
        return strings
    }

    /// The name of `entry` in string section `strings`, nil when its offset is out of range.
    public func symbolName(_ entry: SymbolEntry, in strings: Section) -> String? {
        guard Int(entry.nameOffset) < strings.size else { return nil }
        return bytes.getCString(at: strings.offset + Int(entry.nameOffset))
    }
}
