#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Interned frame names: each distinct name is stored once, in one byte arena, and known by a
/// dense `UInt32` id. Parsing a folded line looks each frame up by its bytes (no `String` is
/// made); everything after parsing (merging, sorting, colouring, writing) works on ids.
struct FrameNames {
    /// Every name's bytes, one after another.
    private(set) var bytes = RawArray<UInt8>(capacity: 1 << 16)
    /// Name `id` is `bytes[offsets[id] ..< offsets[id + 1]]`.
    private(set) var offsets = RawArray<Int>(capacity: 1 << 10)
    /// Each name's ``hash(_:_:)``: the name's part of the path hashes of ``FrameTree``.
    private(set) var hashes = RawArray<UInt64>(capacity: 1 << 10)
    /// Open addressing, linear probing: the hash's high half over `id + 1`, or 0 for an
    /// empty slot (so most misses are told apart without touching the name).
    private var slots: RawArray<UInt64>
    private var mask: Int

    init() {
        offsets.append(0)
        slots = RawArray(zeroed: 1 << 12)
        mask = (1 << 12) - 1
    }

    var count: Int { offsets.count - 1 }

    /// The bytes of name `id`.
    @inline(__always)
    func name(_ id: UInt32) -> UnsafeBufferPointer<UInt8> {
        let start = offsets[Int(id)]
        return UnsafeBufferPointer(start: bytes.base + start, count: offsets[Int(id) + 1] - start)
    }

    func string(_ id: UInt32) -> String { String(decoding: name(id), as: UTF8.self) }

    /// The id of the name in `start ..< start + length`, adding it if new.
    @inline(__always)
    mutating func intern(_ start: UnsafePointer<UInt8>, _ length: Int) -> UInt32 {
        intern(start, length, hash: Self.hash(start, length))
    }

    /// The same, with the bytes' ``hash(_:_:)`` already known.
    @inline(__always)
    mutating func intern(_ start: UnsafePointer<UInt8>, _ length: Int, hash: UInt64) -> UInt32 {
        var slot = Int(truncatingIfNeeded: hash) & mask
        let tag = hash >> 32
        while true {
            let entry = slots[slot]
            if entry == 0 { break }
            if entry >> 32 == tag {
                let id = Int(truncatingIfNeeded: entry & 0xFFFF_FFFF) - 1
                let offset = offsets[id]
                if offsets[id + 1] - offset == length, Self.equal(bytes.base + offset, start, length) {
                    return UInt32(id)
                }
            }
            slot = (slot + 1) & mask
        }
        let id = UInt32(count)
        bytes.append(start, count: length)
        offsets.append(bytes.count)
        hashes.append(hash)
        slots[slot] = tag << 32 | UInt64(id + 1)
        if count * 2 > mask { rehash() }
        return id
    }

    // Look-up in steps, for callers that overlap several look-ups' memory accesses:
    // slot(for:), candidate(for:), offset(of:), firstByte(of:), then confirm(…).

    @inline(__always)
    func slot(for hash: UInt64) -> UInt64 { slots[Int(truncatingIfNeeded: hash) & mask] }

    /// The first name whose slot carries `hash`'s tag, or `UInt32.max`.
    @inline(__always)
    func candidate(for hash: UInt64) -> UInt32 {
        var slot = Int(truncatingIfNeeded: hash) & mask
        let tag = hash >> 32
        while true {
            let entry = slots[slot]
            if entry == 0 { return .max }
            if entry >> 32 == tag { return UInt32(truncatingIfNeeded: entry & 0xFFFF_FFFF) - 1 }
            slot = (slot + 1) & mask
        }
    }

    @inline(__always)
    func offset(of candidate: UInt32) -> Int { candidate == .max ? 0 : offsets[Int(candidate)] }

    @inline(__always)
    func firstByte(of candidate: UInt32) -> UInt8 { candidate == .max ? 0 : bytes[offsets[Int(candidate)]] }

    /// `candidate` if it is the name in `start ..< start + length`, else the full look-up.
    @inline(__always)
    mutating func confirm(_ candidate: UInt32, _ start: UnsafePointer<UInt8>, _ length: Int, hash: UInt64) -> UInt32 {
        if candidate != .max {
            let offset = offsets[Int(candidate)]
            if offsets[Int(candidate) + 1] - offset == length, Self.equal(bytes.base + offset, start, length) { return candidate }
        }
        return intern(start, length, hash: hash)
    }

    mutating func intern(_ text: String) -> UInt32 {
        var text = text
        return text.withUTF8 { utf8 in
            // An empty buffer may have no base address.
            guard let base = utf8.baseAddress else {
                var none: UInt8 = 0
                return intern(&none, 0)
            }
            return intern(base, utf8.count)
        }
    }

    private mutating func rehash() {
        let capacity = (mask + 1) * 2
        slots.deallocate()
        slots = RawArray(zeroed: capacity)
        mask = capacity - 1
        for id in 0..<count {
            let hash = hashes[id]
            var slot = Int(truncatingIfNeeded: hash) & mask
            while slots[slot] != 0 { slot = (slot + 1) & mask }
            slots[slot] = (hash >> 32) << 32 | UInt64(id + 1)
        }
    }

