/*
 * test_rotation.c - rotation statements and chains (include/corio/rotation.h): chains
 * whose links are signed by keys of both backends verify on both; every refusal the
 * design asks for (a skipped key, a backward or repeated key, no organisation
 * signature, the wrong key, another subject or organisation, too few distinct
 * endorsers) and every malformed input; the stated size bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <unistd.h>

#include "corio/cbor.h"
#include "corio/cose.h"
#include "corio/crypto.h"
#include "corio/crypto_psa.h"
#include "corio/did.h"
#include "corio/error.h"
#include "corio/rotation.h"
#include "crypto_openssl.h"
#include "harness.h"

static const struct corio_crypto_ops *psa = &corio_crypto_psa_ops;
static const struct corio_crypto_ops *ossl = &corio_crypto_openssl_ops;
static char *workdir, *startdir;

/* Device keys 0..4 alternate between the backends; the organisation has its own key
 * and three members. */
#define NKEYS 5
static struct corio_key dev[NKEYS], org, member[3], outsider;
static uint8_t dev_pub[NKEYS][65], dev_comp[NKEYS][33], org_pub[65], member_pub[3][65];
static struct corio_did dev_did, org_did, member_did[3], other_did;

static int keypair(const struct corio_crypto_ops *ops, struct corio_key *k, uint8_t pub[65])
{
    if (corio_key_generate(ops, 0, 0, k) != CORIO_OK || corio_key_public(k, pub) != CORIO_OK)
        return -1;
    return 0;
}

static int group_setup(void **state)
{
    (void)state;
    startdir = getcwd(NULL, 0);
    workdir = h_tmpdir("rotation");
    if (!startdir || !workdir || chdir(workdir) != 0 || corio_crypto_psa_init() != CORIO_OK)
        return -1;
    for (int i = 0; i < NKEYS; i++)
        if (keypair(i % 2 ? ossl : psa, &dev[i], dev_pub[i]) != 0 ||
            corio_p256_compress(dev_pub[i], dev_comp[i]) != CORIO_OK)
            return -1;
    uint8_t other_pub[65];
    if (keypair(ossl, &org, org_pub) != 0 || keypair(psa, &outsider, other_pub) != 0)
        return -1;
    for (int i = 0; i < 3; i++)
        if (keypair(i % 2 ? psa : ossl, &member[i], member_pub[i]) != 0 ||
            corio_did_from_key(ossl, member_pub[i], 65, &member_did[i]) != CORIO_OK)
            return -1;
    if (corio_did_from_key(psa, dev_pub[0], 65, &dev_did) != CORIO_OK ||
        corio_did_from_key(psa, org_pub, 65, &org_did) != CORIO_OK ||
        corio_did_from_key(psa, other_pub, 65, &other_did) != CORIO_OK)
        return -1;
    org_did.has_key = true;
    org_did.key = 0;
    for (int i = 0; i < 3; i++) {
        member_did[i].has_key = true;
        member_did[i].key = 0;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < NKEYS; i++)
        corio_key_close(&dev[i]);
    corio_key_close(&org);
    corio_key_close(&outsider);
    for (int i = 0; i < 3; i++)
        corio_key_close(&member[i]);
    corio_crypto_psa_deinit();
    int rc = chdir(startdir);
    rc |= rmdir(workdir);
    free(workdir);
    free(startdir);
    return rc;
}

/* The organisation's own key as the one trusted signer, threshold 1. */
static struct corio_rotation_signer org_signer[1];
static struct corio_rotation_trust org_trust(void)
{
    org_signer[0].did = org_did;
    org_signer[0].pub = org_pub;
    org_signer[0].pub_len = 65;
    struct corio_rotation_trust t = {.signers = org_signer, .count = 1, .threshold = 1};
    memcpy(t.org, org_did.id, CORIO_DID_ID_LEN);
    return t;
}

/* The three members, threshold 2. */
static struct corio_rotation_signer member_signers[3];
static struct corio_rotation_trust member_trust(void)
{
    for (int i = 0; i < 3; i++) {
        member_signers[i].did = member_did[i];
        member_signers[i].pub = member_pub[i];
        member_signers[i].pub_len = 65;
    }
    struct corio_rotation_trust t = {.signers = member_signers, .count = 3, .threshold = 2};
    memcpy(t.org, org_did.id, CORIO_DID_ID_LEN);
    return t;
}

struct endorser {
    struct corio_key *key;
    const struct corio_did *did;
};

