/* test_ota_store.c - the OTA store (include/corio/ota_store.h) on the outbox tests'
 * NOR flash simulator, which fails the test on a unit programmed twice or a bit set
 * without an erase.
 *
 * Behaviour: a blank and a corrupt region; trust anchors (versions only up, removal,
 * sizes, the CRC checked on read); the anti-rollback counter; the boot state machine
 * (try, select, confirm, fall back); many changes across many half swaps; a flash that
 * fails a write; the image writer, reads and the slot digest.
 *
 * Power cuts: a workload of every kind of change runs once to count the bytes and
 * erases it programs, then again for EVERY byte with the power cut after exactly that
 * many programmed bytes (and for every erase, during it), in each way the simulator
 * leaves the unit in flight (intact rest, random bits, reading erased until it settles
 * a boot later, unreadable). After each cut the store is reopened and must show either
 * the state before the change that was cut or the state after it, whole, never a mix;
 * the counter never below the last raise that returned; after the weak unit settles,
 * the same, and the counter no lower than before; then more changes must work on the
 * same flash and survive a reopen. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "corio/crc32.h"
#include "corio/crypto_psa.h"
#include "corio/ota_store.h"

static char g_when[160];
#define SIM_VIOLATION(msg) fail_msg("%s: flash rule broken: %s", g_when, msg)
#include "test_outbox_sim.h"

/* ---- a rig: a metadata region and two slots on simulators ---- */

struct rig {
    struct sim meta, a, b;
    struct corio_ota_layout lay;
    struct corio_ota_store s;
};

static void rig_init(struct rig *r, uint32_t sector, uint32_t sectors, uint32_t prog)
{
    memset(r, 0, sizeof *r);
    sim_init(&r->meta, sector, sectors, prog, 0);
    sim_init(&r->a, 256, 4, 8, 0);
    sim_init(&r->b, 256, 4, 8, 0);
    sim_port(&r->meta, &r->lay.meta);
    sim_port(&r->a, &r->lay.slot[0]);
    sim_port(&r->b, &r->lay.slot[1]);
}

static void rig_free(struct rig *r)
{
    sim_free(&r->meta);
    sim_free(&r->a);
    sim_free(&r->b);
}

static void rig_open(struct rig *r)
{
    assert_int_equal(corio_ota_open(&r->s, &r->lay), CORIO_OK);
}

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed * 37u + i * 11u + 1u);
}

/* ---- behaviour ---- */

static void blank_and_corrupt(void **state)
{
    (void)state;
    struct rig r;
    struct corio_ota_boot b;
    rig_init(&r, 256, 2, 8);
    rig_open(&r);
    assert_int_equal(r.s.opened, CORIO_OTA_BLANK);
    assert_int_equal(corio_ota_rollback(&r.s), 0);
    assert_int_equal(corio_ota_boot_get(&r.s, &b), CORIO_OK);
    assert_int_equal(b.state, CORIO_OTA_CONFIRMED);
    assert_int_equal(b.active, CORIO_OTA_SLOT_A);
    assert_int_equal(corio_ota_anchor_get(&r.s, 0, NULL, NULL, 0), CORIO_ERR_NOTFOUND);
    /* opening writes nothing: a bootloader may open read-only */
    assert_int_equal(r.meta.programmed, 0);
    assert_int_equal(r.meta.erases, 0);
    /* something written that is no state */
    r.meta.mem[100] = 0x12;
    sim_mark_written(&r.meta);
    rig_open(&r);
    assert_int_equal(r.s.opened, CORIO_OTA_CORRUPT);
    assert_int_equal(corio_ota_rollback(&r.s), 0);
    /* the first change formats it */
    assert_int_equal(corio_ota_rollback_raise(&r.s, 3), CORIO_OK);
    rig_open(&r);
    assert_int_equal(r.s.opened, CORIO_OTA_OPENED);
    assert_int_equal(corio_ota_rollback(&r.s), 3);
    rig_free(&r);
}

