/* test_outbox.c - the device outbox's behaviour on a simulated NOR flash: append,
 * ack in any order, iterate, lookup, reboot, wrap-around drops, wear, formats, and
 * opening damaged images. Power cuts are in test_outbox_powercut.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "corio/crc32.h"
#include "corio/outbox.h"

#define SIM_VIOLATION(msg) fail_msg("flash rule broken: %s", msg)
#include "test_outbox_sim.h"

/* The payload of the i-th message of a test: length and bytes follow from i. */
static size_t gen(uint32_t i, uint8_t *buf, size_t maxlen)
{
    size_t len = (i * 7u + 3u) % (maxlen + 1u);
    for (size_t k = 0; k < len; k++)
        buf[k] = (uint8_t)(i * 31u + k * 13u + (i >> 8));
    return len;
}

static struct corio_dev_outbox_meta meta_for(uint32_t i)
{
    struct corio_dev_outbox_meta m = {0};
    m.type = (uint8_t)(i % 5u);
    m.time_kind = (uint8_t)(i % 3u);
    m.boot_count = i / 10u;
    m.time_ms = 1764500000000ull + i * 1000ull;
    return m;
}

static void open_ok(struct corio_dev_outbox *ob, struct sim *s, uint32_t epoch, uint8_t want)
{
    struct corio_flash f;
    struct corio_dev_outbox_config cfg = {.fresh_epoch = epoch};
    struct corio_dev_outbox_stats st;
    sim_port(s, &f);
    assert_int_equal(corio_dev_outbox_open(ob, &f, &cfg), CORIO_OK);
    assert_int_equal(corio_dev_outbox_stats(ob, &st), CORIO_OK);
    assert_int_equal(st.opened, want);
}

static uint32_t append_i(struct corio_dev_outbox *ob, uint32_t i, size_t maxlen)
{
    uint8_t buf[512];
    size_t len = gen(i, buf, maxlen);
    struct corio_dev_outbox_meta m = meta_for(i);
    uint32_t seq = 0;
    assert_int_equal(corio_dev_outbox_append(ob, &m, buf, len, &seq), CORIO_OK);
    return seq;
}

/* The entry with seq holds message i. */
static void expect_entry(struct corio_dev_outbox *ob, uint32_t seq, uint32_t i, size_t maxlen,
                         bool acked)
{
    uint8_t want[512], got[512];
    size_t len = gen(i, want, maxlen);
    struct corio_dev_outbox_entry e;
    struct corio_dev_outbox_meta m = meta_for(i);
    assert_int_equal(corio_dev_outbox_get(ob, seq, &e, got, sizeof got), CORIO_OK);
    assert_int_equal(e.seq, seq);
    assert_int_equal(e.len, len);
    assert_memory_equal(got, want, len);
    assert_int_equal(e.meta.type, m.type);
    assert_int_equal(e.meta.time_kind, m.time_kind);
    assert_int_equal(e.meta.boot_count, m.boot_count);
    assert_true(e.meta.time_ms == m.time_ms);
    assert_int_equal(e.acked, acked);
}

/* CRC-32 as in IEEE 802.3 and zlib: the catalogued check value, and chaining. */
static void crc32_known_values(void **state)
{
    (void)state;
    const char *check = "123456789";
    assert_int_equal(corio_crc32(0, check, 9), 0xCBF43926u);
    assert_int_equal(corio_crc32(corio_crc32(0, check, 4), check + 4, 5), 0xCBF43926u);
    assert_int_equal(corio_crc32(0, NULL, 0), 0);
    assert_int_equal(corio_crc32(0, "a", 1), 0xE8B7BE43u);
    uint8_t zeros[32] = {0};
    assert_int_equal(corio_crc32(0, zeros, sizeof zeros), 0x190A55ADu);
}

