/*
 * test_coap_codec.c - the CoAP codec (coap_codec.h): byte-exact messages from RFC 7252
 * appendix A and hand-built ones with every extended option form, the writer's rules,
 * option checks per RFC 7252 §5.4, block option values from RFC 7959, and one test per
 * refusal path of the decoder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "corio/coap_codec.h"

/* Decodes and re-encodes msg from its parts; the bytes must come back the same. */
static void roundtrip(const uint8_t *bytes, size_t len)
{
    struct corio_coap_msg m;
    assert_int_equal(corio_coap_decode(bytes, len, &m), CORIO_OK);
    uint8_t out[2048];
    struct corio_coap_writer w;
    corio_coap_write_begin(&w, out, sizeof out, m.type, m.code, m.mid, m.token, m.token_len);
    struct corio_coap_opt_iter it;
    struct corio_coap_option o;
    corio_coap_opt_iter_init(&it, &m);
    int rc;
    while ((rc = corio_coap_opt_next(&it, &o)) == CORIO_OK)
        corio_coap_write_option(&w, o.number, o.value, o.len);
    assert_int_equal(rc, CORIO_ERR_NOTFOUND);
    corio_coap_write_payload(&w, m.payload, m.payload_len);
    assert_int_equal(corio_coap_write_end(&w), (int)len);
    assert_memory_equal(out, bytes, len);
}

/* RFC 7252 figure 16 and appendix A: "GET /temperature" and "2.05 Content 22.3 C". */
static void rfc7252_get_temperature(void **state)
{
    (void)state;
    static const uint8_t req[] = {0x40, 0x01, 0x7d, 0x34, 0xbb, 't', 'e', 'm',
                                  'p',  'e',  'r',  'a',  't',  'u', 'r', 'e'};
    static const uint8_t resp[] = {0x60, 0x45, 0x7d, 0x34, 0xff, '2', '2', '.', '3', ' ', 'C'};
    struct corio_coap_msg m;
    struct corio_coap_option o;
    assert_int_equal(corio_coap_decode(req, sizeof req, &m), CORIO_OK);
    assert_int_equal(m.type, CORIO_COAP_CON);
    assert_int_equal(m.code, CORIO_COAP_GET);
    assert_int_equal(m.mid, 0x7d34);
    assert_int_equal(m.token_len, 0);
    assert_null(m.payload);
    assert_int_equal(corio_coap_opt_find(&m, CORIO_COAP_OPT_URI_PATH, &o), CORIO_OK);
    assert_int_equal(o.len, 11);
    assert_memory_equal(o.value, "temperature", 11);
    assert_int_equal(corio_coap_options_check(&m, NULL), CORIO_OK);
    roundtrip(req, sizeof req);

    assert_int_equal(corio_coap_decode(resp, sizeof resp, &m), CORIO_OK);
    assert_int_equal(m.type, CORIO_COAP_ACK);
    assert_int_equal(m.code, CORIO_COAP_CONTENT);
    assert_int_equal(m.mid, 0x7d34);
    assert_int_equal(m.options_len, 0);
    assert_int_equal(m.payload_len, 6);
    assert_memory_equal(m.payload, "22.3 C", 6);
    roundtrip(resp, sizeof resp);

    /* The writer produces the request from its parts. */
    uint8_t out[64];
    struct corio_coap_writer w;
    corio_coap_write_begin(&w, out, sizeof out, CORIO_COAP_CON, CORIO_COAP_GET, 0x7d34, NULL, 0);
    corio_coap_write_path(&w, CORIO_COAP_OPT_URI_PATH, "/temperature", 12);
    assert_int_equal(corio_coap_write_end(&w), (int)sizeof req);
    assert_memory_equal(out, req, sizeof req);
}

