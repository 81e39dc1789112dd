/*
 * outbox_intake.h - the records of the outbox's intake log (outbox.h, docs/formats.md):
 * how an appended message is written there before the broker acknowledges it, and how
 * the log is read back after a crash. Internal to the gateway library (and its tests
 * and fuzz target); outbox.c owns the file.
 *
 * Layout, little-endian:
 *   header (16 bytes): "CORIOIK1", the outbox epoch (u64)
 *   record:            body length (u32), CRC-32 of the body (u32), then the body:
 *                      id (i64), recv_ms (i64), device epoch (u64), device seq (u64),
 *                      class (u8), device length (u8), suffix length (u8), 0 (u8),
 *                      payload length (u32), device, suffix, payload
 * The log is rewritten from just after the header after every move into the table, so
 * records of an earlier round may follow the current ones: they are told apart by id
 * (outbox.c keeps only ids above what the table has seen).
 */
#ifndef CORIO_GATEWAY_OUTBOX_INTAKE_H
#define CORIO_GATEWAY_OUTBOX_INTAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CORIO_INTAKE_MAGIC      "CORIOIK1"
#define CORIO_INTAKE_HEADER     16
#define CORIO_INTAKE_REC_HEAD   8
#define CORIO_INTAKE_BODY_FIXED 40
/* Device ids are short ids (24) or empty (the gateway's own records); suffixes are topic
 * tails such as "up/json". A length takes one byte. */
#define CORIO_INTAKE_MAX_NAME 255

/* One record. device and suffix are not NUL-terminated; every pointer points into the
 * buffer that was parsed (or that the caller encodes from). */
struct corio_intake_rec {
    int64_t id;
    int64_t recv_ms;
    uint64_t dev_epoch, dev_seq;
    int cls;
    const char *device;
    size_t device_len;
    const char *suffix;
    size_t suffix_len;
    const uint8_t *payload;
    size_t payload_len;
};

/* The bytes a record of these lengths takes in the log (head included). */
size_t corio__intake_rec_size(size_t device_len, size_t suffix_len, size_t payload_len);

/* Encodes r at out (cap bytes). Returns the bytes written, or 0 when r does not fit in
 * cap or breaks a bound (id <= 0, a name longer than CORIO_INTAKE_MAX_NAME or holding a
 * NUL, a payload of 4 GiB or more, a class above CORIO_OUTBOX_CLASS_DROPPABLE, an epoch
 * or seq above INT64_MAX): what corio__intake_parse() would not read back. */
size_t corio__intake_encode(const struct corio_intake_rec *r, uint8_t *out, size_t cap);

/* Writes the header for an outbox of this epoch. */
void corio__intake_header(uint64_t epoch, uint8_t out[CORIO_INTAKE_HEADER]);

/* Whether buf (len bytes, the start of a log) holds a header of this epoch. */
int corio__intake_header_ok(const uint8_t *buf, size_t len, uint64_t epoch);

/*
 * Calls fn for each record of buf (len bytes of records, the header excluded) in order,
 * stopping at the first that does not parse: cut short, a CRC that does not match,
 * lengths that disagree, a class above CORIO_OUTBOX_CLASS_DROPPABLE, an id <= 0, an
 * epoch or seq above INT64_MAX, a NUL in a name. fn returns
 * 0 to go on. check_crc false skips the CRCs, for records the caller wrote itself and
 * kept in memory. Returns the number of records passed to fn; *used (may be NULL) gets
 * the bytes they took.
 */
int corio__intake_parse(const uint8_t *buf, size_t len, bool check_crc,
                        int (*fn)(const struct corio_intake_rec *r, void *arg), void *arg,
                        size_t *used);

#endif /* CORIO_GATEWAY_OUTBOX_INTAKE_H */
