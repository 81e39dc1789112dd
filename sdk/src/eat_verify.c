/*
 * eat_verify.c - reading and verifying Corio EATs (include/corio/eat.h,
 * docs/eat-profile.md): strict decoding of the COSE_Sign1, the claims map and the
 * CoSWID evidence that carries the firmware digest, then the verifier's checks.
 */
#include <string.h>

#include "corio/eat.h"
#include "eat_int.h"

#define FAIL(code, reason)                                                                         \
    do {                                                                                           \
        *why = (reason);                                                                           \
        return (code);                                                                             \
    } while (0)

static int get_text(struct corio_cbor_dec *d, const char **s, size_t *n, size_t max)
{
    if (corio_cbor_expect_text(d, s, n) != CORIO_OK || *n < 1 || *n > max)
        return CORIO_ERR_MALFORMED;
    return CORIO_OK;
}

/* hash-entry = [1 (sha-256), bstr .size 32], inside the file-entry. */
static int get_hash(struct corio_cbor_dec *d, uint8_t digest[CORIO_SHA256_LEN], const char **why)
{
    uint64_t n;
    int64_t alg;
    const uint8_t *p;
    size_t len;
    if (corio_cbor_expect_array(d, &n) != CORIO_OK || n != 2 ||
        corio_cbor_expect_int(d, &alg) != CORIO_OK)
        FAIL(CORIO_ERR_MALFORMED, "firmware hash is not [alg, digest]");
    if (alg != 1)
        FAIL(CORIO_ERR_UNSUPPORTED, "firmware hash is not SHA-256");
    if (corio_cbor_expect_bytes(d, &p, &len) != CORIO_OK || len != CORIO_SHA256_LEN)
        FAIL(CORIO_ERR_MALFORMED, "firmware digest is not 32 bytes");
    memcpy(digest, p, CORIO_SHA256_LEN);
    return CORIO_OK;
}

/* The one file-entry of the evidence: {7: hash, 24: fs-name, ...}. */
static int get_file(struct corio_cbor_dec *d, uint8_t digest[CORIO_SHA256_LEN], const char **why)
{
    uint64_t pairs;
    bool name = false, hash = false;
    if (corio_cbor_expect_map(d, &pairs) != CORIO_OK)
        FAIL(CORIO_ERR_MALFORMED, "CoSWID evidence does not hold exactly one file");
    for (uint64_t i = 0; i < pairs; i++) {
        int64_t k;
        if (corio_cbor_expect_int(d, &k) != CORIO_OK)
            FAIL(CORIO_ERR_MALFORMED, "CoSWID key is not an integer");
        int rc = CORIO_OK;
        if (k == 7) {
            rc = get_hash(d, digest, why);
            if (rc != CORIO_OK)
                return rc;
            hash = true;
        } else if (k == 24) {
            const char *s;
            size_t n;
            rc = corio_cbor_expect_text(d, &s, &n);
            name = true;
        } else {
            rc = corio_cbor_skip(d);
        }
        if (rc != CORIO_OK)
            FAIL(CORIO_ERR_MALFORMED, "CoSWID file entry is malformed");
    }
    if (!name || !hash)
        FAIL(CORIO_ERR_MALFORMED, "CoSWID file entry lacks fs-name or hash");
    return CORIO_OK;
}

