/*
 * batch.c - CBOR codecs of the batch and the application ack (batch.h,
 * docs/formats.md). Both are maps with small unsigned keys, written in key order so
 * that the encoding is deterministic without a sort.
 */
#include "batch.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corio/cbor.h"
#include "corio/cose.h"
#include "corio/did.h"
#include "corio/error.h"

enum { K_VERSION = 1, K_GATEWAY = 2, K_EPOCH = 3, K_FIRST = 4, K_LAST = 5, K_MADE = 6,
       K_MESSAGES = 7 };
enum { A_VERSION = 1, A_EPOCH = 2, A_RANGES = 3 };

static bool short_id_ok(const char *s, size_t n)
{
    if (n != CORIO_SHORT_ID_CHARS)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '2' && s[i] <= '7')))
            return false;
    return true;
}

/* A topic suffix as stored by the plugin: printable, no wildcards, bounded. */
static bool suffix_ok(const char *s, size_t n)
{
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= ' ' || s[i] > '~' || s[i] == '+' || s[i] == '#')
            return false;
    return true;
}

int64_t corio_batch_encode(const struct corio_batch *b, uint8_t *buf, size_t cap)
{
    size_t glen = strlen(b->gateway);
    if (!short_id_ok(b->gateway, glen) || b->epoch == 0 || b->first > b->last || b->made_ms < 0)
        return CORIO_ERR_INVAL;
    struct corio_cbor_enc e;
    corio_cbor_enc_init(&e, buf, cap);
    corio_cbor_put_map(&e, 7);
    corio_cbor_put_uint(&e, K_VERSION);
    corio_cbor_put_uint(&e, CORIO_BATCH_VERSION);
    corio_cbor_put_uint(&e, K_GATEWAY);
    corio_cbor_put_text(&e, b->gateway, glen);
    corio_cbor_put_uint(&e, K_EPOCH);
    corio_cbor_put_uint(&e, b->epoch);
    corio_cbor_put_uint(&e, K_FIRST);
    corio_cbor_put_uint(&e, b->first);
    corio_cbor_put_uint(&e, K_LAST);
    corio_cbor_put_uint(&e, b->last);
    corio_cbor_put_uint(&e, K_MADE);
    corio_cbor_put_uint(&e, (uint64_t)b->made_ms);
    corio_cbor_put_uint(&e, K_MESSAGES);
    corio_cbor_put_array(&e, b->count);
    uint64_t prev = 0;
    for (size_t i = 0; i < b->count; i++) {
        const struct corio_batch_msg *m = &b->msgs[i];
        if (m->id < b->first || m->id > b->last || (i > 0 && m->id <= prev) ||
            (m->device_len && !short_id_ok(m->device, m->device_len)) ||
            !suffix_ok(m->suffix, m->suffix_len) || m->recv_ms < 0)
            return CORIO_ERR_INVAL;
        prev = m->id;
        corio_cbor_put_array(&e, 5);
        corio_cbor_put_uint(&e, m->id);
        corio_cbor_put_text(&e, m->device_len ? m->device : "", m->device_len);
        corio_cbor_put_text(&e, m->suffix, m->suffix_len);
        corio_cbor_put_uint(&e, (uint64_t)m->recv_ms);
        corio_cbor_put_bytes(&e, m->payload_len ? m->payload : (const uint8_t *)"",
                             m->payload_len);
    }
    int rc = corio_cbor_enc_finish(&e);
    return rc < 0 ? rc : (int64_t)corio_cbor_enc_len(&e);
}

