/*
 * fuzz_cbor.c - libFuzzer target for the CBOR codec (include/corio/cbor.h).
 *
 * Drives the real entry points over hostile input and aborts when they disagree:
 * the well-formed check, a pull walk that touches every string byte, the typed
 * getters (which must not move the cursor when they fail), skip, the deterministic
 * check, the in-place map sort, and a decode-then-encode round trip. Input that
 * passes the deterministic check must come back byte for byte; any well-formed input
 * must re-encode into something that passes it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "corio/cbor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)       \
    do {               \
        if (!(c))      \
            abort();   \
    } while (0)

/* Re-encodes the next item of d in deterministic form (see test_cbor.c). */
static int canon(struct corio_cbor_dec *d, struct corio_cbor_enc *e)
{
    struct corio_cbor_item it;
    int rc = corio_cbor_next(d, &it);
    if (rc != CORIO_OK)
        return rc;
    switch (it.type) {
    case CORIO_CBOR_UINT:
        return corio_cbor_put_uint(e, it.u);
    case CORIO_CBOR_NEGINT:
        return corio_cbor_put_negint(e, it.u);
    case CORIO_CBOR_BYTES:
    case CORIO_CBOR_TEXT: {
        if (!it.indefinite)
            return it.type == CORIO_CBOR_BYTES
                       ? corio_cbor_put_bytes(e, it.ptr, it.len)
                       : corio_cbor_put_text(e, (const char *)it.ptr, it.len);
        struct corio_cbor_dec t = *d;
        struct corio_cbor_item c;
        size_t total = 0, at = 0;
        while ((rc = corio_cbor_next(&t, &c)) == CORIO_OK && c.type != CORIO_CBOR_BREAK)
            total += c.len;
        if (rc != CORIO_OK)
            return rc;
        uint8_t *join = malloc(total ? total : 1);
        CHECK(join);
        while ((rc = corio_cbor_next(d, &c)) == CORIO_OK && c.type != CORIO_CBOR_BREAK) {
            memcpy(join + at, c.ptr, c.len);
            at += c.len;
        }
        CHECK(rc != CORIO_OK || at == total);
        if (rc == CORIO_OK)
            rc = it.type == CORIO_CBOR_BYTES ? corio_cbor_put_bytes(e, join, total)
                                             : corio_cbor_put_text(e, (const char *)join, total);
        free(join);
        return rc;
    }
    case CORIO_CBOR_ARRAY:
    case CORIO_CBOR_MAP: {
        uint64_t n = it.u, items;
        if (it.indefinite) {
            struct corio_cbor_dec t = *d;
            for (n = 0; !corio_cbor_at_break(&t); n++)
                if ((rc = corio_cbor_skip(&t)) != CORIO_OK)
                    return rc;
            if (it.type == CORIO_CBOR_MAP)
                n /= 2;
        }
        size_t start = corio_cbor_enc_len(e);
        if (it.type == CORIO_CBOR_ARRAY) {
            corio_cbor_put_array(e, n);
            items = n;
        } else {
            corio_cbor_put_map(e, n);
            items = 2 * n;
        }
        for (uint64_t i = 0; i < items; i++)
            if ((rc = canon(d, e)) != CORIO_OK)
                return rc;
        if (it.indefinite && (rc = corio_cbor_expect_break(d)) != CORIO_OK)
            return rc;
        if (it.type == CORIO_CBOR_MAP)
            corio_cbor_sort_map(e, start);
        return corio_cbor_enc_error(e);
    }
    case CORIO_CBOR_TAG:
        corio_cbor_put_tag(e, it.u);
        return canon(d, e);
    case CORIO_CBOR_SIMPLE:
        return corio_cbor_put_simple(e, (uint8_t)it.u);
    case CORIO_CBOR_FALSE:
    case CORIO_CBOR_TRUE:
        return corio_cbor_put_bool(e, it.type == CORIO_CBOR_TRUE);
    case CORIO_CBOR_NULL:
        return corio_cbor_put_null(e);
    case CORIO_CBOR_UNDEFINED:
        return corio_cbor_put_undefined(e);
    case CORIO_CBOR_FLOAT:
        return corio_cbor_put_double(e, it.f);
    case CORIO_CBOR_BREAK:
        break;
    }
    return CORIO_ERR_MALFORMED;
}

