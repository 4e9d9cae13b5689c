// The ToolEvents target exists for its headers; SwiftPM needs one C file to build it.
#include "execsnoop.h"
#include "opensnoop.h"
#include "biolatency.h"
#include "biosnoop.h"
#include "bitesize.h"
#include "fsslower.h"
#include "cachestat.h"
#include "tcptools.h"
