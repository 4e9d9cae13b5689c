/// A cursor over untrusted call-frame bytes (`.eh_frame`, `.eh_frame_hdr`, `.debug_frame`):
/// every `read…` advances and returns nil instead of reading past `end`, so malformed CFI
/// ends a parse, never the process.
struct CFIReader {
    let bytes: [UInt8]
    /// The section's virtual address: pc-relative pointers are relative to `base + position`.
    let base: UInt64
    var position: Int
    var end: Int

    init(_ bytes: [UInt8], base: UInt64 = 0, position: Int = 0, end: Int? = nil) {
        self.bytes = bytes
        self.base = base
        self.position = position
        self.end = min(end ?? bytes.count, bytes.count)
    }

    var isAtEnd: Bool { position >= end }
    var remaining: Int { max(0, end - position) }

    mutating func readInteger<T: FixedWidthInteger>(_: T.Type = T.self) -> T? {
        let size = MemoryLayout<T>.size
        guard position >= 0, size <= end - position else { return nil }
        var value: T = 0
        for index in 0..<size { value |= T(truncatingIfNeeded: bytes[position + index]) << (8 * index) }
        position += size
        return value
    }

    mutating func readULEB() -> UInt64? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while position < end {
            let byte = bytes[position]
            position += 1
            if shift < 64 { result |= UInt64(byte & 0x7f) << shift }
            shift += 7
            if byte & 0x80 == 0 { return result }
        }
        return nil
    }

    mutating func readSLEB() -> Int64? {
        var result: Int64 = 0
        var shift: UInt64 = 0
        while position < end {
            let byte = bytes[position]
            position += 1
            if shift < 64 { result |= Int64(byte & 0x7f) << shift }
            shift += 7
            if byte & 0x80 == 0 {
                if shift < 64 && byte & 0x40 != 0 { result |= Int64(bitPattern: ~UInt64(0) << shift) }
                return result
            }
        }
        return nil
    }

    /// A NUL-terminated string (the CIE augmentation).
    mutating func readCString() -> [UInt8]? {
        var bytesRead: [UInt8] = []
        while position < end {
            let byte = bytes[position]
            position += 1
            if byte == 0 { return bytesRead }
            guard bytesRead.count < 16 else { return nil }
            bytesRead.append(byte)
        }
        return nil
    }

    mutating func skip(_ count: Int) -> Bool {
        guard count >= 0, count <= end - position else { return false }
        position += count
        return true
    }

    /// Which `DW_EH_PE_*` encoding a pointer uses.
    struct PointerEncoding: Equatable {
        var rawValue: UInt8
        static let omit = PointerEncoding(rawValue: 0xff)
        static let absolute = PointerEncoding(rawValue: 0x00)
    }

    /// Reads a pointer in `encoding`. pc-relative values are made absolute against `base`;
    /// data-relative ones against `dataBase` (the `.eh_frame_hdr` start). Indirect pointers
    /// (a pointer to the pointer, used only for personality routines) return nil.
    mutating func readPointer(_ encoding: PointerEncoding, dataBase: UInt64 = 0) -> UInt64? {
        if encoding == .omit { return nil }
        let fieldAddress = base &+ UInt64(max(position, 0))
        let value: UInt64
        switch encoding.rawValue & 0x0f {
        case 0x00: guard let raw = readInteger(UInt64.self) else { return nil }; value = raw
        case 0x01: guard let raw = readULEB() else { return nil }; value = raw
        case 0x02: guard let raw = readInteger(UInt16.self) else { return nil }; value = UInt64(raw)
        case 0x03: guard let raw = readInteger(UInt32.self) else { return nil }; value = UInt64(raw)
        case 0x04: guard let raw = readInteger(UInt64.self) else { return nil }; value = raw
        case 0x09: guard let raw = readSLEB() else { return nil }; value = UInt64(bitPattern: raw)
        case 0x0a: guard let raw = readInteger(Int16.self) else { return nil }; value = UInt64(bitPattern: Int64(raw))
        case 0x0b: guard let raw = readInteger(Int32.self) else { return nil }; value = UInt64(bitPattern: Int64(raw))
        case 0x0c: guard let raw = readInteger(Int64.self) else { return nil }; value = UInt64(bitPattern: raw)
        default: return nil
        }
        switch encoding.rawValue & 0x70 {
        case 0x00: break
        case 0x10: return encoding.rawValue & 0x80 != 0 ? nil : fieldAddress &+ value
        case 0x30: return encoding.rawValue & 0x80 != 0 ? nil : dataBase &+ value
        default: return nil
        }
        return encoding.rawValue & 0x80 != 0 ? nil : value
    }

    /// The size of a fixed-size encoding, nil for LEB128 or unknown ones.
    static func fixedSize(_ encoding: PointerEncoding) -> Int? {
        switch encoding.rawValue & 0x0f {
        case 0x00, 0x04, 0x0c: return 8
        case 0x02, 0x0a: return 2
        case 0x03, 0x0b: return 4
        default: return nil
        }
    }
}
