#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import BPFKit
import Report

/// `bpfkit tplist`: kernel tracepoints from tracefs, or a binary's (`-l`) or process's (`-p`)
/// USDT probes from their `.note.stapsdt`, as bcc's tplist prints them.
public struct Tplist: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "tplist",
        abstract: "Display kernel tracepoints or USDT probes and their formats.")

    @Option(name: .shortAndLong, help: "List USDT probes in the binary and libraries this process maps.")
    var pid: Int32?

    @Option(name: [.customShort("l"), .customLong("lib")], help: "List USDT probes in this binary or library.")
    var library: String?

    @Flag(name: .customShort("v"), help: "Also print tracepoint fields, or USDT semaphores, sites and arguments.")
    var verbosity: Int

    @Argument(help: "Only what matches this glob: CATEGORY:EVENT, or PROVIDER:NAME for USDT.")
    var filter: String?

    public init() {}

    public func validate() throws {
        if let pid, pid <= 0 { throw ValidationError("--pid must be a process id above 0") }
        if pid != nil && library != nil { throw ValidationError("give -p or -l, not both") }
    }

    public func run() throws {
        try reportingFailures(tool: "tplist") {
            if let library {
                try listProbes(in: [UprobeTarget.locate(library, pid: nil)], strict: true)
            } else if let pid {
                try listProbes(in: mappedFiles(of: pid), strict: false)
            } else {
                try listTracepoints()
            }
        }
    }

    private func matches(_ name: String) -> Bool {
        guard let filter else { return true }
        return fnmatch(filter, name, 0) == 0
    }

    /// Probes grouped by provider:name in note order, each with its sites.
    private func listProbes(in paths: [String], strict: Bool) throws {
        let out = Output.standardOutput
        for path in paths {
            let probes: [ELFFile.USDTProbe]
            do { probes = try ELFFile.usdtProbes(inFileAt: path) } catch {
                if strict { throw error }
                continue
            }
            var order: [String] = []
            var sites: [String: [ELFFile.USDTProbe]] = [:]
            for probe in probes {
                let key = probe.provider + ":" + probe.name
                guard matches(key) else { continue }
                if sites[key] == nil { order.append(key) }
                sites[key, default: []].append(probe)
            }
            for key in order {
                let group = sites[key]!
                guard verbosity > 0 else {
                    out.line("\(path) \(key)")
                    continue
                }
                out.line("\(path) \(key) [sema 0x\(String(group[0].semaphore, radix: 16))]")
                for (index, site) in group.enumerated() {
                    out.line("  location #\(index + 1) \(path) 0x\(String(site.address, radix: 16))")
                    for (number, argument) in site.arguments.enumerated() {
                        out.line("    argument #\(number + 1) \(argument)")
                    }
                }
            }
        }
    }

    /// The ELF files process `pid` maps, each once, in map order.
    private func mappedFiles(of pid: Int32) throws -> [String] {
        guard let maps = readSmallFile("/proc/\(pid)/maps", limit: 16 << 20) else {
            throw AttachError("process \(pid) does not exist (no /proc/\(pid)/maps)")
        }
        var seen: Set<String> = []
        var files: [String] = []
        for line in maps.split(separator: "\n") {
            let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard fields.count == 6 else { continue }
            let path = String(fields[5].drop { $0 == " " })
            guard path.hasPrefix("/"), !path.hasSuffix(" (deleted)"), seen.insert(path).inserted else { continue }
            files.append("/proc/\(pid)/root" + path)
        }
        return files
    }

    private func listTracepoints() throws {
        let events = try Tracefs.root() + "/events"
        let out = Output.standardOutput
        for category in directoryNames(events) {
            for event in directoryNames(events + "/" + category) where matches(category + ":" + event) {
                let directory = events + "/" + category + "/" + event
                guard access(directory + "/id", F_OK) == 0 else { continue }
                out.line(category + ":" + event)
                guard verbosity > 0, let format = readSmallFile(directory + "/format") else { continue }
                for line in format.split(separator: "\n") {
                    // "\tfield:char prev_comm[16];\toffset:8;…": bcc prints the declaration.
                    let trimmed = line.drop { $0 == "\t" || $0 == " " }
                    guard trimmed.hasPrefix("field:"), let end = trimmed.firstIndex(of: ";") else { continue }
                    let declaration = trimmed[trimmed.index(trimmed.startIndex, offsetBy: 6)...end]
                    if declaration.split(separator: " ").last?.hasPrefix("common_") == true { continue }
                    out.line("    " + declaration)
                }
            }
        }
    }

    /// Subdirectory names of `path`, sorted.
    private func directoryNames(_ path: String) -> [String] {
        guard let directory = opendir(path) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name.hasPrefix(".") || entry.pointee.d_type != UInt8(DT_DIR) { continue }
            names.append(name)
        }
        return names.sorted()
    }
}
