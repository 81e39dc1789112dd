/*
 * rv32_clock.c - the port's millisecond clock on the RISC-V machine timer (mtime).
 *
 * RV32 reads the 64-bit counter as two words; the high word is read before and after
 * the low one and the read repeats when a carry came between them. Milliseconds are
 * ticks * 1000 / hz in 64 bits (exact for any rate, and it cannot overflow for some
 * 580 000 years at 1 MHz), truncated to the 32 bits the SDK's clients compare by
 * unsigned difference. The division is a shift-and-subtract loop: RV32's divider is
 * 32-bit, and a C 64-bit division would link libgcc's __udivdi3 (a kilobyte).
 */
#include "port_rv32.h"

static uint64_t read_mtime(const volatile uint32_t *lo)
{
    const volatile uint32_t *hi = lo + 1;
    uint32_t h, l;

    do {
        h = *hi;
        l = *lo;
    } while (*hi != h);
    return (uint64_t)h << 32 | l;
}

/* n / d, one quotient bit per step; r < d < 2^32 keeps 2r + 1 within 64 bits. The
 * quotient's bits enter n from the right as the dividend's leave it on the left. */
static uint64_t div64(uint64_t n, uint32_t d)
{
    uint64_t r = 0;
    int i;

    for (i = 0; i < 64; i++) {
        r = r << 1 | n >> 63;
        n <<= 1;
        if (r >= d) {
            r -= d;
            n |= 1u;
        }
    }
    return n;
}

static uint32_t now_ms(void *ctx)
{
    const struct corio_rv32_mtime *t = ctx;

    return (uint32_t)div64(read_mtime(t->mtime) * 1000u, t->hz);
}

int corio_rv32_clock_init(struct corio_clock *clk, const struct corio_rv32_mtime *t)
{
    if (clk == NULL || t == NULL || t->mtime == NULL || t->hz == 0)
        return CORIO_ERR_INVAL;
    clk->ctx = (void *)(uintptr_t)t;
    clk->now_ms = now_ms;
    return CORIO_OK;
}
