// DeepFM's matrix products (AVX2 + FMA, AVX-512F, AVX512_BF16): see include/deep_kernel.h.
#include "deep_kernel.h"

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <cpuid.h>
#include <immintrin.h>
#include <stdlib.h>

int swiftctr_deep_has_avx2_fma(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    if (!(c & bit_FMA) || !(c & bit_AVX) || !(c & bit_OSXSAVE)) return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 6) != 6) return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b & bit_AVX2) != 0;
}

enum { KC = 256 };  // the inner dimension's chunk: a packed panel is KC x 16 floats (16 KB; x 32, 32 KB, for the 512-bit tiles)

// Copies B(p0 + p, j0 + jj) for p < kc, jj < w (w at most ld: 8, 16 or 32) to pack[p * ld + jj].
static void pack_b(float *pack, intptr_t ld, const float *b, intptr_t b_row, intptr_t b_col, intptr_t p0,
                   intptr_t kc, intptr_t j0, intptr_t w) {
    if (b_col == 1) {
        for (intptr_t p = 0; p < kc; p++) {
            const float *src = b + (p0 + p) * b_row + j0;
            for (intptr_t jj = 0; jj < w; jj++) pack[p * ld + jj] = src[jj];
        }
    } else {
        for (intptr_t jj = 0; jj < w; jj++) {
            const float *src = b + (j0 + jj) * b_col + p0 * b_row;
            for (intptr_t p = 0; p < kc; p++) pack[p * ld + jj] = src[p * b_row];
        }
    }
}

// Rows [i0, i0 + 6) of C, columns j0..j0+16, over the packed chunk (kc steps).
__attribute__((target("avx2,fma")))
static inline void tile6x16(intptr_t kc, const float *a, intptr_t a_row, intptr_t a_col, const float *pack,
                            float *c, intptr_t ldc, int add) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    const float *a0 = a, *a1 = a + a_row, *a2 = a1 + a_row, *a3 = a2 + a_row, *a4 = a3 + a_row, *a5 = a4 + a_row;
    intptr_t at = 0;
    for (intptr_t p = 0; p < kc; p++, at += a_col) {
        const __m256 b0 = _mm256_load_ps(pack + p * 16), b1 = _mm256_load_ps(pack + p * 16 + 8);
        __m256 x;
        x = _mm256_broadcast_ss(a0 + at); c00 = _mm256_fmadd_ps(x, b0, c00); c01 = _mm256_fmadd_ps(x, b1, c01);
        x = _mm256_broadcast_ss(a1 + at); c10 = _mm256_fmadd_ps(x, b0, c10); c11 = _mm256_fmadd_ps(x, b1, c11);
        x = _mm256_broadcast_ss(a2 + at); c20 = _mm256_fmadd_ps(x, b0, c20); c21 = _mm256_fmadd_ps(x, b1, c21);
        x = _mm256_broadcast_ss(a3 + at); c30 = _mm256_fmadd_ps(x, b0, c30); c31 = _mm256_fmadd_ps(x, b1, c31);
        x = _mm256_broadcast_ss(a4 + at); c40 = _mm256_fmadd_ps(x, b0, c40); c41 = _mm256_fmadd_ps(x, b1, c41);
        x = _mm256_broadcast_ss(a5 + at); c50 = _mm256_fmadd_ps(x, b0, c50); c51 = _mm256_fmadd_ps(x, b1, c51);
    }
#define STORE(r, v0, v1)                                                                  \
    do {                                                                                  \
        float *o = c + (r) * ldc;                                                         \
        if (add) { v0 = _mm256_add_ps(_mm256_loadu_ps(o), v0); v1 = _mm256_add_ps(_mm256_loadu_ps(o + 8), v1); } \
        _mm256_storeu_ps(o, v0); _mm256_storeu_ps(o + 8, v1);                             \
    } while (0)
    STORE(0, c00, c01); STORE(1, c10, c11); STORE(2, c20, c21);
    STORE(3, c30, c31); STORE(4, c40, c41); STORE(5, c50, c51);
#undef STORE
}

