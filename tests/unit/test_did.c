/*
 * test_did.c - did:corio and did:key (include/corio/did.h): ids computed by both
 * backends against values worked out independently, strict parsing (every refusal),
 * printing, and the published did:key P-256 test vectors.
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

#include "corio/crypto.h"
#include "corio/crypto_psa.h"
#include "corio/did.h"
#include "corio/error.h"
#include "crypto_openssl.h"
#include "harness.h"

static const struct corio_crypto_ops *psa = &corio_crypto_psa_ops;
static const struct corio_crypto_ops *ossl = &corio_crypto_openssl_ops;
static char *workdir, *startdir;

static void unhex(const char *hex, uint8_t *out, size_t n)
{
    assert_int_equal(strlen(hex), 2 * n);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
}

static int group_setup(void **state)
{
    (void)state;
    startdir = getcwd(NULL, 0);
    workdir = h_tmpdir("did");
    if (!startdir || !workdir || chdir(workdir) != 0)
        return -1;
    return corio_crypto_psa_init() == CORIO_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    corio_crypto_psa_deinit();
    int rc = chdir(startdir);
    rc |= rmdir(workdir);
    free(workdir);
    free(startdir);
    return rc;
}

/* RFC 6979 A.2.5's public key; its id worked out with Python's hashlib and base64. */
static const char *RFC_PUB = "0460fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6"
                             "7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299";
static const char *RFC_PUB_C = "0360fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6";
static const char *RFC_ID = "uruaok7yhitqgcc26jlq3bd4";

static void did_of_a_known_key(void **state)
{
    (void)state;
    uint8_t pub[65], comp[33];
    unhex(RFC_PUB, pub, 65);
    unhex(RFC_PUB_C, comp, 33);
    const struct corio_crypto_ops *both[] = {psa, ossl};
    for (size_t b = 0; b < 2; b++) {
        struct corio_did d1, d2;
        char s[CORIO_DID_BUF];
        assert_int_equal(corio_did_from_key(both[b], pub, 65, &d1), CORIO_OK);
        assert_int_equal(corio_did_from_key(both[b], comp, 33, &d2), CORIO_OK);
        assert_true(corio_did_same(&d1, &d2));
        assert_false(d1.has_key);
        assert_int_equal(corio_did_format(&d1, s, sizeof s), 34);
        assert_string_equal(s, "did:corio:uruaok7yhitqgcc26jlq3bd4");
        assert_int_equal(corio_did_id_format(d1.id, s, sizeof s), 24);
        assert_string_equal(s, RFC_ID);
    }
}

static void did_from_key_refuses_bad_points(void **state)
{
    (void)state;
    uint8_t pub[65];
    struct corio_did d;
    unhex(RFC_PUB, pub, 65);
    assert_int_equal(corio_did_from_key(ossl, pub, 64, &d), CORIO_ERR_MALFORMED);
    assert_int_equal(corio_did_from_key(ossl, pub, 66, &d), CORIO_ERR_MALFORMED);
    pub[64] ^= 1; /* off the curve */
    assert_int_equal(corio_did_from_key(ossl, pub, 65, &d), CORIO_ERR_MALFORMED);
    uint8_t c[33];
    unhex(RFC_PUB_C, c, 33);
    c[0] = 0x05; /* neither 0x02 nor 0x03 */
    assert_int_equal(corio_did_from_key(ossl, c, 33, &d), CORIO_ERR_MALFORMED);
    assert_int_equal(corio_did_from_key(NULL, pub, 65, &d), CORIO_ERR_INVAL);
    assert_int_equal(corio_did_from_key(ossl, NULL, 65, &d), CORIO_ERR_INVAL);
    assert_int_equal(corio_did_from_key(ossl, pub, 65, NULL), CORIO_ERR_INVAL);
}

static void generated_keys_give_the_same_did_on_both_backends(void **state)
{
    (void)state;
    for (int i = 0; i < 20; i++) {
        struct corio_key k;
        uint8_t pub[65];
        struct corio_did a, b;
        assert_int_equal(corio_key_generate(i % 2 ? psa : ossl, 0, 0, &k), CORIO_OK);
        assert_int_equal(corio_key_public(&k, pub), CORIO_OK);
        assert_int_equal(corio_did_from_key(psa, pub, 65, &a), CORIO_OK);
        assert_int_equal(corio_did_from_key(ossl, pub, 65, &b), CORIO_OK);
        assert_memory_equal(a.id, b.id, CORIO_DID_ID_LEN);
        char s[CORIO_DID_BUF];
        struct corio_did back;
        int n = corio_did_format(&a, s, sizeof s);
        assert_int_equal(n, 34);
        assert_int_equal(corio_did_parse(s, (size_t)n, &back), CORIO_OK);
        assert_memory_equal(back.id, a.id, CORIO_DID_ID_LEN);
        corio_key_close(&k);
    }
}

