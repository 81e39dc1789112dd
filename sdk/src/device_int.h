/*
 * device_int.h - private to the device layer's files (device*.c): the counter store
 * (device_store.c, format in docs/sdk-device.md) and the flash windows that split the
 * application's region between the store and the outbox.
 */
#ifndef CORIO_DEVICE_INT_H
#define CORIO_DEVICE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "corio/device.h"

/* A counter-store record: 32 bytes in a 32-byte slot. */
#define DEV_STORE_SLOT    32u
#define DEV_STORE_VERSION 1u

/* Fills *out as a window of d's region from sector `first` on, `count` sectors long;
 * view must live as long as *out is used (it is its ctx). */
void corio__dev_flash_window(struct corio_flash *out, struct corio_device_flash_view *view,
                             const struct corio_flash *base, uint32_t first, uint32_t count);

/* Opens the counter store on flash (exactly CORIO_DEVICE_STORE_SECTORS sectors; copied)
 * and writes this boot's record: boot count one above the highest found, counters
 * reserved from the highest limit found, block more. Returns CORIO_OK, CORIO_ERR_INVAL
 * (geometry), CORIO_ERR_IO (the flash failed or the record did not read back) or
 * CORIO_ERR_FULL (counters exhausted). */
int corio__dev_store_open(struct corio_device_store *s, const struct corio_flash *flash,
                          uint32_t block);

/* Hands out the next counter into *counter, first reserving another block on flash
 * when the reserved ones are used up. A counter is handed out once, across reboots.
 * Returns CORIO_OK, CORIO_ERR_IO (the reservation failed: nothing handed out; try again)
 * or CORIO_ERR_FULL. */
int corio__dev_store_take(struct corio_device_store *s, uint32_t block, uint64_t *counter);

/* Brings the uptime up to date with the port's clock and returns it (ms). */
uint64_t corio__dev_tick(struct corio_device *d);

/* Publishes unacknowledged entries, in seq order, while the window has room and no
 * refusal's backoff runs (device.c). */
void corio__dev_pump(struct corio_device *d);

/* dn/cmd and dn/cfg (device_cmd.c): take the payload and answer it through the outbox.
 * Return the PUBACK reason code for the message: 0, 0x80 (not taken now: a pack is
 * open, or the answer could not be stored) or 0x99 (malformed). */
uint8_t corio__dev_command(struct corio_device *d, const uint8_t *payload, size_t len);
uint8_t corio__dev_config(struct corio_device *d, const uint8_t *payload, size_t len);

/* The gateway acknowledged the entry seq: ends the connection after a decommission's
 * answer (device_cmd.c). */
void corio__dev_answer_acked(struct corio_device *d, uint32_t seq);

/* Reads a dn/resend or dn/time map: unsigned keys 1..nkeys (at most 31) into v[key],
 * bit key of *seen for each present; key 1, the version, must be there and be 1.
 * Returns CORIO_OK, CORIO_ERR_MALFORMED or CORIO_ERR_VERSION (device_resend.c). */
int corio__dev_uint_map(const uint8_t *msg, size_t len, uint64_t *v, unsigned nkeys,
                        unsigned *seen);

#endif /* CORIO_DEVICE_INT_H */
