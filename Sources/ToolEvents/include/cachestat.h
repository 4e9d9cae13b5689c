// cachestat's counters, shared by cachestat.bpf.c and Cachestat.swift.
#ifndef BPFKIT_CACHESTAT_H
#define BPFKIT_CACHESTAT_H
#include "tool_types.h"

/// Running totals, one copy per CPU; the tool prints the difference each interval.
/// What each counts depends on the path (see `bpfkit cachestat --help`).
struct cachestat_counters {
    uint64_t accessed;        // page-cache lookups, outside write calls
    uint64_t added;           // pages added to the page cache, outside write calls
    uint64_t added_by_writes; // pages added while the thread was in a write call
    uint64_t dirtied;         // pages (folios' pages) marked dirty
};

#endif