static void parse_and_print_key_references(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        uint32_t key;
    } ok[] = {
        {"did:corio:uruaok7yhitqgcc26jlq3bd4#0", 0},
        {"did:corio:uruaok7yhitqgcc26jlq3bd4#7", 7},
        {"did:corio:uruaok7yhitqgcc26jlq3bd4#10", 10},
        {"did:corio:uruaok7yhitqgcc26jlq3bd4#4294967295", 4294967295u},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        struct corio_did d;
        char s[CORIO_DID_BUF];
        assert_int_equal(corio_did_parse(ok[i].s, strlen(ok[i].s), &d), CORIO_OK);
        assert_true(d.has_key);
        assert_int_equal(d.key, ok[i].key);
        assert_int_equal(corio_did_format(&d, s, sizeof s), (int)strlen(ok[i].s));
        assert_string_equal(s, ok[i].s);
    }
    /* The longest spelling fits CORIO_DID_BUF exactly, and not one byte less. */
    struct corio_did d;
    char s[CORIO_DID_BUF];
    const char *longest = ok[3].s;
    assert_int_equal(strlen(longest), CORIO_DID_STR_MAX);
    assert_int_equal(corio_did_parse(longest, strlen(longest), &d), CORIO_OK);
    assert_int_equal(corio_did_format(&d, s, CORIO_DID_BUF - 1), CORIO_ERR_NOSPACE);
    assert_int_equal(corio_did_format(&d, s, CORIO_DID_BUF), CORIO_DID_STR_MAX);
    d.has_key = false;
    assert_int_equal(corio_did_format(&d, s, 34), CORIO_ERR_NOSPACE);
    assert_int_equal(corio_did_format(&d, s, 35), 34);
}

static void parse_refuses_every_other_spelling(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",
        "did:corio:",
        "did:corio:uruaok7yhitqgcc26jlq3bd",   /* 23 characters */
        "did:corio:uruaok7yhitqgcc26jlq3bd4a", /* 25 */
        "DID:corio:uruaok7yhitqgcc26jlq3bd4",
        "did:Corio:uruaok7yhitqgcc26jlq3bd4",
        "did:corio:URUAOK7YHITQGCC26JLQ3BD4",
        "did:corio:uruaok7yhitqgcc26jlq3bD4",
        "did:corio:uruaok7yhitqgcc26jlq3b=4",
        "did:corio:uruaok7yhitqgcc26jlq3b04", /* 0, 1, 8, 9 are not base32 */
        "did:corio:uruaok7yhitqgcc26jlq3b14",
        "did:corio:uruaok7yhitqgcc26jlq3b84",
        "did:key:uruaok7yhitqgcc26jlq3bd4",
        "did:corio:uruaok7yhitqgcc26jlq3bd4#",
        "did:corio:uruaok7yhitqgcc26jlq3bd4#01",
        "did:corio:uruaok7yhitqgcc26jlq3bd4#00",
        "did:corio:uruaok7yhitqgcc26jlq3bd4#-1",
        "did:corio:uruaok7yhitqgcc26jlq3bd4#+1",
        "did:corio:uruaok7yhitqgcc26jlq3bd4# 1",
        "did:corio:uruaok7yhitqgcc26jlq3bd4#1 ",
        "did:corio:uruaok7yhitqgcc26jlq3bd4#4294967296",
        "did:corio:uruaok7yhitqgcc26jlq3bd4#99999999999",
        "did:corio:uruaok7yhitqgcc26jlq3bd4#key-1",
        "did:corio:uruaok7yhitqgcc26jlq3bd4#1#2",
        "did:corio:uruaok7yhitqgcc26jlq3bd4/path",
        "did:corio:uruaok7yhitqgcc26jlq3bd4?versionId=1",
        "did:corio:uruaok7yhitqgcc26jlq3bd4;service=x",
        "did:corio:uruaok7yhitqgcc26jlq3bd4:sub",
        " did:corio:uruaok7yhitqgcc26jlq3bd4",
        "did:corio:%75ruaok7yhitqgcc26jlq3bd4",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct corio_did d = {.key = 99};
        if (corio_did_parse(bad[i], strlen(bad[i]), &d) != CORIO_ERR_MALFORMED)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_int_equal(d.key, 99); /* untouched on failure */
    }
    /* A NUL inside the counted string is a character like any other. */
    const char nul[] = "did:corio:uruaok7yhitqgcc26jlq3bd4\0";
    struct corio_did d;
    assert_int_equal(corio_did_parse(nul, sizeof nul - 1, &d), CORIO_ERR_MALFORMED);
    assert_int_equal(corio_did_parse(nul, sizeof nul - 2, &d), CORIO_OK);
    assert_int_equal(corio_did_parse(NULL, 3, &d), CORIO_ERR_INVAL);
    assert_int_equal(corio_did_parse(nul, 3, NULL), CORIO_ERR_INVAL);
}

