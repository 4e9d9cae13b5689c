/// The protobuf wire format, only as far as `profile.proto` needs it: varints, and
/// length-delimited strings, packed integers and nested messages.
///
/// Written by hand rather than with swift-protobuf's generated code: its runtime imports
/// FoundationEssentials, which every tool of the one `bpfkit` binary would then load at
/// start (see bench/RESULTS.md, "pprof"), for one message that is only ever written.
struct ProtobufWriter {
    private(set) var bytes: [UInt8] = []

    private enum WireType: UInt64 {
        case varint = 0
        case lengthDelimited = 2
    }

    private mutating func appendVarint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }

    private mutating func appendKey(_ field: Int, _ type: WireType) {
        appendVarint(UInt64(field) << 3 | type.rawValue)
    }

    /// A `uint64` field; zero is the default and is left out, as proto3 does.
    mutating func unsigned(_ field: Int, _ value: UInt64) {
        guard value != 0 else { return }
        appendKey(field, .varint)
        appendVarint(value)
    }

    /// An `int64` field (two's complement varint, not zigzag); zero is left out.
    mutating func signed(_ field: Int, _ value: Int64) {
        unsigned(field, UInt64(bitPattern: value))
    }

    mutating func bool(_ field: Int, _ value: Bool) {
        unsigned(field, value ? 1 : 0)
    }

    /// A `string` or `bytes` field, written even when empty: repeated strings keep their
    /// positions (the string table's first entry is "").
    mutating func bytes<Bytes: Collection<UInt8>>(_ field: Int, _ value: Bytes) {
        appendKey(field, .lengthDelimited)
        appendVarint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    mutating func string(_ field: Int, _ value: String) {
        bytes(field, value.utf8)
    }

    /// A packed `repeated uint64` or `int64` field; nothing when empty.
    mutating func packed(_ field: Int, _ values: [UInt64]) {
        guard !values.isEmpty else { return }
        var inner = ProtobufWriter()
        for value in values { inner.appendVarint(value) }
        bytes(field, inner.bytes)
    }

    /// A nested message, built by `body` into its own buffer so its length is known.
    mutating func message(_ field: Int, _ body: (inout ProtobufWriter) -> Void) {
        var inner = ProtobufWriter()
        body(&inner)
        bytes(field, inner.bytes)
    }
}
