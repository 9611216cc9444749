// DeepFM's AVX2 + FMA matrix product: see include/deep_kernel.h.
#include "deep_kernel.h"

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <cpuid.h>
#include <immintrin.h>

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

enum { KC = 256 };  // the inner dimension's chunk: a packed panel is KC x 16 floats (16 KB)

// Copies B(p0 + p, j0 + jj) for p < kc, jj < w (w 8 or 16) to pack[p * 16 + jj].
static void pack_b(float *pack, const float *b, intptr_t b_row, intptr_t b_col, intptr_t p0, intptr_t kc,
                   intptr_t j0, intptr_t w) {
    if (b_col == 1) {
        for (intptr_t p = 0; p < kc; p++) {
            const float *src = b + (p0 + p) * b_row + j0;
            for (intptr_t jj = 0; jj < w; jj++) pack[p * 16 + jj] = src[jj];
        }
    } else {
        for (intptr_t jj = 0; jj < w; jj++) {
            const float *src = b + (j0 + jj) * b_col + p0 * b_row;
            for (intptr_t p = 0; p < kc; p++) pack[p * 16 + jj] = src[p * b_row];
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

// One row of C, w (8 or 16) columns.
__attribute__((target("avx2,fma")))
static inline void tile1(intptr_t kc, const float *a, intptr_t a_col, const float *pack, float *c, intptr_t w, int add) {
    __m256 c0 = _mm256_setzero_ps(), c1 = c0;
    intptr_t at = 0;
    for (intptr_t p = 0; p < kc; p++, at += a_col) {
        const __m256 x = _mm256_broadcast_ss(a + at);
        c0 = _mm256_fmadd_ps(x, _mm256_load_ps(pack + p * 16), c0);
        if (w == 16) c1 = _mm256_fmadd_ps(x, _mm256_load_ps(pack + p * 16 + 8), c1);
    }
    if (add) c0 = _mm256_add_ps(_mm256_loadu_ps(c), c0);
    _mm256_storeu_ps(c, c0);
    if (w == 16) {
        if (add) c1 = _mm256_add_ps(_mm256_loadu_ps(c + 8), c1);
        _mm256_storeu_ps(c + 8, c1);
    }
}

__attribute__((target("avx2,fma")))
void swiftctr_deep_sgemm(intptr_t m, intptr_t n0, intptr_t n1, intptr_t k,
                         const float *a, intptr_t a_row, intptr_t a_col,
                         const float *b, intptr_t b_row, intptr_t b_col,
                         float *c, intptr_t ldc, int accumulate) {
    _Alignas(32) float pack[KC * 16];
    if (k == 0) {
        if (!accumulate)
            for (intptr_t i = 0; i < m; i++)
                for (intptr_t j = n0; j < n1; j++) c[i * ldc + j] = 0;
        return;
    }
    for (intptr_t j0 = n0; j0 < n1; j0 += 16) {
        const intptr_t w = n1 - j0 >= 16 ? 16 : 8;
        for (intptr_t p0 = 0; p0 < k; p0 += KC) {
            const intptr_t kc = k - p0 < KC ? k - p0 : KC;
            const int add = accumulate || p0 > 0;
            pack_b(pack, b, b_row, b_col, p0, kc, j0, w);
            const float *ap = a + p0 * a_col;
            intptr_t i = 0;
            if (w == 16) {
                for (; i + 6 <= m; i += 6) tile6x16(kc, ap + i * a_row, a_row, a_col, pack, c + i * ldc + j0, ldc, add);
            } else {
                for (; i + 6 <= m; i += 6) tile6x8(kc, ap + i * a_row, a_row, a_col, pack, c + i * ldc + j0, ldc, add);
            }
            for (; i < m; i++) tile1(kc, ap + i * a_row, a_col, pack, c + i * ldc + j0, w, add);
        }
        if (w == 8) j0 -= 8;
    }
}

#else

int swiftctr_deep_has_avx2_fma(void) { return 0; }

void swiftctr_deep_sgemm(intptr_t m, intptr_t n0, intptr_t n1, intptr_t k, const float *a, intptr_t a_row,
                         intptr_t a_col, const float *b, intptr_t b_row, intptr_t b_col, float *c, intptr_t ldc,
                         int accumulate) {
    (void)m; (void)n0; (void)n1; (void)k; (void)a; (void)a_row; (void)a_col;
    (void)b; (void)b_row; (void)b_col; (void)c; (void)ldc; (void)accumulate;
}

#endif
