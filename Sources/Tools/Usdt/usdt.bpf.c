// usdt: one uprobe program for every site of a USDT probe. The site's index comes as the
// BPF cookie; its argument table (usdt_specs, filled by the tool from the ELF note) says
// where each argument lives: a register in pt_regs, memory at a register plus an offset, or a
// constant.
#include "vmlinux.h"
#include "bpf_helpers.h"
#include "bpfkit_events.h"
#include "usdt.h"

const volatile uint32_t target_pid = 0;

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, USDT_MAX_SITES);
    __type(key, uint32_t);
    __type(value, struct usdt_site_spec);
} usdt_specs SEC(".maps");

// The register's 64-bit value from the saved user registers.
static __always_inline uint64_t read_register(struct pt_regs *ctx, uint16_t offset) {
    uint64_t value = 0;
    if (offset <= sizeof(struct pt_regs) - sizeof(uint64_t))
        bpf_probe_read_kernel(&value, sizeof(value), (void *)ctx + offset);
    return value;
}

SEC("uprobe")
int usdt_probe(struct pt_regs *ctx) {
    uint64_t id = bpf_get_current_pid_tgid();
    uint32_t pid = id >> 32;
    if (target_pid && pid != target_pid)
        return 0;
    uint32_t site = (uint32_t)bpf_get_attach_cookie(ctx);
    struct usdt_site_spec *spec = bpf_map_lookup_elem(&usdt_specs, &site);
    if (!spec)
        return 0;
    struct usdt_event *event = reserve_event(sizeof(*event));
    if (!event)
        return 0;
    event->timestamp_ns = bpf_ktime_get_ns();
    event->pid = pid;
    event->tid = (uint32_t)id;
    event->site = site;
    event->count = spec->count;
    bpf_get_current_comm(event->comm, sizeof(event->comm));
    for (int i = 0; i < USDT_MAX_ARGS; i++) {
        struct usdt_arg_spec *arg = &spec->args[i];
        uint64_t value = 0;
        event->strings[i][0] = 0;
        if (arg->kind == USDT_ARG_CONSTANT) {
            value = arg->value;
        } else if (arg->kind == USDT_ARG_REGISTER) {
            value = read_register(ctx, arg->reg_offset);
        } else if (arg->kind == USDT_ARG_MEMORY) {
            uint64_t address = read_register(ctx, arg->reg_offset) + arg->value;
            uint32_t size = arg->size;
            if (size > sizeof(value))
                size = sizeof(value);
            if (size)
                bpf_probe_read_user(&value, size, (void *)address);
        } else {
            event->args[i] = 0;
            continue;
        }
        // Keep the argument's own bytes, sign-extended as its spec says.
        uint32_t shift = 64 - 8 * (arg->size & 0xf);
        if (shift > 0 && shift < 64) {
            value <<= shift;
            value = arg->is_signed ? (uint64_t)((int64_t)value >> shift) : value >> shift;
        }
        event->args[i] = value;
        if (arg->is_string && value)
            bpf_probe_read_user_str(event->strings[i], USDT_STRING_SIZE, (void *)value);
    }
    bpf_ringbuf_submit(event, 0);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
