/*
 * senml_json.c - SenML JSON (RFC 8428) for corio-cloud's ingest, with jansson.
 *
 * This is the stand-in until the SDK's portable SenML decoder (include/corio/senml.h)
 * lands: ingest calls only corio__senml_decode, which picks the decoder, so the switch
 * is one function. What it enforces, whichever decoder runs:
 *   - a pack is an array of 1..CORIO_SENML_MAX_RECORDS objects; duplicate labels are
 *     refused; a label ending in '_' (must-understand, RFC 8428 §4.4) is refused;
 *     unknown labels are ignored;
 *   - base fields (bn, bt, bu, bv, bs) apply to their record and the ones after it;
 *     bver above 10 is refused;
 *   - every record has exactly one of v, vs, vb, vd, or else a sum s;
 *   - names are bn + n, valid SenML names; "urn:corio:<device>:" is stripped; a name
 *     under another device's URN is refused;
 *   - times bt + t below 2^28 s are relative to the gateway's receive time;
 *   - Corio's ep and seq (first record only) identify the message, both or neither.
 * All or nothing: one bad record rejects the whole message (it is recorded as rejected,
 * with the reason, by the caller).
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cloud_int.h"
#include "corio/error.h"

#define SENML_REL_LIMIT 268435456.0    /* 2^28 s: below this a time is relative */
#define TIME_MAX_S      253402300799.0 /* 9999-12-31T23:59:59Z */
#define BASE_NAME_MAX   256

bool corio__senml_name_ok(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (i == 0 ? !alnum : !(alnum || c == '-' || c == ':' || c == '.' || c == '/' || c == '_'))
            return false;
    }
    return true;
}

void corio__senml_pack_free(struct corio__senml_pack *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        free(p->recs[i].own);
    free(p->recs);
    memset(p, 0, sizeof *p);
}

int corio__senml_decode(enum corio__senml_format fmt, const uint8_t *buf, size_t len,
                        const char *device, int64_t recv_ms, struct corio__senml_pack *p, char *why,
                        size_t whylen)
{
    memset(p, 0, sizeof *p);
    switch (fmt) {
    case CORIO__SENML_JSON:
        return corio__senml_decode_json(buf, len, device, recv_ms, p, why, whylen);
    case CORIO__SENML_CBOR:
        snprintf(why, whylen, "SenML CBOR is not decoded by this build yet");
        return CORIO_ERR_UNSUPPORTED;
    }
    snprintf(why, whylen, "unknown payload format");
    return CORIO_ERR_INVAL;
}

/* Base fields carried from record to record. */
struct base {
    char name[BASE_NAME_MAX + 1];
    char unit[CORIO_UNIT_MAX + 1];
    double time, value, sum;
};

static bool unit_ok(const char *u, size_t len)
{
    if (len > CORIO_UNIT_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (u[i] < 0x21 || u[i] > 0x7e)
            return false;
    return true;
}

/* Checks the labels of one record: types of the known ones, no must-understand ones. */
static int check_labels(json_t *rec, size_t i, char *why, size_t whylen)
{
    static const struct {
        const char *label;
        json_type type; /* JSON_REAL stands for any number */
    } known[] = {
        {"bn", JSON_STRING},   {"bt", JSON_REAL},      {"bu", JSON_STRING}, {"bv", JSON_REAL},
        {"bs", JSON_REAL},     {"bver", JSON_INTEGER}, {"n", JSON_STRING},  {"u", JSON_STRING},
        {"v", JSON_REAL},      {"vs", JSON_STRING},    {"vb", JSON_TRUE},   {"vd", JSON_STRING},
        {"s", JSON_REAL},      {"t", JSON_REAL},       {"ut", JSON_REAL},   {"ep", JSON_INTEGER},
        {"seq", JSON_INTEGER}, {"bc", JSON_INTEGER},
    };
    const char *key;
    json_t *val;
    json_object_foreach(rec, key, val)
    {
        size_t kl = strlen(key);
        if (kl > 0 && key[kl - 1] == '_') {
            snprintf(why, whylen, "record %zu: must-understand field '%.32s' is not supported", i,
                     key);
            return CORIO_ERR_MALFORMED;
        }
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++) {
            if (strcmp(key, known[k].label) != 0)
                continue;
            bool ok;
            switch (known[k].type) {
            case JSON_REAL:
                ok = json_is_number(val) && isfinite(json_number_value(val));
                break;
            case JSON_TRUE:
                ok = json_is_boolean(val);
                break;
            default:
                ok = json_typeof(val) == known[k].type;
            }
            if (!ok) {
                snprintf(why, whylen, "record %zu: '%s' has the wrong type", i, key);
                return CORIO_ERR_MALFORMED;
            }
        }
    }
    return CORIO_OK;
}