static int canon_buf(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
    struct corio_cbor_dec d;
    struct corio_cbor_enc e;
    corio_cbor_dec_init(&d, in, n);
    corio_cbor_enc_init(&e, out, cap);
    int rc = canon(&d, &e);
    if (rc != CORIO_OK)
        return rc;
    CHECK(corio_cbor_dec_finish(&d) == CORIO_OK); /* the input was one whole item */
    return corio_cbor_enc_finish(&e);
}

/* Pulls every item of the input as a sequence, reading every string byte so that
 * ASan checks the pointers the decoder hands out. Returns the final status. */
static int walk(const uint8_t *data, size_t size)
{
    struct corio_cbor_dec d;
    struct corio_cbor_item it;
    volatile uint8_t sink = 0;
    int rc = CORIO_OK;
    corio_cbor_dec_init(&d, data, size);
    while (corio_cbor_dec_offset(&d) < size || corio_cbor_dec_depth(&d) > 0) {
        size_t before = corio_cbor_dec_offset(&d);
        rc = corio_cbor_next(&d, &it);
        if (rc != CORIO_OK) {
            CHECK(corio_cbor_dec_offset(&d) == before);
            return rc;
        }
        CHECK(corio_cbor_dec_offset(&d) > before);
        CHECK(it.offset == before);
        CHECK(it.depth <= CORIO_CBOR_MAX_DEPTH);
        if ((it.type == CORIO_CBOR_BYTES || it.type == CORIO_CBOR_TEXT) && !it.indefinite) {
            CHECK(it.ptr >= data && it.len <= size - (size_t)(it.ptr - data));
            for (size_t i = 0; i < it.len; i++)
                sink ^= it.ptr[i];
        }
    }
    (void)sink;
    return rc;
}

/* Tries each typed getter at each position; a failed getter must not move. */
static void typed(const uint8_t *data, size_t size)
{
    struct corio_cbor_dec d;
    corio_cbor_dec_init(&d, data, size);
    for (int steps = 0; steps < 4096 && corio_cbor_dec_offset(&d) < size; steps++) {
        size_t at = corio_cbor_dec_offset(&d);
        uint64_t u;
        int64_t s;
        const uint8_t *p;
        const char *t;
        size_t n;
        bool b;
        double f;
        uint8_t sv;
        int rc;
        if ((rc = corio_cbor_expect_uint(&d, &u)) == CORIO_OK ||
            (rc = corio_cbor_expect_int(&d, &s)) == CORIO_OK ||
            (rc = corio_cbor_expect_bytes(&d, &p, &n)) == CORIO_OK ||
            (rc = corio_cbor_expect_text(&d, &t, &n)) == CORIO_OK ||
            (rc = corio_cbor_expect_array(&d, &u)) == CORIO_OK ||
            (rc = corio_cbor_expect_map(&d, &u)) == CORIO_OK ||
            (rc = corio_cbor_expect_tag(&d, &u)) == CORIO_OK ||
            (rc = corio_cbor_expect_bool(&d, &b)) == CORIO_OK ||
            (rc = corio_cbor_expect_null(&d)) == CORIO_OK ||
            (rc = corio_cbor_expect_simple(&d, &sv)) == CORIO_OK ||
            (rc = corio_cbor_expect_number(&d, &f)) == CORIO_OK ||
            (rc = corio_cbor_expect_float(&d, &f)) == CORIO_OK ||
            (rc = corio_cbor_expect_break(&d)) == CORIO_OK) {
            CHECK(corio_cbor_dec_offset(&d) > at);
            continue;
        }
        CHECK(corio_cbor_dec_offset(&d) == at);
        /* Nothing typed fits (an indefinite string, or bad input): step or stop. */
        struct corio_cbor_item it;
        if (corio_cbor_next(&d, &it) != CORIO_OK)
            break;
    }
}

