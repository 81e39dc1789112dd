/*
 * resend.c - after an unclean start, ask devices for what a power cut may have taken.
 *
 * The outbox fsyncs its WAL every sync interval; a power cut takes the commits since
 * the last fsync, and those messages were PUBACKed, so the devices consider them
 * delivered. When the plugin starts on an outbox its previous writer did not close (a
 * crash or a power cut: the two look alike), it reads what the outbox holds durably of
 * each device - the highest (epoch, seq) among its rows and among the rows already
 * forwarded - and at each such device's next message publishes a resend request
 * (corio/v1/d/<id>/dn/resend, {1: 1, 2: epoch, 3: seq + 1}) to that client. The device
 * publishes again what it holds from that seq on; the cloud deduplicates by
 * (device, epoch, seq). A device of which nothing is durable here (its first messages
 * to this gateway fell in the lost interval) is asked with epoch 0, {1: 1, 2: 0, 3: 1}:
 * everything it holds. After a crash without a power cut nothing was lost, and a device
 * has nothing above that seq but what it was sending anyway.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>

#include "corio/device.h"
#include "corio/error.h"
#include "plugin_int.h"

struct entry {
    char device[CORIO_SHORT_ID_LEN + 1]; /* "" when empty */
    uint64_t epoch, seq;
    bool asked;
};

struct corio_resend_table {
    struct entry *slots;
    size_t cap, count;
    uint64_t pending; /* entries not asked yet */
};

static size_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    while (*s)
        h = (h ^ (uint8_t)*s++) * 1099511628211ULL;
    return (size_t)h;
}

static struct entry *find(struct corio_resend_table *t, const char *device)
{
    if (!t->cap)
        return NULL;
    size_t j = hash(device) & (t->cap - 1);
    while (t->slots[j].device[0]) {
        if (strcmp(t->slots[j].device, device) == 0)
            return &t->slots[j];
        j = (j + 1) & (t->cap - 1);
    }
    return NULL;
}

static bool grow(struct corio_resend_table *t)
{
    size_t cap = t->cap ? t->cap * 2 : 256;
    struct entry *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return false;
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->slots[i].device[0])
            continue;
        size_t j = hash(t->slots[i].device) & (cap - 1);
        while (slots[j].device[0])
            j = (j + 1) & (cap - 1);
        slots[j] = t->slots[i];
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return true;
}

struct fold {
    struct corio_resend_table *t;
    bool failed;
};

/* A later call for a device is newer (outbox.h): a new epoch replaces, else the max. */
static void fold(void *arg, const char *device, uint64_t epoch, uint64_t seq)
{
    struct fold *f = arg;
    struct corio_resend_table *t = f->t;
    if (strlen(device) != CORIO_SHORT_ID_LEN)
        return;
    struct entry *e = find(t, device);
    if (!e) {
        if ((t->count + 1) * 10 > t->cap * 7 && !grow(t)) {
            f->failed = true;
            return;
        }
        size_t j = hash(device) & (t->cap - 1);
        while (t->slots[j].device[0])
            j = (j + 1) & (t->cap - 1);
        e = &t->slots[j];
        memcpy(e->device, device, CORIO_SHORT_ID_LEN + 1);
        e->epoch = epoch;
        e->seq = seq;
        t->count++;
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
    if (corio_outbox_was_clean(p->outbox))
        return CORIO_OK;
    struct corio_resend_table *t = calloc(1, sizeof *t);
    if (!t)
        return CORIO_ERR_NOSPACE;
    struct fold f = {t, false};
    int n = corio_outbox_device_seqs(p->outbox, fold, &f);
    if (n < 0 || f.failed) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "corio: cannot read what the outbox holds of each "
                                           "device; no device will be asked to resend");
        free(t->slots);
        free(t);
        return n < 0 ? n : CORIO_ERR_NOSPACE;
    }
    t->pending = t->count;
    p->resend = t;
    mosquitto_log_printf(MOSQ_LOG_WARNING,
                         "corio: the outbox was not closed cleanly (a crash or a power cut): "
                         "every device will be asked at its next message to resend what the "
                         "last %" PRId64 " ms may have lost (%zu known here)",
                         p->sync_ms, t->count);
    return CORIO_OK;
}

void corio__resend_check(struct corio_plugin *p, const char *device)
{
    struct corio_resend_table *t = p->resend;
    if (!t)
        return;
    struct entry *e = find(t, device);
    if (e && e->asked)
        return;
    if (!e) {
        /* Nothing of it is durable here: the cut may have taken all it sent. Ask for all
         * it holds (epoch 0 is nobody's: the device sends every acknowledged entry). */
        struct fold f = {t, false};
        fold(&f, device, 0, 0);
        if (f.failed || !(e = find(t, device)))
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

void corio__resend_cleanup(struct corio_plugin *p)
{
    if (!p->resend)
        return;
    free(p->resend->slots);
    free(p->resend);
    p->resend = NULL;
}