static void short_ids(void **state)
{
    (void)state;
    uint8_t id[CORIO_DID_ID_LEN], back[CORIO_DID_ID_LEN];
    char s[25];
    assert_int_equal(corio_did_id_parse(RFC_ID, 24, id), CORIO_OK);
    assert_int_equal(corio_did_id_format(id, s, sizeof s), 24);
    assert_string_equal(s, RFC_ID);
    assert_int_equal(corio_did_id_format(id, s, 24), CORIO_ERR_NOSPACE);
    assert_int_equal(corio_did_id_parse(RFC_ID, 23, back), CORIO_ERR_MALFORMED);
    assert_int_equal(corio_did_id_parse("uruaok7yhitqgcc26jlq3bd4aaaaaaaa", 32, back),
                     CORIO_ERR_MALFORMED);
    assert_int_equal(corio_did_id_parse("URUAOK7YHITQGCC26JLQ3BD4", 24, back), CORIO_ERR_MALFORMED);

    struct corio_did a = {.has_key = true, .key = 1}, b = {.has_key = true, .key = 2};
    memcpy(a.id, id, sizeof id);
    memcpy(b.id, id, sizeof id);
    assert_true(corio_did_same(&a, &b)); /* key numbers do not matter */
    b.id[14] ^= 1;
    assert_false(corio_did_same(&a, &b));
    assert_false(corio_did_same(&a, NULL));
}

/* ---- did:key ---- */

static const struct {
    const char *did, *x, *y;
} didkey_vectors[] = {
    /* W3C CCG did-method-key test vectors for P-256 (x and y from their JWKs). */
    {"did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169",
     "7f235830dd3defa722ef1aa249d6a0ddbba4f990b0817538933f573640653542",
     "856da88d335f1fb25b8bcfbe089528dce09b1f7cb99fdd60f88300f4c2cc6d35"},
    {"did:key:zDnaerx9CtbPJ1q36T5Ln5wYt3MQYeGRG5ehnPAmxcf5mDZpv",
     "8a0ac59a2d3086e8a12a78fd4773a6d52a0ca61ef6c1419e15a05bcc6dafce7b",
     "79fb17e5bd74c7cca3cab8f89f2de919f2dc63b5dbcb52b382a39daa7b2b2483"},
    /* The COSE examples' key "11" (RFC 9052 appendix C), spelled with Python. */
    {"did:key:zDnaed13iaNkx3Y8DMhtWUBAmLsWt9M2eHtaiXU66mjU2ei14",
     "bac5b11cad8f99f9c72b05cf4b9e26d244dc189f745228255a219a86d6a09eff",
     "20138bf82dc1b6d562be0fa54ab7804a3a64b6d72ccfed6b6fb6ed28bbfc117e"},
};

static void didkey_vectors_both_ways(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof didkey_vectors / sizeof didkey_vectors[0]; i++) {
        uint8_t want[65], got[65];
        char s[CORIO_DIDKEY_BUF], mb[CORIO_MULTIKEY_LEN + 1];
        want[0] = 0x04;
        unhex(didkey_vectors[i].x, want + 1, 32);
        unhex(didkey_vectors[i].y, want + 33, 32);
        const char *did = didkey_vectors[i].did;
        assert_int_equal(strlen(did), CORIO_DIDKEY_LEN);
        assert_int_equal(corio_didkey_parse(did, strlen(did), got), CORIO_OK);
        assert_memory_equal(got, want, 65);
        assert_int_equal(corio_didkey_format(want, 65, s, sizeof s), CORIO_DIDKEY_LEN);
        assert_string_equal(s, did);
        uint8_t comp[33];
        assert_int_equal(corio_p256_compress(want, comp), CORIO_OK);
        assert_int_equal(corio_didkey_format(comp, 33, s, sizeof s), CORIO_DIDKEY_LEN);
        assert_string_equal(s, did);
        assert_int_equal(corio_multikey_format(want, 65, mb, sizeof mb), CORIO_MULTIKEY_LEN);
        assert_string_equal(mb, did + CORIO_DIDKEY_PREFIX_LEN);
        assert_int_equal(corio_multikey_parse(mb, CORIO_MULTIKEY_LEN, got), CORIO_OK);
        assert_memory_equal(got, want, 65);

        /* did:key:<mb>#<mb>, the key's verification method, names the same key. */
        char vm[2 * CORIO_DIDKEY_BUF];
        snprintf(vm, sizeof vm, "%s#%s", did, did + CORIO_DIDKEY_PREFIX_LEN);
        assert_int_equal(corio_didkey_parse(vm, strlen(vm), got), CORIO_OK);
        assert_memory_equal(got, want, 65);

        assert_int_equal(corio_didkey_format(want, 65, s, CORIO_DIDKEY_BUF - 1), CORIO_ERR_NOSPACE);
        assert_int_equal(corio_multikey_format(want, 65, mb, CORIO_MULTIKEY_LEN),
                         CORIO_ERR_NOSPACE);
    }
}

