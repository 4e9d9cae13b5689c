/// Reading only part of a large ELF file: its headers and the few sections a caller needs
/// (a symbolizer needs the symbol and string tables and the notes, not the 200 MB of code).
///
/// The selected sections are read through `read` (typically `pread` on an open file; this
/// layer makes no system calls itself) into a compact image that is itself a well-formed ELF
/// file, then parsed by ``ELFFile/init(bytes:)`` with all its bounds checks. In that image:
/// - the ELF and program headers are the file's own: `p_offset`, `p_vaddr`, `p_filesz` are
///   unchanged, so file offsets still convert to virtual addresses;
/// - every loaded section keeps its name, type, address and size, at a new offset;
/// - every other section keeps its address, size and flags but reads as `SHT_NOBITS`.
///
/// ```swift
/// let elf = try ELFFile(fileSize: size, loadingSections: { name, type in
///     type == ELFFile.Section.symtab || type == ELFFile.Section.note
/// }, read: { offset, buffer in pread(fd, buffer.baseAddress, buffer.count, off_t(offset)) == buffer.count })
/// let symbols = try elf.symbols()          // the string table linked from .symtab came along
/// ```
extension ELFFile {
    /// Reads the headers of a `fileSize`-byte ELF file and the sections `keep` selects (by
    /// name and type), plus the section name table and the string table of each selected
    /// symbol table. `read(offset, buffer)` must fill the whole buffer from that file offset
    /// and return false when it cannot.
    public init(
        fileSize: UInt64,
        loadingSections keep: (_ name: String, _ type: UInt32) -> Bool,
        read: (_ offset: UInt64, _ buffer: UnsafeMutableRawBufferPointer) -> Bool
    ) throws(ELFError) {
        func fits(_ offset: UInt64, _ length: UInt64) -> Bool { offset <= fileSize && length <= fileSize - offset }
        func block(_ offset: UInt64, _ count: Int, _ what: String) throws(ELFError) -> [UInt8] {
            var result = [UInt8](repeating: 0, count: count)
            let ok = result.withUnsafeMutableBytes { read(offset, $0) }
            guard ok else { throw ELFError("cannot read \(what) (\(count) bytes at offset \(offset))") }
            return result
        }

        guard fileSize >= 64 else { throw ELFError("file too short for an ELF header (\(fileSize) bytes)") }
        var header = try block(0, 64, "the ELF header")
        guard header[0] == 0x7f, header[1] == 0x45, header[2] == 0x4c, header[3] == 0x46 else { throw ELFError("bad magic") }
        guard header[4] == 2 else { throw ELFError("not a 64-bit ELF file") }
        guard header[5] == 1 else { throw ELFError("not a little-endian ELF file") }
        let programHeaderOffset: UInt64 = header.getInteger(at: 0x20)!
        let sectionHeaderOffset: UInt64 = header.getInteger(at: 0x28)!
        let programHeaderSize = Int(header.getInteger(at: 0x36, as: UInt16.self)!)
        let programHeaderCount = Int(header.getInteger(at: 0x38, as: UInt16.self)!)
        let sectionHeaderSize = Int(header.getInteger(at: 0x3a, as: UInt16.self)!)
        let sectionCount = Int(header.getInteger(at: 0x3c, as: UInt16.self)!)
        let namesIndex = Int(header.getInteger(at: 0x3e, as: UInt16.self)!)

        var programHeaders: [UInt8] = []
        if programHeaderCount > 0 {
            guard programHeaderSize >= 56 else { throw ELFError("program header size \(programHeaderSize) too small") }
            let length = programHeaderCount * programHeaderSize
            guard fits(programHeaderOffset, UInt64(length)) else { throw ELFError("program headers outside the file") }
            programHeaders = try block(programHeaderOffset, length, "the program headers")
        }

        struct RawSection {
            var name: UInt32, type: UInt32, flags: UInt64, address: UInt64, offset: UInt64, size: UInt64
            var link: UInt32, info: UInt32, alignment: UInt64, entrySize: UInt64
        }
        var raw: [RawSection] = []
        if sectionCount > 0 {
            guard sectionHeaderSize >= 64 else { throw ELFError("section header size \(sectionHeaderSize) too small") }
            let length = sectionCount * sectionHeaderSize
            guard fits(sectionHeaderOffset, UInt64(length)) else { throw ELFError("section headers outside the file") }
            let table = try block(sectionHeaderOffset, length, "the section headers")
            raw.reserveCapacity(sectionCount)
            for index in 0..<sectionCount {
                let base = index * sectionHeaderSize
                raw.append(RawSection(
                    name: table.getInteger(at: base)!, type: table.getInteger(at: base + 4)!,
                    flags: table.getInteger(at: base + 8)!, address: table.getInteger(at: base + 16)!,
                    offset: table.getInteger(at: base + 24)!, size: table.getInteger(at: base + 32)!,
                    link: table.getInteger(at: base + 40)!, info: table.getInteger(at: base + 44)!,
                    alignment: table.getInteger(at: base + 48)!, entrySize: table.getInteger(at: base + 56)!))
            }
            guard namesIndex < sectionCount else { throw ELFError("section name table index \(namesIndex) out of range") }
        }

        // Which sections to load: the selected ones, the name table, linked string tables.
        var kept = [Bool](repeating: false, count: raw.count)
        if !raw.isEmpty {
            let namesSection = raw[namesIndex]
            guard namesSection.type != Section.nobits, fits(namesSection.offset, namesSection.size) else {
                throw ELFError("section name table (offset \(namesSection.offset), size \(namesSection.size)) extends past the end of the file")
            }
            let names = try block(namesSection.offset, Int(namesSection.size), "the section name table")
            for index in raw.indices where raw[index].type != 0 && raw[index].type != Section.nobits {
                let nameOffset = Int(raw[index].name)
                guard nameOffset < names.count, let name = names.getCString(at: nameOffset) else {
                    throw ELFError("section \(index) name offset \(nameOffset) out of range")
                }
                kept[index] = keep(name, raw[index].type)
            }
            kept[namesIndex] = true
            for index in raw.indices where kept[index] && (raw[index].type == Section.symtab || raw[index].type == Section.dynsym) {
                let link = Int(raw[index].link)
                if link < raw.count, raw[link].type != Section.nobits, raw[link].type != 0 { kept[link] = true }
            }
            for index in raw.indices where kept[index] {
                guard fits(raw[index].offset, raw[index].size) else {
                    throw ELFError("section \(index) (offset \(raw[index].offset), size \(raw[index].size)) extends past the end of the file")
                }
            }
        }

        // Notes of files without sections live only in PT_NOTE segments: carry them along.
        var noteSegments: [(header: Int, offset: UInt64, size: Int)] = []
        if raw.isEmpty {
            for index in 0..<programHeaderCount {
                let base = index * programHeaderSize
                guard programHeaders.getInteger(at: base, as: UInt32.self) == ProgramHeader.note,
                      let offset = programHeaders.getInteger(at: base + 8, as: UInt64.self),
                      let size = programHeaders.getInteger(at: base + 32, as: UInt64.self),
                      size <= 1 << 20, fits(offset, size)
                else { continue }
                noteSegments.append((index, offset, Int(size)))
            }
        }

        // The compact image: header, program headers, loaded bytes, section headers.
        func aligned(_ value: Int) -> Int { (value + 7) & ~7 }
        var position = 64 + programHeaders.count
        var noteOffsets: [Int] = []
        for segment in noteSegments {
            position = aligned(position)
            noteOffsets.append(position)
            position += segment.size
        }
        let imageLimit = fileSize > UInt64(Int.max / 4) ? Int.max : Int(fileSize) * 2 + (1 << 20)
        var newOffsets = [Int](repeating: 0, count: raw.count)
        for index in raw.indices where kept[index] {
            position = aligned(position)
            newOffsets[index] = position
            position += Int(raw[index].size)
            guard position <= imageLimit else { throw ELFError("sections overlap beyond the file's size") }
        }
        position = aligned(position)
        let newSectionHeaderOffset = position
        let total = position + raw.count * 64

        header.setInteger(UInt64(programHeaderCount > 0 ? 64 : 0), at: 0x20)
        header.setInteger(UInt64(raw.isEmpty ? 0 : newSectionHeaderOffset), at: 0x28)
        header.setInteger(UInt16(64), at: 0x3a)
        for (slot, segment) in noteSegments.enumerated() {
            programHeaders.setInteger(UInt64(noteOffsets[slot]), at: segment.header * programHeaderSize + 8)
        }

        var failed: (offset: UInt64, size: UInt64)?
        let image = [UInt8](unsafeUninitializedCapacity: total) { buffer, count in
            let whole = UnsafeMutableRawBufferPointer(buffer)
            // Every byte is written once: copied headers, read sections, zeroed gaps.
            var cursor = 0
            func zero(upTo end: Int) {
                if end > cursor { UnsafeMutableRawBufferPointer(rebasing: whole[cursor..<end]).initializeMemory(as: UInt8.self, repeating: 0) }
                cursor = max(cursor, end)
            }
            func fill(_ start: Int, _ length: Int, from offset: UInt64) {
                zero(upTo: start)
                let target = UnsafeMutableRawBufferPointer(rebasing: whole[start..<(start + length)])
                if failed != nil || !read(offset, target) {
                    if failed == nil { failed = (offset, UInt64(length)) }
                    target.initializeMemory(as: UInt8.self, repeating: 0)
                }
                cursor = start + length
            }
            UnsafeMutableRawBufferPointer(rebasing: whole[0..<64]).copyBytes(from: header)
            UnsafeMutableRawBufferPointer(rebasing: whole[64..<(64 + programHeaders.count)]).copyBytes(from: programHeaders)
            cursor = 64 + programHeaders.count
            for (slot, segment) in noteSegments.enumerated() {
                fill(noteOffsets[slot], segment.size, from: segment.offset)
            }
            for index in raw.indices where kept[index] {
                fill(newOffsets[index], Int(raw[index].size), from: raw[index].offset)
            }
            zero(upTo: total)
            for (index, section) in raw.enumerated() {
                let base = newSectionHeaderOffset + index * 64
                let type = kept[index] || section.type == 0 ? section.type : Section.nobits
                let offset = kept[index] ? UInt64(newOffsets[index]) : section.offset
                whole.storeBytes(of: section.name.littleEndian, toByteOffset: base, as: UInt32.self)
                whole.storeBytes(of: type.littleEndian, toByteOffset: base + 4, as: UInt32.self)
                whole.storeBytes(of: section.flags.littleEndian, toByteOffset: base + 8, as: UInt64.self)
                whole.storeBytes(of: section.address.littleEndian, toByteOffset: base + 16, as: UInt64.self)
                whole.storeBytes(of: offset.littleEndian, toByteOffset: base + 24, as: UInt64.self)
                whole.storeBytes(of: section.size.littleEndian, toByteOffset: base + 32, as: UInt64.self)
                whole.storeBytes(of: section.link.littleEndian, toByteOffset: base + 40, as: UInt32.self)
                whole.storeBytes(of: section.info.littleEndian, toByteOffset: base + 44, as: UInt32.self)
                whole.storeBytes(of: section.alignment.littleEndian, toByteOffset: base + 48, as: UInt64.self)
                whole.storeBytes(of: section.entrySize.littleEndian, toByteOffset: base + 56, as: UInt64.self)
            }
            count = total
        }
        if let failed { throw ELFError("cannot read \(failed.size) bytes at offset \(failed.offset)") }
        try self.init(bytes: image)
    }
}
