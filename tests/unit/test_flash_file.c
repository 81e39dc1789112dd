/* test_flash_file.c - the POSIX port's file-as-flash: NOR rules (erase to 0xFF,
 * programming only clears bits, one program per unit unless allowed), the checks
 * that catch a caller breaking them, and the device outbox running on top of it
 * across process-like reopenings of the file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "corio/outbox.h"
#include "corio/port_posix_flash.h"

struct tmp {
    char dir[64];
    char path[96];
};

static int setup(void **state)
{
    struct tmp *t = calloc(1, sizeof *t);
    if (!t)
        return -1;
    snprintf(t->dir, sizeof t->dir, "/tmp/corio-flash-XXXXXX");
    if (!mkdtemp(t->dir)) {
        free(t);
        return -1;
    }
    snprintf(t->path, sizeof t->path, "%s/flash.bin", t->dir);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct tmp *t = *state;
    unlink(t->path);
    rmdir(t->dir);
    free(t);
    return 0;
}

static void new_file_is_erased_and_nor_like(void **state)
{
    struct tmp *t = *state;
    struct corio_posix_flash pf;
    struct corio_flash f;
    assert_int_equal(corio_posix_flash_open(&pf, t->path, 256, 4, 8, 0), CORIO_OK);
    corio_posix_flash_port(&pf, &f);
    assert_int_equal(f.sector_size, 256);
    assert_int_equal(f.sector_count, 4);
    assert_int_equal(f.prog_size, 8);
    assert_int_equal(f.flags, 0);
    struct stat st;
    assert_int_equal(stat(t->path, &st), 0);
    assert_int_equal(st.st_size, 1024);

    uint8_t buf[1024];
    assert_int_equal(f.read(f.ctx, 0, buf, sizeof buf), CORIO_OK);
    for (size_t i = 0; i < sizeof buf; i++)
        assert_int_equal(buf[i], 0xFF);

    const uint8_t data[16] = {0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xDE, 0xF0,
                              0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07};
    assert_int_equal(f.program(f.ctx, 264, data, sizeof data), CORIO_OK);
    assert_int_equal(f.read(f.ctx, 264, buf, sizeof data), CORIO_OK);
    assert_memory_equal(buf, data, sizeof data);
    /* unaligned reads are fine */
    assert_int_equal(f.read(f.ctx, 265, buf, 3), CORIO_OK);
    assert_memory_equal(buf, data + 1, 3);

    /* the rules on addresses */
    assert_int_equal(f.program(f.ctx, 4, data, 8), CORIO_ERR_INVAL);    /* misaligned */
    assert_int_equal(f.program(f.ctx, 0, data, 4), CORIO_ERR_INVAL);    /* partial unit */
    assert_int_equal(f.program(f.ctx, 1024, data, 8), CORIO_ERR_INVAL); /* outside */
    assert_int_equal(f.read(f.ctx, 1020, buf, 8), CORIO_ERR_INVAL);
    assert_int_equal(f.erase(f.ctx, 4), CORIO_ERR_INVAL);

    /* erase brings the sector, and only it, back to 0xFF */
    assert_int_equal(f.program(f.ctx, 0, data, 8), CORIO_OK);
    assert_int_equal(f.erase(f.ctx, 1), CORIO_OK);
    assert_int_equal(f.read(f.ctx, 256, buf, 256), CORIO_OK);
    for (size_t i = 0; i < 256; i++)
        assert_int_equal(buf[i], 0xFF);
    assert_int_equal(f.read(f.ctx, 0, buf, 8), CORIO_OK);
    assert_memory_equal(buf, data, 8);
    /* and the unit may be programmed again */
    assert_int_equal(f.program(f.ctx, 264, data, sizeof data), CORIO_OK);
    corio_posix_flash_close(&pf);
    corio_posix_flash_close(&pf); /* twice is harmless */
}

