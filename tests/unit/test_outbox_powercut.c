/* test_outbox_powercut.c - the outbox under power cuts at every byte.
 *
 * A deterministic workload (appends of varied sizes, acks out of order, reboots, the
 * ring wrapping several times) runs on the flash simulator; for EVERY N it runs again
 * with the power cut after exactly N programmed bytes (and for every erase, during
 * it), in each way a unit in flight can end up (intact rest, random bits, reading
 * erased until it settles later, unreadable). After each cut the flash is reopened
 * and checked against a model of what the workload was told:
 *   (a) open succeeds and recovers the same epoch;
 *   (b) every message whose append returned OK is readable with its content, unless
 *       its sector left the ring (then it is counted in drops if unacknowledged);
 *   (c) sequence numbers are never reused: new appends get seqs above everything
 *       before, and no readable seq ever shows content other than its own message
 *       (also after a half-programmed unit settles);
 *   (d) acks err only towards "unacknowledged": an ack that returned OK is kept; an
 *       entry reads acknowledged only if an ack was attempted for it;
 * and the stats agree with what iteration shows. A chained test then cuts the power
 * hundreds of times in a row on one flash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "corio/outbox.h"

static char g_when[128]; /* the cut being checked, for messages from the simulator */
#define SIM_VIOLATION(msg) fail_msg("%s: flash rule broken: %s", g_when, msg)
#include "test_outbox_sim.h"

#define MAXMSG 8192
#define MAXSEQ 16384
#define MAXLEN 512

struct model {
    uint32_t epoch;
    uint32_t n;              /* messages attempted */
    uint32_t seq_of[MAXMSG]; /* seq given or about to be given; 0: none */
    uint8_t ok[MAXMSG];      /* append returned CORIO_OK */
    uint8_t ack_tried[MAXMSG];
    uint8_t ack_ok[MAXMSG];
    uint32_t ord_of[MAXMSG]; /* the head's ordinal when it was written */
    uint32_t sector_of[MAXMSG];
    uint32_t erases_at[MAXMSG];      /* erases of that sector before it was written */
    uint32_t idx_of_seq[MAXSEQ + 1]; /* latest message given each seq, + 1 */
};

static size_t g_maxlen; /* the largest payload of the geometry under test */

/* Message i: mostly short, every 7th as large as the sector allows (so that a short
 * one could still fit in a head that a large one had to leave). */
static size_t gen(uint32_t i, uint8_t *buf)
{
    size_t len = i % 7u == 3u ? g_maxlen - i % 5u : (i * 29u + 5u) % 61u;
    if (len > g_maxlen)
        len = g_maxlen;
    for (size_t k = 0; k < len; k++)
        buf[k] = (uint8_t)(i * 131u + k * 7u + 1u);
    return len;
}

/* Every 5th message has metadata whose header words are all ones, so that whole
 * header units read as erased. */
static struct corio_dev_outbox_meta meta_for(uint32_t i)
{
    struct corio_dev_outbox_meta m = {.type = (uint8_t)(i & 7u),
                                      .time_kind = CORIO_DEV_OUTBOX_TIME_UPTIME_MS,
                                      .boot_count = i >> 4,
                                      .time_ms = (uint64_t)i * 977u};
    if (i % 5u == 2u) {
        m.boot_count = UINT32_MAX;
        m.time_ms = UINT64_MAX;
    }
    return m;
}

struct rig {
    struct sim sim;
    struct corio_dev_outbox ob;
    struct corio_flash flash;
    struct model *m;
    uint32_t rng;
};

static uint32_t rig_rand(struct rig *r)
{
    uint32_t x = r->rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    r->rng = x;
    return x;
}

/* Opens after a boot; returns the open result. */
static int rig_open(struct rig *r)
{
    struct corio_dev_outbox_config cfg = {.fresh_epoch = 0xE0E0u + r->m->n};
    sim_port(&r->sim, &r->flash);
    return corio_dev_outbox_open(&r->ob, &r->flash, &cfg);
}

