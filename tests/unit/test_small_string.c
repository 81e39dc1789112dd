/*
 * test_small_string.c - the bare-metal ports' byte-loop string routines
 * (sdk/port/bare/small_string.c) give what the host's C library gives: moves and copies
 * in both directions over overlapping regions, fills, comparisons (their sign), searches
 * and lengths, on random data. The file is compiled in here under other names, so that
 * the host's own routines stay what the rest of the program (and ASan) uses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define memmove small_memmove
#define memcpy  small_memcpy
#define memset  small_memset
#define memcmp  small_memcmp
#define memchr  small_memchr
#define strlen  small_strlen
/* memcpy is an alias of memmove there; an alias cannot name a renamed function. */
#define __attribute__(x)
#include "../../sdk/port/bare/small_string.c"
#undef __attribute__
#undef memmove
#undef memcpy
#undef memset
#undef memcmp
#undef memchr
#undef strlen

static unsigned rnd(void)
{
    static uint32_t x = 2463534242u; /* xorshift32: the same inputs every run */
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x;
}

static void fill_random(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)rnd();
}

static void moves_match_the_library_over_overlapping_regions(void **state)
{
    (void)state;
    uint8_t want[256], got[256];
    for (int round = 0; round < 20000; round++) {
        fill_random(want, sizeof want);
        memcpy(got, want, sizeof got);
        size_t n = rnd() % 128, from = rnd() % (sizeof want - n), to = rnd() % (sizeof want - n);
        memmove(want + to, want + from, n);
        assert_ptr_equal(small_memmove(got + to, got + from, n), got + to);
        assert_memory_equal(got, want, sizeof got);
    }
}

static void fills_comparisons_searches_and_lengths_match_the_library(void **state)
{
    (void)state;
    uint8_t a[96], b[96];
    for (int round = 0; round < 20000; round++) {
        size_t n = rnd() % sizeof a;
        fill_random(a, sizeof a);
        memcpy(b, a, sizeof b);
        int c = (int)(rnd() % 512) - 256; /* memset and memchr take c as unsigned char */
        memset(a, c, n);
        assert_ptr_equal(small_memset(b, c, n), b);
        assert_memory_equal(a, b, sizeof a);

        fill_random(a, sizeof a);
        memcpy(b, a, sizeof b);
        if (n && rnd() % 2)
            b[rnd() % n] ^= (uint8_t)(1u << (rnd() % 8));
        int lib = memcmp(a, b, n), ours = small_memcmp(a, b, n);
        assert_true((lib < 0) == (ours < 0) && (lib > 0) == (ours > 0));

        uint8_t x = (uint8_t)rnd();
        assert_ptr_equal(small_memchr(a, x, n), memchr(a, x, n));
        assert_ptr_equal(small_memchr(a, x + 256, n), memchr(a, x + 256, n));

        a[n] = 0;
        assert_int_equal(small_strlen((const char *)a), strlen((const char *)a));
    }
    assert_null(small_memchr(a, 0, 0));
    assert_int_equal(small_memcmp(a, b, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(moves_match_the_library_over_overlapping_regions),
        cmocka_unit_test(fills_comparisons_searches_and_lengths_match_the_library),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
