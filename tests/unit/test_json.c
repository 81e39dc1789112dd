/*
 * test_json.c - the SDK's JSON tokenizer, number conversions and writer
 * (include/corio/json.h): JSONTestSuite-style y_ (accept) and n_ (refuse) cases
 * written inline, RFC 8259 edge cases, token streams, the depth limit, truncation,
 * unescaping, exact number conversions checked against the C library (which is
 * correctly rounded in glibc) on hard and random inputs, the shortest-output
 * property, and the writer's escaping and sticky errors.
 */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "corio/json.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* An exact-size heap copy, so that ASan sees any read past the end. */
static char *dup_exact(const char *p, size_t n)
{
    char *c = malloc(n ? n : 1);
    assert_non_null(c);
    if (n)
        memcpy(c, p, n);
    return c;
}

/* Tokenizes s[0..n) to the end: CORIO_OK if it is one complete JSON text, else the
 * first error. Checks that a failed call does not move the tokenizer. */
static int tokenize(const char *s, size_t n)
{
    char *c = dup_exact(s, n);
    struct corio_json j;
    struct corio_json_tok t;
    int rc;
    corio_json_init(&j, c, n);
    for (int steps = 0;; steps++) {
        assert_true(steps < 10000000);
        size_t before = corio_json_offset(&j);
        rc = corio_json_next(&j, &t);
        if (rc != CORIO_OK) {
            assert_int_equal(corio_json_offset(&j), before);
            break;
        }
        if (t.type == CORIO_JSON_KEY || t.type == CORIO_JSON_STRING) {
            /* Every handed-out string unescapes, and its pointer is inside. */
            assert_true(t.ptr >= c && t.ptr + t.len <= c + n);
            assert_true(corio_json_unescape(&t, NULL, 0) >= 0);
        }
    }
    if (rc == CORIO_ERR_NOTFOUND) {
        assert_int_equal(corio_json_finish(&j), CORIO_OK);
        rc = CORIO_OK;
    } else
        assert_int_equal(corio_json_finish(&j), CORIO_ERR_MALFORMED);
    free(c);
    return rc;
}

static int tokenize_z(const char *s)
{
    return tokenize(s, strlen(s));
}

/* ---------------------------------------------------------------------------- */
/* Accept and refuse                                                            */
/* ---------------------------------------------------------------------------- */

/* y_: every conforming parser must accept these (after JSONTestSuite's names). */
static const char *const accept[] = {
    "[[]   ]", "[]", "[\"\"]", "[\"a\"]\n", "[false]", "[null, 1, \"1\", {}]", "[null]",
    "[1\n]", " [1]", "[1,null,null,null,2]", "[2] ", "[123e65]", "[0e+1]", "[0e1]",
    "[ 4]", "[-0.000000000000000000000000000000000000000000000000000000000000000000000000000001]\n",
    "[20e1]", "[-0]", "[-123]", "[-1]", "[-0.0]", "[1E22]", "[1E-2]", "[1E+2]", "[123e45]",
    "[123.456e78]", "[1e-2]", "[1e+2]", "[123]", "[123.456789]", "[0]", "[1.0e+28]",
    "{\"asd\":\"sdf\", \"dfg\":\"fgh\"}", "{\"asd\":\"sdf\"}",
    "{\"a\":\"b\",\"a\":\"c\"}", "{\"a\":\"b\",\"a\":\"b\"}", "{}", "{\"\":0}",
    "{\"foo\\u0000bar\": 42}", "{ \"min\": -1.0e+28, \"max\": 1.0e+28 }",
    "{\"x\":[{\"id\": \"xxx\"}], \"id\": \"xxx\"}", "{\"a\":[]}",
    "{\"title\":\"\\u041f\\u043e\\u043b\\u0442\\u043e\\u0440\\u0430 \\u0417\\u0435\\u043c\\u043b\\u0435\\u043a\\u043e\\u043f\\u0430\" }",
    "{\n\"a\": \"b\"\n}", "[\"\\u0060\\u012a\\u12AB\"]", "[\"\\uD801\\udc37\"]",
    "[\"\\ud83d\\ude39\\ud83d\\udc8d\"]", "[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]", "[\"\\\\u0000\"]",
    "[\"\\\"\"]", "[\"a/*b*/c/*d//e\"]", "[\"\\\\a\"]", "[\"\\\\n\"]", "[\"\\u0012\"]",
    "[\"\\uFFFF\"]", "[\"asd\"]", "[ \"asd\"]", "[\"\\uDBFF\\uDFFF\"]", "[\"new\\u00A0line\"]",
    "[\"\xf4\x8f\xbf\xbf\"]", "[\"\xef\xbf\xbf\"]", "[\"\\u0000\"]", "[\"\\u002c\"]",
    "[\"\xcf\x80\"]", "[\"asd \"]", "\" \"", "[\"\\uD834\\uDd1e\"]", "[\"\\u0821\"]",
    "[\"\\u0123\"]", "[\"\xe2\x80\xa8\"]", "[\"\xe2\x80\xa9\"]", "[\"\\u0061\\u30af\\u30EA\\u30b9\"]",
    "[\"new\\u000Aline\"]", "[\"\x7f\"]", "[\"\\uA66D\"]", "[\"\\u005C\"]",
    "[\"\xe2\x8d\x82\xe3\x88\xb4\xe2\x8d\x82\"]", "[\"\\uDBFF\\uDFFE\"]", "[\"\\uD83F\\uDFFE\"]",
    "[\"\\u200B\"]", "[\"\\u2064\"]", "[\"\\uFDD0\"]", "[\"\\uFFFE\"]", "[\"\\u0022\"]",
    "[\"\xe2\x82\xac\xf0\x9d\x84\x9e\"]", "[\"aa\"]", "\"asd\"", "42", "-0.1", "null",
    "true", "false", "\"\"", "[] \n", "[true]", " [] ", "[1] \t\r\n", "{\"a\":{\"b\":{\"c\":[[[]]]}}}",
};

