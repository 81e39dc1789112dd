/*
 * seqtrack.h - each device's durable prefix, as the plugin sees its messages arrive: the
 * seq up to which every message of the device (in its current outbox epoch) has been
 * stored in the gateway outbox.
 *
 * Why a prefix and not the highest seq: after a resend request a device publishes old
 * seqs again while it also publishes new ones, so what a power cut takes of a device is
 * not always its highest seqs; a cut in the middle of a replay leaves newer seqs durable
 * above a hole. Asking from the highest durable seq would leave that hole for ever;
 * asking from the prefix covers it (what the device sends again above it is deduplicated
 * by the cloud).
 *
 * The plugin notes every stored message that carries a seq, and writes what changed into
 * the outbox (corio_outbox_put_seqs) right before each sync, so the recorded prefix never
 * claims more than the sync made durable. Seqs more than CORIO_SEQTRACK_WINDOW above the
 * prefix move it up regardless (the holes below are older than any device keeps).
 */
#ifndef CORIO_GATEWAY_SEQTRACK_H
#define CORIO_GATEWAY_SEQTRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "outbox.h"

#define CORIO_SEQTRACK_WINDOW 512

typedef struct corio_seqtrack corio_seqtrack;

/* Returns a new, empty tracker, or NULL when out of memory. */
corio_seqtrack *corio_seqtrack_new(void);
void corio_seqtrack_free(corio_seqtrack *t);

/* Takes a recorded prefix (from corio_outbox_device_seqs) as the device's start: not
 * dirty. Returns CORIO_OK or CORIO_ERR_NOSPACE. */
int corio_seqtrack_load(corio_seqtrack *t, const char *device, uint64_t epoch, uint64_t seq);

/*
 * A stored message of device (not NULL, at most 64 bytes) with its (epoch, seq): seq >= 1,
 * both at most INT64_MAX (else CORIO_ERR_INVAL).
 * A device seen for the first time, or in a new epoch, starts with the prefix just below
 * this seq (what came before is not this gateway's to know). Returns CORIO_OK or
 * CORIO_ERR_NOSPACE (the message is then not counted: the prefix stays lower, which only
 * makes a later resend request ask for more).
 */
int corio_seqtrack_note(corio_seqtrack *t, const char *device, uint64_t epoch, uint64_t seq);

/* The device's prefix: true with *epoch and *seq when the device is known. */
bool corio_seqtrack_get(const corio_seqtrack *t, const char *device, uint64_t *epoch,
                        uint64_t *seq);

/* Writes every prefix that changed since the last call into ob, in one transaction.
 * Returns CORIO_OK (they are clean now) or a negative corio_err (they stay dirty). */
int corio_seqtrack_write(corio_seqtrack *t, corio_outbox *ob);

/* Devices known. */
size_t corio_seqtrack_count(const corio_seqtrack *t);

#endif /* CORIO_GATEWAY_SEQTRACK_H */
