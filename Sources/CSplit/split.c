// Field splitting, one pass a line: see include/split.h.
#include "split.h"

// The steps per delimiter found, shared by every width: when the output has room for all
// of a block's delimiters (mask bits), they are stored with no bound check per field.
#define FIELDS_EMIT(mask, offset)                                                              \
    do {                                                                                       \
        uint64_t m_ = (mask);                                                                  \
        if (count + __builtin_popcountll(m_) <= capacity) {                                    \
            while (m_) {                                                                       \
                const uint8_t *at_ = line + (offset) + __builtin_ctzll(m_);                    \
                fields[count].start = start;                                                   \
                fields[count].count = at_ - start;                                             \
                count++;                                                                       \
                start = at_ + 1;                                                               \
                m_ &= m_ - 1;                                                                  \
            }                                                                                  \
        } else {                                                                               \
            while (m_) {                                                                       \
                const uint8_t *at_ = line + (offset) + __builtin_ctzll(m_);                    \
                if (count < capacity) {                                                        \
                    fields[count].start = start;                                               \
                    fields[count].count = at_ - start;                                         \
                }                                                                              \
                count++;                                                                       \
                start = at_ + 1;                                                               \
                m_ &= m_ - 1;                                                                  \
            }                                                                                  \
        }                                                                                      \
    } while (0)

#define TABS_EMIT(mask, offset)                                                                \
    do {                                                                                       \
        uint64_t m_ = (mask);                                                                  \
        if (count + __builtin_popcountll(m_) <= capacity) {                                    \
            while (m_) {                                                                       \
                offsets[count++] = (uint32_t)((offset) + __builtin_ctzll(m_) + 1);             \
                m_ &= m_ - 1;                                                                  \
            }                                                                                  \
        } else {                                                                               \
            while (m_) {                                                                       \
                if (count < capacity) offsets[count] = (uint32_t)((offset) + __builtin_ctzll(m_) + 1); \
                count++;                                                                       \
                m_ &= m_ - 1;                                                                  \
            }                                                                                  \
        }                                                                                      \
    } while (0)

// The bytes from i on, one at a time (the portable path, and what is left of a line
// shorter than a vector), then the last field.
static intptr_t fields_finish(const uint8_t *line, intptr_t n, uint8_t delimiter, swiftctr_field *fields,
                              intptr_t capacity, uint8_t flag1, uint8_t flag2, int *flagged, intptr_t i,
                              intptr_t count, const uint8_t *start, int flag) {
    for (; i < n; i++) {
        const uint8_t b = line[i];
        flag |= (b == flag1) | (b == flag2);
        if (b == delimiter) {
            if (count < capacity) {
                fields[count].start = start;
                fields[count].count = line + i - start;
            }
            count++;
            start = line + i + 1;
        }
    }
    if (count < capacity) {
        fields[count].start = start;
        fields[count].count = line + n - start;
    }
    *flagged = flag;
    return count + 1;
}

static intptr_t tabs_finish(const uint8_t *base, intptr_t i, intptr_t end, uint32_t *offsets, intptr_t capacity,
                            intptr_t count) {
    for (; i < end; i++) {
        if (base[i] == 9) {
            if (count < capacity) offsets[count] = (uint32_t)(i + 1);
            count++;
        }
    }
    return count;
}

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <cpuid.h>
#include <immintrin.h>

static intptr_t fields_sse2(const uint8_t *line, intptr_t n, uint8_t delimiter, swiftctr_field *fields,
                            intptr_t capacity, uint8_t flag1, uint8_t flag2, int *flagged) {
    const __m128i d = _mm_set1_epi8((char)delimiter), f1 = _mm_set1_epi8((char)flag1), f2 = _mm_set1_epi8((char)flag2);
    __m128i seen = _mm_setzero_si128();
    intptr_t count = 0, i = 0;
    const uint8_t *start = line;
    for (; i + 16 <= n; i += 16) {
        const __m128i x = _mm_loadu_si128((const __m128i *)(line + i));
        seen = _mm_or_si128(seen, _mm_or_si128(_mm_cmpeq_epi8(x, f1), _mm_cmpeq_epi8(x, f2)));
        FIELDS_EMIT((uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x, d)), i);
    }
    int flag = 0;
    if (i < n && n >= 16) {
        // The last 16 bytes of the line; the first `back` of them were seen above.
        const int back = (int)(16 - (n - i));
        const __m128i x = _mm_loadu_si128((const __m128i *)(line + n - 16));
        flag = ((uint32_t)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(x, f1), _mm_cmpeq_epi8(x, f2))) >> back) != 0;
        FIELDS_EMIT((uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x, d)) >> back, i);
        i = n;
    }
    flag |= _mm_movemask_epi8(seen) != 0;
    return fields_finish(line, n, delimiter, fields, capacity, flag1, flag2, flagged, i, count, start, flag);
}