static void bad_layouts(void **state)
{
    (void)state;
    struct rig r;
    struct corio_ota_store s;
    rig_init(&r, 256, 2, 8);
    assert_int_equal(corio_ota_open(NULL, &r.lay), CORIO_ERR_INVAL);
    assert_int_equal(corio_ota_open(&s, NULL), CORIO_ERR_INVAL);
    struct corio_ota_layout l = r.lay;
    l.meta.sector_count = 3; /* not even */
    assert_int_equal(corio_ota_open(&s, &l), CORIO_ERR_INVAL);
    l = r.lay;
    l.meta.sector_count = 1;
    assert_int_equal(corio_ota_open(&s, &l), CORIO_ERR_INVAL);
    l = r.lay;
    l.meta.sector_size = 32; /* no room even for the empty state */
    assert_int_equal(corio_ota_open(&s, &l), CORIO_ERR_INVAL);
    l = r.lay;
    l.meta.prog_size = 3;
    assert_int_equal(corio_ota_open(&s, &l), CORIO_ERR_INVAL);
    l = r.lay;
    l.slot[1].program = NULL;
    assert_int_equal(corio_ota_open(&s, &l), CORIO_ERR_INVAL);
    rig_free(&r);
}

static void anchors(void **state)
{
    (void)state;
    struct rig r;
    uint8_t key[65], ca[300], buf[400];
    struct corio_ota_anchor_info info;
    fill(key, sizeof key, 1);
    key[0] = 0x04;
    fill(ca, sizeof ca, 2);
    rig_init(&r, 512, 4, 8);
    rig_open(&r);
    assert_int_equal(corio_ota_anchor_put(&r.s, 0, CORIO_OTA_ANCHOR_ES256, 1, key, sizeof key),
                     CORIO_OK);
    assert_int_equal(corio_ota_anchor_put(&r.s, 1, CORIO_OTA_ANCHOR_X509, 7, ca, sizeof ca),
                     CORIO_OK);
    for (int reopen = 0; reopen < 2; reopen++) {
        assert_int_equal(corio_ota_anchor_get(&r.s, 0, &info, buf, sizeof buf), (int)sizeof key);
        assert_memory_equal(buf, key, sizeof key);
        assert_int_equal(info.kind, CORIO_OTA_ANCHOR_ES256);
        assert_int_equal(info.version, 1);
        assert_int_equal(corio_ota_anchor_get(&r.s, 1, &info, buf, sizeof buf), (int)sizeof ca);
        assert_memory_equal(buf, ca, sizeof ca);
        assert_int_equal(info.version, 7);
        rig_open(&r);
    }
    /* versions only go up: an old anchor cannot come back */
    assert_int_equal(corio_ota_anchor_put(&r.s, 0, CORIO_OTA_ANCHOR_ES256, 1, key, sizeof key),
                     CORIO_ERR_POLICY);
    key[5] ^= 0xFF;
    assert_int_equal(corio_ota_anchor_put(&r.s, 0, CORIO_OTA_ANCHOR_ES256, 2, key, sizeof key),
                     CORIO_OK);
    assert_int_equal(corio_ota_anchor_get(&r.s, 0, &info, buf, sizeof buf), (int)sizeof key);
    assert_memory_equal(buf, key, sizeof key);
    /* removal keeps the version */
    assert_int_equal(corio_ota_anchor_put(&r.s, 1, CORIO_OTA_ANCHOR_X509, 8, NULL, 0), CORIO_OK);
    assert_int_equal(corio_ota_anchor_get(&r.s, 1, &info, buf, sizeof buf), CORIO_ERR_NOTFOUND);
    rig_open(&r);
    assert_int_equal(corio_ota_anchor_get(&r.s, 1, &info, buf, sizeof buf), CORIO_ERR_NOTFOUND);
    assert_int_equal(corio_ota_anchor_put(&r.s, 1, CORIO_OTA_ANCHOR_X509, 8, ca, sizeof ca),
                     CORIO_ERR_POLICY);
    assert_int_equal(corio_ota_anchor_put(&r.s, 1, CORIO_OTA_ANCHOR_X509, 9, ca, 10), CORIO_OK);
    /* a small buffer gets the size */
    assert_int_equal(corio_ota_anchor_get(&r.s, 0, &info, buf, 10), CORIO_ERR_NOSPACE);
    assert_int_equal(info.len, sizeof key);
    /* the anchors must fit a half (1024 bytes here) together */
    static uint8_t big[CORIO_OTA_ANCHOR_MAX];
    assert_int_equal(corio_ota_anchor_put(&r.s, 2, CORIO_OTA_ANCHOR_RAW, 1, big, 900),
                     CORIO_ERR_NOSPACE);
    assert_int_equal(corio_ota_anchor_put(&r.s, 2, CORIO_OTA_ANCHOR_RAW, 1, big, 700), CORIO_OK);
    /* argument checks */
    assert_int_equal(corio_ota_anchor_put(&r.s, CORIO_OTA_MAX_ANCHORS, 1, 1, key, 1),
                     CORIO_ERR_INVAL);
    assert_int_equal(corio_ota_anchor_put(&r.s, 0, 0, 9, key, 1), CORIO_ERR_INVAL);
    assert_int_equal(corio_ota_anchor_put(&r.s, 0, 4, 9, key, 1), CORIO_ERR_INVAL);
    assert_int_equal(corio_ota_anchor_put(&r.s, 0, 1, 9, NULL, 1), CORIO_ERR_INVAL);
    assert_int_equal(corio_ota_anchor_put(&r.s, 0, 1, 9, big, CORIO_OTA_ANCHOR_MAX + 1),
                     CORIO_ERR_INVAL);
    assert_int_equal(corio_ota_anchor_get(&r.s, 0, NULL, NULL, 5), CORIO_ERR_INVAL);
    /* damage on flash is caught when the anchor is read */
    uint32_t at = r.s.active * r.s.half + r.s.anchors[0].addr + 20;
    r.meta.mem[at] ^= 0x01;
    assert_int_equal(corio_ota_anchor_get(&r.s, 0, &info, buf, sizeof buf), CORIO_ERR_IO);
    rig_free(&r);
}

