// CBPF: the few Linux calls Swift cannot make directly (variadic `syscall` and `ioctl`)
// and the kernel ABI structs BPFKit passes to them. Declared by this project from the
// kernel's documented layouts (see shared/BPF-ABI.md); no kernel header is included, so
// the build host's (older) UAPI headers do not matter.
//
// Every struct below is one command's part of `union bpf_attr`. The kernel treats the
// bytes a caller does not pass as zero, so each command passes only its own struct.
#ifndef CBPF_H
#define CBPF_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// bpf(2). Returns the result (an fd or 0), or -errno on failure.
long cbpf_bpf(int command, void *attr, unsigned int size);

/// perf_event_open(2). Returns a file descriptor, or -errno on failure.
int cbpf_perf_event_open(void *attr, int pid, int cpu, int group_fd, unsigned long flags);

/// ioctl(2) with an integer (or pointer-as-integer) argument. Returns the result or -errno.
int cbpf_ioctl(int fd, unsigned long request, unsigned long argument);

/// BPF_MAP_CREATE.
struct cbpf_map_create_attr {
    uint32_t map_type;
    uint32_t key_size;
    uint32_t value_size;
    uint32_t max_entries;
    uint32_t map_flags;
    uint32_t inner_map_fd;
    uint32_t numa_node;
    char map_name[16];
    uint32_t map_ifindex;
    uint32_t btf_fd;
    uint32_t btf_key_type_id;
    uint32_t btf_value_type_id;
    uint32_t btf_vmlinux_value_type_id;
    uint64_t map_extra;
};

/// BPF_MAP_{LOOKUP,UPDATE,DELETE}_ELEM, BPF_MAP_GET_NEXT_KEY, BPF_MAP_LOOKUP_AND_DELETE_ELEM,
/// BPF_MAP_FREEZE (map_fd only).
struct cbpf_map_elem_attr {
    uint32_t map_fd;
    uint32_t pad0;
    uint64_t key;
    uint64_t value;  // `next_key` for BPF_MAP_GET_NEXT_KEY
    uint64_t flags;
};

/// BPF_MAP_*_BATCH.
struct cbpf_map_batch_attr {
    uint64_t in_batch;
    uint64_t out_batch;
    uint64_t keys;
    uint64_t values;
    uint32_t count;
    uint32_t map_fd;
    uint64_t elem_flags;
    uint64_t flags;
};

/// BPF_PROG_LOAD (through `log_true_size`, which kernels before 6.4 leave untouched).
struct cbpf_prog_load_attr {
    uint32_t prog_type;
    uint32_t insn_cnt;
    uint64_t insns;
    uint64_t license;
    uint32_t log_level;
    uint32_t log_size;
    uint64_t log_buf;
    uint32_t kern_version;
    uint32_t prog_flags;
    char prog_name[16];
    uint32_t prog_ifindex;
    uint32_t expected_attach_type;
    uint32_t prog_btf_fd;
    uint32_t func_info_rec_size;
    uint64_t func_info;
    uint32_t func_info_cnt;
    uint32_t line_info_rec_size;
    uint64_t line_info;
    uint32_t line_info_cnt;
    uint32_t attach_btf_id;
    uint32_t attach_btf_obj_fd;
    uint32_t core_relo_cnt;
    uint64_t fd_array;
    uint64_t core_relos;
    uint32_t core_relo_rec_size;
    uint32_t log_true_size;
};

/// BPF_BTF_LOAD.
struct cbpf_btf_load_attr {
    uint64_t btf;
    uint64_t btf_log_buf;
    uint32_t btf_size;
    uint32_t btf_log_size;
    uint32_t btf_log_level;
    uint32_t btf_log_true_size;
};

/// BPF_RAW_TRACEPOINT_OPEN (without the 6.18 cookie).
struct cbpf_raw_tracepoint_attr {
    uint64_t name;
    uint32_t prog_fd;
    uint32_t pad0;
};

/// BPF_LINK_CREATE. `extra` is the attach-kind specific tail: for BPF_PERF_EVENT,
/// extra[0] is the bpf_cookie; for tracing, extra[0] low 32 bits is target_btf_id and
/// extra[1] the cookie; for uprobe_multi, path/offsets/ref_ctr_offsets/cookies, then
/// cnt|flags<<32 and pid.
struct cbpf_link_create_attr {
    uint32_t prog_fd;
    uint32_t target_fd;
    uint32_t attach_type;
    uint32_t flags;
    uint64_t extra[6];
};

/// BPF_{PROG,MAP,LINK,BTF}_GET_NEXT_ID and *_GET_FD_BY_ID.
struct cbpf_id_attr {
    uint32_t id;       // start_id, or the id to open
    uint32_t next_id;
    uint32_t open_flags;
};

/// BPF_OBJ_GET_INFO_BY_FD.
struct cbpf_info_attr {
    uint32_t bpf_fd;
    uint32_t info_len;
    uint64_t info;
};

/// BPF_PROG_BIND_MAP.
struct cbpf_prog_bind_map_attr {
    uint32_t prog_fd;
    uint32_t map_fd;
    uint32_t flags;
};

