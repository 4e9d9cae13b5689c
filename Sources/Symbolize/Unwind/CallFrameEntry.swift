/// A Common Information Entry: what the FDEs that point at it share (alignment factors, the
/// return-address column, pointer encoding, the initial instructions).
struct CommonInformationEntry {
    var codeAlignment: UInt64
    var dataAlignment: Int64
    var returnAddressRegister: UInt64
    var pointerEncoding: CFIReader.PointerEncoding
    var hasAugmentationData: Bool
    var isSignalFrame: Bool
    /// The initial instructions, as a range of the section's bytes.
    var instructions: Range<Int>
}

/// A Frame Description Entry: the code range it covers and its CFA instructions.
struct FrameDescriptionEntry {
    var cie: CommonInformationEntry
    var start: UInt64
    var length: UInt64
    var instructions: Range<Int>

    func covers(_ address: UInt64) -> Bool { address >= start && address - start < length }
}

/// Parsing one entry of `.eh_frame` (`isDebugFrame` false) or `.debug_frame` (true). The two
/// differ in how a CIE is marked (id 0 vs. 0xffffffff), how an FDE names its CIE (a backward
/// distance vs. a section offset) and in `.debug_frame` pointers being absolute.
struct CallFrameSection {
    let bytes: [UInt8]
    /// The section's virtual address (for pc-relative pointers).
    let address: UInt64
    let isDebugFrame: Bool

    /// The header of the entry at `offset`: where its body starts and ends, and its CIE
    /// pointer field (with the field's own position). Nil at a terminator or when malformed.
    struct EntryHeader {
        var bodyStart: Int
        var end: Int
        var idPosition: Int
        var id: UInt64
        var is64Bit: Bool
    }

    func header(at offset: Int) -> EntryHeader? {
        var reader = CFIReader(bytes, base: address, position: offset)
        guard let length32 = reader.readInteger(UInt32.self), length32 != 0 else { return nil }
        var length = UInt64(length32)
        var is64Bit = false
        if length32 == 0xffff_ffff {
            guard let length64 = reader.readInteger(UInt64.self) else { return nil }
            length = length64
            is64Bit = true
        }
        let bodyStart = reader.position
        guard length <= UInt64(bytes.count - bodyStart) else { return nil }
        let end = bodyStart + Int(length)
        reader.end = end
        let idPosition = reader.position
        let id: UInt64
        if is64Bit {
            guard let value = reader.readInteger(UInt64.self) else { return nil }
            id = value
        } else {
            guard let value = reader.readInteger(UInt32.self) else { return nil }
            id = UInt64(value)
        }
        return EntryHeader(bodyStart: reader.position, end: end, idPosition: idPosition, id: id, is64Bit: is64Bit)
    }

    func isCIE(_ header: EntryHeader) -> Bool {
        isDebugFrame ? header.id == (header.is64Bit ? UInt64.max : 0xffff_ffff) : header.id == 0
    }

