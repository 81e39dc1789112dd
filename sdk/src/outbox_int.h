/*
 * outbox_int.h - private to the outbox files (outbox*.c): the on-flash layout of
 * format version 1 (prose in docs/sdk-outbox.md) and the sector scanner every
 * operation is built on.
 */
#ifndef CORIO_DEV_OUTBOX_INT_H
#define CORIO_DEV_OUTBOX_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "corio/outbox.h"

/* Sector header: 48 bytes at offset 0, padded with 0xFF to a whole unit. */
#define OB_SHDR_LEN 48u
#define OB_MAGIC0   0x43u /* "COBX" */
#define OB_MAGIC1   0x4Fu
#define OB_MAGIC2   0x42u
#define OB_MAGIC3   0x58u

/* Record header: 32 bytes at a unit-aligned offset. */
#define OB_RHDR_LEN 32u
#define OB_KIND_MSG 0xA1u /* a message */
#define OB_KIND_ROT 0xB2u /* rotation note: the head is sealed, the next sector is erased */
#define OB_ROT_LEN  16u   /* rotation note payload */

/* Boot mark: one unit, this byte then zeros. The first write of a boot into a head
 * found at open starts with it (docs/sdk-outbox.md, "Power cuts"). */
#define OB_MARK 0xC5u

/* Bytes skipped at open after the last unit that is not erased: a record header's
 * worth, which covers a header unit cut in flight after units that read erased. */
#define OB_GUARD OB_RHDR_LEN

/* Sector ordinals stay below 2^31 so that "greatest ordinal" needs no wrap rules. */
#define OB_ORD_MAX 0x7FFFFFFFu
#define OB_NONE    0xFFFFFFFFu

/* Bytes read or written through the stack at once; a multiple of every unit. */
#define OB_CHUNK 64u

/* A sector header as parsed (outbox.h). */
#define ob_shdr corio__ob_shdr

enum ob_shdr_state {
    OB_SHDR_VALID,   /* ours, this version and geometry, CRC good */
    OB_SHDR_BLANK,   /* the header area reads erased */
    OB_SHDR_FOREIGN, /* magic and CRC good, another version or geometry */
    OB_SHDR_BAD,     /* anything else, or unreadable */
};

/* A record header: its eight little-endian words as on flash (OB_W_*), and the two
 * fields of word 0 every reader wants. */
enum {
    OB_W_HEAD,  /* kind, type (bytes 0, 1), payload length (bytes 2, 3) */
    OB_W_SEQ,   /* seq (messages; 0 in a rotation note) */
    OB_W_TKIND, /* time kind; bytes 9..11 reserved, zero */
    OB_W_BOOT,  /* boot count */
    OB_W_TLO,   /* time, low and high word */
    OB_W_THI,
    OB_W_PCRC, /* CRC of the payload */
    OB_W_HCRC, /* CRC of bytes 0..27 */
    OB_RHDR_WORDS
};
struct ob_rec {
    uint32_t w[OB_RHDR_WORDS];
    uint32_t kind, len;
};

enum ob_ack { OB_ACK_NONE, OB_ACK_DONE, OB_ACK_TORN };

/* What a scan reports for each readable record. */
struct ob_visit {
    uint32_t sector, pos, end; /* record at [pos, end) of sector */
    struct ob_rec rec;
    uint32_t ack;    /* enum ob_ack (messages) */
    uint32_t rot[4]; /* rotation note: target, target ordinal, target erase
                        count, drops after the rotation */
};

/* A scan of one sector, record by record, from pos to the sector's end. A message
 * is readable (returned) when its header, commit mark and payload check, lo <= seq <
 * hi, and seq is greater than the previous readable one in the sector (last).
 * As a walk over the ring (corio__ob_walk) it scans ring sector d (0: the head), then
 * unless one d - 1 down to the head, each member sector in its seq window. */
struct ob_scan {
    uint32_t sector, pos, lo, hi, last;
    uint32_t d;      /* walk: the ring sector scanned */
    uint32_t one;    /* walk: sector d only */
    uint32_t set;    /* walk: sector, lo and hi are d's */
    uint32_t in_bad; /* the unit before pos was garbage */
    /* outputs */
    uint32_t sealed;    /* an intact rotation note header was seen */
    uint32_t dirty_end; /* end of the last unit not erased, or of an intact header's record */
    uint32_t max_seq;   /* greatest seq >= lo in any intact message header, torn or not */
    uint32_t corrupt;   /* torn or damaged records and runs of garbage */
};

/* Layout helpers and flash access (outbox_layout.c). */
uint32_t corio__ob_pad(const struct corio_dev_outbox *ob, uint32_t len);
uint32_t corio__ob_rec_size(const struct corio_dev_outbox *ob, uint32_t len);
uint32_t corio__ob_sector_addr(const struct corio_dev_outbox *ob, uint32_t sector);
uint32_t corio__ob_get32(const uint8_t *p);
bool corio__ob_read(const struct corio_dev_outbox *ob, uint32_t addr, uint8_t *buf, uint32_t n);
enum ob_shdr_state corio__ob_read_shdr(const struct corio_dev_outbox *ob, uint32_t sector,
                                       struct ob_shdr *h);
void corio__ob_words_get(uint32_t *w, const uint8_t *b, unsigned n);
/* Not static only so that the compiler keeps one copy for its two callers. */
void corio__ob_shdr_words(const struct corio_dev_outbox *ob, const struct ob_shdr *h,
                          uint32_t w[12]);
bool corio__ob_is_fill(const uint8_t *p, uint32_t n, uint8_t fill);

/* Scanner and ring walking (outbox_scan.c). */
/* The next readable record (struct ob_scan): true with *v filled and sc->pos at its
 * end; false at the end of the sector (of the walk). */
bool corio__ob_next(const struct corio_dev_outbox *ob, struct ob_scan *sc, struct ob_visit *v);
bool corio__ob_walk(const struct corio_dev_outbox *ob, struct ob_scan *sc, struct ob_visit *v);
bool corio__ob_member(const struct corio_dev_outbox *ob, uint32_t d, struct ob_shdr *h);
uint32_t corio__ob_sector_at(const struct corio_dev_outbox *ob, uint32_t d);
uint32_t corio__ob_span(const struct corio_dev_outbox *ob);
/* The newest ring sector whose base is seq or below; the oldest when there is none. */
uint32_t corio__ob_locate(const struct corio_dev_outbox *ob, uint32_t seq);
int corio__ob_find(struct corio_dev_outbox *ob, uint32_t seq, struct ob_visit *v);
bool corio__ob_payload(const struct corio_dev_outbox *ob, const struct ob_visit *v, uint8_t *out);
void corio__ob_cache_put(struct corio_dev_outbox *ob, uint32_t seq, uint32_t addr);

#endif /* CORIO_DEV_OUTBOX_INT_H */
