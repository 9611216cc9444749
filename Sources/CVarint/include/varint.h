#ifndef SWIFTCTR_VARINT_H
#define SWIFTCTR_VARINT_H

#include <stdint.h>

// The index deltas of a compact cache row (CompactRows.encode, issue #18): per feature the
// zigzag of its index minus the previous feature's (the first's minus 0) as an unsigned LEB128
// varint. With BMI2 (chosen at run time by CPUID) each varint is one PDEP that spreads the
// bits over 7-bit groups, its continuation bits from the highest nonzero byte (LZCNT, BZHI)
// and one 8-byte store, no branch per byte; elsewhere a byte at a time. Both write the same
// bytes.

// A feature as Dataset's Feature lays it out: field, index, value (12 bytes).
typedef struct {
    uint32_t field;
    uint32_t index;
    float value;
} swiftctr_feature;

// The varint path used on this processor: 1 BMI2 + LZCNT (with a fast PDEP: not on AMD before
// Zen 3), 0 portable C.
int swiftctr_varint_level(void);

// Writes the count index deltas of features to out, which has room for `capacity` bytes
// (at least 5 * count: a delta of two 32-bit indices takes at most 5 bytes), and returns the
// number of bytes written. The 8-byte stores of the BMI2 path are used only where they fit.
intptr_t swiftctr_put_index_deltas(const swiftctr_feature *features, intptr_t count, uint8_t *out, intptr_t capacity);

// The same at a given level (0 or 1, at most swiftctr_varint_level()), for the tests.
intptr_t swiftctr_put_index_deltas_at(int level, const swiftctr_feature *features, intptr_t count, uint8_t *out,
                                      intptr_t capacity);

#endif
