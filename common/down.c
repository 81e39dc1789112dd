/*
 * down.c - the downlink container and the gateway's state message (down.h), and the
 * COSE_Sign1 around each.
 *
 * Both are deterministic CBOR maps with small unsigned keys, read strictly in key
 * order: a decoder that accepts exactly one encoding per value cannot be told two
 * things by one signed message.
 */
#include "down.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corio/cbor.h"
#include "corio/cose.h"
#include "corio/did.h"
#include "corio/p256.h"
#include "corio/topic.h"

/* Item keys. */
enum { I_KIND = 1, I_DEVICE, I_PAYLOAD, I_HEIGHT, I_BASE, I_UPDATE, I_BLOCKS, I_STH, I_TIME };

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

static int key(struct corio_cbor_dec *d, uint64_t want)
{
    uint64_t k;
    return corio_cbor_expect_uint(d, &k) == CORIO_OK && k == want ? CORIO_OK : CORIO_ERR_MALFORMED;
}

static int id_into(struct corio_cbor_dec *d, char out[25])
{
    const char *s;
    size_t n;
    if (corio_cbor_expect_text(d, &s, &n) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    if (n != CORIO_SHORT_ID_LEN || !corio_short_id_valid(s, n))
        return CORIO_ERR_POLICY;
    memcpy(out, s, n);
    out[n] = '\0';
    return CORIO_OK;
}

static bool id_ok(const char *s)
{
    return s && strlen(s) == CORIO_SHORT_ID_LEN && corio_short_id_valid(s, CORIO_SHORT_ID_LEN);
}

/* ---- encoding ---- */

static void put_item(struct corio_cbor_enc *e, const struct corio_down_item *it)
{
    switch (it->kind) {
    case CORIO_DOWN_COMMAND:
    case CORIO_DOWN_CONFIG:
        corio_cbor_put_map(e, 3);
        corio_cbor_put_uint(e, I_KIND);
        corio_cbor_put_uint(e, it->kind);
        corio_cbor_put_uint(e, I_DEVICE);
        corio_cbor_put_textz(e, it->device);
        corio_cbor_put_uint(e, I_PAYLOAD);
        corio_cbor_put_bytes(e, it->payload.p, it->payload.n);
        break;
    case CORIO_DOWN_REGISTRY:
        corio_cbor_put_map(e, 6);
        corio_cbor_put_uint(e, I_KIND);
        corio_cbor_put_uint(e, it->kind);
        corio_cbor_put_uint(e, I_HEIGHT);
        corio_cbor_put_uint(e, it->height);
        corio_cbor_put_uint(e, I_BASE);
        corio_cbor_put_uint(e, it->base);
        corio_cbor_put_uint(e, I_UPDATE);
        corio_cbor_put_text(e, (const char *)it->update.p, it->update.n);
        corio_cbor_put_uint(e, I_BLOCKS);
        corio_cbor_put_array(e, it->nblocks);
        for (size_t i = 0; i < it->nblocks; i++)
            corio_cbor_put_bytes(e, it->blocks[i].p, it->blocks[i].n);
        corio_cbor_put_uint(e, I_STH);
        corio_cbor_put_bytes(e, it->sth.p, it->sth.n);
        break;
    case CORIO_DOWN_TIME:
        corio_cbor_put_map(e, 2);
        corio_cbor_put_uint(e, I_KIND);
        corio_cbor_put_uint(e, it->kind);
        corio_cbor_put_uint(e, I_TIME);
        corio_cbor_put_uint(e, it->time_ms);
        break;
    }
}

static bool item_ok(const struct corio_down_item *it)
{
    switch (it->kind) {
    case CORIO_DOWN_COMMAND: {
        struct corio_cmd c;
        return id_ok(it->device) && it->payload.n <= CORIO_DOWN_MAX_PAYLOAD &&
               corio_cmd_decode(it->payload.p, it->payload.n, &c) == CORIO_OK;
    }
    case CORIO_DOWN_CONFIG: {
        struct corio_cfg_desired c;
        return id_ok(it->device) && it->payload.n <= CORIO_DOWN_MAX_PAYLOAD &&
               corio_cfg_desired_decode(it->payload.p, it->payload.n, &c) == CORIO_OK;
    }
    case CORIO_DOWN_REGISTRY:
        return it->height > it->base && it->update.n <= CORIO_DOWN_MAX_UPDATE &&
               it->nblocks <= CORIO_DOWN_MAX_BLOCKS &&
               it->nblocks >= (it->base ? it->height - it->base : 1) && it->sth.n >= 1 &&
               it->sth.n <= CORIO_DOWN_MAX_STH && (it->update.n == 0 || it->update.p) &&
               (it->nblocks == 0 || it->blocks);
    case CORIO_DOWN_TIME:
        return true;
    }
    return false;
}

int64_t corio_down_encode(const struct corio_down *d, uint8_t *buf, size_t cap)
{
    if (!d || !id_ok(d->gateway) || d->nitems > CORIO_DOWN_MAX_ITEMS || (d->nitems && !d->items))
        return CORIO_ERR_INVAL;
    for (size_t i = 0; i < d->nitems; i++)
        if (!item_ok(&d->items[i]))
            return CORIO_ERR_INVAL;
    struct corio_cbor_enc e;
    corio_cbor_enc_init(&e, buf, cap);
    corio_cbor_put_map(&e, 4);
    corio_cbor_put_uint(&e, 1);
    corio_cbor_put_uint(&e, CORIO_DOWN_VERSION);
    corio_cbor_put_uint(&e, 2);
    corio_cbor_put_textz(&e, d->gateway);
    corio_cbor_put_uint(&e, 3);
    corio_cbor_put_uint(&e, d->made_ms);
    corio_cbor_put_uint(&e, 4);
    corio_cbor_put_array(&e, d->nitems);
    for (size_t i = 0; i < d->nitems; i++)
        put_item(&e, &d->items[i]);
    int rc = corio_cbor_enc_finish(&e);
    return rc < 0 ? rc : (int64_t)corio_cbor_enc_len(&e);
}

/* ---- decoding ---- */

static int decode_item(struct corio_cbor_dec *d, struct corio_down_item *it, char *why,
                       size_t whylen)
{
    uint64_t pairs, kind;
    memset(it, 0, sizeof *it);
    if (corio_cbor_expect_map(d, &pairs) != CORIO_OK || key(d, I_KIND) != CORIO_OK ||
        corio_cbor_expect_uint(d, &kind) != CORIO_OK)
        return refuse(why, whylen, CORIO_ERR_MALFORMED, "an item is not a map with a kind");
    int rc;
    switch (kind) {
    case CORIO_DOWN_COMMAND:
    case CORIO_DOWN_CONFIG:
        it->kind = (enum corio_down_kind)kind;
        if (pairs != 3 || key(d, I_DEVICE) != CORIO_OK)
            return refuse(why, whylen, CORIO_ERR_MALFORMED, "a device item has other keys");
        if ((rc = id_into(d, it->device)) != CORIO_OK)
            return refuse(why, whylen, rc, "an item names a device that is not a short id");
        if (key(d, I_PAYLOAD) != CORIO_OK ||
            corio_cbor_expect_bytes(d, &it->payload.p, &it->payload.n) != CORIO_OK)
            return refuse(why, whylen, CORIO_ERR_MALFORMED, "a device item has no payload");
        if (!item_ok(it))
            return refuse(why, whylen, CORIO_ERR_POLICY, "the %s for %s does not decode",
                          kind == CORIO_DOWN_COMMAND ? "command" : "configuration", it->device);
        return CORIO_OK;
    case CORIO_DOWN_REGISTRY: {
        uint64_t nb;
        const char *text;
        it->kind = CORIO_DOWN_REGISTRY;
        if (pairs != 6 || key(d, I_HEIGHT) != CORIO_OK ||
            corio_cbor_expect_uint(d, &it->height) != CORIO_OK || key(d, I_BASE) != CORIO_OK ||
            corio_cbor_expect_uint(d, &it->base) != CORIO_OK || key(d, I_UPDATE) != CORIO_OK ||
            corio_cbor_expect_text(d, &text, &it->update.n) != CORIO_OK ||
            key(d, I_BLOCKS) != CORIO_OK || corio_cbor_expect_array(d, &nb) != CORIO_OK ||
            nb == CORIO_CBOR_INDEFINITE)
            return refuse(why, whylen, CORIO_ERR_MALFORMED, "a malformed registry item");
        it->update.p = (const uint8_t *)text;
        if (nb > CORIO_DOWN_MAX_BLOCKS)
            return refuse(why, whylen, CORIO_ERR_POLICY, "a registry item with %llu blocks",
                          (unsigned long long)nb);
        if (nb) {
            it->blocks = calloc((size_t)nb, sizeof *it->blocks);
            if (!it->blocks)
                return refuse(why, whylen, CORIO_ERR_NOSPACE, "out of memory");
        }
        for (uint64_t i = 0; i < nb; i++) {
            if (corio_cbor_expect_bytes(d, &it->blocks[i].p, &it->blocks[i].n) != CORIO_OK)
                return refuse(why, whylen, CORIO_ERR_MALFORMED, "a block is not a byte string");
            if (it->blocks[i].n > CORIO_DOWN_MAX_BLOCK)
                return refuse(why, whylen, CORIO_ERR_POLICY, "a block over its size bound");
            it->nblocks++;
        }
        if (key(d, I_STH) != CORIO_OK ||
            corio_cbor_expect_bytes(d, &it->sth.p, &it->sth.n) != CORIO_OK)
            return refuse(why, whylen, CORIO_ERR_MALFORMED, "a registry item has no tree head");
        if (!item_ok(it))
            return refuse(why, whylen, CORIO_ERR_POLICY,
                          "a registry item's heights, blocks or sizes do not fit");
        return CORIO_OK;
    }
    case CORIO_DOWN_TIME:
        it->kind = CORIO_DOWN_TIME;
        if (pairs != 2 || key(d, I_TIME) != CORIO_OK ||
            corio_cbor_expect_uint(d, &it->time_ms) != CORIO_OK)
            return refuse(why, whylen, CORIO_ERR_MALFORMED, "a malformed time item");
        return CORIO_OK;
    default:
        return refuse(why, whylen, CORIO_ERR_POLICY, "an item of unknown kind %llu",
                      (unsigned long long)kind);
    }
}

void corio_down_free(struct corio_down *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->nitems; i++)
        free(d->items[i].blocks);
    free(d->items);
    d->items = NULL;
    d->nitems = 0;
}