static void append_ack_iterate_lookup(void **state)
{
    (void)state;
    struct sim s;
    struct corio_dev_outbox ob;
    sim_init(&s, 1024, 8, 8, 0);
    open_ok(&ob, &s, 0x1234, CORIO_DEV_OUTBOX_FORMATTED_BLANK);

    uint32_t seqs[20];
    for (uint32_t i = 0; i < 20; i++) {
        seqs[i] = append_i(&ob, i, 100);
        assert_int_equal(seqs[i], i + 1u); /* seq starts at 1 and counts up */
    }
    for (uint32_t i = 0; i < 20; i++)
        expect_entry(&ob, seqs[i], i, 100, false);

    struct corio_dev_outbox_stats st;
    assert_int_equal(corio_dev_outbox_stats(&ob, &st), CORIO_OK);
    assert_int_equal(st.epoch, 0x1234);
    assert_int_equal(st.last_seq, 20);
    assert_int_equal(st.depth, 20);
    assert_int_equal(st.entries, 20);
    assert_int_equal(st.drops, 0);
    assert_int_equal(st.oldest_seq, 1);

    assert_int_equal(corio_dev_outbox_ack(&ob, 5), CORIO_OK);
    assert_int_equal(corio_dev_outbox_ack(&ob, 5), CORIO_OK); /* twice is harmless */
    assert_int_equal(corio_dev_outbox_ack(&ob, 99), CORIO_ERR_NOTFOUND);
    assert_int_equal(corio_dev_outbox_ack(&ob, 0), CORIO_ERR_NOTFOUND);
    expect_entry(&ob, 5, 4, 100, true);

    /* every entry in order, then the unacknowledged ones */
    struct corio_dev_outbox_iter it;
    struct corio_dev_outbox_entry e;
    uint8_t buf[512];
    corio_dev_outbox_iter_init(&it, 0);
    for (uint32_t i = 0; i < 20; i++) {
        assert_int_equal(corio_dev_outbox_iter_next(&ob, &it, 0, &e, buf, sizeof buf), CORIO_OK);
        assert_int_equal(e.seq, i + 1u);
        assert_int_equal(e.acked, i == 4);
    }
    assert_int_equal(corio_dev_outbox_iter_next(&ob, &it, 0, &e, buf, sizeof buf),
                     CORIO_ERR_NOTFOUND);
    corio_dev_outbox_iter_init(&it, 0);
    for (uint32_t i = 0; i < 19; i++) {
        assert_int_equal(
            corio_dev_outbox_iter_next(&ob, &it, CORIO_DEV_OUTBOX_UNACKED, &e, buf, sizeof buf),
            CORIO_OK);
        assert_int_not_equal(e.seq, 5);
        assert_false(e.acked);
    }
    assert_int_equal(
        corio_dev_outbox_iter_next(&ob, &it, CORIO_DEV_OUTBOX_UNACKED, &e, buf, sizeof buf),
        CORIO_ERR_NOTFOUND);
    /* the iterator stays, and finds what is appended later */
    uint32_t s21 = append_i(&ob, 20, 100);
    assert_int_equal(
        corio_dev_outbox_iter_next(&ob, &it, CORIO_DEV_OUTBOX_UNACKED, &e, buf, sizeof buf),
        CORIO_OK);
    assert_int_equal(e.seq, s21);

    /* "resend from seq 12" */
    corio_dev_outbox_iter_init(&it, 11);
    assert_int_equal(corio_dev_outbox_iter_next(&ob, &it, 0, &e, NULL, 0), CORIO_OK);
    assert_int_equal(e.seq, 12);

    /* a buffer too small: the iterator does not move */
    corio_dev_outbox_iter_init(&it, 0);
    uint8_t tiny[1];
    int ret = corio_dev_outbox_iter_next(&ob, &it, 0, &e, tiny, sizeof tiny);
    while (ret == CORIO_OK)
        ret = corio_dev_outbox_iter_next(&ob, &it, 0, &e, tiny, sizeof tiny);
    assert_int_equal(ret, CORIO_ERR_NOSPACE);
    uint32_t stuck = e.seq;
    assert_int_equal(corio_dev_outbox_iter_next(&ob, &it, 0, &e, buf, sizeof buf), CORIO_OK);
    assert_int_equal(e.seq, stuck);
    assert_int_equal(corio_dev_outbox_get(&ob, stuck, &e, tiny, sizeof tiny), CORIO_ERR_NOSPACE);
    assert_int_equal(e.seq, stuck);
    sim_free(&s);
}

