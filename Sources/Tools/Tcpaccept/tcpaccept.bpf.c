// tcpaccept: passive TCP opens, as accept(2)/accept4(2) return them. A passive connection
// is established in softirq context, where no process is current; the accepting process
// is known only when accept returns. So at the syscall's exit the returned descriptor is
// followed to its socket (task->files->fdt->fd[fd]->private_data->sk, through CO-RE) and
// the connection's ends read from the sock.
#include "vmlinux.h"
#include "bpf_helpers.h"
#include "bpfkit_events.h"
#include "tcptools.h"
#include "bpfkit_tcp.h"

#define S_IFMT 0170000
#define S_IFSOCK 0140000
#define SOCK_STREAM 1

const volatile uint32_t target_pid = 0;
const volatile uint16_t target_family = 0;
const volatile uint16_t target_ports[TCPTOOLS_MAX_PORTS] = {};
const volatile uint32_t target_port_count = 0;

// The struct sock behind descriptor `fd` of the current task, or NULL when it is no socket.
static __always_inline struct sock *socket_of(long fd) {
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    struct files_struct *files = BPF_CORE_READ(task, files);
    if (!files)
        return NULL;
    struct fdtable *fdt = BPF_CORE_READ(files, fdt);
    if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
        return NULL;
    struct file **table = BPF_CORE_READ(fdt, fd);
    struct file *file = NULL;
    bpf_probe_read_kernel(&file, sizeof(file), &table[fd]);
    if (!file)
        return NULL;
    struct inode *inode = BPF_CORE_READ(file, f_inode);
    if (!inode || (BPF_CORE_READ(inode, i_mode) & S_IFMT) != S_IFSOCK)
        return NULL;
    struct socket *socket = BPF_CORE_READ(file, private_data);
    return socket ? BPF_CORE_READ(socket, sk) : NULL;
}

static __always_inline int accepted(long fd) {
    if (fd < 0)
        return 0;
    uint64_t id = bpf_get_current_pid_tgid();
    uint32_t pid = id >> 32;
    if (target_pid && pid != target_pid)
        return 0;
    struct sock *sk = socket_of(fd);
    if (!sk)
        return 0;
    if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP || BPF_CORE_READ(sk, sk_type) != SOCK_STREAM)
        return 0;
    uint16_t family = BPF_CORE_READ(sk, __sk_common.skc_family);
    if (family != TCPTOOLS_AF_INET && family != TCPTOOLS_AF_INET6)
        return 0;
    if (target_family && family != target_family)
        return 0;
    struct tcpaccept_event event = {};
    endpoints_from_sock(&event.ends, sk);
    if (!port_listed(target_ports, target_port_count, event.ends.sport))
        return 0;
    event.timestamp_ns = bpf_ktime_get_ns();
    event.pid = pid;
    event.uid = (uint32_t)bpf_get_current_uid_gid();
    bpf_get_current_comm(event.comm, sizeof(event.comm));
    output_event(&event, sizeof(event));
    return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int tcpaccept_accept(struct trace_event_raw_sys_exit *ctx) { return accepted(ctx->ret); }

SEC("tracepoint/syscalls/sys_exit_accept4")
int tcpaccept_accept4(struct trace_event_raw_sys_exit *ctx) { return accepted(ctx->ret); }

char LICENSE[] SEC("license") = "GPL";