    /// The CIE at `offset`.
    func cie(at offset: Int) -> CommonInformationEntry? {
        guard let header = header(at: offset), isCIE(header) else { return nil }
        var reader = CFIReader(bytes, base: address, position: header.bodyStart, end: header.end)
        guard let version = reader.readInteger(UInt8.self), version == 1 || version == 3 || version == 4,
              let augmentation = reader.readCString()
        else { return nil }
        if version == 4 {
            // address_size and segment_selector_size; only flat 8-byte addresses are read.
            guard let addressSize = reader.readInteger(UInt8.self), reader.readInteger(UInt8.self) == 0, addressSize == 8 else { return nil }
        }
        // "eh" (an old GCC extension) carries a pointer we cannot interpret: refuse it.
        guard !augmentation.starts(with: Array("eh".utf8)),
              let codeAlignment = reader.readULEB(), let dataAlignment = reader.readSLEB()
        else { return nil }
        let returnRegister: UInt64
        if version == 1 {
            guard let value = reader.readInteger(UInt8.self) else { return nil }
            returnRegister = UInt64(value)
        } else {
            guard let value = reader.readULEB() else { return nil }
            returnRegister = value
        }
        var cie = CommonInformationEntry(
            codeAlignment: codeAlignment, dataAlignment: dataAlignment, returnAddressRegister: returnRegister,
            pointerEncoding: .absolute, hasAugmentationData: false, isSignalFrame: false,
            instructions: 0..<0)
        if augmentation.first == UInt8(ascii: "z") {
            cie.hasAugmentationData = true
            guard let dataLength = reader.readULEB(), dataLength <= UInt64(reader.remaining) else { return nil }
            let dataEnd = reader.position + Int(dataLength)
            for character in augmentation.dropFirst() {
                switch character {
                case UInt8(ascii: "R"):
                    guard let encoding = reader.readInteger(UInt8.self) else { return nil }
                    cie.pointerEncoding = .init(rawValue: encoding)
                case UInt8(ascii: "L"):
                    guard reader.readInteger(UInt8.self) != nil else { return nil }
                case UInt8(ascii: "P"):
                    guard let encoding = reader.readInteger(UInt8.self) else { return nil }
                    // Skip the personality pointer without following it.
                    var skipper = reader
                    skipper.end = dataEnd
                    _ = skipper.readPointer(.init(rawValue: encoding & 0x7f))
                    guard skipper.position <= dataEnd else { return nil }
                    reader.position = skipper.position
                case UInt8(ascii: "S"):
                    cie.isSignalFrame = true
                case UInt8(ascii: "B"), UInt8(ascii: "G"):
                    break
                default:
                    // Unknown augmentation: the data length lets us skip the rest safely.
                    reader.position = dataEnd
                }
                if reader.position >= dataEnd { break }
            }
            reader.position = dataEnd
        } else if !augmentation.isEmpty {
            return nil  // without "z" an unknown augmentation cannot be skipped
        }
        guard reader.position <= header.end else { return nil }
        cie.instructions = reader.position..<header.end
        return cie
    }

    /// The FDE at `offset`, with its CIE.
    func fde(at offset: Int) -> FrameDescriptionEntry? {
        guard let header = header(at: offset), !isCIE(header) else { return nil }
        let cieOffset: Int
        if isDebugFrame {
            guard header.id < UInt64(bytes.count) else { return nil }
            cieOffset = Int(header.id)
        } else {
            guard header.id <= UInt64(header.idPosition) else { return nil }
            cieOffset = header.idPosition - Int(header.id)
        }
        guard let cie = cie(at: cieOffset) else { return nil }
        var reader = CFIReader(bytes, base: address, position: header.bodyStart, end: header.end)
        let encoding = isDebugFrame ? .absolute : cie.pointerEncoding
        guard let start = reader.readPointer(encoding),
              let length = reader.readPointer(.init(rawValue: encoding.rawValue & 0x0f))
        else { return nil }
        if cie.hasAugmentationData {
            guard let dataLength = reader.readULEB(), dataLength <= UInt64(reader.remaining) else { return nil }
            reader.position += Int(dataLength)
        }
        return FrameDescriptionEntry(cie: cie, start: start, length: length, instructions: reader.position..<header.end)
    }

    /// Every FDE's start address and offset, in section order (for a section without a
    /// binary-search table, or `.debug_frame`).
    func scanFDEs() -> [(start: UInt64, offset: Int)] {
        var result: [(start: UInt64, offset: Int)] = []
        var offset = 0
        var cies: [Int: CommonInformationEntry] = [:]
        while offset < bytes.count, let header = header(at: offset) {
            defer { offset = header.end }
            guard !isCIE(header) else { continue }
            let cieOffset: Int
            if isDebugFrame {
                guard header.id < UInt64(bytes.count) else { continue }
                cieOffset = Int(header.id)
            } else {
                guard header.id <= UInt64(header.idPosition) else { continue }
                cieOffset = header.idPosition - Int(header.id)
            }
            if cies[cieOffset] == nil { cies[cieOffset] = cie(at: cieOffset) }
            guard let cie = cies[cieOffset] else { continue }
            var reader = CFIReader(bytes, base: address, position: header.bodyStart, end: header.end)
            guard let start = reader.readPointer(isDebugFrame ? .absolute : cie.pointerEncoding),
                  let length = reader.readPointer(.init(rawValue: (isDebugFrame ? 0 : cie.pointerEncoding.rawValue) & 0x0f)),
                  length > 0
            else { continue }
            result.append((start, offset))
        }
        return result
    }
}
