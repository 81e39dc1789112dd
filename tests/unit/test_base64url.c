/* test_base64url.c - base64url without padding: RFC 4648 §10 vectors, the URL-safe
 * characters, strictness (one spelling per value), and buffer sizes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "corio/encoding.h"

static void rfc4648_vectors(void **state)
{
    (void)state;
    /* RFC 4648 §10, with the padding removed. */
    const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *want[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        char out[16];
        int n = corio_base64url_encode((const uint8_t *)in[i], strlen(in[i]), out, sizeof out);
        assert_int_equal(n, (int)strlen(want[i]));
        assert_string_equal(out, want[i]);
        uint8_t back[16];
        assert_int_equal(corio_base64url_decode(want[i], strlen(want[i]), back, sizeof back),
                         (int)strlen(in[i]));
        assert_memory_equal(back, in[i], strlen(in[i]));
    }
}

static void url_safe_alphabet(void **state)
{
    (void)state;
    const uint8_t bytes[] = {0xfb, 0xff, 0xbf};
    char out[8];
    assert_int_equal(corio_base64url_encode(bytes, 3, out, sizeof out), 4);
    assert_string_equal(out, "-_-_");
    uint8_t back[3];
    assert_int_equal(corio_base64url_decode("-_-_", 4, back, 3), 3);
    assert_memory_equal(back, bytes, 3);
}

static void strict_decoding(void **state)
{
    (void)state;
    uint8_t out[16];
    const char *bad[] = {"Zg==", "Zm9v+A", "Zm9v/A", "Z", "Zm9vY", "Zh", "Zm9", "Zm 9v"};
    /* "Zh" and "Zm9" carry non-zero bits past the last byte; "Z" and "Zm9vY" have an
     * impossible length. */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (!strcmp(bad[i], "Zm9"))
            continue; /* "Zm9" is the valid encoding of "fo" */
        assert_int_equal(corio_base64url_decode(bad[i], strlen(bad[i]), out, sizeof out),
                         CORIO_ERR_MALFORMED);
    }
    assert_int_equal(corio_base64url_decode("Zm8", 3, out, sizeof out), 2);
    assert_int_equal(corio_base64url_decode("Zm9", 3, out, sizeof out), CORIO_ERR_MALFORMED);
}

static void buffer_sizes(void **state)
{
    (void)state;
    uint8_t in[64];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (uint8_t)(i * 37 + 11);
    for (size_t n = 0; n <= sizeof in; n++) {
        char text[128];
        size_t need = CORIO_BASE64URL_ENCODED_LEN(n);
        assert_int_equal(corio_base64url_encode(in, n, text, need), CORIO_ERR_NOSPACE);
        assert_int_equal(corio_base64url_encode(in, n, text, need + 1), (int)need);
        uint8_t back[64];
        if (n > 0)
            assert_int_equal(corio_base64url_decode(text, need, back, n - 1), CORIO_ERR_NOSPACE);
        assert_int_equal(corio_base64url_decode(text, need, back, n), (int)n);
        assert_memory_equal(back, in, n);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc4648_vectors),
        cmocka_unit_test(url_safe_alphabet),
        cmocka_unit_test(strict_decoding),
        cmocka_unit_test(buffer_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
