import CBPF

/// A map in the kernel, owned by this process: the map goes away when the last reference
/// (here, or in a loaded program) does.
///
/// Keys and values are raw bytes here; ``TypedMap`` checks sizes once and converts.
public final class BPFMap: @unchecked Sendable {
    public let name: String
    public let type: MapType
    public let keySize: Int
    public let valueSize: Int
    public let maxEntries: Int
    public let descriptor: FileDescriptor

    init(name: String, type: MapType, keySize: Int, valueSize: Int, maxEntries: Int, descriptor: FileDescriptor) {
        self.name = name
        self.type = type
        self.keySize = keySize
        self.valueSize = valueSize
        self.maxEntries = maxEntries
        self.descriptor = descriptor
    }

    /// Creates a map from a spec (BPF_MAP_CREATE). `btf` is the object's loaded BTF, passed
    /// when the spec names key/value types; if the kernel refuses them the map is made without.
    public static func create(_ spec: MapSpec, btf: FileDescriptor? = nil) throws(LoadError) -> BPFMap {
        var maxEntries = spec.maxEntries
        if spec.type == .perfEventArray && maxEntries == 0 { maxEntries = UInt32(CPUs.possible.count) }
        var attribute = cbpf_map_create_attr()
        attribute.map_type = spec.type.rawValue
        attribute.key_size = spec.keySize
        attribute.value_size = spec.valueSize
        attribute.max_entries = maxEntries
        attribute.map_flags = spec.flags
        setCString(&attribute.map_name, spec.name)
        if let btf, spec.btfValueTypeID != 0 || spec.btfKeyTypeID != 0 {
            attribute.btf_fd = UInt32(btf.rawValue)
            attribute.btf_key_type_id = spec.btfKeyTypeID
            attribute.btf_value_type_id = spec.btfValueTypeID
        }
        let descriptor: FileDescriptor
        do {
            descriptor = try bpfDescriptor(.mapCreate, &attribute)
        } catch let error where attribute.btf_fd != 0 {
            _ = error
            attribute.btf_fd = 0
            attribute.btf_key_type_id = 0
            attribute.btf_value_type_id = 0
            do { descriptor = try bpfDescriptor(.mapCreate, &attribute) } catch { throw LoadError("create map \(spec.name)", error) }
        } catch {
            throw LoadError("create map \(spec.name)", error)
        }
        return BPFMap(
            name: spec.name, type: spec.type, keySize: Int(spec.keySize), valueSize: Int(spec.valueSize),
            maxEntries: Int(maxEntries), descriptor: descriptor)
    }

    /// Bytes a lookup returns: per-CPU maps hold `round_up(value_size, 8)` per possible CPU.
    public var lookupSize: Int {
        type.isPerCPU ? ((valueSize + 7) & ~7) * CPUs.possible.count : valueSize
    }

    /// The value under `key`, or nil if there is none (ENOENT).
    public func lookup(key: [UInt8]) throws -> [UInt8]? {
        var value = [UInt8](repeating: 0, count: max(lookupSize, 1))
        let found = try key.withUnsafeBytes { (keyBytes) throws -> Bool in
            try value.withUnsafeMutableBytes { (valueBytes) throws -> Bool in
                var attribute = cbpf_map_elem_attr()
                attribute.map_fd = UInt32(descriptor.rawValue)
                attribute.key = address(keyBytes.baseAddress)
                attribute.value = address(valueBytes.baseAddress)
                guard try bpfUnlessMissing(.mapLookupElement, &attribute) else { return false }
                return true
            }
        }
        return found ? value : nil
    }

    /// Update flags (BPF_ANY, BPF_NOEXIST, BPF_EXIST).
    public enum UpdateMode: UInt64, Sendable { case any = 0, createOnly = 1, replaceOnly = 2 }

    /// Stores `value` under `key`.
    public func update(key: [UInt8], value: [UInt8], mode: UpdateMode = .any) throws {
        try key.withUnsafeBytes { (keyBytes) throws in
            try value.withUnsafeBytes { (valueBytes) throws in
                var attribute = cbpf_map_elem_attr()
                attribute.map_fd = UInt32(descriptor.rawValue)
                attribute.key = address(keyBytes.baseAddress)
                attribute.value = address(valueBytes.baseAddress)
                attribute.flags = mode.rawValue
                try bpf(.mapUpdateElement, &attribute)
            }
        }
    }

    /// Deletes `key`; returns false if it was not there.
    @discardableResult
    public func delete(key: [UInt8]) throws -> Bool {
        try key.withUnsafeBytes { (keyBytes) throws -> Bool in
            var attribute = cbpf_map_elem_attr()
            attribute.map_fd = UInt32(descriptor.rawValue)
            attribute.key = address(keyBytes.baseAddress)
            guard try bpfUnlessMissing(.mapDeleteElement, &attribute) else { return false }
            return true
        }
    }