// Rows [i0, i0 + 6) of C, 8 columns.
__attribute__((target("avx2,fma")))
static inline void tile6x8(intptr_t kc, const float *a, intptr_t a_row, intptr_t a_col, const float *pack,
                           float *c, intptr_t ldc, int add) {
    __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
    const float *a0 = a, *a1 = a + a_row, *a2 = a1 + a_row, *a3 = a2 + a_row, *a4 = a3 + a_row, *a5 = a4 + a_row;
    intptr_t at = 0;
    for (intptr_t p = 0; p < kc; p++, at += a_col) {
        const __m256 b0 = _mm256_load_ps(pack + p * 16);
        c0 = _mm256_fmadd_ps(_mm256_broadcast_ss(a0 + at), b0, c0);
        c1 = _mm256_fmadd_ps(_mm256_broadcast_ss(a1 + at), b0, c1);
        c2 = _mm256_fmadd_ps(_mm256_broadcast_ss(a2 + at), b0, c2);
        c3 = _mm256_fmadd_ps(_mm256_broadcast_ss(a3 + at), b0, c3);
        c4 = _mm256_fmadd_ps(_mm256_broadcast_ss(a4 + at), b0, c4);
        c5 = _mm256_fmadd_ps(_mm256_broadcast_ss(a5 + at), b0, c5);
    }
    __m256 v[6] = {c0, c1, c2, c3, c4, c5};
    for (int r = 0; r < 6; r++) {
        float *o = c + r * ldc;
        if (add) v[r] = _mm256_add_ps(_mm256_loadu_ps(o), v[r]);
        _mm256_storeu_ps(o, v[r]);
    }
}

// Writes (or with add, adds) R rows of W (8 or 16) columns of accumulators to C.
__attribute__((target("avx2,fma"), always_inline))
static inline void store_rows(const int R, const int W, __m256 (*acc)[2], float *c, intptr_t ldc, int add) {
    for (int r = 0; r < R; r++) {
        float *o = c + r * ldc;
        for (int h = 0; h < W / 8; h++) {
            __m256 v = acc[r][h];
            if (add) v = _mm256_add_ps(_mm256_loadu_ps(o + 8 * h), v);
            _mm256_storeu_ps(o + 8 * h, v);
        }
    }
}

// R (1 to 5) rows of C, W (8 or 16) columns: the rows left below a multiple of 6. The same
// chain of fused multiply-adds per element as the 6-row tiles, with R x W/8 independent
// accumulators (one row at a time waited on the FMA latency: 4 rows of a 256-row batch took
// about 6% of a product's time).
__attribute__((target("avx2,fma"), always_inline))
static inline void tile_rows(const int R, const int W, intptr_t kc, const float *a, intptr_t a_row, intptr_t a_col,
                             const float *pack, float *c, intptr_t ldc, int add) {
    __m256 acc[5][2];
    for (int r = 0; r < 5; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    intptr_t at = 0;
    for (intptr_t p = 0; p < kc; p++, at += a_col) {
        const __m256 b0 = _mm256_load_ps(pack + p * 16);
        const __m256 b1 = W == 16 ? _mm256_load_ps(pack + p * 16 + 8) : b0;
        for (int r = 0; r < R; r++) {
            const __m256 x = _mm256_broadcast_ss(a + r * a_row + at);
            acc[r][0] = _mm256_fmadd_ps(x, b0, acc[r][0]);
            if (W == 16) acc[r][1] = _mm256_fmadd_ps(x, b1, acc[r][1]);
        }
    }
    store_rows(R, W, acc, c, ldc, add);
}

__attribute__((target("avx2,fma")))
static void tile_rest(intptr_t rows, intptr_t w, intptr_t kc, const float *a, intptr_t a_row, intptr_t a_col,
                      const float *pack, float *c, intptr_t ldc, int add) {
#define CASE(R) case R: if (w == 16) tile_rows(R, 16, kc, a, a_row, a_col, pack, c, ldc, add); \
                        else tile_rows(R, 8, kc, a, a_row, a_col, pack, c, ldc, add); break;
    switch (rows) { CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) default: break; }
#undef CASE
}