static void out_of_order_acks(void **state)
{
    (void)state;
    struct sim s;
    struct corio_dev_outbox ob;
    sim_init(&s, 1024, 6, 4, 0);
    open_ok(&ob, &s, 7, CORIO_DEV_OUTBOX_FORMATTED_BLANK);
    for (uint32_t i = 0; i < 12; i++)
        append_i(&ob, i, 40);
    /* as PUBACKs arrive with several publishes in flight */
    uint32_t order[] = {3, 1, 2, 7, 12, 5};
    for (size_t k = 0; k < sizeof order / sizeof *order; k++)
        assert_int_equal(corio_dev_outbox_ack(&ob, order[k]), CORIO_OK);
    struct corio_dev_outbox_stats st;
    assert_int_equal(corio_dev_outbox_stats(&ob, &st), CORIO_OK);
    assert_int_equal(st.depth, 6);

    uint32_t want[] = {4, 6, 8, 9, 10, 11};
    struct corio_dev_outbox_iter it;
    struct corio_dev_outbox_entry e;
    corio_dev_outbox_iter_init(&it, 0);
    for (size_t k = 0; k < 6; k++) {
        assert_int_equal(
            corio_dev_outbox_iter_next(&ob, &it, CORIO_DEV_OUTBOX_UNACKED, &e, NULL, 0), CORIO_OK);
        assert_int_equal(e.seq, want[k]);
    }
    assert_int_equal(corio_dev_outbox_iter_next(&ob, &it, CORIO_DEV_OUTBOX_UNACKED, &e, NULL, 0),
                     CORIO_ERR_NOTFOUND);
    /* acks beyond the cache: found by scanning */
    for (uint32_t i = 12; i < 40; i++)
        append_i(&ob, i, 40);
    assert_int_equal(corio_dev_outbox_ack(&ob, 4), CORIO_OK);
    assert_int_equal(corio_dev_outbox_ack(&ob, 11), CORIO_OK);
    expect_entry(&ob, 4, 3, 40, true);
    expect_entry(&ob, 11, 10, 40, true);
    expect_entry(&ob, 10, 9, 40, false);
    sim_free(&s);
}

static void reboot_keeps_everything(void **state)
{
    (void)state;
    struct sim s;
    struct corio_dev_outbox ob;
    sim_init(&s, 512, 5, 8, 0);
    open_ok(&ob, &s, 99, CORIO_DEV_OUTBOX_FORMATTED_BLANK);
    /* enough to wrap, so that drops are counted too */
    for (uint32_t i = 0; i < 60; i++) {
        append_i(&ob, i, 60);
        if (i % 3 == 0)
            assert_int_equal(corio_dev_outbox_ack(&ob, i + 1u), CORIO_OK);
    }
    struct corio_dev_outbox_stats before, after;
    assert_int_equal(corio_dev_outbox_stats(&ob, &before), CORIO_OK);
    assert_true(before.drops > 0);

    for (int boot = 0; boot < 3; boot++) {
        open_ok(&ob, &s, 1000u + (uint32_t)boot, CORIO_DEV_OUTBOX_RECOVERED);
        assert_int_equal(corio_dev_outbox_stats(&ob, &after), CORIO_OK);
        assert_int_equal(after.epoch, 99);
        assert_int_equal(after.last_seq, before.last_seq);
        assert_int_equal(after.depth, before.depth);
        assert_int_equal(after.entries, before.entries);
        assert_int_equal(after.drops, before.drops);
        assert_int_equal(after.oldest_seq, before.oldest_seq);
        assert_int_equal(after.corrupt, 0);
        for (uint32_t seq = after.oldest_seq; seq <= after.last_seq; seq++)
            expect_entry(&ob, seq, seq - 1u, 60, (seq - 1u) % 3 == 0);
    }
    /* and it carries on where it stopped */
    assert_int_equal(append_i(&ob, 60, 60), 61);
    sim_free(&s);
}