/* n_: every conforming parser must refuse these. */
static const char *const refuse[] = {
    "[1 true]", "[a\xe5]", "[\"\": 1]", "[\"\"],", "[,1]", "[1,,2]", "[\"x\",,]", "[\"x\"]]",
    "[\"\",]", "[\"x\"", "[x", "[3[4]]", "[\xff]", "[1:2]", "[,]", "[-]", "[   , \"\"]",
    "[\"a\",\n4\n,1,", "[1,]", "[1,,]", "[\"\va\"\\f]", "[*]", "[\"\"", "[1,", "[1,\n1\n,1",
    "[{}", "[fals]", "[nul]", "[tru]", "[++1234]", "[+1]", "[+Inf]", "[-01]", "[-1.0.]",
    "[-2.]", "[-NaN]", "[.-1]", "[.2e-3]", "[0.1.2]", "[0.3e+]", "[0.3e]", "[0.e1]", "[0E+]",
    "[0E]", "[0e+]", "[0e]", "[1.0e+]", "[1.0e-]", "[1.0e]", "[1 000.0]", "[1eE2]",
    "[2.e+3]", "[2.e-3]", "[2.e3]", "[9.e+]", "[Inf]", "[NaN]", "[\xef\xbc\x91]", "[1+2]",
    "[0x1]", "[0x42]", "[Infinity]", "[0e+-1]", "[-012]", "[-.123]", "[-foo]", "[- 1]",
    "[-Infinity]", "[1ea]", "[1.]", "[012]", "[.123]", "[1.2a-3]",
    "[1.8011670033376514H-308]", "[-1x]", "[00]", "[1e1.5]", "{[: \"x\"}", "{\"x\", null}",
    "{\"x\"::\"b\"}", "{\xf0\x9f\x87\xa8\xf0\x9f\x87\xad}", "{\"a\" b}", "{key: 'value'}",
    "{\"a\":\"a\" 123}", "{\"a\" \"b\"}", "{\"a\":", "{\"a\"", "{1:1}", "{9999E9999:1}",
    "{null:null,null:null}", "{\"id\":0,,,,,}", "{'a':0}", "{\"id\":0,}",
    "{\"a\":\"b\"}/**/", "{\"a\":\"b\"}/**//", "{\"a\":\"b\"}//", "{\"a\":\"b\"}/",
    "{\"a\":\"b\",,\"c\":\"d\"}", "{a: \"b\"}", "{\"a\":\"a", "{ \"foo\" : \"bar\", \"a\" }",
    "{\"a\":\"b\"}#", "{\"a\":/*comment*/\"b\"}", "{\"a\":\"b\",}", "{,}", "{\"a\":\"b\"}}",
    "{\"a\":true}\"x\"", "[\"\\uD800\\\"]", "[\"\\uD800\\u\"]", "[\"\\uD800\\u1\"]",
    "[\"\\uD800\\u1x\"]", "[\xc3\xa9]", "[\"\\x00\"]", "[\"\\\\\\\"]", "[\"\\\t\"]",
    "[\"\\\xf0\x9f\x8c\x80\"]", "[\"\\\"]", "[\"\\u00A\"]", "[\"\\uD834\\uDd\"]",
    "[\"\\uD800\\uD800\\x\"]", "[\"\\uqqqq\"]", "[\"\\a\"]", "[\\u0020\"asd\"]", "[\\n]",
    "\"", "['single quote']", "abc", "[\"\\", "[\"new\nline\"]", "[\"\t\"]", "\"\\UA66D\"",
    "\"\"x", "[\"\\u00\"", "[\"\x01\"]", "[\"\x1f\"]",
    /* JSONTestSuite's i_ cases that a strict parser refuses: text that is not UTF-8
     * (encoded surrogates, overlong forms, beyond U+10FFFF, truncated, stray bytes)
     * and \u escapes of unpaired surrogates. */
    "[\"\xed\xa0\x80\"]", "[\"\xc0\xaf\"]", "[\"\xe0\x80\xaf\"]", "[\"\xf0\x80\x80\xaf\"]",
    "[\"\xf4\xbf\xbf\xbf\"]", "[\"\xf8\x88\x80\x80\x80\"]", "[\"\xe6\x97\"]", "[\"\x80\"]",
    "[\"\xff\"]", "[\"\xc2\"]", "[\"\\uD800\"]", "[\"\\uDd1e\\uD834\"]", "[\"\\uDFAA\"]",
    "[\"\\ud800abc\"]", "[\"\\uD800\\u0041\"]",
    /* Structure. */
    "", " ", "[", "]", "{", "}", "[1]x", "[][]", "1 2", "\xef\xbb\xbf{}", "<.>",
    "[<null>]", "nul", "tru", "[\"a\" \"b\"]", "{\"a\":1} {}", "\"asd", "a", "*", "[{", "1]",
    "[]]", "{}}", "[1]]", "\xe5", "[\"a\"\x00]", "/* c */ []", "[] // c", "0x1", "Infinity",
    ",", ":", "[:]", "{\"a\"}", "{\"a\":}", "{:1}", "[\"a\":1]",
};