// C's columns [n0, n1) for an inner dimension of 0: zeros (unchanged with accumulate).
static void empty_product(intptr_t m, intptr_t n0, intptr_t n1, float *c, intptr_t ldc, int accumulate) {
    if (accumulate) return;
    for (intptr_t i = 0; i < m; i++)
        for (intptr_t j = n0; j < n1; j++) c[i * ldc + j] = 0;
}

__attribute__((target("avx2,fma")))
static void sgemm_avx2(intptr_t m, intptr_t n0, intptr_t n1, intptr_t k,
                       const float *a, intptr_t a_row, intptr_t a_col,
                       const float *b, intptr_t b_row, intptr_t b_col,
                       float *c, intptr_t ldc, int accumulate) {
    _Alignas(32) float pack[KC * 16];
    if (k == 0) { empty_product(m, n0, n1, c, ldc, accumulate); return; }
    for (intptr_t j0 = n0; j0 < n1; j0 += 16) {
        const intptr_t w = n1 - j0 >= 16 ? 16 : 8;
        for (intptr_t p0 = 0; p0 < k; p0 += KC) {
            const intptr_t kc = k - p0 < KC ? k - p0 : KC;
            const int add = accumulate || p0 > 0;
            pack_b(pack, 16, b, b_row, b_col, p0, kc, j0, w);
            const float *ap = a + p0 * a_col;
            intptr_t i = 0;
            if (w == 16) {
                for (; i + 6 <= m; i += 6) tile6x16(kc, ap + i * a_row, a_row, a_col, pack, c + i * ldc + j0, ldc, add);
            } else {
                for (; i + 6 <= m; i += 6) tile6x8(kc, ap + i * a_row, a_row, a_col, pack, c + i * ldc + j0, ldc, add);
            }
            if (i < m) tile_rest(m - i, w, kc, ap + i * a_row, a_row, a_col, pack, c + i * ldc + j0, ldc, add);
        }
        if (w == 8) j0 -= 8;
    }
}

// MARK: - 512-bit fp32 tiles (AVX-512F)

int swiftctr_deep_has_avx512f(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE)) return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 0xE6) != 0xE6) return 0;  // XMM, YMM, opmask and both ZMM states saved by the OS
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b & (1u << 16)) != 0;  // AVX512F
}

#define Z_TARGET __attribute__((target("avx512f,avx2,fma")))

// Rows of C in a tile with AVX-512's 32 registers (the 512-bit tiles and the bfloat16 ones):
// 24 accumulators. VDPBF16PS has a latency of 6 cycles and two issue a cycle on Zen 4, so
// 12 accumulators, as the 6-row fp32 tiles have, left no slack.
enum { MR = 12 };

// Writes (or with add, adds) R rows of 32 columns of accumulators to C.
Z_TARGET __attribute__((always_inline))
static inline void store_rows_z(const int R, __m512 (*acc)[2], float *c, intptr_t ldc, int add) {
    for (int r = 0; r < R; r++) {
        float *o = c + r * ldc;
        for (int h = 0; h < 2; h++) {
            __m512 v = acc[r][h];
            if (add) v = _mm512_add_ps(_mm512_loadu_ps(o + 16 * h), v);
            _mm512_storeu_ps(o + 16 * h, v);
        }
    }
}

