/// A map read and written as Swift values: `HashMap<UInt32, UInt64>`-style access over a
/// ``BPFMap`` whose key and value sizes were checked once, when the view was made.
///
/// Keys and values are plain fixed-size types (integers, C structs from a shared header,
/// tuples of them), copied byte for byte, as the BPF program sees them.
///
/// ```swift
/// let counts = try TypedMap<UInt32, UInt64>(object.map("counts"))
/// for (pid, count) in try counts.entries() { print(pid, count) }
/// ```
public struct TypedMap<Key: BitwiseCopyable, Value: BitwiseCopyable>: @unchecked Sendable {
    public let map: BPFMap

    /// Fails if the map's key or value size differs from `Key`'s or `Value`'s.
    public init(_ map: BPFMap) throws(ObjectError) {
        guard map.keySize == MemoryLayout<Key>.size else {
            throw ObjectError("map \(map.name): key is \(map.keySize) bytes, \(Key.self) is \(MemoryLayout<Key>.size)")
        }
        guard map.valueSize == MemoryLayout<Value>.size else {
            throw ObjectError("map \(map.name): value is \(map.valueSize) bytes, \(Value.self) is \(MemoryLayout<Value>.size)")
        }
        guard !map.type.isPerCPU else { throw ObjectError("map \(map.name) is per-CPU: use PerCPUMap") }
        self.map = map
    }

    public func lookup(_ key: Key) throws -> Value? {
        try map.lookup(key: bytes(of: key)).map { value(from: $0) }
    }

    public func update(_ key: Key, _ value: Value, mode: BPFMap.UpdateMode = .any) throws {
        try map.update(key: bytes(of: key), value: bytes(of: value), mode: mode)
    }

    /// Returns false if the key was not there.
    @discardableResult
    public func delete(_ key: Key) throws -> Bool { try map.delete(key: bytes(of: key)) }

    /// Every key, collected before returning: deleting while walking them is safe.
    public func keys() throws -> [Key] { try map.keys().map { value(from: $0) } }

    /// Every entry (by batch lookup where the kernel has it).
    public func entries() throws -> [(key: Key, value: Value)] {
        try map.entries().map { (value(from: $0.key), value(from: $0.value)) }
    }
}

/// A per-CPU map read as one `Value` per possible CPU.
public struct PerCPUMap<Key: BitwiseCopyable, Value: BitwiseCopyable>: @unchecked Sendable {
    public let map: BPFMap

    public init(_ map: BPFMap) throws(ObjectError) {
        guard map.type.isPerCPU else { throw ObjectError("map \(map.name) is not per-CPU") }
        guard map.keySize == MemoryLayout<Key>.size, map.valueSize == MemoryLayout<Value>.size else {
            throw ObjectError("map \(map.name): key/value sizes \(map.keySize)/\(map.valueSize) do not match \(Key.self)/\(Value.self)")
        }
        self.map = map
    }

    /// The value on each possible CPU, in CPU order.
    public func lookup(_ key: Key) throws -> [Value]? {
        try map.lookup(key: bytes(of: key)).map(split)
    }

    /// Sets every CPU's slot.
    public func update(_ key: Key, _ values: [Value], mode: BPFMap.UpdateMode = .any) throws {
        let stride = (MemoryLayout<Value>.size + 7) & ~7
        var raw = [UInt8](repeating: 0, count: stride * CPUs.possible.count)
        for (cpu, value) in values.prefix(CPUs.possible.count).enumerated() {
            let encoded = bytes(of: value)
            raw.replaceSubrange((cpu * stride)..<(cpu * stride + encoded.count), with: encoded)
        }
        try map.update(key: bytes(of: key), value: raw, mode: mode)
    }

    @discardableResult
    public func delete(_ key: Key) throws -> Bool { try map.delete(key: bytes(of: key)) }

    public func entries() throws -> [(key: Key, values: [Value])] {
        try map.entries().map { (value(from: $0.key), split($0.value)) }
    }

    private func split(_ raw: [UInt8]) -> [Value] {
        let stride = (MemoryLayout<Value>.size + 7) & ~7
        return (0..<(raw.count / stride)).map { cpu in
            raw.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: cpu * stride, as: Value.self) }
        }
    }
}

func bytes<T: BitwiseCopyable>(of value: T) -> [UInt8] {
    withUnsafeBytes(of: value) { Array($0) }
}

func value<T: BitwiseCopyable>(from bytes: [UInt8]) -> T {
    bytes.withUnsafeBytes { $0.loadUnaligned(as: T.self) }
}
