#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import BPFKit
import Report

/// `bpfkit checklist`: the first 60 seconds of a performance investigation (uptime, dmesg,
/// vmstat, mpstat, pidstat, iostat, free, sar) in one command, read from /proc and /sys
/// over a short interval, then a USE-method summary that names the tool to run next.
public struct Checklist: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "checklist",
        abstract: "The first 60 seconds: load, errors, CPU, processes, disks, memory, network — and what to run next.",
        discussion: """
            Reads /proc and /sys twice, -i seconds apart, and prints what uptime, dmesg \
            (errors, via /dev/kmsg), vmstat 1, mpstat -P ALL 1, pidstat 1, iostat -xz 1, \
            free -m and sar -n DEV,TCP,ETCP 1 would show for that interval; then a USE-method \
            summary (utilization, saturation, errors) per resource, flagging CPUs over 90% \
            busy or with more runnable threads than CPUs, less than 10% memory available or \
            any swapping, disks over 60% busy or queueing, interface errors or drops, TCP \
            retransmits over 1%, and kernel errors in the last 10 minutes — each with the \
            BPFKit command to run next. No BPF programs are loaded.

            JSON fields (--json), one object: timestamp, interval, uptime, load, cpus, \
            dmesg [{time, level, text}], vmstat {runnable, blocked, swap_in_kb, swap_out_kb, \
            interrupts, context_switches, major_faults}, mpstat [{cpu, usr, sys, iowait, irq, \
            soft, steal, idle}], pidstat [{pid, comm, usr, system, cpu}], iostat [{device, \
            r_s, w_s, rkb_s, wkb_s, r_await, w_await, aqu_sz, util}], free {total, used, free, \
            shared, buff_cache, available, swap_total, swap_used} (MiB), network [{iface, \
            rxpck_s, txpck_s, rxkb_s, txkb_s, errors_s, drops_s, ifutil}], tcp {active_s, \
            passive_s, iseg_s, oseg_s, retrans_s, atmptf_s, estres_s, inerrs_s, orsts_s, \
            established}, use [{resource, utilization, saturation, errors, flagged, flags, next}].
            """)

    @Option(name: .shortAndLong, help: "Seconds between the two readings.")
    var interval: Double = 1

    @Option(help: "Processes to list by CPU.")
    var top: Int = 5

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    public init() {}

    public func validate() throws {
        if !(interval > 0 && interval <= 3600) { throw ValidationError("-i must be a number of seconds above 0 (at most 3600)") }
        if top < 0 { throw ValidationError("--top must be 0 or more") }
    }

    public func run() throws {
        let first = SystemSnapshot.take()
        var pause = timespec(tv_sec: Int(interval), tv_nsec: Int((interval - interval.rounded(.down)) * 1e9))
        var left = timespec()
        while nanosleep(&pause, &left) != 0 && errno == EINTR { pause = left }
        let second = SystemSnapshot.take()
        let figures = ChecklistFigures(first, second, topProcesses: top)
        let messages = KernelLog.errors()
        let recent = messages.map { $0.filter { $0.time >= figures.uptime - 600 }.count }
        let findings = UseSummary.findings(figures, kernelErrors: recent)
        if json {
            Output.standardOutput.line(ChecklistOutput.json(figures, messages: messages, findings: findings).serialized())
        } else {
            Output.standardOutput.write(ChecklistOutput.text(figures, messages: messages, findings: findings))
        }
    }
}