static void accepts_valid_texts(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(accept); i++) {
        int rc = tokenize_z(accept[i]);
        if (rc != CORIO_OK)
            fail_msg("refused y_ case %zu: %s (%d)", i, accept[i], rc);
    }
    /* A NUL inside a string can only be escaped; a raw NUL is a control character. */
    assert_int_equal(tokenize("[\"a\0b\"]", 7), CORIO_ERR_MALFORMED);
    assert_int_equal(tokenize("[1]\0", 4), CORIO_ERR_MALFORMED);
}

static void refuses_invalid_texts(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(refuse); i++) {
        int rc = tokenize_z(refuse[i]);
        if (rc != CORIO_ERR_MALFORMED)
            fail_msg("accepted n_ case %zu: %s (%d)", i, refuse[i], rc);
    }
}

/* Every proper prefix of a valid array or object is refused. */
static void truncation_refused(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(accept); i++) {
        const char *s = accept[i];
        size_t n = strlen(s);
        if (s[0] != '[' && s[0] != '{')
            continue;
        /* Trailing whitespace makes the text complete earlier: cut it first. */
        while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\t' ||
                         s[n - 1] == '\r'))
            n--;
        for (size_t k = 0; k < n; k++)
            if (tokenize(s, k) != CORIO_ERR_MALFORMED)
                fail_msg("prefix %zu of %s accepted", k, s);
    }
    /* Top-level numbers and literals cut short. */
    assert_int_equal(tokenize_z("-"), CORIO_ERR_MALFORMED);
    assert_int_equal(tokenize_z("1."), CORIO_ERR_MALFORMED);
    assert_int_equal(tokenize_z("1e"), CORIO_ERR_MALFORMED);
    assert_int_equal(tokenize_z("1e-"), CORIO_ERR_MALFORMED);
    assert_int_equal(tokenize_z("fals"), CORIO_ERR_MALFORMED);
    assert_int_equal(tokenize_z("n"), CORIO_ERR_MALFORMED);
    /* A top-level number has no closing delimiter, so its prefixes may be numbers. */
    assert_int_equal(tokenize_z("12"), CORIO_OK);
}

static void depth_limit(void **state)
{
    (void)state;
    char buf[2 * (CORIO_JSON_MAX_DEPTH + 1) + 1];
    size_t d = CORIO_JSON_MAX_DEPTH;
    memset(buf, '[', d);
    memset(buf + d, ']', d);
    assert_int_equal(tokenize(buf, 2 * d), CORIO_OK);
    memset(buf, '[', d + 1);
    memset(buf + d + 1, ']', d + 1);
    assert_int_equal(tokenize(buf, 2 * d + 2), CORIO_ERR_UNSUPPORTED);
    /* Objects count too, and mixing does not confuse the closing brackets. */
    char mix[64];
    size_t n = 0;
    for (int i = 0; i < 10; i++) {
        memcpy(mix + n, i % 2 ? "[" : "{\"k\":", i % 2 ? 1 : 5);
        n += i % 2 ? 1 : 5;
    }
    mix[n++] = '1';
    for (int i = 9; i >= 0; i--)
        mix[n++] = i % 2 ? ']' : '}';
    assert_int_equal(tokenize(mix, n), CORIO_OK);
    mix[n - 1] = ']';
    assert_int_equal(tokenize(mix, n), CORIO_ERR_MALFORMED);
    /* A long but shallow input costs nothing. */
    static char wide[200001];
    wide[0] = '[';
    for (size_t i = 1; i < sizeof wide - 1; i += 2) {
        wide[i] = '0';
        wide[i + 1] = ',';
    }
    wide[sizeof wide - 2] = ',';
    wide[sizeof wide - 1] = ']';
    assert_int_equal(tokenize(wide, sizeof wide), CORIO_ERR_MALFORMED); /* ",]" */
    wide[sizeof wide - 2] = '0';
    assert_int_equal(tokenize(wide, sizeof wide), CORIO_OK);
}

/* ---------------------------------------------------------------------------- */
/* Tokens                                                                       */
/* ---------------------------------------------------------------------------- */

