// fsslower and fileslower: file reads, writes, opens and fsyncs slower than a threshold;
// fsdist: the same operations' latencies counted in log2 histograms here in the kernel.
//
// Two ways in, of which the tool loads one:
// - syscalls (every kernel with syscall trace events): read, write, pread64, pwrite64, readv,
//   writev, open, openat, openat2, fsync and fdatasync, entry to exit. The file comes from
//   the descriptor (task->files->fdt->fd[fd], read with CO-RE) and is kept only if it is a
//   regular file of the wanted file system (its inode's i_sb->s_type->name);
// - fentry/fexit on the file system's own functions (ext4_file_read_iter, …) or, for
//   fileslower, on vfs_read/vfs_write, where the kernel allows BPF trampolines. The section
//   names below are placeholders: the tool sets each program's target before loading.
#include "vmlinux.h"
#include "bpf_helpers.h"
#define EVENTS_RING_BYTES (512 * 1024)
#include "bpfkit_events.h"
#include "fsslower.h"

#define S_IFMT 0170000
#define S_IFREG 0100000

const volatile uint32_t target_pid = 0;       // -p; 0 = every process
const volatile uint32_t self_pid = 0;         // the tool: its own output must not feed back
const volatile uint64_t min_ns = 10000000;    // report operations at least this slow
const volatile char fs_name[16] = {};         // file system type; empty = any
const volatile char fs_name2[16] = {};        // a second accepted name (nfs and nfs4)
const volatile bool regular_only = true;      // only regular files (fileslower -a: any)
const volatile bool histograms = false;       // fsdist: count in fsdist_slots, send no events
const volatile bool milliseconds = false;     // fsdist -m: slots of milliseconds, not microseconds

// fsdist's histograms: operation * FSDIST_SLOTS + log2 slot of the latency → count.
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 4 * FSDIST_SLOTS);
    __type(key, uint32_t);
    __type(value, uint64_t);
} fsdist_slots SEC(".maps");

struct pending {
    uint64_t start_ns;
    int64_t offset;
    struct file *file;  // null for an open on the syscall path, until it returns
    uint32_t op;
    uint32_t pad;
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 10240);
    __type(key, uint32_t);
    __type(value, struct pending);
} pendings SEC(".maps");

static __always_inline bool same_name(const char *name, const volatile char *wanted) {
    for (int i = 0; i < 16; i++) {
        if (name[i] != wanted[i])
            return false;
        if (!name[i])
            return true;
    }
    return true;
}

static __always_inline bool file_wanted(struct file *file) {
    struct inode *inode = BPF_CORE_READ(file, f_inode);
    if (!inode)
        return false;
    if (regular_only && (BPF_CORE_READ(inode, i_mode) & S_IFMT) != S_IFREG)
        return false;
    if (!fs_name[0])
        return true;
    struct super_block *sb = BPF_CORE_READ(inode, i_sb);
    struct file_system_type *type = BPF_CORE_READ(sb, s_type);
    const char *type_name = BPF_CORE_READ(type, name);
    char name[16] = {};
    if (bpf_probe_read_kernel_str(name, sizeof(name), type_name) <= 0)
        return false;
    return same_name(name, fs_name) || (fs_name2[0] && same_name(name, fs_name2));
}

// The current task's open file at `fd`, or null.
static __always_inline struct file *fd_file(long fd) {
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    struct files_struct *files = BPF_CORE_READ(task, files);
    struct fdtable *table = BPF_CORE_READ(files, fdt);
    unsigned int max_fds = BPF_CORE_READ(table, max_fds);
    if (fd < 0 || fd >= max_fds)
        return 0;
    struct file **fds = BPF_CORE_READ(table, fd);
    struct file *file = 0;
    bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
    return file;
}

static __always_inline bool pid_wanted(void) {
    uint32_t pid = bpf_get_current_pid_tgid() >> 32;
    return pid != self_pid && (!target_pid || pid == target_pid);
}

static __always_inline int begin(struct file *file, uint32_t op, int64_t offset) {
    if (!file || !file_wanted(file))
        return 0;
    uint32_t tid = (uint32_t)bpf_get_current_pid_tgid();
    struct pending pending = {.offset = offset, .file = file, .op = op};
    pending.start_ns = bpf_ktime_get_ns();
    bpf_map_update_elem(&pendings, &tid, &pending, BPF_ANY);
    return 0;
}

static __always_inline int begin_fd(long fd, uint32_t op, bool has_offset, int64_t offset) {
    if (!pid_wanted())
        return 0;
    struct file *file = fd_file(fd);
    if (!file)
        return 0;
    return begin(file, op, has_offset ? offset : BPF_CORE_READ(file, f_pos));
}

// An open: the file exists only once the call returns.
static __always_inline int begin_open(void) {
    if (!pid_wanted())
        return 0;
    uint32_t tid = (uint32_t)bpf_get_current_pid_tgid();
    struct pending pending = {.op = FSSLOWER_OPEN};
    pending.start_ns = bpf_ktime_get_ns();
    bpf_map_update_elem(&pendings, &tid, &pending, BPF_ANY);
    return 0;
}

