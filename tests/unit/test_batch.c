/* test_batch.c - the batch and ack codecs: round trips, determinism, every refusal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "batch.h"
#include "corio/cbor.h"
#include "corio/crypto_psa.h"
#include "corio/error.h"
#include "crypto_openssl.h"

#define GW "aaaaaaaaaaaaaaaaaaaaaaaa"
#define DEV "bbbbbbbbbbbbbbbbbbbbbbb2"

static struct corio_batch sample(struct corio_batch_msg *msgs)
{
    msgs[0] = (struct corio_batch_msg){.id = 10, .device = DEV, .device_len = 24,
                                       .suffix = "up/json", .suffix_len = 7, .recv_ms = 1000,
                                       .payload = (const uint8_t *)"[{\"v\":1}]", .payload_len = 9};
    msgs[1] = (struct corio_batch_msg){.id = 12, .device = "", .device_len = 0,
                                       .suffix = "presence", .suffix_len = 8, .recv_ms = 1001,
                                       .payload = NULL, .payload_len = 0};
    struct corio_batch b = {.epoch = 77, .first = 10, .last = 12, .made_ms = 2000, .count = 2,
                            .msgs = msgs};
    strcpy(b.gateway, GW);
    return b;
}

static void batch_round_trip(void **state)
{
    (void)state;
    struct corio_batch_msg msgs[2];
    struct corio_batch b = sample(msgs);
    int64_t size = corio_batch_encode(&b, NULL, 0);
    assert_true(size > 0);
    uint8_t *buf = malloc((size_t)size);
    assert_int_equal(corio_batch_encode(&b, buf, (size_t)size), size);
    assert_int_equal(corio_batch_encode(&b, buf, (size_t)size - 1), CORIO_ERR_NOSPACE);
    assert_int_equal(corio_cbor_deterministic(buf, (size_t)size), CORIO_OK);

    struct corio_batch out;
    char why[128];
    assert_int_equal(corio_batch_decode(buf, (size_t)size, &out, why, sizeof why), CORIO_OK);
    assert_string_equal(out.gateway, GW);
    assert_true(out.epoch == 77 && out.first == 10 && out.last == 12 && out.made_ms == 2000);
    assert_int_equal(out.count, 2);
    assert_true(out.msgs[0].id == 10);
    assert_memory_equal(out.msgs[0].device, DEV, 24);
    assert_int_equal(out.msgs[0].payload_len, 9);
    assert_int_equal(out.msgs[1].device_len, 0);
    assert_int_equal(out.msgs[1].recv_ms, 1001);
    corio_batch_free(&out);

    /* Every truncation is refused without reading past the input. */
    for (int64_t cut = 0; cut < size; cut++) {
        uint8_t *copy = malloc(cut ? (size_t)cut : 1);
        memcpy(copy, buf, (size_t)cut);
        assert_true(corio_batch_decode(copy, (size_t)cut, &out, why, sizeof why) < 0);
        assert_null(out.msgs);
        free(copy);
    }
    free(buf);
}

static void encoder_refuses_what_the_decoder_would(void **state)
{
    (void)state;
    struct corio_batch_msg msgs[2];
    struct corio_batch b = sample(msgs);
    uint8_t buf[512];
    msgs[1].id = 10; /* not increasing */
    assert_int_equal(corio_batch_encode(&b, buf, sizeof buf), CORIO_ERR_INVAL);
    b = sample(msgs);
    msgs[0].id = 9; /* below first */
    assert_int_equal(corio_batch_encode(&b, buf, sizeof buf), CORIO_ERR_INVAL);
    b = sample(msgs);
    msgs[0].device = "BBBBBBBBBBBBBBBBBBBBBBBB"; /* not lowercase base32 */
    assert_int_equal(corio_batch_encode(&b, buf, sizeof buf), CORIO_ERR_INVAL);
    b = sample(msgs);
    msgs[0].suffix = "up/#";
    msgs[0].suffix_len = 4;
    assert_int_equal(corio_batch_encode(&b, buf, sizeof buf), CORIO_ERR_INVAL);
    b = sample(msgs);
    b.epoch = 0;
    assert_int_equal(corio_batch_encode(&b, buf, sizeof buf), CORIO_ERR_INVAL);
}

