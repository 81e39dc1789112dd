/*
 * test_eat_auth.c - the corio-eat-v1 messages (eat_auth.h): byte-exact encodings, round
 * trips, every refusal of the decoders, the size bound, the claim nonce against its
 * definition (the ledger's `corio device claim-nonce`), quarantine topics.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "corio/eat_auth.h"
#include "crypto_openssl.h"

static void an_answer_is_three_items_and_round_trips(void **state)
{
    (void)state;
    static const uint8_t eat[] = {0xd2, 0x84, 0x40};
    static const uint8_t chain[] = {0x82, 0x01};
    uint8_t out[32];
    int n = corio_eat_auth_encode(eat, sizeof eat, chain, sizeof chain, out, sizeof out);
    static const uint8_t want[] = {0x83, 0x01, 0x43, 0xd2, 0x84, 0x40, 0x42, 0x82, 0x01};
    assert_int_equal(n, sizeof want);
    assert_memory_equal(out, want, sizeof want);
    struct corio_eat_auth a;
    assert_int_equal(corio_eat_auth_decode(out, (size_t)n, &a), CORIO_OK);
    assert_ptr_equal(a.eat, out + 3);
    assert_int_equal(a.eat_len, sizeof eat);
    assert_ptr_equal(a.chain, out + 7);
    assert_int_equal(a.chain_len, sizeof chain);
    /* Short buffers, empty parts, an EAT over the profile's limit. */
    for (size_t cap = 0; cap < sizeof want; cap++)
        assert_int_equal(corio_eat_auth_encode(eat, sizeof eat, chain, sizeof chain, out, cap),
                         CORIO_ERR_NOSPACE);
    assert_int_equal(corio_eat_auth_encode(eat, 0, chain, sizeof chain, out, sizeof out),
                     CORIO_ERR_INVAL);
    assert_int_equal(corio_eat_auth_encode(eat, sizeof eat, chain, 0, out, sizeof out),
                     CORIO_ERR_INVAL);
    static uint8_t big[CORIO_EAT_AUTH_MAX + 16];
    assert_int_equal(corio_eat_auth_encode(big, CORIO_EAT_MAX_SIZE + 1, chain, 2, big, sizeof big),
                     CORIO_ERR_INVAL);
}

static void the_longest_answer_is_accepted_and_one_byte_more_is_not(void **state)
{
    (void)state;
    static uint8_t eat[CORIO_EAT_MAX_SIZE], chain[CORIO_EAT_AUTH_MAX], out[CORIO_EAT_AUTH_MAX + 8];
    /* [1, bstr(1024), bstr(c)]: 1 + 1 + 3 + 1024 + 3 + c bytes. */
    size_t c = CORIO_EAT_AUTH_MAX - 1032;
    int n = corio_eat_auth_encode(eat, sizeof eat, chain, c, out, sizeof out);
    assert_int_equal(n, CORIO_EAT_AUTH_MAX);
    struct corio_eat_auth a;
    assert_int_equal(corio_eat_auth_decode(out, (size_t)n, &a), CORIO_OK);
    assert_int_equal(corio_eat_auth_encode(eat, sizeof eat, chain, c + 1, out, sizeof out),
                     CORIO_ERR_INVAL);
    /* Made by hand, one byte over: refused by size before anything is read. */
    assert_int_equal(corio_eat_auth_decode(out, CORIO_EAT_AUTH_MAX + 1, &a), CORIO_ERR_POLICY);
}

