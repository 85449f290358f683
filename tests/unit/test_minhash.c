/* The MinHash kernels: a known answer, and every kernel equal to the
 * portable one on random inputs (the AVX-512 one where the CPU has it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "minhash.h"

static uint64_t rnd(uint64_t *s)
{
    *s += 0x9E3779B97F4A7C15ull;
    uint64_t z = *s;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* a = 2^32, c = 0: a·h keeps h's low half in the high one, so each value is
 * the smallest low half of the shingles; with no shingles, all ones. */
static void test_known_answer(void **state)
{
    (void)state;
    uint64_t a[32], c[32],
        sh[3] = {0xAAAA000000000007ull, 0x0000000100000005ull, 0xFFFFFFFF00000009ull};
    for (int k = 0; k < 32; k++) {
        a[k] = 1ull << 32;
        c[k] = (uint64_t)k; /* below 2^32: never reaches the high half here */
    }
    uint32_t out[32];
    nw_minhash(a, c, 32, sh, 3, out);
    for (int k = 0; k < 32; k++)
        assert_int_equal(out[k], 5);
    nw_minhash(a, c, 32, sh, 0, out);
    for (int k = 0; k < 32; k++)
        assert_int_equal(out[k], UINT32_MAX);
}

static void test_kernels_agree(void **state)
{
    (void)state;
    uint64_t seed = 42, a[192], c[192], sh[2000];
    uint32_t want[192], got[192];
    int ran = 0;
    for (int round = 0; round < 200; round++) {
        for (int k = 0; k < 192; k++) {
            a[k] = rnd(&seed) | 1;
            c[k] = rnd(&seed);
        }
        size_t n = round < 3 ? (size_t)round : (size_t)(rnd(&seed) % 2000);
        for (size_t i = 0; i < n; i++)
            sh[i] = rnd(&seed);
        for (int count = 32; count <= 192; count += 32) {
            nw_minhash_scalar(a, c, count, sh, n, want);
            memset(got, 0, sizeof got);
            nw_minhash(a, c, count, sh, n, got);
            assert_memory_equal(got, want, (size_t)count * sizeof *want);
            memset(got, 0, sizeof got);
            if (nw_minhash_avx512(a, c, count, sh, n, got)) {
                assert_memory_equal(got, want, (size_t)count * sizeof *want);
                ran++;
            }
        }
    }
    if (!ran)
        skip(); /* this CPU has no AVX-512 DQ: the portable kernel was checked alone */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answer),
        cmocka_unit_test(test_kernels_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
