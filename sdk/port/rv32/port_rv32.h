/*
 * port_rv32.h - the bare-metal RV32 (RV32IMC and up) port of libcorio: what a board
 * gives the SDK when there is no operating system.
 *
 * The port is deliberately thin. What the RISC-V privileged specification defines, it
 * implements: the millisecond clock reads the machine timer mtime, a 64-bit counter
 * that runs at a fixed rate even while the core sleeps in WFI (mcycle does not). mtime
 * sits at a platform-specific address (the CLINT's 0x0200BFF8 on SiFive-style parts)
 * and frequency, which the board gives. What differs from part to part, the board or
 * the application supplies and the port only adapts:
 *
 *   - random: the part's true random generator (ESP32-C3 RNG_DATA_REG, a Zkr seed CSR,
 *     ...), read one 32-bit word at a time; the port turns it into a struct
 *     corio_random with a health check, and also feeds it to mbedTLS's PSA core
 *     (MBEDTLS_PSA_CRYPTO_EXTERNAL_RNG);
 *   - network: the application's struct corio_transport, passed to the MQTT client;
 *   - flash: the application's struct corio_flash (include/corio/flash.h) over its
 *     part's flash driver, passed to the outbox as it is.
 *
 * sdk/port/bare/small_string.c, shared by the bare-metal ports, replaces the C
 * library's memcpy, memmove, memset, memcmp, memchr and strlen with byte loops: the
 * board's choice of flash over speed (a board that prefers speed leaves the file out
 * and links the library's).
 *
 * rv32_startup.c and rv32.ld are a minimal reset path and memory map (GD32VF103-class:
 * 128 KB flash at 0x08000000, 32 KB RAM at 0x20000000) so that a complete image links;
 * a board with its own startup code and linker script uses those instead.
 *
 * Nothing here allocates; every struct is the caller's.
 */
#ifndef CORIO_PORT_RV32_H
#define CORIO_PORT_RV32_H

#include <stddef.h>
#include <stdint.h>

#include "corio/error.h"
#include "corio/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- clock: the machine timer ---- */

/* Where the platform's mtime is and how fast it counts. Caller-owned; must outlive the
 * clock made from it. */
struct corio_rv32_mtime {
    const volatile uint32_t *mtime; /* the low word; the high word follows it */
    uint32_t hz;                    /* ticks per second (e.g. 32768, or the core clock) */
};

/*
 * Fills clk with a millisecond clock over t. Returns CORIO_OK, or CORIO_ERR_INVAL for a
 * NULL argument or address, or hz 0.
 */
int corio_rv32_clock_init(struct corio_clock *clk, const struct corio_rv32_mtime *t);

/* ---- random: the part's TRNG ---- */

/*
 * The board's random generator. read_word waits for (a bounded time) and returns one
 * fresh 32-bit word in *word: CORIO_OK, or a negative error (CORIO_ERR_IO for a fault
 * the peripheral reported, CORIO_ERR_TIMEOUT when no word came in time).
 */
struct corio_rv32_trng {
    void *ctx;
    int (*read_word)(void *ctx, uint32_t *word);
};

/* The port's random source: the TRNG plus the state of its health check. Caller-owned;
 * must outlive every struct corio_random made from it. */
struct corio_rv32_random {
    struct corio_rv32_trng trng;
    uint32_t last;  /* the previous word, for the repetition test */
    uint8_t primed; /* last holds a word */
};

/*
 * Fills rnd with a random source over trng, kept in r. Words that repeat the previous
 * one are refused (CORIO_ERR_IO): a stuck generator repeats, a working one does so with
 * probability 2^-32 per word. Returns CORIO_OK or CORIO_ERR_INVAL (NULL argument or
 * read_word).
 */
int corio_rv32_random_init(struct corio_rv32_random *r, const struct corio_rv32_trng *trng,
                           struct corio_random *rnd);

/*
 * Makes rnd the generator behind mbedTLS's PSA core (mbedTLS built with
 * MBEDTLS_PSA_CRYPTO_EXTERNAL_RNG; rv32_psa_rng.c defines the hook it calls). Call it
 * before corio_crypto_psa_init(); rnd must outlive the PSA core. Until it is called the
 * hook reports PSA_ERROR_INSUFFICIENT_ENTROPY.
 */
void corio_rv32_psa_random(const struct corio_random *rnd);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_PORT_RV32_H */
