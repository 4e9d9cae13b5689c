"""Shared mechanics of the bench/ scripts: peers and the bpfkit binary, starting a tracer and
waiting until it is ready, its peak RSS, stopping it, and the small C helpers some scripts build.

Not executable on purpose: bench/run-all runs executables only. Scripts import it with
`sys.path.insert(0, os.path.dirname(__file__))`.

"Ready" means the first event the tool can see, and is observed two ways:
- `printed(marker)`: the tool's output shows an event we provoked (snoop tools);
- `programs_ran()`: one of the tool's BPF programs has run (tools that print nothing until they
  end: histograms, stack sums). The kernel counts runs only while run-time statistics are on;
  `BPFStats` turns them on for as long as it is open (BPF_ENABLE_STATS, no global sysctl left
  behind), so they cost nothing while an overhead is measured.
"""

import atexit
import ctypes
import datetime
import fcntl
import hashlib
import os
import platform
import re
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import termios
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
SBIN_PATH = os.environ.get("PATH", "") + ":/usr/local/sbin:/usr/sbin:/sbin"
STOP_GRACE = 3.0  # seconds between SIGINT and SIGKILL
LIFE_STOP_GRACE = 15.0  # the same after a tool has traced (it then has stacks to symbolize)
TRIGGER_INTERVAL = 0.002  # seconds between provoked events while waiting for readiness
PEER_PACKAGES = ["bpfcc-tools", "libbpf-tools", "bpftrace", "linux-perf"]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# Setup: tracefs, peers, the bpfkit binary, the machine


def ensure_tracefs():
    # Tracepoint-based tools read event ids from tracefs; some machines boot without it.
    if os.path.isdir("/sys/kernel/tracing/events"):
        return
    r = subprocess.run(["mount", "-t", "tracefs", "tracefs", "/sys/kernel/tracing"],
                       stdout=sys.stderr, stderr=sys.stderr)
    if r.returncode != 0:
        log("warning: could not mount tracefs; tracepoint tools may fail")


def dpkg_version(pkg):
    r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else None


def apt_install(pkgs):
    """Install the Debian packages; True when all are installed afterwards."""
    if all(dpkg_version(p) for p in pkgs):
        return True
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        log(f"cannot install {' '.join(pkgs)}: not root or no apt-get")
        return False
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-q"] + pkgs
    log(f"installing {' '.join(pkgs)} ...")
    r = subprocess.run(cmd, env=env, stdout=sys.stderr, stderr=sys.stderr)
    if r.returncode != 0:
        # A fresh machine may have no package lists yet: refresh them once and retry.
        subprocess.run(["apt-get", "update", "-q"], env=env, stdout=sys.stderr, stderr=sys.stderr)
        r = subprocess.run(cmd, env=env, stdout=sys.stderr, stderr=sys.stderr)
    return r.returncode == 0


def install_peers(pkgs=PEER_PACKAGES, no_install=False):
    """Install what is missing; one broken package does not keep the others out."""
    if no_install or apt_install(pkgs):
        return
    for pkg in pkgs:
        apt_install([pkg])


def find_bpfkit(no_build=False):
    """(path of the bpfkit binary, None) or (None, why not)."""
    path = os.environ.get("BPFKIT", os.path.join(REPO, ".build/release/bpfkit"))
    if os.access(path, os.X_OK):
        return os.path.abspath(path), None
    if "BPFKIT" in os.environ:
        return None, f"$BPFKIT={path} is not an executable file"
    if no_build:
        return None, f"{path} missing and --no-build given"
    if not shutil.which("swift"):
        return None, f"{path} missing and no swift toolchain to build it"
    # Statically linked Swift runtime: that is how bpfkit is meant to ship, and it changes RSS.
    cmd = ["swift", "build", "-c", "release", "--product", "bpfkit", "--static-swift-stdlib"]
    log(f"{path} missing: {' '.join(cmd)}")
    r = subprocess.run(cmd, cwd=REPO, stdout=sys.stderr, stderr=sys.stderr)
    if r.returncode != 0 or not os.access(path, os.X_OK):
        return None, f"{path} missing and `{' '.join(cmd)}` failed (exit {r.returncode})"
    return os.path.abspath(path), None


def git_rev():
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                          text=True).stdout.strip() or "no commit"


