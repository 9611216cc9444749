#ifndef SWIFTCTR_CPREFETCH_H
#define SWIFTCTR_CPREFETCH_H

#include <stdint.h>

// C for the FFM trainer's hot loop, where Swift cannot go: software prefetch, and the
// update kernel at k <= 4 compiled for AVX alone (Swift compiles the whole module for one
// target; a function attribute lets this one use 256-bit operations while the build stays
// baseline x86-64, and FFMModel.updateLatent4 calls it only when CPUID says AVX is there).

// Software prefetch for the FFM trainer's hot loop. Swift has no prefetch of its own and
// cannot import _mm_prefetch (a macro); __builtin_prefetch compiles to PREFETCHT0 on
// x86-64 and PRFM on arm64, and to nothing where there is no such instruction.
static inline void swiftctr_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

// Atomics and a spin-wait hint for DeepFM's worker team (WorkerTeam.swift): the counters it
// spins on are plain `long`s shared between threads, read with acquire and written with
// release ordering, which Swift's standard library has no portable way to say before macOS 15.
static inline long swiftctr_atomic_load(const long *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void swiftctr_atomic_store(long *p, long v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline long swiftctr_atomic_add(long *p, long v) { return __atomic_add_fetch(p, v, __ATOMIC_ACQ_REL); }
static inline void swiftctr_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <cpuid.h>
#include <immintrin.h>

// Whether the processor and the operating system support AVX (256-bit float operations
// and their registers): CPUID leaf 1 (AVX, OSXSAVE) and XGETBV (XMM and YMM state saved).
static inline int swiftctr_has_avx(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    if (!(c & bit_AVX) || !(c & bit_OSXSAVE)) return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (lo & 6) == 6;
}

// Two 4-float chunks at p and q as one 256-bit value (p low, q high), and back.
__attribute__((target("avx")))
static inline __m256 swiftctr_load2(const float *p, const float *q) {
    return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_load_ps(p)), _mm_load_ps(q), 1);
}

__attribute__((target("avx")))
static inline void swiftctr_store2(float *p, float *q, __m256 x) {
    _mm_store_ps(p, _mm256_castps256_ps128(x));
    _mm_store_ps(q, _mm256_extractf128_ps(x, 1));
}

// Prefetches the `bytes` bytes at `row`, four cache lines a step (as FFMModel.prefetchRow).
static inline void swiftctr_prefetch_row(const float *row, intptr_t bytes) {
    const char *p = (const char *)row;
    intptr_t o = 0;
    for (; o + 192 < bytes; o += 256) {
        __builtin_prefetch(p + o, 0, 3);
        __builtin_prefetch(p + o + 64, 0, 3);
        __builtin_prefetch(p + o + 128, 0, 3);
        __builtin_prefetch(p + o + 192, 0, 3);
    }
    for (; o < bytes; o += 64) __builtin_prefetch(p + o, 0, 3);
}

// The update kernel at k <= 4, generated for each instruction set from one text: NAME and
// its one-pair step NAME_step4, for TARGET, with MADD(a, b, c) = a b + c and NMADD(a, b, c) =
// c - a b, per 4 lanes (suffix 4) and 8 lanes (suffix 8). Unfused (a multiply, then an add
// or subtract) they are exactly adaGradStep4's operations: IEEE addition is commutative, so
// l w1 + kv w2 and kv w2 + l w1 are the same bits.
// One AdaGrad step of the pairs in w1, G1, w2, G2 (kv, l, e: kappa x_a x_b, lambda, eta),
// in vectors of type T, with MUL, RSQRT, MADD and NMADD of that width.
#define SWIFTCTR_ADAGRAD_PAIR(T, MUL, RSQRT, MADD, NMADD, l, e)                                       \
    const T g1 = MADD(kv, w2, MUL(l, w1));                                                            \
    const T g2 = MADD(kv, w1, MUL(l, w2));                                                            \
    G1 = MADD(g1, g1, G1);                                                                            \
    G2 = MADD(g2, g2, G2);                                                                            \
    w1 = NMADD(MUL(e, g1), RSQRT(G1), w1);                                                            \
    w2 = NMADD(MUL(e, g2), RSQRT(G2), w2)

