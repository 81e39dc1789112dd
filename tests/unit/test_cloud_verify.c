/* test_cloud_verify.c - the signature check of gateway batches (cloud/verify.c): only a
 * batch sealed as the gateway seals it (common/batch.h: COSE_Sign1 with the batch AAD)
 * by the gateway's registered key, under the registered key number, opens; everything
 * else is refused with the right code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "batch.h"
#include "cloud.h"
#include "corio/cose.h"
#include "corio/crypto.h"
#include "corio/error.h"
#include "crypto_openssl.h"

#define GW  "gggggggggggggggggggggggg"
#define DEV "dddddddddddddddddddddddd"

struct fx {
    struct corio_key key, other;
    struct corio_gateway_rec gw;
    uint8_t payload[256];
    size_t plen;
    uint8_t *wire;
    size_t len;
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
    struct corio_batch_msg m = {.id = 5,
                                .device = DEV,
                                .device_len = 24,
                                .suffix = "up/json",
                                .suffix_len = 7,
                                .recv_ms = 1000,
                                .payload = (const uint8_t *)"[{\"n\":\"a\",\"v\":1}]",
                                .payload_len = 17};
    struct corio_batch b = {
        .version = 1, .epoch = 7, .first = 5, .last = 5, .made_ms = 2000, .count = 1, .msgs = &m};
    snprintf(b.gateway, sizeof b.gateway, "%s", GW);
    int64_t n = corio_batch_encode(&b, f->payload, sizeof f->payload);
    assert_true(n > 0);
    f->plen = (size_t)n;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    free(f->wire);
    corio_key_close(&f->key);
    corio_key_close(&f->other);
    free(f);
    return 0;
}

static void seal(struct fx *f, const struct corio_key *k, const char *gw, unsigned key_no)
{
    free(f->wire);
    assert_int_equal(corio_batch_seal(k, gw, key_no, f->payload, f->plen, &f->wire, &f->len),
                     CORIO_OK);
}

static int open_wire(struct fx *f, struct corio_batch *b, char *why)
{
    return corio_cloud_cose_verifier.open(corio_cloud_cose_verifier.ctx, &f->gw, f->wire, f->len, b,
                                          why, 256);
}

static void test_good(void **state)
{
    struct fx *f = *state;
    seal(f, &f->key, GW, 3);
    struct corio_batch b;
    char why[256];
    assert_int_equal(open_wire(f, &b, why), CORIO_OK);
    assert_string_equal(b.gateway, GW);
    assert_true(b.epoch == 7 && b.first == 5 && b.last == 5 && b.count == 1);
    assert_int_equal(b.msgs[0].payload_len, 17);
    corio_batch_free(&b);
}

static void test_refusals(void **state)
{
    struct fx *f = *state;
    struct corio_batch b;
    char why[256];
    /* Another key under the gateway's kid. */
    seal(f, &f->other, GW, 3);
    assert_int_equal(open_wire(f, &b, why), CORIO_ERR_BADSIG);
    assert_non_null(strstr(why, "does not verify"));
    /* The right key under an older key number, or signed as another gateway. */
    seal(f, &f->key, GW, 2);
    assert_int_equal(open_wire(f, &b, why), CORIO_ERR_BADSIG);
    assert_non_null(strstr(why, "#2, want did:corio:" GW "#3"));
    seal(f, &f->key, "hhhhhhhhhhhhhhhhhhhhhhhh", 3);
    assert_int_equal(open_wire(f, &b, why), CORIO_ERR_BADSIG);
    /* The right key and kid, but not the batch AAD: a signature made for another use. */
    char kid[64];
    snprintf(kid, sizeof kid, "did:corio:%s#3", GW);
    uint8_t plain[512];
    int pn = corio_cose_sign1_sign(&f->key, (const uint8_t *)kid, strlen(kid), NULL, 0, f->payload,
                                   f->plen, 0, plain, sizeof plain);
    assert_true(pn > 0);
    free(f->wire);
    f->wire = malloc((size_t)pn);
    memcpy(f->wire, plain, (size_t)pn);
    f->len = (size_t)pn;
    assert_int_equal(open_wire(f, &b, why), CORIO_ERR_BADSIG);
    /* No kid: nobody to check it against. */
    pn =
        corio_cose_sign1_sign(&f->key, NULL, 0, (const uint8_t *)CORIO_BATCH_AAD,
                              strlen(CORIO_BATCH_AAD), f->payload, f->plen, 0, plain, sizeof plain);
    memcpy(f->wire, plain, (size_t)pn);
    f->len = (size_t)pn;
    assert_int_equal(open_wire(f, &b, why), CORIO_ERR_MALFORMED);
    /* Every single flipped bit of a good seal is refused. */
    seal(f, &f->key, GW, 3);
    for (size_t i = 0; i < f->len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            f->wire[i] ^= (uint8_t)(1u << bit);
            int rc = open_wire(f, &b, why);
            if (rc == CORIO_OK)
                fail_msg("bit %d of byte %zu flipped was accepted", bit, i);
            f->wire[i] ^= (uint8_t)(1u << bit);
        }
    }
    /* Truncations. */
    size_t full = f->len;
    for (f->len = 0; f->len < full; f->len++)
        assert_int_not_equal(open_wire(f, &b, why), CORIO_OK);
    f->len = full;
    /* A gateway without a registered key opens nothing. */
    f->gw.pubkey_len = 0;
    assert_int_equal(open_wire(f, &b, why), CORIO_ERR_STATE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_good, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
    };
    return cmocka_run_group_tests_name("cloud_verify", tests, NULL, NULL);
}