def bpftrace_version():
    path = shutil.which("bpftrace")
    if not path:
        return None
    r = subprocess.run([path, "--version"], capture_output=True, text=True)
    return r.stdout.strip() or None


def header_lines(load=None):
    """Date, machine, load and every peer's version, as markdown list items."""
    load = load or os.getloadavg()
    lines = [f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
             f"- machine: kernel `{platform.release()}`, {os.cpu_count()} CPUs, load average at "
             f"start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
             f"- BPFKit: `{os.environ.get('BPFKIT', '.build/release/bpfkit')}` (git {git_rev()})"]
    for pkg in PEER_PACKAGES:
        lines.append(f"- {pkg}: {dpkg_version(pkg) or 'not installed'}")
    return lines


def compile_c(name, source):
    """Build a small C helper once per source text; returns the binary's path."""
    digest = hashlib.sha1(source.encode()).hexdigest()[:12]
    directory = f"/tmp/bpfkit-bench-{os.getuid()}"
    os.makedirs(directory, exist_ok=True)
    binary = os.path.join(directory, f"{name}-{digest}")
    if not os.access(binary, os.X_OK):
        src = binary + ".c"
        with open(src, "w") as f:
            f.write(source)
        cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang") or "/opt/swift/usr/bin/clang"
        subprocess.run([cc, "-O2", "-o", binary, src], check=True, stdout=sys.stderr, stderr=sys.stderr)
    return binary


# ---------------------------------------------------------------------------------------
# The peers' commands for the same job

# bpftrace one-liners for the tools Debian's bpftrace 0.17 does not ship, or ships in a form that
# cannot run here (biolatency.bt uses kprobes, runqlat.bt includes kernel headers). Each does
# what the tool does with tracepoints and the profile probe, as a person would type it.
BPFTRACE_ONELINERS = {
    "biolatency": "tracepoint:block:block_rq_issue { @start[args->dev, args->sector] = nsecs; } "
                  "tracepoint:block:block_rq_complete /@start[args->dev, args->sector]/ { "
                  "@usecs = hist((nsecs - @start[args->dev, args->sector]) / 1000); "
                  "delete(@start[args->dev, args->sector]); } END { clear(@start); }",
    "runqlat": "tracepoint:sched:sched_wakeup, tracepoint:sched:sched_wakeup_new { "
               "@qtime[args->pid] = nsecs; } tracepoint:sched:sched_switch { "
               "if (args->prev_state == 0) { @qtime[args->prev_pid] = nsecs; } "
               "$ns = @qtime[args->next_pid]; if ($ns) { @usecs = hist((nsecs - $ns) / 1000); } "
               "delete(@qtime[args->next_pid]); } END { clear(@qtime); }",
    "profile": "profile:hz:{hz} { @[kstack, ustack, comm] = count(); }",
    # The stacks are taken as a thread leaves the CPU and summed when it comes back.
    "offcputime": "tracepoint:sched:sched_switch { @start[args->prev_pid] = nsecs; "
                  "@kst[args->prev_pid] = kstack; @ust[args->prev_pid] = ustack; "
                  "$s = @start[args->next_pid]; if ($s) { "
                  "@[@kst[args->next_pid], @ust[args->next_pid], args->next_comm] = sum(nsecs - $s); "
                  "delete(@start[args->next_pid]); } } END { clear(@start); clear(@kst); clear(@ust); }",
}


def bpftrace_oneliner(tool, hz=99):
    path = shutil.which("bpftrace", path=SBIN_PATH)
    if not path or tool not in BPFTRACE_ONELINERS:
        return None
    return [path, "-e", BPFTRACE_ONELINERS[tool].replace("{hz}", str(hz))]


def bpftrace_shipped(tool):
    """Debian's bpftrace tool of that name (`/usr/sbin/<tool>.bt`), if installed."""
    path = shutil.which(f"{tool}.bt", path=SBIN_PATH)
    return [path] if path else None


def bcc_tool(tool):
    path = shutil.which(f"{tool}-bpfcc", path=SBIN_PATH)
    return [path] if path else None


def libbpf_tool(tool):
    # Debian's libbpf-tools install plain names in /usr/sbin; bcc's python tools are *-bpfcc.
    path = f"/usr/sbin/{tool}"
    return [path] if os.access(path, os.X_OK) and dpkg_version("libbpf-tools") else None


# ---------------------------------------------------------------------------------------
# BPF run-time statistics: which of a process's programs have run