static void didkey_round_trips_generated_keys(void **state)
{
    (void)state;
    for (int i = 0; i < 50; i++) {
        struct corio_key k;
        uint8_t pub[65], got[65];
        char s[CORIO_DIDKEY_BUF];
        assert_int_equal(corio_key_generate(i % 2 ? psa : ossl, 0, 0, &k), CORIO_OK);
        assert_int_equal(corio_key_public(&k, pub), CORIO_OK);
        assert_int_equal(corio_didkey_format(pub, 65, s, sizeof s), CORIO_DIDKEY_LEN);
        assert_memory_equal(s, "did:key:zDn", 11);
        assert_int_equal(corio_didkey_parse(s, strlen(s), got), CORIO_OK);
        assert_memory_equal(got, pub, 65);
        corio_key_close(&k);
    }
}

static void didkey_refusals(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",
        "did:key:",
        "did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU216",   /* one short */
        "did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU21699", /* one long */
        "did:key:ZDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169",  /* multibase Z */
        "did:key:uDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169",
        "DID:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169",
        "did:KEY:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169",
        "did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU216l", /* l: not base58 */
        "did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2160", /* 0: not base58 */
        /* an ed25519 key (multicodec 0xed) and a secp256k1 key (0xe7) */
        "did:key:z6MkeTGwHmLmuCmgg4ABYhzWVh6ZX7hTwWt8gguAretUfc9c",
        "did:key:zQ3shZysRnVQkdhodyeFGyjwSW9U5kJ6Up577WYYTWFZEVQog",
        /* p256-pub codec over: x = 1 (no curve point), x = p, prefix 0x05, an
         * uncompressed point */
        "did:key:zDnaeQRy3dcKsKa1zmKtVKsTy3m2HYoQnFnfKuxD6HfSTQgYg",
        "did:key:zDnaehfHR8MSkcVwNx8zPfR4zBUXJ1szs6BXzeQAqT7PRYTSN",
        "did:key:zDnafWgzq4k1kRgLX4xEm9hhevXvStpxcXWnzycx5MVkLCZjt",
        "did:key:z4oJ8dWkUT1UkqExcLivWWzn5cdmerZB7uVkX89Fau1j8USJiqWJddvQz5ksiMG8FjzjnTJ8ovUg1S99"
        "tLZqUhEiBYHDo",
        /* fragments that are not the key itself */
        "did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169#",
        "did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169#key-1",
        "did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169#"
        "zDnaerx9CtbPJ1q36T5Ln5wYt3MQYeGRG5"
        "ehnPAmxcf5mDZpv",
        "did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169?x=1",
        "did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169/",
    };
    uint8_t pub[65];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (corio_didkey_parse(bad[i], strlen(bad[i]), pub) != CORIO_ERR_MALFORMED)
            fail_msg("accepted \"%s\"", bad[i]);
    assert_int_equal(
        corio_multikey_parse("DnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU21690", 49, pub),
        CORIO_ERR_MALFORMED);
    assert_int_equal(corio_didkey_parse(NULL, 57, pub), CORIO_ERR_INVAL);
    assert_int_equal(corio_didkey_parse(didkey_vectors[0].did, 57, NULL), CORIO_ERR_INVAL);
    uint8_t off[65];
    off[0] = 0x04;
    unhex(didkey_vectors[0].x, off + 1, 32);
    unhex(didkey_vectors[0].y, off + 33, 32);
    off[64] ^= 1;
    char s[CORIO_DIDKEY_BUF];
    assert_int_equal(corio_didkey_format(off, 65, s, sizeof s), CORIO_ERR_MALFORMED);
    assert_int_equal(corio_didkey_format(off, 64, s, sizeof s), CORIO_ERR_MALFORMED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(did_of_a_known_key),
        cmocka_unit_test(did_from_key_refuses_bad_points),
        cmocka_unit_test(generated_keys_give_the_same_did_on_both_backends),
        cmocka_unit_test(parse_and_print_key_references),
        cmocka_unit_test(parse_refuses_every_other_spelling),
        cmocka_unit_test(short_ids),
        cmocka_unit_test(didkey_vectors_both_ways),
        cmocka_unit_test(didkey_round_trips_generated_keys),
        cmocka_unit_test(didkey_refusals),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
