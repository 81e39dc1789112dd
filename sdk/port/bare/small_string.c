/*
 * small_string.c - the C library's memory and string routines the SDK and mbedTLS call,
 * as plain byte loops, for the bare-metal ports (sdk/port/cortex-m4, sdk/port/rv32):
 * a board's choice of flash over speed.
 *
 * newlib-nano's versions for Cortex-M4 are unrolled assembly that copies words at a
 * time: 1.2 KB for memcpy, memmove, memset, memcmp, memchr and strlen together;
 * picolibc's for RV32 are already small, but memcpy and memmove are separate routines
 * there. Here memcpy is memmove, and the six together take 148 bytes on either core
 * (make footprint measures it; docs/footprint.md). The SDK moves at most a few hundred
 * bytes at a time (packets, payloads, keys), so the loops cost microseconds. Defined in
 * the image, they take the place of the library's: the linker only pulls an archive
 * member for a symbol still undefined. A board that prefers speed leaves this file out.
 *
 * GCC recognises a byte-copy loop as memcpy and would compile these functions into
 * calls to themselves; the pragma turns that recognition off for this file alone.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#pragma GCC optimize("no-tree-loop-distribute-patterns")

/* Copies forwards, or backwards from the end when dst lies above src, so that
 * overlapping regions come out right; memcpy is the same routine (a copy of regions
 * that do not overlap is a special case). */
void *memmove(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    int step = 1;

    if (n > 0 && (uintptr_t)d > (uintptr_t)s) {
        d += n - 1;
        s += n - 1;
        step = -1;
    }
    while (n--) {
        *d = *s;
        d += step;
        s += step;
    }
    return dst;
}

void *memcpy(void *restrict dst, const void *restrict src, size_t n)
    __attribute__((alias("memmove")));

void *memset(void *dst, int c, size_t n)
{
    unsigned char *d = dst;

    while (n--)
        *d++ = (unsigned char)c;
    return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *p = a, *q = b;

    for (; n; n--, p++, q++)
        if (*p != *q)
            return *p - *q;
    return 0;
}

void *memchr(const void *s, int c, size_t n)
{
    const unsigned char *p = s;

    for (; n; n--, p++)
        if (*p == (unsigned char)c)
            return (void *)(uintptr_t)p;
    return NULL;
}

size_t strlen(const char *s)
{
    const char *p = s;

    while (*p)
        p++;
    return (size_t)(p - s);
}
