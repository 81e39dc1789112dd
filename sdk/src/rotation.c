/*
 * rotation.c - key rotation statements and chains (include/corio/rotation.h,
 * docs/identity.md): making and endorsing links, assembling chains, and verifying a
 * chain offline from the inception key to the current key.
 */
#include "corio/rotation.h"

#include <string.h>

#include "corio/cbor.h"
#include "corio/p256.h"

#define AAD     ((const uint8_t *)CORIO_ROTATION_AAD)
#define AAD_LEN (sizeof CORIO_ROTATION_AAD - 1)

#define FAIL(code, reason)                                                                         \
    do {                                                                                           \
        *why = (reason);                                                                           \
        return (code);                                                                             \
    } while (0)

/* Statement keys. */
enum { ST_VERSION = 1, ST_SUBJECT = 2, ST_KEY_NUMBER = 3, ST_NEW_KEY = 4, ST_ORG = 5 };

static int put_statement(const struct corio_rotation_statement *st, uint8_t *buf, size_t cap)
{
    struct corio_cbor_enc e;
    corio_cbor_enc_init(&e, buf, cap);
    /* Keys written in increasing order: deterministic as it stands. */
    corio_cbor_put_map(&e, 5);
    corio_cbor_put_uint(&e, ST_VERSION);
    corio_cbor_put_uint(&e, CORIO_ROTATION_VERSION);
    corio_cbor_put_uint(&e, ST_SUBJECT);
    corio_cbor_put_bytes(&e, st->subject, sizeof st->subject);
    corio_cbor_put_uint(&e, ST_KEY_NUMBER);
    corio_cbor_put_uint(&e, st->key_number);
    corio_cbor_put_uint(&e, ST_NEW_KEY);
    corio_cbor_put_bytes(&e, st->new_key, sizeof st->new_key);
    corio_cbor_put_uint(&e, ST_ORG);
    corio_cbor_put_bytes(&e, st->org, sizeof st->org);
    return corio_cbor_enc_finish(&e);
}

static int get_fixed_bytes(struct corio_cbor_dec *d, uint8_t *out, size_t n)
{
    const uint8_t *p;
    size_t len;
    if (corio_cbor_expect_bytes(d, &p, &len) != CORIO_OK || len != n)
        return CORIO_ERR_MALFORMED;
    memcpy(out, p, n);
    return CORIO_OK;
}