static __always_inline int finish(long ret) {
    uint64_t now = bpf_ktime_get_ns();
    uint64_t id = bpf_get_current_pid_tgid();
    uint32_t tid = (uint32_t)id;
    struct pending *found = bpf_map_lookup_elem(&pendings, &tid);
    if (!found)
        return 0;
    struct pending pending = *found;
    bpf_map_delete_elem(&pendings, &tid);
    uint64_t latency = now - pending.start_ns;
    if (latency < min_ns)
        return 0;
    struct file *file = pending.file;
    if (!file) {
        if (ret < 0)
            return 0;
        file = fd_file(ret);
        if (!file || !file_wanted(file))
            return 0;
    }
    if (histograms) {
        uint32_t slot = log2_slot(latency / (milliseconds ? 1000000 : 1000));
        uint32_t key = (pending.op & 3) * FSDIST_SLOTS + (slot < FSDIST_SLOTS ? slot : FSDIST_SLOTS - 1);
        uint64_t *count = bpf_map_lookup_elem(&fsdist_slots, &key);
        if (count)
            __sync_fetch_and_add(count, 1);
        return 0;
    }

    struct fsslower_event *event = reserve_event(sizeof(*event));
    if (!event)
        return 0;
    event->timestamp_ns = now;
    event->latency_ns = latency;
    event->bytes = pending.op == FSSLOWER_READ || pending.op == FSSLOWER_WRITE ? ret : 0;
    event->offset = pending.op == FSSLOWER_READ || pending.op == FSSLOWER_WRITE ? pending.offset : 0;
    event->pid = id >> 32;
    event->tid = tid;
    event->op = pending.op;
    event->pad = 0;
    bpf_get_current_comm(event->comm, sizeof(event->comm));
    struct dentry *dentry = BPF_CORE_READ(file, f_path.dentry);
    const unsigned char *name = BPF_CORE_READ(dentry, d_name.name);
    if (bpf_probe_read_kernel_str(event->file, sizeof(event->file), name) < 0)
        event->file[0] = 0;
    bpf_ringbuf_submit(event, 0);
    return 0;
}

// --- Syscalls.

SEC("tracepoint/syscalls/sys_enter_read")
int fsslower_enter_read(struct trace_event_raw_sys_enter *ctx) {
    return begin_fd(ctx->args[0], FSSLOWER_READ, false, 0);
}

SEC("tracepoint/syscalls/sys_enter_pread64")
int fsslower_enter_pread64(struct trace_event_raw_sys_enter *ctx) {
    return begin_fd(ctx->args[0], FSSLOWER_READ, true, ctx->args[3]);
}

SEC("tracepoint/syscalls/sys_enter_readv")
int fsslower_enter_readv(struct trace_event_raw_sys_enter *ctx) {
    return begin_fd(ctx->args[0], FSSLOWER_READ, false, 0);
}

SEC("tracepoint/syscalls/sys_enter_write")
int fsslower_enter_write(struct trace_event_raw_sys_enter *ctx) {
    return begin_fd(ctx->args[0], FSSLOWER_WRITE, false, 0);
}

SEC("tracepoint/syscalls/sys_enter_pwrite64")
int fsslower_enter_pwrite64(struct trace_event_raw_sys_enter *ctx) {
    return begin_fd(ctx->args[0], FSSLOWER_WRITE, true, ctx->args[3]);
}

SEC("tracepoint/syscalls/sys_enter_writev")
int fsslower_enter_writev(struct trace_event_raw_sys_enter *ctx) {
    return begin_fd(ctx->args[0], FSSLOWER_WRITE, false, 0);
}

SEC("tracepoint/syscalls/sys_enter_fsync")
int fsslower_enter_fsync(struct trace_event_raw_sys_enter *ctx) {
    return begin_fd(ctx->args[0], FSSLOWER_FSYNC, true, 0);
}

SEC("tracepoint/syscalls/sys_enter_fdatasync")
int fsslower_enter_fdatasync(struct trace_event_raw_sys_enter *ctx) {
    return begin_fd(ctx->args[0], FSSLOWER_FSYNC, true, 0);
}

SEC("tracepoint/syscalls/sys_enter_open")
int fsslower_enter_open(struct trace_event_raw_sys_enter *ctx) { return begin_open(); }

SEC("tracepoint/syscalls/sys_enter_openat")
int fsslower_enter_openat(struct trace_event_raw_sys_enter *ctx) { return begin_open(); }

SEC("tracepoint/syscalls/sys_enter_openat2")
int fsslower_enter_openat2(struct trace_event_raw_sys_enter *ctx) { return begin_open(); }

SEC("tracepoint/syscalls/sys_exit_read")
int fsslower_exit_read(struct trace_event_raw_sys_exit *ctx) { return finish(ctx->ret); }

SEC("tracepoint/syscalls/sys_exit_pread64")
int fsslower_exit_pread64(struct trace_event_raw_sys_exit *ctx) { return finish(ctx->ret); }