/* A CoSWID evidence tag (RFC 9393) restricted as docs/eat-profile.md says. */
static int get_coswid(const uint8_t *p, size_t len, uint8_t digest[CORIO_SHA256_LEN],
                      const char **why)
{
    if (corio_cbor_deterministic(p, len) != CORIO_OK)
        FAIL(CORIO_ERR_MALFORMED, "CoSWID is not deterministic CBOR");
    struct corio_cbor_dec d;
    uint64_t pairs;
    unsigned seen = 0; /* bit k: CoSWID item k was present */
    corio_cbor_dec_init(&d, p, len);
    if (corio_cbor_expect_map(&d, &pairs) != CORIO_OK)
        FAIL(CORIO_ERR_MALFORMED, "CoSWID is not a map");
    for (uint64_t i = 0; i < pairs; i++) {
        int64_t k;
        struct corio_cbor_item it;
        if (corio_cbor_expect_int(&d, &k) != CORIO_OK || corio_cbor_peek(&d, &it) != CORIO_OK)
            FAIL(CORIO_ERR_MALFORMED, "CoSWID key is not an integer");
        int rc = CORIO_OK;
        switch (k) {
        case 0: /* tag-id: text / bstr .size 16 */
            if (!(it.type == CORIO_CBOR_TEXT || (it.type == CORIO_CBOR_BYTES && it.len == 16)))
                FAIL(CORIO_ERR_MALFORMED, "CoSWID tag-id is malformed");
            rc = corio_cbor_skip(&d);
            break;
        case 1: /* software-name */
            if (it.type != CORIO_CBOR_TEXT)
                FAIL(CORIO_ERR_MALFORMED, "CoSWID software-name is not text");
            rc = corio_cbor_skip(&d);
            break;
        case 2: /* entity: one entry or an array of them */
            if (it.type != CORIO_CBOR_MAP && it.type != CORIO_CBOR_ARRAY)
                FAIL(CORIO_ERR_MALFORMED, "CoSWID entity is malformed");
            rc = corio_cbor_skip(&d);
            break;
        case 3: { /* evidence: {17: file-entry, ...} */
            uint64_t ep;
            bool file = false;
            if (corio_cbor_expect_map(&d, &ep) != CORIO_OK)
                FAIL(CORIO_ERR_MALFORMED, "CoSWID evidence is not a map");
            for (uint64_t j = 0; j < ep && rc == CORIO_OK; j++) {
                int64_t ek;
                if (corio_cbor_expect_int(&d, &ek) != CORIO_OK)
                    FAIL(CORIO_ERR_MALFORMED, "CoSWID key is not an integer");
                if (ek == 17) {
                    rc = get_file(&d, digest, why);
                    if (rc != CORIO_OK)
                        return rc;
                    file = true;
                } else {
                    rc = corio_cbor_skip(&d);
                }
            }
            if (rc == CORIO_OK && !file)
                FAIL(CORIO_ERR_MALFORMED, "CoSWID evidence has no file");
            break;
        }
        case 6: /* payload: a tag holds payload or evidence, and this one is evidence */
            FAIL(CORIO_ERR_MALFORMED, "CoSWID holds a payload, not evidence");
        case 12: /* tag-version */
            if (it.type != CORIO_CBOR_UINT && it.type != CORIO_CBOR_NEGINT)
                FAIL(CORIO_ERR_MALFORMED, "CoSWID tag-version is not an integer");
            rc = corio_cbor_skip(&d);
            break;
        default:
            rc = corio_cbor_skip(&d);
            break;
        }
        if (rc != CORIO_OK)
            FAIL(CORIO_ERR_MALFORMED, "CoSWID is malformed");
        if (k >= 0 && k < 16)
            seen |= 1u << k;
    }
    if (corio_cbor_dec_finish(&d) != CORIO_OK)
        FAIL(CORIO_ERR_MALFORMED, "CoSWID is malformed");
    const unsigned required = 1u << 0 | 1u << 1 | 1u << 2 | 1u << 3 | 1u << 12;
    if ((seen & required) != required)
        FAIL(CORIO_ERR_MALFORMED, "CoSWID lacks a required item");
    return CORIO_OK;
}

/* measurements = [[258, bstr .cbor coswid]]: exactly one CoSWID. */
static int get_measurements(struct corio_cbor_dec *d, uint8_t digest[CORIO_SHA256_LEN],
                            const char **why)
{
    uint64_t n, fmt;
    const uint8_t *p;
    size_t len;
    if (corio_cbor_expect_array(d, &n) != CORIO_OK || n != 1 ||
        corio_cbor_expect_array(d, &n) != CORIO_OK || n != 2 ||
        corio_cbor_expect_uint(d, &fmt) != CORIO_OK)
        FAIL(CORIO_ERR_MALFORMED, "measurements is not one [format, bytes]");
    if (fmt != CORIO_EAT_COSWID_FORMAT)
        FAIL(CORIO_ERR_UNSUPPORTED, "measurement is not a CoSWID");
    if (corio_cbor_expect_bytes(d, &p, &len) != CORIO_OK)
        FAIL(CORIO_ERR_MALFORMED, "measurement is not a byte string");
    return get_coswid(p, len, digest, why);
}

