/*
 * flash.h - what a port gives the SDK for persistent storage: one region of NOR-like
 * flash, seen as sector_count erase sectors of sector_size bytes.
 *
 * The contract is the strictest common denominator of the parts Corio targets:
 *
 *  - Erased flash reads 0xFF. Erasing works on whole sectors only and is slow (tens to
 *    hundreds of milliseconds on STM32 pages and SPI NOR sectors).
 *  - Programming works on aligned units of prog_size bytes and can only turn 1 bits
 *    into 0 bits. A unit is programmed at most ONCE between two erases unless the port
 *    sets CORIO_FLASH_F_REPROGRAM: STM32 parts with ECC program 8-byte (L4, G4) to
 *    32-byte (H7) flash words and refuse, or corrupt the ECC of, a word written twice.
 *    The SDK never programs a unit twice on a port without that flag.
 *  - A power cut during a program may leave the unit in flight partially programmed:
 *    it can read as erased, as garbage, as the intended value, or (with ECC) fail to
 *    read at all, and what it reads may change from one read to the next. Units
 *    programmed before it are complete. A power cut during an erase may leave any
 *    content in that sector. The SDK's storage formats are designed around exactly
 *    these failures (docs/sdk-outbox.md).
 *
 * Addresses are byte offsets inside the region, 0 .. sector_size * sector_count - 1;
 * the port maps them onto its physical flash. Every function is synchronous: it
 * returns when the operation is finished (programmed data is on the flash, not in a
 * cache). The SDK calls them from one thread at a time.
 */
#ifndef CORIO_FLASH_H
#define CORIO_FLASH_H

#include <stddef.h>
#include <stdint.h>

#include "corio/config.h"
#include "corio/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Port property flags (struct corio_flash.flags). */
enum {
    /* A unit that is already programmed may be programmed again with a value that only
     * clears further bits (plain NOR without ECC: SPI NOR, ESP32, most MCUs with
     * byte/half-word programming). Without it a unit is written once per erase. */
    CORIO_FLASH_F_REPROGRAM = 1u << 0,
};

/* One flash region. The port fills it in and owns ctx; the struct itself is small and
 * is copied by the modules that use it. */
struct corio_flash {
    void *ctx; /* passed to every function; owned by the port */

    uint32_t sector_size;  /* bytes per erase sector; a multiple of prog_size */
    uint32_t sector_count; /* sectors in the region */
    uint32_t prog_size;    /* program granularity in bytes: 1, 2, 4, 8, 16 or 32 */
    uint32_t flags;        /* CORIO_FLASH_F_* */

    /* Reads len bytes at addr into buf (caller-owned). Any address and length inside
     * the region are allowed; no alignment is needed.
     * Returns CORIO_OK; CORIO_ERR_IO when the flash could not be read (for example an
     * uncorrectable ECC error in a word torn by a power cut: the port must catch that
     * fault and return this rather than crash), in which case buf's content is
     * unspecified; CORIO_ERR_INVAL when the range leaves the region. */
    int (*read)(void *ctx, uint32_t addr, uint8_t *buf, size_t len);

    /* Programs len bytes from buf (caller-owned, read only) at addr. addr and len are
     * multiples of prog_size and len > 0; every unit written must be erased (or, with
     * CORIO_FLASH_F_REPROGRAM, only gain 0 bits). Returns CORIO_OK when done (the
     * caller verifies by reading back: a port need not); CORIO_ERR_IO when the flash
     * controller reported a failure (the units touched are then in an unknown state);
     * CORIO_ERR_INVAL for a misaligned or out-of-region request; CORIO_ERR_STATE when
     * a checking port (a simulator, the POSIX file port) caught a write over
     * programmed data. */
    int (*program)(void *ctx, uint32_t addr, const uint8_t *buf, size_t len);

    /* Erases sector (0 .. sector_count - 1) to 0xFF. Returns CORIO_OK, CORIO_ERR_IO
     * when the controller reported a failure, or CORIO_ERR_INVAL for a sector out of
     * range. */
    int (*erase)(void *ctx, uint32_t sector);
};

#ifdef __cplusplus
}
#endif
#endif /* CORIO_FLASH_H */
