/// Rust's legacy mangling: an Itanium-style nested name (`_ZN` length-prefixed components
/// `E`) whose last component is the hash `h` + 16 hex digits, with `$…$` escapes and `..`
/// for `::` inside components.
///
/// ```swift
/// RustLegacyDemangler.demangle("_ZN4core3fmt9Arguments6new_v117h0123456789abcdefE")
/// // "core::fmt::Arguments::new_v1"
/// RustLegacyDemangler.demangle("_ZN63_$LT$alloc..vec..Vec$LT$T$GT$$u20$as$u20$core..ops..Drop$GT$4drop17h0123456789abcdefE")
/// // "<alloc::vec::Vec<T> as core::ops::Drop>::drop"
/// ```
enum RustLegacyDemangler {
    /// True for `_ZN…E` names whose last component is a Rust hash.
    static func isRustLegacy(_ symbol: String) -> Bool {
        guard let components = components(of: Array(symbol.utf8)), let hash = components.last else { return false }
        return isHash(hash)
    }

    /// The demangled path without the hash, nil when `symbol` is not a well-formed legacy name.
    static func demangle(_ symbol: String) -> String? {
        guard let components = components(of: Array(symbol.utf8)), components.count >= 2,
              let hash = components.last, isHash(hash)
        else { return nil }
        var output: [UInt8] = []
        for (index, component) in components.dropLast().enumerated() {
            if index > 0 { output += Array("::".utf8) }
            guard decode(component, into: &output) else { return nil }
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// The length-prefixed components between `_ZN` and `E`; what follows `E` may only be a
    /// `.suffix` (LLVM's `.llvm.123`).
    private static func components(of bytes: [UInt8]) -> [ArraySlice<UInt8>]? {
        guard bytes.count > 4, bytes[0] == UInt8(ascii: "_"), bytes[1] == UInt8(ascii: "Z"), bytes[2] == UInt8(ascii: "N") else {
            return nil
        }
        var position = 3
        var result: [ArraySlice<UInt8>] = []
        while position < bytes.count, bytes[position] != UInt8(ascii: "E") {
            var length = 0
            let start = position
            while position < bytes.count, bytes[position] >= UInt8(ascii: "0"), bytes[position] <= UInt8(ascii: "9") {
                length = length * 10 + Int(bytes[position] - UInt8(ascii: "0"))
                position += 1
                guard length <= bytes.count else { return nil }
            }
            guard position > start, length > 0, length <= bytes.count - position else { return nil }
            result.append(bytes[position..<(position + length)])
            position += length
        }
        guard position < bytes.count else { return nil }  // no closing E
        position += 1
        guard position == bytes.count || bytes[position] == UInt8(ascii: ".") else { return nil }
        return result
    }

    private static func isHash(_ component: ArraySlice<UInt8>) -> Bool {
        guard component.count == 17, component.first == UInt8(ascii: "h") else { return false }
        return component.dropFirst().allSatisfy { isHexDigit($0) }
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "f"))
    }

    /// Appends one component with its escapes decoded; false on an unknown escape.
    private static func decode(_ component: ArraySlice<UInt8>, into output: inout [UInt8]) -> Bool {
        var rest = component
        // A component that would start with `$` is written with a leading `_`.
        if rest.count >= 2, rest.first == UInt8(ascii: "_"), rest[rest.startIndex + 1] == UInt8(ascii: "$") {
            rest = rest.dropFirst()
        }
        while let byte = rest.first {
            if byte == UInt8(ascii: ".") {
                if rest.count >= 2, rest[rest.startIndex + 1] == UInt8(ascii: ".") {
                    output += Array("::".utf8)
                    rest = rest.dropFirst(2)
                } else {
                    output.append(byte)
                    rest = rest.dropFirst()
                }
            } else if byte == UInt8(ascii: "$") {
                guard let end = rest.dropFirst().firstIndex(of: UInt8(ascii: "$")) else { return false }
                let escape = String(decoding: rest[(rest.startIndex + 1)..<end], as: UTF8.self)
                guard let text = unescape(escape) else { return false }
                output += Array(text.utf8)
                rest = rest[(end + 1)...]
            } else {
                output.append(byte)
                rest = rest.dropFirst()
            }
        }
        return true
    }

    private static func unescape(_ escape: String) -> String? {
        switch escape {
        case "SP": return "@"
        case "BP": return "*"
        case "RF": return "&"
        case "LT": return "<"
        case "GT": return ">"
        case "LP": return "("
        case "RP": return ")"
        case "C": return ","
        default:
            guard escape.hasPrefix("u"), escape.count > 1, escape.count <= 7,
                  let value = UInt32(escape.dropFirst(), radix: 16), let scalar = Unicode.Scalar(value)
            else { return nil }
            return String(Character(scalar))
        }
    }
}