static struct corio_rotation_statement statement(uint32_t number, int new_key)
{
    struct corio_rotation_statement st;
    memcpy(st.subject, dev_did.id, CORIO_DID_ID_LEN);
    memcpy(st.org, org_did.id, CORIO_DID_ID_LEN);
    st.key_number = number;
    memcpy(st.new_key, dev_comp[new_key], 33);
    return st;
}

/* A link for st signed by signer and then by each endorser. */
static size_t link_of(const struct corio_rotation_statement *st, struct corio_key *signer,
                      const struct endorser *e, size_t ne, uint8_t *out, size_t cap)
{
    uint8_t a[2048], b[2048];
    int n = corio_rotation_link_make(signer, st, a, sizeof a);
    assert_true(n > 0);
    for (size_t i = 0; i < ne; i++) {
        n = corio_rotation_link_endorse(e[i].key, e[i].did, a, (size_t)n, b, sizeof b);
        assert_true(n > 0);
        memcpy(a, b, (size_t)n);
    }
    assert_true((size_t)n <= cap);
    memcpy(out, a, (size_t)n);
    return (size_t)n;
}

static size_t chain_of(const uint8_t *const links[], const size_t lens[], size_t nl, uint8_t *out,
                       size_t cap)
{
    static uint8_t tmp[16384];
    int n = corio_rotation_chain_start(dev_pub[0], 65, out, cap);
    assert_int_equal(n, 37);
    for (size_t i = 0; i < nl; i++) {
        n = corio_rotation_chain_append(out, (size_t)n, links[i], lens[i], tmp, sizeof tmp);
        assert_true(n > 0);
        assert_true((size_t)n <= cap);
        memcpy(out, tmp, (size_t)n);
    }
    return (size_t)n;
}

static int verify(const struct corio_crypto_ops *ops, const uint8_t *chain, size_t len,
                  const struct corio_rotation_trust *t, struct corio_rotation_result *r,
                  const char **why)
{
    return corio_rotation_chain_verify(ops, &dev_did, chain, len, t, r, why);
}

static uint8_t L[NKEYS][1024];
static size_t LN[NKEYS];

/* Links 1..4, each by the previous key, endorsed by the organisation's key. */
static void good_links(void)
{
    const struct endorser e[] = {{&org, &org_did}};
    for (uint32_t k = 1; k < NKEYS; k++) {
        struct corio_rotation_statement st = statement(k, (int)k);
        LN[k] = link_of(&st, &dev[k - 1], e, 1, L[k], sizeof L[k]);
    }
}

static void chains_verify_on_both_backends(void **state)
{
    (void)state;
    good_links();
    struct corio_rotation_trust t = org_trust();
    uint8_t chain[8192];
    for (size_t nl = 0; nl < NKEYS; nl++) {
        const uint8_t *links[NKEYS];
        size_t lens[NKEYS];
        for (size_t i = 0; i < nl; i++) {
            links[i] = L[i + 1];
            lens[i] = LN[i + 1];
        }
        size_t n = chain_of(links, lens, nl, chain, sizeof chain);
        const struct corio_crypto_ops *both[] = {psa, ossl};
        for (size_t b = 0; b < 2; b++) {
            struct corio_rotation_result r;
            const char *why = "unset";
            assert_int_equal(verify(both[b], chain, n, &t, &r, &why), CORIO_OK);
            assert_null(why);
            assert_int_equal(r.key_number, nl);
            assert_int_equal(r.links, nl);
            assert_memory_equal(r.pub, dev_pub[nl], 65);
        }
    }
    /* The statements read back. */
    struct corio_rotation_statement st;
    assert_int_equal(corio_rotation_link_decode(L[2], LN[2], &st), CORIO_OK);
    assert_int_equal(st.key_number, 2);
    assert_memory_equal(st.new_key, dev_comp[2], 33);
    assert_memory_equal(st.subject, dev_did.id, 15);
    assert_memory_equal(st.org, org_did.id, 15);
    /* Each link is an untagged COSE_Sign whose signatures verify with the rotation aad. */
    struct corio_cose_sign m;
    struct corio_cose_signature s;
    assert_int_equal(corio_cose_sign_decode(L[2], LN[2], &m), CORIO_OK);
    assert_false(m.tagged);
    assert_int_equal(m.count, 2);
    assert_int_equal(corio_cose_sign_signature(&m, 0, &s), CORIO_OK);
    char kid[CORIO_DID_BUF];
    struct corio_did k1 = dev_did;
    k1.has_key = true;
    k1.key = 1;
    int kl = corio_did_format(&k1, kid, sizeof kid);
    assert_int_equal(s.kid_len, (size_t)kl);
    assert_memory_equal(s.kid, kid, (size_t)kl);
    assert_int_equal(corio_cose_sign_verify(psa, &m, &s, dev_pub[1], 65,
                                            (const uint8_t *)CORIO_ROTATION_AAD,
                                            strlen(CORIO_ROTATION_AAD), NULL, 0),
                     CORIO_OK);
    assert_int_equal(corio_cose_sign_verify(psa, &m, &s, dev_pub[1], 65, NULL, 0, NULL, 0),
                     CORIO_ERR_BADSIG);
}

