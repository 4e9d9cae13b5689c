/// Punycode (RFC 3492) decoding as Rust's v0 mangling uses it for non-ASCII identifiers:
/// the delimiter between the ASCII part and the encoded part is `_` instead of `-`.
///
/// ```swift
/// Punycode.decodeRustIdentifier(Array("gdel_5qa".utf8)[...])   // "gödel"
/// Punycode.decodeRustIdentifier(Array("n84amf".utf8)[...])     // "铁锈"
/// ```
enum Punycode {
    private static let base = 36, tMin = 1, tMax = 26, skew = 38, damp = 700
    private static let initialBias = 72, initialN = 128

    /// The decoded identifier, nil when `bytes` is not valid Punycode.
    static func decodeRustIdentifier(_ bytes: ArraySlice<UInt8>) -> String? {
        var basic: ArraySlice<UInt8> = []
        var encoded = bytes
        if let delimiter = bytes.lastIndex(of: UInt8(ascii: "_")) {
            basic = bytes[bytes.startIndex..<delimiter]
            encoded = bytes[(delimiter + 1)...]
        }
        guard basic.allSatisfy({ $0 < 0x80 }), bytes.count <= 4096 else { return nil }
        var scalars: [UInt32] = basic.map { UInt32($0) }
        var n = initialN, bias = initialBias, i = 0
        var position = encoded.startIndex
        while position < encoded.endIndex {
            let oldI = i
            var weight = 1
            var k = base
            while true {
                guard position < encoded.endIndex else { return nil }
                let byte = encoded[position]
                position += 1
                let digit: Int
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"): digit = Int(byte - UInt8(ascii: "a"))
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = Int(byte - UInt8(ascii: "0")) + 26
                default: return nil
                }
                let (product, overflow1) = digit.multipliedReportingOverflow(by: weight)
                let (sum, overflow2) = i.addingReportingOverflow(product)
                guard !overflow1, !overflow2 else { return nil }
                i = sum
                let threshold = k <= bias ? tMin : (k >= bias + tMax ? tMax : k - bias)
                if digit < threshold { break }
                let (nextWeight, overflow3) = weight.multipliedReportingOverflow(by: base - threshold)
                guard !overflow3 else { return nil }
                weight = nextWeight
                k += base
            }
            let count = scalars.count + 1
            bias = adapt(delta: i - oldI, count: count, first: oldI == 0)
            let (nextN, overflow) = n.addingReportingOverflow(i / count)
            guard !overflow, nextN <= 0x10ffff else { return nil }
            n = nextN
            i %= count
            scalars.insert(UInt32(n), at: i)
            i += 1
        }
        var text = ""
        for value in scalars {
            guard let scalar = Unicode.Scalar(value) else { return nil }
            text.unicodeScalars.append(scalar)
        }
        return text
    }

    private static func adapt(delta: Int, count: Int, first: Bool) -> Int {
        var delta = first ? delta / damp : delta / 2
        delta += delta / count
        var k = 0
        while delta > ((base - tMin) * tMax) / 2 {
            delta /= base - tMin
            k += base
        }
        return k + (base - tMin + 1) * delta / (delta + skew)
    }
}