static void wrap_drops_oldest_and_counts(void **state)
{
    (void)state;
    struct sim s;
    struct corio_dev_outbox ob;
    sim_init(&s, 512, 4, 8, 0);
    open_ok(&ob, &s, 5, CORIO_DEV_OUTBOX_FORMATTED_BLANK);
    uint8_t buf[512];
    memset(buf, 0x5A, sizeof buf);
    struct corio_dev_outbox_meta m = {0};
    uint32_t seq, acked = 0, n = 0;
    struct corio_dev_outbox_stats st;
    /* Fill until the first drop, acknowledging every other message. */
    for (;;) {
        assert_int_equal(corio_dev_outbox_append(&ob, &m, buf, 50, &seq), CORIO_OK);
        n++;
        if (seq % 2 == 0) {
            assert_int_equal(corio_dev_outbox_ack(&ob, seq), CORIO_OK);
            acked++;
        }
        assert_int_equal(corio_dev_outbox_stats(&ob, &st), CORIO_OK);
        if (st.oldest_seq > 1)
            break;
        assert_true(n < 1000);
    }
    /* the whole oldest sector went: seqs 1 .. oldest-1, the odd ones unacknowledged */
    uint32_t gone = st.oldest_seq - 1u;
    assert_int_equal(st.drops, (gone + 1u) / 2u);
    assert_int_equal(st.entries, n - gone);
    assert_int_equal(corio_dev_outbox_get(&ob, 1, &(struct corio_dev_outbox_entry){0}, NULL, 0),
                     CORIO_ERR_NOTFOUND);
    assert_int_equal(corio_dev_outbox_ack(&ob, 1), CORIO_ERR_NOTFOUND);
    /* the unacknowledged iteration starts at the oldest that is left */
    struct corio_dev_outbox_iter it;
    struct corio_dev_outbox_entry e;
    corio_dev_outbox_iter_init(&it, 0);
    assert_int_equal(corio_dev_outbox_iter_next(&ob, &it, CORIO_DEV_OUTBOX_UNACKED, &e, NULL, 0),
                     CORIO_OK);
    assert_true(e.seq >= st.oldest_seq);
    /* many more wraps: drops go on growing by the unacknowledged ones only */
    for (uint32_t i = 0; i < 300; i++)
        assert_int_equal(corio_dev_outbox_append(&ob, &m, buf, 50, &seq), CORIO_OK);
    assert_int_equal(corio_dev_outbox_stats(&ob, &st), CORIO_OK);
    assert_int_equal(st.drops + st.depth + acked, seq);
    assert_int_equal(st.last_seq, seq);
    /* it survives a reboot */
    uint32_t drops = st.drops;
    open_ok(&ob, &s, 6, CORIO_DEV_OUTBOX_RECOVERED);
    assert_int_equal(corio_dev_outbox_stats(&ob, &st), CORIO_OK);
    assert_int_equal(st.drops, drops);
    sim_free(&s);
}

static void wear_spreads_across_sectors(void **state)
{
    (void)state;
    struct sim s;
    struct corio_dev_outbox ob;
    sim_init(&s, 512, 8, 4, 0);
    open_ok(&ob, &s, 5, CORIO_DEV_OUTBOX_FORMATTED_BLANK);
    struct corio_dev_outbox_meta m = {0};
    uint8_t buf[64] = {0};
    for (uint32_t i = 0; i < 3000; i++) {
        assert_int_equal(corio_dev_outbox_append(&ob, &m, buf, i % 40, NULL), CORIO_OK);
        if (i % 500 == 0) /* reboots do not concentrate wear either */
            open_ok(&ob, &s, 5, CORIO_DEV_OUTBOX_RECOVERED);
    }
    uint32_t lo = UINT32_MAX, hi = 0;
    for (uint32_t i = 0; i < 8; i++) {
        lo = s.sector_erases[i] < lo ? s.sector_erases[i] : lo;
        hi = s.sector_erases[i] > hi ? s.sector_erases[i] : hi;
    }
    assert_true(lo > 50);
    assert_true(hi - lo <= 1);
    struct corio_dev_outbox_stats st;
    assert_int_equal(corio_dev_outbox_stats(&ob, &st), CORIO_OK);
    assert_int_equal(st.erase_min, lo);
    assert_int_equal(st.erase_max, hi);
    sim_free(&s);
}

