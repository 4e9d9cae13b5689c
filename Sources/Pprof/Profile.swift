#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Why a profile could not be written: one line for the user.
public struct PprofError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A profile in pprof's format (`perftools.profiles.Profile`, google/pprof's
/// `proto/profile.proto`), built sample by sample and written gzip-compressed — what
/// `go tool pprof`, Pyroscope and Parca read.
///
/// Strings, functions, mappings and locations are interned as samples arrive, so a stack
/// seen a thousand times costs one set of entries. Any profile whose samples are stacks with
/// values fits: CPU samples, off-CPU time, bytes in use.
///
/// ```swift
/// var profile = PprofProfile(sampleTypes: [.init("inuse_space", "bytes"), .init("inuse_objects", "count")])
/// let libc = PprofProfile.Mapping(start: 0x7f00_0000_0000, limit: 0x7f00_0020_0000, offset: 0x28000,
///                                 file: "/usr/lib/x86_64-linux-gnu/libc.so.6", buildID: "ab12…")
/// profile.addSample([.init(address: 0x7f00_0001_2345, function: "malloc", mapping: libc)],
///                   values: [4096, 1], labels: [.init("comm", "server")])
/// try profile.write(toPath: "heap.pb.gz")
/// ```
public struct PprofProfile {
    /// What a sample value counts (`samples`/`count`, `cpu`/`nanoseconds`, `inuse_space`/`bytes`).
    public struct ValueType: Hashable, Sendable {
        public var type: String
        public var unit: String
        public init(_ type: String, _ unit: String) {
            self.type = type
            self.unit = unit
        }
    }

    /// A range of a process's address space and the file mapped there.
    public struct Mapping: Hashable, Sendable {
        public var start: UInt64
        public var limit: UInt64
        /// The file offset mapped at `start`.
        public var offset: UInt64
        public var file: String
        /// The file's GNU build ID in lower-case hex, or "".
        public var buildID: String
        public init(start: UInt64, limit: UInt64, offset: UInt64 = 0, file: String, buildID: String = "") {
            self.start = start
            self.limit = limit
            self.offset = offset
            self.file = file
            self.buildID = buildID
        }
    }

    /// One frame of a stack: an instruction address in a mapping, and its function when known.
    /// A frame without an address (0) and with a name stands for a marker such as a process
    /// name or bcc's `--` between a blocked stack and its waker's.
    public struct Frame: Hashable, Sendable {
        public var address: UInt64
        public var function: String?
        public var mapping: Mapping?
        public init(address: UInt64, function: String?, mapping: Mapping? = nil) {
            self.address = address
            self.function = function
            self.mapping = mapping
        }
    }

    /// A sample label: a string (`comm`) or a number with an optional unit (`pid`).
    public struct Label: Hashable, Sendable {
        public var key: String
        public var string: String?
        public var number: Int64
        public var unit: String?
        public init(_ key: String, _ string: String) {
            self.key = key
            self.string = string
            self.number = 0
        }
        public init(_ key: String, number: Int64, unit: String? = nil) {
            self.key = key
            self.number = number
            self.unit = unit
        }
    }

    public let sampleTypes: [ValueType]
    public var periodType: ValueType?
    /// The sampling period in `periodType`'s unit (10,101,010 ns for 99 Hz); 0 when not sampled.
    public var period: Int64
    /// When the profile started, in nanoseconds since the epoch.
    public var timeNanos: Int64
    public var durationNanos: Int64 = 0
    /// The sample type a viewer shows first; the last one when nil.
    public var defaultSampleType: String?
    public var comments: [String] = []

    private struct Sample {
        var locations: [UInt64]
        var values: [Int64]
        var labels: [Label]
    }

    private struct LocationKey: Hashable {
        var address: UInt64
        var mapping: UInt64
        var function: UInt64
    }

    private var strings: [String] = [""]
    private var stringIndex: [String: Int64] = ["": 0]
    private var functions: [String: UInt64] = [:]
    private var functionNames: [Int64] = []
    private var mappings: [Mapping: UInt64] = [:]
    private var mappingList: [Mapping] = []
    /// Per mapping (by id − 1): whether every location in it has a function name.
    private var mappingSymbolized: [Bool] = []
    private var locations: [LocationKey: UInt64] = [:]
    private var locationList: [LocationKey] = []
    private var samples: [Sample] = []

    public init(sampleTypes: [ValueType], periodType: ValueType? = nil, period: Int64 = 0, timeNanos: Int64? = nil) {
        self.sampleTypes = sampleTypes
        self.periodType = periodType
        self.period = period
        self.timeNanos = timeNanos ?? Self.now()
    }

    public var sampleCount: Int { samples.count }