/* swversion = [version, ? scheme]. */
static int get_swversion(struct corio_cbor_dec *d, struct corio_eat_claims *c, const char **why)
{
    uint64_t n;
    int64_t scheme;
    if (corio_cbor_expect_array(d, &n) != CORIO_OK || n < 1 || n > 2 ||
        get_text(d, &c->fw_version, &c->fw_version_len, CORIO_EAT_TEXT_MAX) != CORIO_OK ||
        (n == 2 && corio_cbor_expect_int(d, &scheme) != CORIO_OK))
        FAIL(CORIO_ERR_MALFORMED, "swversion is not [version, ?scheme]");
    return CORIO_OK;
}

/* Claim bits, to find missing and inconsistent claims after the loop. */
enum {
    HAVE_ISS = 1 << 0,
    HAVE_AUD = 1 << 1,
    HAVE_PROFILE = 1 << 2,
    HAVE_ASSURANCE = 1 << 3,
    HAVE_SWVERSION = 1 << 4,
    HAVE_MEASUREMENTS = 1 << 5,
};

static int claim(struct corio_cbor_dec *d, int64_t key, struct corio_eat_claims *c, unsigned *have,
                 const char **why)
{
    const char *s;
    size_t n;
    uint64_t u;
    switch (key) {
    case CORIO_EAT_ISS:
        if (corio_cbor_expect_text(d, &s, &n) != CORIO_OK ||
            corio_did_parse(s, n, &c->issuer) != CORIO_OK || c->issuer.has_key)
            FAIL(CORIO_ERR_MALFORMED, "iss is not a did:corio");
        *have |= HAVE_ISS;
        return CORIO_OK;
    case CORIO_EAT_AUD:
        if (get_text(d, &c->aud, &c->aud_len, CORIO_EAT_AUD_MAX) != CORIO_OK)
            FAIL(CORIO_ERR_MALFORMED, "aud is not 1 to 64 bytes of text");
        *have |= HAVE_AUD;
        return CORIO_OK;
    case CORIO_EAT_IAT:
        if (corio_cbor_expect_uint(d, &c->iat) != CORIO_OK)
            FAIL(CORIO_ERR_MALFORMED, "iat is not an unsigned integer");
        c->has_iat = true;
        return CORIO_OK;
    case CORIO_EAT_NONCE:
        if (corio_cbor_expect_bytes(d, &c->nonce, &c->nonce_len) != CORIO_OK ||
            c->nonce_len < CORIO_EAT_NONCE_MIN || c->nonce_len > CORIO_EAT_NONCE_MAX)
            FAIL(CORIO_ERR_MALFORMED, "eat_nonce is not 8 to 64 bytes");
        return CORIO_OK;
    case CORIO_EAT_EAT_PROFILE:
        if (corio_cbor_expect_text(d, &s, &n) != CORIO_OK)
            FAIL(CORIO_ERR_MALFORMED, "eat_profile is not text");
        if (n != sizeof CORIO_EAT_PROFILE - 1 || memcmp(s, CORIO_EAT_PROFILE, n) != 0)
            FAIL(CORIO_ERR_UNSUPPORTED, "another EAT profile");
        *have |= HAVE_PROFILE;
        return CORIO_OK;
    case CORIO_EAT_BOOTCOUNT:
        if (corio_cbor_expect_uint(d, &c->bootcount) != CORIO_OK)
            FAIL(CORIO_ERR_MALFORMED, "bootcount is not an unsigned integer");
        c->has_bootcount = true;
        return CORIO_OK;
    case CORIO_EAT_SWNAME:
        if (get_text(d, &c->fw_name, &c->fw_name_len, CORIO_EAT_TEXT_MAX) != CORIO_OK)
            FAIL(CORIO_ERR_MALFORMED, "swname is not 1 to 32 bytes of text");
        return CORIO_OK;
    case CORIO_EAT_SWVERSION:
        *have |= HAVE_SWVERSION;
        return get_swversion(d, c, why);
    case CORIO_EAT_MEASUREMENTS:
        *have |= HAVE_MEASUREMENTS;
        return get_measurements(d, c->fw_digest, why);
    case CORIO_EAT_COUNTER:
        if (corio_cbor_expect_uint(d, &c->counter) != CORIO_OK)
            FAIL(CORIO_ERR_MALFORMED, "counter is not an unsigned integer");
        c->has_counter = true;
        return CORIO_OK;
    case CORIO_EAT_ASSURANCE:
        if (corio_cbor_expect_uint(d, &u) != CORIO_OK ||
            (u != CORIO_EAT_REPORTED && u != CORIO_EAT_ATTESTED))
            FAIL(CORIO_ERR_MALFORMED, "assurance is not 1 or 2");
        c->assurance = (uint8_t)u;
        *have |= HAVE_ASSURANCE;
        return CORIO_OK;
    default:
        /* Claims this profile does not use are ignored (RFC 8392 §3.1). */
        if (corio_cbor_skip(d) != CORIO_OK)
            FAIL(CORIO_ERR_MALFORMED, "claims are malformed");
        return CORIO_OK;
    }
}