/* Resolves bn + n into the metric name of rec. */
static int resolve_name(const struct base *b, json_t *n, const char *device,
                        struct corio__senml_rec *r, size_t i, char *why, size_t whylen)
{
    char full[BASE_NAME_MAX + CORIO_METRIC_MAX + 2];
    const char *ns = n ? json_string_value(n) : "";
    size_t nl = n ? json_string_length(n) : 0;
    size_t bl = strlen(b->name);
    if (nl > CORIO_METRIC_MAX + BASE_NAME_MAX || memchr(ns, 0, nl)) {
        snprintf(why, whylen, "record %zu: bad name", i);
        return CORIO_ERR_MALFORMED;
    }
    memcpy(full, b->name, bl);
    if (bl + nl >= sizeof full) {
        snprintf(why, whylen, "record %zu: name too long", i);
        return CORIO_ERR_MALFORMED;
    }
    memcpy(full + bl, ns, nl);
    full[bl + nl] = 0;
    size_t fl = bl + nl;
    if (!corio__senml_name_ok(full, fl)) {
        snprintf(why, whylen, "record %zu: '%.64s' is not a SenML name", i, full);
        return CORIO_ERR_MALFORMED;
    }
    const char *metric = full;
    char own[sizeof "urn:corio:" + CORIO_ID_LEN + 1];
    snprintf(own, sizeof own, "urn:corio:%s:", device);
    if (strncmp(full, own, strlen(own)) == 0) {
        metric = full + strlen(own);
    } else if (strncmp(full, "urn:corio:", 10) == 0) {
        snprintf(why, whylen, "record %zu: name '%.64s' belongs to another device", i, full);
        return CORIO_ERR_MALFORMED;
    }
    size_t ml = strlen(metric);
    if (ml > CORIO_METRIC_MAX || !corio__senml_name_ok(metric, ml)) {
        snprintf(why, whylen, "record %zu: metric name '%.64s' is empty, too long or invalid", i,
                 metric);
        return CORIO_ERR_MALFORMED;
    }
    memcpy(r->name, metric, ml + 1);
    return CORIO_OK;
}

static int resolve_time(double t, int64_t recv_ms, int64_t *out)
{
    if (!isfinite(t) || fabs(t) > TIME_MAX_S)
        return CORIO_ERR_MALFORMED;
    double ms = fabs(t) < SENML_REL_LIMIT ? (double)recv_ms + t * 1000.0 : t * 1000.0;
    if (ms < 0 || ms > TIME_MAX_S * 1000.0)
        return CORIO_ERR_MALFORMED;
    *out = llround(ms);
    return CORIO_OK;
}

static int decode_record(json_t *rec, size_t i, struct base *b, const char *device, int64_t recv_ms,
                         struct corio__senml_rec *r, char *why, size_t whylen)
{
    int rc = check_labels(rec, i, why, whylen);
    if (rc != CORIO_OK)
        return rc;
    json_t *x;
    if ((x = json_object_get(rec, "bver")) &&
        (json_integer_value(x) < 1 || json_integer_value(x) > 10)) {
        snprintf(why, whylen, "record %zu: SenML version %" JSON_INTEGER_FORMAT " is not supported",
                 i, json_integer_value(x));
        return CORIO_ERR_MALFORMED;
    }
    if ((x = json_object_get(rec, "bn"))) {
        size_t l = json_string_length(x);
        if (l > BASE_NAME_MAX || memchr(json_string_value(x), 0, l)) {
            snprintf(why, whylen, "record %zu: base name too long", i);
            return CORIO_ERR_MALFORMED;
        }
        memcpy(b->name, json_string_value(x), l + 1);
    }
    if ((x = json_object_get(rec, "bu"))) {
        if (!unit_ok(json_string_value(x), json_string_length(x))) {
            snprintf(why, whylen, "record %zu: bad base unit", i);
            return CORIO_ERR_MALFORMED;
        }
        memcpy(b->unit, json_string_value(x), json_string_length(x) + 1);
    }
    if ((x = json_object_get(rec, "bt")))
        b->time = json_number_value(x);
    if ((x = json_object_get(rec, "bv")))
        b->value = json_number_value(x);
    if ((x = json_object_get(rec, "bs")))
        b->sum = json_number_value(x);

    if ((rc = resolve_name(b, json_object_get(rec, "n"), device, r, i, why, whylen)) != CORIO_OK)
        return rc;
    if ((x = json_object_get(rec, "u"))) {
        if (!unit_ok(json_string_value(x), json_string_length(x))) {
            snprintf(why, whylen, "record %zu: bad unit", i);
            return CORIO_ERR_MALFORMED;
        }
        memcpy(r->unit, json_string_value(x), json_string_length(x) + 1);
    } else {
        memcpy(r->unit, b->unit, sizeof r->unit);
    }
    x = json_object_get(rec, "t");
    if (resolve_time(b->time + (x ? json_number_value(x) : 0.0), recv_ms, &r->t_ms) != CORIO_OK) {
        snprintf(why, whylen, "record %zu: time out of range", i);
        return CORIO_ERR_MALFORMED;
    }