    /// Adds one sample: `frames` leaf first, one value per sample type.
    public mutating func addSample(_ frames: [Frame], values: [Int64], labels: [Label] = []) {
        precondition(values.count == sampleTypes.count, "one value per sample type")
        let ids = frames.map { location(for: $0) }
        for label in labels {
            _ = intern(label.key)
            if let string = label.string { _ = intern(string) }
            if let unit = label.unit { _ = intern(unit) }
        }
        samples.append(Sample(locations: ids, values: values, labels: labels))
    }

    private mutating func intern(_ string: String) -> Int64 {
        if let known = stringIndex[string] { return known }
        let index = Int64(strings.count)
        strings.append(string)
        stringIndex[string] = index
        return index
    }

    private mutating func location(for frame: Frame) -> UInt64 {
        var mappingID: UInt64 = 0
        if let mapping = frame.mapping {
            if let known = mappings[mapping] {
                mappingID = known
            } else {
                mappingList.append(mapping)
                mappingSymbolized.append(true)
                mappingID = UInt64(mappingList.count)
                mappings[mapping] = mappingID
                _ = intern(mapping.file)
                _ = intern(mapping.buildID)
            }
            if frame.function == nil { mappingSymbolized[Int(mappingID) - 1] = false }
        }
        var functionID: UInt64 = 0
        if let name = frame.function {
            if let known = functions[name] {
                functionID = known
            } else {
                functionNames.append(intern(name))
                functionID = UInt64(functionNames.count)
                functions[name] = functionID
            }
        }
        let key = LocationKey(address: frame.address, mapping: mappingID, function: functionID)
        if let known = locations[key] { return known }
        locationList.append(key)
        let id = UInt64(locationList.count)
        locations[key] = id
        return id
    }

    /// The profile as protobuf bytes, not compressed.
    public mutating func encoded() -> [UInt8] {
        // Intern every string before the table is written.
        let types = sampleTypes.map { (intern($0.type), intern($0.unit)) }
        let period = periodType.map { (intern($0.type), intern($0.unit)) }
        let comments = comments.map { intern($0) }
        let defaultType = defaultSampleType.map { intern($0) }

        var out = ProtobufWriter()
        for (type, unit) in types {
            out.message(1) { $0.signed(1, type); $0.signed(2, unit) }
        }
        for sample in samples {
            out.message(2) { message in
                message.packed(1, sample.locations)
                message.packed(2, sample.values.map { UInt64(bitPattern: $0) })
                for label in sample.labels {
                    message.message(3) { entry in
                        entry.signed(1, stringIndex[label.key]!)
                        if let string = label.string { entry.signed(2, stringIndex[string]!) }
                        entry.signed(3, label.number)
                        if let unit = label.unit { entry.signed(4, stringIndex[unit]!) }
                    }
                }
            }
        }
        for (index, mapping) in mappingList.enumerated() {
            out.message(3) { message in
                message.unsigned(1, UInt64(index + 1))
                message.unsigned(2, mapping.start)
                message.unsigned(3, mapping.limit)
                message.unsigned(4, mapping.offset)
                message.signed(5, stringIndex[mapping.file]!)
                message.signed(6, stringIndex[mapping.buildID]!)
                message.bool(7, mappingSymbolized[index])
            }
        }
        for (index, location) in locationList.enumerated() {
            out.message(4) { message in
                message.unsigned(1, UInt64(index + 1))
                message.unsigned(2, location.mapping)
                message.unsigned(3, location.address)
                if location.function != 0 {
                    message.message(4) { $0.unsigned(1, location.function) }
                }
            }
        }
        for (index, name) in functionNames.enumerated() {
            out.message(5) { message in
                message.unsigned(1, UInt64(index + 1))
                message.signed(2, name)
                message.signed(3, name)
            }
        }
        for string in strings { out.string(6, string) }
        out.signed(9, timeNanos)
        out.signed(10, durationNanos)
        if let (type, unit) = period {
            out.message(11) { $0.signed(1, type); $0.signed(2, unit) }
        }
        out.signed(12, self.period)
        out.packed(13, comments.map { UInt64(bitPattern: $0) })
        if let defaultType { out.signed(14, defaultType) }
        return out.bytes
    }

    /// Writes the gzip-compressed profile to a file (created or truncated, mode 0644).
    public mutating func write(toPath path: String) throws {
        let data = try Gzip.compress(encoded())
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw PprofError("cannot write \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        var written = 0
        while written < data.count {
            let result = data.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + written, $0.count - written) }
            if result < 0 && errno == EINTR { continue }
            guard result > 0 else { throw PprofError("cannot write \(path): \(String(cString: strerror(errno)))") }
            written += result
        }
    }

    /// Nanoseconds since the epoch: the unit of ``timeNanos``.
    public static func now() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
    }
}
