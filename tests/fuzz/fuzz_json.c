/*
 * fuzz_json.c - libFuzzer target for the JSON tokenizer and number conversions
 * (include/corio/json.h).
 *
 * Pulls every token and checks what comes out: a failed call does not move,
 * offsets only grow, depth stays within the limit and pairs up, every string's
 * content lies inside the input and unescapes to the same bytes by every helper,
 * skip agrees with walking, and the tokenizer's verdict on the whole text agrees
 * with finish. Every number converts without crashing; a finite result prints as
 * text that reads back to the same double, and an integer token converts exactly.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "corio/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)     \
    do {             \
        if (!(c))    \
            abort(); \
    } while (0)

static void check_string(const struct corio_json_tok *t, const char *base, size_t size)
{
    CHECK(t->ptr >= base && t->len <= size && (size_t)(t->ptr - base) <= size - t->len);
    int n = corio_json_unescape(t, NULL, 0);
    CHECK(n >= 0 && (size_t)n <= t->len);
    CHECK(t->escaped || (size_t)n == t->len);
    char *out = malloc((size_t)n + 1);
    CHECK(out);
    CHECK(corio_json_unescape(t, out, (size_t)n + 1) == n);
    CHECK(out[n] == '\0');
    if (n > 0)
        CHECK(corio_json_unescape(t, out, (size_t)n) == CORIO_ERR_NOSPACE);
    struct corio_json_str it;
    int c, k = 0;
    corio_json_str_begin(&it, t);
    while ((c = corio_json_str_next(&it)) >= 0) {
        CHECK(k < n && (uint8_t)out[k] == c);
        k++;
    }
    CHECK(k == n);
    CHECK(corio_json_string_eq(t, out, (size_t)n));
    free(out);
}

static void check_number(const struct corio_json_tok *t)
{
    double v, back;
    int rc = corio_json_number(t, &v);
    CHECK(rc == CORIO_OK || rc == CORIO_ERR_UNSUPPORTED);
    if (rc == CORIO_OK) {
        char text[CORIO_JSON_DOUBLE_MAX];
        int n = corio_json_fmt_double(v, text);
        CHECK(n > 0 && n < CORIO_JSON_DOUBLE_MAX);
        struct corio_json j;
        struct corio_json_tok u;
        corio_json_init(&j, text, (size_t)n);
        CHECK(corio_json_next(&j, &u) == CORIO_OK && u.type == CORIO_JSON_NUMBER);
        CHECK(corio_json_finish(&j) == CORIO_OK);
        CHECK(corio_json_number(&u, &back) == CORIO_OK);
        CHECK(memcmp(&back, &v, sizeof v) == 0);
    }
    int64_t s;
    uint64_t w;
    rc = corio_json_int64(t, &s);
    CHECK(rc == CORIO_OK || rc == CORIO_ERR_MALFORMED || rc == CORIO_ERR_UNSUPPORTED);
    if (rc == CORIO_OK) {
        char text[CORIO_JSON_INT_MAX];
        int n = corio_json_fmt_int64(s, text);
        /* The same integer, though "-0" prints as "0". */
        CHECK(((size_t)n == t->len && memcmp(text, t->ptr, t->len) == 0) ||
              (s == 0 && t->len == 2 && t->ptr[0] == '-'));
    }
    rc = corio_json_uint64(t, &w);
    CHECK(rc == CORIO_OK || rc == CORIO_ERR_MALFORMED || rc == CORIO_ERR_UNSUPPORTED);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct corio_json j, saved;
    struct corio_json_tok t;
    int rc;
    unsigned opened = 0, closed = 0;
    corio_json_init(&j, s, size);
    for (;;) {
        size_t before = corio_json_offset(&j);
        saved = j;
        /* Skip from here must land where walking the same value lands. */
        struct corio_json sk = j;
        int skr = corio_json_skip(&sk);
        rc = corio_json_next(&j, &t);
        if (rc != CORIO_OK) {
            CHECK(memcmp(&saved, &j, sizeof j) == 0);
            CHECK(rc == CORIO_ERR_NOTFOUND || rc == CORIO_ERR_MALFORMED ||
                  rc == CORIO_ERR_UNSUPPORTED);
            CHECK(skr != CORIO_OK);
            break;
        }
        CHECK(corio_json_offset(&j) > before);
        CHECK(t.offset >= before && t.offset < corio_json_offset(&j));
        CHECK(t.depth <= CORIO_JSON_MAX_DEPTH);
        switch (t.type) {
        case CORIO_JSON_OBJECT:
        case CORIO_JSON_ARRAY:
            opened++;
            break;
        case CORIO_JSON_OBJECT_END:
        case CORIO_JSON_ARRAY_END:
            closed++;
            CHECK(closed <= opened);
            CHECK(skr == CORIO_ERR_MALFORMED);
            break;
        case CORIO_JSON_KEY:
            CHECK(skr == CORIO_ERR_MALFORMED);
            check_string(&t, s, size);
            break;
        case CORIO_JSON_STRING:
            check_string(&t, s, size);
            break;
        case CORIO_JSON_NUMBER:
            check_number(&t);
            break;
        default:
            break;
        }
        if (skr == CORIO_OK && t.type != CORIO_JSON_OBJECT && t.type != CORIO_JSON_ARRAY)
            CHECK(memcmp(&sk, &j, sizeof j) == 0); /* a scalar: skip == next */
    }
    if (rc == CORIO_ERR_NOTFOUND) {
        CHECK(opened == closed);
        CHECK(corio_json_finish(&j) == CORIO_OK);
    } else
        CHECK(corio_json_finish(&j) == CORIO_ERR_MALFORMED);
    return 0;
}