class BPFStats:
    """Run-time statistics on while open (BPF_ENABLE_STATS, Linux 5.8); the kernel turns them
    off again when the last holder closes its descriptor."""
    SYS_BPF = 321  # x86_64
    BPF_ENABLE_STATS = 32
    BPF_PROG_GET_FD_BY_ID = 13

    def __init__(self):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = -1

    def bpf(self, cmd, words):
        attr = (ctypes.c_uint32 * 16)(*words)
        return self.libc.syscall(self.SYS_BPF, cmd, ctypes.byref(attr), ctypes.sizeof(attr))

    def __enter__(self):
        self.fd = self.bpf(self.BPF_ENABLE_STATS, [0])  # BPF_STATS_RUN_TIME
        if self.fd < 0:
            log(f"warning: BPF_ENABLE_STATS failed (errno {ctypes.get_errno()}); "
                "readiness by program runs will time out")
        return self

    def __exit__(self, *exc):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def run_count(self, prog_id):
        """How often the program has run (0 if it is gone)."""
        fd = self.bpf(self.BPF_PROG_GET_FD_BY_ID, [prog_id])
        if fd < 0:
            return 0
        try:
            with open(f"/proc/self/fdinfo/{fd}") as f:
                for line in f:
                    if line.startswith("run_cnt:"):
                        return int(line.split()[1])
        finally:
            os.close(fd)
        return 0


def fd_kinds(pid):
    """{fd number: readlink target} of a process (empty if it is gone)."""
    kinds = {}
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                kinds[fd] = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                pass
    except OSError:
        pass
    return kinds


def prog_ids(pid):
    """Ids of the BPF programs a process holds, directly or through a link."""
    ids = set()
    for fd, kind in fd_kinds(pid).items():
        if kind in ("anon_inode:bpf-prog", "anon_inode:bpf_link"):
            try:
                with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                    for line in f:
                        if line.startswith("prog_id:"):
                            ids.add(int(line.split()[1]))
            except OSError:
                pass
    return ids


def perf_event_fds(pid):
    return sum(1 for kind in fd_kinds(pid).values() if kind == "anon_inode:[perf_event]")


# ---------------------------------------------------------------------------------------
# Readiness conditions: called as ready(tracer) while the tool starts


def printed(needle):
    """Ready once the tool's stdout shows needle."""
    needle = needle.encode() if isinstance(needle, str) else needle
    return lambda t: needle in t.out


def programs_ran(stats):
    """Ready once any BPF program the tool holds has run; needs `stats` (a BPFStats) open."""
    return lambda t: any(stats.run_count(prog_id) > 0 for prog_id in prog_ids(t.pid))


def perf_events_open(count):
    """Ready once the process holds `count` perf event descriptors (perf record: one per CPU)."""
    return lambda t: perf_event_fds(t.pid) >= count


def error_printed(t):
    """A tool that keeps running after failing to attach (bpftrace with a kprobe it cannot
    create) has failed once it prints an error line."""
    lines = []
    for buf in (t.out, t.err):
        lines += buf.decode(errors="replace").split("\n")[:-1]  # complete lines only
    return any(ERROR_LINE.search(l) and "RLIMIT_MEMLOCK" not in l for l in lines)


ERROR_LINE = re.compile(r"^ERROR|create_probe_event|No such file|not supported|Permission denied")


# ---------------------------------------------------------------------------------------
# One tool run: start, wait for ready, measure, stop


def open_stdout(mode):
    """(read end for us, write end for the tool). A pty makes C stdio line-buffer, as a person
    running the tool sees it; on a pipe it would hold events back until 4 KiB accumulate."""
    if mode == "pipe":
        return os.pipe()
    master, slave = os.openpty()
    # Wide terminal so no tool truncates lines (and a marker) to 80 columns.
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 500, 0, 0))
    return master, slave


def read_some(fd):
    """Bytes available on fd; b'' at EOF (a pty master reports EOF as EIO)."""
    try:
        return os.read(fd, 65536)
    except OSError:
        return b""


def shorten(line, limit=120):
    """First sentence of a long message (bcc's ends in a long hint), at most limit chars."""
    if len(line) > limit and ". " in line:
        line = line.split(". ")[0] + "."
    return line if len(line) <= limit else line[:limit - 3] + "..."