/* One append through the model. Returns the outbox's answer. */
static int do_append(struct rig *r)
{
    struct model *m = r->m;
    uint32_t i = m->n++;
    assert_true(i < MAXMSG);
    uint8_t buf[MAXLEN];
    size_t len = gen(i, buf);
    struct corio_dev_outbox_meta meta = meta_for(i);
    uint32_t seq = 0;
    uint32_t next = r->ob.next_seq; /* the seq this append will use */
    if (next <= MAXSEQ) {
        m->seq_of[i] = next;
        m->idx_of_seq[next] = i + 1u;
    }
    int ret = corio_dev_outbox_append(&r->ob, &meta, buf, len, &seq);
    if (ret == CORIO_OK) {
        assert_int_equal(seq, next);
        m->ok[i] = 1;
        m->ord_of[i] = r->ob.hd.ord;
        m->sector_of[i] = r->ob.head;
        m->erases_at[i] = r->sim.sector_erases[r->ob.head];
    }
    return ret;
}

/* Acks one of the recent unacknowledged messages, out of order. */
static int do_ack(struct rig *r)
{
    struct model *m = r->m;
    uint32_t lo = m->n > 12 ? m->n - 12 : 0;
    for (int tries = 0; tries < 8; tries++) {
        uint32_t i = lo + rig_rand(r) % (m->n - lo + 1u);
        if (i >= m->n || !m->ok[i] || m->ack_tried[i])
            continue;
        m->ack_tried[i] = 1;
        int ret = corio_dev_outbox_ack(&r->ob, m->seq_of[i]);
        if (ret == CORIO_OK)
            m->ack_ok[i] = 1;
        else if (ret != CORIO_ERR_NOTFOUND)
            return ret;
        return CORIO_OK;
    }
    return CORIO_OK;
}

/* Runs steps of the workload; stops early when the power goes. */
static void workload(struct rig *r, int steps)
{
    for (int k = 0; k < steps && !r->sim.dead; k++) {
        uint32_t op = rig_rand(r) % 16u;
        int ret;
        if (r->sim.trace)
            fprintf(stderr, "op %u (pos %u next %u)\n", op, r->ob.pos, r->ob.next_seq);
        if (op < 9) {
            ret = do_append(r);
        } else if (op < 15) {
            ret = do_ack(r);
        } else {
            ret = rig_open(r); /* a clean reboot */
            if (ret == CORIO_OK) {
                struct corio_dev_outbox_stats st;
                assert_int_equal(corio_dev_outbox_stats(&r->ob, &st), CORIO_OK);
                assert_int_equal(st.opened, CORIO_DEV_OUTBOX_RECOVERED);
            }
        }
        if (ret != CORIO_OK)
            assert_true(r->sim.dead);
    }
}

