/* test_error.c - every libcorio error code has its own description. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "corio/error.h"

static void every_code_is_described(void **state)
{
    (void)state;
    for (int e = CORIO_ERR_VERSION; e <= CORIO_OK; e++)
        assert_string_not_equal(corio_strerror(e), "unknown error");
    assert_string_equal(corio_strerror(-1000), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_code_is_described),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