// R (1 to MR) rows of C, 32 columns (two 512-bit accumulators a row) over the packed chunk
// (kc steps, 32 floats a step): the same chain of fused multiply-adds per element as the
// 256-bit tiles, so the same bits.
Z_TARGET __attribute__((always_inline))
static inline void tile_z(const int R, intptr_t kc, const float *a, intptr_t a_row, intptr_t a_col,
                          const float *pack, float *c, intptr_t ldc, int add) {
    __m512 acc[MR][2];
    for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    intptr_t at = 0;
    for (intptr_t p = 0; p < kc; p++, at += a_col) {
        const __m512 b0 = _mm512_load_ps(pack + p * 32), b1 = _mm512_load_ps(pack + p * 32 + 16);
        for (int r = 0; r < R; r++) {
            const __m512 x = _mm512_set1_ps(a[r * a_row + at]);
            acc[r][0] = _mm512_fmadd_ps(x, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(x, b1, acc[r][1]);
        }
    }
    store_rows_z(R, acc, c, ldc, add);
}

Z_TARGET
static void tiles_z(intptr_t m, intptr_t kc, const float *a, intptr_t a_row, intptr_t a_col, const float *pack,
                    float *c, intptr_t ldc, int add) {
    intptr_t i = 0;
    for (; i + MR <= m; i += MR) tile_z(MR, kc, a + i * a_row, a_row, a_col, pack, c + i * ldc, ldc, add);
    const float *ar = a + i * a_row;
    float *cr = c + i * ldc;
#define CASE(R) case R: tile_z(R, kc, ar, a_row, a_col, pack, cr, ldc, add); break;
    switch (m - i) {
        CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) CASE(6) CASE(7) CASE(8) CASE(9) CASE(10) CASE(11) default: break;
    }
#undef CASE
}

// Blocks of 32 columns in 512-bit tiles, the rest (8, 16 or 24 columns) in the 256-bit ones.
Z_TARGET
static void sgemm_avx512(intptr_t m, intptr_t n0, intptr_t n1, intptr_t k,
                         const float *a, intptr_t a_row, intptr_t a_col,
                         const float *b, intptr_t b_row, intptr_t b_col,
                         float *c, intptr_t ldc, int accumulate) {
    _Alignas(64) float pack[KC * 32];
    intptr_t j0 = n0;
    for (; j0 + 32 <= n1; j0 += 32) {
        for (intptr_t p0 = 0; p0 < k; p0 += KC) {
            const intptr_t kc = k - p0 < KC ? k - p0 : KC;
            pack_b(pack, 32, b, b_row, b_col, p0, kc, j0, 32);
            tiles_z(m, kc, a + p0 * a_col, a_row, a_col, pack, c + j0, ldc, accumulate || p0 > 0);
        }
    }
    if (j0 < n1) sgemm_avx2(m, j0, n1, k, a, a_row, a_col, b, b_row, b_col, c, ldc, accumulate);
}

// 1: 512-bit tiles, 0: 256-bit ones, -1: not yet decided (CPUID on the first product).
static int use_avx512 = -1;

void swiftctr_deep_sgemm_width(int bits) {
    __atomic_store_n(&use_avx512, bits == 512 ? swiftctr_deep_has_avx512f() : 0, __ATOMIC_RELAXED);
}

static int wide_tiles(void) {
    int wide = __atomic_load_n(&use_avx512, __ATOMIC_RELAXED);
    if (wide < 0) {
        wide = swiftctr_deep_has_avx512f();
        __atomic_store_n(&use_avx512, wide, __ATOMIC_RELAXED);
    }
    return wide;
}

void swiftctr_deep_sgemm(intptr_t m, intptr_t n0, intptr_t n1, intptr_t k,
                         const float *a, intptr_t a_row, intptr_t a_col,
                         const float *b, intptr_t b_row, intptr_t b_col,
                         float *c, intptr_t ldc, int accumulate) {
    if (wide_tiles() && k > 0) sgemm_avx512(m, n0, n1, k, a, a_row, a_col, b, b_row, b_col, c, ldc, accumulate);
    else sgemm_avx2(m, n0, n1, k, a, a_row, a_col, b, b_row, b_col, c, ldc, accumulate);
}

// MARK: - AdamW

