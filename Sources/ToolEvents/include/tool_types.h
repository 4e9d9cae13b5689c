// Integer types for headers shared by BPF programs (built with -nostdinc) and Swift.
#ifndef BPFKIT_TOOL_TYPES_H
#define BPFKIT_TOOL_TYPES_H
#ifdef __bpf__
#include "bpf_types.h"
#else
#include <stdint.h>
#endif
#endif
