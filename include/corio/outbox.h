/*
 * outbox.h - the device's outbox: a persistent ring of messages on the port's flash
 * (flash.h) that keeps every message until the gateway acknowledges it, and after,
 * until the ring needs the space (DESIGN.md §1, point 1).
 *
 * Shape of use (the device layer over the MQTT client):
 *
 *     struct corio_dev_outbox ob;                       // caller-owned, ~190 bytes
 *     corio_dev_outbox_open(&ob, &flash, &cfg);          // recovers or formats
 *     corio_dev_outbox_append(&ob, &meta, buf, n, &seq); // durable when it returns OK
 *     publish (epoch, seq) with token = seq; on PUBACK: corio_dev_outbox_ack(&ob, seq)
 *     after a reconnect: corio_dev_outbox_iter_init(&ob, &it, 0) and
 *         corio_dev_outbox_iter_next(&ob, &it, CORIO_DEV_OUTBOX_UNACKED, ...) until NOTFOUND
 *     gateway asks "resend from seq N": corio_dev_outbox_iter_init(&ob, &it, N - 1) and
 *         iterate without the flag; one message: corio_dev_outbox_get()
 *     heartbeat: corio_dev_outbox_stats() (last seq, depth, drops)
 *
 * Guarantees (the argument is in docs/sdk-outbox.md):
 *  - A message is durable when corio_dev_outbox_append() returns CORIO_OK: a power cut at
 *    any later moment does not lose it; only the ring's own overwriting does, and that
 *    is counted in drops. Send only messages whose append returned CORIO_OK.
 *  - (epoch, seq) never names two different messages: seq grows by one per append
 *    attempt and is recovered from flash at open; a record torn by a power cut either
 *    keeps its seq reserved or can never become readable. The epoch changes when the
 *    outbox is formatted (corio_dev_outbox_open() on blank or unusable flash, or
 *    corio_dev_outbox_format()); seq starts again at 1.
 *  - Acknowledgements err towards "unacknowledged": an ack cut by a power loss may be
 *    forgotten (the message is sent again; the cloud deduplicates by (epoch, seq)),
 *    but a message never reads as acknowledged unless corio_dev_outbox_ack() was called
 *    for it.
 *  - When the ring is full, an append erases the oldest sector, acknowledged or not;
 *    unacknowledged entries lost that way are added to drops, which survives reboots.
 *
 * The outbox keeps no per-message state in RAM beyond a cache of CORIO_DEV_OUTBOX_CACHE
 * recent (seq, address) pairs; everything else is read back from flash. Calls block
 * for flash operations (an erase takes tens to hundreds of ms). Not thread-safe: one
 * caller at a time. Nothing to close: the struct may simply be dropped.
 *
 * Return values follow include/corio/error.h.
 */
#ifndef CORIO_DEV_OUTBOX_H
#define CORIO_DEV_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "corio/config.h"
#include "corio/error.h"
#include "corio/flash.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Recent (seq, flash address) pairs kept to find a message for its ack without
 * scanning a sector; 8 bytes each. Size it to the MQTT in-flight window. */
#ifndef CORIO_DEV_OUTBOX_CACHE
#define CORIO_DEV_OUTBOX_CACHE 8
#endif
#if CORIO_DEV_OUTBOX_CACHE < 1 || CORIO_DEV_OUTBOX_CACHE > 255
#error "CORIO_DEV_OUTBOX_CACHE must be between 1 and 255"
#endif

/* 1: corio_dev_outbox_stats() reads every sector header (erase_min, erase_max) and
 * finds the oldest entry (oldest_seq); 0: it reports those three as 0 and reads no
 * flash, for a device whose heartbeat needs only the figures kept in RAM. */
#ifndef CORIO_DEV_OUTBOX_STATS_FLASH
#define CORIO_DEV_OUTBOX_STATS_FLASH 1
#endif

/* The on-flash format this build writes and reads (docs/sdk-outbox.md). */
#define CORIO_DEV_OUTBOX_FORMAT_VERSION 1

