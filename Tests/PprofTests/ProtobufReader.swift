/// A minimal protobuf wire reader, written for the tests alone: it checks the writer's
/// output independently of the writer's code.
struct ProtobufReader {
    enum Value {
        case varint(UInt64)
        case bytes([UInt8])
    }

    struct Malformed: Error {}

    /// Every field of a message, in order: (field number, value).
    static func fields(_ bytes: [UInt8]) throws -> [(Int, Value)] {
        var index = 0
        func varint() throws -> UInt64 {
            var result: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                guard index < bytes.count, shift < 64 else { throw Malformed() }
                let byte = bytes[index]
                index += 1
                result |= UInt64(byte & 0x7f) << shift
                if byte & 0x80 == 0 { return result }
                shift += 7
            }
        }
        var result: [(Int, Value)] = []
        while index < bytes.count {
            let key = try varint()
            switch key & 7 {
            case 0:
                result.append((Int(key >> 3), .varint(try varint())))
            case 2:
                let length = Int(try varint())
                guard index + length <= bytes.count else { throw Malformed() }
                result.append((Int(key >> 3), .bytes(Array(bytes[index..<index + length]))))
                index += length
            default:
                throw Malformed()
            }
        }
        return result
    }

    /// Integers of a field, packed or not.
    static func integers(_ fields: [(Int, Value)], _ number: Int) throws -> [UInt64] {
        var result: [UInt64] = []
        for (field, value) in fields where field == number {
            switch value {
            case .varint(let v): result.append(v)
            case .bytes(let packed):
                var index = 0
                while index < packed.count {
                    var v: UInt64 = 0
                    var shift: UInt64 = 0
                    while true {
                        let byte = packed[index]
                        index += 1
                        v |= UInt64(byte & 0x7f) << shift
                        if byte & 0x80 == 0 { break }
                        shift += 7
                    }
                    result.append(v)
                }
            }
        }
        return result
    }

    static func integer(_ fields: [(Int, Value)], _ number: Int) throws -> UInt64 {
        try integers(fields, number).last ?? 0
    }

    static func messages(_ fields: [(Int, Value)], _ number: Int) throws -> [[(Int, Value)]] {
        try fields.filter { $0.0 == number }.map { field in
            guard case .bytes(let bytes) = field.1 else { throw Malformed() }
            return try ProtobufReader.fields(bytes)
        }
    }

    static func strings(_ fields: [(Int, Value)], _ number: Int) -> [String] {
        fields.compactMap { field in
            guard field.0 == number, case .bytes(let bytes) = field.1 else { return nil }
            return String(decoding: bytes, as: UTF8.self)
        }
    }
}