static void open_reports_what_it_found(void **state)
{
    (void)state;
    struct sim s;
    struct corio_dev_outbox ob;
    struct corio_flash f;
    struct corio_dev_outbox_config nofmt = {.fresh_epoch = 3, .flags = CORIO_DEV_OUTBOX_NO_FORMAT};
    sim_init(&s, 512, 4, 8, 0);
    sim_port(&s, &f);
    assert_int_equal(corio_dev_outbox_open(&ob, &f, &nofmt), CORIO_ERR_NOTFOUND);
    assert_int_equal(
        corio_dev_outbox_append(&ob, &(struct corio_dev_outbox_meta){0}, NULL, 0, NULL),
        CORIO_ERR_STATE);

    /* garbage everywhere */
    for (uint32_t i = 0; i < s.size; i++)
        s.mem[i] = (uint8_t)(i * 37u + 11u);
    sim_mark_written(&s);
    assert_int_equal(corio_dev_outbox_open(&ob, &f, &nofmt), CORIO_ERR_MALFORMED);
    open_ok(&ob, &s, 3, CORIO_DEV_OUTBOX_FORMATTED_CORRUPT);
    assert_int_equal(append_i(&ob, 0, 30), 1);
    open_ok(&ob, &s, 4, CORIO_DEV_OUTBOX_RECOVERED);
    expect_entry(&ob, 1, 0, 30, false);

    /* the same image seen with another program unit is foreign */
    struct corio_dev_outbox ob2;
    struct sim s2;
    sim_init(&s2, 512, 4, 16, 0);
    memcpy(s2.mem, s.mem, s.size);
    sim_mark_written(&s2);
    sim_port(&s2, &f);
    assert_int_equal(corio_dev_outbox_open(&ob2, &f, &nofmt), CORIO_ERR_VERSION);
    open_ok(&ob2, &s2, 8, CORIO_DEV_OUTBOX_FORMATTED_FOREIGN);

    /* a future format version is foreign too */
    memcpy(s2.mem, s.mem, s.size);
    for (uint32_t i = 0; i < 4; i++)
        if (s2.mem[i * 512] == 'C')
            s2.mem[i * 512 + 4] = 0; /* clears bits only, as a writer could */
    sim_port(&s2, &f);
    sim_mark_written(&s2);
    assert_int_equal(corio_dev_outbox_open(&ob2, &f, &nofmt), CORIO_ERR_VERSION);
    sim_free(&s2);

    /* geometry the outbox cannot use */
    struct sim bad;
    sim_init(&bad, 128, 4, 8, 0);
    sim_port(&bad, &f);
    assert_int_equal(corio_dev_outbox_open(&ob2, &f, NULL), CORIO_ERR_INVAL);
    f.sector_size = 1024;
    f.sector_count = 1;
    assert_int_equal(corio_dev_outbox_open(&ob2, &f, NULL), CORIO_ERR_INVAL);
    f.sector_count = 4;
    f.prog_size = 3;
    assert_int_equal(corio_dev_outbox_open(&ob2, &f, NULL), CORIO_ERR_INVAL);
    f.prog_size = 64;
    assert_int_equal(corio_dev_outbox_open(&ob2, &f, NULL), CORIO_ERR_INVAL);
    assert_int_equal(corio_dev_outbox_open(NULL, &f, NULL), CORIO_ERR_INVAL);
    sim_free(&bad);
    sim_free(&s);
}

