/// A map type (`enum bpf_map_type`).
public struct MapType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// BPF_MAP_TYPE_HASH.
    public static let hash = MapType(rawValue: 1)
    /// BPF_MAP_TYPE_ARRAY.
    public static let array = MapType(rawValue: 2)
    /// BPF_MAP_TYPE_PERF_EVENT_ARRAY: the perf buffer.
    public static let perfEventArray = MapType(rawValue: 4)
    /// BPF_MAP_TYPE_PERCPU_HASH.
    public static let perCPUHash = MapType(rawValue: 5)
    /// BPF_MAP_TYPE_PERCPU_ARRAY.
    public static let perCPUArray = MapType(rawValue: 6)
    /// BPF_MAP_TYPE_STACK_TRACE.
    public static let stackTrace = MapType(rawValue: 7)
    /// BPF_MAP_TYPE_CGROUP_ARRAY.
    public static let cgroupArray = MapType(rawValue: 8)
    /// BPF_MAP_TYPE_LRU_HASH.
    public static let lruHash = MapType(rawValue: 9)
    /// BPF_MAP_TYPE_LRU_PERCPU_HASH.
    public static let lruPerCPUHash = MapType(rawValue: 10)
    /// BPF_MAP_TYPE_ARRAY_OF_MAPS.
    public static let arrayOfMaps = MapType(rawValue: 12)
    /// BPF_MAP_TYPE_HASH_OF_MAPS.
    public static let hashOfMaps = MapType(rawValue: 13)
    /// BPF_MAP_TYPE_QUEUE.
    public static let queue = MapType(rawValue: 22)
    /// BPF_MAP_TYPE_STACK.
    public static let stack = MapType(rawValue: 23)
    /// BPF_MAP_TYPE_RINGBUF: the ring buffer (Linux 5.8).
    public static let ringBuffer = MapType(rawValue: 27)
    /// BPF_MAP_TYPE_TASK_STORAGE.
    public static let taskStorage = MapType(rawValue: 29)

    /// Per-CPU maps hold one value per possible CPU.
    public var isPerCPU: Bool { [.perCPUHash, .perCPUArray, .lruPerCPUHash].contains(self) }

    /// Map types the kernel rejects BTF key/value type ids for (libbpf never passes them).
    var acceptsBTFTypes: Bool {
        ![.perfEventArray, .cgroupArray, .stackTrace, .arrayOfMaps, .hashOfMaps, .queue, .stack, .ringBuffer]
            .contains(self) && rawValue != 14 && rawValue != 15 && rawValue != 16 && rawValue != 17
            && rawValue != 18 && rawValue != 25 && rawValue != 33
    }

    public var description: String {
        switch self {
        case .hash: "hash"
        case .array: "array"
        case .perfEventArray: "perf_event_array"
        case .perCPUHash: "percpu_hash"
        case .perCPUArray: "percpu_array"
        case .stackTrace: "stack_trace"
        case .lruHash: "lru_hash"
        case .ringBuffer: "ringbuf"
        default: "type \(rawValue)"
        }
    }
}

/// A map as the object describes it, before it exists in the kernel.
public struct MapSpec: Sendable {
    public var name: String
    public var type: MapType
    public var keySize: UInt32
    public var valueSize: UInt32
    public var maxEntries: UInt32
    public var flags: UInt32
    /// BTF ids of the key and value types in the object's BTF (0 = none).
    public var btfKeyTypeID: UInt32 = 0
    public var btfValueTypeID: UInt32 = 0
    /// For global data maps: the section's bytes, written before the programs load.
    public var contents: [UInt8]? = nil
    /// `.rodata`: frozen after its contents are written, so programs see constants.
    public var freeze = false
    /// The ELF section a global data map comes from (`.rodata`, `.bss`, …), or nil.
    public var dataSection: String? = nil

    public init(name: String, type: MapType, keySize: UInt32, valueSize: UInt32, maxEntries: UInt32, flags: UInt32 = 0) {
        self.name = name
        self.type = type
        self.keySize = keySize
        self.valueSize = valueSize
        self.maxEntries = maxEntries
        self.flags = flags
    }
}