// The update's pairs (a, b) and (a, b + 1) of one a, from b on, two at a time: row a's two
// vectors (p1, p3) loaded and stored with LOADA and STOREA (swiftctr_load2 and
// swiftctr_store2, or with `consecutive` fields, where p3 = p1 + 4, one 256-bit operation:
// SWIFTCTR_LOAD_NEXT and SWIFTCTR_STORE_NEXT, the same floats in the same lanes).
#define SWIFTCTR_LOAD_NEXT(p, q) _mm256_loadu_ps(p)
#define SWIFTCTR_STORE_NEXT(p, q, x) _mm256_storeu_ps(p, x)
#define SWIFTCTR_TWO_PAIRS(LOADA, STOREA, MADD8, NMADD8)                                              \
    for (; b + 1 < count; b += 2) {                                                                   \
        float *p1 = ra + offsets[b], *p2 = rows[b] + fa;                                              \
        float *p3 = ra + offsets[b + 1], *p4 = rows[b + 1] + fa;                                      \
        const __m256 kv = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_set1_ps(ka * values[b])),   \
                                               _mm_set1_ps(ka * values[b + 1]), 1);                  \
        __m256 w1 = LOADA(p1, p3), G1 = LOADA(p1 + acc, p3 + acc);                                    \
        __m256 w2 = swiftctr_load2(p2, p4), G2 = swiftctr_load2(p2 + acc, p4 + acc);                  \
        SWIFTCTR_ADAGRAD_PAIR(__m256, _mm256_mul_ps, _mm256_rsqrt_ps, MADD8, NMADD8, l8, e8);         \
        STOREA(p1, p3, w1);                                                                           \
        swiftctr_store2(p2, p4, w2);                                                                  \
        STOREA(p1 + acc, p3 + acc, G1);                                                               \
        swiftctr_store2(p2 + acc, p4 + acc, G2);                                                      \
    }

#define SWIFTCTR_FFM_UPDATE4(NAME, TARGET, MADD4, NMADD4, MADD8, NMADD8)                              \
    __attribute__((target(TARGET)))                                                                   \
    static inline void NAME##_step4(float *p1, float *p2, __m128 kv, __m128 l4, __m128 e4,           \
                                    intptr_t acc) {                                                   \
        __m128 w1 = _mm_load_ps(p1), G1 = _mm_load_ps(p1 + acc);                                      \
        __m128 w2 = _mm_load_ps(p2), G2 = _mm_load_ps(p2 + acc);                                      \
        SWIFTCTR_ADAGRAD_PAIR(__m128, _mm_mul_ps, _mm_rsqrt_ps, MADD4, NMADD4, l4, e4);               \
        _mm_store_ps(p1, w1);                                                                         \
        _mm_store_ps(p2, w2);                                                                         \
        _mm_store_ps(p1 + acc, G1);                                                                   \
        _mm_store_ps(p2 + acc, G2);                                                                   \
    }                                                                                                 \
    __attribute__((target(TARGET)))                                                                   \
    static inline void NAME(float *const *rows, const intptr_t *offsets, const float *values,        \
                            intptr_t count, float kappa, float eta, float lambda, intptr_t acc,       \
                            float *const *next, intptr_t nextCount, int consecutive) {                \
        const __m128 l4 = _mm_set1_ps(lambda), e4 = _mm_set1_ps(eta);                                 \
        const __m256 l8 = _mm256_set1_ps(lambda), e8 = _mm256_set1_ps(eta);                          \
        intptr_t prefetched = 0;                                                                      \
        for (intptr_t a = 0; a + 1 < count; a++) {                                                    \
            if (prefetched < nextCount) swiftctr_prefetch_row(next[prefetched++] + acc, acc * 4);     \
            float *ra = rows[a];                                                                      \
            const intptr_t fa = offsets[a];                                                           \
            const float ka = kappa * values[a];                                                       \
            intptr_t b = a + 1;                                                                       \
            if (consecutive) {                                                                        \
                SWIFTCTR_TWO_PAIRS(SWIFTCTR_LOAD_NEXT, SWIFTCTR_STORE_NEXT, MADD8, NMADD8)             \
            } else {                                                                                  \
                SWIFTCTR_TWO_PAIRS(swiftctr_load2, swiftctr_store2, MADD8, NMADD8)                    \
            }                                                                                         \
            if (b < count) NAME##_step4(ra + offsets[b], rows[b] + fa, _mm_set1_ps(ka * values[b]), l4, e4, acc); \
        }                                                                                             \
        for (; prefetched < nextCount; prefetched++) swiftctr_prefetch_row(next[prefetched] + acc, acc * 4); \
    }