    json_t *v = json_object_get(rec, "v"), *vs = json_object_get(rec, "vs"),
           *vb = json_object_get(rec, "vb"), *vd = json_object_get(rec, "vd"),
           *s = json_object_get(rec, "s");
    int values = (v != NULL) + (vs != NULL) + (vb != NULL) + (vd != NULL);
    if (values > 1 || (values == 0 && !s)) {
        snprintf(why, whylen, "record %zu: %s", i,
                 values ? "more than one value" : "no value and no sum");
        return CORIO_ERR_MALFORMED;
    }
    if (v || (s && !values)) {
        double d = v ? b->value + json_number_value(v) : b->sum + json_number_value(s);
        if (!isfinite(d)) {
            snprintf(why, whylen, "record %zu: value out of range", i);
            return CORIO_ERR_MALFORMED;
        }
        r->value = (struct corio_value){.kind = CORIO_VALUE_NUM, .num = d};
    } else if (vb) {
        r->value = (struct corio_value){.kind = CORIO_VALUE_BOOL, .b = json_is_true(vb)};
    } else if (vs) {
        size_t l = json_string_length(vs);
        if (l > CORIO_SENML_MAX_STR) {
            snprintf(why, whylen, "record %zu: string value longer than %d bytes", i,
                     CORIO_SENML_MAX_STR);
            return CORIO_ERR_MALFORMED;
        }
        if (!(r->own = malloc(l + 1)))
            return CORIO_ERR_NOSPACE;
        memcpy(r->own, json_string_value(vs), l + 1);
        r->value =
            (struct corio_value){.kind = CORIO_VALUE_STR, .str = (const char *)r->own, .len = l};
    } else {
        size_t l = json_string_length(vd);
        size_t cap = l / 4 * 3 + 3;
        if (cap > CORIO_SENML_MAX_STR + 3) {
            snprintf(why, whylen, "record %zu: data value longer than %d bytes", i,
                     CORIO_SENML_MAX_STR);
            return CORIO_ERR_MALFORMED;
        }
        if (!(r->own = malloc(cap)))
            return CORIO_ERR_NOSPACE;
        int n = corio__b64url_decode(json_string_value(vd), l, r->own, cap);
        if (n < 0) {
            snprintf(why, whylen, "record %zu: data value is not base64url", i);
            return CORIO_ERR_MALFORMED;
        }
        r->value = (struct corio_value){.kind = CORIO_VALUE_DATA, .data = r->own, .len = (size_t)n};
    }
    return CORIO_OK;
}

/* Reads ep and seq from the first record. */
static int identity(json_t *first, struct corio__senml_pack *p, char *why, size_t whylen)
{
    json_t *ep = json_object_get(first, "ep"), *seq = json_object_get(first, "seq");
    if (!ep && !seq)
        return CORIO_OK;
    if (!ep || !seq) {
        snprintf(why, whylen, "record 0: ep and seq come together");
        return CORIO_ERR_MALFORMED;
    }
    json_int_t e = json_integer_value(ep), s = json_integer_value(seq);
    if (e < 0 || s < 1) {
        snprintf(why, whylen, "record 0: ep must be >= 0 and seq >= 1");
        return CORIO_ERR_MALFORMED;
    }
    p->has_seq = true;
    p->epoch = e;
    p->seq = s;
    return CORIO_OK;
}

int corio__senml_decode_json(const uint8_t *buf, size_t len, const char *device, int64_t recv_ms,
                             struct corio__senml_pack *p, char *why, size_t whylen)
{
    memset(p, 0, sizeof *p);
    json_error_t jerr;
    json_t *root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(why, whylen, "not JSON: line %d column %d: %s", jerr.line, jerr.column, jerr.text);
        return CORIO_ERR_MALFORMED;
    }
    int rc = CORIO_OK;
    size_t n = json_is_array(root) ? json_array_size(root) : 0;
    if (!json_is_array(root) || n == 0 || n > CORIO_SENML_MAX_RECORDS) {
        snprintf(why, whylen, "a SenML pack is an array of 1 to %d records",
                 CORIO_SENML_MAX_RECORDS);
        rc = CORIO_ERR_MALFORMED;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (!json_is_object(json_array_get(root, i))) {
            snprintf(why, whylen, "record %zu is not an object", i);
            rc = CORIO_ERR_MALFORMED;
            goto out;
        }
    }
    if ((rc = identity(json_array_get(root, 0), p, why, whylen)) != CORIO_OK)
        goto out;
    if (!(p->recs = calloc(n, sizeof *p->recs))) {
        rc = CORIO_ERR_NOSPACE;
        goto out;
    }
    struct base b = {0};
    for (size_t i = 0; i < n; i++) {
        p->n = i + 1; /* so that a failure frees what this record allocated */
        if ((rc = decode_record(json_array_get(root, i), i, &b, device, recv_ms, &p->recs[i], why,
                                whylen)) != CORIO_OK)
            goto out;
    }
out:
    json_decref(root);
    if (rc != CORIO_OK) {
        if (rc == CORIO_ERR_NOSPACE)
            snprintf(why, whylen, "out of memory");
        corio__senml_pack_free(p);
    }
    return rc;
}
