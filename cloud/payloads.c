/*
 * payloads.c - the small payloads ingest reads besides SenML: device heartbeats (JSON
 * object or CBOR map, decoded by the SDK's include/corio/heartbeat.h), the gateway
 * plugin's presence records, and values as JSON (data as base64url).
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

/* ---- values as JSON ----------------------------------------------------------------- */

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
        size_t cap = CORIO_BASE64URL_ENCODED_LEN(v->len) + 1;
        char *s = malloc(cap);
        if (!s ||
            corio_base64url_encode(v->len ? v->data : (const uint8_t *)"", v->len, s, cap) < 0) {
            free(s);
            return NULL;
        }
        json_t *j = json_string(s);
        free(s);
        return j;
    }
    }
    return NULL;
}