static void format_starts_a_new_epoch(void **state)
{
    (void)state;
    struct sim s;
    struct corio_dev_outbox ob;
    sim_init(&s, 512, 4, 8, 0);
    open_ok(&ob, &s, 42, CORIO_DEV_OUTBOX_FORMATTED_BLANK);
    for (uint32_t i = 0; i < 10; i++)
        append_i(&ob, i, 30);
    /* asking for the epoch in use still gets a new one */
    assert_int_equal(corio_dev_outbox_format(&ob, 42), CORIO_OK);
    struct corio_dev_outbox_stats st;
    assert_int_equal(corio_dev_outbox_stats(&ob, &st), CORIO_OK);
    assert_int_not_equal(st.epoch, 42);
    assert_int_not_equal(st.epoch, 0);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.last_seq, 0);
    assert_int_equal(st.opened, CORIO_DEV_OUTBOX_FORMATTED_REQUESTED);
    uint32_t epoch = st.epoch;
    assert_int_equal(append_i(&ob, 100, 30), 1);
    assert_int_equal(corio_dev_outbox_get(&ob, 5, &(struct corio_dev_outbox_entry){0}, NULL, 0),
                     CORIO_ERR_NOTFOUND);
    open_ok(&ob, &s, 42, CORIO_DEV_OUTBOX_RECOVERED);
    assert_int_equal(corio_dev_outbox_stats(&ob, &st), CORIO_OK);
    assert_int_equal(st.epoch, epoch);
    assert_int_equal(st.entries, 1);
    expect_entry(&ob, 1, 100, 30, false);
    /* the old epoch's sectors are reused as the ring goes round */
    for (uint32_t i = 0; i < 40; i++)
        append_i(&ob, 200 + i, 30);
    open_ok(&ob, &s, 42, CORIO_DEV_OUTBOX_RECOVERED);
    assert_int_equal(corio_dev_outbox_stats(&ob, &st), CORIO_OK);
    assert_int_equal(st.epoch, epoch);
    assert_int_equal(st.last_seq, 41);
    sim_free(&s);
}

static void arguments_and_limits(void **state)
{
    (void)state;
    struct sim s;
    struct corio_dev_outbox ob;
    sim_init(&s, 512, 4, 8, 0);
    open_ok(&ob, &s, 1, CORIO_DEV_OUTBOX_FORMATTED_BLANK);
    size_t max = corio_dev_outbox_max_payload(&ob);
    assert_true(max > 100 && max < 512);
    uint8_t buf[512];
    memset(buf, 0, sizeof buf);
    struct corio_dev_outbox_meta m = {0};
    uint32_t seq;
    assert_int_equal(corio_dev_outbox_append(&ob, &m, buf, max + 1, &seq), CORIO_ERR_NOSPACE);
    for (int i = 0; i < 10; i++) /* each takes a sector of its own */
        assert_int_equal(corio_dev_outbox_append(&ob, &m, buf, max, &seq), CORIO_OK);
    assert_int_equal(corio_dev_outbox_append(&ob, NULL, buf, 1, &seq), CORIO_ERR_INVAL);
    assert_int_equal(corio_dev_outbox_append(&ob, &m, NULL, 1, &seq), CORIO_ERR_INVAL);
    assert_int_equal(corio_dev_outbox_append(&ob, &m, NULL, 0, NULL), CORIO_OK);
    m.time_kind = 3;
    assert_int_equal(corio_dev_outbox_append(&ob, &m, buf, 1, &seq), CORIO_ERR_INVAL);
    assert_int_equal(corio_dev_outbox_get(&ob, 1, NULL, NULL, 0), CORIO_ERR_INVAL);
    assert_int_equal(corio_dev_outbox_stats(&ob, NULL), CORIO_ERR_INVAL);

    /* free space shrinks with appends and the capacity does not move */
    struct corio_dev_outbox_stats a, b;
    assert_int_equal(corio_dev_outbox_format(&ob, 9), CORIO_OK);
    assert_int_equal(corio_dev_outbox_stats(&ob, &a), CORIO_OK);
    m.time_kind = 0;
    assert_int_equal(corio_dev_outbox_append(&ob, &m, buf, 20, &seq), CORIO_OK);
    assert_int_equal(corio_dev_outbox_stats(&ob, &b), CORIO_OK);
    assert_int_equal(b.capacity_bytes, a.capacity_bytes);
    assert_true(b.free_bytes < a.free_bytes);
    assert_true(a.free_bytes <= a.capacity_bytes);
    sim_free(&s);
}