    /// The key after `key` (the first key when nil), or nil after the last.
    public func nextKey(after key: [UInt8]?) throws -> [UInt8]? {
        var next = [UInt8](repeating: 0, count: max(keySize, 1))
        let found = try next.withUnsafeMutableBytes { (nextBytes) throws -> Bool in
            var attribute = cbpf_map_elem_attr()
            attribute.map_fd = UInt32(descriptor.rawValue)
            attribute.value = address(nextBytes.baseAddress)
            let run = { (attribute: inout cbpf_map_elem_attr) throws -> Bool in
                guard try bpfUnlessMissing(.mapGetNextKey, &attribute) else { return false }
                return true
            }
            if let key {
                return try key.withUnsafeBytes { (keyBytes) throws -> Bool in
                    attribute.key = address(keyBytes.baseAddress)
                    return try run(&attribute)
                }
            }
            return try run(&attribute)
        }
        return found ? next : nil
    }

    /// Every key, read first and returned together, so callers may delete while walking.
    public func keys() throws -> [[UInt8]] {
        var keys: [[UInt8]] = []
        var current: [UInt8]? = nil
        while let next = try nextKey(after: current) {
            keys.append(next)
            current = next
            if keys.count > maxEntries * 2 + 16 { break }  // a map changing under us must not loop forever
        }
        return keys
    }

    /// Every (key, value) pair; keys deleted meanwhile are skipped. Uses
    /// BPF_MAP_LOOKUP_BATCH where the kernel and map type support it.
    public func entries() throws -> [(key: [UInt8], value: [UInt8])] {
        if let batch = try? lookupBatch() { return batch }
        var result: [(key: [UInt8], value: [UInt8])] = []
        for key in try keys() {
            if let value = try lookup(key: key) { result.append((key, value)) }
        }
        return result
    }

    /// BPF_MAP_LOOKUP_BATCH over the whole map (hash and array maps, Linux 5.6).
    func lookupBatch() throws -> [(key: [UInt8], value: [UInt8])] {
        guard type == .hash || type == .array || type == .perCPUHash || type == .perCPUArray || type == .lruHash else {
            throw SystemCallError(call: "BPF_MAP_LOOKUP_BATCH", errno: 95)
        }
        let capacity = max(1, min(maxEntries, 4096))
        var keys = [UInt8](repeating: 0, count: capacity * keySize)
        var values = [UInt8](repeating: 0, count: capacity * lookupSize)
        var inCursor = [UInt8](repeating: 0, count: max(keySize, 8))
        var outCursor = [UInt8](repeating: 0, count: max(keySize, 8))
        var result: [(key: [UInt8], value: [UInt8])] = []
        var first = true
        while true {
            var count = UInt32(capacity)
            var done = false
            try keys.withUnsafeMutableBytes { (keyBytes) throws in
                try values.withUnsafeMutableBytes { (valueBytes) throws in
                    try inCursor.withUnsafeMutableBytes { (inBytes) throws in
                        try outCursor.withUnsafeMutableBytes { (outBytes) throws in
                            var attribute = cbpf_map_batch_attr()
                            attribute.in_batch = first ? 0 : address(inBytes.baseAddress)
                            attribute.out_batch = address(outBytes.baseAddress)
                            attribute.keys = address(keyBytes.baseAddress)
                            attribute.values = address(valueBytes.baseAddress)
                            attribute.count = count
                            attribute.map_fd = UInt32(descriptor.rawValue)
                            // ENOENT marks the last batch; its results are still valid.
                            done = try !bpfUnlessMissing(.mapLookupBatch, &attribute)
                            count = attribute.count
                        }
                    }
                }
            }
            for index in 0..<Int(count) {
                result.append((
                    Array(keys[(index * keySize)..<((index + 1) * keySize)]),
                    Array(values[(index * lookupSize)..<((index + 1) * lookupSize)])))
            }
            if done || count == 0 { return result }
            inCursor = outCursor
            first = false
        }
    }

    /// BPF_MAP_FREEZE: programs may still write (unless read-only), user space no longer.
    public func freeze() throws {
        var attribute = cbpf_map_elem_attr()
        attribute.map_fd = UInt32(descriptor.rawValue)
        try bpf(.mapFreeze, &attribute)
    }

    /// Closes the map's descriptor now (programs using it keep it alive in the kernel).
    public func close() { descriptor.close() }
}

let ENOENT_: Int32 = 2