static void token_stream(void **state)
{
    (void)state;
    const char *s = " {\"a\" : [1, -2.5e3, \"x\\ny\"], \"b\":{}, \"c\":true, \"d\":null,"
                    "\"e\":false} ";
    static const struct {
        enum corio_json_type type;
        const char *text;
        unsigned depth;
    } want[] = {
        {CORIO_JSON_OBJECT, "{", 0},     {CORIO_JSON_KEY, "a", 1},
        {CORIO_JSON_ARRAY, "[", 1},      {CORIO_JSON_NUMBER, "1", 2},
        {CORIO_JSON_NUMBER, "-2.5e3", 2}, {CORIO_JSON_STRING, "x\\ny", 2},
        {CORIO_JSON_ARRAY_END, "]", 1},  {CORIO_JSON_KEY, "b", 1},
        {CORIO_JSON_OBJECT, "{", 1},     {CORIO_JSON_OBJECT_END, "}", 1},
        {CORIO_JSON_KEY, "c", 1},        {CORIO_JSON_TRUE, "true", 1},
        {CORIO_JSON_KEY, "d", 1},        {CORIO_JSON_NULL, "null", 1},
        {CORIO_JSON_KEY, "e", 1},        {CORIO_JSON_FALSE, "false", 1},
        {CORIO_JSON_OBJECT_END, "}", 0},
    };
    struct corio_json j, saved;
    struct corio_json_tok t, p;
    corio_json_init(&j, s, strlen(s));
    for (size_t i = 0; i < COUNT(want); i++) {
        assert_int_equal(corio_json_peek(&j, &p), CORIO_OK);
        assert_int_equal(corio_json_next(&j, &t), CORIO_OK);
        assert_int_equal(t.type, want[i].type);
        assert_int_equal(p.type, t.type);
        assert_int_equal(p.offset, t.offset);
        assert_int_equal(t.len, strlen(want[i].text));
        assert_memory_equal(t.ptr, want[i].text, t.len);
        assert_int_equal(t.depth, want[i].depth);
        assert_int_equal(t.escaped, i == 5);
        if (t.type == CORIO_JSON_KEY || t.type == CORIO_JSON_STRING)
            assert_int_equal(s[t.offset], '"');
        else
            assert_int_equal(s[t.offset], want[i].text[0]);
    }
    assert_int_equal(corio_json_finish(&j), CORIO_OK);
    saved = j;
    assert_int_equal(corio_json_next(&j, &t), CORIO_ERR_NOTFOUND);
    assert_memory_equal(&saved, &j, sizeof j);

    /* Skip jumps over whole values and never over a key or an end. */
    corio_json_init(&j, s, strlen(s));
    assert_int_equal(corio_json_next(&j, &t), CORIO_OK);
    assert_int_equal(corio_json_skip(&j), CORIO_ERR_MALFORMED); /* a key is next */
    assert_int_equal(corio_json_next(&j, &t), CORIO_OK);
    assert_int_equal(corio_json_skip(&j), CORIO_OK); /* [1, -2.5e3, "x\ny"] */
    assert_int_equal(corio_json_next(&j, &t), CORIO_OK);
    assert_true(corio_json_string_eq(&t, "b", 1));
    assert_int_equal(corio_json_skip(&j), CORIO_OK); /* {} */
    assert_int_equal(corio_json_next(&j, &t), CORIO_OK);
    assert_int_equal(corio_json_skip(&j), CORIO_OK); /* true */
    for (int i = 0; i < 4; i++)
        assert_int_equal(corio_json_next(&j, &t), CORIO_OK);
    assert_int_equal(corio_json_skip(&j), CORIO_ERR_MALFORMED); /* the closing brace */
    assert_int_equal(corio_json_next(&j, &t), CORIO_OK);
    assert_int_equal(t.type, CORIO_JSON_OBJECT_END);
    assert_int_equal(corio_json_skip(&j), CORIO_ERR_MALFORMED); /* nothing left */

    /* A skip over a broken value fails and does not move. */
    const char *bad = "[[1,2,{\"a\":x}],3]";
    corio_json_init(&j, bad, strlen(bad));
    assert_int_equal(corio_json_next(&j, &t), CORIO_OK);
    saved = j;
    assert_int_equal(corio_json_skip(&j), CORIO_ERR_MALFORMED);
    assert_memory_equal(&saved, &j, sizeof j);

    /* NULL input with length 0 is empty input. */
    corio_json_init(&j, NULL, 0);
    assert_int_equal(corio_json_next(&j, &t), CORIO_ERR_MALFORMED);
    assert_int_equal(corio_json_finish(&j), CORIO_ERR_MALFORMED);
}

static void strings_unescape(void **state)
{
    (void)state;
    static const struct {
        const char *json; /* a JSON string with its quotes */
        const char *want;
        size_t want_len;
    } cases[] = {
        {"\"plain\"", "plain", 5},
        {"\"\"", "", 0},
        {"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t", 8},
        {"\"\\u0041\\u00e9\\u20AC\"", "A\xc3\xa9\xe2\x82\xac", 6},
        {"\"\\ud834\\udd1e\"", "\xf0\x9d\x84\x9e", 4},
        {"\"\\uDBFF\\uDFFF\"", "\xf4\x8f\xbf\xbf", 4},
        {"\"a\\u0000b\"", "a\0b", 3},
        {"\"\\u007f\\u0080\\u07ff\\u0800\\uffff\"",
         "\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf", 11},
        {"\"\xc3\xa9\\n\xf0\x9f\x98\x80\"", "\xc3\xa9\n\xf0\x9f\x98\x80", 7},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        struct corio_json j;
        struct corio_json_tok t;
        char out[32];
        corio_json_init(&j, cases[i].json, strlen(cases[i].json));
        assert_int_equal(corio_json_next(&j, &t), CORIO_OK);
        assert_int_equal(t.type, CORIO_JSON_STRING);
        int n = corio_json_unescape(&t, out, sizeof out);
        assert_int_equal(n, cases[i].want_len);
        assert_memory_equal(out, cases[i].want, cases[i].want_len);
        assert_int_equal(out[n], '\0');
        assert_int_equal(corio_json_unescape(&t, NULL, 0), n);
        assert_true(corio_json_string_eq(&t, cases[i].want, cases[i].want_len));
        if (n > 0) {
            assert_false(corio_json_string_eq(&t, cases[i].want, cases[i].want_len - 1));
            assert_false(corio_json_string_eq(&t, "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b",
                                              cases[i].want_len));
        }
        /* Too small by one: the NUL does not fit. */
        assert_int_equal(corio_json_unescape(&t, out, (size_t)n), CORIO_ERR_NOSPACE);
        /* The byte iterator gives the same bytes. */
        struct corio_json_str it;
        int c, k = 0;
        corio_json_str_begin(&it, &t);
        while ((c = corio_json_str_next(&it)) >= 0)
            assert_int_equal(c, (uint8_t)cases[i].want[k++]);
        assert_int_equal(k, n);
    }
    /* Only keys and strings unescape. */
    struct corio_json j;
    struct corio_json_tok t;
    corio_json_init(&j, "12", 2);
    assert_int_equal(corio_json_next(&j, &t), CORIO_OK);
    assert_int_equal(corio_json_unescape(&t, NULL, 0), CORIO_ERR_INVAL);
    assert_false(corio_json_string_eq(&t, "12", 2));
    /* Keys compare after unescaping. */
    corio_json_init(&j, "{\"\\u0076\":1}", 12);
    assert_int_equal(corio_json_next(&j, &t), CORIO_OK);
    assert_int_equal(corio_json_next(&j, &t), CORIO_OK);
    assert_int_equal(t.type, CORIO_JSON_KEY);
    assert_true(corio_json_string_eq(&t, "v", 1));
}

