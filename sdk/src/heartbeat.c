/*
 * heartbeat.c - encode and decode a device heartbeat (include/corio/heartbeat.h,
 * docs/formats.md) in JSON or CBOR over caller buffers.
 */
#include <stddef.h>
#include <string.h>

#include "corio/heartbeat.h"
#include "senml_int.h"

/* The keys, in the order JSON is written, and where each value is. */
#define NKEYS 6
static const char keys[NKEYS][8] = {"up", "bc", "ep", "last", "pending", "drops"};
static const uint8_t offs[NKEYS] = {
    offsetof(struct corio_heartbeat, uptime_s), offsetof(struct corio_heartbeat, boot),
    offsetof(struct corio_heartbeat, epoch),    offsetof(struct corio_heartbeat, last_seq),
    offsetof(struct corio_heartbeat, pending),  offsetof(struct corio_heartbeat, drops),
};

static uint64_t *slot(struct corio_heartbeat *hb, int i)
{
    return (uint64_t *)(void *)((char *)hb + offs[i]);
}

static int key_index(const char *s, size_t n)
{
    for (int i = 0; i < NKEYS; i++)
        if (strlen(keys[i]) == n && memcmp(keys[i], s, n) == 0)
            return i;
    return -1;
}

int corio_heartbeat_encode(enum corio_format fmt, const struct corio_heartbeat *hb,
                           uint8_t *buf, size_t cap)
{
    /* The keys in deterministic order for CBOR (RFC 8949 §4.2.1: shorter first, then
     * bytewise): bc, ep, up, last, drops, pending; written so, a device needs no map
     * sorter. */
    static const uint8_t cbor_order[NKEYS] = {1, 2, 0, 3, 5, 4};
    struct corio_senml_out o;
    bool json = fmt == CORIO_FORMAT_JSON;
    if (!json && fmt != CORIO_FORMAT_CBOR)
        return CORIO_ERR_INVAL;
    corio__out_init(&o, json, buf, cap);
    corio__out_raw(&o, json ? "{" : "\xa6", 1); /* a map of 6 pairs */
    for (int i = 0; i < NKEYS; i++) {
        int k = json ? i : cbor_order[i];
        uint64_t v;
        memcpy(&v, (const char *)hb + offs[k], sizeof v);
        corio__out_key(&o, keys[k], CORIO__TEXT_LABEL, i == 0);
        corio__out_uint(&o, v);
    }
    if (json)
        corio__out_raw(&o, "}", 1);
    return corio__out_finish(&o);
}

static int decode_json(const uint8_t *msg, size_t len, struct corio_heartbeat *out)
{
    struct corio_json j;
    struct corio_json_tok t;
    struct corio_heartbeat hb;
    unsigned seen = 0;
    int rc;
    memset(&hb, 0, sizeof hb);
    corio_json_init(&j, (const char *)msg, len);
    if ((rc = corio_json_next(&j, &t)) != CORIO_OK)
        return rc;
    if (t.type != CORIO_JSON_OBJECT)
        return CORIO_ERR_MALFORMED;
    for (;;) {
        if ((rc = corio_json_next(&j, &t)) != CORIO_OK)
            return rc == CORIO_ERR_NOTFOUND ? CORIO_ERR_MALFORMED : rc;
        if (t.type == CORIO_JSON_OBJECT_END)
            break;
        int k = -1;
        for (int i = 0; i < NKEYS && k < 0; i++)
            if (corio_json_string_eq(&t, keys[i], strlen(keys[i])))
                k = i;
        if (k < 0) {
            if ((rc = corio_json_skip(&j)) != CORIO_OK)
                return rc;
            continue;
        }
        if (seen & (1u << k))
            return CORIO_ERR_MALFORMED;
        seen |= 1u << k;
        if ((rc = corio_json_next(&j, &t)) != CORIO_OK)
            return rc == CORIO_ERR_NOTFOUND ? CORIO_ERR_MALFORMED : rc;
        if (t.type != CORIO_JSON_NUMBER)
            return CORIO_ERR_MALFORMED;
        if ((rc = corio_json_uint64(&t, slot(&hb, k))) != CORIO_OK)
            return rc;
    }
    if (corio_json_finish(&j) != CORIO_OK || seen != (1u << NKEYS) - 1)
        return CORIO_ERR_MALFORMED;
    *out = hb;
    return CORIO_OK;
}

static int decode_cbor(const uint8_t *msg, size_t len, struct corio_heartbeat *out)
{
    struct corio_cbor_dec d;
    struct corio_heartbeat hb;
    uint64_t pairs;
    unsigned seen = 0;
    int rc;
    memset(&hb, 0, sizeof hb);
    corio_cbor_dec_init(&d, msg, len);
    if ((rc = corio_cbor_expect_map(&d, &pairs)) != CORIO_OK)
        return rc;
    bool indefinite = pairs == CORIO_CBOR_INDEFINITE;
    for (uint64_t i = 0; indefinite ? !corio_cbor_at_break(&d) : i < pairs; i++) {
        const char *s;
        size_t n;
        if ((rc = corio_cbor_expect_text(&d, &s, &n)) != CORIO_OK)
            return rc;
        int k = key_index(s, n);
        if (k < 0) {
            if ((rc = corio_cbor_skip(&d)) != CORIO_OK)
                return rc;
            continue;
        }
        if (seen & (1u << k))
            return CORIO_ERR_MALFORMED;
        seen |= 1u << k;
        if ((rc = corio_cbor_expect_uint(&d, slot(&hb, k))) != CORIO_OK)
            return rc;
    }
    if (indefinite && (rc = corio_cbor_expect_break(&d)) != CORIO_OK)
        return rc;
    if (corio_cbor_dec_finish(&d) != CORIO_OK || seen != (1u << NKEYS) - 1)
        return CORIO_ERR_MALFORMED;
    *out = hb;
    return CORIO_OK;
}

int corio_heartbeat_decode(enum corio_format fmt, const uint8_t *msg, size_t len,
                           struct corio_heartbeat *hb)
{
    if (!msg && len)
        return CORIO_ERR_INVAL;
    if (fmt == CORIO_FORMAT_JSON)
        return decode_json(msg, len, hb);
    if (fmt == CORIO_FORMAT_CBOR)
        return decode_cbor(msg, len, hb);
    return CORIO_ERR_INVAL;
}

enum corio_format corio_heartbeat_sniff(const uint8_t *msg, size_t len)
{
    if (msg && len > 0 && (msg[0] & 0xe0) == 0xa0)
        return CORIO_FORMAT_CBOR;
    return CORIO_FORMAT_JSON;
}