static void torn_ack_unit(void **state)
{
    (void)state;
    for (int reprogram = 0; reprogram < 2; reprogram++) {
        struct sim s;
        struct corio_dev_outbox ob;
        sim_init(&s, 512, 4, 8, reprogram ? CORIO_FLASH_F_REPROGRAM : 0);
        open_ok(&ob, &s, 1, CORIO_DEV_OUTBOX_FORMATTED_BLANK);
        append_i(&ob, 0, 10);
        append_i(&ob, 1, 10);
        /* cut the ack of seq 1 after 2 of its 8 bytes */
        s.budget = 2;
        assert_int_equal(corio_dev_outbox_ack(&ob, 1), CORIO_ERR_IO);
        sim_power_on(&s);
        open_ok(&ob, &s, 1, CORIO_DEV_OUTBOX_RECOVERED);
        /* two zero bytes of eight: read as not acknowledged, so it is resent */
        expect_entry(&ob, 1, 0, 10, false);
        if (reprogram) {
            assert_int_equal(corio_dev_outbox_ack(&ob, 1), CORIO_OK);
            expect_entry(&ob, 1, 0, 10, true);
        } else {
            /* an ECC part cannot take the unit again: the entry stays unacked */
            assert_int_equal(corio_dev_outbox_ack(&ob, 1), CORIO_ERR_IO);
            expect_entry(&ob, 1, 0, 10, false);
        }
        assert_int_equal(corio_dev_outbox_ack(&ob, 2), CORIO_OK);
        sim_free(&s);
    }
}

static void unreadable_units_are_skipped(void **state)
{
    (void)state;
    struct sim s;
    struct corio_dev_outbox ob;
    sim_init(&s, 512, 4, 8, 0);
    open_ok(&ob, &s, 1, CORIO_DEV_OUTBOX_FORMATTED_BLANK);
    for (uint32_t i = 0; i < 6; i++)
        append_i(&ob, i, 20);
    /* a power cut leaves the next header's first word failing ECC */
    s.budget = 3;
    s.cut_mode = SIM_CUT_ECC;
    struct corio_dev_outbox_meta m = meta_for(6);
    uint8_t buf[32] = {0};
    assert_int_equal(corio_dev_outbox_append(&ob, &m, buf, 20, NULL), CORIO_ERR_IO);
    sim_power_on(&s);
    open_ok(&ob, &s, 1, CORIO_DEV_OUTBOX_RECOVERED);
    struct corio_dev_outbox_stats st;
    assert_int_equal(corio_dev_outbox_stats(&ob, &st), CORIO_OK);
    assert_int_equal(st.entries, 6);
    assert_int_equal(st.corrupt, 1);
    for (uint32_t i = 0; i < 6; i++)
        expect_entry(&ob, i + 1u, i, 20, false);
    /* appends go on past the bad word */
    uint32_t seq = append_i(&ob, 7, 20);
    assert_true(seq >= 7);
    open_ok(&ob, &s, 1, CORIO_DEV_OUTBOX_RECOVERED);
    expect_entry(&ob, seq, 7, 20, false);
    sim_free(&s);
}

static void damaged_record_is_skipped_not_fatal(void **state)
{
    (void)state;
    struct sim s;
    struct corio_dev_outbox ob;
    sim_init(&s, 1024, 4, 8, CORIO_FLASH_F_REPROGRAM);
    open_ok(&ob, &s, 1, CORIO_DEV_OUTBOX_FORMATTED_BLANK);
    for (uint32_t i = 0; i < 5; i++)
        append_i(&ob, i, 40);
    /* flip a payload bit of seq 3 (charge loss makes a 0 read as 1) */
    struct corio_dev_outbox_entry e;
    assert_int_equal(corio_dev_outbox_get(&ob, 3, &e, NULL, 0), CORIO_OK);
    assert_true(e.len > 0);
    uint32_t addr = ob.cache[2].addr; /* seq 3 was the third append */
    assert_int_equal(ob.cache[2].seq, 3);
    s.mem[addr + 32] ^= 0x01;
    open_ok(&ob, &s, 1, CORIO_DEV_OUTBOX_RECOVERED);
    struct corio_dev_outbox_stats st;
    assert_int_equal(corio_dev_outbox_stats(&ob, &st), CORIO_OK);
    assert_int_equal(st.entries, 4);
    assert_int_equal(st.corrupt, 1);
    assert_int_equal(corio_dev_outbox_get(&ob, 3, &e, NULL, 0), CORIO_ERR_NOTFOUND);
    expect_entry(&ob, 4, 3, 40, false);
    expect_entry(&ob, 5, 4, 40, false);
    assert_int_equal(append_i(&ob, 5, 40), 6);
    sim_free(&s);
}