/* Checks the reopened outbox against the model (the list in the file comment). */
static void verify(struct rig *r, const char *when)
{
    struct model *m = r->m;
    struct corio_dev_outbox *ob = &r->ob;
    static uint8_t seen[MAXMSG];
    memset(seen, 0, sizeof seen);

    struct corio_dev_outbox_stats st;
    assert_int_equal(corio_dev_outbox_stats(ob, &st), CORIO_OK);
    if (st.epoch != m->epoch)
        fail_msg("%s: epoch changed from %u to %u", when, m->epoch, st.epoch);

    /* everything readable, in order */
    struct corio_dev_outbox_iter it;
    struct corio_dev_outbox_entry e;
    uint8_t buf[MAXLEN], want[MAXLEN];
    uint32_t prev = 0, count = 0, unacked = 0, first = 0;
    corio_dev_outbox_iter_init(&it, 0);
    int ret;
    while ((ret = corio_dev_outbox_iter_next(ob, &it, 0, &e, buf, sizeof buf)) == CORIO_OK) {
        if (e.seq <= prev)
            fail_msg("%s: seq %u after %u", when, e.seq, prev);
        prev = e.seq;
        if (!first)
            first = e.seq;
        if (e.seq > MAXSEQ || m->idx_of_seq[e.seq] == 0)
            fail_msg("%s: seq %u was never given", when, e.seq);
        uint32_t i = m->idx_of_seq[e.seq] - 1u;
        size_t len = gen(i, want);
        struct corio_dev_outbox_meta mt = meta_for(i);
        if (e.len != len || memcmp(buf, want, len) != 0 || e.meta.type != mt.type ||
            e.meta.boot_count != mt.boot_count || e.meta.time_ms != mt.time_ms)
            fail_msg("%s: seq %u holds another message than #%u", when, e.seq, i);
        if (e.acked && !m->ack_tried[i])
            fail_msg("%s: seq %u reads acknowledged but was never acked", when, e.seq);
        if (m->ack_ok[i] && !e.acked)
            fail_msg("%s: seq %u lost an ack that had returned OK", when, e.seq);
        seen[i] = 1;
        count++;
        unacked += !e.acked;
        struct corio_dev_outbox_entry g;
        assert_int_equal(corio_dev_outbox_get(ob, e.seq, &g, NULL, 0), CORIO_OK);
        assert_int_equal(g.acked, e.acked);
    }
    assert_int_equal(ret, CORIO_ERR_NOTFOUND);
    assert_int_equal(st.entries, count);
    assert_int_equal(st.depth, unacked);
    assert_int_equal(st.oldest_seq, first);
    assert_true(st.last_seq >= prev);

    /* the unacknowledged iteration shows the same */
    uint32_t n_un = 0;
    corio_dev_outbox_iter_init(&it, 0);
    while (corio_dev_outbox_iter_next(ob, &it, CORIO_DEV_OUTBOX_UNACKED, &e, NULL, 0) == CORIO_OK) {
        assert_false(e.acked);
        n_un++;
    }
    assert_int_equal(n_un, unacked);

    /* durable messages: present, or their sector left the ring */
    uint32_t missing_unacked = 0, missing_maybe = 0;
    for (uint32_t i = 0; i < m->n; i++) {
        if (!seen[i] && !m->ack_ok[i] && m->seq_of[i])
            missing_maybe++;
        if (!m->ok[i] || seen[i])
            continue;
        bool left = m->ord_of[i] < ob->oldest_ord ||
                    r->sim.sector_erases[m->sector_of[i]] > m->erases_at[i];
        if (!left)
            fail_msg("%s: durable seq %u (#%u) lost", when, m->seq_of[i], i);
        if (!m->ack_tried[i])
            missing_unacked++;
    }
    if (st.drops < missing_unacked)
        fail_msg("%s: %u unacknowledged durable messages gone, drops says %u", when,
                 missing_unacked, st.drops);
    if (st.drops > missing_maybe)
        fail_msg("%s: drops %u, but only %u unacknowledged messages can be gone", when, st.drops,
                 missing_maybe);
}

/* After a cut: append a few more and check that their seqs are new. */
static void carry_on(struct rig *r, const char *when)
{
    struct model *m = r->m;
    uint32_t top = 0;
    for (uint32_t i = 0; i < m->n; i++)
        if (m->ok[i] && m->seq_of[i] > top)
            top = m->seq_of[i];
    for (int k = 0; k < 3; k++) {
        uint32_t before = m->n;
        assert_int_equal(do_append(r), CORIO_OK);
        uint32_t seq = m->seq_of[before];
        if (seq <= top)
            fail_msg("%s: seq %u given again (durable seqs reach %u)", when, seq, top);
        top = seq;
    }
    assert_int_equal(do_ack(r), CORIO_OK);
}

static void rig_init(struct rig *r, uint32_t ssz, uint32_t n, uint32_t prog, uint32_t flags)
{
    memset(&r->ob, 0, sizeof r->ob);
    sim_init(&r->sim, ssz, n, prog, flags);
    r->m = calloc(1, sizeof *r->m);
    assert_non_null(r->m);
}

