/*
 * ota_store.h - what over-the-air updates keep on a device's flash: two image slots
 * (A and B), and beside them a small metadata store holding the trust anchors (the
 * OTA signing keys, the gateway's TLS CA: small, versioned records), the
 * anti-rollback counter (monotonic: it never goes down, whatever a power cut does),
 * and the boot state that a bootloader and the application share (try a new slot a
 * few times, confirm it, or fall back to the one that worked).
 *
 * The flash port describes three regions (flash.h): each slot, and the metadata. The
 * metadata region is split into two halves that take turns; docs/sdk-ota-store.md
 * gives the format and why no power cut can lose a confirmed state or lower the
 * counter. Every write is read back before the call returns CORIO_OK; a call that
 * returns an error (or is cut short) may or may not have taken effect, and a later
 * open shows one or the other, never a mix.
 *
 * The boot state machine (a bootloader calls corio_ota_boot_select() at reset):
 *
 *     CONFIRMED(active) ── corio_ota_boot_try(slot, tries) ──▶ TRYING(trial, tries)
 *     TRYING ── select: tries left ──▶ TRYING(tries - 1), boots trial
 *     TRYING ── select: no tries left ──▶ CONFIRMED(active, reverted), boots active
 *     TRYING ── the application: corio_ota_boot_confirm() ──▶ CONFIRMED(trial)
 *
 * A bootloader built with the SDK links this file and a flash port only. Everything
 * is caller-owned; nothing allocates; flash calls block as the port's do. Not
 * thread-safe. Return values follow include/corio/error.h.
 */
#ifndef CORIO_OTA_STORE_H
#define CORIO_OTA_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "corio/config.h"
#include "corio/crypto.h"
#include "corio/error.h"
#include "corio/flash.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Trust anchors the store keeps (ids 0 .. CORIO_OTA_MAX_ANCHORS - 1). */
#ifndef CORIO_OTA_MAX_ANCHORS
#define CORIO_OTA_MAX_ANCHORS 4
#endif
/* The largest anchor (bytes of data): an ES256 key is 65, a CA certificate in DER a
 * few hundred. Every anchor must also fit a half of the metadata region together. */
#ifndef CORIO_OTA_ANCHOR_MAX
#define CORIO_OTA_ANCHOR_MAX 1024
#endif
#if CORIO_OTA_MAX_ANCHORS < 1 || CORIO_OTA_MAX_ANCHORS > 255
#error "CORIO_OTA_MAX_ANCHORS must be between 1 and 255"
#endif
#if CORIO_OTA_ANCHOR_MAX < 1 || CORIO_OTA_ANCHOR_MAX > 65000
#error "CORIO_OTA_ANCHOR_MAX must be between 1 and 65000"
#endif

/* The image slots. */
enum corio_ota_slot { CORIO_OTA_SLOT_A = 0, CORIO_OTA_SLOT_B = 1 };

/* What an anchor is (corio_ota_anchor_put()'s kind; the store keeps it, it does not
 * interpret the data). */
enum corio_ota_anchor_kind {
    CORIO_OTA_ANCHOR_ES256 = 1, /* an uncompressed P-256 public key (65 bytes) */
    CORIO_OTA_ANCHOR_X509 = 2,  /* a CA certificate, DER */
    CORIO_OTA_ANCHOR_RAW = 3,   /* anything else the application trusts */
};

/* The flash regions the port gives (copied at open; their ctx stays borrowed). The
 * metadata region needs an even number of sectors, at least two, each a multiple of
 * max(prog_size, 16) bytes; its halves must hold every anchor at once plus about 100
 * bytes. */
struct corio_ota_layout {
    struct corio_flash slot[2];
    struct corio_flash meta;
};

/* What corio_ota_open() found (corio_ota_store.opened). */
enum corio_ota_opened {
    CORIO_OTA_OPENED = 0, /* a valid state */
    CORIO_OTA_BLANK,      /* erased: a first boot; the state is the default */
    CORIO_OTA_CORRUPT,    /* written, but no valid state: the default (counter 0!);
                             never the result of a power cut, only of damage */
};

/* The boot state. */
enum corio_ota_boot_state {
    CORIO_OTA_CONFIRMED = 1, /* `active` runs */
    CORIO_OTA_TRYING = 2,    /* `trial` is being tried, tries_left more boots */
};

