// Test fixture: one trivial program per section-name form BPFKit recognises, plus one it
// does not. Only parsed, except the raw_tp and tp_btf programs, which tests also load.
#include "vmlinux.h"
#include "bpf_helpers.h"

SEC("tracepoint/sched/sched_process_exec")
int on_tracepoint(void *ctx) { return 0; }

SEC("tp/syscalls/sys_enter_getppid")
int on_tp(void *ctx) { return 0; }

SEC("raw_tp/sched_switch")
int on_raw_tp(void *ctx) { return 0; }

SEC("raw_tracepoint/sys_enter")
int on_raw_tracepoint(void *ctx) { return 0; }

SEC("tp_btf/sched_switch")
int on_tp_btf(void *ctx) { return 0; }

SEC("fentry/do_nanosleep")
int on_fentry(void *ctx) { return 0; }

SEC("fexit/do_nanosleep")
int on_fexit(void *ctx) { return 0; }

SEC("kprobe/do_sys_openat2+0x10")
int on_kprobe(void *ctx) { return 0; }

SEC("kretprobe/do_sys_openat2")
int on_kretprobe(void *ctx) { return 0; }

SEC("uprobe//bin/true:main+4")
int on_uprobe(void *ctx) { return 0; }

SEC("uretprobe//bin/true:main")
int on_uretprobe(void *ctx) { return 0; }

SEC("perf_event")
int on_perf_event(void *ctx) { return 0; }

SEC("nonsense/section")
int on_unknown(void *ctx) { return 0; }

char LICENSE[] SEC("license") = "GPL";
