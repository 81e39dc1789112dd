/*
 * resend.c - each device's durable prefix, and after an unclean start, asking devices
 * for what a power cut may have taken.
 *
 * The outbox fsyncs its WAL every sync interval; a power cut takes the commits since
 * the last fsync, and those messages were PUBACKed, so the devices consider them
 * delivered. The plugin tracks, per device, the seq up to which every message of it has
 * been stored (seqtrack.h: a prefix, not the highest seq, because replays interleave old
 * seqs with new ones), and records it in the outbox right before each fsync. When the
 * plugin starts on an outbox its previous writer did not close (a crash or a power cut:
 * the two look alike), it reads the recorded prefixes and at each such device's next
 * message publishes a resend request (corio/v1/d/<id>/dn/resend, {1: 1, 2: epoch, 3:
 * prefix + 1}) to that client. The device publishes again what it holds from that seq
 * on; the cloud deduplicates by (device, epoch, seq). A device of which nothing is
 * recorded here (its first messages to this gateway fell in the lost interval) is asked
 * with epoch 0, {1: 1, 2: 0, 3: 1}: everything it holds. After a crash without a power
 * cut nothing was lost, and a device sends again little more than the last interval.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>

#include "corio/device.h"
#include "corio/error.h"
#include "devtable.h"
#include "plugin_int.h"
#include "seqtrack.h"

struct entry {
    char device[CORIO_SHORT_ID_LEN + 1]; /* "" when empty */
    uint64_t epoch, seq;
    bool asked;
};

struct corio_resend_table {
    struct corio_devtable entries; /* of struct entry */
    uint64_t pending;              /* entries not asked yet */
};

struct fold {
    struct corio_resend_table *t; /* NULL: only the tracker takes it */
    corio_seqtrack *track;
    bool failed;
};

/* One recorded prefix: the tracker's start, and after an unclean start, a request. */
static void fold(void *arg, const char *device, uint64_t epoch, uint64_t seq)
{
    struct fold *f = arg;
    if (f->track && corio_seqtrack_load(f->track, device, epoch, seq) != CORIO_OK)
        f->failed = true;
    struct corio_resend_table *t = f->t;
    if (!t)
        return;
    if (strlen(device) != CORIO_SHORT_ID_LEN)
        return;
    bool added;
    struct entry *e = corio_devtable_get(&t->entries, device, &added);
    if (!e) {
        f->failed = true;
        return;
    }
    if (added) {
        e->epoch = epoch;
        e->seq = seq;
        return;
    }
    if (e->epoch != epoch) {
        e->epoch = epoch;
        e->seq = seq;
    } else if (seq > e->seq) {
        e->seq = seq;
    }
}

int corio__resend_init(struct corio_plugin *p)
{
    p->track = corio_seqtrack_new();
    if (!p->track)
        return CORIO_ERR_NOSPACE;
    struct corio_resend_table *t = NULL;
    if (!corio_outbox_was_clean(p->outbox)) {
        if (!(t = calloc(1, sizeof *t)))
            return CORIO_ERR_NOSPACE;
        corio_devtable_init(&t->entries, sizeof(struct entry), CORIO_SHORT_ID_LEN + 1);
    }
    struct fold f = {t, p->track, false};
    int n = corio_outbox_device_seqs(p->outbox, fold, &f);
    if (n < 0 || f.failed) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "corio: cannot read what the outbox holds of each "
                                           "device; no device will be asked to resend");
        if (t)
            corio_devtable_free(&t->entries);
        free(t);
        return n < 0 ? n : CORIO_ERR_NOSPACE;
    }
    if (!t)
        return CORIO_OK;
    t->pending = t->entries.count;
    p->resend = t;
    mosquitto_log_printf(MOSQ_LOG_WARNING,
                         "corio: the outbox was not closed cleanly (a crash or a power cut): "
                         "every device will be asked at its next message to resend what the "
                         "last %" PRId64 " ms may have lost (%zu known here)",
                         p->sync_ms, t->entries.count);
    return CORIO_OK;
}

void corio__resend_check(struct corio_plugin *p, const char *device)
{
    struct corio_resend_table *t = p->resend;
    if (!t)
        return;
    struct entry *e = corio_devtable_find(&t->entries, device);
    if (e && e->asked)
        return;
    if (!e) {
        /* Nothing of it is durable here: the cut may have taken all it sent. Ask for all
         * it holds (epoch 0 is nobody's: the device sends every acknowledged entry). */
        struct fold f = {t, NULL, false};
        fold(&f, device, 0, 0);
        if (f.failed || !(e = corio_devtable_find(&t->entries, device)))
            return;
    } else {
        t->pending--;
    }
    e->asked = true;
    uint8_t payload[32];
    char topic[64];
    int n = corio_device_resend_encode(e->epoch, e->seq + 1, payload, sizeof payload);
    snprintf(topic, sizeof topic, "corio/v1/d/%s/dn/resend", device);
    /* Straight to that client, whatever it subscribed to. */
    if (n < 0 || mosquitto_broker_publish_copy(device, topic, n, payload, 1, false, NULL) !=
                     MOSQ_ERR_SUCCESS) {
        mosquitto_log_printf(MOSQ_LOG_WARNING, "corio: cannot ask %s to resend from seq %" PRIu64,
                             device, e->seq + 1);
        return;
    }
    p->resend_requests++;
    mosquitto_log_printf(MOSQ_LOG_NOTICE, "corio: asked %s to resend epoch %" PRIu64
                         " from seq %" PRIu64, device, e->epoch, e->seq + 1);
}

uint64_t corio__resend_pending(const struct corio_plugin *p)
{
    return p->resend ? p->resend->pending : 0;
}

void corio__resend_note(struct corio_plugin *p, const char *device, uint64_t epoch,
                        uint64_t seq)
{
    if (p->track && seq)
        corio_seqtrack_note(p->track, device, epoch, seq); /* a failure only asks more later */
}

int corio__resend_record(struct corio_plugin *p)
{
    return p->track ? corio_seqtrack_write(p->track, p->outbox) : CORIO_OK;
}

void corio__resend_cleanup(struct corio_plugin *p)
{
    corio_seqtrack_free(p->track);
    p->track = NULL;
    if (!p->resend)
        return;
    corio_devtable_free(&p->resend->entries);
    free(p->resend);
    p->resend = NULL;
}