static void rig_free(struct rig *r)
{
    sim_free(&r->sim);
    free(r->m);
}

static void rig_reset(struct rig *r, uint32_t seed)
{
    memset(r->sim.mem, 0xFF, r->sim.size);
    memset(r->sim.written, 0, r->sim.size / r->sim.prog);
    memset(r->sim.sector_erases, 0, r->sim.sector_count * sizeof *r->sim.sector_erases);
    r->sim.dead = false;
    r->sim.weak = false;
    r->sim.ecc = false;
    r->sim.cut_valid = false;
    r->sim.budget = -1;
    r->sim.erase_budget = -1;
    r->sim.programmed = 0;
    r->sim.erases = 0;
    r->sim.rng = seed;
    memset(r->m, 0, sizeof *r->m);
    r->rng = seed;
    assert_int_equal(rig_open(r), CORIO_OK);
    r->m->epoch = r->ob.hd.epoch;
    g_maxlen = corio_dev_outbox_max_payload(&r->ob);
    assert_true(g_maxlen <= MAXLEN);
}

struct geometry {
    uint32_t ssz, n, prog, flags;
    int steps;
};

/* Cut once at every programmed byte (and during every erase), for one geometry and
 * cut mode; with then_erase, cut again during the next erase after the reopen (with
 * the sector's header left intact and its records half gone). */
static void sweep2(const struct geometry *g, int mode, bool erases, bool then_erase);

static void sweep(const struct geometry *g, int mode, bool erases)
{
    sweep2(g, mode, erases, false);
}

static void sweep2(const struct geometry *g, int mode, bool erases, bool then_erase)
{
    struct rig r;
    char when[96];
    rig_init(&r, g->ssz, g->n, g->prog, g->flags);

    /* the uncut run: how many bytes and erases it makes */
    rig_reset(&r, 77);
    uint64_t base_prog = r.sim.programmed, base_erase = r.sim.erases;
    workload(&r, g->steps);
    uint64_t total = r.sim.programmed - base_prog;
    uint64_t total_erases = r.sim.erases - base_erase;
    assert_true(total_erases >= 2u * g->n); /* the ring wrapped at least twice */

    uint64_t cuts = erases ? total_erases : total; /* a cut at total is no cut */
    /* OUTBOX_CUT=<n> runs that cut alone, tracing flash operations */
    const char *only = getenv("OUTBOX_CUT");
    for (uint64_t c = only ? strtoull(only, NULL, 10) : 0; c < cuts; c++) {
        r.sim.trace = only != NULL;
        snprintf(g_when, sizeof g_when, "prog %u mode %d %s cut %llu", g->prog, mode,
                 erases ? "erase" : "byte", (unsigned long long)c);
        rig_reset(&r, 77);
        r.sim.cut_mode = mode;
        if (erases)
            r.sim.erase_budget = (long)c;
        else
            r.sim.budget = (long)c;
        workload(&r, g->steps);
        snprintf(when, sizeof when, "prog %u mode %d %s cut %llu", g->prog, mode,
                 erases ? "erase" : "byte", (unsigned long long)c);
        if (!r.sim.dead)
            fail_msg("%s: the workload never reached the cut", when);
        sim_power_on(&r.sim);
        assert_int_equal(rig_open(&r), CORIO_OK);
        verify(&r, when);
        if (then_erase) {
            r.sim.erase_budget = 0;
            r.sim.cut_mode = SIM_CUT_ECC;
            workload(&r, 400);
            assert_true(r.sim.dead);
            sim_power_on(&r.sim);
            assert_int_equal(rig_open(&r), CORIO_OK);
            strncat(when, " then erase", sizeof when - strlen(when) - 1);
            verify(&r, when);
        }
        carry_on(&r, when);
        assert_int_equal(rig_open(&r), CORIO_OK);
        verify(&r, when);
        if (r.sim.weak) {
            /* the half-programmed unit now reads what was meant for it */
            sim_settle(&r.sim);
            assert_int_equal(rig_open(&r), CORIO_OK);
            strncat(when, " settled", sizeof when - strlen(when) - 1);
            verify(&r, when);
            carry_on(&r, when);
            verify(&r, when);
        }
        if (only)
            break;
    }
    print_message("prog %u mode %d: %llu %s cuts checked\n", g->prog, mode,
                  (unsigned long long)cuts, erases ? "erase" : "byte");
    rig_free(&r);
}

