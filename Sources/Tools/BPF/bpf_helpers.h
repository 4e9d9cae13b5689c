// BPFKit's BPF-side helper header: section and map-definition macros, helper function
// declarations by helper number (enum bpf_func_id is append-only, so numbers are stable),
// and CO-RE read macros. Written for this project; see shared/BPF-ABI.md for the numbers.
#ifndef BPFKIT_BPF_HELPERS_H
#define BPFKIT_BPF_HELPERS_H

#include "bpf_types.h"

#define SEC(name) __attribute__((section(name), used))
#define __always_inline inline __attribute__((always_inline))
#define __noinline __attribute__((noinline))
#define __weak __attribute__((weak))
// A kernel function (kfunc) or variable resolved by name against the kernel's BTF at load time.
#define __ksym __attribute__((section(".ksyms")))

// BTF-defined maps: the loader reads each attribute from the BTF of the member's type.
#define __uint(name, value) int (*name)[value]
#define __type(name, type) typeof(type) *name
#define __array(name, type) typeof(type) *name[]

// Map types (enum bpf_map_type).
#define BPF_MAP_TYPE_HASH 1
#define BPF_MAP_TYPE_ARRAY 2
#define BPF_MAP_TYPE_PERF_EVENT_ARRAY 4
#define BPF_MAP_TYPE_PERCPU_HASH 5
#define BPF_MAP_TYPE_PERCPU_ARRAY 6
#define BPF_MAP_TYPE_STACK_TRACE 7
#define BPF_MAP_TYPE_LRU_HASH 9
#define BPF_MAP_TYPE_RINGBUF 27

// Ring buffer output flags and bpf_ringbuf_query's questions.
#define BPF_RB_NO_WAKEUP 1
#define BPF_RB_FORCE_WAKEUP 2
#define BPF_RB_AVAIL_DATA 0
#define BPF_RB_RING_SIZE 1

// Update flags.
#define BPF_ANY 0
#define BPF_NOEXIST 1
#define BPF_EXIST 2

// Map flags.
#define BPF_F_NO_PREALLOC 1

// bpf_perf_event_output index meaning "this CPU's slot".
#define BPF_F_CURRENT_CPU 0xffffffffULL

// Stack flags.
#define BPF_F_USER_STACK (1ULL << 8)
#define BPF_F_FAST_STACK_CMP (1ULL << 9)
#define BPF_F_REUSE_STACKID (1ULL << 10)

// Helpers, declared by number.
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*bpf_map_update_elem)(void *map, const void *key, const void *value, u64 flags) = (void *)2;
static long (*bpf_map_delete_elem)(void *map, const void *key) = (void *)3;
static u64 (*bpf_ktime_get_ns)(void) = (void *)5;
static long (*bpf_trace_printk)(const char *fmt, u32 fmt_size, ...) = (void *)6;
static u32 (*bpf_get_smp_processor_id)(void) = (void *)8;
static u64 (*bpf_get_current_pid_tgid)(void) = (void *)14;
static u64 (*bpf_get_current_uid_gid)(void) = (void *)15;
static long (*bpf_get_current_comm)(void *buf, u32 size) = (void *)16;
static long (*bpf_perf_event_output)(void *ctx, void *map, u64 flags, void *data, u64 size) = (void *)25;
static long (*bpf_get_stackid)(void *ctx, void *map, u64 flags) = (void *)27;
static u64 (*bpf_get_current_task)(void) = (void *)35;
static long (*bpf_get_stack)(void *ctx, void *buf, u32 size, u64 flags) = (void *)67;
static u64 (*bpf_get_current_cgroup_id)(void) = (void *)80;
static long (*bpf_probe_read_user)(void *dst, u32 size, const void *unsafe_ptr) = (void *)112;
static long (*bpf_probe_read_kernel)(void *dst, u32 size, const void *unsafe_ptr) = (void *)113;
static long (*bpf_probe_read_user_str)(void *dst, u32 size, const void *unsafe_ptr) = (void *)114;
static long (*bpf_probe_read_kernel_str)(void *dst, u32 size, const void *unsafe_ptr) = (void *)115;
static u64 (*bpf_ktime_get_boot_ns)(void) = (void *)125;
static long (*bpf_ringbuf_output)(void *ringbuf, void *data, u64 size, u64 flags) = (void *)130;
static void *(*bpf_ringbuf_reserve)(void *ringbuf, u64 size, u64 flags) = (void *)131;
static void (*bpf_ringbuf_submit)(void *data, u64 flags) = (void *)132;
static void (*bpf_ringbuf_discard)(void *data, u64 flags) = (void *)133;
static u64 (*bpf_ringbuf_query)(void *ringbuf, u64 flags) = (void *)134;
static void *(*bpf_get_current_task_btf)(void) = (void *)158;
// The cookie given when the program was attached (Linux 5.15 for perf-event links).
static u64 (*bpf_get_attach_cookie)(void *ctx) = (void *)174;
// Calls `callback(index, context)` up to `count` times (Linux 5.17); the verifier checks the
// callback once instead of every iteration. The callback returns 1 to stop early.
static long (*bpf_loop)(u32 count, void *callback, void *context, u64 flags) = (void *)181;

// floor(log2(v)) + 1, with 0 in slot 1 beside 1: the slot of a power-of-two histogram as
// bcc's bpf_log2l counts (slot 1 = 0..1, slot 2 = 2..3, slot 3 = 4..7, …).
static __always_inline uint32_t log2_slot(uint64_t v) {
    uint32_t slot = 0;
    if (v >= (1ULL << 32)) { v >>= 32; slot += 32; }
    if (v >= (1ULL << 16)) { v >>= 16; slot += 16; }
    if (v >= (1ULL << 8)) { v >>= 8; slot += 8; }
    if (v >= (1ULL << 4)) { v >>= 4; slot += 4; }
    if (v >= (1ULL << 2)) { v >>= 2; slot += 2; }
    if (v >= (1ULL << 1)) { slot += 1; }
    return slot + 1;
}

// CO-RE: a read whose field offset the loader (or the kernel) relocates against the
// running kernel's BTF. The struct must be declared with preserve_access_index.
#define BPF_CORE_READ_INTO(dst, src, field) \
    bpf_probe_read_kernel((dst), sizeof(*(dst)), __builtin_preserve_access_index(&(src)->field))

// 1 if the running kernel's type has this field, else 0 (never fails to load).
#define bpf_core_field_exists(field) __builtin_preserve_field_info(field, 2)
// 1 if the running kernel has this type.
#define bpf_core_type_exists(type) __builtin_preserve_type_info(*(typeof(type) *)0, 0)
// The value of an enumerator in the running kernel (enum values move between versions).
#define bpf_core_enum_value(enum_type, enumerator) \
    __builtin_preserve_enum_value(*(typeof(enum_type) *)enumerator, 1)

#define BPF_CORE_READ(src, field)                                   \
    ({                                                              \
        typeof((src)->field) __value;                               \
        __builtin_memset(&__value, 0, sizeof(__value));             \
        BPF_CORE_READ_INTO(&__value, src, field);                   \
        __value;                                                    \
    })

#endif