// No fused multiply-adds here: the same roundings as DeepNet.adamChunks in Swift.
#pragma clang fp contract(off)
__attribute__((target("avx2,fma")))
void swiftctr_deep_adamw(float *w, float *m1, float *m2, const float *g, intptr_t chunks, float scale,
                         float step_size, float rc2, float decay, int decayed) {
    const __m256 b1 = _mm256_set1_ps(0.9f), b2 = _mm256_set1_ps(0.999f);
    const __m256 one_b1 = _mm256_set1_ps(1 - 0.9f), one_b2 = _mm256_set1_ps(1 - 0.999f);
    const __m256 vs = _mm256_set1_ps(scale), vstep = _mm256_set1_ps(step_size), vrc2 = _mm256_set1_ps(rc2);
    const __m256 eps = _mm256_set1_ps(1e-8f), vdecay = _mm256_set1_ps(decay);
    for (intptr_t c = 0; c < chunks; c++) {
        const intptr_t j = c * 8;
        const __m256 gr = _mm256_mul_ps(_mm256_loadu_ps(g + j), vs);
        const __m256 m = _mm256_add_ps(_mm256_mul_ps(b1, _mm256_loadu_ps(m1 + j)), _mm256_mul_ps(one_b1, gr));
        const __m256 v = _mm256_add_ps(_mm256_mul_ps(b2, _mm256_loadu_ps(m2 + j)), _mm256_mul_ps(_mm256_mul_ps(one_b2, gr), gr));
        _mm256_storeu_ps(m1 + j, m);
        _mm256_storeu_ps(m2 + j, v);
        __m256 x = _mm256_loadu_ps(w + j);
        if (decayed) x = _mm256_sub_ps(x, _mm256_mul_ps(vdecay, x));
        const __m256 den = _mm256_add_ps(_mm256_mul_ps(_mm256_sqrt_ps(v), vrc2), eps);
        _mm256_storeu_ps(w + j, _mm256_sub_ps(x, _mm256_div_ps(_mm256_mul_ps(vstep, m), den)));
    }
}
#pragma clang fp contract(on)

// MARK: - bfloat16 products (AVX512_BF16)

int swiftctr_deep_has_avx512_bf16(void) {
    unsigned a, b, c, d;
    if (!swiftctr_deep_has_avx512f()) return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(b & (1u << 31))) return 0;  // AVX512VL
    if (!__get_cpuid_count(7, 1, &a, &b, &c, &d)) return 0;
    return (a & (1u << 5)) != 0;  // AVX512_BF16
}

// Rounds to the nearest bfloat16, ties to even, denormals to a signed 0, NaNs quiet: what
// VCVTNEPS2BF16 does (it ignores MXCSR), so the scalar and vector conversions agree.
static inline uint16_t to_bf16(float x) {
    uint32_t u;
    __builtin_memcpy(&u, &x, 4);
    if ((u & 0x7f800000u) == 0) return (uint16_t)((u >> 16) & 0x8000);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

#define BF16_TARGET __attribute__((target("avx512bf16,avx512vl,avx512bw,avx512f,avx2,fma")))

// 16 floats (the first n of them, the rest 0) to bfloat16.
BF16_TARGET static inline __m256i cvt16(const float *src, intptr_t n) {
    const __m512 v = n >= 16 ? _mm512_loadu_ps(src) : _mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1), src);
    return (__m256i)_mm512_cvtneps_pbh(v);
}

// Columns jj and (p, p + 1) of two rows of 16 bf16 interleaved into pair words: the first
// vector holds columns 0..7, the second 8..15.
BF16_TARGET static inline void interleave(__m256i r0, __m256i r1, uint16_t *dst) {
    const __m256i lo = _mm256_unpacklo_epi16(r0, r1), hi = _mm256_unpackhi_epi16(r0, r1);
    _mm256_store_si256((__m256i *)dst, _mm256_permute2x128_si256(lo, hi, 0x20));
    _mm256_store_si256((__m256i *)(dst + 16), _mm256_permute2x128_si256(lo, hi, 0x31));
}

// A rounded to bfloat16, row-major with k2 (k rounded up to even) entries a row, the padding
// 0: a pair (A(i, 2q), A(i, 2q + 1)) is one 32-bit word. One buffer per thread, kept.
static __thread uint16_t *bf_a;
static __thread size_t bf_a_cap;