struct corio_ota_boot {
    uint8_t state;      /* enum corio_ota_boot_state */
    uint8_t active;     /* the confirmed slot */
    uint8_t trial;      /* TRYING: the slot under trial */
    uint8_t tries_left; /* TRYING: boots of trial left before falling back */
    bool reverted;      /* CONFIRMED: the last trial fell back (its slot never confirmed) */
};

/* One anchor as corio_ota_anchor_get() reports it. */
struct corio_ota_anchor_info {
    uint8_t kind;     /* enum corio_ota_anchor_kind */
    uint32_t version; /* the version it was stored with */
    size_t len;       /* bytes of data */
};

/* The store. Caller-owned; fields private. */
struct corio_ota_store {
    struct corio_ota_layout lay;
    uint32_t unit;     /* record alignment: max(prog_size, 16) */
    uint32_t half;     /* bytes per half of the metadata region */
    uint32_t gen;      /* the active half's generation */
    uint32_t pos;      /* next append offset in the active half */
    uint32_t next_seq; /* sequence number of the next record */
    uint32_t rollback; /* the anti-rollback counter */
    uint8_t active;    /* the half holding the state (0 or 1) */
    uint8_t opened;    /* enum corio_ota_opened */
    bool valid;        /* the active half holds a valid state */
    bool fresh;        /* this session wrote the active half: appends may go there */
    struct corio_ota_boot boot;
    struct {
        uint32_t addr; /* offset of its record in the active half; 0: absent */
        uint32_t version;
        uint16_t len;
        uint8_t kind;
    } anchors[CORIO_OTA_MAX_ANCHORS];
};

/*
 * Opens the store over layout: reads the metadata region (both halves) and takes the
 * state of the valid half with the greater generation. Writes nothing (a bootloader
 * may open read-only). s->opened says what was found. Returns CORIO_OK (also for a
 * blank or corrupt region: the default state, counter 0, boot CONFIRMED on slot A);
 * CORIO_ERR_INVAL (NULL, a missing port function, an odd or too small metadata region,
 * a bad sector size, an empty slot); CORIO_ERR_IO (the flash could not be read).
 */
int corio_ota_open(struct corio_ota_store *s, const struct corio_ota_layout *layout);

/* ---- trust anchors ---- */

/*
 * Stores anchor id (0 .. CORIO_OTA_MAX_ANCHORS - 1) of kind with version and data
 * (len 1 .. CORIO_OTA_ANCHOR_MAX bytes, copied). Versions only go up: a version not
 * above the stored one is refused, so an old anchor cannot be replayed. len 0 removes
 * the anchor (data may be NULL); its version stays, so a later put must exceed it.
 * Returns
 * CORIO_OK; CORIO_ERR_INVAL (arguments, unknown kind); CORIO_ERR_POLICY (version not
 * above the stored one); CORIO_ERR_NOSPACE (the anchors would not fit a half of the
 * metadata region); CORIO_ERR_IO (the flash failed: stored or not).
 */
int corio_ota_anchor_put(struct corio_ota_store *s, uint8_t id, uint8_t kind, uint32_t version,
                         const uint8_t *data, size_t len);

/*
 * Reads anchor id into buf (cap bytes; buf may be NULL with cap 0 to ask for info
 * only) and *info (may be NULL). The record is checked again (CRC) on the way.
 * Returns the data's length; CORIO_ERR_NOTFOUND (no such anchor); CORIO_ERR_NOSPACE
 * (buf too small; *info is set); CORIO_ERR_INVAL; CORIO_ERR_IO (unreadable or no longer
 * valid on flash).
 */
int corio_ota_anchor_get(const struct corio_ota_store *s, uint8_t id,
                         struct corio_ota_anchor_info *info, uint8_t *buf, size_t cap);

/* ---- the anti-rollback counter ---- */

/* The counter (0 on a new store). */
uint32_t corio_ota_rollback(const struct corio_ota_store *s);

/*
 * Raises the counter to value: an image whose security version is below the counter
 * must not run (the bootloader's and the OTA client's check). Returns CORIO_OK (also
 * when value equals the counter: nothing is written); CORIO_ERR_POLICY when value is
 * below it; CORIO_ERR_INVAL; CORIO_ERR_NOSPACE (only on a region whose anchors fill a
 * half: remove one); CORIO_ERR_IO (the flash failed: raised or not, and a later open
 * shows the old value or value, never less than the old one).
 */
