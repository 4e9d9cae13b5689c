#define _GNU_SOURCE
#include "CBPF.h"

#include <errno.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

_Static_assert(sizeof(struct cbpf_map_create_attr) == 72, "bpf_attr map_create layout");
_Static_assert(sizeof(struct cbpf_prog_load_attr) == 144, "bpf_attr prog_load layout");
_Static_assert(sizeof(struct cbpf_btf_load_attr) == 32, "bpf_attr btf_load layout");
_Static_assert(sizeof(struct cbpf_link_create_attr) == 64, "bpf_attr link_create layout");
_Static_assert(sizeof(struct cbpf_perf_event_attr) == 128, "perf_event_attr VER7 layout");
_Static_assert(sizeof(struct cbpf_prog_info) == 80, "bpf_prog_info prefix layout");

long cbpf_bpf(int command, void *attr, unsigned int size) {
    long result;
    do {
        result = syscall(SYS_bpf, command, attr, size);
    } while (result < 0 && errno == EINTR);
    return result < 0 ? -errno : result;
}

int cbpf_perf_event_open(void *attr, int pid, int cpu, int group_fd, unsigned long flags) {
    long result = syscall(SYS_perf_event_open, attr, pid, cpu, group_fd, flags);
    return result < 0 ? -errno : (int)result;
}

int cbpf_ioctl(int fd, unsigned long request, unsigned long argument) {
    int result;
    do {
        result = ioctl(fd, request, argument);
    } while (result < 0 && errno == EINTR);
    return result < 0 ? -errno : result;
}

uint64_t cbpf_load_acquire(const void *address) {
    return __atomic_load_n((const uint64_t *)address, __ATOMIC_ACQUIRE);
}

uint32_t cbpf_load_acquire32(const void *address) {
    return __atomic_load_n((const uint32_t *)address, __ATOMIC_ACQUIRE);
}

void cbpf_store_release(void *address, uint64_t value) {
    __atomic_store_n((uint64_t *)address, value, __ATOMIC_RELEASE);
}

#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>

int cbpf_epoll_create(void) {
    int fd = epoll_create1(EPOLL_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int cbpf_epoll_add(int epoll_fd, int fd, uint64_t token) {
    struct epoll_event event = {.events = EPOLLIN, .data.u64 = token};
    return epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) < 0 ? -errno : 0;
}

int cbpf_accept(int listen_fd) {
    int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int cbpf_epoll_watch(int epoll_fd, int fd, uint64_t token, int writable) {
    struct epoll_event event = {.events = EPOLLIN | (writable ? EPOLLOUT : 0), .data.u64 = token};
    return epoll_ctl(epoll_fd, EPOLL_CTL_MOD, fd, &event) < 0 ? -errno : 0;
}

int cbpf_epoll_wait(int epoll_fd, uint64_t *tokens, int capacity, int timeout_ms) {
    struct epoll_event events[64];
    if (capacity > 64)
        capacity = 64;
    int count = epoll_wait(epoll_fd, events, capacity, timeout_ms);
    if (count < 0)
        return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < count; i++)
        tokens[i] = events[i].data.u64;
    return count;
}

int cbpf_signalfd_termination(void) {
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
        return -errno;
    int fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    return fd < 0 ? -errno : fd;
}

int cbpf_signalfd_read(int fd) {
    struct signalfd_siginfo info;
    ssize_t count = read(fd, &info, sizeof(info));
    if (count != sizeof(info))
        return count < 0 ? -errno : -EIO;
    return (int)info.ssi_signo;
}

int cbpf_timerfd(uint64_t first_ns, uint64_t interval_ns) {
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (fd < 0)
        return -errno;
    struct itimerspec spec = {
        .it_value = {.tv_sec = first_ns / 1000000000ULL, .tv_nsec = first_ns % 1000000000ULL},
        .it_interval = {.tv_sec = interval_ns / 1000000000ULL, .tv_nsec = interval_ns % 1000000000ULL},
    };
    if (timerfd_settime(fd, 0, &spec, NULL) < 0) {
        int saved = errno;
        close(fd);
        return -saved;
    }
    return fd;
}

long cbpf_timerfd_read(int fd) {
    uint64_t expirations = 0;
    ssize_t count = read(fd, &expirations, sizeof(expirations));
    return count == sizeof(expirations) ? (long)expirations : (count < 0 ? -errno : -EIO);
}

// ---- A command started held, for tools that trace a command from its first instruction --

#include <fcntl.h>
#include <sys/wait.h>

int cbpf_spawn_held(char *const argv[], int *gate_fd, int *error_fd) {
    int gate[2], report[2];
    if (pipe2(gate, O_CLOEXEC) < 0)
        return -errno;
    if (pipe2(report, O_CLOEXEC) < 0) {
        int error = errno;
        close(gate[0]);
        close(gate[1]);
        return -error;
    }
    pid_t pid = fork();
    if (pid < 0) {
        int error = errno;
        close(gate[0]); close(gate[1]); close(report[0]); close(report[1]);
        return -error;
    }
    if (pid == 0) {
        // Only async-signal-safe calls here: the parent may have other threads.
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        close(gate[1]);
        close(report[0]);
        char go;
        if (read(gate[0], &go, 1) != 1)
            _exit(127);  // the tracer went away before releasing us
        execvp(argv[0], argv);
        int error = errno;
        if (write(report[1], &error, sizeof(error)) < 0) {}
        _exit(127);
    }
    close(gate[0]);
    close(report[1]);
    *gate_fd = gate[1];
    *error_fd = report[0];
    return pid;
}

int cbpf_release_held(int gate_fd, int error_fd) {
    int result = 0;
    if (write(gate_fd, "x", 1) != 1)
        result = -errno;
    close(gate_fd);
    if (result == 0) {
        int error = 0;
        ssize_t count;
        do count = read(error_fd, &error, sizeof(error)); while (count < 0 && errno == EINTR);
        if (count == sizeof(error))
            result = -error;
    }
    close(error_fd);
    return result;
}

int cbpf_pidfd_open(int pid) {
    long fd = syscall(SYS_pidfd_open, pid, 0);
    return fd < 0 ? -errno : (int)fd;
}

int cbpf_reap(int pid) {
    int status = 0;
    pid_t result;
    do result = waitpid(pid, &status, WNOHANG); while (result < 0 && errno == EINTR);
    if (result < 0)
        return -errno;
    return result == 0 ? -EAGAIN : status;
}