/// The leading part of `struct bpf_prog_info` (the kernel fills at most `info_len` bytes).
struct cbpf_prog_info {
    uint32_t type;
    uint32_t id;
    uint8_t tag[8];
    uint32_t jited_prog_len;
    uint32_t xlated_prog_len;
    uint64_t jited_prog_insns;
    uint64_t xlated_prog_insns;
    uint64_t load_time;
    uint32_t created_by_uid;
    uint32_t nr_map_ids;
    uint64_t map_ids;
    char name[16];
};

/// The leading part of `struct bpf_map_info`.
struct cbpf_map_info {
    uint32_t type;
    uint32_t id;
    uint32_t key_size;
    uint32_t value_size;
    uint32_t max_entries;
    uint32_t map_flags;
    char name[16];
};

/// The leading part of `struct bpf_link_info`.
struct cbpf_link_info {
    uint32_t type;
    uint32_t id;
    uint32_t prog_id;
};

/// `struct perf_event_attr` as of PERF_ATTR_SIZE_VER7 (128 bytes), with the flag
/// bit-field kept as one word (bit numbers in BPF-ABI.md §7.2).
struct cbpf_perf_event_attr {
    uint32_t type;
    uint32_t size;
    uint64_t config;
    uint64_t sample_period_or_freq;
    uint64_t sample_type;
    uint64_t read_format;
    uint64_t flags;
    uint32_t wakeup_events_or_watermark;
    uint32_t bp_type;
    uint64_t config1;
    uint64_t config2;
    uint64_t branch_sample_type;
    uint64_t sample_regs_user;
    uint32_t sample_stack_user;
    int32_t clockid;
    uint64_t sample_regs_intr;
    uint32_t aux_watermark;
    uint16_t sample_max_stack;
    uint16_t reserved2;
    uint32_t aux_sample_size;
    uint32_t reserved3;
    uint64_t sig_data;
};

/// Offsets into the first page of a perf event mmap (`struct perf_event_mmap_page`).
enum {
    CBPF_PERF_MMAP_DATA_HEAD = 1024,
    CBPF_PERF_MMAP_DATA_TAIL = 1032,
    CBPF_PERF_MMAP_DATA_OFFSET = 1040,
    CBPF_PERF_MMAP_DATA_SIZE = 1048,
};

/// Acquire load and release store of a 64-bit position shared with the kernel
/// (ring buffer producer/consumer positions, perf buffer data_head/data_tail).
uint64_t cbpf_load_acquire(const void *address);
void cbpf_store_release(void *address, uint64_t value);
uint32_t cbpf_load_acquire32(const void *address);

/// epoll, signalfd and timerfd, which the Swift Glibc module does not expose.
/// Each returns a descriptor or 0 on success, -errno on failure.
int cbpf_epoll_create(void);
/// Adds `fd` for readability; `token` comes back from cbpf_epoll_wait.
int cbpf_epoll_add(int epoll_fd, int fd, uint64_t token);
/// accept4(2) (a GNU extension Swift's Glibc module hides): a non-blocking, close-on-exec
/// connection, or -errno.
int cbpf_accept(int listen_fd);
/// Changes what wakes `fd`: readability, plus writability when `writable` is non-zero.
int cbpf_epoll_watch(int epoll_fd, int fd, uint64_t token, int writable);
/// Waits up to `timeout_ms` (-1: forever); fills up to `capacity` tokens. Returns the
/// number of ready descriptors (0 on timeout or EINTR), or -errno.
int cbpf_epoll_wait(int epoll_fd, uint64_t *tokens, int capacity, int timeout_ms);
/// Blocks SIGINT and SIGTERM (and SIGHUP) for the process and returns a signalfd that
/// reads them instead, so a tool's wait loop sees Ctrl-C as an ordinary event.
int cbpf_signalfd_termination(void);
/// Reads one signal from a signalfd; returns its number, or -errno.
int cbpf_signalfd_read(int fd);
/// A CLOCK_MONOTONIC timerfd firing after `first_ns`, then every `interval_ns` (0 = once).
int cbpf_timerfd(uint64_t first_ns, uint64_t interval_ns);
/// Reads a timerfd's expiration count; returns it, or -errno.
long cbpf_timerfd_read(int fd);

/// Forks a child that waits, before running `argv` (searched in PATH), until
/// cbpf_release_held: the tracer can attach to its pid first. The child's signal mask is
/// cleared. Returns the pid (and the two descriptors to pass on), or -errno.
int cbpf_spawn_held(char *const argv[], int *gate_fd, int *error_fd);
/// Lets a held child run its command; returns 0 once it did, or -errno of a failed exec.
int cbpf_release_held(int gate_fd, int error_fd);
/// A pidfd (readable once the process exits), or -errno.
int cbpf_pidfd_open(int pid);
/// Reaps an exited child without waiting: its wait status, -EAGAIN if it still runs, or -errno.
int cbpf_reap(int pid);

#ifdef __cplusplus
}
#endif

#endif