int corio_down_decode(const uint8_t *buf, size_t len, struct corio_down *d, char *why,
                      size_t whylen)
{
    if ((!buf && len) || !d)
        return CORIO_ERR_INVAL;
    memset(d, 0, sizeof *d);
    int rc = corio_cbor_deterministic(buf, len);
    if (rc != CORIO_OK)
        return refuse(why, whylen, rc == CORIO_ERR_POLICY ? CORIO_ERR_POLICY : CORIO_ERR_MALFORMED,
                      "not one deterministic CBOR item");
    struct corio_cbor_dec dec;
    uint64_t pairs, version, n;
    corio_cbor_dec_init(&dec, buf, len);
    if (corio_cbor_expect_map(&dec, &pairs) != CORIO_OK || key(&dec, 1) != CORIO_OK ||
        corio_cbor_expect_uint(&dec, &version) != CORIO_OK)
        return refuse(why, whylen, CORIO_ERR_MALFORMED, "not a downlink container");
    if (version != CORIO_DOWN_VERSION)
        return refuse(why, whylen, CORIO_ERR_VERSION, "container version %llu",
                      (unsigned long long)version);
    if (pairs != 4 || key(&dec, 2) != CORIO_OK)
        return refuse(why, whylen, CORIO_ERR_MALFORMED, "a container has other keys");
    if ((rc = id_into(&dec, d->gateway)) != CORIO_OK)
        return refuse(why, whylen, rc, "the container's gateway is not a short id");
    if (key(&dec, 3) != CORIO_OK || corio_cbor_expect_uint(&dec, &d->made_ms) != CORIO_OK ||
        key(&dec, 4) != CORIO_OK || corio_cbor_expect_array(&dec, &n) != CORIO_OK)
        return refuse(why, whylen, CORIO_ERR_MALFORMED, "a malformed container");
    if (n > CORIO_DOWN_MAX_ITEMS)
        return refuse(why, whylen, CORIO_ERR_POLICY, "%llu items", (unsigned long long)n);
    if (n && !(d->items = calloc((size_t)n, sizeof *d->items)))
        return refuse(why, whylen, CORIO_ERR_NOSPACE, "out of memory");
    for (uint64_t i = 0; i < n; i++) {
        rc = decode_item(&dec, &d->items[i], why, whylen);
        d->nitems++; /* so that free releases what this item allocated */
        if (rc != CORIO_OK) {
            corio_down_free(d);
            return rc;
        }
    }
    if (corio_cbor_dec_finish(&dec) != CORIO_OK) {
        corio_down_free(d);
        return refuse(why, whylen, CORIO_ERR_MALFORMED, "bytes after the container");
    }
    return CORIO_OK;
}

