/// ELF notes (`SHT_NOTE` sections, or `PT_NOTE` segments in files without sections), the GNU
/// build-id and the `.gnu_debuglink` of a stripped file: what symbolizers use to find a
/// binary's separate debug file.
///
/// ```swift
/// let elf = try ELFFile(bytes: readFileBytes("/usr/bin/ls")!)
/// if let id = elf.buildID { print(ELFFile.hex(id)) }          // e.g. "7a7a9a3e…"
/// if let link = elf.debugLink { print(link.fileName) }        // e.g. "ls.debug"
/// ```
extension ELFFile {
    /// One note: its owner (`"GNU"`), type and payload (`Elf64_Nhdr` followed by name and descriptor).
    public struct Note: Sendable, Equatable {
        public var name: String
        public var type: UInt32
        public var descriptor: [UInt8]

        /// `NT_GNU_BUILD_ID`: the descriptor is the build-id, usually 20 bytes (SHA-1).
        public static let gnuBuildID: UInt32 = 3
    }

    /// The contents of a `.gnu_debuglink` section: the separate debug file's name (no
    /// directory) and the CRC-32 of that whole file.
    public struct DebugLink: Sendable, Equatable {
        public var fileName: String
        public var crc: UInt32
    }

    /// The notes of every `SHT_NOTE` section, or of every `PT_NOTE` segment when the file has
    /// no note sections. A malformed note ends its section's list; it never traps.
    public var notes: [Note] {
        var result: [Note] = []
        let noteSections = sections.filter { $0.type == Section.note }
        if !noteSections.isEmpty {
            for section in noteSections {
                let alignment = rawAlignment(table: 0x28, entrySize: 0x3a, index: section.index, field: 48)
                result += Self.parseNotes(bytes, from: section.offset, length: section.size, alignment: alignment)
            }
            return result
        }
        for (index, header) in programHeaders.enumerated() where header.type == ProgramHeader.note {
            guard header.offset <= UInt64(Int.max), header.fileSize <= UInt64(Int.max) else { continue }
            let alignment = rawAlignment(table: 0x20, entrySize: 0x36, index: index, field: 48)
            result += Self.parseNotes(bytes, from: Int(header.offset), length: Int(header.fileSize), alignment: alignment)
        }
        return result
    }

    /// The GNU build-id (`NT_GNU_BUILD_ID` note owned by `"GNU"`), nil when there is none.
    public var buildID: [UInt8]? {
        notes.first { $0.type == Note.gnuBuildID && $0.name == "GNU" && !$0.descriptor.isEmpty }?.descriptor
    }

    /// The `.gnu_debuglink` section, nil when absent or malformed.
    public var debugLink: DebugLink? {
        guard let section = section(named: ".gnu_debuglink"), section.type != Section.nobits,
              let contents = bytes.getBytes(at: section.offset, length: section.size),
              let end = contents.firstIndex(of: 0), end > contents.startIndex
        else { return nil }
        let name = String(decoding: contents[contents.startIndex..<end], as: UTF8.self)
        // The CRC follows the name's NUL, aligned to 4 bytes from the section start.
        let crcOffset = ((end - contents.startIndex) + 1 + 3) & ~3
        guard let crc = contents.getInteger(at: crcOffset, as: UInt32.self) else { return nil }
        return DebugLink(fileName: name, crc: crc)
    }

    /// Lowercase hex digits of `bytes`: how build-ids are written in paths and by tools.
    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0xf)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// Parses the notes in `length` bytes at `from`; notes are padded to `alignment` (4 or 8).
    static func parseNotes(_ bytes: [UInt8], from start: Int, length: Int, alignment: Int) -> [Note] {
        guard let region = bytes.getBytes(at: start, length: length) else { return [] }
        let align = alignment == 8 ? 8 : 4
        func padded(_ value: Int) -> Int { (value + align - 1) & ~(align - 1) }
        var notes: [Note] = []
        var position = 0
        while position + 12 <= region.count {
            guard let nameSize = region.getInteger(at: position, as: UInt32.self),
                  let descriptorSize = region.getInteger(at: position + 4, as: UInt32.self),
                  let type = region.getInteger(at: position + 8, as: UInt32.self)
            else { break }
            let nameStart = position + 12
            let descriptorStart = padded(nameStart + Int(nameSize))
            let next = padded(descriptorStart + Int(descriptorSize))
            guard nameStart + Int(nameSize) <= region.count, descriptorStart + Int(descriptorSize) <= region.count else { break }
            let base = region.startIndex
            var nameBytes = region[(base + nameStart)..<(base + nameStart + Int(nameSize))]
            if let nul = nameBytes.firstIndex(of: 0) { nameBytes = nameBytes[nameBytes.startIndex..<nul] }
            notes.append(Note(
                name: String(decoding: nameBytes, as: UTF8.self), type: type,
                descriptor: Array(region[(base + descriptorStart)..<(base + descriptorStart + Int(descriptorSize))])))
            guard next > position else { break }
            position = next
        }
        return notes
    }

    /// The alignment field of section or program header `index`, read from the raw header
    /// table (the parsed headers do not keep it); 4 when unreadable.
    private func rawAlignment(table tableOffsetField: Int, entrySize entrySizeField: Int, index: Int, field: Int) -> Int {
        guard let table = bytes.getInteger(at: tableOffsetField, as: UInt64.self),
              let entrySize = bytes.getInteger(at: entrySizeField, as: UInt16.self),
              table <= UInt64(Int.max / 2)
        else { return 4 }
        let position = Int(table) &+ index &* Int(entrySize) &+ field
        guard let alignment = bytes.getInteger(at: position, as: UInt64.self) else { return 4 }
        return alignment == 8 ? 8 : 4
    }
}

extension ELFFile.Section {
    /// SHT_NOTE.
    public static let note: UInt32 = 7
}

extension ELFFile.ProgramHeader {
    /// PT_NOTE.
    public static let note: UInt32 = 4
    /// PF_X: the segment is executable.
    public var isExecutable: Bool { flags & 1 != 0 }
}