/* RFC 7252 appendix A, the exchange with token 0x71. */
static void rfc7252_token_example(void **state)
{
    (void)state;
    static const uint8_t req[] = {0x41, 0x01, 0xbc, 0x90, 0x71, 0xbb, 't', 'e', 'm',
                                  'p',  'e',  'r',  'a',  't',  'u',  'r', 'e'};
    static const uint8_t resp[] = {0x61, 0x45, 0xbc, 0x90, 0x71, 0xff,
                                   '2',  '2',  '.',  '5',  ' ',  'C'};
    struct corio_coap_msg m;
    assert_int_equal(corio_coap_decode(req, sizeof req, &m), CORIO_OK);
    assert_int_equal(m.token_len, 1);
    assert_int_equal(m.token[0], 0x71);
    roundtrip(req, sizeof req);
    assert_int_equal(corio_coap_decode(resp, sizeof resp, &m), CORIO_OK);
    assert_int_equal(m.token[0], 0x71);
    assert_int_equal(m.payload_len, 6);
    roundtrip(resp, sizeof resp);

    /* An Empty ACK and a Reset: four bytes each. */
    static const uint8_t ack[] = {0x60, 0x00, 0xbc, 0x90};
    static const uint8_t rst[] = {0x70, 0x00, 0xbc, 0x90};
    assert_int_equal(corio_coap_decode(ack, sizeof ack, &m), CORIO_OK);
    assert_int_equal(m.type, CORIO_COAP_ACK);
    assert_int_equal(m.code, CORIO_COAP_EMPTY);
    assert_int_equal(corio_coap_decode(rst, sizeof rst, &m), CORIO_OK);
    assert_int_equal(m.type, CORIO_COAP_RST);
    roundtrip(ack, sizeof ack);
}