/* ---------------------------------------------------------------------------- */
/* Numbers                                                                      */
/* ---------------------------------------------------------------------------- */

static int number_of(const char *s, double *v)
{
    struct corio_json j;
    struct corio_json_tok t;
    char *c = dup_exact(s, strlen(s));
    corio_json_init(&j, c, strlen(s));
    int rc = corio_json_next(&j, &t);
    if (rc == CORIO_OK)
        rc = corio_json_number(&t, v);
    free(c);
    return rc;
}

static bool same_double(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

/* s must convert to what glibc's strtod (correctly rounded) gives, or be refused as
 * beyond a double exactly when strtod overflows. */
static void check_against_libc(const char *s)
{
    double mine = 0, ref = strtod(s, NULL);
    int rc = number_of(s, &mine);
    if (isinf(ref)) {
        assert_int_equal(rc, CORIO_ERR_UNSUPPORTED);
        return;
    }
    if (rc != CORIO_OK || !same_double(mine, ref))
        fail_msg("%s: got %a (rc %d), want %a", s, mine, rc, ref);
}

static void numbers_exact(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        double want;
    } cases[] = {
        {"0", 0.0},
        {"1", 1.0},
        {"-1", -1.0},
        {"21.5", 21.5},
        {"1.276020076001e+09", 1276020076.001},
        {"1.1", 1.1},
        {"0.1", 0.1},
        {"1e23", 1e23},
        {"8.98846567431158e307", 8.98846567431158e307},
        {"1.7976931348623157e308", DBL_MAX},
        {"1.7976931348623158e308", DBL_MAX}, /* below the halfway point to 2^1024 */
        {"2.2250738585072014e-308", DBL_MIN},
        {"2.2250738585072011e-308", 2.2250738585072009e-308}, /* the classic PHP/Java hang */
        {"4.9406564584124654e-324", 4.9406564584124654e-324},
        {"5e-324", 4.9406564584124654e-324},
        {"2.4703282292062328e-324", 4.9406564584124654e-324}, /* just above half */
        {"2.4703282292062327e-324", 0.0},                     /* just below half */
        {"1e-400", 0.0},
        {"9007199254740993", 9007199254740992.0}, /* a tie: to even */
        {"9007199254740995", 9007199254740996.0}, /* a tie: to even */
        {"9007199254740993.0000000000000000001", 9007199254740994.0},
        {"123456789012345678901234567890", 1.2345678901234568e29},
        {"0.000000000000000000000000000000000000000000001e45", 1.0},
        {"1000000000000000000000000000000000000000000000e-45", 1.0},
        {"1e0000000000000000000000000000000000000001", 10.0},
        {"1e-99999999999999999999999", 0.0},
        {"0e99999999999999999999999", 0.0},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        double v = -12345;
        int rc = number_of(cases[i].text, &v);
        if (rc != CORIO_OK || !same_double(v, cases[i].want))
            fail_msg("%s: got %a (rc %d), want %a", cases[i].text, v, rc, cases[i].want);
    }
    double v = 7;
    assert_int_equal(number_of("-0", &v), CORIO_OK);
    assert_true(v == 0 && signbit(v));
    assert_int_equal(number_of("-0.0e5", &v), CORIO_OK);
    assert_true(v == 0 && signbit(v));
    assert_int_equal(number_of("-1e-400", &v), CORIO_OK);
    assert_true(v == 0 && signbit(v));
    v = 7;
    assert_int_equal(number_of("1e309", &v), CORIO_ERR_UNSUPPORTED);
    assert_int_equal(number_of("-1e400", &v), CORIO_ERR_UNSUPPORTED);
    assert_int_equal(number_of("1.7976931348623159e308", &v), CORIO_ERR_UNSUPPORTED);
    assert_int_equal(number_of("1e99999999999999999999", &v), CORIO_ERR_UNSUPPORTED);
    assert_true(v == 7); /* unchanged */

    /* Exactly halfway between 0 and the smallest subnormal: 2^-1075 written out in
     * full (1075 fraction digits), which rounds to even (0); one more digit tips it. */
    char half[1200];
    {
        /* 2^-1075 = 5^1075 / 10^1075: compute 5^1075 in decimal. */
        static uint8_t dig[800];
        int nd = 1;
        dig[0] = 1; /* little-endian decimal digits */
        for (int i = 0; i < 1075; i++) {
            int carry = 0;
            for (int k = 0; k < nd; k++) {
                int x = dig[k] * 5 + carry;
                dig[k] = (uint8_t)(x % 10);
                carry = x / 10;
            }
            while (carry) {
                dig[nd++] = (uint8_t)(carry % 10);
                carry /= 10;
            }
        }
        size_t p = 0;
        half[p++] = '0';
        half[p++] = '.';
        for (int k = 0; k < 1075 - nd; k++)
            half[p++] = '0';
        for (int k = nd - 1; k >= 0; k--)
            half[p++] = (char)('0' + dig[k]);
        half[p] = '\0';
        assert_int_equal(number_of(half, &v), CORIO_OK);
        assert_true(same_double(v, 0.0));
        check_against_libc(half);
        half[p] = '1';
        half[p + 1] = '\0';
        assert_int_equal(number_of(half, &v), CORIO_OK);
        assert_true(same_double(v, 4.9406564584124654e-324));
        check_against_libc(half);
    }
    /* Many digits beyond the 800 kept: the dropped ones still decide a tie. */
    char longnum[2000];
    memcpy(longnum, "9007199254740993", 16);
    memset(longnum + 16, '0', 1500);
    longnum[1516] = '\0';
    check_against_libc(longnum); /* integer with 1500 zeros: huge */
    memcpy(longnum, "9007199254740993.", 17);
    memset(longnum + 17, '0', 1500);
    longnum[1517] = '\0';
    assert_int_equal(number_of(longnum, &v), CORIO_OK);
    assert_true(same_double(v, 9007199254740992.0)); /* exactly the tie */
    longnum[1516] = '1';
    assert_int_equal(number_of(longnum, &v), CORIO_OK);
    assert_true(same_double(v, 9007199254740994.0)); /* just above it */

    /* Random decimal texts against the C library. */
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (int i = 0; i < 100000; i++) {
        char s[96];
        int k = 0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t r = x;
        if (r & 1)
            s[k++] = '-';
        int nd = 1 + (int)((r >> 1) % 24);
        s[k++] = (char)('1' + (r >> 8) % 9);
        for (int q = 1; q < nd; q++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            s[k++] = (char)('0' + x % 10);
        }
        if (r & 2) {
            s[k++] = '.';
            s[k++] = (char)('0' + (r >> 16) % 10);
            s[k++] = (char)('0' + (r >> 20) % 10);
        }
        if (r & 4)
            k += sprintf(s + k, "e%d", (int)((r >> 24) % 680) - 340);
        s[k] = '\0';
        check_against_libc(s);
    }
}

