/*
 * payloads.c - the small payloads ingest reads besides SenML: device heartbeats (JSON
 * object or CBOR map, docs/formats.md), the gateway plugin's presence records, and the
 * encodings they and the registry file need (base64url, did:key).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cloud_int.h"
#include "corio/cbor.h"
#include "corio/encoding.h"
#include "corio/error.h"
#include "corio/p256.h"

/* ---- heartbeat --------------------------------------------------------------------- */

enum hb_field { HB_UP, HB_BC, HB_EP, HB_LAST, HB_PENDING, HB_DROPS, HB_NFIELDS };
static const char *const hb_names[HB_NFIELDS] = {"up", "bc", "ep", "last", "pending", "drops"};

static int hb_finish(const bool seen[HB_NFIELDS], const int64_t v[HB_NFIELDS],
                     struct corio__heartbeat *hb, char *why, size_t whylen)
{
    static const enum hb_field required[] = {HB_EP, HB_LAST, HB_PENDING};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        if (!seen[required[i]]) {
            snprintf(why, whylen, "heartbeat without '%s'", hb_names[required[i]]);
            return CORIO_ERR_MALFORMED;
        }
    }
    if (v[HB_PENDING] > v[HB_LAST]) {
        snprintf(why, whylen, "heartbeat with more pending entries than sequence numbers");
        return CORIO_ERR_MALFORMED;
    }
    *hb = (struct corio__heartbeat){.epoch = v[HB_EP],
                                    .last = v[HB_LAST],
                                    .pending = v[HB_PENDING],
                                    .drops = v[HB_DROPS],
                                    .has_boot = seen[HB_BC],
                                    .boot = v[HB_BC],
                                    .uptime_s = v[HB_UP]};
    return CORIO_OK;
}

static int hb_field_of(const char *key, size_t len)
{
    for (int i = 0; i < HB_NFIELDS; i++)
        if (strlen(hb_names[i]) == len && memcmp(hb_names[i], key, len) == 0)
            return i;
    return -1;
}

static int hb_json(const uint8_t *buf, size_t len, struct corio__heartbeat *hb, char *why,
                   size_t whylen)
{
    json_error_t jerr;
    json_t *root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(why, whylen, "heartbeat is not JSON: line %d column %d: %s", jerr.line,
                 jerr.column, jerr.text);
        return CORIO_ERR_MALFORMED;
    }
    bool seen[HB_NFIELDS] = {0};
    int64_t v[HB_NFIELDS] = {0};
    int rc = CORIO_OK;
    if (!json_is_object(root)) {
        snprintf(why, whylen, "heartbeat is not a JSON object");
        rc = CORIO_ERR_MALFORMED;
    }
    for (int i = 0; rc == CORIO_OK && i < HB_NFIELDS; i++) {
        json_t *x = json_object_get(root, hb_names[i]);
        if (!x)
            continue;
        /* Uptime may be fractional; the counters are integers. */
        if (i == HB_UP && json_is_real(x) && isfinite(json_real_value(x)) &&
            json_real_value(x) >= 0 && json_real_value(x) < 9.2e18) {
            v[i] = (int64_t)json_real_value(x);
        } else if (json_is_integer(x) && json_integer_value(x) >= 0) {
            v[i] = json_integer_value(x);
        } else {
            snprintf(why, whylen, "heartbeat '%s' is not a non-negative integer", hb_names[i]);
            rc = CORIO_ERR_MALFORMED;
        }
        seen[i] = true;
    }
    json_decref(root);
    return rc == CORIO_OK ? hb_finish(seen, v, hb, why, whylen) : rc;
}

static int hb_cbor(const uint8_t *buf, size_t len, struct corio__heartbeat *hb, char *why,
                   size_t whylen)
{
    struct corio_cbor_dec d;
    corio_cbor_dec_init(&d, buf, len);
    uint64_t pairs;
    bool seen[HB_NFIELDS] = {0};
    int64_t v[HB_NFIELDS] = {0};
    if (corio_cbor_expect_map(&d, &pairs) != CORIO_OK || pairs == CORIO_CBOR_INDEFINITE ||
        pairs > 64)
        goto bad;
    for (uint64_t i = 0; i < pairs; i++) {
        const char *key;
        size_t kl;
        if (corio_cbor_expect_text(&d, &key, &kl) != CORIO_OK)
            goto bad;
        int f = hb_field_of(key, kl);
        if (f < 0) {
            if (corio_cbor_skip(&d) != CORIO_OK)
                goto bad;
            continue;
        }
        if (seen[f]) {
            snprintf(why, whylen, "heartbeat '%s' appears twice", hb_names[f]);
            return CORIO_ERR_MALFORMED;
        }
        uint64_t u;
        double fl;
        if (corio_cbor_expect_uint(&d, &u) == CORIO_OK && u <= INT64_MAX) {
            v[f] = (int64_t)u;
        } else if (f == HB_UP && corio_cbor_expect_float(&d, &fl) == CORIO_OK && isfinite(fl) &&
                   fl >= 0 && fl < 9.2e18) {
            v[f] = (int64_t)fl;
        } else {
            snprintf(why, whylen, "heartbeat '%s' is not a non-negative integer", hb_names[f]);
            return CORIO_ERR_MALFORMED;
        }
        seen[f] = true;
    }
    if (corio_cbor_dec_finish(&d) != CORIO_OK)
        goto bad;
    return hb_finish(seen, v, hb, why, whylen);
bad:
    snprintf(why, whylen, "heartbeat is not a CBOR map");
    return CORIO_ERR_MALFORMED;
}

