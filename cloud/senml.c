/*
 * senml.c - SenML packs (JSON and CBOR) as ingest stores them, over the SDK's decoder
 * (include/corio/senml.h, docs/senml.md).
 *
 * The SDK resolves each record (RFC 8428 §4.6) and refuses what is not SenML; this file
 * adds what storage needs on top:
 *   - all or nothing: every record is resolved and checked before the caller stores
 *     any, so one bad record rejects the whole message;
 *   - names: the prefix "urn:corio:<device>:" is removed; a name under another
 *     device's URN is refused (a device speaks only for itself); what is left is the
 *     metric, at most CORIO_METRIC_MAX bytes;
 *   - times: relative ones (below 2^28 s) resolve against the gateway's receive time;
 *     the result must lie between 1970 and 9999;
 *   - a record with a sum and no value stores the sum as its number;
 *   - units are printable ASCII of at most CORIO_UNIT_MAX bytes; strings and data at
 *     most CORIO_SENML_MAX_STR bytes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud_int.h"
#include "corio/error.h"
#include "corio/senml.h"

#define TIME_MAX_S 253402300799.0 /* 9999-12-31T23:59:59Z */

bool corio__cloud_senml_name_ok(const char *s, size_t len)
{
    return corio_senml_name_valid(s, len);
}

void corio__cloud_senml_pack_free(struct corio__cloud_senml_pack *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        free(p->recs[i].own);
    free(p->recs);
    memset(p, 0, sizeof *p);
}