// The FFM AdaGrad update of a prepared row at k <= 4 (one chunk per vector), two pairs
// (a, b) and (a, b + 1) per 256-bit operation: each lane does exactly the operations of
// adaGradStep4 in Kernel.swift (no fused multiply-add: the target is AVX without FMA, so
// nothing can be contracted), so the results are those of the 4-wide loop. Only for rows
// whose two pairs done together touch four different vectors: fields strictly increasing
// along the row (offsets[i] < offsets[i + 1]) and neighbouring features on different rows
// (rows[i] != rows[i + 1]); Kernel.swift checks this before calling.
//   rows[i]     the latent row of feature i; offsets[i]: its field's offset in a row (floats)
//   values[i]   its scaled value; kappa, eta, lambda: as in FFMModel.update
//   acc         floats from a weight to its accumulator (FFMModel.accumulatorOffset: a row
//               holds its weights, then their accumulators)
//   next        the next row's latent rows (nextCount of them): their accumulators (acc floats
//               from each row's start) are prefetched, one row per value of a, then the rest;
//               the forward pass prefetched their weights (swiftctr_ffm_score4_avx)
//   consecutive fields[i + 1] = fields[i] + 1 along the row (Scratch.consecutiveFields): row
//               a's vectors for b and b + 1 are adjacent, loaded and stored as one 256-bit value
#define SWIFTCTR_MADD4(a, b, c) _mm_add_ps(_mm_mul_ps(a, b), c)
#define SWIFTCTR_NMADD4(a, b, c) _mm_sub_ps(c, _mm_mul_ps(a, b))
#define SWIFTCTR_MADD8(a, b, c) _mm256_add_ps(_mm256_mul_ps(a, b), c)
#define SWIFTCTR_NMADD8(a, b, c) _mm256_sub_ps(c, _mm256_mul_ps(a, b))
SWIFTCTR_FFM_UPDATE4(swiftctr_ffm_update4_avx, "avx", SWIFTCTR_MADD4, SWIFTCTR_NMADD4, SWIFTCTR_MADD8, SWIFTCTR_NMADD8)
#else
static inline int swiftctr_has_avx(void) { return 0; }
static inline void swiftctr_ffm_update4_avx(float *const *rows, const intptr_t *offsets, const float *values,
                                            intptr_t count, float kappa, float eta, float lambda, intptr_t acc,
                                            float *const *next, intptr_t nextCount, int consecutive) {
    (void)consecutive; (void)next; (void)nextCount; (void)rows; (void)offsets; (void)values; (void)count; (void)kappa; (void)eta; (void)lambda; (void)acc;
}
#endif

// ---- Issue #18, kernel3: the forward pass at k <= 4 with AVX, and the update with AVX2 + FMA ----
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))