int corio__heartbeat_decode(const uint8_t *buf, size_t len, struct corio__heartbeat *hb, char *why,
                            size_t whylen)
{
    /* A CBOR map starts with major type 5 (0xa0..0xbf); JSON with '{' or blanks. */
    if (len > 0 && buf[0] >= 0xa0 && buf[0] <= 0xbf)
        return hb_cbor(buf, len, hb, why, whylen);
    return hb_json(buf, len, hb, why, whylen);
}

/* ---- presence ---------------------------------------------------------------------- */

int corio__presence_decode(const uint8_t *buf, size_t len, bool *online, char *why, size_t whylen)
{
    json_error_t jerr;
    json_t *root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(why, whylen, "presence is not JSON: line %d column %d: %s", jerr.line, jerr.column,
                 jerr.text);
        return CORIO_ERR_MALFORMED;
    }
    json_t *o = json_object_get(root, "online");
    int rc = CORIO_OK;
    if (!json_is_object(root) || !json_is_boolean(o)) {
        snprintf(why, whylen, "presence without a boolean 'online'");
        rc = CORIO_ERR_MALFORMED;
    } else {
        *online = json_is_true(o);
    }
    json_decref(root);
    return rc;
}

/* ---- base64url --------------------------------------------------------------------- */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t corio__b64url_encode(const uint8_t *in, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        out[o++] = b64url[(v >> 18) & 63];
        out[o++] = b64url[(v >> 12) & 63];
        if (i + 1 < len)
            out[o++] = b64url[(v >> 6) & 63];
        if (i + 2 < len)
            out[o++] = b64url[v & 63];
    }
    out[o] = 0;
    return o;
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

int corio__b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
    while (len > 0 && in[len - 1] == '=' && len % 4 != 1)
        len--; /* padding is optional */
    if (len % 4 == 1)
        return CORIO_ERR_MALFORMED;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64val(in[i]);
        if (v < 0)
            return CORIO_ERR_MALFORMED;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap)
                return CORIO_ERR_NOSPACE;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0)
        return CORIO_ERR_MALFORMED; /* non-zero leftover bits: not canonical */
    return (int)o;
}

json_t *corio__value_json(const struct corio_value *v)
{
    switch (v->kind) {
    case CORIO_VALUE_NUM:
        return json_real(v->num);
    case CORIO_VALUE_BOOL:
        return json_boolean(v->b);
    case CORIO_VALUE_STR:
        return json_stringn(v->str ? v->str : "", v->len);
    case CORIO_VALUE_DATA: {
        char *s = malloc(v->len / 3 * 4 + 5);
        if (!s)
            return NULL;
        corio__b64url_encode(v->data, v->len, s);
        json_t *j = json_string(s);
        free(s);
        return j;
    }
    }
    return NULL;
}

/* ---- did:key ----------------------------------------------------------------------- */

int corio__didkey_parse(const char *s, uint8_t pub[65])
{
    static const char prefix[] = "did:key:z";
    if (!s || strncmp(s, prefix, sizeof prefix - 1) != 0)
        return CORIO_ERR_MALFORMED;
    const char *b58 = s + sizeof prefix - 1;
    uint8_t raw[64];
    int n = corio_base58_decode(b58, strlen(b58), raw, sizeof raw);
    /* multicodec p256-pub (0x1200) as an unsigned varint is 0x80 0x24. */
    if (n != 2 + CORIO_P256_PUB_COMPRESSED || raw[0] != 0x80 || raw[1] != 0x24)
        return CORIO_ERR_MALFORMED;
    if (corio_p256_decompress(raw + 2, pub) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    return CORIO_OK;
}
