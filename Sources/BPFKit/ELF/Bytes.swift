/// Little-endian reads from untrusted bytes: each `get…(at:)` returns nil when the read
/// would leave the buffer, so a malformed file becomes an error, never a trap.
extension Array where Element == UInt8 {
    @inlinable
    func getInteger<T: FixedWidthInteger>(at offset: Int, as: T.Type = T.self) -> T? {
        let size = MemoryLayout<T>.size
        guard offset >= 0, offset <= count - size else { return nil }
        return withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
    }

    /// The NUL-terminated string starting at `offset` (to the end if there is no NUL).
    func getCString(at offset: Int) -> String? {
        guard offset >= 0, offset < count else { return offset == count ? "" : nil }
        var end = offset
        while end < count && self[end] != 0 { end += 1 }
        return String(decoding: self[offset..<end], as: UTF8.self)
    }

    /// `length` bytes from `offset`, or nil when they are not all inside the buffer.
    func getBytes(at offset: Int, length: Int) -> ArraySlice<UInt8>? {
        guard offset >= 0, length >= 0, offset <= count, length <= count - offset else { return nil }
        return self[offset..<(offset + length)]
    }

    mutating func setInteger<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        withUnsafeMutableBytes { $0.storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self) }
    }
}

extension ArraySlice where Element == UInt8 {
    func getInteger<T: FixedWidthInteger>(at offset: Int, as: T.Type = T.self) -> T? {
        let size = MemoryLayout<T>.size
        guard offset >= 0, offset <= count - size else { return nil }
        return withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
    }
}