static int get_claims(const uint8_t *p, size_t len, struct corio_eat_claims *c, const char **why)
{
    int det = corio_cbor_deterministic(p, len);
    if (det == CORIO_ERR_UNSUPPORTED)
        FAIL(det, "claims nest too deep");
    if (det != CORIO_OK)
        FAIL(CORIO_ERR_MALFORMED, "claims are not deterministic CBOR");
    struct corio_cbor_dec d;
    uint64_t pairs;
    unsigned have = 0;
    corio_cbor_dec_init(&d, p, len);
    if (corio_cbor_expect_map(&d, &pairs) != CORIO_OK)
        FAIL(CORIO_ERR_MALFORMED, "claims are not a map");
    for (uint64_t i = 0; i < pairs; i++) {
        struct corio_cbor_item it;
        int64_t key;
        if (corio_cbor_peek(&d, &it) != CORIO_OK)
            FAIL(CORIO_ERR_MALFORMED, "claims are malformed");
        if (it.type == CORIO_CBOR_TEXT) {
            /* Text claim names are legal CWT; none is part of this profile. */
            if (corio_cbor_skip(&d) != CORIO_OK || corio_cbor_skip(&d) != CORIO_OK)
                FAIL(CORIO_ERR_MALFORMED, "claims are malformed");
            continue;
        }
        if (corio_cbor_expect_int(&d, &key) != CORIO_OK)
            FAIL(CORIO_ERR_MALFORMED, "claim key is not an integer or text");
        int rc = claim(&d, key, c, &have, why);
        if (rc != CORIO_OK)
            return rc;
    }
    if (corio_cbor_dec_finish(&d) != CORIO_OK)
        FAIL(CORIO_ERR_MALFORMED, "claims are malformed");
    if (!(have & HAVE_PROFILE))
        FAIL(CORIO_ERR_MALFORMED, "eat_profile is missing");
    if (!(have & HAVE_ISS))
        FAIL(CORIO_ERR_MALFORMED, "iss is missing");
    if (!(have & HAVE_AUD))
        FAIL(CORIO_ERR_MALFORMED, "aud is missing");
    if (!(have & HAVE_ASSURANCE))
        FAIL(CORIO_ERR_MALFORMED, "assurance is missing");
    if (!c->nonce && !c->has_counter)
        FAIL(CORIO_ERR_MALFORMED, "neither eat_nonce nor counter");
    bool sw = (have & HAVE_SWVERSION) != 0, meas = (have & HAVE_MEASUREMENTS) != 0;
    if (sw != meas)
        FAIL(CORIO_ERR_MALFORMED, "swversion and measurements come together");
    c->has_firmware = sw;
    return CORIO_OK;
}

