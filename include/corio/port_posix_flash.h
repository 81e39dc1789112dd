/*
 * port_posix_flash.h - the POSIX port's flash (sdk/port/posix/flash_file.c): a file
 * that behaves like NOR flash, in the shape flash.h defines, so the device SDK runs
 * on Linux (corio sim, tests) with the same storage code as on a board.
 *
 * The file holds sector_size * sector_count bytes; a new file starts erased (0xFF).
 * Like NOR, erase sets a sector to 0xFF and programming can only clear bits. The
 * port is also a checker: programming that would set a bit (write over data without
 * an erase), or program a unit twice on a port that does not allow it (ECC flash),
 * is a bug in the caller, and by default the port prints what happened and aborts
 * the process, so such a bug cannot pass a test unnoticed.
 */
#ifndef CORIO_PORT_POSIX_FLASH_H
#define CORIO_PORT_POSIX_FLASH_H

#include <stdint.h>

#include "corio/flash.h"

#ifdef __cplusplus
extern "C" {
#endif

/* corio_posix_flash_open() options */
enum {
    /* Allow a programmed unit to be programmed again when that only clears bits
     * (NOR without ECC); the port then sets CORIO_FLASH_F_REPROGRAM. Without it each
     * unit is programmed once per erase, as on STM32 parts with ECC. */
    CORIO_POSIX_FLASH_REPROGRAM = 1u << 0,
    /* Refuse a write over programmed data with CORIO_ERR_STATE instead of aborting. */
    CORIO_POSIX_FLASH_NO_ABORT = 1u << 1,
    /* fdatasync() after every program and erase (slow; survives an OS crash). */
    CORIO_POSIX_FLASH_SYNC = 1u << 2,
};

/* A flash file. Caller-owned; fields private. */
struct corio_posix_flash {
    int fd; /* -1 when closed */
    uint32_t sector_size, sector_count, prog_size;
    unsigned options;
    uint8_t *written;    /* one byte per program unit: programmed since its erase */
    uint32_t violations; /* writes refused under CORIO_POSIX_FLASH_NO_ABORT */
};

/* Opens (or creates, erased) the file at path as a flash of sector_count sectors of
 * sector_size bytes programmed in units of prog_size bytes (1, 2, 4, 8, 16 or 32).
 * A unit of an existing file counts as programmed when any of its bytes is not
 * 0xFF. Returns CORIO_OK; CORIO_ERR_INVAL for a NULL argument, a bad geometry, or an
 * existing file of another size; CORIO_ERR_IO when the file cannot be opened, read
 * or created; CORIO_ERR_NOSPACE when memory for the unit map runs out. On error f is
 * left closed. */
int corio_posix_flash_open(struct corio_posix_flash *f, const char *path, uint32_t sector_size,
                           uint32_t sector_count, uint32_t prog_size, unsigned options);

/* Closes the file and frees the unit map; safe on a closed f. */
void corio_posix_flash_close(struct corio_posix_flash *f);

/* Fills *out with f's geometry and functions; f must outlive every use of *out. */
void corio_posix_flash_port(struct corio_posix_flash *f, struct corio_flash *out);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_PORT_POSIX_FLASH_H */