/* Every extended form of delta and length (RFC 7252 §3.1). */
static void extended_option_forms(void **state)
{
    (void)state;
    uint8_t v20[20], v300[300];
    memset(v20, 'a', sizeof v20);
    memset(v300, 'b', sizeof v300);
    uint8_t out[1024];
    struct corio_coap_writer w;
    static const uint8_t tok[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    corio_coap_write_begin(&w, out, sizeof out, CORIO_COAP_NON, CORIO_COAP_POST, 0xFFFF, tok, 8);
    corio_coap_write_option(&w, 12, NULL, 0);    /* delta 12: nibble, empty */
    corio_coap_write_option(&w, 25, v20, 13);    /* delta 13: first 1-byte form, len 13 */
    corio_coap_write_option(&w, 25, v20, 12);    /* delta 0, len 12 */
    corio_coap_write_option(&w, 293, v20, 20);   /* delta 268: last 1-byte form */
    corio_coap_write_option(&w, 562, v300, 268); /* delta 269: first 2-byte form, len 268 */
    corio_coap_write_option(&w, 562, v300, 269); /* len 269: first 2-byte length */
    corio_coap_write_option(&w, 65535, NULL, 0); /* the largest number */
    corio_coap_write_payload(&w, "x", 1);
    int n = corio_coap_write_end(&w);
    assert_true(n > 0);
    /* Header, token, then the first option bytes as the RFC describes them. */
    assert_int_equal(out[0], 0x58);
    assert_int_equal(out[12], 0xC0);
    assert_int_equal(out[13], 0xDD); /* delta 13, length 13 */
    assert_int_equal(out[14], 0);    /* 13 + 0 */
    assert_int_equal(out[15], 0);    /* 13 + 0 */
    size_t p = 16 + 13;
    assert_int_equal(out[p], 0x0C);
    p += 1 + 12;
    assert_int_equal(out[p], 0xDD);
    assert_int_equal(out[p + 1], 255); /* 13 + 255 = 268 */
    assert_int_equal(out[p + 2], 7);   /* 13 + 7 = 20 */
    p += 3 + 20;
    assert_int_equal(out[p], 0xED); /* delta 269: 14; length 268: 13 */
    assert_int_equal(out[p + 1], 0);
    assert_int_equal(out[p + 2], 0);
    assert_int_equal(out[p + 3], 255);
    p += 4 + 268;
    assert_int_equal(out[p], 0x0E);
    assert_int_equal(out[p + 1], 0);
    assert_int_equal(out[p + 2], 0);
    p += 3 + 269;
    assert_int_equal(out[p], 0xE0); /* 65535 - 562 = 64973 = 269 + 64704 */
    assert_int_equal(out[p + 1], 64704 >> 8);
    assert_int_equal(out[p + 2], 64704 & 0xFF);
    assert_int_equal(out[p + 3], 0xFF);
    assert_int_equal(out[p + 4], 'x');
    assert_int_equal(n, (int)p + 5);

    struct corio_coap_msg m;
    assert_int_equal(corio_coap_decode(out, (size_t)n, &m), CORIO_OK);
    assert_int_equal(m.mid, 0xFFFF);
    assert_int_equal(corio_coap_opt_count(&m, 25), 2);
    assert_int_equal(corio_coap_opt_count(&m, 562), 2);
    assert_int_equal(corio_coap_opt_count(&m, 99), 0);
    struct corio_coap_option o;
    assert_int_equal(corio_coap_opt_find(&m, 65535, &o), CORIO_OK);
    assert_int_equal(o.len, 0);
    assert_int_equal(corio_coap_opt_find(&m, 293, &o), CORIO_OK);
    assert_int_equal(o.len, 20);
    roundtrip(out, (size_t)n);

    /* Counting mode gives the same length. */
    corio_coap_write_begin(&w, NULL, 0, CORIO_COAP_NON, CORIO_COAP_POST, 0xFFFF, tok, 8);
    corio_coap_write_option(&w, 12, NULL, 0);
    corio_coap_write_option(&w, 25, v20, 13);
    corio_coap_write_option(&w, 25, v20, 12);
    corio_coap_write_option(&w, 293, v20, 20);
    corio_coap_write_option(&w, 562, v300, 268);
    corio_coap_write_option(&w, 562, v300, 269);
    corio_coap_write_option(&w, 65535, NULL, 0);
    corio_coap_write_payload(&w, "x", 1);
    assert_int_equal(corio_coap_write_end(&w), n);
}

static void uint_values_are_minimal(void **state)
{
    (void)state;
    static const struct {
        uint32_t v;
        uint8_t len;
    } cases[] = {{0, 0},     {1, 1},        {255, 1},       {256, 2},       {65535, 2},
                 {65536, 3}, {0xFFFFFF, 3}, {0x1000000, 4}, {0xFFFFFFFF, 4}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t out[16];
        struct corio_coap_writer w;
        corio_coap_write_begin(&w, out, sizeof out, CORIO_COAP_CON, CORIO_COAP_GET, 1, NULL, 0);
        corio_coap_write_uint(&w, CORIO_COAP_OPT_CONTENT_FORMAT, cases[i].v);
        int n = corio_coap_write_end(&w);
        assert_int_equal(n, 4 + 1 + cases[i].len);
        assert_int_equal(out[4], (12 << 4) | cases[i].len);
        struct corio_coap_msg m;
        struct corio_coap_option o;
        uint32_t v = 1234;
        assert_int_equal(corio_coap_decode(out, (size_t)n, &m), CORIO_OK);
        assert_int_equal(corio_coap_opt_find(&m, CORIO_COAP_OPT_CONTENT_FORMAT, &o), CORIO_OK);
        assert_int_equal(corio_coap_opt_uint(&o, &v), CORIO_OK);
        assert_int_equal(v, cases[i].v);
    }
    /* Five bytes are no unsigned integer. */
    static const uint8_t five[5] = {1, 2, 3, 4, 5};
    struct corio_coap_option o = {CORIO_COAP_OPT_MAX_AGE, 5, five};
    uint32_t v;
    assert_int_equal(corio_coap_opt_uint(&o, &v), CORIO_ERR_MALFORMED);
}

/* RFC 7959 §2.2 and the figures' notation "num/more/size". */
static void block_values(void **state)
{
    (void)state;
    struct corio_coap_block b = {0, true, 3}; /* 0/1/128 */
    assert_int_equal(corio_coap_block_value(&b), 0x0B);
    b = (struct corio_coap_block){2, false, 3}; /* 2/0/128 */
    assert_int_equal(corio_coap_block_value(&b), 0x23);
    b = (struct corio_coap_block){CORIO_COAP_BLOCK_MAX_NUM, true, 6};
    assert_int_equal(corio_coap_block_value(&b), 0xFFFFFE);

    uint8_t v[3] = {0x01, 0x23, 0x4D}; /* num 0x1234, more, szx 5 */
    struct corio_coap_option o = {CORIO_COAP_OPT_BLOCK2, 3, v};
    assert_int_equal(corio_coap_block_get(&o, &b), CORIO_OK);
    assert_int_equal(b.num, 0x1234);
    assert_true(b.more);
    assert_int_equal(b.szx, 5);
    assert_int_equal(CORIO_COAP_BLOCK_SIZE(b.szx), 512);
    o.len = 0; /* empty: 0/0/16 */
    assert_int_equal(corio_coap_block_get(&o, &b), CORIO_OK);
    assert_int_equal(b.num, 0);
    assert_false(b.more);
    assert_int_equal(b.szx, 0);

    uint8_t bad[1] = {0x07}; /* SZX 7 is reserved */
    o = (struct corio_coap_option){CORIO_COAP_OPT_BLOCK1, 1, bad};
    assert_int_equal(corio_coap_block_get(&o, &b), CORIO_ERR_MALFORMED);
    uint8_t four[4] = {0, 0, 0, 0x16};
    o = (struct corio_coap_option){CORIO_COAP_OPT_BLOCK1, 4, four};
    assert_int_equal(corio_coap_block_get(&o, &b), CORIO_ERR_MALFORMED);
}

static void paths_and_queries(void **state)
{
    (void)state;
    static const struct {
        const char *path;
        int segments;
        const char *seg[5];
    } cases[] = {
        {"", 0, {NULL}},
        {"/", 0, {NULL}},
        {"d/abc/up/cbor", 4, {"d", "abc", "up", "cbor"}},
        {"/d/abc/dn/cmd", 4, {"d", "abc", "dn", "cmd"}},
        {"a//b", 3, {"a", "", "b"}},
        {"a/", 2, {"a", ""}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t out[128];
        struct corio_coap_writer w;
        corio_coap_write_begin(&w, out, sizeof out, CORIO_COAP_CON, CORIO_COAP_GET, 1, NULL, 0);
        corio_coap_write_path(&w, CORIO_COAP_OPT_URI_PATH, cases[i].path, strlen(cases[i].path));
        corio_coap_write_query(&w, "a=1&b", 5);
        int n = corio_coap_write_end(&w);
        assert_true(n > 0);
        struct corio_coap_msg m;
        assert_int_equal(corio_coap_decode(out, (size_t)n, &m), CORIO_OK);
        assert_int_equal(corio_coap_opt_count(&m, CORIO_COAP_OPT_URI_PATH),
                         (size_t)cases[i].segments);
        assert_int_equal(corio_coap_opt_count(&m, CORIO_COAP_OPT_URI_QUERY), 2);
        struct corio_coap_opt_iter it;
        struct corio_coap_option o;
        corio_coap_opt_iter_init(&it, &m);
        for (int s = 0; s < cases[i].segments; s++) {
            assert_int_equal(corio_coap_opt_next(&it, &o), CORIO_OK);
            assert_int_equal(o.number, CORIO_COAP_OPT_URI_PATH);
            assert_int_equal(o.len, strlen(cases[i].seg[s]));
            assert_memory_equal(o.value, cases[i].seg[s], o.len);
        }
        assert_int_equal(corio_coap_opt_next(&it, &o), CORIO_OK);
        assert_int_equal(o.number, CORIO_COAP_OPT_URI_QUERY);
        assert_memory_equal(o.value, "a=1", 3);
    }
    /* A segment longer than 255 bytes cannot be an option. */
    char longseg[300];
    memset(longseg, 'x', sizeof longseg);
    uint8_t out[512];
    struct corio_coap_writer w;
    corio_coap_write_begin(&w, out, sizeof out, CORIO_COAP_CON, CORIO_COAP_GET, 1, NULL, 0);
    corio_coap_write_path(&w, CORIO_COAP_OPT_URI_PATH, longseg, 256);
    assert_int_equal(corio_coap_write_end(&w), CORIO_ERR_INVAL);
    corio_coap_write_begin(&w, out, sizeof out, CORIO_COAP_CON, CORIO_COAP_GET, 1, NULL, 0);
    corio_coap_write_path(&w, CORIO_COAP_OPT_URI_PATH, longseg, 255);
    assert_int_equal(corio_coap_write_end(&w), 4 + 2 + 255);
}

static void writer_refusals(void **state)
{
    (void)state;
    uint8_t out[32];
    static const uint8_t tok[9] = {0};
    struct corio_coap_writer w;
    corio_coap_write_begin(&w, out, sizeof out, 4, CORIO_COAP_GET, 1, NULL, 0);
    assert_int_equal(corio_coap_write_end(&w), CORIO_ERR_INVAL); /* type */
    corio_coap_write_begin(&w, out, sizeof out, CORIO_COAP_CON, CORIO_COAP_GET, 1, tok, 9);
    assert_int_equal(corio_coap_write_end(&w), CORIO_ERR_INVAL); /* token length */
    corio_coap_write_begin(&w, out, sizeof out, CORIO_COAP_CON, CORIO_COAP_GET, 1, NULL, 2);
    assert_int_equal(corio_coap_write_end(&w), CORIO_ERR_INVAL); /* token missing */
    corio_coap_write_begin(&w, NULL, 5, CORIO_COAP_CON, CORIO_COAP_GET, 1, NULL, 0);
    assert_int_equal(corio_coap_write_end(&w), CORIO_ERR_INVAL); /* a capacity without buffer */

    /* Options out of order, and options after the payload. */
    corio_coap_write_begin(&w, out, sizeof out, CORIO_COAP_CON, CORIO_COAP_GET, 1, NULL, 0);
    corio_coap_write_option(&w, 11, "a", 1);
    corio_coap_write_option(&w, 6, NULL, 0);
    assert_int_equal(corio_coap_write_end(&w), CORIO_ERR_INVAL);
    corio_coap_write_begin(&w, out, sizeof out, CORIO_COAP_CON, CORIO_COAP_GET, 1, NULL, 0);
    corio_coap_write_payload(&w, "p", 1);
    corio_coap_write_option(&w, 11, "a", 1);
    assert_int_equal(corio_coap_write_end(&w), CORIO_ERR_INVAL);
    corio_coap_write_begin(&w, out, sizeof out, CORIO_COAP_CON, CORIO_COAP_GET, 1, NULL, 0);
    corio_coap_write_payload(&w, "p", 1);
    corio_coap_write_payload(&w, "q", 1);
    assert_int_equal(corio_coap_write_end(&w), CORIO_ERR_INVAL);
    corio_coap_write_begin(&w, out, sizeof out, CORIO_COAP_CON, CORIO_COAP_GET, 1, NULL, 0);
    corio_coap_write_option(&w, 11, NULL, 3);
    assert_int_equal(corio_coap_write_end(&w), CORIO_ERR_INVAL);

    /* No room: the error sticks and nothing is written past the capacity. */
    corio_coap_write_begin(&w, out, 3, CORIO_COAP_CON, CORIO_COAP_GET, 1, NULL, 0);
    assert_int_equal(corio_coap_write_end(&w), CORIO_ERR_NOSPACE);
    corio_coap_write_begin(&w, out, 8, CORIO_COAP_CON, CORIO_COAP_GET, 1, NULL, 0);
    corio_coap_write_option(&w, 11, "abc", 3);
    corio_coap_write_payload(&w, "p", 1);
    assert_int_equal(corio_coap_write_end(&w), CORIO_ERR_NOSPACE);
    corio_coap_write_begin(&w, out, 9, CORIO_COAP_CON, CORIO_COAP_GET, 1, NULL, 0);
    corio_coap_write_option(&w, 11, "abc", 3);
    corio_coap_write_payload(&w, "p", 1);
    assert_int_equal(corio_coap_write_end(&w), CORIO_ERR_NOSPACE);
    corio_coap_write_begin(&w, out, 10, CORIO_COAP_CON, CORIO_COAP_GET, 1, NULL, 0);
    corio_coap_write_option(&w, 11, "abc", 3);
    corio_coap_write_payload(&w, "p", 1);
    assert_int_equal(corio_coap_write_end(&w), 10);
}

/* RFC 7252 §5.4: unrecognised critical options make a message unusable; elective ones
 * are ignored; a repeated non-repeatable option and a length out of range count as
 * unrecognised. */
static void option_checks(void **state)
{
    (void)state;
    static const struct {
        uint16_t number[3];
        uint16_t len[3];
        int n;
        int rc;
        uint16_t bad;
    } cases[] = {
        {{11, 11, 12}, {1, 0, 1}, 3, CORIO_OK, 0},
        {{9}, {0}, 1, CORIO_ERR_UNSUPPORTED, 9},             /* unassigned critical */
        {{2}, {0}, 1, CORIO_OK, 0},                          /* unassigned elective */
        {{23, 23}, {1, 1}, 2, CORIO_ERR_UNSUPPORTED, 23},    /* Block2 twice */
        {{12, 12}, {1, 1}, 2, CORIO_OK, 0},                  /* Content-Format twice */
        {{3}, {0}, 1, CORIO_ERR_UNSUPPORTED, 3},             /* Uri-Host empty */
        {{27}, {4}, 1, CORIO_ERR_UNSUPPORTED, 27},           /* Block1 of 4 bytes */
        {{4}, {9}, 1, CORIO_OK, 0},                          /* ETag of 9 bytes */
        {{4}, {0}, 1, CORIO_OK, 0},                          /* empty ETag */
        {{6}, {4}, 1, CORIO_OK, 0},                          /* Observe of 4 bytes */
        {{5}, {1}, 1, CORIO_ERR_UNSUPPORTED, 5},             /* If-None-Match with value */
        {{17}, {3}, 1, CORIO_ERR_UNSUPPORTED, 17},           /* Accept of 3 bytes */
        {{60, 60}, {1, 1}, 2, CORIO_OK, 0},                  /* Size1 twice */
        {{1, 1, 4}, {2, 2, 1}, 3, CORIO_OK, 0},              /* If-Match repeats */
        {{258, 259}, {0, 0}, 2, CORIO_ERR_UNSUPPORTED, 259}, /* unknown, large */
        {{35}, {0}, 1, CORIO_ERR_UNSUPPORTED, 35},           /* Proxy-Uri empty */
    };
    static const uint8_t value[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t out[128];
        struct corio_coap_writer w;
        corio_coap_write_begin(&w, out, sizeof out, CORIO_COAP_ACK, CORIO_COAP_CONTENT, 1, NULL, 0);
        for (int k = 0; k < cases[i].n; k++)
            corio_coap_write_option(&w, cases[i].number[k], value, cases[i].len[k]);
        int n = corio_coap_write_end(&w);
        assert_true(n > 0);
        struct corio_coap_msg m;
        assert_int_equal(corio_coap_decode(out, (size_t)n, &m), CORIO_OK);
        uint16_t bad = 0;
        assert_int_equal(corio_coap_options_check(&m, &bad), cases[i].rc);
        assert_int_equal(bad, cases[i].bad);
    }
}

/* One datagram per refusal path of corio_coap_decode(). */
static void decoder_refusals(void **state)
{
    (void)state;
    static const struct {
        const char *what;
        uint8_t bytes[16];
        size_t len;
        int rc;
    } cases[] = {
        {"empty", {0}, 0, CORIO_ERR_MALFORMED},
        {"one byte", {0x40}, 1, CORIO_ERR_MALFORMED},
        {"three bytes", {0x40, 0x01, 0x00}, 3, CORIO_ERR_MALFORMED},
        {"version 0", {0x00, 0x01, 0, 1}, 4, CORIO_ERR_VERSION},
        {"version 2", {0x80, 0x01, 0, 1}, 4, CORIO_ERR_VERSION},
        {"version 3", {0xC0, 0x01, 0, 1}, 4, CORIO_ERR_VERSION},
        {"token length 9", {0x49, 0x01, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 13, CORIO_ERR_MALFORMED},
        {"token length 15", {0x4F, 0x01, 0, 1}, 4, CORIO_ERR_MALFORMED},
        {"token cut short", {0x44, 0x01, 0, 1, 1, 2}, 6, CORIO_ERR_MALFORMED},
        {"empty with token", {0x61, 0x00, 0, 1, 7}, 5, CORIO_ERR_MALFORMED},
        {"empty with option", {0x60, 0x00, 0, 1, 0xB0}, 5, CORIO_ERR_MALFORMED},
        {"empty with payload", {0x60, 0x00, 0, 1, 0xFF, 1}, 6, CORIO_ERR_MALFORMED},
        {"delta 15", {0x40, 0x01, 0, 1, 0xF0}, 5, CORIO_ERR_MALFORMED},
        {"length 15", {0x40, 0x01, 0, 1, 0x1F}, 5, CORIO_ERR_MALFORMED},
        {"delta 13 without its byte", {0x40, 0x01, 0, 1, 0xD0}, 5, CORIO_ERR_MALFORMED},
        {"delta 14 without its bytes", {0x40, 0x01, 0, 1, 0xE0, 0x00}, 6, CORIO_ERR_MALFORMED},
        {"length 13 without its byte", {0x40, 0x01, 0, 1, 0xBD}, 5, CORIO_ERR_MALFORMED},
        {"length 14 without its bytes", {0x40, 0x01, 0, 1, 0xBE, 0x01}, 6, CORIO_ERR_MALFORMED},
        {"value past the end", {0x40, 0x01, 0, 1, 0xB3, 'a', 'b'}, 7, CORIO_ERR_MALFORMED},
        {"long value past the end", {0x40, 0x01, 0, 1, 0xBD, 0x00, 'a'}, 7, CORIO_ERR_MALFORMED},
        {"number above 65535",
         {0x40, 0x01, 0, 1, 0xE0, 0xFF, 0xFF, 0xE0, 0x00, 0x00},
         10,
         CORIO_ERR_MALFORMED},
        {"marker without payload", {0x40, 0x01, 0, 1, 0xFF}, 5, CORIO_ERR_MALFORMED},
        {"marker after option without payload",
         {0x40, 0x45, 0, 1, 0x60, 0xFF},
         6,
         CORIO_ERR_MALFORMED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct corio_coap_msg m;
        int rc = corio_coap_decode(cases[i].bytes, cases[i].len, &m);
        if (rc != cases[i].rc)
            fail_msg("%s: %d, expected %d", cases[i].what, rc, cases[i].rc);
        /* Type and id are still known for a reject, when there is a header. */
        if (cases[i].len >= 4 && rc == CORIO_ERR_MALFORMED)
            assert_int_equal(m.mid, (uint16_t)(cases[i].bytes[2] << 8 | cases[i].bytes[3]));
    }
    /* The largest number itself is fine: 269 + 65266 = 65535. */
    static const uint8_t max[] = {0x40, 0x01, 0, 1, 0xE0, 0xFE, 0xF2};
    struct corio_coap_msg m;
    assert_int_equal(corio_coap_decode(max, sizeof max, &m), CORIO_OK);
    assert_int_equal(corio_coap_opt_count(&m, 65535), 1);
    assert_int_equal(corio_coap_decode(NULL, 4, &m), CORIO_ERR_INVAL);
    assert_int_equal(corio_coap_decode(max, sizeof max, NULL), CORIO_ERR_INVAL);
}

/* An iterator over an options block the decoder never saw stops at the first fault. */
static void iterator_is_safe_on_unchecked_blocks(void **state)
{
    (void)state;
    static const uint8_t block[] = {0xB1, 'a', 0xF0, 0x11};
    struct corio_coap_msg m;
    memset(&m, 0, sizeof m);
    m.options = block;
    m.options_len = sizeof block;
    struct corio_coap_opt_iter it;
    struct corio_coap_option o;
    corio_coap_opt_iter_init(&it, &m);
    assert_int_equal(corio_coap_opt_next(&it, &o), CORIO_OK);
    assert_int_equal(o.number, 11);
    assert_int_equal(corio_coap_opt_next(&it, &o), CORIO_ERR_MALFORMED);
    assert_int_equal(corio_coap_opt_next(&it, &o), CORIO_ERR_NOTFOUND);
    assert_int_equal(corio_coap_options_check(&m, NULL), CORIO_ERR_MALFORMED);
}

/* RFC 7641 figure 3 style notification: Observe with a 3-byte value, Max-Age and a
 * Content-Format, as a CON separate response. */
static void observe_notification(void **state)
{
    (void)state;
    uint8_t out[64];
    struct corio_coap_writer w;
    static const uint8_t tok[2] = {0x4a, 0x01};
    corio_coap_write_begin(&w, out, sizeof out, CORIO_COAP_CON, CORIO_COAP_CONTENT, 0x1234, tok, 2);
    corio_coap_write_uint(&w, CORIO_COAP_OPT_OBSERVE, 0x00ABCDEF);
    corio_coap_write_uint(&w, CORIO_COAP_OPT_CONTENT_FORMAT, CORIO_COAP_FORMAT_CBOR);
    corio_coap_write_uint(&w, CORIO_COAP_OPT_MAX_AGE, 15);
    corio_coap_write_payload(&w, "\xa1\x01\x02", 3);
    int n = corio_coap_write_end(&w);
    static const uint8_t expect[] = {0x42, 0x45, 0x12, 0x34, 0x4a, 0x01, 0x63, 0xAB, 0xCD,
                                     0xEF, 0x61, 60,   0x21, 15,   0xFF, 0xa1, 0x01, 0x02};
    assert_int_equal(n, (int)sizeof expect);
    assert_memory_equal(out, expect, sizeof expect);
    roundtrip(expect, sizeof expect);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc7252_get_temperature),
        cmocka_unit_test(rfc7252_token_example),
        cmocka_unit_test(extended_option_forms),
        cmocka_unit_test(uint_values_are_minimal),
        cmocka_unit_test(block_values),
        cmocka_unit_test(paths_and_queries),
        cmocka_unit_test(writer_refusals),
        cmocka_unit_test(option_checks),
        cmocka_unit_test(decoder_refusals),
        cmocka_unit_test(iterator_is_safe_on_unchecked_blocks),
        cmocka_unit_test(observe_notification),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
