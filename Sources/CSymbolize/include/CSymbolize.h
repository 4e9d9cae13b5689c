#ifndef BPFKIT_CSYMBOLIZE_H
#define BPFKIT_CSYMBOLIZE_H

#include <stddef.h>

/// The demanglers the runtime libraries already carry, behind C declarations Swift can call.
/// Each returns a malloc'd NUL-terminated string (free it with `bpfkit_demangle_free`), or
/// NULL when `name` is not a symbol of that language or is malformed.

/// Swift, full form (`main.foo(Swift.Int) -> Swift.Int`): the runtime's `swift_demangle`.
char *bpfkit_swift_demangle(const char *name, size_t length);

/// Swift, simplified form (`foo(_:)`): the runtime backtracer's demangler.
char *bpfkit_swift_demangle_simplified(const char *name, size_t length);

/// C++ (Itanium ABI): libstdc++'s `__cxa_demangle`.
char *bpfkit_cxx_demangle(const char *name);

void bpfkit_demangle_free(char *text);

/// The address of this process's vDSO image (`getauxval(AT_SYSINFO_EHDR)`), 0 if none.
unsigned long bpfkit_vdso_base(void);

#endif