static void malformed_answers_are_refused(void **state)
{
    (void)state;
    static const struct {
        const char *what;
        uint8_t bytes[16];
        size_t len;
        int rc;
    } cases[] = {
        {"empty", {0}, 0, CORIO_ERR_MALFORMED},
        {"not an array", {0xa0}, 1, CORIO_ERR_MALFORMED},
        {"two items", {0x82, 0x01, 0x41, 0x00}, 4, CORIO_ERR_MALFORMED},
        {"four items", {0x84, 0x01, 0x41, 0x00, 0x41, 0x00, 0x00}, 7, CORIO_ERR_MALFORMED},
        {"version 2", {0x83, 0x02, 0x41, 0x00, 0x41, 0x00}, 6, CORIO_ERR_VERSION},
        {"version as text", {0x83, 0x61, 0x31, 0x41, 0x00, 0x41, 0x00}, 7, CORIO_ERR_MALFORMED},
        {"empty EAT", {0x83, 0x01, 0x40, 0x41, 0x00}, 5, CORIO_ERR_MALFORMED},
        {"empty chain", {0x83, 0x01, 0x41, 0x00, 0x40}, 5, CORIO_ERR_MALFORMED},
        {"EAT as text", {0x83, 0x01, 0x61, 0x00, 0x41, 0x00}, 6, CORIO_ERR_MALFORMED},
        {"indefinite array", {0x9f, 0x01, 0x41, 0x00, 0x41, 0x00, 0xff}, 7, CORIO_ERR_MALFORMED},
        {"indefinite bstr",
         {0x83, 0x01, 0x5f, 0x41, 0x00, 0xff, 0x41, 0x00},
         8,
         CORIO_ERR_MALFORMED},
        {"long head", {0x83, 0x01, 0x58, 0x01, 0x00, 0x41, 0x00}, 7, CORIO_ERR_MALFORMED},
        {"trailing byte", {0x83, 0x01, 0x41, 0x00, 0x41, 0x00, 0x00}, 7, CORIO_ERR_MALFORMED},
        {"truncated", {0x83, 0x01, 0x41, 0x00, 0x42, 0x00}, 6, CORIO_ERR_MALFORMED},
        {"tagged", {0xd8, 0x18, 0x83, 0x01, 0x41, 0x00, 0x41, 0x00}, 8, CORIO_ERR_MALFORMED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct corio_eat_auth a = {0};
        print_message("%s\n", cases[i].what);
        assert_int_equal(corio_eat_auth_decode(cases[i].bytes, cases[i].len, &a), cases[i].rc);
        assert_null(a.eat); /* untouched */
    }
    /* An EAT longer than the profile allows. */
    static uint8_t over[CORIO_EAT_MAX_SIZE + 16] = {0x83, 0x01, 0x59, 0x04, 0x01};
    over[5 + CORIO_EAT_MAX_SIZE + 1] = 0x41;
    struct corio_eat_auth a;
    assert_int_equal(corio_eat_auth_decode(over, 5 + CORIO_EAT_MAX_SIZE + 1 + 2, &a),
                     CORIO_ERR_POLICY);
    assert_int_equal(corio_eat_auth_decode(NULL, 1, &a), CORIO_ERR_INVAL);
}

static void results(void **state)
{
    (void)state;
    uint8_t out[8];
    assert_int_equal(corio_eat_auth_result_encode(CORIO_EAT_AUTH_QUARANTINED, out, sizeof out), 3);
    static const uint8_t q[] = {0x82, 0x01, 0x02};
    assert_memory_equal(out, q, 3);
    enum corio_eat_auth_status s;
    assert_int_equal(corio_eat_auth_result_decode(q, 3, &s), CORIO_OK);
    assert_int_equal(s, CORIO_EAT_AUTH_QUARANTINED);
    static const uint8_t a[] = {0x82, 0x01, 0x01}, bad[] = {0x82, 0x01, 0x03},
                         v2[] = {0x82, 0x02, 0x01}, three[] = {0x83, 0x01, 0x01, 0x00},
                         trail[] = {0x82, 0x01, 0x01, 0x00};
    assert_int_equal(corio_eat_auth_result_decode(a, 3, &s), CORIO_OK);
    assert_int_equal(s, CORIO_EAT_AUTH_ADMITTED);
    assert_int_equal(corio_eat_auth_result_decode(bad, 3, &s), CORIO_ERR_MALFORMED);
    assert_int_equal(corio_eat_auth_result_decode(v2, 3, &s), CORIO_ERR_VERSION);
    assert_int_equal(corio_eat_auth_result_decode(three, 4, &s), CORIO_ERR_MALFORMED);
    assert_int_equal(corio_eat_auth_result_decode(trail, 4, &s), CORIO_ERR_MALFORMED);
    assert_int_equal(corio_eat_auth_result_encode((enum corio_eat_auth_status)3, out, 8),
                     CORIO_ERR_INVAL);
    assert_int_equal(corio_eat_auth_result_encode(CORIO_EAT_AUTH_ADMITTED, out, 2),
                     CORIO_ERR_NOSPACE);
}

static void claim_requests_and_the_claim_nonce(void **state)
{
    (void)state;
    struct corio_claim_request r;
    for (size_t i = 0; i < sizeof r.claimant; i++)
        r.claimant[i] = (uint8_t)i;
    for (size_t i = 0; i < sizeof r.nonce; i++)
        r.nonce[i] = (uint8_t)(0xa0 + i);
    uint8_t out[64];
    int n = corio_claim_request_encode(&r, out, sizeof out);
    assert_int_equal(n, 52);
    assert_int_equal(out[0], 0x83);
    assert_int_equal(out[1], 0x01);
    assert_int_equal(out[2], 0x4f);
    assert_int_equal(out[18], 0x58);
    assert_int_equal(out[19], 0x20);
    struct corio_claim_request back;
    assert_int_equal(corio_claim_request_decode(out, (size_t)n, &back), CORIO_OK);
    assert_memory_equal(&back, &r, sizeof r);
    out[2] = 0x4e; /* a 14-byte claimant */
    assert_int_equal(corio_claim_request_decode(out, (size_t)n, &back), CORIO_ERR_MALFORMED);
    out[2] = 0x4f;
    out[1] = 0x02;
    assert_int_equal(corio_claim_request_decode(out, (size_t)n, &back), CORIO_ERR_VERSION);
    out[1] = 0x01;
    assert_int_equal(corio_claim_request_decode(out, (size_t)n - 1, &back), CORIO_ERR_MALFORMED);

    /* The nonce is SHA-256(secret text ‖ claimant id), as `corio device claim-nonce`. */
    uint8_t nonce[32], want[32], msg[64];
    memcpy(msg, "printed-secret", 14);
    memcpy(msg + 14, r.claimant, 15);
    assert_int_equal(corio_sha256(&corio_crypto_openssl_ops, msg, 29, want), CORIO_OK);
    assert_int_equal(
        corio_claim_nonce(&corio_crypto_openssl_ops, "printed-secret", 14, r.claimant, nonce),
        CORIO_OK);
    assert_memory_equal(nonce, want, 32);
    assert_int_equal(corio_claim_nonce(&corio_crypto_openssl_ops, "x", 0, r.claimant, nonce),
                     CORIO_ERR_INVAL);
    char longs[CORIO_CLAIM_SECRET_MAX + 1];
    memset(longs, 'a', sizeof longs);
    assert_int_equal(
        corio_claim_nonce(&corio_crypto_openssl_ops, longs, sizeof longs, r.claimant, nonce),
        CORIO_ERR_INVAL);
}

static void quarantine_topics(void **state)
{
    (void)state;
    char t[CORIO_QUARANTINE_TOPIC_MAX];
    const char *id = "abcdefghijklmnopqrstuvwx";
    assert_int_equal(corio_quarantine_topic(id, CORIO_QUARANTINE_CLAIM_DN, t, sizeof t), 44);
    assert_string_equal(t, "corio/v1/q/abcdefghijklmnopqrstuvwx/dn/claim");
    assert_int_equal(corio_quarantine_topic(id, "up/#", t, sizeof t), CORIO_ERR_INVAL);
    assert_int_equal(corio_quarantine_topic(id, "x/claim", t, sizeof t), CORIO_ERR_INVAL);
    assert_int_equal(corio_quarantine_topic("ABCDEFGHIJKLMNOPQRSTUVWX", "up/a", t, sizeof t),
                     CORIO_ERR_INVAL);
    assert_int_equal(corio_quarantine_topic(id, "up/claim", t, 44), CORIO_ERR_NOSPACE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(an_answer_is_three_items_and_round_trips),
        cmocka_unit_test(the_longest_answer_is_accepted_and_one_byte_more_is_not),
        cmocka_unit_test(malformed_answers_are_refused),
        cmocka_unit_test(results),
        cmocka_unit_test(claim_requests_and_the_claim_nonce),
        cmocka_unit_test(quarantine_topics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