/* Whether the keys of the map at buf[0..len) come in strictly increasing order. */
static int keys_sorted(const uint8_t *buf, size_t len)
{
    struct corio_cbor_dec d;
    uint64_t pairs;
    corio_cbor_dec_init(&d, buf, len);
    if (corio_cbor_expect_map(&d, &pairs) != CORIO_OK)
        return 0;
    size_t prev = 0, prev_len = 0;
    for (uint64_t i = 0; i < pairs; i++) {
        size_t k = corio_cbor_dec_offset(&d);
        if (corio_cbor_skip(&d) != CORIO_OK)
            return 0;
        size_t kl = corio_cbor_dec_offset(&d) - k;
        if (i > 0) {
            size_t m = kl < prev_len ? kl : prev_len;
            int c = memcmp(buf + prev, buf + k, m);
            if (c > 0 || (c == 0 && prev_len >= kl))
                return 0;
        }
        prev = k;
        prev_len = kl;
        if (corio_cbor_skip(&d) != CORIO_OK)
            return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int wf = corio_cbor_wellformed(data, size);
    CHECK(wf == CORIO_OK || wf == CORIO_ERR_MALFORMED || wf == CORIO_ERR_UNSUPPORTED);

    /* The walk and the well-formed check agree on one-item input. */
    int w = walk(data, size);
    if (wf == CORIO_OK)
        CHECK(w == CORIO_OK);
    typed(data, size);

    struct corio_cbor_dec d;
    corio_cbor_dec_init(&d, data, size);
    int sk = corio_cbor_skip(&d);
    CHECK((wf == CORIO_OK) == (sk == CORIO_OK && corio_cbor_dec_offset(&d) == size));

    int det = corio_cbor_deterministic(data, size);
    CHECK(det == CORIO_OK || det == CORIO_ERR_POLICY || det == wf);
    if (det == CORIO_OK || det == CORIO_ERR_POLICY)
        CHECK(wf == CORIO_OK);

    /* Sort a copy of a map in place: the result is well-formed and sorted, or the
     * keys had a duplicate. */
    if (wf == CORIO_OK && size > 0 && (data[0] >> 5) == 5) {
        uint8_t *copy = malloc(size);
        CHECK(copy);
        memcpy(copy, data, size);
        int rc = corio_cbor_map_sort(copy, size);
        CHECK(rc == CORIO_OK || rc == CORIO_ERR_POLICY || rc == CORIO_ERR_INVAL);
        CHECK(corio_cbor_wellformed(copy, size) == CORIO_OK);
        if (rc == CORIO_OK)
            CHECK(keys_sorted(copy, size));
        if (det == CORIO_OK)
            CHECK(rc == CORIO_OK && memcmp(copy, data, size) == 0);
        free(copy);
    }

    if (wf != CORIO_OK)
        return 0;

    /* Decode, then encode: first counting, then into a buffer of exactly that size. */
    int n = canon_buf(data, size, NULL, 0);
    CHECK(n >= 0); /* nothing fails on well-formed input when only counting */
    uint8_t *out = malloc(n ? (size_t)n : 1);
    CHECK(out);
    int m = canon_buf(data, size, out, (size_t)n);
    if (m == CORIO_ERR_POLICY) {
        CHECK(det != CORIO_OK); /* keys that collide once canonical */
        free(out);
        return 0;
    }
    CHECK(m == n);
    CHECK(corio_cbor_deterministic(out, (size_t)n) == CORIO_OK);
    if (det == CORIO_OK)
        CHECK((size_t)n == size && memcmp(out, data, size) == 0);
    if (n > 0)
        CHECK(canon_buf(data, size, out, (size_t)n - 1) == CORIO_ERR_NOSPACE);
    free(out);
    return 0;
}