int corio__eat_decode(const uint8_t *tok, size_t len, struct corio_cose_sign1 *m,
                      struct corio_eat_claims *c, const char **why)
{
    *why = NULL;
    if (len > CORIO_EAT_MAX_SIZE)
        FAIL(CORIO_ERR_POLICY, "token larger than the profile allows");
    int rc = corio_cose_sign1_decode(tok, len, m);
    if (rc != CORIO_OK)
        FAIL(rc, "not a COSE_Sign1 with ES256");
    if (m->detached)
        FAIL(CORIO_ERR_MALFORMED, "claims are detached");
    struct corio_did kid;
    if (!m->kid || corio_did_parse((const char *)m->kid, m->kid_len, &kid) != CORIO_OK ||
        !kid.has_key)
        FAIL(CORIO_ERR_MALFORMED, "kid is not a did:corio key reference");
    memset(c, 0, sizeof *c);
    rc = get_claims(m->payload, m->payload_len, c, why);
    if (rc != CORIO_OK)
        return rc;
    if (!corio_did_same(&kid, &c->issuer))
        FAIL(CORIO_ERR_POLICY, "kid is not a key of the issuer");
    c->key_number = kid.key;
    return CORIO_OK;
}

int corio_eat_decode(const uint8_t *tok, size_t len, struct corio_eat_claims *out)
{
    struct corio_cose_sign1 m;
    struct corio_eat_claims c;
    const char *why;
    if ((!tok && len) || !out)
        return CORIO_ERR_INVAL;
    int rc = corio__eat_decode(tok, len, &m, &c, &why);
    if (rc == CORIO_OK)
        *out = c;
    return rc;
}

int corio_eat_verify(const struct corio_crypto_ops *ops, const uint8_t *tok, size_t len,
                     const uint8_t *pub, size_t pub_len, const struct corio_eat_expect *e,
                     struct corio_eat_claims *out, const char **why)
{
    const char *ignored;
    if (!why)
        why = &ignored;
    *why = NULL;
    if (!ops || (!tok && len) || !pub || !e || !e->aud || !out ||
        (e->nonce && (e->nonce_len < CORIO_EAT_NONCE_MIN || e->nonce_len > CORIO_EAT_NONCE_MAX)))
        FAIL(CORIO_ERR_INVAL, "invalid arguments");
    struct corio_cose_sign1 m;
    struct corio_eat_claims c;
    int rc = corio__eat_decode(tok, len, &m, &c, why);
    if (rc != CORIO_OK)
        return rc;
    rc = corio_cose_sign1_verify(ops, &m, pub, pub_len, NULL, 0, NULL, 0);
    if (rc == CORIO_ERR_BADSIG)
        FAIL(rc, "signature does not verify");
    if (rc != CORIO_OK)
        FAIL(rc, "cannot check the signature");
    if (c.aud_len != e->aud_len || memcmp(c.aud, e->aud, c.aud_len) != 0)
        FAIL(CORIO_ERR_POLICY, "token is for another audience");
    if (e->nonce) {
        if (!c.nonce || c.nonce_len != e->nonce_len || memcmp(c.nonce, e->nonce, c.nonce_len) != 0)
            FAIL(CORIO_ERR_POLICY, "nonce is not the one issued");
    } else {
        if (!c.has_counter)
            FAIL(CORIO_ERR_POLICY, "single-step token without a counter");
        if (c.counter <= e->last_counter)
            FAIL(CORIO_ERR_POLICY, "counter is not above the last one seen");
    }
    if (e->require_firmware && !c.has_firmware)
        FAIL(CORIO_ERR_POLICY, "firmware claims are missing");
    if (e->registered_assurance && c.assurance > e->registered_assurance)
        FAIL(CORIO_ERR_POLICY, "assurance claimed above the device record");
    *out = c;
    return CORIO_OK;
}