SEC("tracepoint/syscalls/sys_exit_readv")
int fsslower_exit_readv(struct trace_event_raw_sys_exit *ctx) { return finish(ctx->ret); }

SEC("tracepoint/syscalls/sys_exit_write")
int fsslower_exit_write(struct trace_event_raw_sys_exit *ctx) { return finish(ctx->ret); }

SEC("tracepoint/syscalls/sys_exit_pwrite64")
int fsslower_exit_pwrite64(struct trace_event_raw_sys_exit *ctx) { return finish(ctx->ret); }

SEC("tracepoint/syscalls/sys_exit_writev")
int fsslower_exit_writev(struct trace_event_raw_sys_exit *ctx) { return finish(ctx->ret); }

SEC("tracepoint/syscalls/sys_exit_fsync")
int fsslower_exit_fsync(struct trace_event_raw_sys_exit *ctx) { return finish(ctx->ret); }

SEC("tracepoint/syscalls/sys_exit_fdatasync")
int fsslower_exit_fdatasync(struct trace_event_raw_sys_exit *ctx) { return finish(ctx->ret); }

SEC("tracepoint/syscalls/sys_exit_open")
int fsslower_exit_open(struct trace_event_raw_sys_exit *ctx) { return finish(ctx->ret); }

SEC("tracepoint/syscalls/sys_exit_openat")
int fsslower_exit_openat(struct trace_event_raw_sys_exit *ctx) { return finish(ctx->ret); }

SEC("tracepoint/syscalls/sys_exit_openat2")
int fsslower_exit_openat2(struct trace_event_raw_sys_exit *ctx) { return finish(ctx->ret); }

// --- fentry/fexit on a file system's file operations (targets set by the tool).

// read_iter(struct kiocb *iocb, struct iov_iter *to) -> ssize_t
SEC("fentry/generic_file_read_iter")
int fsslower_fs_read(uint64_t *ctx) {
    if (!pid_wanted())
        return 0;
    struct kiocb *iocb = (struct kiocb *)ctx[0];
    return begin(BPF_CORE_READ(iocb, ki_filp), FSSLOWER_READ, BPF_CORE_READ(iocb, ki_pos));
}

SEC("fexit/generic_file_read_iter")
int fsslower_fs_read_exit(uint64_t *ctx) { return finish((long)ctx[2]); }

// write_iter(struct kiocb *iocb, struct iov_iter *from) -> ssize_t
SEC("fentry/generic_file_write_iter")
int fsslower_fs_write(uint64_t *ctx) {
    if (!pid_wanted())
        return 0;
    struct kiocb *iocb = (struct kiocb *)ctx[0];
    return begin(BPF_CORE_READ(iocb, ki_filp), FSSLOWER_WRITE, BPF_CORE_READ(iocb, ki_pos));
}

SEC("fexit/generic_file_write_iter")
int fsslower_fs_write_exit(uint64_t *ctx) { return finish((long)ctx[2]); }

// open(struct inode *inode, struct file *file) -> int
SEC("fentry/generic_file_open")
int fsslower_fs_open(uint64_t *ctx) {
    if (!pid_wanted())
        return 0;
    return begin((struct file *)ctx[1], FSSLOWER_OPEN, 0);
}

SEC("fexit/generic_file_open")
int fsslower_fs_open_exit(uint64_t *ctx) { return finish((long)(int)ctx[2]); }

// fsync(struct file *file, loff_t start, loff_t end, int datasync) -> int
SEC("fentry/vfs_fsync_range")
int fsslower_fs_fsync(uint64_t *ctx) {
    if (!pid_wanted())
        return 0;
    return begin((struct file *)ctx[0], FSSLOWER_FSYNC, 0);
}

SEC("fexit/vfs_fsync_range")
int fsslower_fs_fsync_exit(uint64_t *ctx) { return finish((long)(int)ctx[4]); }

// --- fentry/fexit on the VFS (fileslower): vfs_read/vfs_write(file, buf, count, loff_t *pos).

static __always_inline int begin_vfs(uint64_t *ctx, uint32_t op) {
    if (!pid_wanted())
        return 0;
    int64_t offset = 0;
    const long long *pos = (const long long *)ctx[3];
    if (pos)
        bpf_probe_read_kernel(&offset, sizeof(offset), pos);
    return begin((struct file *)ctx[0], op, offset);
}

SEC("fentry/vfs_read")
int fileslower_vfs_read(uint64_t *ctx) { return begin_vfs(ctx, FSSLOWER_READ); }

SEC("fexit/vfs_read")
int fileslower_vfs_read_exit(uint64_t *ctx) { return finish((long)ctx[4]); }

SEC("fentry/vfs_write")
int fileslower_vfs_write(uint64_t *ctx) { return begin_vfs(ctx, FSSLOWER_WRITE); }

SEC("fexit/vfs_write")
int fileslower_vfs_write_exit(uint64_t *ctx) { return finish((long)ctx[4]); }

char LICENSE[] SEC("license") = "GPL";
