// The ToolEvents target exists for its headers; SwiftPM needs one C file to build it.
#include "ToolEvents.h"
