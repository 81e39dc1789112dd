/*
 * did.c - did:corio identifiers (include/corio/did.h): the short id of an inception
 * key, and strict parsing and printing of "did:corio:<id>[#<key number>]".
 */
#include "corio/did.h"

#include <string.h>

#include "corio/encoding.h"
#include "corio/p256.h"

int corio_did_from_key(const struct corio_crypto_ops *ops, const uint8_t *pub, size_t pub_len,
                       struct corio_did *did)
{
    uint8_t full[CORIO_P256_PUB_LEN], comp[CORIO_P256_PUB_COMPRESSED], hash[CORIO_SHA256_LEN];
    if (!ops || !pub || !did)
        return CORIO_ERR_INVAL;
#if CORIO_CRYPTO_POINT_CHECK
    /* Parse then compress: the id is over the compressed form whichever form came in,
     * and a compressed input is checked to be a curve point on the way. */
    int rc = corio_p256_point_parse(pub, pub_len, full);
    if (rc != CORIO_OK)
        return rc;
    rc = corio_p256_compress(full, comp);
    if (rc != CORIO_OK)
        return rc;
#else
    /* Without the SDK's point arithmetic (crypto.h) only the form is checked; the
     * compressed form is x with the parity of y in its prefix. */
    (void)full;
    int rc;
    if (pub_len == CORIO_P256_PUB_COMPRESSED && (pub[0] == 0x02 || pub[0] == 0x03)) {
        memcpy(comp, pub, sizeof comp);
    } else if (pub_len == CORIO_P256_PUB_LEN && pub[0] == 0x04) {
        comp[0] = (uint8_t)(0x02 | (pub[64] & 1u));
        memcpy(comp + 1, pub + 1, CORIO_P256_SCALAR_LEN);
    } else {
        return CORIO_ERR_MALFORMED;
    }
#endif
    rc = corio_sha256(ops, comp, sizeof comp, hash);
    if (rc != CORIO_OK)
        return rc;
    memcpy(did->id, hash, CORIO_DID_ID_LEN);
    did->has_key = false;
    did->key = 0;
    return CORIO_OK;
}

int corio_did_id_format(const uint8_t id[CORIO_DID_ID_LEN], char *out, size_t cap)
{
    if (!id || !out)
        return CORIO_ERR_INVAL;
    return corio_base32_encode(id, CORIO_DID_ID_LEN, out, cap);
}

int corio_did_id_parse(const char *s, size_t len, uint8_t id[CORIO_DID_ID_LEN])
{
    uint8_t tmp[CORIO_DID_ID_LEN];
    if (!s || !id)
        return CORIO_ERR_INVAL;
    if (len != CORIO_DID_ID_CHARS)
        return CORIO_ERR_MALFORMED;
    /* 24 characters are exactly 120 bits, so the strict decoder leaves no spare bits
     * and each id has one spelling. */
    if (corio_base32_decode(s, len, tmp, sizeof tmp) != CORIO_DID_ID_LEN)
        return CORIO_ERR_MALFORMED;
    memcpy(id, tmp, sizeof tmp);
    return CORIO_OK;
}

/* A key number: 1 to 10 digits, no leading zero unless it is "0", at most 2^32 - 1. */
static int parse_key_number(const char *s, size_t len, uint32_t *out)
{
    if (len == 0 || len > 10 || (len > 1 && s[0] == '0'))
        return CORIO_ERR_MALFORMED;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return CORIO_ERR_MALFORMED;
        v = v * 10u + (uint64_t)(s[i] - '0');
    }
    if (v > UINT32_MAX)
        return CORIO_ERR_MALFORMED;
    *out = (uint32_t)v;
    return CORIO_OK;
}

int corio_did_parse(const char *s, size_t len, struct corio_did *did)
{
    struct corio_did d;
    if (!s || !did)
        return CORIO_ERR_INVAL;
    if (len < CORIO_DID_PREFIX_LEN + CORIO_DID_ID_CHARS ||
        memcmp(s, CORIO_DID_PREFIX, CORIO_DID_PREFIX_LEN) != 0)
        return CORIO_ERR_MALFORMED;
    int rc = corio_did_id_parse(s + CORIO_DID_PREFIX_LEN, CORIO_DID_ID_CHARS, d.id);
    if (rc != CORIO_OK)
        return rc;
    size_t at = CORIO_DID_PREFIX_LEN + CORIO_DID_ID_CHARS;
    d.has_key = false;
    d.key = 0;
    if (at < len) {
        /* Only a key fragment may follow: no path, query or DID parameters. */
        if (s[at] != '#')
            return CORIO_ERR_MALFORMED;
        rc = parse_key_number(s + at + 1, len - at - 1, &d.key);
        if (rc != CORIO_OK)
            return rc;
        d.has_key = true;
    }
    *did = d;
    return CORIO_OK;
}

int corio_did_format(const struct corio_did *did, char *out, size_t cap)
{
    char buf[CORIO_DID_BUF];
    if (!did || !out)
        return CORIO_ERR_INVAL;
    memcpy(buf, CORIO_DID_PREFIX, CORIO_DID_PREFIX_LEN);
    int rc =
        corio_did_id_format(did->id, buf + CORIO_DID_PREFIX_LEN, sizeof buf - CORIO_DID_PREFIX_LEN);
    if (rc < 0)
        return rc;
    size_t n = CORIO_DID_PREFIX_LEN + CORIO_DID_ID_CHARS;
    if (did->has_key) {
        char digits[10];
        size_t nd = 0;
        uint32_t v = did->key;
        do {
            digits[nd++] = (char)('0' + v % 10u);
            v /= 10u;
        } while (v);
        buf[n++] = '#';
        while (nd)
            buf[n++] = digits[--nd];
    }
    if (cap < n + 1)
        return CORIO_ERR_NOSPACE;
    memcpy(out, buf, n);
    out[n] = '\0';
    return (int)n;
}

bool corio_did_same(const struct corio_did *a, const struct corio_did *b)
{
    return a && b && memcmp(a->id, b->id, CORIO_DID_ID_LEN) == 0;
}