BF16_TARGET static uint16_t *convert_a(intptr_t m, intptr_t k, const float *a, intptr_t a_row, intptr_t a_col) {
    const intptr_t k2 = (k + 1) & ~(intptr_t)1;
    const size_t need = (size_t)m * (size_t)k2 + 16;
    if (need > bf_a_cap) {
        free(bf_a);
        bf_a = malloc(need * sizeof(uint16_t));
        bf_a_cap = bf_a ? need : 0;
        if (!bf_a) return 0;
    }
    uint16_t *out = bf_a;
    if (a_col == 1) {
        for (intptr_t i = 0; i < m; i++) {
            const float *src = a + i * a_row;
            uint16_t *dst = out + i * k2;
            intptr_t p = 0;
            for (; p + 16 <= k; p += 16) _mm256_storeu_si256((__m256i *)(dst + p), cvt16(src + p, 16));
            for (; p < k; p++) dst[p] = to_bf16(src[p]);
            if (k2 > k) dst[k] = 0;
        }
    } else if (a_row == 1) {
        // A(i, p) = a[i + p * a_col]: rows p and p + 1 of the source, 16 i at a time, to
        // pair words out32[i * k2 / 2 + p / 2].
        uint32_t *out32 = (uint32_t *)out;
        const intptr_t ld = k2 / 2;
        _Alignas(32) uint16_t tmp[32];
        for (intptr_t p = 0; p < k2; p += 2) {
            const float *s0 = a + p * a_col, *s1 = p + 1 < k ? s0 + a_col : 0;
            for (intptr_t i = 0; i < m; i += 16) {
                const intptr_t n = m - i < 16 ? m - i : 16;
                const __m256i r0 = cvt16(s0 + i, n), r1 = s1 ? cvt16(s1 + i, n) : _mm256_setzero_si256();
                interleave(r0, r1, tmp);
                const uint32_t *words = (const uint32_t *)tmp;
                for (intptr_t ii = 0; ii < n; ii++) out32[(i + ii) * ld + p / 2] = words[ii];
            }
        }
    } else {
        for (intptr_t p = 0; p < k; p++) {
            const float *src = a + p * a_col;
            for (intptr_t i = 0; i < m; i++) out[i * k2 + p] = to_bf16(src[i * a_row]);
        }
        if (k2 > k) for (intptr_t i = 0; i < m; i++) out[i * k2 + k] = 0;
    }
    return out;
}

// Packs B's rows [p0, p0 + kc) (kc2 = kc rounded up to even, the extra row 0) and columns
// [j0, j0 + w) (w at most ld: 8, 16 or 32) as bfloat16 pairs:
// pack[q * 2 * ld + jj * 2 + h] = B(p0 + 2q + h, j0 + jj).
BF16_TARGET static void pack_b_bf16(uint16_t *pack, intptr_t ld, const float *b, intptr_t b_row, intptr_t b_col,
                                    intptr_t p0, intptr_t kc, intptr_t j0, intptr_t w) {
    const intptr_t kc2 = (kc + 1) & ~(intptr_t)1;
    if (b_col == 1) {
        for (intptr_t p = 0; p < kc2; p += 2) {
            for (intptr_t h = 0; h < w; h += 16) {
                const float *s0 = b + (p0 + p) * b_row + j0 + h;
                const intptr_t n = w - h < 16 ? w - h : 16;
                const __m256i r0 = cvt16(s0, n), r1 = p + 1 < kc ? cvt16(s0 + b_row, n) : _mm256_setzero_si256();
                interleave(r0, r1, pack + p * ld + 2 * h);
            }
        }
    } else if (b_row == 1) {
        // B(p, j) = b[p + j * b_col]: each column's run of p, 16 pairs at a time.
        uint32_t *pack32 = (uint32_t *)pack;
        _Alignas(32) uint16_t tmp[32];
        for (intptr_t jj = 0; jj < w; jj++) {
            const float *src = b + (j0 + jj) * b_col + p0;
            for (intptr_t p = 0; p < kc; p += 32) {
                const intptr_t n = kc - p < 32 ? kc - p : 32;
                _mm256_store_si256((__m256i *)tmp, cvt16(src + p, n < 16 ? n : 16));
                _mm256_store_si256((__m256i *)(tmp + 16), n > 16 ? cvt16(src + p + 16, n - 16) : _mm256_setzero_si256());
                const uint32_t *words = (const uint32_t *)tmp;
                for (intptr_t q = 0; q < (n + 1) / 2; q++) pack32[(p / 2 + q) * ld + jj] = words[q];
            }
        }
    } else {
        for (intptr_t p = 0; p < kc2; p++) {
            uint16_t *dst = pack + (p >> 1) * 2 * ld + (p & 1);
            if (p >= kc) { for (intptr_t jj = 0; jj < w; jj++) dst[jj * 2] = 0; continue; }
            const float *src = b + (p0 + p) * b_row + j0 * b_col;
            for (intptr_t jj = 0; jj < w; jj++) dst[jj * 2] = to_bf16(src[jj * b_col]);
        }
    }
}

