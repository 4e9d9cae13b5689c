/// The value of one ASCII hexadecimal digit (either case), nil for any other byte: shared by
/// the text parsers (kallsyms, perf maps, /proc/PID/maps).
///
/// ```swift
/// hexDigitValue(UInt8(ascii: "c"))   // 12
/// hexDigitValue(UInt8(ascii: "x"))   // nil
/// ```
@inline(__always)
func hexDigitValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case 0x30...0x39: byte - 0x30
    case 0x61...0x66: byte - 0x61 + 10
    case 0x41...0x46: byte - 0x41 + 10
    default: nil
    }
}
