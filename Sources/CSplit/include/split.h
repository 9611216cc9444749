#ifndef SWIFTCTR_SPLIT_H
#define SWIFTCTR_SPLIT_H

#include <stdint.h>

// Field splitting for ctr-ingest's RowParser and ctr-hash's RowSplitter (issue #18): one pass
// over a line, 32 bytes at a time with AVX2 (chosen at run time by CPUID), 16 with SSE2 (the
// x86-64 baseline), a byte at a time elsewhere. Every path gives the same results; none reads
// a byte outside [line, line + n): a line's last partial block is read as the whole block
// that ends at its last byte, with the bytes already seen masked off.

// A field: UnsafeBufferPointer<UInt8>'s layout (base address, count).
typedef struct {
    const uint8_t *start;
    intptr_t count;
} swiftctr_field;

// The instruction set the splitters use on this processor: 2 AVX2, 1 SSE2, 0 portable C.
int swiftctr_split_level(void);

// Splits line[0..n) at each `delimiter` byte into fields (delimiters + 1 of them) and returns
// their number; only the first `capacity` are written to `fields`. `*flagged` is set to 1 when
// the line holds a byte equal to flag1 or flag2, else 0 (RowParser: a carriage return, or a tab
// in a line not split on tabs: values the rows format cannot hold).
intptr_t swiftctr_split_fields(const uint8_t *line, intptr_t n, uint8_t delimiter, swiftctr_field *fields,
                               intptr_t capacity, uint8_t flag1, uint8_t flag2, int *flagged);

// For each tab in base[from..end), in order, writes its position + 1 (the next value's start,
// as a 32-bit offset from base; end must be below 2^32) to offsets[0..capacity) and returns
// how many tabs there are (only the first `capacity` are written).
intptr_t swiftctr_split_tabs(const uint8_t *base, intptr_t from, intptr_t end, uint32_t *offsets,
                             intptr_t capacity);

// The same at a given level (0, 1 or 2; at most swiftctr_split_level()), for the tests.
intptr_t swiftctr_split_fields_at(int level, const uint8_t *line, intptr_t n, uint8_t delimiter,
                                  swiftctr_field *fields, intptr_t capacity, uint8_t flag1, uint8_t flag2,
                                  int *flagged);
intptr_t swiftctr_split_tabs_at(int level, const uint8_t *base, intptr_t from, intptr_t end, uint32_t *offsets,
                                intptr_t capacity);

#endif