int corio_ota_rollback_raise(struct corio_ota_store *s, uint32_t value);

/* ---- the boot state ---- */

/* Copies the boot state into *b. Returns CORIO_OK or CORIO_ERR_INVAL. */
int corio_ota_boot_get(const struct corio_ota_store *s, struct corio_ota_boot *b);

/*
 * The application installed a verified image into slot: the bootloader is to boot it
 * at most tries (1..255) times until it is confirmed. Returns CORIO_OK;
 * CORIO_ERR_INVAL (slot is the active one, tries 0, arguments); CORIO_ERR_STATE (a
 * trial is already running); CORIO_ERR_NOSPACE (as corio_ota_rollback_raise());
 * CORIO_ERR_IO.
 */
int corio_ota_boot_try(struct corio_ota_store *s, uint8_t slot, uint8_t tries);

/*
 * The running trial image works: TRYING(trial) becomes CONFIRMED(trial). Returns
 * CORIO_OK (also when already CONFIRMED: nothing changes); CORIO_ERR_INVAL;
 * CORIO_ERR_NOSPACE (as corio_ota_rollback_raise()); CORIO_ERR_IO (confirmed or not:
 * the bootloader may boot the trial again while it has tries left).
 */
int corio_ota_boot_confirm(struct corio_ota_store *s);

/*
 * The bootloader's decision at reset: *slot is the slot to boot. For TRYING with
 * tries left it first records one try fewer; without tries left it falls back to the
 * active slot (CONFIRMED, reverted). If that record cannot be written it boots the
 * active slot (a trial it cannot count is not a trial) and returns that error
 * (CORIO_ERR_IO, or CORIO_ERR_NOSPACE as corio_ota_rollback_raise()) with *slot set.
 * Returns CORIO_OK; CORIO_ERR_INVAL; CORIO_ERR_IO; CORIO_ERR_NOSPACE.
 */
int corio_ota_boot_select(struct corio_ota_store *s, uint8_t *slot);

/* ---- the image slots ---- */

/* An image being written into a slot: sequential writes of any length. Caller-owned,
 * fields private. */
struct corio_ota_writer {
    struct corio_ota_store *s;
    uint8_t slot;
    uint32_t off;    /* bytes programmed */
    uint32_t fill;   /* bytes waiting in buf */
    uint8_t buf[32]; /* a partial program unit */
};

/* Erases slot (every sector of its region) and starts writing at its offset 0.
 * Refuses, with CORIO_ERR_STATE, the active slot while CONFIRMED and either slot
 * while TRYING (one runs, the other is the fallback). Returns CORIO_OK,
 * CORIO_ERR_INVAL or CORIO_ERR_IO. */
int corio_ota_write_begin(struct corio_ota_store *s, struct corio_ota_writer *w, uint8_t slot);

/* Appends len bytes of data (copied). Returns CORIO_OK, CORIO_ERR_NOSPACE (past the
 * slot's end), CORIO_ERR_INVAL or CORIO_ERR_IO. */
int corio_ota_write(struct corio_ota_writer *w, const uint8_t *data, size_t len);

/* Programs the last partial unit (padded with 0xFF) and returns the image length, or
 * CORIO_ERR_IO. */
int corio_ota_write_end(struct corio_ota_writer *w);

/* Reads len bytes at off of slot into buf. Returns CORIO_OK, CORIO_ERR_INVAL (beyond
 * the slot) or CORIO_ERR_IO. */
int corio_ota_slot_read(const struct corio_ota_store *s, uint8_t slot, uint32_t off, uint8_t *buf,
                        size_t len);

/* SHA-256 of the first len bytes of slot as they are on flash (what an OTA client
 * compares with the signed digest before corio_ota_boot_try()). Returns CORIO_OK,
 * CORIO_ERR_INVAL, CORIO_ERR_IO or the backend's errors. */
int corio_ota_slot_hash(const struct corio_ota_store *s, uint8_t slot, uint32_t len,
                        const struct corio_crypto_ops *ops, uint8_t digest[CORIO_SHA256_LEN]);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_OTA_STORE_H */
