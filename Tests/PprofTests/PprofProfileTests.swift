// The pprof writer's output read back with an independent wire reader: the structure
// profile.proto defines, the string table, interning, and real gzip.
import Glibc
import Testing
@testable import Pprof

@Suite("PprofProfile")
struct PprofProfileTests {
    typealias Reader = ProtobufReader

    static func sampleProfile() -> PprofProfile {
        var profile = PprofProfile(
            sampleTypes: [.init("samples", "count"), .init("cpu", "nanoseconds")],
            periodType: .init("cpu", "nanoseconds"), period: 10_101_010, timeNanos: 1_700_000_000_000_000_000)
        profile.durationNanos = 2_000_000_000
        let app = PprofProfile.Mapping(start: 0x5555_0000_0000, limit: 0x5555_0001_0000, offset: 0x1000,
                                       file: "/usr/bin/app", buildID: "0123abcd")
        let kernel = PprofProfile.Mapping(start: 0xffff_ffff_8000_0000, limit: 0xffff_ffff_ffff_ffff, file: "[kernel.kallsyms]")
        let leaf = PprofProfile.Frame(address: 0xffff_ffff_8100_0010, function: "do_syscall_64", mapping: kernel)
        let main = PprofProfile.Frame(address: 0x5555_0000_1234, function: "main", mapping: app)
        let hot = PprofProfile.Frame(address: 0x5555_0000_2000, function: "burn", mapping: app)
        let unknown = PprofProfile.Frame(address: 0x5555_0000_3000, function: nil, mapping: app)
        profile.addSample([hot, main], values: [7, 70_707_070], labels: [.init("comm", "app"), .init("pid", number: 42)])
        profile.addSample([leaf, unknown, main], values: [1, 10_101_010], labels: [.init("comm", "app")])
        return profile
    }

    @Test("Fields, string table and ids follow profile.proto")
    func structure() throws {
        var profile = Self.sampleProfile()
        let fields = try Reader.fields(profile.encoded())
        let strings = Reader.strings(fields, 6)
        #expect(strings.first == "")
        #expect(Set(strings).count == strings.count, "strings are interned once")
        func string(_ index: UInt64) -> String { strings[Int(index)] }

        let types = try Reader.messages(fields, 1).map { (string(try Reader.integer($0, 1)), string(try Reader.integer($0, 2))) }
        #expect(types.map { "\($0.0)/\($0.1)" } == ["samples/count", "cpu/nanoseconds"])
        let period = try Reader.messages(fields, 11)
        #expect(period.count == 1)
        #expect(string(try Reader.integer(period[0], 1)) == "cpu")
        #expect(try Reader.integer(fields, 12) == 10_101_010)
        #expect(try Reader.integer(fields, 10) == 2_000_000_000)
        #expect(try Reader.integer(fields, 9) == 1_700_000_000_000_000_000)

        let functions = try Reader.messages(fields, 5)
        var functionNames: [UInt64: String] = [:]
        for function in functions { functionNames[try Reader.integer(function, 1)] = string(try Reader.integer(function, 2)) }
        #expect(Set(functionNames.values) == ["do_syscall_64", "main", "burn"])

        let mappings = try Reader.messages(fields, 3)
        #expect(mappings.count == 2)
        let app = try #require(try mappings.first { string(try Reader.integer($0, 5)) == "/usr/bin/app" })
        #expect(try Reader.integer(app, 2) == 0x5555_0000_0000)
        #expect(try Reader.integer(app, 3) == 0x5555_0001_0000)
        #expect(try Reader.integer(app, 4) == 0x1000)
        #expect(string(try Reader.integer(app, 6)) == "0123abcd")
        #expect(try Reader.integer(app, 7) == 0, "an unsymbolized location: has_functions stays false")
        let kernel = try #require(try mappings.first { string(try Reader.integer($0, 5)) == "[kernel.kallsyms]" })
        #expect(try Reader.integer(kernel, 7) == 1)

        let locations = try Reader.messages(fields, 4)
        #expect(locations.count == 4, "main is shared by both samples")
        var locationFunction: [UInt64: String?] = [:]
        for location in locations {
            let lines = try Reader.messages(location, 4)
            locationFunction.updateValue(try lines.first.map { functionNames[try Reader.integer($0, 1)]! }, forKey: try Reader.integer(location, 1))
            #expect(try Reader.integer(location, 2) != 0, "every location names its mapping")
            #expect(try Reader.integer(location, 3) != 0)
        }

        let samples = try Reader.messages(fields, 2)
        #expect(samples.count == 2)
        let first = try Reader.integers(samples[0], 1).map { locationFunction[$0]! }
        #expect(first == ["burn", "main"], "leaf first")
        #expect(try Reader.integers(samples[0], 2) == [7, 70_707_070])
        let labels = try Reader.messages(samples[0], 3)
        #expect(labels.count == 2)
        #expect(string(try Reader.integer(labels[0], 1)) == "comm")
        #expect(string(try Reader.integer(labels[0], 2)) == "app")
        #expect(string(try Reader.integer(labels[1], 1)) == "pid")
        #expect(try Reader.integer(labels[1], 3) == 42)
        let second = try Reader.integers(samples[1], 1).map { locationFunction[$0]! }
        #expect(second == ["do_syscall_64", nil, "main"])
    }

    @Test("Written files are gzip: magic bytes, and they inflate to the encoded profile")
    func gzipFile() throws {
        var profile = Self.sampleProfile()
        let path = "/tmp/bpfkit-pprof-unit-\(getpid()).pb.gz"
        defer { unlink(path) }
        try profile.write(toPath: path)
        let file = try #require(readAll(path))
        #expect(file.prefix(3) == [0x1f, 0x8b, 8], "gzip magic and deflate method")
        #expect(try Gzip.decompress(file) == profile.encoded())
    }

    @Test("A directory that does not exist fails with one line")
    func unwritable() {
        var profile = Self.sampleProfile()
        #expect(throws: PprofError.self) { try profile.write(toPath: "/nonexistent-dir/x.pb.gz") }
    }

    @Test("Large values and negative numbers survive the varint encoding")
    func varints() throws {
        var profile = PprofProfile(sampleTypes: [.init("delta", "bytes")], timeNanos: 1)
        profile.addSample([.init(address: UInt64.max, function: "f")], values: [-5])
        let fields = try Reader.fields(profile.encoded())
        let sample = try #require(try Reader.messages(fields, 2).first)
        #expect(try Reader.integers(sample, 2).map { Int64(bitPattern: $0) } == [-5])
        let location = try #require(try Reader.messages(fields, 4).first)
        #expect(try Reader.integer(location, 3) == UInt64.max)
    }

    func readAll(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = fread(&buffer, 1, buffer.count, file)
            if count <= 0 { break }
            result += buffer.prefix(count)
        }
        return result
    }
}