static const struct geometry g_ecc8 = {512, 4, 8, 0, 110};
static const struct geometry g_byte = {384, 4, 1, CORIO_FLASH_F_REPROGRAM, 90};
static const struct geometry g_h7 = {1024, 3, 32, 0, 70};

static void cut_every_byte_ecc8_clean(void **state)
{
    (void)state;
    sweep(&g_ecc8, SIM_CUT_CLEAN, false);
}

static void cut_every_byte_ecc8_garbage(void **state)
{
    (void)state;
    sweep(&g_ecc8, SIM_CUT_GARBAGE, false);
}

static void cut_every_byte_ecc8_weak(void **state)
{
    (void)state;
    sweep(&g_ecc8, SIM_CUT_WEAK, false);
}

static void cut_every_byte_ecc8_unreadable(void **state)
{
    (void)state;
    sweep(&g_ecc8, SIM_CUT_ECC, false);
}

static void cut_every_byte_nor_byte(void **state)
{
    (void)state;
    sweep(&g_byte, SIM_CUT_GARBAGE, false);
    sweep(&g_byte, SIM_CUT_WEAK, false);
}

static void cut_every_byte_h7(void **state)
{
    (void)state;
    sweep(&g_h7, SIM_CUT_WEAK, false);
    sweep(&g_h7, SIM_CUT_GARBAGE, false);
}

static void cut_every_erase(void **state)
{
    (void)state;
    for (int mode = SIM_CUT_CLEAN; mode <= SIM_CUT_ECC; mode++) {
        sweep(&g_ecc8, mode, true);
        sweep(&g_byte, mode, true);
        sweep(&g_h7, mode, true);
    }
}

/* Two cuts: one at every byte, then one during the next erase. A cut that tears a
 * rotation note leaves room for a second note (the reserve), so the drop count still
 * survives the erase being cut. */
static void cut_every_byte_then_erase(void **state)
{
    (void)state;
    sweep2(&g_ecc8, SIM_CUT_GARBAGE, false, true);
    sweep2(&g_ecc8, SIM_CUT_WEAK, false, true);
}

/* A rotation cut while it programs the new sector's header, leaving a unit that reads
 * erased and only later settles into a valid header. The old head must take no more
 * messages after that (its rotation note seals it): once the header appears, the new
 * sector is the head and anything appended to the old one in between would fall
 * outside its window. Scripted, because the generic workload rarely lines up a
 * short message, a long one and this cut. */
static void rotation_header_settles_later(void **state)
{
    (void)state;
    const struct geometry *gs[] = {&g_ecc8, &g_byte, &g_h7};
    for (size_t k = 0; k < sizeof gs / sizeof *gs; k++) {
        struct rig r;
        rig_init(&r, gs[k]->ssz, gs[k]->n, gs[k]->prog, gs[k]->flags);
        uint64_t span = 0;
        for (uint64_t c = 0; c == 0 || c < span; c++) {
            rig_reset(&r, 5);
            r.m->n = 4; /* message #4: short; #10: as long as possible (gen()) */
            assert_int_equal(do_append(&r), CORIO_OK);
            r.m->n = 10;
            uint64_t before = r.sim.programmed;
            if (span) {
                r.sim.cut_mode = SIM_CUT_WEAK;
                r.sim.budget = (long)c;
            }
            int ret = do_append(&r);
            if (!span) {
                assert_int_equal(ret, CORIO_OK);
                assert_int_equal(r.ob.head, 1); /* it did rotate */
                span = r.sim.programmed - before;
                continue;
            }
            snprintf(g_when, sizeof g_when, "prog %u rotation cut %llu", gs[k]->prog,
                     (unsigned long long)c);
            sim_power_on(&r.sim);
            assert_int_equal(rig_open(&r), CORIO_OK);
            verify(&r, g_when);
            r.m->n = 18; /* short */
            assert_int_equal(do_append(&r), CORIO_OK);
            sim_settle(&r.sim);
            assert_int_equal(rig_open(&r), CORIO_OK);
            verify(&r, g_when);
            carry_on(&r, g_when);
            verify(&r, g_when);
        }
        rig_free(&r);
    }
}

