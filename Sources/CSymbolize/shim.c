#include "CSymbolize.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/auxv.h>

// Exported by libswiftCore (linked into every Swift program, statically with
// --static-swift-stdlib). `flags` must be 0: the runtime rejects anything else.
extern char *swift_demangle(const char *mangledName, size_t mangledNameLength,
                            char *outputBuffer, size_t *outputBufferSize, uint32_t flags);

// The backtracer's entry point in the same library: simplified Swift names.
extern char *_swift_backtrace_demangle(const char *mangledName, size_t mangledNameLength,
                                       char *outputBuffer, size_t *outputBufferSize, int *status);

// libstdc++ (which the Swift runtime links on Linux).
extern char *__cxa_demangle(const char *mangledName, char *outputBuffer, size_t *length, int *status);

char *bpfkit_swift_demangle(const char *name, size_t length) {
    return swift_demangle(name, length, NULL, NULL, 0);
}

char *bpfkit_swift_demangle_simplified(const char *name, size_t length) {
    int status = 0;
    char *result = _swift_backtrace_demangle(name, length, NULL, NULL, &status);
    if (status != 0 && result != NULL) {
        free(result);
        return NULL;
    }
    return result;
}

char *bpfkit_cxx_demangle(const char *name) {
    int status = 0;
    char *result = __cxa_demangle(name, NULL, NULL, &status);
    if (status != 0) {
        free(result);
        return NULL;
    }
    return result;
}

void bpfkit_demangle_free(char *text) { free(text); }

unsigned long bpfkit_vdso_base(void) { return getauxval(AT_SYSINFO_EHDR); }