// The pairs' part of the FFM score of a prepared row at k <= 4, two pairs (a, b) and (a, b + 1)
// per 256-bit operation, in the order FFMModel.score's 4-wide loop uses, so both give the
// same bits: for each a, the pairs with b - a odd are summed in the low 4 lanes and those
// with b - a even in the high 4 (w1 * w2, times x_b, added), a last odd one out in the low
// lanes; then acc += inner * x_a per half. `out` gets the low half plus the high half (4
// floats; the caller sums them). While it runs, the weights of the latent rows in `next`
// (nextCount of them, the first weightBytes of each: a row holds its weights, then their
// accumulators) are prefetched, one row per value of a, then the rest; the update prefetches
// their accumulators (SWIFTCTR_FFM_UPDATE4), so the forward pass's lines stay in L1 for the
// update. With `consecutive` (fields[i + 1] = fields[i] + 1), row a's vectors for b and b + 1
// are adjacent and loaded as one 256-bit value (the same floats in the same lanes).
__attribute__((target("avx")))
static inline void swiftctr_ffm_score4_avx(float *const *rows, const intptr_t *offsets, const float *values,
                                           intptr_t count, float *const *next, intptr_t nextCount,
                                           intptr_t weightBytes, float *out, int consecutive) {
    __m256 acc = _mm256_setzero_ps();
    intptr_t prefetched = 0;
    for (intptr_t a = 0; a + 1 < count; a++) {
        if (prefetched < nextCount) swiftctr_prefetch_row(next[prefetched++], weightBytes);
        const float *ra = rows[a];
        const intptr_t fa = offsets[a];
        __m256 inner = _mm256_setzero_ps();
        intptr_t b = a + 1;
        if (consecutive) {
            for (; b + 1 < count; b += 2) {
                const __m256 w1 = _mm256_loadu_ps(ra + offsets[b]);  // and ra + offsets[b + 1], 4 floats on
                const __m256 w2 = swiftctr_load2(rows[b] + fa, rows[b + 1] + fa);
                const __m256 v = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_set1_ps(values[b])),
                                                      _mm_set1_ps(values[b + 1]), 1);
                inner = _mm256_add_ps(inner, _mm256_mul_ps(_mm256_mul_ps(w1, w2), v));
            }
        } else {
            for (; b + 1 < count; b += 2) {
                const __m256 w1 = swiftctr_load2(ra + offsets[b], ra + offsets[b + 1]);
                const __m256 w2 = swiftctr_load2(rows[b] + fa, rows[b + 1] + fa);
                const __m256 v = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_set1_ps(values[b])),
                                                      _mm_set1_ps(values[b + 1]), 1);
                inner = _mm256_add_ps(inner, _mm256_mul_ps(_mm256_mul_ps(w1, w2), v));
            }
        }
        if (b < count) {
            const __m128 p = _mm_mul_ps(_mm_mul_ps(_mm_load_ps(ra + offsets[b]), _mm_load_ps(rows[b] + fa)),
                                        _mm_set1_ps(values[b]));
            inner = _mm256_insertf128_ps(inner, _mm_add_ps(_mm256_castps256_ps128(inner), p), 0);
        }
        acc = _mm256_add_ps(acc, _mm256_mul_ps(inner, _mm256_set1_ps(values[a])));
    }
    for (; prefetched < nextCount; prefetched++) swiftctr_prefetch_row(next[prefetched], weightBytes);
    _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1)));
}

// Whether the processor has AVX2 and FMA (CPUID leaf 1 FMA, leaf 7 AVX2) besides AVX.
static inline int swiftctr_has_avx2_fma(void) {
    unsigned a, b, c, d;
    if (!swiftctr_has_avx()) return 0;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_FMA)) return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b & bit_AVX2) != 0;
}

// swiftctr_ffm_update4_avx with fused multiply-adds (same rows, same conditions): per lane
//   g1 = fma(kv, w2, l * w1)      g2 = fma(kv, w1, l * w2)
//   G1 = fma(g1, g1, G1)          G2 = fma(g2, g2, G2)
//   w1 = fnmadd(e * g1, rsqrt(G1), w1)   (w1 - (e g1) rsqrt(G1), rounded once)
// Each fused operation rounds once where the AVX kernel rounds twice, so the weights differ
// from the 4-wide loop's in the last bits (up to a relative 2^-24 a step), deterministically:
// the same machine and seed give the same bits. FFMModel.updateLatent4 uses it when CPUID
// reports AVX2 and FMA (swiftctr_has_avx2_fma); fewer instructions: 40 for two pairs
// against 46.
SWIFTCTR_FFM_UPDATE4(swiftctr_ffm_update4_fma, "avx2,fma", _mm_fmadd_ps, _mm_fnmadd_ps, _mm256_fmadd_ps, _mm256_fnmadd_ps)
#else
static inline void swiftctr_ffm_score4_avx(float *const *rows, const intptr_t *offsets, const float *values,
                                           intptr_t count, float *const *next, intptr_t nextCount,
                                           intptr_t weightBytes, float *out, int consecutive) {
    (void)consecutive; (void)rows; (void)offsets; (void)values; (void)count; (void)next; (void)nextCount; (void)weightBytes;
    out[0] = out[1] = out[2] = out[3] = 0;
}
static inline int swiftctr_has_avx2_fma(void) { return 0; }
static inline void swiftctr_ffm_update4_fma(float *const *rows, const intptr_t *offsets, const float *values,
                                            intptr_t count, float kappa, float eta, float lambda, intptr_t acc,
                                            float *const *next, intptr_t nextCount, int consecutive) {
    (void)consecutive; (void)next; (void)nextCount; (void)rows; (void)offsets; (void)values; (void)count; (void)kappa; (void)eta; (void)lambda; (void)acc;
}
#endif
// ---- end of issue #18, kernel3 ----

#endif