static void rollback_counter(void **state)
{
    (void)state;
    struct rig r;
    rig_init(&r, 256, 2, 8);
    rig_open(&r);
    assert_int_equal(corio_ota_rollback_raise(&r.s, 0), CORIO_OK); /* nothing to do */
    assert_int_equal(r.meta.programmed, 0);
    assert_int_equal(corio_ota_rollback_raise(&r.s, 5), CORIO_OK);
    assert_int_equal(corio_ota_rollback_raise(&r.s, 3), CORIO_ERR_POLICY);
    uint64_t before = r.meta.programmed;
    assert_int_equal(corio_ota_rollback_raise(&r.s, 5), CORIO_OK);
    assert_int_equal(r.meta.programmed, before);
    assert_int_equal(corio_ota_rollback_raise(&r.s, UINT32_MAX), CORIO_OK);
    rig_open(&r);
    assert_int_equal(corio_ota_rollback(&r.s), UINT32_MAX);
    assert_int_equal(corio_ota_rollback_raise(&r.s, 7), CORIO_ERR_POLICY);
    assert_int_equal(corio_ota_rollback_raise(NULL, 7), CORIO_ERR_INVAL);
    rig_free(&r);
}

static void boot_state_machine(void **state)
{
    (void)state;
    struct rig r;
    struct corio_ota_boot b;
    uint8_t slot = 9;
    rig_init(&r, 256, 2, 8);
    rig_open(&r);
    /* confirmed: the bootloader boots the active slot and writes nothing */
    assert_int_equal(corio_ota_boot_select(&r.s, &slot), CORIO_OK);
    assert_int_equal(slot, CORIO_OTA_SLOT_A);
    assert_int_equal(r.meta.programmed, 0);
    assert_int_equal(corio_ota_boot_try(&r.s, CORIO_OTA_SLOT_A, 2), CORIO_ERR_INVAL);
    assert_int_equal(corio_ota_boot_try(&r.s, CORIO_OTA_SLOT_B, 0), CORIO_ERR_INVAL);
    assert_int_equal(corio_ota_boot_try(&r.s, 2, 1), CORIO_ERR_INVAL);
    /* a trial that never confirms: two tries, then back to A */
    assert_int_equal(corio_ota_boot_try(&r.s, CORIO_OTA_SLOT_B, 2), CORIO_OK);
    assert_int_equal(corio_ota_boot_try(&r.s, CORIO_OTA_SLOT_B, 2), CORIO_ERR_STATE);
    for (int i = 0; i < 2; i++) {
        rig_open(&r); /* a reset */
        assert_int_equal(corio_ota_boot_select(&r.s, &slot), CORIO_OK);
        assert_int_equal(slot, CORIO_OTA_SLOT_B);
        corio_ota_boot_get(&r.s, &b);
        assert_int_equal(b.state, CORIO_OTA_TRYING);
        assert_int_equal(b.tries_left, 1 - i);
    }
    rig_open(&r);
    assert_int_equal(corio_ota_boot_select(&r.s, &slot), CORIO_OK);
    assert_int_equal(slot, CORIO_OTA_SLOT_A);
    rig_open(&r);
    corio_ota_boot_get(&r.s, &b);
    assert_int_equal(b.state, CORIO_OTA_CONFIRMED);
    assert_int_equal(b.active, CORIO_OTA_SLOT_A);
    assert_true(b.reverted);
    /* a trial that confirms */
    assert_int_equal(corio_ota_boot_try(&r.s, CORIO_OTA_SLOT_B, 3), CORIO_OK);
    rig_open(&r);
    assert_int_equal(corio_ota_boot_select(&r.s, &slot), CORIO_OK);
    assert_int_equal(slot, CORIO_OTA_SLOT_B);
    assert_int_equal(corio_ota_boot_confirm(&r.s), CORIO_OK);
    assert_int_equal(corio_ota_boot_confirm(&r.s), CORIO_OK); /* again: nothing changes */
    rig_open(&r);
    corio_ota_boot_get(&r.s, &b);
    assert_int_equal(b.state, CORIO_OTA_CONFIRMED);
    assert_int_equal(b.active, CORIO_OTA_SLOT_B);
    assert_false(b.reverted);
    assert_int_equal(corio_ota_boot_select(&r.s, &slot), CORIO_OK);
    assert_int_equal(slot, CORIO_OTA_SLOT_B);
    assert_int_equal(corio_ota_boot_select(&r.s, NULL), CORIO_ERR_INVAL);
    assert_int_equal(corio_ota_boot_get(&r.s, NULL), CORIO_ERR_INVAL);
    rig_free(&r);
}

