/* test_cloud_verify.c - the signature check of gateway batches (cloud/verify.c): only a
 * COSE_Sign1 by the gateway's registered key, with the kid naming that gateway and key
 * number, opens; everything else is refused with the right code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cloud.h"
#include "corio/cose.h"
#include "corio/crypto.h"
#include "corio/error.h"
#include "crypto_openssl.h"

#define GW "gggggggggggggggggggggggg"

struct fx {
    struct corio_key key, other;
    struct corio_gateway_rec gw;
    uint8_t wire[512];
    int len;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_int_equal(corio_key_generate(&corio_crypto_openssl_ops, 0, 0, &f->key), CORIO_OK);
    assert_int_equal(corio_key_generate(&corio_crypto_openssl_ops, 0, 0, &f->other), CORIO_OK);
    snprintf(f->gw.id, sizeof f->gw.id, "%s", GW);
    snprintf(f->gw.org, sizeof f->gw.org, "oooooooooooooooooooooooo");
    assert_int_equal(corio_key_public(&f->key, f->gw.pubkey), CORIO_OK);
    f->gw.pubkey_len = 65;
    f->gw.key_no = 3;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    corio_key_close(&f->key);
    corio_key_close(&f->other);
    free(f);
    return 0;
}

static void sign(struct fx *f, const struct corio_key *k, const char *kid, unsigned flags)
{
    static const uint8_t payload[] = "the batch";
    f->len = corio_cose_sign1_sign(k, (const uint8_t *)kid, kid ? strlen(kid) : 0, NULL, 0, payload,
                                   sizeof payload - 1, flags, f->wire, sizeof f->wire);
    assert_true(f->len > 0);
}

static int open_wire(struct fx *f, const uint8_t **p, size_t *n, char *why)
{
    return corio_cloud_cose_verifier.open(corio_cloud_cose_verifier.ctx, &f->gw, f->wire,
                                          (size_t)f->len, p, n, why, 256);
}

static void test_good(void **state)
{
    struct fx *f = *state;
    sign(f, &f->key, "did:corio:" GW "#3", 0);
    const uint8_t *p;
    size_t n;
    char why[256];
    assert_int_equal(open_wire(f, &p, &n, why), CORIO_OK);
    assert_int_equal(n, 9);
    assert_memory_equal(p, "the batch", 9);
    /* The payload points into the wire: nothing was copied. */
    assert_true(p > f->wire && p + n <= f->wire + f->len);
    /* Untagged is the same message. */
    sign(f, &f->key, "did:corio:" GW "#3", CORIO_COSE_UNTAGGED);
    assert_int_equal(open_wire(f, &p, &n, why), CORIO_OK);
}

static void test_refusals(void **state)
{
    struct fx *f = *state;
    const uint8_t *p;
    size_t n;
    char why[256];
    /* Another key, with the right kid. */
    sign(f, &f->other, "did:corio:" GW "#3", 0);
    assert_int_equal(open_wire(f, &p, &n, why), CORIO_ERR_BADSIG);
    assert_non_null(strstr(why, "does not verify"));
    /* The right key, but the kid names an older key number, another gateway, or none. */
    static const char *const kids[] = {"did:corio:" GW "#2", "did:corio:" GW "#03",
                                       "did:corio:hhhhhhhhhhhhhhhhhhhhhhhh#3", "did:corio:" GW,
                                       NULL};
    for (size_t i = 0; i < sizeof kids / sizeof kids[0]; i++) {
        sign(f, &f->key, kids[i], 0);
        assert_int_equal(open_wire(f, &p, &n, why), CORIO_ERR_BADSIG);
        assert_non_null(strstr(why, "kid"));
    }
    /* One flipped bit of the signed message. */
    sign(f, &f->key, "did:corio:" GW "#3", 0);
    for (int i = 0; i < f->len; i++) {
        f->wire[i] ^= 0x01;
        int rc = open_wire(f, &p, &n, why);
        if (rc == CORIO_OK)
            fail_msg("a flipped bit at byte %d was accepted", i);
        f->wire[i] ^= 0x01;
    }
    /* A detached payload: the batch must travel inside. */
    sign(f, &f->key, "did:corio:" GW "#3", CORIO_COSE_DETACHED);
    assert_int_equal(open_wire(f, &p, &n, why), CORIO_ERR_MALFORMED);
    /* Not COSE at all, and truncations. */
    sign(f, &f->key, "did:corio:" GW "#3", 0);
    int full = f->len;
    for (f->len = 0; f->len < full; f->len++)
        assert_int_equal(open_wire(f, &p, &n, why), CORIO_ERR_MALFORMED);
    /* A gateway without a registered key opens nothing. */
    f->len = full;
    f->gw.pubkey_len = 0;
    assert_int_equal(open_wire(f, &p, &n, why), CORIO_ERR_STATE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_good, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
    };
    return cmocka_run_group_tests_name("cloud_verify", tests, NULL, NULL);
}
