// The few kernel types BPFKit's programs use, declared for CO-RE: field offsets are
// relocated against the running kernel's BTF at load time, so only the names and types
// of the fields used here matter, not their positions or the structs' other members.
#ifndef BPFKIT_VMLINUX_H
#define BPFKIT_VMLINUX_H

#include "bpf_types.h"

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct task_struct {
    unsigned int __state;  // `long state` before Linux 5.14: see task_struct___pre_5_14
    int pid;
    int tgid;
    struct task_struct *real_parent;
    char comm[16];
};

// The same struct as kernels before 5.14 lay it out: CO-RE matches it to task_struct by
// its essential name (the ___ suffix is cut), so a program can read whichever exists.
struct task_struct___pre_5_14 {
    long state;
};

#pragma clang attribute pop

// User registers at a uprobe (x86_64 UAPI layout; the context of kprobe/uprobe programs).
struct pt_regs {
    unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8;
    unsigned long ax, cx, dx, si, di, orig_ax, ip, cs, flags, sp, ss;
};

#define PT_REGS_PARM1(regs) ((regs)->di)
#define PT_REGS_PARM2(regs) ((regs)->si)
#define PT_REGS_PARM3(regs) ((regs)->dx)
#define PT_REGS_RC(regs) ((regs)->ax)

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
