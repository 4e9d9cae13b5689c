// Every event header, as the module Swift imports: an umbrella header rather than the
// folder, so that adding a header here changes this file and rebuilds the cached module
// (a header merely added to the folder is missed by an incremental build).
#ifndef BPFKIT_TOOL_EVENTS_H
#define BPFKIT_TOOL_EVENTS_H
#include "tool_types.h"
#include "stacks.h"
#include "execsnoop.h"
#include "opensnoop.h"
#include "runqlat.h"
#include "biolatency.h"
#include "biosnoop.h"
#include "bitesize.h"
#include "fsslower.h"
#include "cachestat.h"
#include "exporter.h"
#include "unwind.h"
#include "tcptools.h"
#include "gethostlatency.h"
#include "memleak.h"
#include "usdt.h"
#include "tsa.h"
#endif