__attribute__((target("avx2,popcnt,bmi")))
static intptr_t fields_avx2(const uint8_t *line, intptr_t n, uint8_t delimiter, swiftctr_field *fields,
                            intptr_t capacity, uint8_t flag1, uint8_t flag2, int *flagged) {
    if (n < 32) return fields_sse2(line, n, delimiter, fields, capacity, flag1, flag2, flagged);
    const __m256i d = _mm256_set1_epi8((char)delimiter), f1 = _mm256_set1_epi8((char)flag1),
                  f2 = _mm256_set1_epi8((char)flag2);
    __m256i seen = _mm256_setzero_si256();
    intptr_t count = 0, i = 0;
    const uint8_t *start = line;
    for (; i + 32 <= n; i += 32) {
        const __m256i x = _mm256_loadu_si256((const __m256i *)(line + i));
        seen = _mm256_or_si256(seen, _mm256_or_si256(_mm256_cmpeq_epi8(x, f1), _mm256_cmpeq_epi8(x, f2)));
        FIELDS_EMIT((uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(x, d)), i);
    }
    int flag = 0;
    if (i < n) {
        const int back = (int)(32 - (n - i));
        const __m256i x = _mm256_loadu_si256((const __m256i *)(line + n - 32));
        flag = ((uint32_t)_mm256_movemask_epi8(_mm256_or_si256(_mm256_cmpeq_epi8(x, f1), _mm256_cmpeq_epi8(x, f2))) >> back) != 0;
        FIELDS_EMIT((uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(x, d)) >> back, i);
        i = n;
    }
    flag |= _mm256_movemask_epi8(seen) != 0;
    return fields_finish(line, n, delimiter, fields, capacity, flag1, flag2, flagged, i, count, start, flag);
}

static intptr_t tabs_sse2(const uint8_t *base, intptr_t from, intptr_t end, uint32_t *offsets, intptr_t capacity) {
    const __m128i tab = _mm_set1_epi8(9);
    intptr_t count = 0, i = from;
    for (; i + 16 <= end; i += 16) {
        const __m128i x = _mm_loadu_si128((const __m128i *)(base + i));
        TABS_EMIT((uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x, tab)), i);
    }
    if (i < end && end - from >= 16) {
        const int back = (int)(16 - (end - i));
        const __m128i x = _mm_loadu_si128((const __m128i *)(base + end - 16));
        TABS_EMIT((uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x, tab)) >> back, i);
        i = end;
    }
    return tabs_finish(base, i, end, offsets, capacity, count);
}

__attribute__((target("avx2,popcnt,bmi")))
static intptr_t tabs_avx2(const uint8_t *base, intptr_t from, intptr_t end, uint32_t *offsets, intptr_t capacity) {
    if (end - from < 32) return tabs_sse2(base, from, end, offsets, capacity);
    const __m256i tab = _mm256_set1_epi8(9);
    intptr_t count = 0, i = from;
    for (; i + 32 <= end; i += 32) {
        const __m256i x = _mm256_loadu_si256((const __m256i *)(base + i));
        TABS_EMIT((uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(x, tab)), i);
    }
    if (i < end) {
        const int back = (int)(32 - (end - i));
        const __m256i x = _mm256_loadu_si256((const __m256i *)(base + end - 32));
        TABS_EMIT((uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(x, tab)) >> back, i);
    }
    return count;
}

// AVX2 and BMI1 (CPUID leaf 7) and POPCNT (leaf 1) with the YMM state saved by the operating system (OSXSAVE, XGETBV).
static int detect_level(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_AVX) || !(c & bit_OSXSAVE) || !(c & bit_POPCNT)) return 1;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 6) != 6) return 1;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 1;
    return (b & bit_AVX2) && (b & bit_BMI) ? 2 : 1;
}
#else
static int detect_level(void) { return 0; }
#endif

static int split_level = -1;

// Set before main runs, so the splitters read a constant.
__attribute__((constructor)) static void split_init(void) { split_level = detect_level(); }

int swiftctr_split_level(void) {
    if (split_level < 0) split_level = detect_level();
    return split_level;
}

intptr_t swiftctr_split_fields_at(int level, const uint8_t *line, intptr_t n, uint8_t delimiter,
                                  swiftctr_field *fields, intptr_t capacity, uint8_t flag1, uint8_t flag2,
                                  int *flagged) {
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
    if (level >= 2) return fields_avx2(line, n, delimiter, fields, capacity, flag1, flag2, flagged);
    if (level == 1) return fields_sse2(line, n, delimiter, fields, capacity, flag1, flag2, flagged);
#endif
    (void)level;
    return fields_finish(line, n, delimiter, fields, capacity, flag1, flag2, flagged, 0, 0, line, 0);
}

intptr_t swiftctr_split_tabs_at(int level, const uint8_t *base, intptr_t from, intptr_t end, uint32_t *offsets,
                                intptr_t capacity) {
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
    if (level >= 2) return tabs_avx2(base, from, end, offsets, capacity);
    if (level == 1) return tabs_sse2(base, from, end, offsets, capacity);
#endif
    (void)level;
    return tabs_finish(base, from, end, offsets, capacity, 0);
}

intptr_t swiftctr_split_fields(const uint8_t *line, intptr_t n, uint8_t delimiter, swiftctr_field *fields,
                               intptr_t capacity, uint8_t flag1, uint8_t flag2, int *flagged) {
    return swiftctr_split_fields_at(split_level, line, n, delimiter, fields, capacity, flag1, flag2, flagged);
}

intptr_t swiftctr_split_tabs(const uint8_t *base, intptr_t from, intptr_t end, uint32_t *offsets, intptr_t capacity) {
    return swiftctr_split_tabs_at(split_level, base, from, end, offsets, capacity);
}