/* Hundreds of changes: every swap of halves keeps the whole state, and each swap
 * costs one erase per sector of the new half. */
static void many_changes(void **state)
{
    (void)state;
    struct rig r;
    uint8_t key[65], buf[65];
    struct corio_ota_boot b;
    rig_init(&r, 256, 4, 16);
    rig_open(&r);
    fill(key, sizeof key, 3);
    uint32_t version = 0;
    for (uint32_t i = 1; i <= 400; i++) {
        if (i % 3 == 0) {
            key[i % sizeof key] ^= 0x5A;
            assert_int_equal(
                corio_ota_anchor_put(&r.s, 3, CORIO_OTA_ANCHOR_ES256, ++version, key, sizeof key),
                CORIO_OK);
        }
        assert_int_equal(corio_ota_rollback_raise(&r.s, i), CORIO_OK);
        if (i % 7 == 0) {
            corio_ota_boot_get(&r.s, &b);
            assert_int_equal(corio_ota_boot_try(&r.s, (uint8_t)(1 - b.active), 1), CORIO_OK);
            assert_int_equal(corio_ota_boot_confirm(&r.s), CORIO_OK);
        }
        if (i % 50 == 0)
            rig_open(&r);
    }
    rig_open(&r);
    assert_int_equal(corio_ota_rollback(&r.s), 400);
    assert_int_equal(corio_ota_anchor_get(&r.s, 3, NULL, buf, sizeof buf), (int)sizeof key);
    assert_memory_equal(buf, key, sizeof key);
    corio_ota_boot_get(&r.s, &b);
    assert_int_equal(b.active, (400 / 7) % 2); /* 57 confirmed trials, from A */
    /* the halves took turns; every erase was of a whole half */
    assert_true(r.meta.erases > 20);
    assert_int_equal(r.meta.erases % 2, 0);
    assert_true(r.meta.sector_erases[0] > 0 && r.meta.sector_erases[3] > 0);
    rig_free(&r);
}

/* A write the flash reports as failed, or that does not read back, is an error; the
 * next change goes to a fresh half and nothing is programmed twice. */
static void failing_writes(void **state)
{
    (void)state;
    struct rig r;
    rig_init(&r, 256, 2, 8);
    rig_open(&r);
    assert_int_equal(corio_ota_rollback_raise(&r.s, 1), CORIO_OK);
    /* worn cells: the next record's first byte keeps a bit */
    r.meta.stuck = true;
    r.meta.stuck_addr = r.s.active * r.s.half + r.s.pos;
    r.meta.stuck_bits = 0x10;
    assert_int_equal(corio_ota_rollback_raise(&r.s, 2), CORIO_ERR_IO);
    r.meta.stuck = false;
    assert_int_equal(corio_ota_rollback(&r.s), 1);
    assert_int_equal(corio_ota_rollback_raise(&r.s, 2), CORIO_OK);
    rig_open(&r);
    assert_int_equal(corio_ota_rollback(&r.s), 2);
    rig_free(&r);
}