static void writes_over_data_are_caught(void **state)
{
    struct tmp *t = *state;
    struct corio_posix_flash pf;
    struct corio_flash f;
    uint8_t a[8], b[8], buf[8];
    memset(a, 0xF0, sizeof a);
    memset(b, 0x0F, sizeof b);
    assert_int_equal(corio_posix_flash_open(&pf, t->path, 256, 2, 8, CORIO_POSIX_FLASH_NO_ABORT),
                     CORIO_OK);
    corio_posix_flash_port(&pf, &f);
    assert_int_equal(f.program(f.ctx, 8, a, 8), CORIO_OK);
    /* setting bits: refused, nothing changes */
    assert_int_equal(f.program(f.ctx, 8, b, 8), CORIO_ERR_STATE);
    assert_int_equal(pf.violations, 1);
    assert_int_equal(f.read(f.ctx, 8, buf, 8), CORIO_OK);
    assert_memory_equal(buf, a, 8);
    /* only clearing bits, but the unit was programmed: refused on a program-once part */
    memset(b, 0x80, sizeof b);
    assert_int_equal(f.program(f.ctx, 8, b, 8), CORIO_ERR_STATE);
    assert_int_equal(pf.violations, 2);
    /* a multi-unit program that touches one bad unit changes nothing at all */
    uint8_t two[16];
    memset(two, 0x00, sizeof two);
    assert_int_equal(f.program(f.ctx, 0, two, 16), CORIO_ERR_STATE);
    assert_int_equal(f.read(f.ctx, 0, buf, 8), CORIO_OK);
    for (size_t i = 0; i < 8; i++)
        assert_int_equal(buf[i], 0xFF);
    corio_posix_flash_close(&pf);

    /* the programmed state survives reopening the file */
    assert_int_equal(corio_posix_flash_open(&pf, t->path, 256, 2, 8, CORIO_POSIX_FLASH_NO_ABORT),
                     CORIO_OK);
    corio_posix_flash_port(&pf, &f);
    assert_int_equal(f.program(f.ctx, 8, b, 8), CORIO_ERR_STATE);
    corio_posix_flash_close(&pf);

    /* plain NOR: clearing further bits of a programmed unit is allowed */
    assert_int_equal(
        corio_posix_flash_open(&pf, t->path, 256, 2, 8,
                               CORIO_POSIX_FLASH_NO_ABORT | CORIO_POSIX_FLASH_REPROGRAM),
        CORIO_OK);
    corio_posix_flash_port(&pf, &f);
    assert_int_equal(f.flags, CORIO_FLASH_F_REPROGRAM);
    assert_int_equal(f.program(f.ctx, 8, b, 8), CORIO_OK);
    assert_int_equal(f.read(f.ctx, 8, buf, 8), CORIO_OK);
    for (size_t i = 0; i < 8; i++)
        assert_int_equal(buf[i], 0x80);
    memset(b, 0x7F, sizeof b); /* would set bit 7 back */
    assert_int_equal(f.program(f.ctx, 8, b, 8), CORIO_ERR_STATE);
    corio_posix_flash_close(&pf);
}

static void by_default_a_violation_aborts(void **state)
{
    struct tmp *t = *state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct corio_posix_flash pf;
        struct corio_flash f;
        uint8_t z[4] = {0}, o[4] = {0xFF, 0xFF, 0xFF, 0xFF};
        if (corio_posix_flash_open(&pf, t->path, 256, 2, 4, 0) != CORIO_OK)
            _exit(2);
        corio_posix_flash_port(&pf, &f);
        if (f.program(f.ctx, 0, z, 4) != CORIO_OK)
            _exit(3);
        (void)f.program(f.ctx, 0, o, 4); /* sets bits: must not return */
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
}

static void open_checks_geometry_and_size(void **state)
{
    struct tmp *t = *state;
    struct corio_posix_flash pf;
    assert_int_equal(corio_posix_flash_open(&pf, t->path, 256, 4, 3, 0), CORIO_ERR_INVAL);
    assert_int_equal(corio_posix_flash_open(&pf, t->path, 250, 4, 8, 0), CORIO_ERR_INVAL);
    assert_int_equal(corio_posix_flash_open(&pf, t->path, 256, 0, 8, 0), CORIO_ERR_INVAL);
    assert_int_equal(corio_posix_flash_open(&pf, t->path, 256, 4, 64, 0), CORIO_ERR_INVAL);
    assert_int_equal(corio_posix_flash_open(&pf, NULL, 256, 4, 8, 0), CORIO_ERR_INVAL);
    assert_int_equal(corio_posix_flash_open(NULL, t->path, 256, 4, 8, 0), CORIO_ERR_INVAL);
    assert_int_equal(corio_posix_flash_open(&pf, "/nonexistent-dir/x", 256, 4, 8, 0), CORIO_ERR_IO);
    assert_int_equal(corio_posix_flash_open(&pf, t->path, 256, 4, 8, 0), CORIO_OK);
    corio_posix_flash_close(&pf);
    /* an existing file of another size is not silently resized */
    assert_int_equal(corio_posix_flash_open(&pf, t->path, 256, 8, 8, 0), CORIO_ERR_INVAL);
    assert_int_equal(pf.fd, -1);
}

