#ifndef CZLIB_SHIM_H
#define CZLIB_SHIM_H
#include <zlib.h>

/// `inflateInit2` is a macro in zlib.h, which Swift cannot call: wrap it.
/// windowBits as zlib takes them: 15 + 16 reads a gzip wrapper only (LogIO's reader),
/// 15 + 32 detects a gzip or zlib header.
static inline int czlib_inflateInit2(z_streamp strm, int windowBits) {
    return inflateInit2(strm, windowBits);
}

/// `deflateInit2` is a macro as well; windowBits 15 + 16 writes a gzip wrapper.
static inline int czlib_deflateInit2(z_streamp strm, int level, int windowBits) {
    return deflateInit2(strm, level, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY);
}
#endif
