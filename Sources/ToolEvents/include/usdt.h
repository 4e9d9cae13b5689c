// usdt's per-site argument table and event, shared by usdt.bpf.c and Usdt.swift.
#ifndef BPFKIT_USDT_H
#define BPFKIT_USDT_H
#include "tool_types.h"

#define USDT_MAX_ARGS 6
#define USDT_MAX_SITES 256
#define USDT_STRING_SIZE 48

// Where an argument lives (USDTArgument.Location).
#define USDT_ARG_NONE 0
#define USDT_ARG_CONSTANT 1
#define USDT_ARG_REGISTER 2
#define USDT_ARG_MEMORY 3

/// One argument: a constant, a register (its offset in struct pt_regs), or memory at a
/// register plus `value`; `size` bytes, sign-extended when `is_signed`.
struct usdt_arg_spec {
    int64_t value;           // the constant, or the memory offset
    uint16_t reg_offset;     // byte offset in struct pt_regs
    uint8_t kind;            // USDT_ARG_*
    uint8_t size;            // 1, 2, 4 or 8
    uint8_t is_signed;
    uint8_t is_string;       // also copy the C string the value points at
    uint8_t pad[2];
};

/// The arguments of one probe site, at its index (the uprobe's BPF cookie) in `usdt_specs`.
struct usdt_site_spec {
    struct usdt_arg_spec args[USDT_MAX_ARGS];
    uint32_t count;
    uint32_t pad;
};

/// One firing.
struct usdt_event {
    uint64_t timestamp_ns;
    uint32_t pid;
    uint32_t tid;
    uint32_t site;           // index of the site (cookie)
    uint32_t count;          // arguments decoded
    char comm[16];
    uint64_t args[USDT_MAX_ARGS];
    char strings[USDT_MAX_ARGS][USDT_STRING_SIZE];
};

#endif
