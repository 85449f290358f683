#include "minhash.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define NW_MINHASH_X86 1
#endif

void nw_minhash_scalar(const uint64_t *a, const uint64_t *c, int count, const uint64_t *sh,
                       size_t n, uint32_t *out)
{
    for (int k = 0; k + 4 <= count; k += 4) {
        uint64_t m0 = UINT64_MAX, m1 = UINT64_MAX, m2 = UINT64_MAX, m3 = UINT64_MAX;
        const uint64_t a0 = a[k], a1 = a[k + 1], a2 = a[k + 2], a3 = a[k + 3];
        const uint64_t c0 = c[k], c1 = c[k + 1], c2 = c[k + 2], c3 = c[k + 3];
        for (size_t i = 0; i < n; i++) {
            uint64_t h = sh[i], v0 = a0 * h + c0, v1 = a1 * h + c1, v2 = a2 * h + c2,
                     v3 = a3 * h + c3;
            m0 = v0 < m0 ? v0 : m0;
            m1 = v1 < m1 ? v1 : m1;
            m2 = v2 < m2 ? v2 : m2;
            m3 = v3 < m3 ? v3 : m3;
        }
        out[k] = (uint32_t)(m0 >> 32);
        out[k + 1] = (uint32_t)(m1 >> 32);
        out[k + 2] = (uint32_t)(m2 >> 32);
        out[k + 3] = (uint32_t)(m3 >> 32);
    }
}

#ifdef NW_MINHASH_X86
/* Four registers of eight lanes: 32 permutations per pass over the shingles. */
__attribute__((target("avx512f,avx512dq"))) static void minhash_avx512(const uint64_t *a,
                                                                       const uint64_t *c, int count,
                                                                       const uint64_t *sh, size_t n,
                                                                       uint32_t *out)
{
    for (int k = 0; k + 32 <= count; k += 32) {
        __m512i a0 = _mm512_loadu_si512(a + k), a1 = _mm512_loadu_si512(a + k + 8),
                a2 = _mm512_loadu_si512(a + k + 16), a3 = _mm512_loadu_si512(a + k + 24);
        __m512i c0 = _mm512_loadu_si512(c + k), c1 = _mm512_loadu_si512(c + k + 8),
                c2 = _mm512_loadu_si512(c + k + 16), c3 = _mm512_loadu_si512(c + k + 24);
        __m512i m0 = _mm512_set1_epi64(-1), m1 = m0, m2 = m0, m3 = m0;
        for (size_t i = 0; i < n; i++) {
            __m512i h = _mm512_set1_epi64((long long)sh[i]);
            m0 = _mm512_min_epu64(m0, _mm512_add_epi64(_mm512_mullo_epi64(a0, h), c0));
            m1 = _mm512_min_epu64(m1, _mm512_add_epi64(_mm512_mullo_epi64(a1, h), c1));
            m2 = _mm512_min_epu64(m2, _mm512_add_epi64(_mm512_mullo_epi64(a2, h), c2));
            m3 = _mm512_min_epu64(m3, _mm512_add_epi64(_mm512_mullo_epi64(a3, h), c3));
        }
        _mm256_storeu_si256((__m256i *)(out + k), _mm512_cvtepi64_epi32(_mm512_srli_epi64(m0, 32)));
        _mm256_storeu_si256((__m256i *)(out + k + 8),
                            _mm512_cvtepi64_epi32(_mm512_srli_epi64(m1, 32)));
        _mm256_storeu_si256((__m256i *)(out + k + 16),
                            _mm512_cvtepi64_epi32(_mm512_srli_epi64(m2, 32)));
        _mm256_storeu_si256((__m256i *)(out + k + 24),
                            _mm512_cvtepi64_epi32(_mm512_srli_epi64(m3, 32)));
    }
}
#endif

bool nw_minhash_avx512(const uint64_t *a, const uint64_t *c, int count, const uint64_t *sh,
                       size_t n, uint32_t *out)
{
#ifdef NW_MINHASH_X86
    if (count % 32 == 0 && __builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("avx512dq")) {
        minhash_avx512(a, c, count, sh, n, out);
        return true;
    }
#else
    (void)a, (void)c, (void)count, (void)sh, (void)n, (void)out;
#endif
    return false;
}

void nw_minhash(const uint64_t *a, const uint64_t *c, int count, const uint64_t *sh, size_t n,
                uint32_t *out)
{
    if (!nw_minhash_avx512(a, c, count, sh, n, out))
        nw_minhash_scalar(a, c, count, sh, n, out);
}
