/*
 * MinHash kernels: out[k] = high 32 bits of min over i of (a[k] * sh[i] +
 * c[k]) mod 2^64, for k < count (a multiple of 32). The fingerprint's 192
 * values an item were ~13 % of the ingest thread's samples with the scalar
 * loop; CPUs with AVX-512 DQ (64-bit lane multiplies) compute 32 values per
 * pass over the shingles instead of 4. Every kernel gives the same values.
 */
#ifndef NW_MINHASH_H
#define NW_MINHASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The fastest kernel this CPU runs (checked on every call: the C runtime
 * reads the CPU's features once, at start-up, so the check is a load). */
void nw_minhash(const uint64_t *a, const uint64_t *c, int count, const uint64_t *sh, size_t n,
                uint32_t *out);

/* The portable kernel, and the AVX-512 one (false, nothing written, when the
 * CPU or the compiler lacks it): for tests and the bench. */
void nw_minhash_scalar(const uint64_t *a, const uint64_t *c, int count, const uint64_t *sh,
                       size_t n, uint32_t *out);
bool nw_minhash_avx512(const uint64_t *a, const uint64_t *c, int count, const uint64_t *sh,
                       size_t n, uint32_t *out);

#endif