static void put32le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* A half written by someone else (damage, or a foreign writer) holding only an anchor
 * that fills it: a new half could not take it with the counter and boot records, so
 * changes are refused with CORIO_ERR_NOSPACE instead of overrunning the half, and
 * removing the anchor makes room. */
static void a_full_foreign_half(void **state)
{
    (void)state;
    struct rig r;
    rig_init(&r, 256, 2, 8); /* halves of 256 bytes, units of 16 */
    uint8_t *h = r.meta.mem;
    memset(h, 0, 256);
    put32le(h, 0x41544F43u); /* "COTA" */
    h[4] = 1;
    put32le(h + 8, 1);
    put32le(h + 12, corio_crc32(0, h, 12));
    uint8_t *rec = h + 16; /* one anchor record of 232 bytes, 240 with its padding */
    rec[0] = 0xA5;
    rec[1] = 1;
    rec[2] = 8 + 212;
    put32le(rec + 4, 1);
    rec[8] = 0;                    /* id */
    rec[9] = CORIO_OTA_ANCHOR_RAW; /* kind */
    put32le(rec + 12, 5);          /* version */
    fill(rec + 16, 212, 9);
    put32le(rec + 16 + 212, corio_crc32(0, rec, 16 + 212));
    sim_mark_written(&r.meta);
    rig_open(&r);
    assert_int_equal(r.s.opened, CORIO_OTA_OPENED);
    struct corio_ota_anchor_info info;
    assert_int_equal(corio_ota_anchor_get(&r.s, 0, &info, NULL, 0), CORIO_ERR_NOSPACE);
    assert_int_equal(info.len, 212);
    assert_int_equal(corio_ota_rollback_raise(&r.s, 1), CORIO_ERR_NOSPACE);
    assert_int_equal(corio_ota_boot_try(&r.s, CORIO_OTA_SLOT_B, 1), CORIO_ERR_NOSPACE);
    assert_int_equal(r.meta.programmed, 0);
    /* Removing the anchor fits; then the rest does. */
    assert_int_equal(corio_ota_anchor_put(&r.s, 0, CORIO_OTA_ANCHOR_RAW, 6, NULL, 0), CORIO_OK);
    assert_int_equal(corio_ota_rollback_raise(&r.s, 1), CORIO_OK);
    rig_open(&r);
    assert_int_equal(corio_ota_rollback(&r.s), 1);
    assert_int_equal(corio_ota_anchor_get(&r.s, 0, NULL, NULL, 0), CORIO_ERR_NOTFOUND);
    rig_free(&r);
}

static int psa_setup(void **state)
{
    (void)state;
    return corio_crypto_psa_init() == CORIO_OK ? 0 : -1;
}

static void image_slots(void **state)
{
    (void)state;
    struct rig r;
    struct corio_ota_writer w;
    uint8_t img[1000], back[1000], d1[32], d2[32];
    fill(img, sizeof img, 4);
    rig_init(&r, 256, 2, 8);
    rig_open(&r);
    /* the running slot is not to be overwritten */
    assert_int_equal(corio_ota_write_begin(&r.s, &w, CORIO_OTA_SLOT_A), CORIO_ERR_STATE);
    assert_int_equal(corio_ota_write_begin(&r.s, &w, CORIO_OTA_SLOT_B), CORIO_OK);
    /* odd chunks, as a download brings them */
    size_t off = 0, step = 1;
    while (off < sizeof img) {
        size_t n = step < sizeof img - off ? step : sizeof img - off;
        assert_int_equal(corio_ota_write(&w, img + off, n), CORIO_OK);
        off += n;
        step = step * 3 % 61 + 1;
    }
    assert_int_equal(corio_ota_write_end(&w), (int)sizeof img);
    assert_int_equal(corio_ota_slot_read(&r.s, CORIO_OTA_SLOT_B, 0, back, sizeof back), CORIO_OK);
    assert_memory_equal(back, img, sizeof img);
    assert_int_equal(
        corio_ota_slot_hash(&r.s, CORIO_OTA_SLOT_B, sizeof img, &corio_crypto_psa_ops, d1),
        CORIO_OK);
    assert_int_equal(corio_sha256(&corio_crypto_psa_ops, img, sizeof img, d2), CORIO_OK);
    assert_memory_equal(d1, d2, 32);
    /* past the slot's end */
    assert_int_equal(corio_ota_slot_read(&r.s, CORIO_OTA_SLOT_B, 1000, back, 25), CORIO_ERR_INVAL);
    assert_int_equal(corio_ota_write_begin(&r.s, &w, CORIO_OTA_SLOT_B), CORIO_OK);
    assert_int_equal(corio_ota_write(&w, img, 1000), CORIO_OK);
    assert_int_equal(corio_ota_write(&w, img, 25), CORIO_ERR_NOSPACE);
    /* a slot whose erase fails gives a writer that takes nothing */
    r.b.erase_budget = 1;
    assert_int_equal(corio_ota_write_begin(&r.s, &w, CORIO_OTA_SLOT_B), CORIO_ERR_IO);
    assert_int_equal(corio_ota_write(&w, img, 8), CORIO_ERR_INVAL);
    assert_int_equal(corio_ota_write_end(&w), CORIO_ERR_INVAL);
    sim_power_on(&r.b);
    r.b.erase_budget = -1;
    assert_int_equal(corio_ota_write_begin(&r.s, &w, CORIO_OTA_SLOT_B), CORIO_OK);
    /* while a trial runs neither slot may be written */
    assert_int_equal(corio_ota_boot_try(&r.s, CORIO_OTA_SLOT_B, 1), CORIO_OK);
    assert_int_equal(corio_ota_write_begin(&r.s, &w, CORIO_OTA_SLOT_A), CORIO_ERR_STATE);
    assert_int_equal(corio_ota_write_begin(&r.s, &w, CORIO_OTA_SLOT_B), CORIO_ERR_STATE);
    rig_free(&r);
}