/* ---- state ---- */

int64_t corio_state_encode(const struct corio_gw_state *s, uint8_t *buf, size_t cap)
{
    if (!s || !id_ok(s->gateway) || s->ndelivered > CORIO_STATE_MAX_CIDS ||
        (s->ndelivered && !s->delivered))
        return CORIO_ERR_INVAL;
    for (size_t i = 0; i < s->ndelivered; i++)
        if (!id_ok(s->delivered[i].device) || s->delivered[i].cid_len < 1 ||
            s->delivered[i].cid_len > CORIO_CMD_CID_MAX)
            return CORIO_ERR_INVAL;
    struct corio_cbor_enc e;
    corio_cbor_enc_init(&e, buf, cap);
    corio_cbor_put_map(&e, 8);
    corio_cbor_put_uint(&e, 1);
    corio_cbor_put_uint(&e, CORIO_STATE_VERSION);
    corio_cbor_put_uint(&e, 2);
    corio_cbor_put_textz(&e, s->gateway);
    corio_cbor_put_uint(&e, 3);
    corio_cbor_put_uint(&e, s->made_ms);
    corio_cbor_put_uint(&e, 4);
    corio_cbor_put_uint(&e, s->registry_height);
    corio_cbor_put_uint(&e, 5);
    corio_cbor_put_uint(&e, s->want);
    corio_cbor_put_uint(&e, 6);
    corio_cbor_put_uint(&e, s->queued);
    corio_cbor_put_uint(&e, 7);
    corio_cbor_put_uint(&e, s->online);
    corio_cbor_put_uint(&e, 8);
    corio_cbor_put_array(&e, s->ndelivered);
    for (size_t i = 0; i < s->ndelivered; i++) {
        corio_cbor_put_array(&e, 2);
        corio_cbor_put_textz(&e, s->delivered[i].device);
        corio_cbor_put_bytes(&e, s->delivered[i].cid, s->delivered[i].cid_len);
    }
    int rc = corio_cbor_enc_finish(&e);
    return rc < 0 ? rc : (int64_t)corio_cbor_enc_len(&e);
}