static void integers_exact(void **state)
{
    (void)state;
    struct corio_json j;
    struct corio_json_tok t;
    uint64_t u = 5;
    int64_t s = 5;
#define TOK(text)                                           \
    do {                                                    \
        corio_json_init(&j, text, strlen(text));            \
        assert_int_equal(corio_json_next(&j, &t), CORIO_OK); \
    } while (0)
    TOK("0");
    assert_int_equal(corio_json_uint64(&t, &u), CORIO_OK);
    assert_true(u == 0);
    TOK("18446744073709551615");
    assert_int_equal(corio_json_uint64(&t, &u), CORIO_OK);
    assert_true(u == UINT64_MAX);
    assert_int_equal(corio_json_int64(&t, &s), CORIO_ERR_UNSUPPORTED);
    TOK("18446744073709551616");
    assert_int_equal(corio_json_uint64(&t, &u), CORIO_ERR_UNSUPPORTED);
    assert_true(u == UINT64_MAX);
    TOK("99999999999999999999999");
    assert_int_equal(corio_json_uint64(&t, &u), CORIO_ERR_UNSUPPORTED);
    TOK("-1");
    assert_int_equal(corio_json_uint64(&t, &u), CORIO_ERR_MALFORMED);
    assert_int_equal(corio_json_int64(&t, &s), CORIO_OK);
    assert_true(s == -1);
    TOK("-0");
    assert_int_equal(corio_json_uint64(&t, &u), CORIO_ERR_MALFORMED);
    assert_int_equal(corio_json_int64(&t, &s), CORIO_OK);
    assert_true(s == 0);
    TOK("1.0");
    assert_int_equal(corio_json_uint64(&t, &u), CORIO_ERR_MALFORMED);
    assert_int_equal(corio_json_int64(&t, &s), CORIO_ERR_MALFORMED);
    TOK("1e2");
    assert_int_equal(corio_json_uint64(&t, &u), CORIO_ERR_MALFORMED);
    TOK("9223372036854775807");
    assert_int_equal(corio_json_int64(&t, &s), CORIO_OK);
    assert_true(s == INT64_MAX);
    TOK("9223372036854775808");
    assert_int_equal(corio_json_int64(&t, &s), CORIO_ERR_UNSUPPORTED);
    TOK("-9223372036854775808");
    assert_int_equal(corio_json_int64(&t, &s), CORIO_OK);
    assert_true(s == INT64_MIN);
    TOK("-9223372036854775809");
    assert_int_equal(corio_json_int64(&t, &s), CORIO_ERR_UNSUPPORTED);
    TOK("\"1\"");
    assert_int_equal(corio_json_uint64(&t, &u), CORIO_ERR_INVAL);
    double d;
    assert_int_equal(corio_json_number(&t, &d), CORIO_ERR_INVAL);
#undef TOK

    char out[CORIO_JSON_INT_MAX];
    assert_int_equal(corio_json_fmt_uint64(UINT64_MAX, out), 20);
    assert_string_equal(out, "18446744073709551615");
    assert_int_equal(corio_json_fmt_uint64(0, out), 1);
    assert_string_equal(out, "0");
    assert_int_equal(corio_json_fmt_int64(INT64_MIN, out), 20);
    assert_string_equal(out, "-9223372036854775808");
    assert_int_equal(corio_json_fmt_int64(-7, out), 2);
    assert_string_equal(out, "-7");

    /* Decimal fractions (as CBOR tag 4 carries them). */
    assert_int_equal(corio_json_decimal_to_double(false, 27315, -2, &d), CORIO_OK);
    assert_true(d == 273.15);
    assert_int_equal(corio_json_decimal_to_double(true, 5, 0, &d), CORIO_OK);
    assert_true(d == -5.0);
    assert_int_equal(corio_json_decimal_to_double(false, UINT64_MAX, -400, &d), CORIO_OK);
    assert_true(d == strtod("18446744073709551615e-400", NULL));
    assert_int_equal(corio_json_decimal_to_double(false, 1, 400, &d), CORIO_ERR_UNSUPPORTED);
    assert_int_equal(corio_json_decimal_to_double(true, 0, 400, &d), CORIO_OK);
    assert_true(d == 0 && signbit(d));
    assert_int_equal(corio_json_decimal_to_double(false, 12345678901234567890u, INT64_MIN, &d),
                     CORIO_OK);
    assert_true(same_double(d, 0.0));
}

