/*
 * port_cm4.h - the bare-metal Cortex-M4 port of libcorio: what a board gives the SDK
 * when there is no operating system.
 *
 * The port is deliberately thin. What every Cortex-M4 has, it implements: the
 * millisecond clock runs on SysTick, a core peripheral. What differs from part to part,
 * the board or the application supplies and the port only adapts:
 *
 *   - random: the part's true random generator (STM32 RNG, nRF RNG, ...), read one 32-bit
 *     word at a time; the port turns it into a struct corio_random with a health check,
 *     and also feeds it to mbedTLS's PSA core (MBEDTLS_PSA_CRYPTO_EXTERNAL_RNG), so one
 *     generator serves both the SDK's jitter and the keys;
 *   - network: the application's struct corio_transport (a modem's socket, lwIP, a
 *     W5500...), passed to the MQTT client as it is;
 *   - flash: the application's struct corio_flash (include/corio/flash.h) over its
 *     part's flash controller, passed to the outbox as it is.
 *
 * sdk/port/bare/small_string.c, shared by the bare-metal ports, replaces the C
 * library's memcpy, memmove, memset, memcmp, memchr and strlen with byte loops: the
 * board's choice of flash over speed (a board that prefers speed leaves the file out
 * and links the library's).
 *
 * cm4_startup.c and cortex-m4.ld are a minimal vector table, reset handler and memory
 * map (STM32L4-class: 1 MB flash at 0x08000000, 128 KB RAM at 0x20000000) so that a
 * complete image links; a board with its own startup code and linker script uses those
 * instead and takes only the .c files of the port.
 *
 * Nothing here allocates; every struct is the caller's.
 */
#ifndef CORIO_PORT_CM4_H
#define CORIO_PORT_CM4_H

#include <stddef.h>
#include <stdint.h>

#include "corio/error.h"
#include "corio/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- clock: SysTick at 1 kHz ---- */

/*
 * Programs SysTick to interrupt every millisecond from the processor clock core_hz and
 * fills clk with a clock that reads the count. The board's SysTick_Handler must call
 * corio_cm4_systick_isr() (the port does not define the handler, since vendor HALs
 * usually do). Returns CORIO_OK, or CORIO_ERR_INVAL for a NULL clk or a core_hz whose
 * 1 ms reload does not fit SysTick's 24 bits (below 1 kHz or above 16.7 GHz).
 */
int corio_cm4_clock_init(struct corio_clock *clk, uint32_t core_hz);

/* Counts one millisecond; call it from SysTick_Handler. */
void corio_cm4_systick_isr(void);

/* ---- random: the part's TRNG ---- */

/*
 * The board's random generator. read_word waits for (a bounded time) and returns one
 * fresh 32-bit word in *word: CORIO_OK, or a negative error (CORIO_ERR_IO for a seed or
 * clock error the peripheral reported, CORIO_ERR_TIMEOUT when no word came in time).
 */
struct corio_cm4_trng {
    void *ctx;
    int (*read_word)(void *ctx, uint32_t *word);
};

/*
 * The port's random source: the TRNG plus the state of its health check. Caller-owned;
 * must outlive every struct corio_random made from it.
 */
struct corio_cm4_random {
    struct corio_cm4_trng trng;
    uint32_t last;  /* the previous word, for the repetition test */
    uint8_t primed; /* last holds a word */
};

/*
 * Fills rnd with a random source over trng, kept in r. Words that repeat the previous
 * one are refused (CORIO_ERR_IO): a stuck generator repeats, a working one does so with
 * probability 2^-32 per word. Returns CORIO_OK or CORIO_ERR_INVAL (NULL argument or
 * read_word).
 */
int corio_cm4_random_init(struct corio_cm4_random *r, const struct corio_cm4_trng *trng,
                          struct corio_random *rnd);

/*
 * Makes rnd the generator behind mbedTLS's PSA core (mbedTLS built with
 * MBEDTLS_PSA_CRYPTO_EXTERNAL_RNG; cm4_psa_rng.c defines the hook it calls). Call it
 * before corio_crypto_psa_init(); rnd must outlive the PSA core. Until it is called the
 * hook reports PSA_ERROR_INSUFFICIENT_ENTROPY.
 */
void corio_cm4_psa_random(const struct corio_random *rnd);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_PORT_CM4_H */