void corio_state_free(struct corio_gw_state *s)
{
    if (!s)
        return;
    free(s->delivered);
    s->delivered = NULL;
    s->ndelivered = 0;
}

int corio_state_decode(const uint8_t *buf, size_t len, struct corio_gw_state *s, char *why,
                       size_t whylen)
{
    if ((!buf && len) || !s)
        return CORIO_ERR_INVAL;
    memset(s, 0, sizeof *s);
    int rc = corio_cbor_deterministic(buf, len);
    if (rc != CORIO_OK)
        return refuse(why, whylen, rc == CORIO_ERR_POLICY ? CORIO_ERR_POLICY : CORIO_ERR_MALFORMED,
                      "not one deterministic CBOR item");
    struct corio_cbor_dec d;
    uint64_t pairs, version, n;
    corio_cbor_dec_init(&d, buf, len);
    if (corio_cbor_expect_map(&d, &pairs) != CORIO_OK || key(&d, 1) != CORIO_OK ||
        corio_cbor_expect_uint(&d, &version) != CORIO_OK)
        return refuse(why, whylen, CORIO_ERR_MALFORMED, "not a state message");
    if (version != CORIO_STATE_VERSION)
        return refuse(why, whylen, CORIO_ERR_VERSION, "state version %llu",
                      (unsigned long long)version);
    if (pairs != 8 || key(&d, 2) != CORIO_OK)
        return refuse(why, whylen, CORIO_ERR_MALFORMED, "a state message has other keys");
    if ((rc = id_into(&d, s->gateway)) != CORIO_OK)
        return refuse(why, whylen, rc, "the state's gateway is not a short id");
    if (key(&d, 3) != CORIO_OK || corio_cbor_expect_uint(&d, &s->made_ms) != CORIO_OK ||
        key(&d, 4) != CORIO_OK || corio_cbor_expect_uint(&d, &s->registry_height) != CORIO_OK ||
        key(&d, 5) != CORIO_OK || corio_cbor_expect_uint(&d, &s->want) != CORIO_OK ||
        key(&d, 6) != CORIO_OK || corio_cbor_expect_uint(&d, &s->queued) != CORIO_OK ||
        key(&d, 7) != CORIO_OK || corio_cbor_expect_uint(&d, &s->online) != CORIO_OK ||
        key(&d, 8) != CORIO_OK || corio_cbor_expect_array(&d, &n) != CORIO_OK)
        return refuse(why, whylen, CORIO_ERR_MALFORMED, "a malformed state message");
    if (n > CORIO_STATE_MAX_CIDS)
        return refuse(why, whylen, CORIO_ERR_POLICY, "%llu delivered commands",
                      (unsigned long long)n);
    if (n && !(s->delivered = calloc((size_t)n, sizeof *s->delivered)))
        return refuse(why, whylen, CORIO_ERR_NOSPACE, "out of memory");
    for (uint64_t i = 0; i < n; i++) {
        uint64_t two;
        const uint8_t *cid;
        struct corio_state_cid *c = &s->delivered[i];
        if (corio_cbor_expect_array(&d, &two) != CORIO_OK || two != 2 ||
            (rc = id_into(&d, c->device)) != CORIO_OK ||
            corio_cbor_expect_bytes(&d, &cid, &c->cid_len) != CORIO_OK || c->cid_len < 1 ||
            c->cid_len > CORIO_CMD_CID_MAX) {
            corio_state_free(s);
            return refuse(why, whylen, CORIO_ERR_MALFORMED, "a malformed delivered command");
        }
        memcpy(c->cid, cid, c->cid_len);
        s->ndelivered++;
    }
    if (corio_cbor_dec_finish(&d) != CORIO_OK) {
        corio_state_free(s);
        return refuse(why, whylen, CORIO_ERR_MALFORMED, "bytes after the state message");
    }
    return CORIO_OK;
}