def reason_from(text):
    """The most telling line of a failed tool's output, for the report."""
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    # bcc says "Unable to find kernel headers" on stdout, which is not ours when it is /dev/null.
    lines = [l + " (no kernel headers)" if re.search(r"/lib/modules/.*/build", l) else l for l in lines]
    for pat in (r"unable to find kernel headers", r"failed to|error|permission|not permitted|"
                r"unable|cannot|can't|no such|not supported"):
        for l in lines:
            if (re.search(pat, l, re.I) and not l.startswith("File ") and not l.startswith("WARNING")
                    and "RLIMIT_MEMLOCK" not in l):
                return shorten(l)
    return shorten(lines[-1]) if lines else "no output"


def proc_hwm_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def spawn(argv, stdout_fd, stderr_fd, env=None, extra=()):
    """posix_spawn in its own process group, so leftovers (bcc's shell-outs) die with the tool."""
    actions = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
               (os.POSIX_SPAWN_DUP2, stdout_fd, 1), (os.POSIX_SPAWN_DUP2, stderr_fd, 2)] + list(extra)
    return os.posix_spawn(argv[0], argv, dict(os.environ, **(env or {})), file_actions=actions,
                          setpgroup=0)


# Why a launcher: a process's ru_maxrss starts from the RSS of the address space it had before
# exec. posix_spawn from this Python process (20 MB) would make every tool's peak at least 20 MB.
# This launcher is small: it forks the tool, reports on fd 3 the tool's pid and the monotonic
# time just before the fork, ignores SIGINT/SIGTERM (meant for the tool), and reports the
# tool's wait status, peak RSS and CPU times from wait4 when it ends.
LAUNCHER_C = r"""
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    pid_t pid = fork();
    if (pid == 0) {
        close(3);
        execvp(argv[1], argv + 1);
        perror(argv[1]);
        _exit(127);
    }
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    dprintf(3, "%d %lld\n", pid, (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0) return 126;
    dprintf(3, "%d %ld %ld.%06ld %ld.%06ld\n", status, ru.ru_maxrss, (long)ru.ru_utime.tv_sec,
            (long)ru.ru_utime.tv_usec, (long)ru.ru_stime.tv_sec, (long)ru.ru_stime.tv_usec);
    return 0;
}
"""


_live = set()  # (launcher pid, tool pid) of tracers not yet stopped


