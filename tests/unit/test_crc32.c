/*
 * test_crc32.c - the bit-by-bit CRC-32 (CORIO_CRC32_TABLE 0, what the footprint
 * example builds) against the library's table-driven one (the default) and the
 * published check values: both variants must give the same CRC of every input, since
 * the outbox's records on flash carry it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* This file's copy of crc32.c, built without the table, under another name. */
#define CORIO_CRC32_TABLE 0
#define corio_crc32       crc32_bitwise
#include "../../sdk/src/crc32.c"
#undef corio_crc32

/* The library's (table-driven) one; crc32.h was included above already. */
uint32_t corio_crc32(uint32_t crc, const void *data, size_t len);

static void bitwise_known_values(void **state)
{
    (void)state;
    const char *check = "123456789";
    assert_int_equal(crc32_bitwise(0, check, 9), 0xCBF43926u);
    assert_int_equal(crc32_bitwise(crc32_bitwise(0, check, 4), check + 4, 5), 0xCBF43926u);
    assert_int_equal(crc32_bitwise(0, NULL, 0), 0);
    assert_int_equal(crc32_bitwise(0, "a", 1), 0xE8B7BE43u);
    uint8_t zeros[32] = {0};
    assert_int_equal(crc32_bitwise(0, zeros, sizeof zeros), 0x190A55ADu);
}

static void bitwise_matches_table(void **state)
{
    (void)state;
    uint8_t buf[300];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof buf; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (uint8_t)(x >> 16);
    }
    for (size_t len = 0; len <= sizeof buf; len += 7) {
        assert_int_equal(crc32_bitwise(0, buf, len), corio_crc32(0, buf, len));
        assert_int_equal(crc32_bitwise(0xDEADBEEFu, buf, len), corio_crc32(0xDEADBEEFu, buf, len));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bitwise_known_values),
        cmocka_unit_test(bitwise_matches_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
