// Index deltas as zigzag varints: see include/varint.h.
#include "varint.h"

// The deltas from feature i on, a byte at a time (CompactRows.putVarint's loop).
static intptr_t deltas_finish(const swiftctr_feature *features, intptr_t i, intptr_t count, uint8_t *out,
                              intptr_t n, int64_t previous) {
    for (; i < count; i++) {
        const int64_t index = features[i].index;
        const int64_t delta = index - previous;
        uint64_t v = ((uint64_t)delta << 1) ^ (uint64_t)(delta >> 63);
        previous = index;
        while (v >= 0x80) {
            out[n++] = (uint8_t)v | 0x80;
            v >>= 7;
        }
        out[n++] = (uint8_t)v;
    }
    return n;
}

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <cpuid.h>
#include <immintrin.h>
#include <string.h>

__attribute__((target("bmi2,lzcnt")))
static intptr_t deltas_bmi2(const swiftctr_feature *features, intptr_t count, uint8_t *out, intptr_t capacity) {
    // Room for every store: each starts at most 5 bytes after the one before and writes 8.
    if (capacity < 5 * count + 8) return deltas_finish(features, 0, count, out, 0, 0);
    intptr_t n = 0;
    int64_t previous = 0;
    for (intptr_t i = 0; i < count; i++) {
        const int64_t index = features[i].index;
        const int64_t delta = index - previous;
        const uint64_t v = ((uint64_t)delta << 1) ^ (uint64_t)(delta >> 63);   // below 2^33
        previous = index;
        // The 7-bit groups spread over bytes; h, the highest nonzero byte (0 for v = 0), is the
        // varint's last: bytes 0..<h get the continuation bit (the low 8h bits of 0x80...80).
        const uint64_t spread = _pdep_u64(v, 0x7F7F7F7F7F7F7F7FULL);
        const unsigned eight_h = ((unsigned)_lzcnt_u64(spread | 1) ^ 63) & 56;
        const uint64_t word = spread | _bzhi_u64(0x8080808080808080ULL, eight_h);
        memcpy(out + n, &word, 8);   // little-endian x86-64: the first byte is the low 7 bits
        n += (eight_h >> 3) + 1;
    }
    return n;
}

// BMI2 (CPUID leaf 7) and LZCNT (leaf 0x80000001, ABM), on a processor whose PDEP is fast:
// AMD's before Zen 3 (family 19h) run it as microcode, tens to hundreds of cycles, slower
// than the byte loop.
static int detect_level(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(b & bit_BMI2)) return 0;
    if (!__get_cpuid(0x80000001, &a, &b, &c, &d) || !(c & bit_LZCNT)) return 0;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return 0;
    const int amd = b == 0x68747541 && d == 0x69746e65 && c == 0x444d4163;   // "AuthenticAMD"
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    const unsigned family = ((a >> 8) & 0xF) == 0xF ? 0xF + ((a >> 20) & 0xFF) : (a >> 8) & 0xF;
    return amd && family < 0x19 ? 0 : 1;
}
#else
static int detect_level(void) { return 0; }
#endif

static int varint_level = -1;

// Set before main runs, so that the encoder reads a constant.
__attribute__((constructor)) static void varint_init(void) { varint_level = detect_level(); }

int swiftctr_varint_level(void) {
    if (varint_level < 0) varint_level = detect_level();
    return varint_level;
}

intptr_t swiftctr_put_index_deltas_at(int level, const swiftctr_feature *features, intptr_t count, uint8_t *out,
                                      intptr_t capacity) {
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
    if (level >= 1) return deltas_bmi2(features, count, out, capacity);
#endif
    (void)level;
    (void)capacity;
    return deltas_finish(features, 0, count, out, 0, 0);
}

intptr_t swiftctr_put_index_deltas(const swiftctr_feature *features, intptr_t count, uint8_t *out, intptr_t capacity) {
    return swiftctr_put_index_deltas_at(varint_level, features, count, out, capacity);
}