// R (1 to MR) rows of C, W (8 or 16) columns over q pairs of the inner dimension: per pair
// and accumulator one VDPBF16PS (two bf16 products added to 8 fp32 sums).
BF16_TARGET __attribute__((always_inline))
static inline void tile_bf16(const int R, const int W, intptr_t pairs, const uint32_t *a, intptr_t lda,
                             const uint32_t *pack, float *c, intptr_t ldc, int add) {
    __m256 acc[MR][2];
    for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (intptr_t q = 0; q < pairs; q++) {
        const __m256i b0 = _mm256_load_si256((const __m256i *)(pack + q * 16));
        const __m256i b1 = W == 16 ? _mm256_load_si256((const __m256i *)(pack + q * 16 + 8)) : b0;
        for (int r = 0; r < R; r++) {
            const __m256i x = _mm256_set1_epi32((int)a[r * lda + q]);
            acc[r][0] = _mm256_dpbf16_ps(acc[r][0], (__m256bh)x, (__m256bh)b0);
            if (W == 16) acc[r][1] = _mm256_dpbf16_ps(acc[r][1], (__m256bh)x, (__m256bh)b1);
        }
    }
    store_rows(R, W, acc, c, ldc, add);
}

BF16_TARGET
static void tiles_bf16(intptr_t m, intptr_t w, intptr_t pairs, const uint32_t *a, intptr_t lda, const uint32_t *pack,
                       float *c, intptr_t ldc, int add) {
    intptr_t i = 0;
    if (w == 16) {
        for (; i + MR <= m; i += MR) tile_bf16(MR, 16, pairs, a + i * lda, lda, pack, c + i * ldc, ldc, add);
    } else {
        for (; i + MR <= m; i += MR) tile_bf16(MR, 8, pairs, a + i * lda, lda, pack, c + i * ldc, ldc, add);
    }
    const uint32_t *ar = a + i * lda;
    float *cr = c + i * ldc;
#define CASE(R) case R: if (w == 16) tile_bf16(R, 16, pairs, ar, lda, pack, cr, ldc, add); \
                        else tile_bf16(R, 8, pairs, ar, lda, pack, cr, ldc, add); break;
    switch (m - i) {
        CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) CASE(6) CASE(7) CASE(8) CASE(9) CASE(10) CASE(11) default: break;
    }
#undef CASE
}

// R (1 to MR) rows of C, 32 columns in 512-bit registers (two accumulators a row): per
// element the same VDPBF16PS chain as the 256-bit tiles, so the same bits.
#define BF16Z_TARGET __attribute__((target("avx512bf16,avx512bw,avx512f,avx2,fma")))
BF16Z_TARGET __attribute__((always_inline))
static inline void tile_bf16_z(const int R, intptr_t pairs, const uint32_t *a, intptr_t lda, const uint32_t *pack,
                               float *c, intptr_t ldc, int add) {
    __m512 acc[MR][2];
    for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (intptr_t q = 0; q < pairs; q++) {
        const __m512i b0 = _mm512_load_si512(pack + q * 32), b1 = _mm512_load_si512(pack + q * 32 + 16);
        for (int r = 0; r < R; r++) {
            const __m512i x = _mm512_set1_epi32((int)a[r * lda + q]);
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], (__m512bh)x, (__m512bh)b0);
            acc[r][1] = _mm512_dpbf16_ps(acc[r][1], (__m512bh)x, (__m512bh)b1);
        }
    }
    store_rows_z(R, acc, c, ldc, add);
}

