/*
 * crc32.c - CRC-32 (IEEE 802.3) with a 16-entry table: 64 bytes of constant data
 * instead of the usual 1 KiB, at two table steps per byte, which suits a
 * microcontroller checking records of a few hundred bytes; or, with
 * CORIO_CRC32_TABLE 0 (crc32.h), bit by bit without a table.
 */
#include "corio/crc32.h"

#if CORIO_CRC32_TABLE
/* CRC of each 4-bit value, reflected polynomial 0xEDB88320. */
static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
    0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
    0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
};
#endif

uint32_t corio_crc32(uint32_t crc, const void *data, size_t len)
{
    const uint8_t *p = data;
    crc = ~crc;
    for (size_t i = 0; i < len; i++) {
        crc ^= p[i];
#if CORIO_CRC32_TABLE
        crc = (crc >> 4) ^ crc_nibble[crc & 0x0Fu];
        crc = (crc >> 4) ^ crc_nibble[crc & 0x0Fu];
#else
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
#endif
    }
    return ~crc;
}
