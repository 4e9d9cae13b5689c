// The few kernel types BPFKit's programs use, declared for CO-RE: field offsets are
// relocated against the running kernel's BTF at load time, so only the names and types
// of the fields used here matter, not their positions or the structs' other members.
#ifndef BPFKIT_VMLINUX_H
#define BPFKIT_VMLINUX_H

#include "bpf_types.h"

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct task_struct {
    int pid;
    int tgid;
    struct task_struct *real_parent;
    char comm[16];
};

#pragma clang attribute pop

// Tracepoint contexts: the raw record described by events/<cat>/<name>/format, a stable
// ABI (these match trace_event_raw_sys_enter/_exit; the 8-byte common header comes first).
struct trace_entry {
    unsigned short type;
    unsigned char flags;
    unsigned char preempt_count;
    int pid;
};

struct trace_event_raw_sys_enter {
    struct trace_entry ent;
    long id;
    unsigned long args[6];
};

struct trace_event_raw_sys_exit {
    struct trace_entry ent;
    long id;
    long ret;
};

#endif