/* The largest sequence number; after it the outbox refuses appends (CORIO_ERR_FULL)
 * until formatted with a new epoch. */
#define CORIO_DEV_OUTBOX_SEQ_MAX 0xFFFFFFFEu

/* How a message's time is given (struct corio_dev_outbox_meta.time_kind). */
enum corio_dev_outbox_time {
    CORIO_DEV_OUTBOX_TIME_NONE = 0,      /* no time */
    CORIO_DEV_OUTBOX_TIME_UNIX_MS = 1,   /* time_ms is milliseconds since 1970-01-01 UTC */
    CORIO_DEV_OUTBOX_TIME_UPTIME_MS = 2, /* time_ms is milliseconds since boot number
                                        boot_count (a device without a clock) */
};

/* What the caller says about a message when appending it. */
struct corio_dev_outbox_meta {
    uint8_t type;        /* application's code, e.g. the topic suffix (up/cbor, up/evt) */
    uint8_t time_kind;   /* enum corio_dev_outbox_time */
    uint32_t boot_count; /* with CORIO_DEV_OUTBOX_TIME_UPTIME_MS; stored as given otherwise */
    uint64_t time_ms;    /* sample time, see time_kind */
};

/* A stored message, as read back. */
struct corio_dev_outbox_entry {
    uint32_t epoch;
    uint32_t seq;
    bool acked; /* corio_dev_outbox_ack() was recorded for it */
    struct corio_dev_outbox_meta meta;
    size_t len; /* payload length in bytes */
};

/* What corio_dev_outbox_open() found (struct corio_dev_outbox_stats.opened). */
enum corio_dev_outbox_opened {
    CORIO_DEV_OUTBOX_RECOVERED = 0,       /* an existing outbox was found and kept */
    CORIO_DEV_OUTBOX_FORMATTED_BLANK,     /* the region was erased: a new outbox */
    CORIO_DEV_OUTBOX_FORMATTED_CORRUPT,   /* no valid outbox sector: a new outbox */
    CORIO_DEV_OUTBOX_FORMATTED_FOREIGN,   /* outbox sectors of another format version or
                                         geometry only: a new outbox */
    CORIO_DEV_OUTBOX_FORMATTED_REQUESTED, /* after corio_dev_outbox_format() */
};

/* corio_dev_outbox_config.flags */
enum {
    /* Never format: open fails instead (for tools that inspect an image). */
    CORIO_DEV_OUTBOX_NO_FORMAT = 1u << 0,
};

struct corio_dev_outbox_config {
    /* The epoch a new outbox gets if open has to format. It must differ from every
     * epoch this device used before: take 32 random bits (the chance of a repeat over
     * k formats is about k^2 / 2^33) or a counter kept outside this region. 0 and
     * 0xFFFFFFFF are not epochs and are replaced by 1; an epoch still readable in
     * the region is skipped. */
    uint32_t fresh_epoch;
    uint32_t flags; /* CORIO_DEV_OUTBOX_* above */
};

/* Figures for the heartbeat and for diagnostics. */
struct corio_dev_outbox_stats {
    uint32_t epoch;
    uint32_t last_seq;       /* last sequence number assigned (0: none yet in this epoch) */
    uint32_t depth;          /* entries not acknowledged */
    uint32_t entries;        /* entries on flash, acknowledged or not */
    uint32_t drops;          /* unacknowledged entries erased to make room, in this
                                epoch, ever (persistent) */
    uint32_t oldest_seq;     /* lowest seq still stored (0 when empty) */
    uint32_t free_bytes;     /* record bytes that fit before the oldest sector must be
                                erased (a record costs its payload plus 40 to 96 bytes) */
    uint32_t capacity_bytes; /* record bytes the whole ring holds */
    uint32_t erase_min;      /* lowest and highest erase count among readable sector */
    uint32_t erase_max;      /*   headers (wear) */
    uint32_t corrupt;        /* damaged or torn records skipped by the last open */
    uint8_t opened;          /* enum corio_dev_outbox_opened */
};