@atexit.register
def _kill_live():
    """A script interrupted mid-run must not leave tracers behind (each has its own group)."""
    for launcher, pid in list(_live):
        for target in (pid, launcher):
            try:
                os.kill(target, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.waitpid(launcher, 0)
        except ChildProcessError:
            pass


# SIGTERM (run-all stopped, a timeout) ends the script through atexit as Ctrl-C does.
signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


class Usage:
    def __init__(self, maxrss, utime, stime):
        self.ru_maxrss, self.ru_utime, self.ru_stime = maxrss, utime, stime


class Tracer:
    """A tool started with its stdout on a pty, a pipe we read, /dev/null ("null") or a descriptor
    of the caller's (an int), and stderr on a pipe we read,
    through the launcher above, kept running until stop(). `start()` waits until ready(self)
    holds, the tool exits, or the timeout passes, provoking events with provoke() every
    TRIGGER_INTERVAL meanwhile. After stop(): status, rusage (the tool's own), killed."""

    def __init__(self, argv, env=None, stdout="pty"):
        self.argv, self.env, self.stdout_mode = argv, env, stdout
        self.out, self.err = bytearray(), bytearray()
        self.fds = {}
        self.pid = self.launcher = None
        self.report = None
        self.t0 = None
        self.state = None  # "ok", "failed", "timeout"
        self.ms = None
        self.status = self.rusage = None
        self.hwm_kb = None
        self.killed = False  # stopped by SIGKILL after the grace period

    def drain(self, wait):
        if not self.fds:
            time.sleep(max(wait, 0))
            return
        r, _, _ = select.select(list(self.fds), [], [], max(wait, 0))
        for fd in r:
            data = read_some(fd)
            if data:
                # Keep the head (errors) and the tail; a busy tool's output can be large.
                buf = self.fds[fd]
                buf.extend(data)
                if len(buf) > 1 << 20:
                    del buf[4096:len(buf) - (1 << 19)]
            else:
                del self.fds[fd]
                os.close(fd)

    def launch(self, stdout_fd, stderr_fd):
        """Spawn through the launcher; sets pid (the tool's) and t0 (just before its fork)."""
        rep_r, rep_w = os.pipe()
        argv = [compile_c("launcher", LAUNCHER_C)] + self.argv
        self.launcher = spawn(argv, stdout_fd, stderr_fd, self.env, [(os.POSIX_SPAWN_DUP2, rep_w, 3)])
        os.close(rep_w)
        self.report = os.fdopen(rep_r)
        first = self.report.readline().split()
        self.pid, self.t0 = int(first[0]), int(first[1]) / 1e9
        _live.add((self.launcher, self.pid))

    def poll(self, block=False):
        """True once the tool has ended (status and rusage then set)."""
        if self.status is not None:
            return True
        wpid, st, _ = os.wait4(self.launcher, 0 if block else os.WNOHANG)
        if not wpid:
            return False
        fields = self.report.readline().split()
        if len(fields) == 4:
            self.status = int(fields[0])
            self.rusage = Usage(int(fields[1]), float(fields[2]), float(fields[3]))
        else:  # the launcher itself failed
            self.status, self.rusage = st, Usage(0, 0.0, 0.0)
        self.report.close()
        _live.discard((self.launcher, self.pid))
        return True

    def start(self, ready, provoke=None, timeout=10.0, fails=None):
        if self.stdout_mode == "null":
            out_r, out_w = None, os.open("/dev/null", os.O_WRONLY)
        elif isinstance(self.stdout_mode, int):  # a descriptor of the caller's (kept open)
            out_r, out_w = None, os.dup(self.stdout_mode)
        else:
            out_r, out_w = open_stdout(self.stdout_mode)
        err_r, err_w = os.pipe()
        self.launch(out_w, err_w)
        os.close(out_w)
        os.close(err_w)
        self.fds = {err_r: self.err}
        if out_r is not None:
            self.fds[out_r] = self.out
        t0 = self.t0
        next_trigger = t0
        while True:
            now = time.monotonic()
            if now - t0 > timeout:
                self.state, self.ms = "timeout", timeout * 1000
                break
            if provoke and now >= next_trigger:
                provoke()
                next_trigger = now + TRIGGER_INTERVAL
            self.drain(min(max(next_trigger - time.monotonic(), 0), 0.002))
            if fails and fails(self):
                self.state, self.ms = "failed", (time.monotonic() - t0) * 1000
                break
            if ready(self):
                self.state, self.ms = "ok", (time.monotonic() - t0) * 1000
                break
            if self.poll():
                self.state, self.ms = "failed", (time.monotonic() - t0) * 1000
                break
        self.hwm_kb = proc_hwm_kb(self.pid) if self.status is None else None
        return self.state == "ok"

    def keep_tracing(self, seconds, provoke=None):
        """Let the tool trace for `seconds`, provoking events meanwhile; False if it exited."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if provoke:
                provoke()
            self.drain(TRIGGER_INTERVAL)
            if self.poll():
                return False
        return True

    def stop(self, grace=STOP_GRACE):
        """SIGINT as a user would, SIGKILL after `grace` s; keeps draining its output meanwhile.
        Returns the exit code (negative: killed by that signal)."""
        if self.status is None:
            hwm = proc_hwm_kb(self.pid)
            if hwm is not None:
                self.hwm_kb = hwm
            try:
                os.kill(self.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and not self.poll():
                self.drain(0.02)
            if self.status is None:
                self.killed = True
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.poll(block=True)
        try:
            os.killpg(self.launcher, signal.SIGKILL)  # leftovers in its group, if any
        except (ProcessLookupError, PermissionError):
            pass
        # Bounded: a stray grandchild outside the group could hold the output open forever.
        deadline = time.monotonic() + 2
        while self.fds and time.monotonic() < deadline:
            self.drain(0.1)
        for fd in list(self.fds):
            os.close(fd)
        self.fds = {}
        return os.waitstatus_to_exitcode(self.status)

    def cpu_seconds(self):
        return self.rusage.ru_utime + self.rusage.ru_stime if self.rusage else None

    def text(self):
        return (self.out + self.err).decode(errors="replace")


def measure_start(argv, ready, provoke=None, timeout=10.0, env=None, stdout="pty", fails=None,
                  life=0.0):
    """One start-up measurement: a result dict (state, ms, rss_kb, rss_at_exit, code, why).
    rss_kb is VmHWM at ready; with life > 0 the tool then traces `life` seconds (provoked
    events continuing) and is stopped, and life_rss_kb is its whole-life peak (ru_maxrss at exit,
    so printing and symbolizing at the end count)."""
    t = Tracer(argv, env, stdout)
    t.start(ready, provoke, timeout, fails)
    state = t.state
    exited = t.status is not None  # died before it was ready
    if state == "ok" and life > 0 and not t.keep_tracing(life, provoke):
        state = "failed"  # died while tracing
    died = t.status is not None
    # After tracing, a tool reads, symbolizes and prints: give it time, so its peak is complete.
    code = t.stop(grace=LIFE_STOP_GRACE if life > 0 else STOP_GRACE)
    res = {"state": state, "ms": t.ms, "rss_at_exit": exited,
           "rss_kb": t.rusage.ru_maxrss if exited else (t.hwm_kb or t.rusage.ru_maxrss),
           "life_rss_kb": t.rusage.ru_maxrss, "killed": t.killed}
    if state == "failed":
        # A tool still running was failed by its error line (and then stopped by us).
        res.update(code=code if died else "error printed", why=reason_from(t.text()))
    elif state == "timeout":
        last = [l.strip() for l in t.text().splitlines() if l.strip()]
        res["why"] = (f"not ready within {timeout:g} s"
                      + (f" (last output: {shorten(last[-1])})" if last else " and no output"))
    return res


def summarize(results, runs):
    """Median/min time and peak RSS over the runs; figures come from the successful runs, or if
    none succeeded, from the failures (time to failure, RSS at failure)."""
    ok = [r for r in results if r["state"] == "ok"]
    use = ok or [r for r in results if r["state"] == "failed"] or results
    s = {"median": statistics.median(r["ms"] for r in use), "min": min(r["ms"] for r in use),
         "rss_mb": max(r["rss_kb"] for r in use) / 1024,
         "rss_at_exit": any(r["rss_at_exit"] for r in use), "runs": len(results)}
    if len(ok) == len(results) == runs:
        s.update(status="ok", ran=True)
    elif ok:
        s.update(status=f"ok in {len(ok)}/{len(results)} runs", ran=True)
    else:
        bad = results[0]
        if bad["state"] == "failed":
            how = f"exit {bad['code']}" if isinstance(bad["code"], int) else bad["code"]
            s.update(status=f"fails ({how})", ran=False,
                     why=f"after {s['median']:.0f} ms: {bad['why']}")
        else:
            s.update(status="timeout", ran=False, why=bad["why"])
    return s


def fmt_ms(v):
    return f"{v:.0f}" if v >= 10 else f"{v:.1f}"


# ---------------------------------------------------------------------------------------
# A block device of our own: a loop device over a file in /dev/shm


class Loop:
    """The "disk" is memory, so I/O timings measure the block layer and the tracing, not a shared
    disk's mood or write-back. Detached and removed by close()."""

    def __init__(self, megabytes=128):
        import mmap
        self.image = f"/dev/shm/bpfkit-bench-{os.getpid()}.img"
        with open(self.image, "wb") as f:
            f.truncate(megabytes << 20)
        r = subprocess.run(["losetup", "--find", "--show", self.image], capture_output=True, text=True)
        if r.returncode != 0:
            os.unlink(self.image)
            raise RuntimeError(f"losetup failed: {r.stderr.strip()}")
        self.device = r.stdout.strip()
        self.name = os.path.basename(self.device)
        self.fd = os.open(self.device, os.O_WRONLY | os.O_DIRECT)
        self.buffer = mmap.mmap(-1, 4096)  # page-aligned, as O_DIRECT wants

    def probe(self, sector=123456):
        os.pwritev(self.fd, [self.buffer], sector * 512)

    def dd_argv(self, ios):
        return ["dd", "if=/dev/zero", f"of={self.device}", "bs=4k", f"count={ios}", "oflag=direct",
                "conv=notrunc"]

    def workload(self, ios):
        t0 = time.monotonic()
        r = subprocess.run(self.dd_argv(ios), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if r.returncode != 0:
            raise RuntimeError("dd failed")
        return time.monotonic() - t0

    def close(self):
        os.close(self.fd)
        subprocess.run(["losetup", "--detach", self.device])
        os.unlink(self.image)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
