// tsa's per-thread state times, shared by its BPF program and Swift.
#ifndef BPFKIT_TSA_H
#define BPFKIT_TSA_H
#include "tool_types.h"

/// The states a thread's time is split into (indexes into tsa_times.ns).
#define TSA_CPU 0    // running on a CPU
#define TSA_RUNQ 1   // runnable, waiting on a run queue (woken, or preempted)
#define TSA_SLEEP 2  // interruptible sleep (or an idle TASK_NOLOAD wait), not in a futex
#define TSA_DISK 3   // uninterruptible with in_iowait set (io_schedule: block I/O)
#define TSA_LOCK 4   // blocked inside futex or futex_waitv (mutexes, condition variables)
#define TSA_OTHER 5  // any other uninterruptible wait, stopped or traced
#define TSA_STATES 6

/// Nanoseconds per state summed in the kernel for one thread since the last report.
struct tsa_times {
    uint64_t ns[TSA_STATES];
    uint32_t tgid;
    uint32_t padding;
    char comm[16];
};

/// The state a thread is in now and since when (bpf_ktime_get_ns, CLOCK_MONOTONIC).
struct tsa_thread {
    uint64_t since;
    uint32_t state;
    uint32_t tgid;
};

#endif
