/// CRC-32 (IEEE 802.3, reflected, as zlib and `.gnu_debuglink` compute it).
///
/// ```swift
/// var crc = CRC32()
/// crc.update(Array("123456789".utf8)[...])
/// crc.value   // 0xcbf43926
/// ```
struct CRC32 {
    private static let table: [UInt32] = (0..<256).map { index in
        var value = UInt32(index)
        for _ in 0..<8 { value = value & 1 != 0 ? 0xedb8_8320 ^ (value >> 1) : value >> 1 }
        return value
    }
    private var state: UInt32 = 0xffff_ffff

    mutating func update(_ bytes: ArraySlice<UInt8>) {
        var crc = state
        Self.table.withUnsafeBufferPointer { table in
            for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xff)] ^ (crc >> 8) }
        }
        state = crc
    }

    var value: UInt32 { state ^ 0xffff_ffff }
}
