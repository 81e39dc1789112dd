/* test_common_buf.c - the bounded growable buffer: caps, freeing on failure, ownership. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "corio/error.h"
#include "corio_buf.h"

static void appends_and_terminates(void **state)
{
    (void)state;
    struct corio_buf b = CORIO_BUF_INIT(1000);
    assert_string_equal(corio_buf_str(&b), "");
    assert_int_equal(corio_buf_addstr(&b, "hello"), CORIO_OK);
    assert_int_equal(corio_buf_add(&b, ", ", 2), CORIO_OK);
    assert_int_equal(corio_buf_printf(&b, "%s %d", "world", 42), CORIO_OK);
    assert_string_equal(corio_buf_str(&b), "hello, world 42");
    assert_int_equal(corio_buf_len(&b), 15);
    corio_buf_reset(&b);
    assert_int_equal(corio_buf_len(&b), 0);
    assert_string_equal(corio_buf_str(&b), "");
    corio_buf_free(&b);
}

static void grows_past_small_sizes(void **state)
{
    (void)state;
    struct corio_buf b;
    corio_buf_init(&b, 1 << 20);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(corio_buf_add(&b, "0123456789", 10), CORIO_OK);
    assert_int_equal(corio_buf_len(&b), 100000);
    assert_int_equal(strlen(corio_buf_str(&b)), 100000);
    /* a long printf goes through the second vsnprintf */
    char big[600];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(corio_buf_printf(&b, "[%s]", big), CORIO_OK);
    assert_int_equal(corio_buf_len(&b), 100000 + 601);
    assert_int_equal(corio_buf_str(&b)[corio_buf_len(&b) - 1], ']');
    corio_buf_free(&b);
}

static void cap_is_exact_and_failure_frees(void **state)
{
    (void)state;
    struct corio_buf b = CORIO_BUF_INIT(8);
    assert_int_equal(corio_buf_add(&b, "12345678", 8), CORIO_OK); /* exactly the cap */
    assert_int_equal(corio_buf_add(&b, "9", 1), CORIO_ERR_FULL);
    /* failure freed the buffer: it is empty and usable again */
    assert_null(b.data);
    assert_int_equal(corio_buf_len(&b), 0);
    assert_int_equal(corio_buf_printf(&b, "%s", "123456789"), CORIO_ERR_FULL);
    assert_int_equal(corio_buf_len(&b), 0);
    assert_int_equal(corio_buf_addstr(&b, "abc"), CORIO_OK);
    assert_string_equal(corio_buf_str(&b), "abc");
    /* a length that would overflow size_t arithmetic is just "too big" */
    assert_int_equal(corio_buf_add(&b, "x", (size_t)-1), CORIO_ERR_FULL);
    assert_int_equal(corio_buf_len(&b), 0);
    corio_buf_free(&b);
}

static void take_transfers_ownership(void **state)
{
    (void)state;
    struct corio_buf b = CORIO_BUF_INIT(100);
    size_t len = 99;
    assert_null(corio_buf_take(&b, &len)); /* nothing held */
    assert_int_equal(len, 0);
    assert_int_equal(corio_buf_addstr(&b, "body"), CORIO_OK);
    char *p = corio_buf_take(&b, &len);
    assert_non_null(p);
    assert_int_equal(len, 4);
    assert_string_equal(p, "body");
    assert_null(b.data);
    assert_int_equal(corio_buf_len(&b), 0);
    free(p);
    /* after reset to empty, take hands back nothing and leaks nothing */
    assert_int_equal(corio_buf_addstr(&b, "x"), CORIO_OK);
    corio_buf_reset(&b);
    assert_null(corio_buf_take(&b, NULL));
}

static void zero_cap_holds_nothing(void **state)
{
    (void)state;
    struct corio_buf b = CORIO_BUF_INIT(0);
    assert_int_equal(corio_buf_add(&b, NULL, 0), CORIO_OK);
    assert_int_equal(corio_buf_add(&b, "a", 1), CORIO_ERR_FULL);
    corio_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(appends_and_terminates),
        cmocka_unit_test(grows_past_small_sizes),
        cmocka_unit_test(cap_is_exact_and_failure_frees),
        cmocka_unit_test(take_transfers_ownership),
        cmocka_unit_test(zero_cap_holds_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