/* Builds a batch by hand so that the decoder meets what our encoder never writes. */
static size_t handmade(uint8_t *buf, size_t cap, uint64_t version, uint64_t first, uint64_t last,
                       uint64_t id0, uint64_t id1, const char *dev)
{
    struct corio_cbor_enc e;
    corio_cbor_enc_init(&e, buf, cap);
    corio_cbor_put_map(&e, 7);
    corio_cbor_put_uint(&e, 1);
    corio_cbor_put_uint(&e, version);
    corio_cbor_put_uint(&e, 2);
    corio_cbor_put_textz(&e, GW);
    corio_cbor_put_uint(&e, 3);
    corio_cbor_put_uint(&e, 5);
    corio_cbor_put_uint(&e, 4);
    corio_cbor_put_uint(&e, first);
    corio_cbor_put_uint(&e, 5);
    corio_cbor_put_uint(&e, last);
    corio_cbor_put_uint(&e, 6);
    corio_cbor_put_uint(&e, 1);
    corio_cbor_put_uint(&e, 7);
    corio_cbor_put_array(&e, 2);
    uint64_t ids[2] = {id0, id1};
    for (int i = 0; i < 2; i++) {
        corio_cbor_put_array(&e, 5);
        corio_cbor_put_uint(&e, ids[i]);
        corio_cbor_put_textz(&e, dev);
        corio_cbor_put_textz(&e, "up/json");
        corio_cbor_put_uint(&e, 1);
        corio_cbor_put_bytes(&e, "x", 1);
    }
    assert_true(corio_cbor_enc_finish(&e) >= 0);
    return corio_cbor_enc_len(&e);
}

static void decoder_refusals_name_the_rule(void **state)
{
    (void)state;
    uint8_t buf[512];
    char why[128];
    struct corio_batch out;
    size_t n = handmade(buf, sizeof buf, 1, 1, 9, 3, 4, DEV);
    assert_int_equal(corio_batch_decode(buf, n, &out, why, sizeof why), CORIO_OK);
    corio_batch_free(&out);

    n = handmade(buf, sizeof buf, 2, 1, 9, 3, 4, DEV);
    assert_int_equal(corio_batch_decode(buf, n, &out, why, sizeof why), CORIO_ERR_VERSION);
    assert_non_null(strstr(why, "version"));
    n = handmade(buf, sizeof buf, 1, 1, 9, 4, 4, DEV);
    assert_int_equal(corio_batch_decode(buf, n, &out, why, sizeof why), CORIO_ERR_POLICY);
    assert_non_null(strstr(why, "increasing"));
    n = handmade(buf, sizeof buf, 1, 5, 9, 3, 6, DEV);
    assert_int_equal(corio_batch_decode(buf, n, &out, why, sizeof why), CORIO_ERR_POLICY);
    n = handmade(buf, sizeof buf, 1, 9, 1, 3, 4, DEV);
    assert_int_equal(corio_batch_decode(buf, n, &out, why, sizeof why), CORIO_ERR_POLICY);
    n = handmade(buf, sizeof buf, 1, 1, 9, 3, 4, "not-a-short-id");
    assert_int_equal(corio_batch_decode(buf, n, &out, why, sizeof why), CORIO_ERR_POLICY);
    assert_non_null(strstr(why, "device"));
    /* Trailing bytes and non-deterministic encodings are refused. */
    n = handmade(buf, sizeof buf, 1, 1, 9, 3, 4, DEV);
    buf[n] = 0x00;
    assert_int_equal(corio_batch_decode(buf, n + 1, &out, why, sizeof why), CORIO_ERR_MALFORMED);
    uint8_t longhead[] = {0xb8, 0x07};
    assert_int_equal(corio_batch_decode(longhead, sizeof longhead, &out, why, sizeof why),
                     CORIO_ERR_MALFORMED);
}

