import Foundation
import Testing

/// Six named threads, each in one state nearly all the time: `tsa-spin` on a CPU (nice
/// -20, so the busy machine's other work seldom queues it; the others run SCHED_FIFO), `tsa-sleep` in nanosleep,
/// `tsa-disk` in 64 KiB O_DIRECT reads of the device in argv[1], `tsa-lock` blocked on a mutex
/// that `tsa-holder` keeps while it sleeps 50 ms at a time, `tsa-parked` on a mutex that is
/// never released (no scheduler event ever: tsa learns its state from /proc). Prints its pid
/// once all are named.
private let threadsSource = """
    #define _GNU_SOURCE
    #include <fcntl.h>
    #include <pthread.h>
    #include <sched.h>
    #include <stdio.h>
    #include <stdlib.h>
    #include <sys/prctl.h>
    #include <sys/resource.h>
    #include <sys/syscall.h>
    #include <time.h>
    #include <unistd.h>
    static const char *device;
    static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
    static pthread_barrier_t named;
    static void nap(long us) { struct timespec t = {us / 1000000, (us % 1000000) * 1000L}; nanosleep(&t, 0); }
    static void name(const char *text) { prctl(PR_SET_NAME, text); pthread_barrier_wait(&named); }
    /// The threads that block: real-time priority, so a wakeup runs at once even while every
    /// other test loads both CPUs (they run microseconds at a time: nothing is starved).
    static void prompt(void) {
        setpriority(PRIO_PROCESS, syscall(SYS_gettid), -20);
        struct sched_param param = {.sched_priority = 1};
        pthread_setschedparam(pthread_self(), SCHED_FIFO, &param);
    }
    static void *spin(void *unused) {
        setpriority(PRIO_PROCESS, syscall(SYS_gettid), -20);
        name("tsa-spin");
        volatile unsigned long counter = 0;
        for (;;) counter++;
    }
    static void *doze(void *unused) { prompt(); name("tsa-sleep"); for (;;) nap(10000); }
    static void *disk(void *unused) {
        prompt();
        int fd = open(device, O_RDONLY | O_DIRECT);
        void *buffer;
        if (fd < 0 || posix_memalign(&buffer, 4096, 64 << 10)) { perror("open"); exit(2); }
        name("tsa-disk");
        for (unsigned i = 0;; i++)
            if (pread(fd, buffer, 64 << 10, (off_t)(i * 37 % 256) << 16) < 0) { perror("pread"); exit(3); }
    }
    static void *hold(void *unused) {
        prompt();
        name("tsa-holder");
        for (;;) { pthread_mutex_lock(&mutex); nap(50000); pthread_mutex_unlock(&mutex); nap(1000); }
    }
    static void *wait_on_lock(void *unused) {
        prompt();
        name("tsa-lock");
        for (;;) { pthread_mutex_lock(&mutex); pthread_mutex_unlock(&mutex); nap(2000); }
    }
    static pthread_mutex_t never = PTHREAD_MUTEX_INITIALIZER;
    static void *park(void *unused) { name("tsa-parked"); pthread_mutex_lock(&never); return 0; }
    int main(int argc, char **argv) {
        device = argv[1];
        void *(*bodies[])(void *) = {spin, doze, disk, hold, wait_on_lock, park};
        pthread_mutex_lock(&never);
        pthread_barrier_init(&named, 0, 7);
        for (int i = 0; i < 6; i++) { pthread_t thread; pthread_create(&thread, 0, bodies[i], 0); }
        pthread_barrier_wait(&named);
        printf("%d\\n", getpid());
        fflush(stdout);
        for (;;) pause();
    }
    """

private func buildThreads() throws -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueMarker("tsa"))
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let file = directory.appendingPathComponent("threads.c").path
    let binary = directory.appendingPathComponent("threads").path
    try threadsSource.write(toFile: file, atomically: true, encoding: .utf8)
    let built = try shell("/bin/sh", ["-c", "cc -O1 -pthread -o \(binary) \(file)"])
    guard built.status == 0 else { throw LoopError("cc failed: \(built.output)") }
    return binary
}

/// The table's rows by COMM (the last interval's): the seven numbers after TID and COMM.
private func rows(_ run: ToolRun) -> [String: [Double]] {
    var result: [String: [Double]] = [:]
    for line in run.lines {
        let fields = line.split(separator: " ")
        guard fields.count == 9, UInt32(fields[0]) != nil else { continue }
        let numbers = fields[2...].compactMap { Double($0) }
        if numbers.count == 7 { result[String(fields[1])] = numbers }
    }
    return result
}