/* ---- signatures ---- */

static int seal(const struct corio_key *key, const uint8_t *kid, size_t kid_len, const char *aad,
                const uint8_t *payload, size_t len, uint8_t **out, size_t *outlen)
{
    *out = NULL;
    size_t cap = CORIO_COSE_SIGN1_MAX(kid_len, len);
    uint8_t *buf = malloc(cap);
    if (!buf)
        return CORIO_ERR_NOSPACE;
    int n = corio_cose_sign1_sign(key, kid, kid_len, (const uint8_t *)aad, strlen(aad), payload,
                                  len, 0, buf, cap);
    if (n < 0) {
        free(buf);
        return n;
    }
    *out = buf;
    *outlen = (size_t)n;
    return CORIO_OK;
}

int corio_down_seal(const struct corio_key *key, const uint8_t *payload, size_t len, uint8_t **out,
                    size_t *outlen)
{
    uint8_t kid[CORIO_P256_PUB_COMPRESSED];
    int rc = corio_key_public_compressed(key, kid);
    if (rc != CORIO_OK)
        return rc;
    return seal(key, kid, sizeof kid, CORIO_DOWN_AAD, payload, len, out, outlen);
}

int corio_down_open(const struct corio_crypto_ops *ops, const uint8_t *wire, size_t len,
                    const uint8_t *pub, size_t pub_len, struct corio_down *d, char *why,
                    size_t whylen)
{
    memset(d, 0, sizeof *d);
    struct corio_cose_sign1 m;
    if (corio_cose_sign1_decode(wire, len, &m) != CORIO_OK || m.detached)
        return refuse(why, whylen, CORIO_ERR_MALFORMED, "not a COSE_Sign1 with a payload");
    int rc = corio_cose_sign1_verify(ops, &m, pub, pub_len, (const uint8_t *)CORIO_DOWN_AAD,
                                     strlen(CORIO_DOWN_AAD), NULL, 0);
    if (rc != CORIO_OK)
        return refuse(why, whylen, rc == CORIO_ERR_BADSIG ? CORIO_ERR_BADSIG : rc,
                      "the container is not signed by the cloud's downlink key");
    return corio_down_decode(m.payload, m.payload_len, d, why, whylen);
}