/* A cut while the very first open formats blank flash. */
static void cut_during_first_format(void **state)
{
    (void)state;
    for (int erase = 0; erase < 2; erase++)
        for (long c = 0; c < 64; c++) {
            struct rig r;
            rig_init(&r, 512, 4, 8, 0);
            g_maxlen = 40;
            r.sim.cut_mode = SIM_CUT_WEAK;
            if (erase)
                r.sim.erase_budget = c < 1 ? c : -1;
            else
                r.sim.budget = c;
            int ret = rig_open(&r);
            if (r.sim.dead)
                assert_int_equal(ret, CORIO_ERR_IO);
            sim_power_on(&r.sim);
            sim_settle(&r.sim);
            assert_int_equal(rig_open(&r), CORIO_OK);
            r.m->epoch = r.ob.hd.epoch;
            carry_on(&r, "first format");
            assert_int_equal(rig_open(&r), CORIO_OK);
            verify(&r, "first format");
            rig_free(&r);
        }
}

/* Hundreds of cuts in a row on one flash, in every mode, with reboots, settling
 * units and the ring wrapping many times. */
static void chained_cuts(void **state)
{
    (void)state;
    const struct geometry *gs[] = {&g_ecc8, &g_byte, &g_h7};
    for (size_t k = 0; k < sizeof gs / sizeof *gs; k++) {
        struct rig r;
        char when[64];
        rig_init(&r, gs[k]->ssz, gs[k]->n, gs[k]->prog, gs[k]->flags);
        rig_reset(&r, 4242u + (uint32_t)k);
        for (int cycle = 0; cycle < 400 && r.m->n < MAXMSG - 64; cycle++) {
            snprintf(when, sizeof when, "prog %u cycle %d", gs[k]->prog, cycle);
            snprintf(g_when, sizeof g_when, "%s", when);
            r.sim.cut_mode = (int)(rig_rand(&r) % 4u);
            if (rig_rand(&r) % 8u == 0)
                r.sim.erase_budget = (long)(rig_rand(&r) % 3u);
            else
                r.sim.budget = (long)(rig_rand(&r) % 1500u);
            workload(&r, 40);
            sim_power_on(&r.sim);
            if (rig_rand(&r) % 2u)
                sim_settle(&r.sim); /* else it settles later, under a running outbox */
            assert_int_equal(rig_open(&r), CORIO_OK);
            verify(&r, when);
            if (r.sim.weak && rig_rand(&r) % 2u) {
                workload(&r, 5);
                sim_settle(&r.sim);
                assert_int_equal(rig_open(&r), CORIO_OK);
                verify(&r, when);
            }
        }
        print_message("prog %u: %u messages through chained cuts\n", gs[k]->prog, r.m->n);
        rig_free(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cut_every_byte_ecc8_clean),
        cmocka_unit_test(cut_every_byte_ecc8_garbage),
        cmocka_unit_test(cut_every_byte_ecc8_weak),
        cmocka_unit_test(cut_every_byte_ecc8_unreadable),
        cmocka_unit_test(cut_every_byte_nor_byte),
        cmocka_unit_test(cut_every_byte_h7),
        cmocka_unit_test(cut_every_erase),
        cmocka_unit_test(cut_every_byte_then_erase),
        cmocka_unit_test(rotation_header_settles_later),
        cmocka_unit_test(cut_during_first_format),
        cmocka_unit_test(chained_cuts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