/* ---- power cuts ---- */

#define NA 2 /* anchors the workload uses */

struct model {
    uint32_t rollback;
    struct corio_ota_boot boot;
    struct {
        bool present;
        uint32_t version;
        size_t len;
        uint8_t data[120];
    } a[NA];
};

enum { OP_RAISE, OP_TRY, OP_SELECT, OP_CONFIRM, OP_PUT, OP_REMOVE };

struct op {
    int kind;
    uint32_t v; /* RAISE: value; TRY: slot; PUT, REMOVE: version */
    uint8_t n;  /* TRY: tries; PUT, REMOVE: anchor id; PUT: seed */
    uint8_t len;
};

/* Every kind of change, with trials that fall back and trials that confirm. */
static const struct op workload[] = {
    {OP_RAISE, 1, 0, 0},  {OP_PUT, 1, 0, 40},        {OP_RAISE, 2, 0, 0},   {OP_TRY, 1, 2, 0},
    {OP_SELECT, 0, 0, 0}, {OP_SELECT, 0, 0, 0},      {OP_SELECT, 0, 0, 0},  {OP_PUT, 1, 1, 60},
    {OP_TRY, 1, 1, 0},    {OP_SELECT, 0, 0, 0},      {OP_CONFIRM, 0, 0, 0}, {OP_RAISE, 7, 0, 0},
    {OP_PUT, 2, 0, 40},   {OP_TRY, 0, 3, 0},         {OP_SELECT, 0, 0, 0},  {OP_CONFIRM, 0, 0, 0},
    {OP_REMOVE, 2, 1, 0}, {OP_RAISE, 8, 0, 0},       {OP_RAISE, 20, 0, 0},  {OP_TRY, 1, 2, 0},
    {OP_SELECT, 0, 0, 0}, {OP_CONFIRM, 0, 0, 0},     {OP_PUT, 3, 1, 50},    {OP_RAISE, 21, 0, 0},
    {OP_PUT, 3, 0, 30},   {OP_RAISE, 0x10000, 0, 0}, {OP_TRY, 0, 1, 0},     {OP_SELECT, 0, 0, 0},
    {OP_SELECT, 0, 0, 0}, {OP_RAISE, 0x10001, 0, 0},
};
#define NOPS (sizeof workload / sizeof workload[0])