static bool unit_ok(const char *u, size_t len)
{
    if (len > CORIO_UNIT_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (u[i] < 0x21 || u[i] > 0x7e)
            return false;
    return true;
}

/* The metric of a resolved name, or NULL with why set. */
static const char *metric_of(const char *name, size_t len, const char *device, uint32_t i,
                             char *why, size_t whylen)
{
    char own[sizeof "urn:corio:" + CORIO_ID_LEN + 1];
    int ol = snprintf(own, sizeof own, "urn:corio:%s:", device);
    const char *metric = name;
    if (len >= (size_t)ol && memcmp(name, own, (size_t)ol) == 0) {
        metric = name + ol;
    } else if (len >= 10 && memcmp(name, "urn:corio:", 10) == 0) {
        snprintf(why, whylen, "record %u: name '%.64s' belongs to another device", i, name);
        return NULL;
    }
    size_t ml = len - (size_t)(metric - name);
    if (ml == 0 || ml > CORIO_METRIC_MAX || !corio_senml_name_valid(metric, ml)) {
        snprintf(why, whylen, "record %u: metric name '%.64s' is empty, too long or invalid", i,
                 metric);
        return NULL;
    }
    return metric;
}

/* Converts one resolved record; CORIO_OK, CORIO_ERR_MALFORMED (why set) or NOSPACE. */
static int take_record(const struct corio_senml_record *r, const char *device, int64_t recv_ms,
                       struct corio__cloud_senml_rec *out, char *why, size_t whylen)
{
    const char *metric = metric_of(r->name, r->name_len, device, r->index, why, whylen);
    if (!metric)
        return CORIO_ERR_MALFORMED;
    memcpy(out->name, metric, strlen(metric) + 1);
    if (!unit_ok(r->unit, r->unit_len)) {
        snprintf(why, whylen, "record %u: bad unit", r->index);
        return CORIO_ERR_MALFORMED;
    }
    memcpy(out->unit, r->unit, r->unit_len);
    out->unit[r->unit_len] = 0;

    double ms = r->time_relative ? (double)recv_ms + r->time * 1000.0 : r->time * 1000.0;
    if (!isfinite(ms) || ms < 0 || ms > TIME_MAX_S * 1000.0) {
        snprintf(why, whylen, "record %u: time out of range", r->index);
        return CORIO_ERR_MALFORMED;
    }
    out->t_ms = llround(ms);
    out->rel = r->time_relative;

    const void *bytes = NULL;
    size_t n = 0;
    switch (r->type) {
    case CORIO_SENML_NONE: /* a sum only: the SDK refuses a record with neither */
        out->value = (struct corio_value){.kind = CORIO_VALUE_NUM, .num = r->sum};
        break;
    case CORIO_SENML_NUMBER:
        out->value = (struct corio_value){.kind = CORIO_VALUE_NUM, .num = r->v};
        break;
    case CORIO_SENML_BOOL:
        out->value = (struct corio_value){.kind = CORIO_VALUE_BOOL, .b = r->vb};
        break;
    case CORIO_SENML_STRING:
        out->value = (struct corio_value){.kind = CORIO_VALUE_STR};
        bytes = r->vs;
        n = r->vs_len;
        break;
    case CORIO_SENML_DATA:
        out->value = (struct corio_value){.kind = CORIO_VALUE_DATA};
        bytes = r->vd;
        n = r->vd_len;
        break;
    }
    if (out->value.kind == CORIO_VALUE_NUM && !isfinite(out->value.num)) {
        snprintf(why, whylen, "record %u: value out of range", r->index);
        return CORIO_ERR_MALFORMED;
    }
    if (out->value.kind == CORIO_VALUE_STR || out->value.kind == CORIO_VALUE_DATA) {
        if (n > CORIO_SENML_MAX_STR) {
            snprintf(why, whylen, "record %u: %s value longer than %d bytes", r->index,
                     out->value.kind == CORIO_VALUE_STR ? "string" : "data", CORIO_SENML_MAX_STR);
            return CORIO_ERR_MALFORMED;
        }
        /* The record's strings live only until the next record: keep a copy. */
        if (!(out->own = malloc(n ? n : 1)))
            return CORIO_ERR_NOSPACE;
        if (n)
            memcpy(out->own, bytes, n);
        out->value.len = n;
        if (out->value.kind == CORIO_VALUE_STR)
            out->value.str = (const char *)out->own;
        else
            out->value.data = out->own;
    }
    return CORIO_OK;
}

int corio__cloud_senml_decode(enum corio__cloud_senml_format fmt, const uint8_t *buf, size_t len,
                              const char *device, int64_t recv_ms,
                              struct corio__cloud_senml_pack *p, char *why, size_t whylen)
{
    memset(p, 0, sizeof *p);
    /* Scratch for names and unescaped or decoded strings: never more than the message. */
    size_t cap = len + CORIO_SENML_MAX_NAME + 1;
    char *scratch = malloc(cap);
    if (!scratch) {
        snprintf(why, whylen, "out of memory");
        return CORIO_ERR_NOSPACE;
    }
    struct corio_senml_dec d;
    why[0] = 0;
    bool oom = false;
    int rc = corio_senml_dec_init(
        &d, fmt == CORIO__CLOUD_SENML_CBOR ? CORIO_FORMAT_CBOR : CORIO_FORMAT_JSON, buf, len,
        scratch, cap);
    size_t n = 0, alloc = 0;
    struct corio_senml_record r;
    while (rc == CORIO_OK && (rc = corio_senml_dec_next(&d, &r)) == 1) {
        if (n == alloc) {
            size_t na = alloc ? alloc * 2 : 8;
            void *np = realloc(p->recs, na * sizeof *p->recs);
            if (!np) {
                oom = true;
                break;
            }
            p->recs = np;
            alloc = na;
        }
        memset(&p->recs[n], 0, sizeof p->recs[n]);
        p->n = ++n; /* so that a failure frees what this record allocated */
        rc = take_record(&r, device, recv_ms, &p->recs[n - 1], why, whylen);
        oom = rc == CORIO_ERR_NOSPACE;
    }
    if (oom) {
        snprintf(why, whylen, "out of memory");
        rc = CORIO_ERR_NOSPACE;
    } else if (rc < 0) {
        /* take_record's reasons are set; the SDK's refusals (not SenML, a later
         * version, beyond this build) say only their code. Either way the message is
         * rejected, never retried: it would fail the same way again. */
        if (!why[0])
            snprintf(why, whylen, "not a SenML pack this cloud accepts (%s at record %zu)",
                     corio_strerror(rc), n);
        rc = CORIO_ERR_MALFORMED;
    } else {
        const struct corio_senml_ext *x = corio_senml_dec_ext(&d);
        if (x->has_seq && (x->ep > INT64_MAX || x->seq > INT64_MAX)) {
            snprintf(why, whylen, "ep or seq beyond 2^63 - 1");
            rc = CORIO_ERR_MALFORMED;
        } else if (x->has_boot && (x->boot > INT64_MAX || x->upt > INT64_MAX)) {
            snprintf(why, whylen, "boot or upt beyond 2^63 - 1");
            rc = CORIO_ERR_MALFORMED;
        } else {
            p->has_seq = x->has_seq;
            p->epoch = (int64_t)x->ep;
            p->seq = (int64_t)x->seq;
            p->has_boot = x->has_boot;
            p->boot = x->boot;
            p->upt_ms = x->upt;
            rc = CORIO_OK;
        }
    }
    free(scratch);
    if (rc != CORIO_OK)
        corio__cloud_senml_pack_free(p);
    return rc;
}
