#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import BPFKit
import Report
import ToolEvents

/// `bpfkit usdt PATH:PROVIDER:NAME`: every firing of a USDT probe with its arguments decoded
/// in the kernel from the probe's note (registers, stack slots, constants).
public struct Usdt: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "usdt",
        abstract: "Trace a USDT probe and print its arguments at every firing.")

    @Argument(help: "The probe: BINARY:PROVIDER:NAME or BINARY:NAME (a path, or a library's short name).")
    var probe: String

    @Option(name: .shortAndLong, help: "Trace this PID only.")
    var pid: Int32?

    @Option(name: .shortAndLong, parsing: .singleValue, help: "Argument N (from 1) points at a C string: print the string.")
    var string: [Int] = []

    @Flag(help: "Print one JSON object per firing (JSON Lines) instead of columns.")
    var json = false

    public init() {}

    /// BINARY, PROVIDER (nil: any) and NAME.
    var parsedProbe: (binary: String, provider: String?, name: String)? {
        let parts = probe.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 2, parts.allSatisfy({ !$0.isEmpty }) else { return nil }
        if parts.count == 2 { return (parts[0], nil, parts[1]) }
        return (parts.dropLast(2).joined(separator: ":"), parts[parts.count - 2], parts[parts.count - 1])
    }

    public func validate() throws {
        if let pid, pid <= 0 { throw ValidationError("--pid must be a process id above 0") }
        if parsedProbe == nil { throw ValidationError("the probe must be BINARY:PROVIDER:NAME or BINARY:NAME, not '\(probe)'") }
        if let bad = string.first(where: { !(1...Int(USDT_MAX_ARGS)).contains($0) }) {
            throw ValidationError("--string \(bad): arguments are numbered 1 to \(USDT_MAX_ARGS)")
        }
    }

    public func run() throws {
        try reportingFailures(tool: "usdt") { try trace() }
    }

    private func trace() throws {
        guard let (given, provider, name) = parsedProbe else { return }
        let binary = Self.absolute(given)
        if let pid, access("/proc/\(pid)", F_OK) != 0 { throw AttachError("process \(pid) does not exist") }
        let path = try UprobeTarget.locate(binary, pid: pid)
        let sites = try ELFFile.usdtProbes(inFileAt: path).filter {
            $0.name == name && (provider == nil || $0.provider == provider)
        }
        let wanted = (provider.map { $0 + ":" } ?? "") + name
        guard !sites.isEmpty else { throw AttachError("no USDT probe \(wanted) in \(path) (list them with tplist -l)") }
        guard sites.count <= Int(USDT_MAX_SITES) else {
            throw AttachError("\(wanted) has \(sites.count) sites; at most \(USDT_MAX_SITES) are supported")
        }
        let object = try BPFObject(base64: BPFObjects.usdt, name: "usdt") { spec in
            try spec.setGlobal("target_pid", to: UInt32(pid ?? 0))
        }
        let program = try object.program("usdt_probe")
        let specs = try TypedMap<UInt32, usdt_site_spec>(object.map("usdt_specs"))
        for (index, site) in sites.enumerated() {
            try specs.update(UInt32(index), Self.siteSpec(site, strings: Set(string)))
            // The kernel counts the semaphore (uprobe ref_ctr_offset, Linux 4.20) in every
            // process the probe is installed in, and uncounts it when the probe goes.
            object.keep(try program.attachUprobe(
                path: path, fileOffset: site.fileOffset, pid: pid, cookie: UInt64(index),
                referenceCounterOffset: site.semaphoreFileOffset,
                description: "\(binary):\(site.provider):\(site.name) at 0x\(String(site.address, radix: 16))"))
        }
        let ring = try RingBuffer(map: object.map("events"))
        let loop = try EventLoop()
        let out = Output.standardOutput
        let labels = sites.map { $0.provider + ":" + $0.name }
        let arguments = sites.map(\.arguments)

        if !json {
            out.line("\(Columns.left("TIME", 9)) \(Columns.left("PID", 7)) \(Columns.left("TID", 7)) \(Columns.left("COMM", 16)) "
                + "\(Columns.left("PROBE", 24)) ARGS")
        }
        try loop.watch(ring) { bytes in
            guard bytes.count >= MemoryLayout<usdt_event>.size else { return }
            let event = bytes.loadUnaligned(as: usdt_event.self)
            let site = Int(event.site)
            guard site < labels.count else { return }
            let values = Self.decode(event, arguments: arguments[site], strings: string)
            let comm = cString(event.comm)
            if json {
                out.line(JSON.object([
                    ("time", .string(Clock.wallTime())), ("pid", .unsigned(UInt64(event.pid))),
                    ("tid", .unsigned(UInt64(event.tid))), ("comm", .string(comm)), ("probe", .string(labels[site])),
                    ("args", .array(values.map(\.json))),
                ]).serialized())
                return
            }
            let text = values.enumerated().map { "arg\($0.offset + 1)=\($0.element.text)" }.joined(separator: " ")
            out.line("\(Columns.left(Clock.wallTime(), 9)) \(Columns.left(event.pid, 7)) \(Columns.left(event.tid, 7)) "
                + "\(Columns.left(comm, 16)) \(Columns.left(labels[site], 24)) \(text)")
        }
        try loop.run()
        reportLostEvents(object)
        object.close()
    }

    /// A relative path made absolute (a pid's binary is looked up inside /proc/PID/root);
    /// names without a slash are library names and stay as they are.
    static func absolute(_ path: String) -> String {
        guard path.contains("/"), !path.hasPrefix("/"), let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// The BPF side's table entry for one site: where each of its first six arguments lives.
    static func siteSpec(_ site: ELFFile.USDTProbe, strings: Set<Int>) -> usdt_site_spec {
        var spec = usdt_site_spec()
        let count = min(site.arguments.count, Int(USDT_MAX_ARGS))
        spec.count = UInt32(count)
        withUnsafeMutableBytes(of: &spec.args) { raw in
            let table = raw.bindMemory(to: usdt_arg_spec.self)
            for (index, argument) in site.arguments.prefix(count).enumerated() {
                var entry = usdt_arg_spec()
                entry.size = UInt8(argument.size)
                entry.is_signed = argument.isSigned ? 1 : 0
                entry.is_string = strings.contains(index + 1) ? 1 : 0
                switch argument.location {
                case .constant(let value):
                    entry.kind = UInt8(USDT_ARG_CONSTANT)
                    entry.value = value
                case .register(let register):
                    entry.kind = UInt8(USDT_ARG_REGISTER)
                    entry.reg_offset = UInt16(register.ptRegsOffset)
                case .memory(let register, let offset):
                    entry.kind = UInt8(USDT_ARG_MEMORY)
                    entry.reg_offset = UInt16(register.ptRegsOffset)
                    entry.value = offset
                case .unsupported:
                    entry.kind = UInt8(USDT_ARG_NONE)
                }
                table[index] = entry
            }
        }
        return spec
    }

    /// One decoded argument, for columns and for JSON.
    struct Value {
        var text: String
        var json: JSON
    }

    static func decode(_ event: usdt_event, arguments: [USDTArgument], strings: [Int]) -> [Value] {
        var event = event
        let count = min(Int(event.count), arguments.count, Int(USDT_MAX_ARGS))
        let raw = withUnsafeBytes(of: &event.args) { Array($0.bindMemory(to: UInt64.self)) }
        let texts = withUnsafeBytes(of: &event.strings) { bytes in
            (0..<Int(USDT_MAX_ARGS)).map { index in
                let slot = bytes[(index * Int(USDT_STRING_SIZE))..<((index + 1) * Int(USDT_STRING_SIZE))]
                return String(decoding: slot.prefix { $0 != 0 }, as: UTF8.self)
            }
        }
        return (0..<count).map { index in
            if case .unsupported = arguments[index].location { return Value(text: "?", json: .null) }
            if strings.contains(index + 1) { return Value(text: "\"\(texts[index])\"", json: .string(texts[index])) }
            if arguments[index].isSigned {
                let value = Int64(bitPattern: raw[index])
                return Value(text: String(value), json: .int(value))
            }
            return Value(text: String(raw[index]), json: .unsigned(raw[index]))
        }
    }
}