static int get_statement(const uint8_t *p, size_t len, struct corio_rotation_statement *st)
{
    struct corio_cbor_dec d;
    uint64_t pairs, key, v;
    corio_cbor_dec_init(&d, p, len);
    /* The version comes first (smallest key) and decides how to read the rest. */
    if (corio_cbor_expect_map(&d, &pairs) != CORIO_OK || pairs == CORIO_CBOR_INDEFINITE ||
        pairs < 1 || corio_cbor_expect_uint(&d, &key) != CORIO_OK || key != ST_VERSION ||
        corio_cbor_expect_uint(&d, &v) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    if (v != CORIO_ROTATION_VERSION)
        return CORIO_ERR_VERSION;
    if (pairs != 5 || corio_cbor_deterministic(p, len) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    uint8_t pt[CORIO_P256_PUB_LEN];
    if (corio_cbor_expect_uint(&d, &key) != CORIO_OK || key != ST_SUBJECT ||
        get_fixed_bytes(&d, st->subject, sizeof st->subject) != CORIO_OK ||
        corio_cbor_expect_uint(&d, &key) != CORIO_OK || key != ST_KEY_NUMBER ||
        corio_cbor_expect_uint(&d, &v) != CORIO_OK || v == 0 || v > UINT32_MAX ||
        corio_cbor_expect_uint(&d, &key) != CORIO_OK || key != ST_NEW_KEY ||
        get_fixed_bytes(&d, st->new_key, sizeof st->new_key) != CORIO_OK ||
        corio_p256_decompress(st->new_key, pt) != CORIO_OK ||
        corio_cbor_expect_uint(&d, &key) != CORIO_OK || key != ST_ORG ||
        get_fixed_bytes(&d, st->org, sizeof st->org) != CORIO_OK ||
        corio_cbor_dec_finish(&d) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    st->key_number = (uint32_t)v;
    return CORIO_OK;
}

/* A link: an untagged, embedded COSE_Sign holding a statement. */
static int decode_link(const uint8_t *link, size_t len, struct corio_cose_sign *m,
                       struct corio_rotation_statement *st)
{
    int rc = corio_cose_sign_decode(link, len, m);
    if (rc != CORIO_OK)
        return rc;
    if (m->tagged || m->detached)
        return CORIO_ERR_MALFORMED;
    return get_statement(m->payload, m->payload_len, st);
}

int corio_rotation_link_decode(const uint8_t *link, size_t len, struct corio_rotation_statement *st)
{
    struct corio_cose_sign m;
    struct corio_rotation_statement s;
    if (!link || !st)
        return CORIO_ERR_INVAL;
    int rc = decode_link(link, len, &m, &s);
    if (rc == CORIO_OK)
        *st = s;
    return rc;
}

static int kid_of(const struct corio_did *did, char kid[CORIO_DID_BUF])
{
    return corio_did_format(did, kid, CORIO_DID_BUF);
}

int corio_rotation_link_make(const struct corio_key *current,
                             const struct corio_rotation_statement *st, uint8_t *out, size_t cap)
{
    uint8_t payload[96], pt[CORIO_P256_PUB_LEN];
    char kid[CORIO_DID_BUF];
    if (!current || !current->ops || !st || !out || st->key_number == 0 ||
        corio_p256_decompress(st->new_key, pt) != CORIO_OK)
        return CORIO_ERR_INVAL;
    int plen = put_statement(st, payload, sizeof payload);
    if (plen < 0)
        return plen;
    struct corio_did who;
    memcpy(who.id, st->subject, sizeof who.id);
    who.has_key = true;
    who.key = st->key_number - 1;
    int klen = kid_of(&who, kid);
    if (klen < 0)
        return klen;
    return corio_cose_sign_sign(current, (const uint8_t *)kid, (size_t)klen, AAD, AAD_LEN, payload,
                                (size_t)plen, CORIO_COSE_UNTAGGED, out, cap);
}

int corio_rotation_link_endorse(const struct corio_key *key, const struct corio_did *signer,
                                const uint8_t *link, size_t len, uint8_t *out, size_t cap)
{
    struct corio_cose_sign m;
    struct corio_rotation_statement st;
    char kid[CORIO_DID_BUF];
    if (!key || !key->ops || !signer || !signer->has_key || !link || !out)
        return CORIO_ERR_INVAL;
    int rc = decode_link(link, len, &m, &st);
    if (rc != CORIO_OK)
        return rc;
    int klen = kid_of(signer, kid);
    if (klen < 0)
        return klen;
    return corio_cose_sign_add(key, (const uint8_t *)kid, (size_t)klen, AAD, AAD_LEN, link, len,
                               NULL, 0, out, cap);
}

int corio_rotation_chain_start(const uint8_t *inception, size_t inception_len, uint8_t *out,
                               size_t cap)
{
    uint8_t full[CORIO_P256_PUB_LEN], comp[CORIO_P256_PUB_COMPRESSED];
    if (!inception || !out)
        return CORIO_ERR_INVAL;
    int rc = corio_p256_point_parse(inception, inception_len, full);
    if (rc == CORIO_OK)
        rc = corio_p256_compress(full, comp);
    if (rc != CORIO_OK)
        return rc;
    struct corio_cbor_enc e;
    corio_cbor_enc_init(&e, out, cap);
    corio_cbor_put_array(&e, 2);
    corio_cbor_put_uint(&e, CORIO_ROTATION_VERSION);
    corio_cbor_put_bytes(&e, comp, sizeof comp);
    return corio_cbor_enc_finish(&e);
}

/* Reads a chain's head: array count, version and the inception key. */
static int chain_head(struct corio_cbor_dec *d, uint64_t *links,
                      uint8_t inception[CORIO_P256_PUB_COMPRESSED], size_t *items_start)
{
    uint64_t n, version;
    if (corio_cbor_expect_array(d, &n) != CORIO_OK || n < 2 || n == CORIO_CBOR_INDEFINITE)
        return CORIO_ERR_MALFORMED;
    *items_start = corio_cbor_dec_offset(d);
    if (corio_cbor_expect_uint(d, &version) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    if (version != CORIO_ROTATION_VERSION)
        return CORIO_ERR_VERSION;
    if (n - 2 > CORIO_ROTATION_MAX_LINKS)
        return CORIO_ERR_UNSUPPORTED;
    if (get_fixed_bytes(d, inception, CORIO_P256_PUB_COMPRESSED) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    *links = n - 2;
    return CORIO_OK;
}

int corio_rotation_chain_append(const uint8_t *chain, size_t chain_len, const uint8_t *link,
                                size_t link_len, uint8_t *out, size_t cap)
{
    if (!chain || !link || !out)
        return CORIO_ERR_INVAL;
    uintptr_t o = (uintptr_t)out, c = (uintptr_t)chain, l = (uintptr_t)link;
    if ((o < c + chain_len && c < o + cap) || (o < l + link_len && l < o + cap))
        return CORIO_ERR_INVAL;
    struct corio_cbor_dec d;
    uint64_t links;
    uint8_t inception[CORIO_P256_PUB_COMPRESSED];
    corio_cbor_dec_init(&d, chain, chain_len);
    size_t items_start;
    int rc = chain_head(&d, &links, inception, &items_start);
    if (rc != CORIO_OK)
        return rc;
    if (links >= CORIO_ROTATION_MAX_LINKS)
        return CORIO_ERR_UNSUPPORTED;
    for (uint64_t i = 0; i < links; i++)
        if (corio_cbor_skip(&d) != CORIO_OK)
            return CORIO_ERR_MALFORMED;
    if (corio_cbor_dec_finish(&d) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    struct corio_cose_sign m;
    struct corio_rotation_statement st;
    if ((rc = decode_link(link, link_len, &m, &st)) != CORIO_OK)
        return rc;
    struct corio_cbor_enc e;
    corio_cbor_enc_init(&e, out, cap);
    corio_cbor_put_array(&e, links + 3);
    corio_cbor_put_raw(&e, chain + items_start, chain_len - items_start);
    corio_cbor_put_raw(&e, link, link_len);
    return corio_cbor_enc_finish(&e);
}

/* Which trusted signer, if any, a kid names. */
static const struct corio_rotation_signer *find_signer(const struct corio_rotation_trust *t,
                                                       const struct corio_did *kid, size_t *index)
{
    for (size_t j = 0; j < t->count; j++) {
        const struct corio_rotation_signer *s = &t->signers[j];
        if (s->did.has_key && s->did.key == kid->key && corio_did_same(&s->did, kid)) {
            *index = j;
            return s;
        }
    }
    return NULL;
}

/* The signatures of one link: exactly one by the subject's key k, and enough distinct
 * trusted endorsers. Signatures by signers the verifier does not know are ignored. */
static int check_signatures(const struct corio_crypto_ops *ops, const struct corio_cose_sign *m,
                            const struct corio_did *subject, uint32_t k,
                            const uint8_t current[CORIO_P256_PUB_LEN],
                            const struct corio_rotation_trust *t, const char **why)
{
    size_t counted[CORIO_COSE_MAX_SIGNATURES];
    size_t nc = 0;
    bool by_subject = false;
    for (size_t i = 0; i < m->count; i++) {
        struct corio_cose_signature s;
        struct corio_did kid;
        int rc = corio_cose_sign_signature(m, i, &s);
        if (rc != CORIO_OK)
            FAIL(rc, "signature is malformed");
        if (!s.kid || corio_did_parse((const char *)s.kid, s.kid_len, &kid) != CORIO_OK ||
            !kid.has_key)
            FAIL(CORIO_ERR_MALFORMED, "a signature's kid is not a did:corio key reference");
        if (corio_did_same(&kid, subject)) {
            if (kid.key != k)
                FAIL(CORIO_ERR_POLICY, "subject signed with another key than its current one");
            if (by_subject)
                FAIL(CORIO_ERR_POLICY, "subject signed twice");
            rc = corio_cose_sign_verify(ops, m, &s, current, CORIO_P256_PUB_LEN, AAD, AAD_LEN, NULL,
                                        0);
            if (rc == CORIO_ERR_BADSIG)
                FAIL(rc, "subject signature does not verify with its current key");
            if (rc != CORIO_OK)
                FAIL(rc, "cannot check the subject signature");
            by_subject = true;
            continue;
        }
        size_t j;
        const struct corio_rotation_signer *signer = find_signer(t, &kid, &j);
        if (!signer)
            continue;
        rc =
            corio_cose_sign_verify(ops, m, &s, signer->pub, signer->pub_len, AAD, AAD_LEN, NULL, 0);
        if (rc == CORIO_ERR_BADSIG)
            FAIL(rc, "organisation signature does not verify");
        if (rc != CORIO_OK)
            FAIL(rc, "cannot check an organisation signature");
        bool again = false;
        for (size_t q = 0; q < nc; q++)
            again |= counted[q] == j;
        if (!again)
            counted[nc++] = j;
    }
    if (!by_subject)
        FAIL(CORIO_ERR_POLICY, "no signature by the subject's current key");
    if (nc < t->threshold)
        FAIL(CORIO_ERR_POLICY, "too few organisation signatures");
    return CORIO_OK;
}

int corio_rotation_chain_verify(const struct corio_crypto_ops *ops, const struct corio_did *subject,
                                const uint8_t *chain, size_t len,
                                const struct corio_rotation_trust *t,
                                struct corio_rotation_result *out, const char **why)
{
    const char *ignored;
    if (!why)
        why = &ignored;
    *why = NULL;
    if (!ops || !subject || !chain || !t || (!t->signers && t->count) || t->threshold == 0 || !out)
        FAIL(CORIO_ERR_INVAL, "invalid arguments");

    struct corio_cbor_dec d;
    uint64_t links;
    uint8_t seen[CORIO_ROTATION_MAX_LINKS + 1][CORIO_P256_PUB_COMPRESSED];
    uint8_t current[CORIO_P256_PUB_LEN];
    size_t items_start;
    corio_cbor_dec_init(&d, chain, len);
    int rc = chain_head(&d, &links, seen[0], &items_start);
    if (rc != CORIO_OK)
        FAIL(rc, rc == CORIO_ERR_VERSION       ? "unknown chain version"
                 : rc == CORIO_ERR_UNSUPPORTED ? "chain has too many links"
                                               : "chain is malformed");
    if (corio_p256_decompress(seen[0], current) != CORIO_OK)
        FAIL(CORIO_ERR_MALFORMED, "inception key is not a P-256 point");
    struct corio_did inception;
    rc = corio_did_from_key(ops, seen[0], CORIO_P256_PUB_COMPRESSED, &inception);
    if (rc != CORIO_OK)
        FAIL(rc, "cannot hash the inception key");
    if (!corio_did_same(&inception, subject))
        FAIL(CORIO_ERR_POLICY, "inception key is not the DID's");

    uint32_t k = 0;
    for (uint64_t i = 0; i < links; i++) {
        size_t start = corio_cbor_dec_offset(&d);
        if (corio_cbor_skip(&d) != CORIO_OK)
            FAIL(CORIO_ERR_MALFORMED, "chain is malformed");
        struct corio_cose_sign m;
        struct corio_rotation_statement st;
        rc = decode_link(chain + start, corio_cbor_dec_offset(&d) - start, &m, &st);
        if (rc != CORIO_OK)
            FAIL(rc, rc == CORIO_ERR_VERSION ? "unknown statement version"
                     : rc == CORIO_ERR_UNSUPPORTED
                         ? "link has another algorithm or too many signatures"
                         : "link is malformed");
        if (memcmp(st.subject, subject->id, CORIO_DID_ID_LEN) != 0)
            FAIL(CORIO_ERR_POLICY, "link rotates another identity");
        if (memcmp(st.org, t->org, CORIO_DID_ID_LEN) != 0)
            FAIL(CORIO_ERR_POLICY, "link names another organisation");
        if (st.key_number <= k)
            FAIL(CORIO_ERR_POLICY, "key number goes backwards");
        if (st.key_number != k + 1)
            FAIL(CORIO_ERR_POLICY, "key number skips a key");
        for (uint32_t q = 0; q <= k; q++)
            if (memcmp(seen[q], st.new_key, CORIO_P256_PUB_COMPRESSED) == 0)
                FAIL(CORIO_ERR_POLICY, "new key repeats an earlier key");
        rc = check_signatures(ops, &m, subject, k, current, t, why);
        if (rc != CORIO_OK)
            return rc;
        k++;
        memcpy(seen[k], st.new_key, CORIO_P256_PUB_COMPRESSED);
        if (corio_p256_decompress(st.new_key, current) != CORIO_OK)
            FAIL(CORIO_ERR_MALFORMED, "new key is not a P-256 point");
    }
    if (corio_cbor_dec_finish(&d) != CORIO_OK)
        FAIL(CORIO_ERR_MALFORMED, "chain is malformed");
    out->key_number = k;
    memcpy(out->pub, current, sizeof current);
    out->links = (size_t)links;
    return CORIO_OK;
}