static void format_shortest(void **state)
{
    (void)state;
    static const struct {
        double v;
        const char *want;
    } cases[] = {
        {0.0, "0"},
        {1.0, "1"},
        {-1.5, "-1.5"},
        {21.5, "21.5"},
        {100.0, "100"},
        {1276020076.001, "1276020076.001"},
        {1764500000.0, "1764500000"},
        {0.1, "0.1"},
        {0.3, "0.3"},
        {0.1 + 0.2, "0.30000000000000004"},
        {1.0 / 3.0, "0.3333333333333333"},
        {2.0 / 3.0, "0.6666666666666666"},
        {120.1, "120.1"},
        {1e20, "100000000000000000000"},
        {1e21, "1e+21"},
        {123456789012345680000.0, "123456789012345680000"},
        {9007199254740992.0, "9007199254740992"},
        {9223372036854775808.0, "9223372036854776000"},
        {1e-6, "0.000001"},
        {1.2345e-6, "0.0000012345"},
        {1e-7, "1e-7"},
        {1.5e-7, "1.5e-7"},
        {123e-20, "1.23e-18"},
        {5e-324, "5e-324"},
        {2.2250738585072014e-308, "2.2250738585072014e-308"},
        {1.7976931348623157e308, "1.7976931348623157e+308"},
        {4.35, "4.35"},
        {5e-7, "5e-7"},
        {1e22, "1e+22"},
        {-1e-300, "-1e-300"},
        {1.2345678901234567e-6, "0.0000012345678901234567"},
        {-1.2345678901234567e-6, "-0.0000012345678901234567"},
        {2.5, "2.5"},
        {9.5367431640625e-07, "9.5367431640625e-7"},
        {2251799813685248.5, "2251799813685248.5"},
        {0.000035, "0.000035"},
    };
    char out[CORIO_JSON_DOUBLE_MAX];
    for (size_t i = 0; i < COUNT(cases); i++) {
        int n = corio_json_fmt_double(cases[i].v, out);
        if (n < 0 || strcmp(out, cases[i].want) != 0)
            fail_msg("%a: got %s (%d), want %s", cases[i].v, out, n, cases[i].want);
        assert_int_equal(n, strlen(cases[i].want));
    }
    assert_int_equal(corio_json_fmt_double(-0.0, out), 2);
    assert_string_equal(out, "-0");
    assert_int_equal(corio_json_fmt_double(NAN, out), CORIO_ERR_INVAL);
    assert_int_equal(corio_json_fmt_double(INFINITY, out), CORIO_ERR_INVAL);
    assert_int_equal(corio_json_fmt_double(-INFINITY, out), CORIO_ERR_INVAL);

    /* Random bit patterns: the text reads back exactly (by libc and by us), is as
     * short as any text that does, fits CORIO_JSON_DOUBLE_MAX, and has the digits
     * of the correctly rounded shortest %.*e. */
    uint64_t x = 0x2545f4914f6cdd1du;
    for (int i = 0; i < 60000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t bits = x;
        if (i % 3 == 0) /* also plenty of ordinary sensor-like values */
            bits = 0;
        double v;
        memcpy(&v, &bits, sizeof v);
        if (i % 3 == 0)
            v = (double)(int64_t)(x % 2000001 - 1000000) / (double)(1 + x % 1000);
        if (!isfinite(v))
            continue;
        memset(out, 'z', sizeof out);
        int n = corio_json_fmt_double(v, out);
        assert_true(n > 0 && n < CORIO_JSON_DOUBLE_MAX);
        assert_int_equal(out[n], '\0');
        assert_true(same_double(strtod(out, NULL), v));
        double back;
        assert_int_equal(number_of(out, &back), CORIO_OK);
        assert_true(same_double(back, v));
        /* Significant digits of ours. */
        char d1[32], d2[40];
        int k1 = 0;
        for (const char *p = out; *p && *p != 'e'; p++)
            if (*p >= '0' && *p <= '9' && !(k1 == 0 && *p == '0'))
                d1[k1++] = *p;
        while (k1 > 1 && d1[k1 - 1] == '0')
            k1--;
        d1[k1] = '\0';
        /* The shortest precision libc needs. */
        int prec;
        char g[40];
        for (prec = 1; prec <= 17; prec++) {
            snprintf(g, sizeof g, "%.*e", prec - 1, v);
            if (strtod(g, NULL) == v)
                break;
        }
        int k2 = 0;
        for (const char *p = g; *p && *p != 'e'; p++)
            if (*p >= '0' && *p <= '9')
                d2[k2++] = *p;
        while (k2 > 1 && d2[k2 - 1] == '0')
            k2--;
        d2[k2] = '\0';
        if (v != 0 && strcmp(d1, d2) != 0)
            fail_msg("%a: %s has digits %s, shortest is %s", v, out, d1, d2);
    }
}

