#include "radix.h"

#include <string.h>

/* Byte sh/8 of the key with its sign bit flipped: signed order as unsigned. */
static unsigned key_byte(const nw_keyidx_t *e, int sh)
{
    return (unsigned)(((uint64_t)e->key ^ (1ull << 63)) >> sh & 0xff);
}

void nw_keyidx_sort(nw_keyidx_t *v, size_t n, nw_keyidx_t *tmp)
{
    nw_keyidx_t *src = v, *dst = tmp;
    for (int pass = 0; pass < 8 && n > 1; pass++) {
        size_t cnt[257] = {0};
        int sh = pass * 8;
        for (size_t i = 0; i < n; i++)
            cnt[key_byte(&src[i], sh) + 1]++;
        if (cnt[key_byte(&src[0], sh) + 1] == n)
            continue;
        for (int b = 0; b < 256; b++)
            cnt[b + 1] += cnt[b];
        for (size_t i = 0; i < n; i++)
            dst[cnt[key_byte(&src[i], sh)]++] = src[i];
        nw_keyidx_t *x = src;
        src = dst;
        dst = x;
    }
    if (src != v)
        memcpy(v, src, n * sizeof *v);
}
