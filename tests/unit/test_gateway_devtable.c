/*
 * test_gateway_devtable.c - the gateway's table of per-device records (devtable.h):
 * records added, found and kept with their contents across the table's growth; ids
 * that do not fit the key, and the empty id, refused; every record reachable by slot.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "devtable.h"

struct rec {
    char id[25];
    uint64_t value;
};

static void records_survive_growth(void **state)
{
    (void)state;
    struct corio_devtable t;
    corio_devtable_init(&t, sizeof(struct rec), sizeof ((struct rec *)0)->id);
    assert_null(corio_devtable_find(&t, "nobody"));
    char id[32];
    bool added;
    for (int i = 0; i < 3000; i++) {
        snprintf(id, sizeof id, "device%05d", i);
        struct rec *r = corio_devtable_get(&t, id, &added);
        assert_non_null(r);
        assert_true(added);
        assert_string_equal(r->id, id);
        assert_int_equal(r->value, 0);
        r->value = (uint64_t)i * 7;
    }
    assert_int_equal(t.count, 3000);
    assert_true(t.count * 10 <= t.cap * 7);
    for (int i = 0; i < 3000; i++) {
        snprintf(id, sizeof id, "device%05d", i);
        struct rec *r = corio_devtable_find(&t, id);
        assert_non_null(r);
        assert_int_equal(r->value, (uint64_t)i * 7);
        assert_ptr_equal(corio_devtable_get(&t, id, &added), r);
        assert_false(added);
        assert_ptr_equal(corio_devtable_at(&t, corio_devtable_index(&t, r)), r);
    }
    size_t seen = 0;
    for (size_t i = 0; i < t.cap; i++)
        seen += corio_devtable_at(&t, i) != NULL;
    assert_int_equal(seen, 3000);
    corio_devtable_free(&t);
    assert_int_equal(t.count, 0);
    assert_null(corio_devtable_find(&t, "device00001"));
}

static void ids_that_do_not_fit_are_refused(void **state)
{
    (void)state;
    struct corio_devtable t;
    corio_devtable_init(&t, sizeof(struct rec), sizeof ((struct rec *)0)->id);
    bool added = true;
    assert_null(corio_devtable_get(&t, "", &added));
    assert_false(added);
    assert_null(corio_devtable_get(&t, "0123456789012345678901234", &added)); /* 25 chars */
    assert_non_null(corio_devtable_get(&t, "012345678901234567890123", &added)); /* 24 */
    assert_int_equal(t.count, 1);
    corio_devtable_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(records_survive_growth),
        cmocka_unit_test(ids_that_do_not_fit_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
