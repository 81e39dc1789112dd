/*
 * payloads.c - the small payloads ingest reads besides SenML: device heartbeats (JSON
 * object or CBOR map, decoded by the SDK's include/corio/heartbeat.h), the gateway
 * plugin's presence records, base64url for data values, and values as JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cloud_int.h"
#include "corio/cbor.h"
#include "corio/encoding.h"
#include "corio/error.h"
#include "corio/heartbeat.h"

/* ---- heartbeat --------------------------------------------------------------------- */

int corio__cloud_heartbeat_decode(const uint8_t *buf, size_t len, struct corio__cloud_heartbeat *hb,
                                  char *why, size_t whylen)
{
    /* The same suffix carries JSON or CBOR: a CBOR map starts with major type 5. */
    bool cbor = len > 0 && buf[0] >= 0xa0 && buf[0] <= 0xbf;
    struct corio_heartbeat h;
    int rc = corio_heartbeat_decode(cbor ? CORIO_FORMAT_CBOR : CORIO_FORMAT_JSON, buf, len, &h);
    if (rc != CORIO_OK) {
        snprintf(why, whylen,
                 "heartbeat is not a %s with up, bc, ep, last, pending and drops as unsigned "
                 "integers (%s)",
                 cbor ? "CBOR map" : "JSON object", corio_strerror(rc));
        return CORIO_ERR_MALFORMED;
    }
    if (h.uptime_s > INT64_MAX || h.boot > INT64_MAX || h.epoch > INT64_MAX ||
        h.last_seq > INT64_MAX || h.drops > INT64_MAX) {
        snprintf(why, whylen, "heartbeat field beyond 2^63 - 1");
        return CORIO_ERR_MALFORMED;
    }
    if (h.pending > h.last_seq) {
        snprintf(why, whylen, "heartbeat with more pending entries than sequence numbers");
        return CORIO_ERR_MALFORMED;
    }
    *hb = (struct corio__cloud_heartbeat){.epoch = (int64_t)h.epoch,
                                          .last = (int64_t)h.last_seq,
                                          .pending = (int64_t)h.pending,
                                          .drops = (int64_t)h.drops,
                                          .boot = (int64_t)h.boot,
                                          .uptime_s = (int64_t)h.uptime_s};
    return CORIO_OK;
}

/* ---- presence ---------------------------------------------------------------------- */

int corio__cloud_presence_decode(const uint8_t *buf, size_t len, bool *online, char *why,
                                 size_t whylen)
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

size_t corio__cloud_b64url_encode(const uint8_t *in, size_t len, char *out)
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

int corio__cloud_b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap)
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

json_t *corio__cloud_value_json(const struct corio_value *v)
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
        corio__cloud_b64url_encode(v->data, v->len, s);
        json_t *j = json_string(s);
        free(s);
        return j;
    }
    }
    return NULL;
}
