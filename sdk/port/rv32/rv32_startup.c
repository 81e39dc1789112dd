/*
 * rv32_startup.c - a minimal RV32 reset path, so that an application over the port
 * links into a complete image without a vendor's startup code (make footprint links
 * the example this way; a board with a vendor startup file uses that instead).
 *
 * _start sets the global pointer (the linker relaxes small-data accesses against it)
 * and the stack, points mtvec at a handler that parks the core, copies .data from
 * flash, clears .bss and calls main. Interrupts stay off: the port's clock reads mtime
 * and needs none.
 */
#include <stdint.h>
#include <string.h>

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss;

int main(void);
void _exit(int status);
void corio_rv32_reset(void);
void corio_rv32_trap(void);

__asm__(".section .text.start,\"ax\",@progbits\n"
        ".globl _start\n"
        "_start:\n"
        ".option push\n"
        ".option norelax\n"
        "    la gp, __global_pointer$\n"
        ".option pop\n"
        "    la sp, _estack\n"
        "    la t0, corio_rv32_trap\n"
        ".option push\n"
        ".option arch, +zicsr\n" /* -march=rv32imc leaves the CSR instructions out */
        "    csrw mtvec, t0\n"
        ".option pop\n"
        "    j corio_rv32_reset\n");

/* mtvec's direct mode needs a 4-byte aligned handler. */
__attribute__((aligned(4))) void corio_rv32_trap(void)
{
    for (;;)
        ;
}

void corio_rv32_reset(void)
{
    /* The C library's routines need neither .data nor .bss, so they may fill them. */
    memcpy(&_sdata, &_sidata, (size_t)((char *)&_edata - (char *)&_sdata));
    memset(&_sbss, 0, (size_t)((char *)&_ebss - (char *)&_sbss));
    (void)main();
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