static void outbox_on_a_file(void **state)
{
    struct tmp *t = *state;
    struct corio_posix_flash pf;
    struct corio_flash f;
    struct corio_dev_outbox ob;
    struct corio_dev_outbox_config cfg = {.fresh_epoch = 0xC0FFEE};
    struct corio_dev_outbox_meta m = {
        .type = 2, .time_kind = CORIO_DEV_OUTBOX_TIME_UNIX_MS, .time_ms = 1764500000123ull};
    struct corio_dev_outbox_stats st;
    char msg[64];

    /* an STM32L4-like part: 2 KiB pages, 8-byte words written once (the default
     * abort-on-violation mode: any outbox bug would end the test here) */
    assert_int_equal(corio_posix_flash_open(&pf, t->path, 2048, 8, 8, 0), CORIO_OK);
    corio_posix_flash_port(&pf, &f);
    assert_int_equal(corio_dev_outbox_open(&ob, &f, &cfg), CORIO_OK);
    for (uint32_t i = 1; i <= 300; i++) {
        int n = snprintf(msg, sizeof msg, "[{\"n\":\"temp\",\"v\":%u}]", i);
        uint32_t seq;
        assert_int_equal(corio_dev_outbox_append(&ob, &m, (const uint8_t *)msg, (size_t)n, &seq),
                         CORIO_OK);
        assert_int_equal(seq, i);
        if (i % 10 != 0)
            assert_int_equal(corio_dev_outbox_ack(&ob, seq), CORIO_OK);
    }
    assert_int_equal(corio_dev_outbox_stats(&ob, &st), CORIO_OK);
    struct corio_dev_outbox_stats before = st;
    corio_posix_flash_close(&pf);

    /* a new "process" */
    assert_int_equal(corio_posix_flash_open(&pf, t->path, 2048, 8, 8, 0), CORIO_OK);
    corio_posix_flash_port(&pf, &f);
    assert_int_equal(corio_dev_outbox_open(&ob, &f, &cfg), CORIO_OK);
    assert_int_equal(corio_dev_outbox_stats(&ob, &st), CORIO_OK);
    assert_int_equal(st.opened, CORIO_DEV_OUTBOX_RECOVERED);
    assert_int_equal(st.epoch, 0xC0FFEE);
    assert_int_equal(st.last_seq, 300);
    assert_int_equal(st.depth, before.depth);
    assert_int_equal(st.drops, before.drops);
    assert_int_equal(st.entries, before.entries);
    /* the resend path: exactly the unacknowledged ones, in order */
    struct corio_dev_outbox_iter it;
    struct corio_dev_outbox_entry e;
    uint8_t buf[64];
    uint32_t count = 0, prev = 0;
    corio_dev_outbox_iter_init(&it, 0);
    while (corio_dev_outbox_iter_next(&ob, &it, CORIO_DEV_OUTBOX_UNACKED, &e, buf, sizeof buf) ==
           CORIO_OK) {
        assert_int_equal(e.seq % 10, 0);
        assert_true(e.seq > prev);
        prev = e.seq;
        int n = snprintf(msg, sizeof msg, "[{\"n\":\"temp\",\"v\":%u}]", e.seq);
        assert_int_equal(e.len, (size_t)n);
        assert_memory_equal(buf, msg, e.len);
        assert_true(e.meta.time_ms == 1764500000123ull);
        count++;
    }
    assert_int_equal(count, st.depth);
    assert_int_equal(st.drops + st.depth, 30);
    assert_int_equal(pf.violations, 0);
    corio_posix_flash_close(&pf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(new_file_is_erased_and_nor_like, setup, teardown),
        cmocka_unit_test_setup_teardown(writes_over_data_are_caught, setup, teardown),
        cmocka_unit_test_setup_teardown(by_default_a_violation_aborts, setup, teardown),
        cmocka_unit_test_setup_teardown(open_checks_geometry_and_size, setup, teardown),
        cmocka_unit_test_setup_teardown(outbox_on_a_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