static int refuse(char *why, size_t whylen, int code, const char *fmt, ...)
{
    if (why && whylen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return code;
}

static int expect_key(struct corio_cbor_dec *d, uint64_t want)
{
    uint64_t key;
    int rc = corio_cbor_expect_uint(d, &key);
    if (rc != CORIO_OK)
        return rc;
    return key == want ? CORIO_OK : CORIO_ERR_MALFORMED;
}

static int decode_msg(struct corio_cbor_dec *d, struct corio_batch_msg *m)
{
    uint64_t n, recv;
    int rc;
    if ((rc = corio_cbor_expect_array(d, &n)) != CORIO_OK)
        return rc;
    if (n != 5)
        return CORIO_ERR_MALFORMED;
    if ((rc = corio_cbor_expect_uint(d, &m->id)) != CORIO_OK ||
        (rc = corio_cbor_expect_text(d, &m->device, &m->device_len)) != CORIO_OK ||
        (rc = corio_cbor_expect_text(d, &m->suffix, &m->suffix_len)) != CORIO_OK ||
        (rc = corio_cbor_expect_uint(d, &recv)) != CORIO_OK ||
        (rc = corio_cbor_expect_bytes(d, &m->payload, &m->payload_len)) != CORIO_OK)
        return rc;
    if (recv > INT64_MAX)
        return CORIO_ERR_MALFORMED;
    m->recv_ms = (int64_t)recv;
    return CORIO_OK;
}

int corio_batch_decode(const uint8_t *buf, size_t len, struct corio_batch *b, char *why,
                       size_t whylen)
{
    memset(b, 0, sizeof *b);
    if (corio_cbor_deterministic(buf, len) != CORIO_OK)
        return refuse(why, whylen, CORIO_ERR_MALFORMED, "not deterministic CBOR");
    struct corio_cbor_dec d;
    corio_cbor_dec_init(&d, buf, len);
    uint64_t pairs, version, made, count;
    const char *gw;
    size_t gwlen;
    if (corio_cbor_expect_map(&d, &pairs) != CORIO_OK || pairs != 7 ||
        expect_key(&d, K_VERSION) != CORIO_OK || corio_cbor_expect_uint(&d, &version) != CORIO_OK)
        return refuse(why, whylen, CORIO_ERR_MALFORMED, "not a batch (a map of 7 with a version)");
    if (version != CORIO_BATCH_VERSION)
        return refuse(why, whylen, CORIO_ERR_VERSION, "batch version %llu is unknown",
                      (unsigned long long)version);
    if (expect_key(&d, K_GATEWAY) != CORIO_OK ||
        corio_cbor_expect_text(&d, &gw, &gwlen) != CORIO_OK ||
        expect_key(&d, K_EPOCH) != CORIO_OK || corio_cbor_expect_uint(&d, &b->epoch) != CORIO_OK ||
        expect_key(&d, K_FIRST) != CORIO_OK || corio_cbor_expect_uint(&d, &b->first) != CORIO_OK ||
        expect_key(&d, K_LAST) != CORIO_OK || corio_cbor_expect_uint(&d, &b->last) != CORIO_OK ||
        expect_key(&d, K_MADE) != CORIO_OK || corio_cbor_expect_uint(&d, &made) != CORIO_OK ||
        expect_key(&d, K_MESSAGES) != CORIO_OK || corio_cbor_expect_array(&d, &count) != CORIO_OK)
        return refuse(why, whylen, CORIO_ERR_MALFORMED, "batch header fields malformed");
    if (!short_id_ok(gw, gwlen))
        return refuse(why, whylen, CORIO_ERR_POLICY, "gateway is not a short id");
    if (b->epoch == 0 || b->first > b->last || made > INT64_MAX)
        return refuse(why, whylen, CORIO_ERR_POLICY, "bad epoch, range or time");
    /* Each message takes at least 6 bytes, which bounds the allocation by the input. */
    if (count > len / 6)
        return refuse(why, whylen, CORIO_ERR_MALFORMED, "message count exceeds the input");
    b->version = (uint32_t)version;
    memcpy(b->gateway, gw, gwlen);
    b->gateway[gwlen] = '\0';
    b->made_ms = (int64_t)made;
    b->msgs = count ? calloc((size_t)count, sizeof *b->msgs) : NULL;
    if (count && !b->msgs)
        return refuse(why, whylen, CORIO_ERR_NOSPACE, "out of memory");
    int rc = CORIO_OK;
    for (uint64_t i = 0; i < count; i++) {
        struct corio_batch_msg *m = &b->msgs[i];
        if (decode_msg(&d, m) != CORIO_OK) {
            rc = refuse(why, whylen, CORIO_ERR_MALFORMED, "message %llu malformed",
                        (unsigned long long)i);
            break;
        }
        if (m->id < b->first || m->id > b->last || (i > 0 && m->id <= b->msgs[i - 1].id)) {
            rc = refuse(why, whylen, CORIO_ERR_POLICY,
                        "message id %llu outside the range or not increasing",
                        (unsigned long long)m->id);
            break;
        }
        if ((m->device_len && !short_id_ok(m->device, m->device_len)) ||
            !suffix_ok(m->suffix, m->suffix_len)) {
            rc = refuse(why, whylen, CORIO_ERR_POLICY, "message %llu: bad device or suffix",
                        (unsigned long long)m->id);
            break;
        }
    }
    if (rc == CORIO_OK && corio_cbor_dec_finish(&d) != CORIO_OK)
        rc = refuse(why, whylen, CORIO_ERR_MALFORMED, "trailing bytes after the batch");
    if (rc != CORIO_OK) {
        corio_batch_free(b);
        return rc;
    }
    b->count = (size_t)count;
    return CORIO_OK;
}

void corio_batch_free(struct corio_batch *b)
{
    free(b->msgs);
    memset(b, 0, sizeof *b);
}

int64_t corio_ack_encode(uint64_t epoch, const struct corio_ack_range *ranges, size_t n,
                         uint8_t *buf, size_t cap)
{
    if (epoch == 0)
        return CORIO_ERR_INVAL;
    struct corio_cbor_enc e;
    corio_cbor_enc_init(&e, buf, cap);
    corio_cbor_put_map(&e, 3);
    corio_cbor_put_uint(&e, A_VERSION);
    corio_cbor_put_uint(&e, CORIO_ACK_VERSION);
    corio_cbor_put_uint(&e, A_EPOCH);
    corio_cbor_put_uint(&e, epoch);
    corio_cbor_put_uint(&e, A_RANGES);
    corio_cbor_put_array(&e, n);
    for (size_t i = 0; i < n; i++) {
        if (ranges[i].first > ranges[i].last)
            return CORIO_ERR_INVAL;
        corio_cbor_put_array(&e, 2);
        corio_cbor_put_uint(&e, ranges[i].first);
        corio_cbor_put_uint(&e, ranges[i].last);
    }
    int rc = corio_cbor_enc_finish(&e);
    return rc < 0 ? rc : (int64_t)corio_cbor_enc_len(&e);
}

int corio_ack_decode(const uint8_t *buf, size_t len, uint64_t *epoch,
                     struct corio_ack_range *ranges, size_t max)
{
    struct corio_cbor_dec d;
    corio_cbor_dec_init(&d, buf, len);
    uint64_t pairs, version, n;
    if (corio_cbor_expect_map(&d, &pairs) != CORIO_OK || pairs != 3 ||
        expect_key(&d, A_VERSION) != CORIO_OK || corio_cbor_expect_uint(&d, &version) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    if (version != CORIO_ACK_VERSION)
        return CORIO_ERR_VERSION;
    if (expect_key(&d, A_EPOCH) != CORIO_OK || corio_cbor_expect_uint(&d, epoch) != CORIO_OK ||
        expect_key(&d, A_RANGES) != CORIO_OK || corio_cbor_expect_array(&d, &n) != CORIO_OK ||
        n == CORIO_CBOR_INDEFINITE)
        return CORIO_ERR_MALFORMED;
    if (n > max)
        return CORIO_ERR_NOSPACE;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t two;
        if (corio_cbor_expect_array(&d, &two) != CORIO_OK || two != 2 ||
            corio_cbor_expect_uint(&d, &ranges[i].first) != CORIO_OK ||
            corio_cbor_expect_uint(&d, &ranges[i].last) != CORIO_OK)
            return CORIO_ERR_MALFORMED;
        if (ranges[i].first > ranges[i].last)
            return CORIO_ERR_POLICY;
    }
    if (corio_cbor_dec_finish(&d) != CORIO_OK || *epoch == 0)
        return CORIO_ERR_MALFORMED;
    return (int)n;
}

int corio_batch_seal(const struct corio_key *key, const char *gateway, unsigned key_number,
                     const uint8_t *payload, size_t len, uint8_t **out, size_t *outlen)
{
    *out = NULL;
    char kid[CORIO_DID_BUF];
    struct corio_did did = {.has_key = true, .key = key_number};
    if (corio_did_id_parse(gateway, strlen(gateway), did.id) != CORIO_OK ||
        corio_did_format(&did, kid, sizeof kid) < 0)
        return CORIO_ERR_INVAL;
    size_t kid_len = strlen(kid);
    size_t cap = CORIO_COSE_SIGN1_MAX(kid_len, len);
    uint8_t *buf = malloc(cap);
    if (!buf)
        return CORIO_ERR_NOSPACE;
    int n = corio_cose_sign1_sign(key, (const uint8_t *)kid, kid_len,
                                  (const uint8_t *)CORIO_BATCH_AAD, strlen(CORIO_BATCH_AAD),
                                  payload, len, 0, buf, cap);
    if (n < 0) {
        free(buf);
        return n;
    }
    *out = buf;
    *outlen = (size_t)n;
    return CORIO_OK;
}

static int signer_of(const struct corio_cose_sign1 *m, struct corio_did *did)
{
    if (!m->kid || !m->kid_protected ||
        corio_did_parse((const char *)m->kid, m->kid_len, did) != CORIO_OK || !did->has_key)
        return CORIO_ERR_MALFORMED;
    return CORIO_OK;
}

int corio_batch_signer(const uint8_t *wire, size_t len, char gateway[CORIO_SHORT_ID_CHARS + 1],
                       unsigned *key_number)
{
    struct corio_cose_sign1 m;
    struct corio_did did;
    if (corio_cose_sign1_decode(wire, len, &m) != CORIO_OK || m.detached ||
        signer_of(&m, &did) != CORIO_OK ||
        corio_did_id_format(did.id, gateway, CORIO_SHORT_ID_CHARS + 1) < 0)
        return CORIO_ERR_MALFORMED;
    *key_number = did.key;
    return CORIO_OK;
}

int corio_batch_open(const struct corio_crypto_ops *ops, const uint8_t *wire, size_t len,
                     const uint8_t *pub, size_t pub_len, struct corio_batch *b, char *why,
                     size_t whylen)
{
    memset(b, 0, sizeof *b);
    struct corio_cose_sign1 m;
    struct corio_did did;
    if (corio_cose_sign1_decode(wire, len, &m) != CORIO_OK || m.detached)
        return refuse(why, whylen, CORIO_ERR_MALFORMED, "not a COSE_Sign1 with a payload");
    if (signer_of(&m, &did) != CORIO_OK)
        return refuse(why, whylen, CORIO_ERR_MALFORMED, "no protected kid naming a gateway key");
    int rc = corio_cose_sign1_verify(ops, &m, pub, pub_len, (const uint8_t *)CORIO_BATCH_AAD,
                                     strlen(CORIO_BATCH_AAD), NULL, 0);
    if (rc != CORIO_OK)
        return refuse(why, whylen, rc == CORIO_ERR_BADSIG ? CORIO_ERR_BADSIG : rc,
                      "the batch signature does not verify with the gateway's key");
    if ((rc = corio_batch_decode(m.payload, m.payload_len, b, why, whylen)) != CORIO_OK)
        return rc;
    uint8_t id[CORIO_DID_ID_LEN];
    if (corio_did_id_parse(b->gateway, strlen(b->gateway), id) != CORIO_OK ||
        memcmp(id, did.id, sizeof id) != 0) {
        corio_batch_free(b);
        return refuse(why, whylen, CORIO_ERR_POLICY, "the batch names another gateway than its signer");
    }
    return CORIO_OK;
}