/* Worn cells that do not take a program: the append must not report success for a
 * message that will not read back, and the outbox carries on after the bad spot. */
static void program_that_does_not_stick(void **state)
{
    (void)state;
    for (uint32_t where = 0; where < 120; where += 3) {
        struct sim s;
        struct corio_dev_outbox ob;
        sim_init(&s, 512, 4, 8, 0);
        open_ok(&ob, &s, 1, CORIO_DEV_OUTBOX_FORMATTED_BLANK);
        uint32_t first = append_i(&ob, 0, 30);
        /* somewhere in the next record: header, payload, padding or commit unit */
        s.stuck = true;
        s.stuck_addr = ob.pos + where;
        s.stuck_bits = 0x10;
        uint8_t buf[64];
        size_t len = gen(1, buf, 60);
        struct corio_dev_outbox_meta m = meta_for(1);
        uint32_t seq = 0;
        int ret = corio_dev_outbox_append(&ob, &m, buf, len, &seq);
        s.stuck = false;
        assert_true(ret == CORIO_OK || ret == CORIO_ERR_IO);
        uint32_t again = append_i(&ob, 2, 60);
        open_ok(&ob, &s, 1, CORIO_DEV_OUTBOX_RECOVERED);
        expect_entry(&ob, first, 0, 30, false);
        if (ret == CORIO_OK) /* the stuck bit was one the record leaves at 1 */
            expect_entry(&ob, seq, 1, 60, false);
        else
            assert_int_equal(
                corio_dev_outbox_get(&ob, 2, &(struct corio_dev_outbox_entry){0}, NULL, 0),
                CORIO_ERR_NOTFOUND);
        expect_entry(&ob, again, 2, 60, false);
        sim_free(&s);
    }
}

static void every_prog_size(void **state)
{
    (void)state;
    const uint32_t progs[] = {1, 2, 4, 8, 16, 32};
    for (size_t k = 0; k < sizeof progs / sizeof *progs; k++) {
        struct sim s;
        struct corio_dev_outbox ob;
        sim_init(&s, 2048, 3, progs[k], progs[k] <= 2 ? CORIO_FLASH_F_REPROGRAM : 0);
        open_ok(&ob, &s, 1, CORIO_DEV_OUTBOX_FORMATTED_BLANK);
        for (uint32_t i = 0; i < 100; i++) {
            uint32_t seq = append_i(&ob, i, 100);
            if (i % 4 != 1)
                assert_int_equal(corio_dev_outbox_ack(&ob, seq), CORIO_OK);
        }
        struct corio_dev_outbox_stats st;
        assert_int_equal(corio_dev_outbox_stats(&ob, &st), CORIO_OK);
        open_ok(&ob, &s, 1, CORIO_DEV_OUTBOX_RECOVERED);
        struct corio_dev_outbox_stats st2;
        assert_int_equal(corio_dev_outbox_stats(&ob, &st2), CORIO_OK);
        assert_int_equal(st2.entries, st.entries);
        assert_int_equal(st2.depth, st.depth);
        assert_int_equal(st2.drops, st.drops);
        assert_int_equal(st.drops + st.depth, 25);
        for (uint32_t seq = st2.oldest_seq; seq <= 100; seq++)
            expect_entry(&ob, seq, seq - 1u, 100, (seq - 1u) % 4 != 1);
        sim_free(&s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crc32_known_values),
        cmocka_unit_test(append_ack_iterate_lookup),
        cmocka_unit_test(out_of_order_acks),
        cmocka_unit_test(reboot_keeps_everything),
        cmocka_unit_test(wrap_drops_oldest_and_counts),
        cmocka_unit_test(wear_spreads_across_sectors),
        cmocka_unit_test(open_reports_what_it_found),
        cmocka_unit_test(format_starts_a_new_epoch),
        cmocka_unit_test(arguments_and_limits),
        cmocka_unit_test(torn_ack_unit),
        cmocka_unit_test(unreadable_units_are_skipped),
        cmocka_unit_test(damaged_record_is_skipped_not_fatal),
        cmocka_unit_test(program_that_does_not_stick),
        cmocka_unit_test(every_prog_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