/* The model's answer to an op: an independent statement of the specification. */
static void model_apply(struct model *m, const struct op *o)
{
    switch (o->kind) {
    case OP_RAISE:
        m->rollback = o->v;
        break;
    case OP_TRY:
        m->boot =
            (struct corio_ota_boot){CORIO_OTA_TRYING, m->boot.active, (uint8_t)o->v, o->n, false};
        break;
    case OP_SELECT:
        if (m->boot.state == CORIO_OTA_TRYING && m->boot.tries_left)
            m->boot.tries_left--;
        else if (m->boot.state == CORIO_OTA_TRYING)
            m->boot = (struct corio_ota_boot){CORIO_OTA_CONFIRMED, m->boot.active, 0, 0, true};
        break;
    case OP_CONFIRM:
        if (m->boot.state == CORIO_OTA_TRYING)
            m->boot = (struct corio_ota_boot){CORIO_OTA_CONFIRMED, m->boot.trial, 0, 0, false};
        break;
    case OP_PUT:
        m->a[o->n].present = true;
        m->a[o->n].version = o->v;
        m->a[o->n].len = o->len;
        fill(m->a[o->n].data, o->len, (uint8_t)(o->v * 5u + o->n));
        break;
    default: /* OP_REMOVE */
        m->a[o->n].present = false;
        m->a[o->n].version = o->v;
        break;
    }
}

static int do_op(struct corio_ota_store *s, const struct op *o)
{
    uint8_t data[120], slot;
    switch (o->kind) {
    case OP_RAISE:
        return corio_ota_rollback_raise(s, o->v);
    case OP_TRY:
        return corio_ota_boot_try(s, (uint8_t)o->v, o->n);
    case OP_SELECT:
        return corio_ota_boot_select(s, &slot);
    case OP_CONFIRM:
        return corio_ota_boot_confirm(s);
    case OP_PUT:
        fill(data, o->len, (uint8_t)(o->v * 5u + o->n));
        return corio_ota_anchor_put(s, o->n, CORIO_OTA_ANCHOR_RAW, o->v, data, o->len);
    default:
        return corio_ota_anchor_put(s, o->n, CORIO_OTA_ANCHOR_RAW, o->v, NULL, 0);
    }
}

static bool boot_eq(const struct corio_ota_boot *a, const struct corio_ota_boot *b)
{
    return a->state == b->state && a->active == b->active && a->tries_left == b->tries_left &&
           (a->state != CORIO_OTA_TRYING || a->trial == b->trial) && a->reverted == b->reverted;
}

/* Whether the store shows exactly the model's state. */
static bool shows(const struct corio_ota_store *s, const struct model *m)
{
    struct corio_ota_boot b;
    uint8_t buf[128];
    struct corio_ota_anchor_info info;
    corio_ota_boot_get(s, &b);
    if (corio_ota_rollback(s) != m->rollback || !boot_eq(&b, &m->boot))
        return false;
    for (uint8_t i = 0; i < NA; i++) {
        int n = corio_ota_anchor_get(s, i, &info, buf, sizeof buf);
        if (!m->a[i].present) {
            if (n != CORIO_ERR_NOTFOUND)
                return false;
            continue;
        }
        if (n != (int)m->a[i].len || info.version != m->a[i].version ||
            memcmp(buf, m->a[i].data, m->a[i].len) != 0)
            return false;
    }
    return true;
}

struct cut_result {
    bool cut;                   /* the power went off */
    struct model before, after; /* the state before the cut op and after it */
    uint32_t raised;            /* the last counter value a raise returned OK for */
};

/* Runs the workload on a fresh flash with the given cut; returns what was expected. */
static struct cut_result run_workload(struct rig *r, long budget, long erase_budget, int mode)
{
    struct cut_result res;
    memset(&res, 0, sizeof res);
    res.before.boot = (struct corio_ota_boot){CORIO_OTA_CONFIRMED, 0, 0, 0, false};
    rig_open(r);
    r->meta.budget = budget;
    r->meta.erase_budget = erase_budget;
    r->meta.cut_mode = mode;
    for (size_t i = 0; i < NOPS; i++) {
        res.after = res.before;
        model_apply(&res.after, &workload[i]);
        int rc = do_op(&r->s, &workload[i]);
        if (r->meta.dead) {
            res.cut = true;
            return res;
        }
        assert_int_equal(rc, CORIO_OK);
        res.before = res.after;
        if (workload[i].kind == OP_RAISE)
            res.raised = workload[i].v;
    }
    return res;
}

