/*
 * fuzz_coap_decode.c - the CoAP message decoder (coap_codec.h) on arbitrary datagrams.
 *
 * Beyond "no crash": an accepted message's views lie inside the input, its options
 * iterate to the end in non-decreasing order, the option helpers accept whatever the
 * iterator gives them, and the message re-encodes through the writer to exactly the
 * same bytes (every number and length has one encoding, so decode is a bijection).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "corio/coap_codec.h"

static void check_inside(const uint8_t *base, size_t size, const uint8_t *p, size_t len)
{
    if (len && (!p || p < base || p + len > base + size))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct corio_coap_msg m;
    int rc = corio_coap_decode(data, size, &m);
    if (rc != CORIO_OK) {
        if (rc != CORIO_ERR_MALFORMED && rc != CORIO_ERR_VERSION)
            abort();
        return 0;
    }
    if (m.token_len > CORIO_COAP_MAX_TOKEN || m.type > CORIO_COAP_RST)
        abort();
    check_inside(data, size, m.options, m.options_len);
    check_inside(data, size, m.payload, m.payload_len);
    if (m.payload && m.payload_len == 0)
        abort();

    uint8_t *out = malloc(size ? size : 1);
    if (!out)
        return 0;
    struct corio_coap_writer w;
    corio_coap_write_begin(&w, out, size, m.type, m.code, m.mid, m.token, m.token_len);
    struct corio_coap_opt_iter it;
    struct corio_coap_option o;
    uint16_t last = 0;
    corio_coap_opt_iter_init(&it, &m);
    while ((rc = corio_coap_opt_next(&it, &o)) == CORIO_OK) {
        check_inside(data, size, o.value, o.len);
        if (o.number < last)
            abort();
        last = o.number;
        uint32_t v;
        struct corio_coap_block b;
        if ((corio_coap_opt_uint(&o, &v) == CORIO_OK) != (o.len <= 4))
            abort();
        if (corio_coap_block_get(&o, &b) == CORIO_OK &&
            (b.num > CORIO_COAP_BLOCK_MAX_NUM || b.szx > CORIO_COAP_BLOCK_MAX_SZX))
            abort();
        struct corio_coap_option f;
        if (corio_coap_opt_find(&m, o.number, &f) != CORIO_OK || f.number != o.number)
            abort();
        corio_coap_write_option(&w, o.number, o.value, o.len);
    }
    if (rc != CORIO_ERR_NOTFOUND)
        abort();
    uint16_t bad = 0;
    rc = corio_coap_options_check(&m, &bad);
    if (rc != CORIO_OK && (rc != CORIO_ERR_UNSUPPORTED || !(bad & 1u)))
        abort();
    corio_coap_write_payload(&w, m.payload, m.payload_len);
    if (corio_coap_write_end(&w) != (int)size || memcmp(out, data, size) != 0)
        abort();
    free(out);
    return 0;
}
