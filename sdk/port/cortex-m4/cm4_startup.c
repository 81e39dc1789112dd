/*
 * cm4_startup.c - a minimal Cortex-M4 vector table and reset handler, so that an
 * application over the port links into a complete image without a vendor's startup
 * code (make footprint links the example this way; a board with a vendor startup file
 * uses that instead).
 *
 * Only the sixteen system exceptions are listed: a part's peripheral interrupts follow
 * them in its own table. Every handler the application does not define is weak and
 * parks the core, so a stray fault stops where a debugger can see it.
 */
#include <stdint.h>
#include <string.h>

extern uint32_t _estack; /* top of RAM: the initial main stack pointer */
extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss;

int main(void);
void _exit(int status);
void Reset_Handler(void);
void Default_Handler(void);

#define WEAK_ALIAS __attribute__((weak, alias("Default_Handler")))
void NMI_Handler(void) WEAK_ALIAS;
void HardFault_Handler(void) WEAK_ALIAS;
void MemManage_Handler(void) WEAK_ALIAS;
void BusFault_Handler(void) WEAK_ALIAS;
void UsageFault_Handler(void) WEAK_ALIAS;
void SVC_Handler(void) WEAK_ALIAS;
void DebugMon_Handler(void) WEAK_ALIAS;
void PendSV_Handler(void) WEAK_ALIAS;
void SysTick_Handler(void) WEAK_ALIAS;

typedef void (*vector_t)(void);

__attribute__((section(".isr_vector"), used)) static const vector_t vectors[16] = {
    (vector_t)(uintptr_t)&_estack,
    Reset_Handler,
    NMI_Handler,
    HardFault_Handler,
    MemManage_Handler,
    BusFault_Handler,
    UsageFault_Handler,
    0,
    0,
    0,
    0,
    SVC_Handler,
    DebugMon_Handler,
    0,
    PendSV_Handler,
    SysTick_Handler,
};

/* Coprocessor Access Control Register: CP10 and CP11 are the FPU. */
#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)

void Reset_Handler(void)
{
#if defined(__ARM_FP)
    /* Full access to the FPU before any floating-point instruction runs. */
    SCB_CPACR |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    /* The C library's routines need neither .data nor .bss, so they may fill them. */
    memcpy(&_sdata, &_sidata, (size_t)((char *)&_edata - (char *)&_sdata));
    memset(&_sbss, 0, (size_t)((char *)&_ebss - (char *)&_sbss));
    (void)main();
    for (;;)
        ;
}

void Default_Handler(void)
{
    for (;;)
        ;
}

/* The C library's exit() ends here (mbedTLS calls it when its heap is corrupt): there
 * is nothing to return to, so the core parks where a debugger finds it. */
void _exit(int status)
{
    (void)status;
    for (;;)
        ;
}
