/// Reading JSON text (RFC 8259) into a ``JSON`` value, for configuration files: no
/// Foundation on the tools' path. Integers without a fraction or exponent stay exact
/// (`.int`, or `.unsigned` above `Int64.max`); other numbers are `.double`.
extension JSON {
    /// Parses a whole document; anything but white space after the value is an error.
    public static func parse(_ text: String) throws(JSONParseError) -> JSON {
        var parser = JSONParser(bytes: Array(text.utf8))
        let value = try parser.value(depth: 0)
        parser.skipWhiteSpace()
        if parser.position < parser.bytes.count { throw parser.error("unexpected text after the JSON value") }
        return value
    }

    /// The value under `key`, when this is an object that has it.
    public subscript(key: String) -> JSON? {
        guard case .object(let fields) = self else { return nil }
        return fields.first { $0.0 == key }?.1
    }
}

/// Where and why a JSON text does not parse: "line 3, column 7: expected ':'".
public struct JSONParseError: Error, CustomStringConvertible, Sendable {
    public let line: Int
    public let column: Int
    public let reason: String

    public var description: String { "line \(line), column \(column): \(reason)" }
}

/// A recursive-descent reader over UTF-8 bytes.
private struct JSONParser {
    let bytes: [UInt8]
    var position = 0

    /// Nesting deeper than this is refused rather than risking the stack.
    static let maximumDepth = 256

    mutating func value(depth: Int) throws(JSONParseError) -> JSON {
        if depth > Self.maximumDepth { throw error("nested too deeply") }
        skipWhiteSpace()
        guard let byte = peek() else { throw error("unexpected end of text, expected a value") }
        switch byte {
        case UInt8(ascii: "{"): return try object(depth: depth)
        case UInt8(ascii: "["): return try array(depth: depth)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw error("unexpected character '\(Character(Unicode.Scalar(byte)))', expected a value")
        }
    }

    private mutating func object(depth: Int) throws(JSONParseError) -> JSON {
        position += 1
        var fields: [(String, JSON)] = []
        skipWhiteSpace()
        if peek() == UInt8(ascii: "}") { position += 1; return .object(fields) }
        while true {
            skipWhiteSpace()
            guard peek() == UInt8(ascii: "\"") else { throw error("expected a string key") }
            let key = try string()
            if fields.contains(where: { $0.0 == key }) { throw error("duplicate key \"\(key)\"") }
            skipWhiteSpace()
            try expect(":")
            fields.append((key, try value(depth: depth + 1)))
            skipWhiteSpace()
            if peek() == UInt8(ascii: ",") { position += 1; continue }
            try expect("}")
            return .object(fields)
        }
    }

    private mutating func array(depth: Int) throws(JSONParseError) -> JSON {
        position += 1
        var values: [JSON] = []
        skipWhiteSpace()
        if peek() == UInt8(ascii: "]") { position += 1; return .array(values) }
        while true {
            values.append(try value(depth: depth + 1))
            skipWhiteSpace()
            if peek() == UInt8(ascii: ",") { position += 1; continue }
            try expect("]")
            return .array(values)
        }
    }

    private mutating func string() throws(JSONParseError) -> String {
        position += 1
        var scalars = String.UnicodeScalarView()
        var start = position
        func flush(_ end: Int) { scalars.append(contentsOf: String(decoding: bytes[start..<end], as: UTF8.self).unicodeScalars) }
        while let byte = peek() {
            switch byte {
            case UInt8(ascii: "\""):
                flush(position)
                position += 1
                return String(scalars)
            case UInt8(ascii: "\\"):
                flush(position)
                position += 1
                scalars.append(try escape())
                start = position
            case 0..<0x20:
                throw error("control character in a string")
            default:
                position += 1
            }
        }
        throw error("unterminated string")
    }

    private mutating func escape() throws(JSONParseError) -> Unicode.Scalar {
        guard let byte = peek() else { throw error("unterminated string") }
        position += 1
        switch byte {
        case UInt8(ascii: "\""): return "\""
        case UInt8(ascii: "\\"): return "\\"
        case UInt8(ascii: "/"): return "/"
        case UInt8(ascii: "b"): return "\u{08}"
        case UInt8(ascii: "f"): return "\u{0C}"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "u"):
            let first = try hex4()
            if (0xD800..<0xDC00).contains(first), peek() == UInt8(ascii: "\\"), position + 1 < bytes.count,
               bytes[position + 1] == UInt8(ascii: "u") {
                position += 2
                let second = try hex4()
                if (0xDC00..<0xE000).contains(second),
                   let scalar = Unicode.Scalar(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)) {
                    return scalar
                }
                throw error("invalid surrogate pair")
            }
            guard let scalar = Unicode.Scalar(first) else { throw error("lone surrogate \\u escape") }
            return scalar
        default:
            throw error("invalid escape '\\\(Character(Unicode.Scalar(byte)))'")
        }
    }

    private mutating func hex4() throws(JSONParseError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = peek(), let digit = Self.hexDigit(byte) else { throw error("expected four hex digits after \\u") }
            value = value << 4 | digit
            position += 1
        }
        return value
    }

    private static func hexDigit(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }

    private mutating func number() throws(JSONParseError) -> JSON {
        let start = position
        var integral = true
        if peek() == UInt8(ascii: "-") { position += 1 }
        if peek() == UInt8(ascii: "0") {
            position += 1  // no leading zeros: "01" is "0" followed by junk
        } else {
            guard digits() > 0 else { throw error("expected digits in a number") }
        }
        if peek() == UInt8(ascii: ".") {
            integral = false
            position += 1
            guard digits() > 0 else { throw error("expected digits after '.'") }
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            integral = false
            position += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { position += 1 }
            guard digits() > 0 else { throw error("expected digits in the exponent") }
        }
        let text = String(decoding: bytes[start..<position], as: UTF8.self)
        if integral {
            if let value = Int64(text) { return .int(value) }
            if let value = UInt64(text) { return .unsigned(value) }
        }
        guard let value = Double(text), value.isFinite else { throw error("number \(text) is out of range") }
        return .double(value)
    }

    private mutating func digits() -> Int {
        let start = position
        while let byte = peek(), byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") { position += 1 }
        return position - start
    }

    private mutating func literal(_ word: String) throws(JSONParseError) {
        let expected = Array(word.utf8)
        guard position + expected.count <= bytes.count, bytes[position..<position + expected.count].elementsEqual(expected) else {
            throw error("unexpected text, expected a value")
        }
        position += expected.count
    }

    private mutating func expect(_ character: Unicode.Scalar) throws(JSONParseError) {
        guard peek() == UInt8(character.value) else {
            throw error(peek() == nil ? "unexpected end of text, expected '\(character)'" : "expected '\(character)'")
        }
        position += 1
    }

    func peek() -> UInt8? { position < bytes.count ? bytes[position] : nil }

    mutating func skipWhiteSpace() {
        while let byte = peek(), byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { position += 1 }
    }

    func error(_ reason: String) -> JSONParseError {
        var line = 1
        var column = 1
        for byte in bytes[..<min(position, bytes.count)] {
            if byte == 0x0A { line += 1; column = 1 } else { column += 1 }
        }
        return JSONParseError(line: line, column: column, reason: reason)
    }
}