BF16Z_TARGET
static void tiles_bf16_z(intptr_t m, intptr_t pairs, const uint32_t *a, intptr_t lda, const uint32_t *pack,
                         float *c, intptr_t ldc, int add) {
    intptr_t i = 0;
    for (; i + MR <= m; i += MR) tile_bf16_z(MR, pairs, a + i * lda, lda, pack, c + i * ldc, ldc, add);
    const uint32_t *ar = a + i * lda;
    float *cr = c + i * ldc;
#define CASE(R) case R: tile_bf16_z(R, pairs, ar, lda, pack, cr, ldc, add); break;
    switch (m - i) {
        CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) CASE(6) CASE(7) CASE(8) CASE(9) CASE(10) CASE(11) default: break;
    }
#undef CASE
}

BF16_TARGET int swiftctr_deep_sgemm_bf16(intptr_t m, intptr_t n0, intptr_t n1, intptr_t k,
                             const float *a, intptr_t a_row, intptr_t a_col,
                             const float *b, intptr_t b_row, intptr_t b_col,
                             float *c, intptr_t ldc, int accumulate) {
    _Alignas(64) uint16_t pack[KC * 32 + 64];
    if (k == 0 || m == 0) { empty_product(m, n0, n1, c, ldc, accumulate); return 0; }
    const uint16_t *abf = convert_a(m, k, a, a_row, a_col);
    if (!abf) return -1;
    const intptr_t k2 = (k + 1) & ~(intptr_t)1;
    const int wide = wide_tiles();
    for (intptr_t j0 = n0; j0 < n1;) {
        const intptr_t w = wide && n1 - j0 >= 32 ? 32 : n1 - j0 >= 16 ? 16 : 8;
        for (intptr_t p0 = 0; p0 < k; p0 += KC) {
            const intptr_t kc = k - p0 < KC ? k - p0 : KC;
            const int add = accumulate || p0 > 0;
            const uint32_t *ap = (const uint32_t *)(abf + p0);
            pack_b_bf16(pack, w == 32 ? 32 : 16, b, b_row, b_col, p0, kc, j0, w);
            if (w == 32) tiles_bf16_z(m, (kc + 1) / 2, ap, k2 / 2, (const uint32_t *)pack, c + j0, ldc, add);
            else tiles_bf16(m, w, (kc + 1) / 2, ap, k2 / 2, (const uint32_t *)pack, c + j0, ldc, add);
        }
        j0 += w;
    }
    return 0;
}

#else

int swiftctr_deep_has_avx2_fma(void) { return 0; }

void swiftctr_deep_sgemm(intptr_t m, intptr_t n0, intptr_t n1, intptr_t k, const float *a, intptr_t a_row,
                         intptr_t a_col, const float *b, intptr_t b_row, intptr_t b_col, float *c, intptr_t ldc,
                         int accumulate) {
    (void)m; (void)n0; (void)n1; (void)k; (void)a; (void)a_row; (void)a_col;
    (void)b; (void)b_row; (void)b_col; (void)c; (void)ldc; (void)accumulate;
}

void swiftctr_deep_sgemm_width(int bits) { (void)bits; }

int swiftctr_deep_has_avx512f(void) { return 0; }

int swiftctr_deep_has_avx512_bf16(void) { return 0; }

void swiftctr_deep_adamw(float *w, float *m1, float *m2, const float *g, intptr_t chunks, float scale,
                         float step_size, float rc2, float decay, int decayed) {
    (void)w; (void)m1; (void)m2; (void)g; (void)chunks; (void)scale; (void)step_size; (void)rc2; (void)decay; (void)decayed;
}

int swiftctr_deep_sgemm_bf16(intptr_t m, intptr_t n0, intptr_t n1, intptr_t k, const float *a, intptr_t a_row,
                             intptr_t a_col, const float *b, intptr_t b_row, intptr_t b_col, float *c, intptr_t ldc,
                             int accumulate) {
    (void)m; (void)n0; (void)n1; (void)k; (void)a; (void)a_row; (void)a_col;
    (void)b; (void)b_row; (void)b_col; (void)c; (void)ldc; (void)accumulate;
    return -1;
}

#endif
