// A minimal ELF64 writer for unit tests: exactly the symbols, segments and notes a test needs.
@testable import BPFKit

struct TestELF {
    struct Symbol {
        var name: String
        var value: UInt64
        var size: UInt64
        /// 0 local, 1 global, 2 weak.
        var binding: UInt8 = 1
        /// 2 function, 1 object, 10 indirect function.
        var type: UInt8 = 2
        /// 0 undefined; 1 is `.text`.
        var section: UInt16 = 1
    }

    struct Segment {
        var offset: UInt64
        var virtualAddress: UInt64
        var fileSize: UInt64
        var memorySize: UInt64
        var executable = true
    }

    var fileType: UInt16 = 3
    var symbols: [Symbol] = []
    var dynamicSymbols: [Symbol] = []
    var segments: [Segment] = []
    var buildID: [UInt8]?
    var debugLink: (name: String, crc: UInt32)?

    func bytes() -> [UInt8] {
        var sectionNames: [UInt8] = [0]
        func sectionName(_ name: String) -> UInt32 {
            defer { sectionNames += Array(name.utf8) + [0] }
            return UInt32(sectionNames.count)
        }
        struct Section { var name: UInt32; var type: UInt32; var flags: UInt64 = 0; var address: UInt64 = 0; var data: [UInt8] = []; var size: UInt64 = 0; var link: UInt32 = 0; var info: UInt32 = 0; var entrySize: UInt64 = 0; var alignment: UInt64 = 1 }
        var sections: [Section] = [Section(name: 0, type: 0)]
        sections.append(Section(name: sectionName(".text"), type: 8, flags: 6, address: 0x1000, size: 0x10000, alignment: 16))

        func table(_ list: [Symbol]) -> (symbols: [UInt8], strings: [UInt8]) {
            var strings: [UInt8] = [0]
            var table = [UInt8](repeating: 0, count: 24)
            for symbol in list {
                var entry = [UInt8](repeating: 0, count: 24)
                entry.setInteger(UInt32(strings.count), at: 0)
                strings += Array(symbol.name.utf8) + [0]
                entry[4] = symbol.binding << 4 | symbol.type
                entry.setInteger(symbol.section, at: 6)
                entry.setInteger(symbol.value, at: 8)
                entry.setInteger(symbol.size, at: 16)
                table += entry
            }
            return (table, strings)
        }
        if !symbols.isEmpty {
            let (symbolBytes, strings) = table(symbols)
            let index = UInt32(sections.count)
            sections.append(Section(name: sectionName(".symtab"), type: 2, data: symbolBytes, link: index + 1, info: 1, entrySize: 24, alignment: 8))
            sections.append(Section(name: sectionName(".strtab"), type: 3, data: strings))
        }
        if !dynamicSymbols.isEmpty {
            let (symbolBytes, strings) = table(dynamicSymbols)
            let index = UInt32(sections.count)
            sections.append(Section(name: sectionName(".dynsym"), type: 11, flags: 2, data: symbolBytes, link: index + 1, info: 1, entrySize: 24, alignment: 8))
            sections.append(Section(name: sectionName(".dynstr"), type: 3, flags: 2, data: strings))
        }
        if let buildID {
            var note: [UInt8] = []
            note += withUnsafeBytes(of: UInt32(4).littleEndian, Array.init)
            note += withUnsafeBytes(of: UInt32(buildID.count).littleEndian, Array.init)
            note += withUnsafeBytes(of: UInt32(3).littleEndian, Array.init)
            note += Array("GNU".utf8) + [0]
            note += buildID
            while note.count % 4 != 0 { note.append(0) }
            sections.append(Section(name: sectionName(".note.gnu.build-id"), type: 7, flags: 2, data: note, alignment: 4))
        }
        if let debugLink {
            var data = Array(debugLink.name.utf8) + [0]
            while data.count % 4 != 0 { data.append(0) }
            data += withUnsafeBytes(of: debugLink.crc.littleEndian, Array.init)
            sections.append(Section(name: sectionName(".gnu_debuglink"), type: 1, data: data, alignment: 4))
        }
        let namesIndex = sections.count
        sections.append(Section(name: sectionName(".shstrtab"), type: 3))
        sections[namesIndex].data = sectionNames

        var file = [UInt8](repeating: 0, count: 64 + segments.count * 56)
        var offsets: [UInt64] = []
        for section in sections {
            while file.count % 8 != 0 { file.append(0) }
            offsets.append(UInt64(file.count))
            file += section.data
        }
        while file.count % 8 != 0 { file.append(0) }
        let sectionHeaders = file.count
        for (index, section) in sections.enumerated() {
            var header = [UInt8](repeating: 0, count: 64)
            header.setInteger(section.name, at: 0)
            header.setInteger(section.type, at: 4)
            header.setInteger(section.flags, at: 8)
            header.setInteger(section.address, at: 16)
            header.setInteger(section.type == 8 || index == 0 ? 0 : offsets[index], at: 24)
            header.setInteger(section.type == 8 ? section.size : UInt64(section.data.count), at: 32)
            header.setInteger(section.link, at: 40)
            header.setInteger(section.info, at: 44)
            header.setInteger(section.alignment, at: 48)
            header.setInteger(section.entrySize, at: 56)
            file += header
        }
        file[0] = 0x7f; file[1] = 0x45; file[2] = 0x4c; file[3] = 0x46
        file[4] = 2; file[5] = 1; file[6] = 1
        file.setInteger(fileType, at: 16)
        file.setInteger(UInt16(62), at: 18)
        file.setInteger(UInt32(1), at: 20)
        file.setInteger(UInt64(segments.isEmpty ? 0 : 64), at: 0x20)
        file.setInteger(UInt64(sectionHeaders), at: 0x28)
        file.setInteger(UInt16(64), at: 0x34)
        file.setInteger(UInt16(56), at: 0x36)
        file.setInteger(UInt16(segments.count), at: 0x38)
        file.setInteger(UInt16(64), at: 0x3a)
        file.setInteger(UInt16(sections.count), at: 0x3c)
        file.setInteger(UInt16(namesIndex), at: 0x3e)
        for (index, segment) in segments.enumerated() {
            let base = 64 + index * 56
            file.setInteger(UInt32(1), at: base)
            file.setInteger(UInt32(segment.executable ? 5 : 4), at: base + 4)
            file.setInteger(segment.offset, at: base + 8)
            file.setInteger(segment.virtualAddress, at: base + 16)
            file.setInteger(segment.virtualAddress, at: base + 24)
            file.setInteger(segment.fileSize, at: base + 32)
            file.setInteger(segment.memorySize, at: base + 40)
            file.setInteger(UInt64(0x1000), at: base + 48)
        }
        return file
    }
}
