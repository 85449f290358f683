/* nw_keyidx_sort against qsort by (key, original position): signed order,
 * equal keys kept in their order, on random inputs of every shape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "radix.h"

static uint64_t rnd(uint64_t *s)
{
    *s += 0x9E3779B97F4A7C15ull;
    uint64_t z = *s;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int by_key_then_idx(const void *a, const void *b)
{
    const nw_keyidx_t *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static void test_matches_stable_qsort(void **state)
{
    (void)state;
    uint64_t seed = 7;
    size_t cap = 30000;
    nw_keyidx_t *v = malloc(cap * sizeof *v), *want = malloc(cap * sizeof *want),
                *tmp = malloc(cap * sizeof *tmp);
    for (int round = 0; round < 300; round++) {
        size_t n = round < 3 ? (size_t)round : (size_t)(rnd(&seed) % cap);
        int shape = round % 4;
        for (size_t i = 0; i < n; i++) {
            uint64_t r = rnd(&seed);
            int64_t key = shape == 0   ? (int64_t)r                           /* any */
                          : shape == 1 ? (int64_t)(r % 50) - 25               /* few, both signs */
                          : shape == 2 ? (int64_t)(r & 0xff00000000000000ull) /* top byte only */
                                       : INT64_MIN + (int64_t)(r % 3);        /* the extremes */
            if (shape == 3 && (r & 8))
                key = INT64_MAX - (int64_t)(r % 3);
            v[i] = (nw_keyidx_t){key, (uint32_t)i}; /* idx = original position */
        }
        memcpy(want, v, n * sizeof *v);
        qsort(want, n, sizeof *want, by_key_then_idx);
        nw_keyidx_sort(v, n, tmp);
        for (size_t i = 0; i < n; i++) {
            assert_true(v[i].key == want[i].key);
            assert_int_equal(v[i].idx, want[i].idx);
        }
    }
    free(v);
    free(want);
    free(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_matches_stable_qsort)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
