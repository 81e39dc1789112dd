/*
 * device_sample.c - recording values (include/corio/device.h): a pack is encoded
 * straight into the caller's pack buffer, its first record stamped with the outbox
 * epoch and the seq the append will give it, and committed to the outbox before any
 * publish.
 *
 * The seq is known before the append because the outbox hands out seqs one by one
 * (last_seq + 1), and nothing else appends while a pack is open; the device tracks it
 * and re-reads it from the outbox after a failed append (which may use one up).
 */
#include <string.h>

#include "device_int.h"

int corio_device_begin(struct corio_device *d)
{
    if (!d)
        return CORIO_ERR_INVAL;
    if (d->pack_open)
        return CORIO_ERR_STATE;
    if (d->next_seq == 0 || d->next_seq > CORIO_DEV_OUTBOX_SEQ_MAX)
        return CORIO_ERR_FULL;
    uint64_t up = corio__dev_tick(d);
    size_t cap = corio_dev_outbox_max_payload(&d->ob);
    if (cap > d->pack_len)
        cap = d->pack_len;
    corio_senml_enc_init(&d->enc, (enum corio_format)d->format, d->pack, cap);
    struct corio_senml_ext x;
    memset(&x, 0, sizeof x);
    x.has_seq = true;
    x.ep = d->epoch;
    x.seq = d->next_seq;
    if (d->has_time) {
        d->pack_time_kind = CORIO_DEV_OUTBOX_TIME_UNIX_MS;
        d->pack_time_ms = d->time_base + up;
    } else {
        x.has_boot = true;
        x.boot = d->store.boot;
        x.upt = up;
        d->pack_time_kind = CORIO_DEV_OUTBOX_TIME_UPTIME_MS;
        d->pack_time_ms = up;
    }
    int rc = corio_senml_enc_ext(&d->enc, &x);
    if (rc != CORIO_OK)
        return rc;
    d->pack_seq = d->next_seq;
    d->pack_records = 0;
    d->pack_open = true;
    return CORIO_OK;
}

/* Adds a record; the first one also carries the base name and the time. A record the
 * encoder refuses leaves the pack as it was: the encoder is plain data, so a copy taken
 * before is the state before. */
static int add(struct corio_device *d, struct corio_senml_fields *f)
{
    if (!d || !f->n)
        return CORIO_ERR_INVAL;
    if (!d->pack_open)
        return CORIO_ERR_STATE;
    if (d->pack_records == 0) {
        f->bn = d->bn;
        if (d->pack_time_kind == CORIO_DEV_OUTBOX_TIME_UNIX_MS) {
            f->has |= CORIO_SENML_HAS_BT;
            f->bt = (double)d->pack_time_ms / 1000.0;
        }
    }
    struct corio_senml_enc before = d->enc;
    int rc = corio_senml_enc_add(&d->enc, f);
    if (rc != CORIO_OK) {
        d->enc = before;
        return rc;
    }
    d->pack_records++;
    return CORIO_OK;
}

int corio_device_add_number(struct corio_device *d, const char *name, const char *unit, double v)
{
    struct corio_senml_fields f;
    memset(&f, 0, sizeof f);
    f.n = name;
    f.u = unit;
    f.type = CORIO_SENML_NUMBER;
    f.v = v;
    return add(d, &f);
}

int corio_device_add_string(struct corio_device *d, const char *name, const char *unit,
                            const char *s)
{
    if (!s)
        return CORIO_ERR_INVAL;
    struct corio_senml_fields f;
    memset(&f, 0, sizeof f);
    f.n = name;
    f.u = unit;
    f.type = CORIO_SENML_STRING;
    f.vs = s;
    f.vs_len = strlen(s);
    return add(d, &f);
}

int corio_device_add_bool(struct corio_device *d, const char *name, const char *unit, bool v)
{
    struct corio_senml_fields f;
    memset(&f, 0, sizeof f);
    f.n = name;
    f.u = unit;
    f.type = CORIO_SENML_BOOL;
    f.vb = v;
    return add(d, &f);
}

/* After a failed append the outbox may have used a seq up: ask it. */
static void resync(struct corio_device *d)
{
    struct corio_dev_outbox_stats os;
    if (corio_dev_outbox_stats(&d->ob, &os) == CORIO_OK)
        d->next_seq = os.last_seq + 1u;
}

int corio_device_commit(struct corio_device *d, uint32_t *seq)
{
    if (!d)
        return CORIO_ERR_INVAL;
    if (!d->pack_open)
        return CORIO_ERR_STATE;
    if (d->pack_records == 0)
        return CORIO_ERR_INVAL;
    d->pack_open = false;
    int n = corio_senml_enc_finish(&d->enc);
    if (n < 0)
        return n;
    struct corio_dev_outbox_meta m;
    memset(&m, 0, sizeof m);
    m.type = d->format == CORIO_FORMAT_JSON ? CORIO_TOPIC_UP_JSON : CORIO_TOPIC_UP_CBOR;
    m.time_kind = d->pack_time_kind;
    m.boot_count = d->store.boot;
    m.time_ms = d->pack_time_ms;
    uint32_t s;
    int rc = corio_dev_outbox_append(&d->ob, &m, d->pack, (size_t)n, &s);
    if (rc != CORIO_OK) {
        resync(d);
        return rc;
    }
    d->next_seq = s + 1u;
    if (s != d->pack_seq) {
        /* The pack names another seq than the outbox gave it. The outbox's contract
         * rules this out; should it happen, the entry is marked acknowledged so that a
         * pack with a wrong identity never leaves the device. */
        (void)corio_dev_outbox_ack(&d->ob, s);
        return CORIO_ERR_STATE;
    }
    d->st.produced++;
    if (seq)
        *seq = s;
    corio__dev_pump(d);
    return CORIO_OK;
}

void corio_device_abort(struct corio_device *d)
{
    if (d)
        d->pack_open = false;
}