int corio_state_seal(const struct corio_key *key, const char *gateway, unsigned key_number,
                     const uint8_t *payload, size_t len, uint8_t **out, size_t *outlen)
{
    char kid[CORIO_DID_BUF];
    struct corio_did did = {.has_key = true, .key = key_number};
    *out = NULL;
    if (!gateway || corio_did_id_parse(gateway, strlen(gateway), did.id) != CORIO_OK ||
        corio_did_format(&did, kid, sizeof kid) < 0)
        return CORIO_ERR_INVAL;
    return seal(key, (const uint8_t *)kid, strlen(kid), CORIO_STATE_AAD, payload, len, out, outlen);
}

int corio_state_open(const struct corio_crypto_ops *ops, const uint8_t *wire, size_t len,
                     const uint8_t *pub, size_t pub_len, unsigned key_number,
                     struct corio_gw_state *s, char *why, size_t whylen)
{
    memset(s, 0, sizeof *s);
    struct corio_cose_sign1 m;
    struct corio_did did;
    if (corio_cose_sign1_decode(wire, len, &m) != CORIO_OK || m.detached)
        return refuse(why, whylen, CORIO_ERR_MALFORMED, "not a COSE_Sign1 with a payload");
    if (!m.kid || !m.kid_protected ||
        corio_did_parse((const char *)m.kid, m.kid_len, &did) != CORIO_OK || !did.has_key)
        return refuse(why, whylen, CORIO_ERR_MALFORMED, "no protected kid naming a gateway key");
    if (did.key != key_number)
        return refuse(why, whylen, CORIO_ERR_POLICY, "signed with key %u, not the current %u",
                      (unsigned)did.key, key_number);
    int rc = corio_cose_sign1_verify(ops, &m, pub, pub_len, (const uint8_t *)CORIO_STATE_AAD,
                                     strlen(CORIO_STATE_AAD), NULL, 0);
    if (rc != CORIO_OK)
        return refuse(why, whylen, rc == CORIO_ERR_BADSIG ? CORIO_ERR_BADSIG : rc,
                      "the state message signature does not verify");
    if ((rc = corio_state_decode(m.payload, m.payload_len, s, why, whylen)) != CORIO_OK)
        return rc;
    uint8_t id[CORIO_DID_ID_LEN];
    if (corio_did_id_parse(s->gateway, strlen(s->gateway), id) != CORIO_OK ||
        memcmp(id, did.id, sizeof id) != 0) {
        corio_state_free(s);
        return refuse(why, whylen, CORIO_ERR_POLICY, "the state names another gateway");
    }
    return CORIO_OK;
}