/* A sector header's fields; private to the outbox. */
struct corio__ob_shdr {
    uint32_t epoch;
    uint32_t ord;   /* ordinal: sectors are numbered as they are used */
    uint32_t erase; /* erase count */
    uint32_t base;  /* lowest seq the sector may hold */
    uint32_t drops; /* drops when the sector was started */
};

/* The outbox. Caller-owned (any storage class); its fields are private. */
struct corio_dev_outbox {
    struct corio_flash flash; /* a copy of the port's description */
    uint32_t unit;            /* record alignment: max(prog_size, 4) */
    uint32_t shdr_size;       /* bytes a sector header occupies */
    uint32_t reserve;         /* bytes the head keeps free beyond each message */
    struct corio__ob_shdr hd; /* the head's header; hd.epoch is the outbox's epoch */
    uint32_t next_seq;        /* seq the next append gets */
    uint32_t head;            /* sector taking appends */
    uint32_t oldest_ord;      /* ordinal of the oldest sector still in the ring */
    uint32_t pos;             /* next write offset in the head */
    uint32_t drops;
    uint32_t depth;
    uint32_t entries;
    uint32_t unacked_hint; /* no unacknowledged entry has a lower seq */
    uint32_t corrupt;
    /* Words, not bytes: a word at a small offset is the shorter access on both the
     * Cortex-M and RISC-V compressed instruction sets. */
    uint32_t opened;
    uint32_t ready;
    uint32_t need_mark; /* the next write in the head starts with a boot mark */
    uint32_t sealed;    /* the head takes no more messages (a rotation began) */
    uint32_t cache_next;
    struct {
        uint32_t seq; /* 0: empty slot */
        uint32_t addr;
    } cache[CORIO_DEV_OUTBOX_CACHE];
};

/* A position in the outbox for corio_dev_outbox_iter_next(). Caller-owned, fields private;
 * it stays usable across appends, acks and sector erases. */
struct corio_dev_outbox_iter {
    uint32_t after; /* the next entry returned has a greater seq */
    uint32_t ord;   /* ordinal of the sector scanned, or UINT32_MAX: find by seq */
    uint32_t pos;   /* offset in that sector to continue from */
    uint32_t last;  /* last readable seq before pos in that sector */
};

/* corio_dev_outbox_iter_next() flags */
enum {
    CORIO_DEV_OUTBOX_UNACKED = 1u << 0, /* skip acknowledged entries */
};

/* Opens the outbox in the region flash describes (copied; flash->ctx must outlive
 * ob). Reads the whole region once; recovers every intact record, skips torn and
 * damaged ones, and formats a new outbox (epoch cfg->fresh_epoch) when there is no
 * valid outbox sector. Never crashes or hangs on any flash content.
 * cfg may be NULL: fresh_epoch 1, no flags.
 * Returns CORIO_OK (corio_dev_outbox_stats().opened says whether it recovered or
 * formatted, and why); CORIO_ERR_INVAL for a NULL argument or a geometry the outbox
 * cannot use (prog_size not 1..32 and a power of two, sector_size not a multiple of
 * it or too small for a header and two records, fewer than 2 sectors, a region over
 * 4 GiB); CORIO_ERR_IO when formatting failed; with CORIO_DEV_OUTBOX_NO_FORMAT, when
 * there is nothing to recover: CORIO_ERR_NOTFOUND (blank), CORIO_ERR_VERSION
 * (foreign) or CORIO_ERR_MALFORMED (corrupt). On an error ob is unusable. */
int corio_dev_outbox_open(struct corio_dev_outbox *ob, const struct corio_flash *flash,
                          const struct corio_dev_outbox_config *cfg);

/* Starts a new, empty outbox with epoch fresh_epoch (the rules of
 * corio_dev_outbox_config.fresh_epoch apply); every stored entry is abandoned, drops
 * restart at 0. Use it after CORIO_ERR_FULL or to reset a device.
 * Returns CORIO_OK, CORIO_ERR_INVAL, CORIO_ERR_STATE (ob not open), CORIO_ERR_IO. */