static void ack_round_trip_and_refusals(void **state)
{
    (void)state;
    struct corio_ack_range in[3] = {{1, 5}, {6, 6}, {10, 20}}, out[3];
    uint8_t buf[128];
    int64_t n = corio_ack_encode(9, in, 3, buf, sizeof buf);
    assert_true(n > 0);
    uint64_t epoch;
    assert_int_equal(corio_ack_decode(buf, (size_t)n, &epoch, out, 3), 3);
    assert_true(epoch == 9);
    assert_memory_equal(in, out, sizeof in);
    assert_int_equal(corio_ack_decode(buf, (size_t)n, &epoch, out, 2), CORIO_ERR_NOSPACE);
    for (int64_t cut = 0; cut < n; cut++)
        assert_true(corio_ack_decode(buf, (size_t)cut, &epoch, out, 3) < 0);
    struct corio_ack_range bad = {5, 4};
    assert_int_equal(corio_ack_encode(9, &bad, 1, buf, sizeof buf), CORIO_ERR_INVAL);
    assert_int_equal(corio_ack_encode(0, in, 1, buf, sizeof buf), CORIO_ERR_INVAL);
}

static void sealed_batches_verify_with_either_backend(void **state)
{
    (void)state;
    struct corio_batch_msg msgs[2];
    struct corio_batch b = sample(msgs);
    uint8_t payload[512];
    int64_t n = corio_batch_encode(&b, payload, sizeof payload);
    assert_true(n > 0);

    assert_int_equal(corio_crypto_psa_init(), CORIO_OK);
    struct corio_key key;
    assert_int_equal(corio_key_generate(&corio_crypto_openssl_ops, 0, 0, &key), CORIO_OK);
    uint8_t pub[65], other_pub[65];
    assert_int_equal(corio_key_public(&key, pub), CORIO_OK);
    uint8_t *wire;
    size_t len;
    assert_int_equal(corio_batch_seal(&key, GW, 3, payload, (size_t)n, &wire, &len), CORIO_OK);

    char gw[25];
    unsigned keyno;
    assert_int_equal(corio_batch_signer(wire, len, gw, &keyno), CORIO_OK);
    assert_string_equal(gw, GW);
    assert_int_equal(keyno, 3);

    struct corio_batch out;
    char why[128];
    const struct corio_crypto_ops *backends[] = {&corio_crypto_openssl_ops, &corio_crypto_psa_ops};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(corio_batch_open(backends[i], wire, len, pub, 65, &out, why, sizeof why),
                         CORIO_OK);
        assert_int_equal(out.count, 2);
        corio_batch_free(&out);
    }
    /* Another key, or one flipped bit of the payload, does not verify. */
    struct corio_key other;
    assert_int_equal(corio_key_generate(&corio_crypto_openssl_ops, 0, 0, &other), CORIO_OK);
    assert_int_equal(corio_key_public(&other, other_pub), CORIO_OK);
    assert_int_equal(corio_batch_open(&corio_crypto_openssl_ops, wire, len, other_pub, 65, &out,
                                      why, sizeof why),
                     CORIO_ERR_BADSIG);
    wire[len - 70] ^= 1; /* inside the payload, before the 64-byte signature */
    assert_int_equal(corio_batch_open(&corio_crypto_openssl_ops, wire, len, pub, 65, &out, why,
                                      sizeof why),
                     CORIO_ERR_BADSIG);
    free(wire);

    /* A gateway signing a batch that names another gateway is refused. */
    assert_int_equal(corio_batch_seal(&key, "cccccccccccccccccccccccc", 0, payload, (size_t)n,
                                      &wire, &len),
                     CORIO_OK);
    assert_int_equal(corio_batch_open(&corio_crypto_openssl_ops, wire, len, pub, 65, &out, why,
                                      sizeof why),
                     CORIO_ERR_POLICY);
    free(wire);
    corio_key_close(&key);
    corio_key_close(&other);
    corio_crypto_psa_deinit();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(batch_round_trip),
        cmocka_unit_test(encoder_refuses_what_the_decoder_would),
        cmocka_unit_test(decoder_refusals_name_the_rule),
        cmocka_unit_test(ack_round_trip_and_refusals),
        cmocka_unit_test(sealed_batches_verify_with_either_backend),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
