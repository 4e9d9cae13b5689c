#if canImport(Glibc)
import Glibc
#endif
import BPFKit
import Pprof
import Report

/// Turns the stack tools' samples into a pprof profile (`--pprof FILE`): every frame keeps its
/// address and mapping (file, range, offset, build ID) beside its function name, so a
/// pprof-speaking tool can re-symbolize what BPFKit could not.
///
/// Tools with other values make their own ``PprofProfile`` with their sample types and
/// add one sample per stack, e.g. memleak's outstanding allocations:
///
/// ```swift
/// var output = PprofStacks(symbolizer: symbolizer, kernelStacks: false, profile: PprofProfile(
///     sampleTypes: [.init("inuse_space", "bytes"), .init("inuse_objects", "count")]))
/// output.profile.defaultSampleType = "inuse_space"
/// for (level, bytes, allocations) in outstanding { output.add(level, values: [bytes, allocations]) }
/// try output.write(to: path)
/// ```
struct PprofStacks {
    var symbolizer: StackSymbolizer
    var userStacks = true
    var kernelStacks = true
    var profile: PprofProfile

    /// All kernel addresses in one mapping: kallsyms names them, there is no file to read.
    static let kernelMapping = PprofProfile.Mapping(start: 0xffff_8000_0000_0000, limit: .max, file: "[kernel.kallsyms]")

    init(symbolizer: StackSymbolizer, userStacks: Bool = true, kernelStacks: Bool = true, profile: PprofProfile) {
        self.symbolizer = symbolizer
        self.userStacks = userStacks
        self.kernelStacks = kernelStacks
        self.profile = profile
    }

    /// One task's frames, leaf first: kernel, then user — pprof's order.
    func frames(_ level: StackSamples.Level) -> [PprofProfile.Frame] {
        var result: [PprofProfile.Frame] = []
        if kernelStacks {
            if level.kernelStackError < 0 && level.kernelStackError != StackSamples.efault {
                result.append(Self.marker("[Missed Kernel Stack]"))
            } else {
                result += symbolizer.kernelAddresses(level).map {
                    PprofProfile.Frame(address: $0.address, function: $0.name, mapping: Self.kernelMapping)
                }
            }
        }
        if userStacks {
            if level.userStackError < 0 && level.userStackError != StackSamples.efault {
                result.append(Self.marker("[Missed User Stack]"))
            } else if !level.userStack.isEmpty {
                let process = symbolizer.process(level.pid)
                result += level.userStack.map { address in
                    let frame = process.symbolize(address)
                    let mapping = process.mappingAndBuildID(containing: address).map { found in
                        PprofProfile.Mapping(
                            start: found.mapping.start, limit: found.mapping.end, offset: found.mapping.offset,
                            file: found.mapping.path, buildID: found.buildID.map { ELFFile.hex($0) } ?? "")
                    }
                    return PprofProfile.Frame(address: address, function: frame.name, mapping: mapping)
                }
            }
        }
        return result
    }

    /// One task's stack as a sample, labeled with its comm and pid; one value per sample type.
    mutating func add(_ level: StackSamples.Level, values: [Int64]) {
        profile.addSample(frames(level), values: values, labels: Self.labels(level))
    }

    /// A frame that is a name only: bcc's markers (`--`, a waker's comm) and missed stacks.
    static func marker(_ name: String) -> PprofProfile.Frame {
        PprofProfile.Frame(address: 0, function: name)
    }

    /// The labels every sample carries: the task's name and process id.
    static func labels(_ level: StackSamples.Level, prefix: String = "") -> [PprofProfile.Label] {
        [.init(prefix + "comm", level.comm), .init(prefix + "pid", number: Int64(level.pid))]
    }

    /// Writes the profile, saying so on standard error as the flame graph output does.
    mutating func write(to path: String) throws {
        try profile.write(toPath: path)
        Output.standardError.line("wrote pprof profile \(path)")
    }

    /// Fails before tracing, not after, when the profile could not be written.
    static func checkWritable(_ path: String?) throws {
        guard let path else { return }
        let descriptor = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw PprofError("cannot write \(path): \(String(cString: strerror(errno)))") }
        close(descriptor)
    }
}

extension PprofStacks {
    /// Off-CPU time per stack (the tools sum microseconds) as `off-cpu`/`nanoseconds`.
    static func offCPU(symbolizer: StackSymbolizer, options: OffCPUOptions, started: Int64) -> PprofStacks {
        var profile = PprofProfile(sampleTypes: [.init("off-cpu", "nanoseconds")], timeNanos: started)
        profile.durationNanos = PprofProfile.now() - started
        return PprofStacks(symbolizer: symbolizer, userStacks: !options.kernelStacksOnly,
                           kernelStacks: !options.userStacksOnly, profile: profile)
    }

    /// A chain (blocked task, then its wakers) as one sample, leaf first: the reverse of
    /// the folded line — for each waker from the outermost, its comm and its frames root
    /// first, then `--`; then the blocked task's frames. Labels name the blocked task.
    mutating func addChain(_ stack: StackSamples.Stack, microseconds: UInt64) {
        guard let target = stack.levels.first else { return }
        var result: [PprofProfile.Frame] = []
        for waker in stack.levels.dropFirst().reversed() {
            result.append(Self.marker(waker.comm))
            result += frames(waker).reversed()
            result.append(Self.marker("--"))
        }
        result += frames(target)
        profile.addSample(result, values: [Int64(clamping: microseconds) &* 1000], labels: Self.labels(target))
    }
}