static void check_cut(struct rig *r, const struct cut_result *res)
{
    rig_open(r);
    bool b = shows(&r->s, &res->before), a = shows(&r->s, &res->after);
    if (!b && !a)
        fail_msg("%s: the state after the cut is neither before nor after the change", g_when);
    uint32_t counter = corio_ota_rollback(&r->s);
    assert_true(counter >= res->raised);
    /* a unit that read erased settles to what was being programmed: still one or the
     * other, and the counter no lower */
    sim_settle(&r->meta);
    rig_open(r);
    if (!shows(&r->s, &res->before) && !shows(&r->s, &res->after))
        fail_msg("%s: after settling the state is neither before nor after the change", g_when);
    assert_true(corio_ota_rollback(&r->s) >= counter);
    /* life goes on on the same flash: more changes, then a reset */
    counter = corio_ota_rollback(&r->s);
    int rc = corio_ota_rollback_raise(&r->s, counter + 1);
    if (rc != CORIO_OK)
        fail_msg("%s: a raise after the cut fails: %d", g_when, rc);
    rc = corio_ota_boot_confirm(&r->s);
    if (rc != CORIO_OK)
        fail_msg("%s: a confirm after the cut fails: %d", g_when, rc);
    struct corio_ota_anchor_info info;
    uint32_t v =
        corio_ota_anchor_get(&r->s, 0, &info, NULL, 0) == CORIO_ERR_NOSPACE ? info.version : 0;
    uint8_t d[10] = {1, 2, 3};
    /* a removed anchor's version is not known here: go far above any the workload used */
    assert_int_equal(corio_ota_anchor_put(&r->s, 0, CORIO_OTA_ANCHOR_RAW, v + 100, d, sizeof d),
                     CORIO_OK);
    rig_open(r);
    assert_int_equal(corio_ota_rollback(&r->s), counter + 1);
    struct corio_ota_boot bs;
    corio_ota_boot_get(&r->s, &bs);
    assert_int_equal(bs.state, CORIO_OTA_CONFIRMED);
    assert_int_equal(corio_ota_anchor_get(&r->s, 0, &info, NULL, 0), CORIO_ERR_NOSPACE);
    assert_int_equal(info.version, v + 100);
}

static void cuts_for(uint32_t sector, uint32_t prog, const int *modes, int nmodes)
{
    struct rig r;
    /* once without a cut: the workload's bytes and erases, and its final state */
    rig_init(&r, sector, 2, prog);
    snprintf(g_when, sizeof g_when, "prog %u, no cut", (unsigned)prog);
    struct cut_result full = run_workload(&r, -1, -1, 0);
    assert_false(full.cut);
    rig_open(&r);
    assert_true(shows(&r.s, &full.before));
    long bytes = (long)r.meta.programmed, erases = (long)r.meta.erases;
    assert_true(erases >= 6); /* the halves took turns several times */
    rig_free(&r);
    for (int k = 0; k < nmodes; k++) {
        for (long n = 0; n < bytes; n++) {
            rig_init(&r, sector, 2, prog);
            snprintf(g_when, sizeof g_when, "prog %u, mode %d, cut after %ld of %ld bytes",
                     (unsigned)prog, modes[k], n, bytes);
            r.meta.trace = getenv("OTA_TRACE") && atol(getenv("OTA_TRACE")) == n && modes[k] == 3;
            struct cut_result res = run_workload(&r, n, -1, modes[k]);
            assert_true(res.cut);
            sim_power_on(&r.meta);
            check_cut(&r, &res);
            rig_free(&r);
        }
        for (long e = 0; e < erases; e++) {
            rig_init(&r, sector, 2, prog);
            snprintf(g_when, sizeof g_when, "prog %u, mode %d, cut in erase %ld of %ld",
                     (unsigned)prog, modes[k], e, erases);
            struct cut_result res = run_workload(&r, -1, e, modes[k]);
            assert_true(res.cut);
            sim_power_on(&r.meta);
            check_cut(&r, &res);
            rig_free(&r);
        }
    }
}

static void power_cut_every_byte(void **state)
{
    (void)state;
    const int all[] = {SIM_CUT_CLEAN, SIM_CUT_GARBAGE, SIM_CUT_WEAK, SIM_CUT_ECC};
    cuts_for(256, 8, all, 4);
    cuts_for(256, 32, all, 4);
    cuts_for(256, 1, all, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(blank_and_corrupt),
        cmocka_unit_test(bad_layouts),
        cmocka_unit_test(anchors),
        cmocka_unit_test(rollback_counter),
        cmocka_unit_test(boot_state_machine),
        cmocka_unit_test(many_changes),
        cmocka_unit_test(failing_writes),
        cmocka_unit_test(a_full_foreign_half),
        cmocka_unit_test(image_slots),
        cmocka_unit_test(power_cut_every_byte),
    };
    return cmocka_run_group_tests(tests, psa_setup, NULL);
}