int corio_dev_outbox_format(struct corio_dev_outbox *ob, uint32_t fresh_epoch);

/* The largest payload an append accepts (bounded by the sector size and 65535). */
size_t corio_dev_outbox_max_payload(const struct corio_dev_outbox *ob);

/* Appends a message: len bytes of payload (copied; NULL allowed when len is 0) with
 * meta, under the next sequence number, stored in *seq (may be NULL). Erases the
 * oldest sector first when the ring is full. On CORIO_OK the message is on flash,
 * verified by reading it back, and survives any later power cut.
 * Returns CORIO_OK; CORIO_ERR_INVAL (NULL argument, time_kind unknown);
 * CORIO_ERR_NOSPACE (len over corio_dev_outbox_max_payload()); CORIO_ERR_FULL (sequence
 * numbers or sector ordinals exhausted: format); CORIO_ERR_STATE (not open);
 * CORIO_ERR_IO (the flash failed or did not verify: the message is not stored, its
 * seq may be used up and show as a gap; append it again). */
int corio_dev_outbox_append(struct corio_dev_outbox *ob, const struct corio_dev_outbox_meta *meta,
                            const uint8_t *payload, size_t len, uint32_t *seq);

/* Records that the entry with seq was acknowledged, in any order; acking an entry
 * twice is harmless. Returns CORIO_OK; CORIO_ERR_NOTFOUND (no such entry: never
 * stored, or already erased by the ring); CORIO_ERR_STATE (not open); CORIO_ERR_IO
 * (the flash failed, or an earlier ack of this entry was torn by a power cut on a port
 * that cannot program a unit twice: the entry stays unacknowledged and is resent). */
int corio_dev_outbox_ack(struct corio_dev_outbox *ob, uint32_t seq);

/* Reads the entry with seq: its metadata into *e and, when buf is not NULL, its
 * payload into buf (cap bytes, caller-owned). With buf NULL only *e is filled.
 * Returns CORIO_OK; CORIO_ERR_NOTFOUND (no such entry); CORIO_ERR_NOSPACE (cap <
 * e->len; *e is filled); CORIO_ERR_IO (the payload did not read back intact);
 * CORIO_ERR_INVAL; CORIO_ERR_STATE. */
int corio_dev_outbox_get(struct corio_dev_outbox *ob, uint32_t seq,
                         struct corio_dev_outbox_entry *e, uint8_t *buf, size_t cap);

/* Starts an iteration at the first entry with a seq greater than after (0: from the
 * oldest). */
void corio_dev_outbox_iter_init(struct corio_dev_outbox_iter *it, uint32_t after);

/* The next entry in seq order (with CORIO_DEV_OUTBOX_UNACKED: the next unacknowledged
 * one): metadata into *e, payload into buf as corio_dev_outbox_get() does. Entries
 * appended during an iteration are reached; entries erased by the ring are skipped.
 * Returns CORIO_OK (the iterator moves past the entry); CORIO_ERR_NOTFOUND (no more
 * now: the iterator stays, so a later call finds entries appended since);
 * CORIO_ERR_NOSPACE (cap < e->len; *e is filled and the iterator does not move);
 * CORIO_ERR_IO (the payload did not read back intact; the iterator moves past it);
 * CORIO_ERR_INVAL; CORIO_ERR_STATE. */
int corio_dev_outbox_iter_next(struct corio_dev_outbox *ob, struct corio_dev_outbox_iter *it,
                               unsigned flags, struct corio_dev_outbox_entry *e, uint8_t *buf,
                               size_t cap);

/* Fills *st. Reads every sector header (for the erase counts) and the oldest entry,
 * unless CORIO_DEV_OUTBOX_STATS_FLASH is 0. Returns CORIO_OK, CORIO_ERR_INVAL or
 * CORIO_ERR_STATE. */
int corio_dev_outbox_stats(struct corio_dev_outbox *ob, struct corio_dev_outbox_stats *st);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_DEV_OUTBOX_H */
