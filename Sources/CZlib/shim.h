#ifndef BPFKIT_CZLIB_SHIM_H
#define BPFKIT_CZLIB_SHIM_H

#include <zlib.h>

// deflateInit2/inflateInit2 are macros (they pass the library version and the stream's
// size), which Swift cannot call: these wrappers can be. windowBits 15 + 16 selects the
// gzip wrapper (header and CRC-32 trailer) instead of zlib's.
static inline int bpfkit_gzip_deflate_init(z_stream *stream, int level) {
    return deflateInit2(stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
}

static inline int bpfkit_gzip_inflate_init(z_stream *stream) {
    return inflateInit2(stream, 15 + 16);
}

#endif