@Suite("tsa, against the real kernel", .serialized)
struct TsaTests {
    /// Runs the six-thread program over a 16 MiB loop device filled with data.
    private func withThreads(_ body: (Int32) throws -> Void) throws {
        let loop = try LoopDevice(megabytes: 16)
        defer { loop.close() }
        try directIO(loop.device, write: true, size: 1 << 20, count: 16)
        // Direct I/O on the backing file too, so each read waits for the disk and not
        // just for a copy out of the page cache.
        _ = try shell("/usr/sbin/losetup", ["--direct-io=on", loop.device])
        let binary = try buildThreads()
        let program = try ToolRun(binary, [loop.device])
        defer { program.stop(SIGKILL) }
        let started = try program.wait(timeout: 10) { !$0.lines.isEmpty }
        #expect(started, "\(program.stderr)")
        let pid = try #require(program.lines.first.flatMap { Int32($0) })
        try body(pid)
    }

    @Test("tsa -p PID 2 1 shows each thread's dominant state with at least 70% of its time")
    func dominantStates() throws {
        try withThreads { pid in
            let run = try ToolRun(["tsa", "-p", String(pid), "2", "1"])
            #expect(run.waitForExit(timeout: 30) == 0, "\(run.stderr)")
            let table = rows(run)
            // Columns: CPU% RUNQ% SLEEP% DISK% LOCK% OTHER% TOTAL_ms.
            let expected = [
                ("tsa-spin", 0), ("tsa-sleep", 2), ("tsa-disk", 3), ("tsa-lock", 4), ("tsa-holder", 2), ("tsa-parked", 4),
            ]
            for (comm, state) in expected {
                let row = try #require(table[comm], "no row for \(comm) in:\n\(run.stdout)")
                #expect(row[state] >= 70, "\(comm): \(row) in:\n\(run.stdout)")
                #expect(row[6] > 1500 && row[6] < 2500, "\(comm) observed \(row[6]) ms of 2000")
            }
            #expect(loadedProgramIDs(namedWithPrefix: "tsa_").isEmpty, "tsa left programs loaded")
        }
    }

    @Test("tsa --json and -m: one object per interval; system-wide -T lists the spinning thread")
    func jsonAndTop() throws {
        try withThreads { pid in
            let json = try ToolRun(["tsa", "-p", String(pid), "--json", "1", "2"])
            #expect(json.waitForExit(timeout: 30) == 0, "\(json.stderr)")
            let objects = json.jsonEvents
            #expect(objects.count == 2)
            let threads = try #require(objects.last?["threads"] as? [[String: Any]])
            let spin = try #require(threads.first { $0["comm"] as? String == "tsa-spin" })
            // Dominant, not a threshold: this test is about the fields (the one above about shares).
            let percents = ["cpu", "runq", "sleep", "disk", "lock", "other"].map { spin["\($0)_pct"] as? Double ?? -1 }
            #expect(percents[0] == percents.max() && percents[0] > 50, "\(spin)")
            #expect(abs((spin["cpu_ms"] as? Double ?? 0) / (spin["total_ms"] as? Double ?? 1) * 100 - percents[0]) < 0.5, "\(spin)")

            // The second interval: in the first, a thread shows only from its first switch.
            let top = try ToolRun(["tsa", "-T", "20", "-m", "1", "2"])
            #expect(top.waitForExit(timeout: 30) == 0, "\(top.stderr)")
            let row = try #require(rows(top)["tsa-spin"], "\(top.stdout)")
            #expect(row[0] == row[0..<6].max() && row[0] > 500, "tsa-spin CPU_ms \(row)")
        }
    }

    @Test("tsa -p PID without an interval reports once when the process exits, and exits 0")
    func endsWithProcess() throws {
        let sleeper = Process()
        sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
        sleeper.arguments = ["1.5"]
        try sleeper.run()
        defer { kill(sleeper.processIdentifier, SIGKILL) }
        let run = try ToolRun(["tsa", "-p", String(sleeper.processIdentifier)])
        #expect(run.waitForExit(timeout: 15) == 0, "\(run.stderr)")
        let row = try #require(rows(run)["sleep"], "\(run.stdout)")
        #expect(row[2] >= 70, "sleep: \(row)")
    }

    @Test("tsa -p with a PID that does not exist: one line on stderr, non-zero exit")
    func missingProcess() throws {
        let run = try ToolRun(["tsa", "-p", "4194305"])
        #expect(run.waitForExit() != 0)
        let lines = run.stderr.split(separator: "\n")
        #expect(lines.count == 1 && run.stderr.contains("does not exist"), "\(run.stderr)")
    }
}
