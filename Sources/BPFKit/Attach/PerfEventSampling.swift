import CBPF

/// A perf event to sample on: what counts, and how often the program runs.
public struct PerfEvent: Sendable {
    /// `perf_type_id` and `config`.
    public var type: UInt32
    public var config: UInt64

    /// Software `cpu-clock`: works without a hardware PMU (VMs, locked-down hosts).
    public static let cpuClock = PerfEvent(type: 1, config: 0)
    /// Software `task-clock`.
    public static let taskClock = PerfEvent(type: 1, config: 1)
    /// Hardware CPU cycles (needs a PMU).
    public static let cycles = PerfEvent(type: 0, config: 0)
    /// Hardware instructions retired (needs a PMU).
    public static let instructions = PerfEvent(type: 0, config: 1)

    public init(type: UInt32, config: UInt64) {
        self.type = type
        self.config = config
    }

    /// How often the program runs: so many times a second, or every so many events.
    public enum Rate: Sendable {
        case frequency(UInt64)
        case period(UInt64)
    }
}

extension BPFProgram {
    /// Attaches a `perf_event` program to a sampling event on each of `cpus` (every online
    /// CPU by default), optionally only while `pid` runs. One link holds every CPU's event.
    ///
    /// ```swift
    /// let link = try program.attachPerfEvent(.cpuClock, rate: .frequency(99))
    /// ```
    public func attachPerfEvent(_ event: PerfEvent, rate: PerfEvent.Rate, cpus: [Int]? = nil, pid: Int32? = nil) throws -> Link {
        var descriptors: [FileDescriptor] = []
        let targets = pid != nil && cpus == nil ? [-1] : (cpus ?? CPUs.online)
        for cpu in targets {
            var attribute = cbpf_perf_event_attr()
            attribute.type = event.type
            attribute.config = event.config
            switch rate {
            case .frequency(let hertz):
                attribute.sample_period_or_freq = hertz
                attribute.flags |= 1 << 10  // freq
            case .period(let period):
                attribute.sample_period_or_freq = period
            }
            let fd: FileDescriptor
            do {
                fd = try perfEventOpen(&attribute, pid: pid ?? -1, cpu: Int32(cpu))
            } catch {
                if error.errno == 2 && event.type == 0 {
                    throw AttachError("attach \(name): this machine has no hardware PMU for event \(event.config); use cpu-clock")
                }
                throw AttachError("attach \(name) to perf event on CPU \(cpu): \(error)")
            }
            let link = try attachPerfEvent(fd, description: "perf event on CPU \(cpu)")
            descriptors += link.detach()
        }
        return Link(description: "perf event \(event.type):\(event.config) on \(targets.count) CPUs", descriptors: descriptors)
    }
}