    /// Whether two byte strings of `length` bytes are equal (inline: names are short).
    @inline(__always)
    static func equal(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ length: Int) -> Bool {
        let left = UnsafeRawPointer(a)
        let right = UnsafeRawPointer(b)
        if length >= 8 {
            var index = 0
            while index + 8 < length {
                if left.loadUnaligned(fromByteOffset: index, as: UInt64.self) != right.loadUnaligned(fromByteOffset: index, as: UInt64.self) {
                    return false
                }
                index += 8
            }
            // The last 1-8 bytes: a word ending at the last byte (overlapping bytes are equal).
            return left.loadUnaligned(fromByteOffset: length - 8, as: UInt64.self)
                == right.loadUnaligned(fromByteOffset: length - 8, as: UInt64.self)
        }
        if length >= 4 {
            return left.loadUnaligned(as: UInt32.self) == right.loadUnaligned(as: UInt32.self)
                && left.loadUnaligned(fromByteOffset: length - 4, as: UInt32.self)
                == right.loadUnaligned(fromByteOffset: length - 4, as: UInt32.self)
        }
        guard length > 0 else { return true }
        // 1-3 bytes: the first, middle and last cover them all.
        return a[0] == b[0] && a[length / 2] == b[length / 2] && a[length - 1] == b[length - 1]
    }

    /// A fast 64-bit hash of a short byte string: 8 bytes at a time (the last 1-7 zero
    /// padded, little-endian), multiply-xorshift mixing, the length mixed in at the end (so
    /// that ``frame(_:from:_:)`` can hash a frame while it looks for the frame's end).
    @inline(__always)
    static func hash(_ start: UnsafePointer<UInt8>, _ length: Int) -> UInt64 {
        let raw = UnsafeRawPointer(start)
        var state = hashSeed
        var index = 0
        while index + 8 <= length {
            state = mix(state, raw.loadUnaligned(fromByteOffset: index, as: UInt64.self))
            index += 8
        }
        if index < length {
            // The last 1-7 bytes in one word, without a loop per byte: from a load that
            // ends at the last byte (overlapping bytes already mixed) or, in a name shorter
            // than 8 bytes, from two or three overlapping smaller loads.
            let word: UInt64
            if length >= 8 {
                word = raw.loadUnaligned(fromByteOffset: length - 8, as: UInt64.self) >> UInt64(8 * (8 - (length - index)))
            } else if length >= 4 {
                word = UInt64(raw.loadUnaligned(as: UInt32.self))
                    | UInt64(raw.loadUnaligned(fromByteOffset: length - 4, as: UInt32.self)) << UInt64(8 * (length - 4))
            } else {
                word = UInt64(start[0]) | UInt64(start[length / 2]) << UInt64(8 * (length / 2))
                    | UInt64(start[length - 1]) << UInt64(8 * (length - 1))
            }
            state = mix(state, word)
        }
        return finish(state, length)
    }

    /// The frame of `stack[0 ..< length]` that starts at `position`: where it ends (the next
    /// `;`, or the stack's end) and its name's ``hash(_:_:)``, found in one pass over its
    /// words (a word holds a `;` where `word ^ 0x3B3B…` has a zero byte).
    @inline(__always)
    static func frame(_ stack: UnsafePointer<UInt8>, from position: Int, _ length: Int) -> (end: Int, hash: UInt64) {
        let raw = UnsafeRawPointer(stack)
        var state = hashSeed
        var index = position
        while index + 8 <= length {
            let word = raw.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            let flipped = word ^ 0x3B3B_3B3B_3B3B_3B3B
            let zeros = (flipped &- 0x0101_0101_0101_0101) & ~flipped & 0x8080_8080_8080_8080
            if zeros != 0 {
                let before = zeros.trailingZeroBitCount / 8
                if before > 0 { state = mix(state, word & (UInt64.max >> UInt64(64 - 8 * before))) }
                let end = index + before
                return (end, finish(state, end - position))
            }
            state = mix(state, word)
            index += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while index < length, stack[index] != 0x3B {
            tail |= UInt64(stack[index]) << shift
            shift += 8
            index += 1
        }
        if shift > 0 { state = mix(state, tail) }
        return (index, finish(state, index - position))
    }

    private static let hashSeed: UInt64 = 0x243F_6A88_85A3_08D3

    @inline(__always)
    private static func mix(_ state: UInt64, _ word: UInt64) -> UInt64 {
        let mixed = (state ^ word) &* 0x9FB2_1C65_1E98_DF25
        return mixed ^ (mixed >> 28)
    }

    @inline(__always)
    private static func finish(_ state: UInt64, _ length: Int) -> UInt64 {
        let mixed = (state ^ UInt64(truncatingIfNeeded: length) ^ (state >> 32)) &* 0xD6E8_FEB8_6659_FD93
        return mixed ^ (mixed >> 32)
    }

    /// Byte-wise comparison of two names, as `strcmp` orders them (shorter prefix first).
    func precedes(_ a: UInt32, _ b: UInt32) -> Bool {
        Self.compare(name(a), name(b)) < 0
    }

    /// Byte-wise order of two byte strings, a prefix first: negative, zero or positive.
    static func compare(_ left: UnsafeBufferPointer<UInt8>, _ right: UnsafeBufferPointer<UInt8>) -> Int {
        let common = min(left.count, right.count)
        if common > 0 {
            let order = memcmp(left.baseAddress!, right.baseAddress!, common)
            if order != 0 { return Int(order) }
        }
        return left.count - right.count
    }

    /// An independent copy.
    func copy() -> FrameNames {
        var other = self
        other.bytes = bytes.copy()
        other.offsets = offsets.copy()
        other.hashes = hashes.copy()
        other.slots = slots.copy()
        return other
    }

    func deallocate() {
        bytes.deallocate()
        offsets.deallocate()
        hashes.deallocate()
        slots.deallocate()
    }
}