static void threshold_of_distinct_members(void **state)
{
    (void)state;
    struct corio_rotation_trust t = member_trust();
    struct corio_rotation_statement st = statement(1, 1);
    uint8_t link[2048], chain[4096];
    const char *why;
    struct corio_rotation_result r;
    struct {
        struct endorser e[3];
        size_t n;
        int want;
        const char *why;
    } cases[] = {
        {{{&member[0], &member_did[0]}, {&member[2], &member_did[2]}}, 2, CORIO_OK, NULL},
        {{{&member[1], &member_did[1]}, {&member[0], &member_did[0]}, {&member[2], &member_did[2]}},
         3,
         CORIO_OK,
         NULL},
        {{{&member[0], &member_did[0]}}, 1, CORIO_ERR_POLICY, "too few organisation signatures"},
        {{{&member[0], &member_did[0]}, {&member[0], &member_did[0]}},
         2,
         CORIO_ERR_POLICY,
         "too few organisation signatures"},
        /* The organisation's own key is not a trusted signer here, nor is an outsider:
         * their signatures are ignored, not counted. */
        {{{&member[1], &member_did[1]}, {&org, &org_did}},
         2,
         CORIO_ERR_POLICY,
         "too few organisation signatures"},
        {{{&member[1], &member_did[1]}, {&outsider, &member_did[2]}},
         2,
         CORIO_ERR_BADSIG,
         "organisation signature does not verify"},
        {{{0}}, 0, CORIO_ERR_POLICY, "too few organisation signatures"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t ln = link_of(&st, &dev[0], cases[i].e, cases[i].n, link, sizeof link);
        const uint8_t *links[] = {link};
        size_t n = chain_of(links, &ln, 1, chain, sizeof chain);
        why = NULL;
        int rc = verify(i % 2 ? psa : ossl, chain, n, &t, &r, &why);
        if (rc != cases[i].want)
            fail_msg("case %zu: got %d (%s)", i, rc, why ? why : "-");
        if (cases[i].why && (!why || strcmp(why, cases[i].why) != 0))
            fail_msg("case %zu: reason %s", i, why ? why : "-");
    }
    /* With threshold 3 the two-member link falls short. */
    size_t ln = link_of(&st, &dev[0], cases[0].e, 2, link, sizeof link);
    const uint8_t *links[] = {link};
    size_t n = chain_of(links, &ln, 1, chain, sizeof chain);
    t.threshold = 3;
    assert_int_equal(verify(ossl, chain, n, &t, &r, &why), CORIO_ERR_POLICY);
    t.threshold = 0;
    assert_int_equal(verify(ossl, chain, n, &t, &r, &why), CORIO_ERR_INVAL);
}

static void check_refusal(const uint8_t *chain, size_t n, int want, const char *reason, int line)
{
    struct corio_rotation_trust t = org_trust();
    struct corio_rotation_result r;
    memset(&r, 0x55, sizeof r);
    const struct corio_crypto_ops *both[] = {psa, ossl};
    for (size_t b = 0; b < 2; b++) {
        const char *why = NULL;
        int rc = verify(both[b], chain, n, &t, &r, &why);
        if (rc != want || !why || strcmp(why, reason) != 0)
            fail_msg("line %d: got %d (%s), want %d (%s)", line, rc, why ? why : "-", want, reason);
        assert_int_equal(r.links, (size_t)0x5555555555555555u); /* untouched */
    }
}
#define REFUSED(chain, n, want, reason) check_refusal(chain, n, want, reason, __LINE__)

static void the_design_refusals(void **state)
{
    (void)state;
    good_links();
    const struct endorser e[] = {{&org, &org_did}};
    uint8_t chain[8192], bad[1024];
    size_t n, bn;

    /* A chain that skips a key: key 2 straight after the inception key. */
    struct corio_rotation_statement st = statement(2, 2);
    bn = link_of(&st, &dev[0], e, 1, bad, sizeof bad);
    {
        const uint8_t *links[] = {bad};
        n = chain_of(links, &bn, 1, chain, sizeof chain);
        REFUSED(chain, n, CORIO_ERR_POLICY, "key number skips a key");
    }
    /* ... and one that goes backwards: link 1 again after link 2. */
    {
        const uint8_t *links[] = {L[1], L[2], L[1]};
        size_t lens[] = {LN[1], LN[2], LN[1]};
        n = chain_of(links, lens, 3, chain, sizeof chain);
        REFUSED(chain, n, CORIO_ERR_POLICY, "key number goes backwards");
    }
    /* A key that comes back: key 2 is the inception key again; key 1 is key 1 again. */
    st = statement(2, 0);
    bn = link_of(&st, &dev[1], e, 1, bad, sizeof bad);
    {
        const uint8_t *links[] = {L[1], bad};
        size_t lens[] = {LN[1], bn};
        n = chain_of(links, lens, 2, chain, sizeof chain);
        REFUSED(chain, n, CORIO_ERR_POLICY, "new key repeats an earlier key");
    }
    st = statement(2, 1);
    bn = link_of(&st, &dev[1], e, 1, bad, sizeof bad);
    {
        const uint8_t *links[] = {L[1], bad};
        size_t lens[] = {LN[1], bn};
        n = chain_of(links, lens, 2, chain, sizeof chain);
        REFUSED(chain, n, CORIO_ERR_POLICY, "new key repeats an earlier key");
    }
    /* No organisation signature: the old key alone cannot rotate. */
    st = statement(1, 1);
    bn = link_of(&st, &dev[0], NULL, 0, bad, sizeof bad);
    {
        const uint8_t *links[] = {bad};
        n = chain_of(links, &bn, 1, chain, sizeof chain);
        REFUSED(chain, n, CORIO_ERR_POLICY, "too few organisation signatures");
    }
    /* Signed by the wrong key: key 1's link signed with key 2 (its kid still says #0). */
    bn = link_of(&st, &dev[2], e, 1, bad, sizeof bad);
    {
        const uint8_t *links[] = {bad};
        n = chain_of(links, &bn, 1, chain, sizeof chain);
        REFUSED(chain, n, CORIO_ERR_BADSIG,
                "subject signature does not verify with its current key");
    }
    /* ... or by the organisation's key in the subject's place: no subject signature. */
    {
        uint8_t payload[128], link[1024];
        struct corio_cose_sign m;
        assert_int_equal(corio_cose_sign_decode(L[1], LN[1], &m), CORIO_OK);
        memcpy(payload, m.payload, m.payload_len);
        char kid[CORIO_DID_BUF];
        int kl = corio_did_format(&org_did, kid, sizeof kid);
        int ln =
            corio_cose_sign_sign(&org, (const uint8_t *)kid, (size_t)kl,
                                 (const uint8_t *)CORIO_ROTATION_AAD, strlen(CORIO_ROTATION_AAD),
                                 payload, m.payload_len, CORIO_COSE_UNTAGGED, link, sizeof link);
        assert_true(ln > 0);
        const uint8_t *links[] = {link};
        size_t lens[] = {(size_t)ln};
        n = chain_of(links, lens, 1, chain, sizeof chain);
        REFUSED(chain, n, CORIO_ERR_POLICY, "no signature by the subject's current key");
    }
    /* Another identity's rotation, and another organisation's endorsement. */
    st = statement(1, 1);
    memcpy(st.subject, other_did.id, 15);
    bn = link_of(&st, &dev[0], e, 1, bad, sizeof bad);
    {
        const uint8_t *links[] = {bad};
        n = chain_of(links, &bn, 1, chain, sizeof chain);
        REFUSED(chain, n, CORIO_ERR_POLICY, "link rotates another identity");
    }
    st = statement(1, 1);
    memcpy(st.org, other_did.id, 15);
    bn = link_of(&st, &dev[0], e, 1, bad, sizeof bad);
    {
        const uint8_t *links[] = {bad};
        n = chain_of(links, &bn, 1, chain, sizeof chain);
        REFUSED(chain, n, CORIO_ERR_POLICY, "link names another organisation");
    }
    /* A good chain presented for another DID. */
    {
        const uint8_t *links[] = {L[1]};
        n = chain_of(links, &LN[1], 1, chain, sizeof chain);
        struct corio_rotation_trust t = org_trust();
        struct corio_rotation_result r;
        const char *why;
        assert_int_equal(corio_rotation_chain_verify(ossl, &other_did, chain, n, &t, &r, &why),
                         CORIO_ERR_POLICY);
        assert_string_equal(why, "inception key is not the DID's");
        assert_int_equal(corio_rotation_chain_verify(ossl, &dev_did, chain, n, &t, &r, &why),
                         CORIO_OK);
    }
}

/* Builds a link from a statement payload and signatures with chosen kids. */
struct signing {
    struct corio_key *key;
    const char *kid;
};

static size_t craft_link(const uint8_t *payload, size_t plen, const struct signing *s, size_t ns,
                         unsigned flags, uint8_t *out, size_t cap)
{
    uint8_t a[2048], b[2048];
    const uint8_t *aad = (const uint8_t *)CORIO_ROTATION_AAD;
    size_t aad_len = strlen(CORIO_ROTATION_AAD);
    int n = corio_cose_sign_sign(s[0].key, (const uint8_t *)s[0].kid, strlen(s[0].kid), aad,
                                 aad_len, payload, plen, flags, a, sizeof a);
    assert_true(n > 0);
    for (size_t i = 1; i < ns; i++) {
        bool det = flags & CORIO_COSE_DETACHED;
        n = corio_cose_sign_add(s[i].key, (const uint8_t *)s[i].kid, strlen(s[i].kid), aad, aad_len,
                                a, (size_t)n, det ? payload : NULL, det ? plen : 0, b, sizeof b);
        assert_true(n > 0);
        memcpy(a, b, (size_t)n);
    }
    assert_true((size_t)n <= cap);
    memcpy(out, a, (size_t)n);
    return (size_t)n;
}

static size_t statement_bytes(uint64_t version, uint32_t number, const uint8_t *new_key, int extra,
                              uint8_t *out, size_t cap)
{
    struct corio_cbor_enc e;
    corio_cbor_enc_init(&e, out, cap);
    corio_cbor_put_map(&e, 5 + (extra ? 1 : 0));
    corio_cbor_put_uint(&e, 1);
    corio_cbor_put_uint(&e, version);
    corio_cbor_put_uint(&e, 2);
    corio_cbor_put_bytes(&e, dev_did.id, 15);
    corio_cbor_put_uint(&e, 3);
    corio_cbor_put_uint(&e, number);
    corio_cbor_put_uint(&e, 4);
    corio_cbor_put_bytes(&e, new_key, 33);
    corio_cbor_put_uint(&e, 5);
    corio_cbor_put_bytes(&e, org_did.id, 15);
    if (extra) {
        corio_cbor_put_uint(&e, 6);
        corio_cbor_put_uint(&e, 0);
    }
    int n = corio_cbor_enc_finish(&e);
    assert_true(n > 0);
    return (size_t)n;
}

static void malformed_links_and_chains(void **state)
{
    (void)state;
    good_links();
    char k0[CORIO_DID_BUF], k5[CORIO_DID_BUF], ok[CORIO_DID_BUF];
    struct corio_did d = dev_did;
    d.has_key = true;
    d.key = 0;
    corio_did_format(&d, k0, sizeof k0);
    d.key = 5;
    corio_did_format(&d, k5, sizeof k5);
    corio_did_format(&org_did, ok, sizeof ok);
    uint8_t payload[256], link[2048], chain[8192];
    size_t pl, ln, n;

    struct {
        uint64_t version;
        uint32_t number;
        int extra;
        struct signing s[3];
        size_t ns;
        unsigned flags;
        int want;
        const char *why;
        int append; /* what corio_rotation_chain_append() says (0: it appends) */
    } cases[] = {
        {1, 1, 0, {{&dev[0], k0}, {&org, ok}}, 2, CORIO_COSE_UNTAGGED, CORIO_OK, NULL, 0},
        {2,
         1,
         0,
         {{&dev[0], k0}, {&org, ok}},
         2,
         CORIO_COSE_UNTAGGED,
         CORIO_ERR_VERSION,
         "unknown statement version",
         CORIO_ERR_VERSION},
        {1,
         1,
         1,
         {{&dev[0], k0}, {&org, ok}},
         2,
         CORIO_COSE_UNTAGGED,
         CORIO_ERR_MALFORMED,
         "link is malformed",
         CORIO_ERR_MALFORMED},
        {1,
         0,
         0,
         {{&dev[0], k0}, {&org, ok}},
         2,
         CORIO_COSE_UNTAGGED,
         CORIO_ERR_MALFORMED,
         "link is malformed",
         CORIO_ERR_MALFORMED},
        {1,
         1,
         0,
         {{&dev[0], k0}, {&org, ok}},
         2,
         0,
         CORIO_ERR_MALFORMED,
         "link is malformed",
         CORIO_ERR_MALFORMED},
        {1,
         1,
         0,
         {{&dev[0], k0}, {&org, ok}},
         2,
         CORIO_COSE_UNTAGGED | CORIO_COSE_DETACHED,
         CORIO_ERR_MALFORMED,
         "link is malformed",
         CORIO_ERR_MALFORMED},
        {1,
         1,
         0,
         {{&dev[0], k5}, {&org, ok}},
         2,
         CORIO_COSE_UNTAGGED,
         CORIO_ERR_POLICY,
         "subject signed with another key than its current one",
         0},
        {1,
         1,
         0,
         {{&dev[0], k0}, {&dev[0], k0}, {&org, ok}},
         3,
         CORIO_COSE_UNTAGGED,
         CORIO_ERR_POLICY,
         "subject signed twice",
         0},
        {1,
         1,
         0,
         {{&dev[0], "key-0"}, {&org, ok}},
         2,
         CORIO_COSE_UNTAGGED,
         CORIO_ERR_MALFORMED,
         "a signature's kid is not a did:corio key reference",
         0},
        {1,
         1,
         0,
         {{&dev[0], k0}, {&org, "did:corio:aaaaaaaaaaaaaaaaaaaaaaaa"}},
         2,
         CORIO_COSE_UNTAGGED,
         CORIO_ERR_MALFORMED,
         "a signature's kid is not a did:corio key reference",
         0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pl = statement_bytes(cases[i].version, cases[i].number, dev_comp[1], cases[i].extra,
                             payload, sizeof payload);
        ln = craft_link(payload, pl, cases[i].s, cases[i].ns, cases[i].flags, link, sizeof link);
        /* Assembled by hand: chain_append refuses these links itself. */
        memcpy(chain, "\x83\x01\x58\x21", 4);
        memcpy(chain + 4, dev_comp[0], 33);
        memcpy(chain + 37, link, ln);
        n = 37 + ln;
        struct corio_rotation_trust t = org_trust();
        struct corio_rotation_result r;
        const char *why = NULL;
        int rc = verify(ossl, chain, n, &t, &r, &why);
        if (rc != cases[i].want || (cases[i].why && (!why || strcmp(why, cases[i].why) != 0)))
            fail_msg("case %zu: got %d (%s)", i, rc, why ? why : "-");
        uint8_t tmp[4096], start[37];
        memcpy(start, chain, 37);
        start[0] = 0x82; /* the chain without the link */
        int app = corio_rotation_chain_append(start, 37, link, ln, tmp, sizeof tmp);
        assert_int_equal(app, cases[i].append ? cases[i].append : (int)n);
    }

    /* Statement not in deterministic order. */
    pl = statement_bytes(1, 1, dev_comp[1], 0, payload, sizeof payload);
    uint8_t swapped[256];
    memcpy(swapped, payload, pl);
    /* Swap the first two pairs (1: 1 and 2: h'...'): keys out of order. */
    size_t p1 = 2, p2 = 2 + 17;
    memcpy(swapped + 1, payload + 1 + p1, p2);
    memcpy(swapped + 1 + p2, payload + 1, p1);
    struct signing sg[] = {{&dev[0], k0}, {&org, ok}};
    ln = craft_link(swapped, pl, sg, 2, CORIO_COSE_UNTAGGED, link, sizeof link);
    struct corio_rotation_statement st;
    assert_int_equal(corio_rotation_link_decode(link, ln, &st), CORIO_ERR_MALFORMED);
    /* A new key that is not a curve point. */
    uint8_t off[33];
    memcpy(off, dev_comp[1], 33);
    off[0] = 0x05;
    pl = statement_bytes(1, 1, off, 0, payload, sizeof payload);
    ln = craft_link(payload, pl, sg, 2, CORIO_COSE_UNTAGGED, link, sizeof link);
    assert_int_equal(corio_rotation_link_decode(link, ln, &st), CORIO_ERR_MALFORMED);

    /* A signer with another algorithm (alg -8 in the subject's protected header). */
    {
        const uint8_t *links[] = {L[1]};
        n = chain_of(links, &LN[1], 1, chain, sizeof chain);
        bool patched = false;
        for (size_t i = 37; i + 4 < n && !patched; i++) {
            if (memcmp(chain + i, "\xa2\x01\x26\x04", 4) == 0) {
                chain[i + 2] = 0x27;
                patched = true;
            }
        }
        assert_true(patched);
        REFUSED(chain, n, CORIO_ERR_UNSUPPORTED,
                "link has another algorithm or too many signatures");
    }

    /* Chains: version, inception key, trailing bytes, truncation, too many links. */
    const uint8_t *links[] = {L[1], L[2]};
    size_t lens[] = {LN[1], LN[2]};
    n = chain_of(links, lens, 2, chain, sizeof chain);
    chain[1] = 0x02;
    REFUSED(chain, n, CORIO_ERR_VERSION, "unknown chain version");
    chain[1] = 0x01;
    chain[4] ^= 0x01; /* the inception key changes: another DID, or no point at all */
    {
        struct corio_rotation_trust t = org_trust();
        struct corio_rotation_result r;
        const char *why;
        int rc = verify(psa, chain, n, &t, &r, &why);
        assert_true(rc == CORIO_ERR_POLICY || rc == CORIO_ERR_MALFORMED);
    }
    chain[4] ^= 0x01;
    chain[n] = 0x00;
    REFUSED(chain, n + 1, CORIO_ERR_MALFORMED, "chain is malformed");
    for (size_t cut = 0; cut < n; cut += 3) {
        uint8_t *t = malloc(cut ? cut : 1);
        assert_non_null(t);
        memcpy(t, chain, cut);
        struct corio_rotation_trust tr = org_trust();
        struct corio_rotation_result r;
        int rc = verify(ossl, t, cut, &tr, &r, NULL);
        assert_true(rc == CORIO_ERR_MALFORMED);
        free(t);
    }
    uint8_t many[64] = {(uint8_t)(0x80 + 3 + CORIO_ROTATION_MAX_LINKS), 0x01, 0x58, 0x21};
    memcpy(many + 4, dev_comp[0], 33);
    REFUSED(many, 37, CORIO_ERR_UNSUPPORTED, "chain has too many links");
    /* A tampered organisation signature, and the high-S twin of the subject's. */
    n = chain_of(links, lens, 2, chain, sizeof chain);
    chain[n - 1] ^= 0x01;
    REFUSED(chain, n, CORIO_ERR_BADSIG, "organisation signature does not verify");
    chain[n - 1] ^= 0x01;
    {
        struct corio_cose_sign m;
        struct corio_cose_signature s;
        assert_int_equal(corio_cose_sign_decode(chain + n - LN[2], LN[2], &m), CORIO_OK);
        assert_int_equal(corio_cose_sign_signature(&m, 0, &s), CORIO_OK);
        assert_int_equal(corio_p256_scalar_negate((uint8_t *)s.signature + 32), CORIO_OK);
        REFUSED(chain, n, CORIO_ERR_BADSIG,
                "subject signature does not verify with its current key");
    }
}

static void building_api(void **state)
{
    (void)state;
    good_links();
    uint8_t out[8192], chain[8192];
    struct corio_rotation_statement st = statement(1, 1);
    assert_int_equal(corio_rotation_link_make(NULL, &st, out, sizeof out), CORIO_ERR_INVAL);
    st.key_number = 0;
    assert_int_equal(corio_rotation_link_make(&dev[0], &st, out, sizeof out), CORIO_ERR_INVAL);
    st = statement(1, 1);
    st.new_key[0] = 0x07;
    assert_int_equal(corio_rotation_link_make(&dev[0], &st, out, sizeof out), CORIO_ERR_INVAL);
    st = statement(1, 1);
    int n = corio_rotation_link_make(&dev[0], &st, out, sizeof out);
    assert_true(n > 0);
    for (size_t cap = 0; cap < (size_t)n; cap++) {
        uint8_t *b = malloc(cap ? cap : 1);
        assert_non_null(b);
        assert_int_equal(corio_rotation_link_make(&dev[0], &st, b, cap), CORIO_ERR_NOSPACE);
        free(b);
    }
    struct corio_did no_key = org_did;
    no_key.has_key = false;
    uint8_t out2[2048];
    assert_int_equal(corio_rotation_link_endorse(&org, &no_key, out, (size_t)n, out2, sizeof out2),
                     CORIO_ERR_INVAL);
    assert_int_equal(
        corio_rotation_link_endorse(&org, &org_did, out, (size_t)n - 1, out2, sizeof out2),
        CORIO_ERR_MALFORMED);
    assert_int_equal(
        corio_rotation_link_endorse(&org, &org_did, out, (size_t)n, out + 8, sizeof out - 8),
        CORIO_ERR_INVAL);

    /* Appending: the limit, overlap, bad inputs. */
    int cn = corio_rotation_chain_start(dev_pub[0], 65, chain, sizeof chain);
    assert_int_equal(cn, 37);
    assert_int_equal(corio_rotation_chain_start(dev_comp[0], 33, out2, sizeof out2), 37);
    assert_memory_equal(out2, chain, 37);
    assert_int_equal(corio_rotation_chain_start(dev_comp[0], 32, out2, sizeof out2),
                     CORIO_ERR_MALFORMED);
    assert_int_equal(corio_rotation_chain_start(dev_comp[0], 33, out2, 36), CORIO_ERR_NOSPACE);
    for (int i = 0; i < CORIO_ROTATION_MAX_LINKS; i++) {
        cn = corio_rotation_chain_append(chain, (size_t)cn, L[1], LN[1], out, sizeof out);
        assert_true(cn > 0);
        memcpy(chain, out, (size_t)cn);
    }
    assert_int_equal(corio_rotation_chain_append(chain, (size_t)cn, L[1], LN[1], out, sizeof out),
                     CORIO_ERR_UNSUPPORTED);
    assert_int_equal(
        corio_rotation_chain_append(chain, (size_t)cn, L[1], LN[1], chain + 10, sizeof chain - 10),
        CORIO_ERR_INVAL);
    assert_int_equal(corio_rotation_chain_append(chain, 36, L[1], LN[1], out, sizeof out),
                     CORIO_ERR_MALFORMED);
    uint8_t v2[37];
    memcpy(v2, chain, 37);
    v2[0] = 0x82;
    v2[1] = 0x02;
    assert_int_equal(corio_rotation_chain_append(v2, 37, L[1], LN[1], out, sizeof out),
                     CORIO_ERR_VERSION);
    struct corio_rotation_statement got;
    assert_int_equal(corio_rotation_link_decode(NULL, 3, &got), CORIO_ERR_INVAL);
}

static void size_bounds(void **state)
{
    (void)state;
    /* The longest kids: key numbers of ten digits for everyone. */
    static struct corio_did big_members[4];
    static struct corio_key keys[4];
    for (int i = 0; i < 4; i++) {
        uint8_t pub[65];
        assert_int_equal(keypair(ossl, &keys[i], pub), 0);
        assert_int_equal(corio_did_from_key(ossl, pub, 65, &big_members[i]), CORIO_OK);
        big_members[i].has_key = true;
        big_members[i].key = 4000000000u + (uint32_t)i;
    }
    struct corio_rotation_statement st = statement(4294967295u, 1);
    uint8_t a[4096], b[4096];
    int n = corio_rotation_link_make(&dev[0], &st, a, sizeof a);
    assert_true(n > 0);
    print_message("link with 0 endorsements: %d bytes (bound %u)\n", n, CORIO_ROTATION_LINK_MAX(0));
    assert_int_equal(n, CORIO_ROTATION_LINK_MAX(0));
    for (unsigned s = 1; s <= 4; s++) {
        n = corio_rotation_link_endorse(&keys[s - 1], &big_members[s - 1], a, (size_t)n, b,
                                        sizeof b);
        assert_true(n > 0);
        memcpy(a, b, (size_t)n);
        print_message("link with %u endorsements: %d bytes (bound %u)\n", s, n,
                      CORIO_ROTATION_LINK_MAX(s));
        assert_int_equal(n, CORIO_ROTATION_LINK_MAX(s));
    }
    /* A typical device link: key 1, one endorsement by organisation key 0. */
    good_links();
    print_message("typical device link: %zu bytes\n", LN[1]);
    assert_true(LN[1] <= CORIO_ROTATION_LINK_MAX(1));
    /* A full chain of the longest links with one endorsement each fits the bound. */
    size_t max1 = CORIO_ROTATION_LINK_MAX(1);
    assert_int_equal(CORIO_ROTATION_CHAIN_MAX(CORIO_ROTATION_MAX_LINKS, 1),
                     37 + CORIO_ROTATION_MAX_LINKS * max1);
    for (int i = 0; i < 4; i++)
        corio_key_close(&keys[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(chains_verify_on_both_backends),
        cmocka_unit_test(threshold_of_distinct_members),
        cmocka_unit_test(the_design_refusals),
        cmocka_unit_test(malformed_links_and_chains),
        cmocka_unit_test(building_api),
        cmocka_unit_test(size_bounds),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
