/*
 * crc32.h - CRC-32 as in IEEE 802.3, zlib and PNG (reflected polynomial 0xEDB88320,
 * initial value and final XOR 0xFFFFFFFF; check value 0xCBF43926 over "123456789").
 *
 * It detects corruption (the device outbox protects every record with it); it is not
 * a cryptographic checksum and stops no attacker.
 */
#ifndef CORIO_CRC32_H
#define CORIO_CRC32_H

#include <stddef.h>
#include <stdint.h>

#include "corio/config.h"

/* 1: a 16-entry table (64 bytes of constants, two table steps per byte); 0: bit by
 * bit, no table (about 80 bytes less flash, about four times the time per byte, which
 * a device whose records are a few hundred bytes can afford). Same results. */
#ifndef CORIO_CRC32_TABLE
#define CORIO_CRC32_TABLE 1
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Returns the CRC-32 of the len bytes at data (not kept), continuing from crc, the
 * CRC of the bytes before them: pass 0 to start. As zlib's crc32(), so
 * corio_crc32(corio_crc32(0, a, n), b, m) is the CRC of a followed by b.
 * data may be NULL when len is 0. */
uint32_t corio_crc32(uint32_t crc, const void *data, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_CRC32_H */