/* ---------------------------------------------------------------------------- */
/* Writer                                                                       */
/* ---------------------------------------------------------------------------- */

static void writer(void **state)
{
    (void)state;
    uint8_t buf[128];
    struct corio_json_w w;
    const char want[] = "{\"s\":\"a\\\"b\\\\c\\n\\t\\u0001\\u001f\xc3\xa9/\",\"n\":-2.5,"
                        "\"u\":18446744073709551615,\"i\":-3,\"b\":true,\"f\":false}";
    corio_json_w_init(&w, buf, sizeof buf);
    corio_json_w_raw(&w, "{\"s\":", 5);
    corio_json_w_string(&w, "a\"b\\c\n\t\x01\x1f\xc3\xa9/", 12);
    corio_json_w_raw(&w, ",\"n\":", 5);
    corio_json_w_double(&w, -2.5);
    corio_json_w_raw(&w, ",\"u\":", 5);
    corio_json_w_uint64(&w, UINT64_MAX);
    corio_json_w_raw(&w, ",\"i\":", 5);
    corio_json_w_int64(&w, -3);
    corio_json_w_raw(&w, ",\"b\":", 5);
    corio_json_w_bool(&w, true);
    corio_json_w_raw(&w, ",\"f\":", 5);
    corio_json_w_bool(&w, false);
    corio_json_w_raw(&w, "}", 1);
    int n = corio_json_w_finish(&w);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(buf, want, (size_t)n);
    assert_int_equal(tokenize((const char *)buf, (size_t)n), CORIO_OK);

    /* Size-only mode counts the same bytes. */
    corio_json_w_init(&w, NULL, 0);
    corio_json_w_string(&w, "a\"b\\c\n\t\x01\x1f\xc3\xa9/", 12);
    assert_int_equal(corio_json_w_finish(&w), 28);

    /* Every too-small buffer fails with NOSPACE and writes nothing past its end. */
    for (size_t cap = 0; cap < 28; cap++) {
        uint8_t *small = malloc(cap ? cap : 1);
        corio_json_w_init(&w, small, cap);
        assert_int_equal(corio_json_w_string(&w, "a\"b\\c\n\t\x01\x1f\xc3\xa9/", 12),
                         CORIO_ERR_NOSPACE);
        assert_int_equal(corio_json_w_len(&w), 0);
        assert_int_equal(corio_json_w_bool(&w, true), CORIO_ERR_NOSPACE); /* sticky */
        assert_int_equal(corio_json_w_finish(&w), CORIO_ERR_NOSPACE);
        free(small);
    }

    /* Invalid UTF-8 and non-finite numbers are refused, stickily. */
    corio_json_w_init(&w, buf, sizeof buf);
    assert_int_equal(corio_json_w_string(&w, "\xc0\xaf", 2), CORIO_ERR_INVAL);
    assert_int_equal(corio_json_w_raw(&w, "x", 1), CORIO_ERR_INVAL);
    assert_int_equal(corio_json_w_finish(&w), CORIO_ERR_INVAL);
    corio_json_w_init(&w, buf, sizeof buf);
    assert_int_equal(corio_json_w_double(&w, NAN), CORIO_ERR_INVAL);
    corio_json_w_init(&w, buf, sizeof buf);
    assert_int_equal(corio_json_w_string(&w, NULL, 1), CORIO_ERR_INVAL);
    corio_json_w_init(&w, buf, sizeof buf);
    assert_int_equal(corio_json_w_raw(&w, NULL, 1), CORIO_ERR_INVAL);
    assert_int_equal(corio_json_w_finish(&w), CORIO_ERR_INVAL);
    corio_json_w_init(&w, buf, sizeof buf);
    assert_int_equal(corio_json_w_raw(&w, NULL, 0), CORIO_OK);
    assert_int_equal(corio_json_w_string(&w, NULL, 0), CORIO_OK);
    assert_int_equal(corio_json_w_finish(&w), 2);
    assert_memory_equal(buf, "\"\"", 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(accepts_valid_texts),
        cmocka_unit_test(refuses_invalid_texts),
        cmocka_unit_test(truncation_refused),
        cmocka_unit_test(depth_limit),
        cmocka_unit_test(token_stream),
        cmocka_unit_test(strings_unescape),
        cmocka_unit_test(numbers_exact),
        cmocka_unit_test(integers_exact),
        cmocka_unit_test(format_shortest),
        cmocka_unit_test(writer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
