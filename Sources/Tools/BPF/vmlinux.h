// The few kernel types BPFKit's programs use, declared for CO-RE: field offsets are
// relocated against the running kernel's BTF at load time, so only the names and types
// of the fields used here matter, not their positions or the structs' other members.
#ifndef BPFKIT_VMLINUX_H
#define BPFKIT_VMLINUX_H

#include "bpf_types.h"

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct sched_entity {
    struct cfs_rq *cfs_rq;  // with CONFIG_FAIR_GROUP_SCHED
};

// The run queue of one CPU (or group): `nr_queued` since Linux 6.13, `nr_running` before
// (see cfs_rq___pre_6_13).
struct cfs_rq {
    unsigned int nr_queued;
};

struct cfs_rq___pre_6_13 {
    unsigned int nr_running;
};

struct ns_common {
    unsigned int inum;
};

struct pid_namespace {
    struct ns_common ns;
};

struct nsproxy {
    struct pid_namespace *pid_ns_for_children;
};

// An address space: `start_stack` is the main thread's stack pointer at exec, above every
// frame it will ever have.
struct mm_struct {
    unsigned long start_stack;
};

struct task_struct {
    unsigned int __state;  // `long state` before Linux 5.14: see task_struct___pre_5_14
    unsigned int flags;    // PF_KTHREAD marks kernel threads
    struct sched_entity se;
    int pid;
    int tgid;
    struct task_struct *real_parent;
    char comm[16];
    struct files_struct *files;
    struct nsproxy *nsproxy;
    struct task_struct *group_leader;
    struct mm_struct *mm;
    unsigned int in_iowait : 1;  // set by io_schedule while waiting for block I/O
};

// The same struct as kernels before 5.14 lay it out: CO-RE matches it to task_struct by
// its essential name (the ___ suffix is cut), so a program can read whichever exists.
struct task_struct___pre_5_14 {
    long state;
};

#pragma clang attribute pop

#define PF_KTHREAD 0x00200000

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

// tcp:tcp_retransmit_skb as its format file lays it out on this kernel (6.18 appends `err`).
// Fixed offsets, not CO-RE: the record's BTF type was the shared tcp_event_sk_skb class
// before it became tcp_retransmit_skb's own, so no one name matches every kernel.
struct tcp_retransmit_skb_record {
    struct trace_entry ent;
    const void *skbaddr;
    const void *skaddr;
    int state;
    uint16_t sport;
    uint16_t dport;
    uint16_t family;
    uint8_t saddr[4];
    uint8_t daddr[4];
    uint8_t saddr_v6[16];
    uint8_t daddr_v6[16];
};



// Files, from a task's descriptor table to the file system a file lives on (fsslower).
#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct file_system_type {
    const char *name;
};

struct super_block {
    uint32_t s_dev;  // dev_t: major << 20 | minor
    struct file_system_type *s_type;
};

struct inode {
    unsigned short i_mode;
    struct super_block *i_sb;
    unsigned long i_ino;
};

struct qstr {
    const unsigned char *name;
};

struct dentry {
    struct qstr d_name;
};

struct path {
    struct dentry *dentry;
};

struct file {
    struct path f_path;
    struct inode *f_inode;
    long long f_pos;
    void *private_data;  // a socket's struct socket
};

struct fdtable {
    unsigned int max_fds;
    struct file **fd;
};

struct files_struct {
    struct fdtable *fdt;
};

// The argument of the file systems' read_iter/write_iter (fentry on ext4_file_read_iter…).
struct kiocb {
    struct file *ki_filp;
    long long ki_pos;
};

struct address_space {
    struct inode *host;
};

// Block requests (biolatency, biosnoop): the disk is rq->q->disk from Linux 5.17 on
// (request___rq_disk before), the operation and flags are cmd_flags.
struct gendisk {
    int major;
    int first_minor;
    char disk_name[32];
};

struct elevator_queue;

struct request_queue {
    struct elevator_queue *elevator;
    struct gendisk *disk;
};

struct request {
    struct request_queue *q;
    unsigned int cmd_flags;
    unsigned int __data_len;
    unsigned long long __sector;
};

struct request___rq_disk {
    struct gendisk *rq_disk;
};

