/*
 * cm4_clock.c - the port's millisecond clock on SysTick, the timer every Cortex-M4 has.
 *
 * The interrupt counts milliseconds into one 32-bit word; Cortex-M4 reads an aligned
 * word atomically, so now_ms needs no critical section. The count wraps after 49 days,
 * which the SDK's clients handle (transport.h).
 */
#include "port_cm4.h"

/* SysTick registers (ARMv7-M Architecture Reference Manual, B3.3). */
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)

#define SYST_CSR_ENABLE    (1u << 0)
#define SYST_CSR_TICKINT   (1u << 1)
#define SYST_CSR_CLKSOURCE (1u << 2) /* the processor clock, not the external reference */
#define SYST_RELOAD_MAX    0x00FFFFFFu

static volatile uint32_t ticks;

void corio_cm4_systick_isr(void)
{
    ticks++;
}

static uint32_t now_ms(void *ctx)
{
    (void)ctx;
    return ticks;
}

int corio_cm4_clock_init(struct corio_clock *clk, uint32_t core_hz)
{
    uint32_t reload;

    if (clk == NULL || core_hz < 1000u)
        return CORIO_ERR_INVAL;
    reload = core_hz / 1000u - 1u;
    if (reload == 0 || reload > SYST_RELOAD_MAX)
        return CORIO_ERR_INVAL;
    SYST_CSR = 0;
    SYST_RVR = reload;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_CLKSOURCE | SYST_CSR_TICKINT | SYST_CSR_ENABLE;
    clk->ctx = NULL;
    clk->now_ms = now_ms;
    return CORIO_OK;
}
