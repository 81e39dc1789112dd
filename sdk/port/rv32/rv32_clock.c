/*
 * rv32_clock.c - the port's millisecond clock on the RISC-V machine timer (mtime).
 *
 * RV32 reads the 64-bit counter as two words; the high word is read before and after
 * the low one and the read repeats when a carry came between them. Milliseconds are
 * ticks * 1000 / hz in 64 bits (exact for any rate, and it cannot overflow for some
 * 580 000 years at 1 MHz), truncated to the 32 bits the SDK's clients compare by
 * unsigned difference.
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

static uint32_t now_ms(void *ctx)
{
    const struct corio_rv32_mtime *t = ctx;

    return (uint32_t)(read_mtime(t->mtime) * 1000u / t->hz);
}

int corio_rv32_clock_init(struct corio_clock *clk, const struct corio_rv32_mtime *t)
{
    if (clk == NULL || t == NULL || t->mtime == NULL || t->hz == 0)
        return CORIO_ERR_INVAL;
    clk->ctx = (void *)(uintptr_t)t;
    clk->now_ms = now_ms;
    return CORIO_OK;
}