// Page-cache folios (cachestat): a large folio has PG_head set and its order in the low
// byte of _flags_1. The flags word is memdesc_flags_t from Linux 6.18 on (folio___long_flags before).
struct folio {
    struct {
        unsigned long f;
    } flags;
    unsigned long _flags_1;
};

struct folio___long_flags {
    unsigned long flags;
};

// Tracepoint records whose layout changed between kernels (block_rq gained `ioprio` in 6.9):
// read through CO-RE, so each field's offset is the running kernel's.
struct trace_event_raw_block_rq {
    struct trace_entry ent;
    uint32_t dev;
    unsigned long long sector;
    unsigned int nr_sector;
    unsigned int bytes;
    char rwbs[8];
    char comm[16];
};

struct trace_event_raw_block_rq_completion {
    struct trace_entry ent;
    uint32_t dev;
    unsigned long long sector;
    unsigned int nr_sector;
    int error;
    char rwbs[8];
};

// sock:inet_sock_set_state's record (Linux 4.16+), read through CO-RE so each field's offset
// is the running kernel's.
struct trace_event_raw_inet_sock_set_state {
    struct trace_entry ent;
    const void *skaddr;
    int oldstate;
    int newstate;
    uint16_t sport;
    uint16_t dport;
    uint16_t family;
    uint16_t protocol;
    uint8_t saddr[4];
    uint8_t daddr[4];
    uint8_t saddr_v6[16];
    uint8_t daddr_v6[16];
};

struct trace_event_raw_mm_filemap_op_page_cache {
    struct trace_entry ent;
    unsigned long i_ino;
    unsigned long index;
    uint32_t s_dev;
    unsigned char order;
};

struct trace_event_raw_mm_filemap_op_page_cache_range {
    struct trace_entry ent;
    unsigned long i_ino;
    uint32_t s_dev;
    unsigned long index;
    unsigned long last_index;
};

struct trace_event_raw_mm_filemap_fault {
    struct trace_entry ent;
    unsigned long i_ino;
    uint32_t s_dev;
    unsigned long index;
};

// Sockets (the TCP tools). The address and port fields sit in anonymous unions in the kernel's
// sock_common; CO-RE finds them by name through those.
struct in6_addr {
    unsigned char u6_addr8[16];
};

struct sock_common {
    uint32_t skc_daddr;       // __be32
    uint32_t skc_rcv_saddr;   // __be32
    uint16_t skc_dport;       // __be16
    uint16_t skc_num;         // local port, host order
    unsigned short skc_family;
    unsigned char skc_state;  // the exporter's TCP counters
    struct in6_addr skc_v6_daddr;
    struct in6_addr skc_v6_rcv_saddr;
};

struct sock {
    struct sock_common __sk_common;
    uint16_t sk_protocol;
    uint16_t sk_type;
};

struct socket {
    struct sock *sk;
};

// Byte counters of a TCP connection (what `ss -i` shows as bytes_acked/bytes_received).
struct tcp_sock {
    uint64_t bytes_received;
    uint64_t bytes_acked;
};

// A packet: the TCP control block (struct tcp_skb_cb, sequence number first) lives in cb.
struct sk_buff {
    char cb[48];
};

#pragma clang attribute pop

enum pageflags {
    PG_head = 6,
};

// Allocator trace events (memleak): CO-RE, since their records changed across kernels
// (kmem_cache_alloc gained `name`, kmalloc_node merged into kmalloc in 6.1).
#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct trace_event_raw_kmalloc {
    struct trace_entry ent;
    unsigned long call_site;
    const void *ptr;
    size_t bytes_alloc;
};

struct trace_event_raw_kmem_cache_alloc {
    struct trace_entry ent;
    unsigned long call_site;
    const void *ptr;
    size_t bytes_alloc;
};

struct trace_event_raw_kfree {
    struct trace_entry ent;
    const void *ptr;
};

struct trace_event_raw_kmem_cache_free {
    struct trace_entry ent;
    const void *ptr;
};

struct trace_event_raw_mm_page_alloc {
    struct trace_entry ent;
    unsigned long pfn;
    unsigned int order;
};

struct trace_event_raw_mm_page_free {
    struct trace_entry ent;
    unsigned long pfn;
    unsigned int order;
};

struct trace_event_raw_mm_page_free_batched {
    struct trace_entry ent;
    unsigned long pfn;
};

#pragma clang attribute pop

#endif
