/*
 * test_downlink_pg.c - the downlink's ingest hooks over the telemetry store on a real
 * PostgreSQL 15 (started by the harness), where the ingest writes a batch's message rows
 * and samples in bulk: packs of a clockless device dated from the heartbeat of their boot
 * or flagged; command results and reported configuration stored under the device's
 * (epoch, seq), counted in its sequence (a skipped seq is a gap) and closing their
 * command; a redelivered batch changing nothing. The downlink's own tables are SQLite
 * (cloud/dl_store.c), as corio-cloud runs them with store postgres.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <libpq-fe.h>

#include "batch.h"
#include "cloud.h"
#include "cloud_downlink.h"
#include "corio/downlink.h"
#include "corio/error.h"
#include "crypto_openssl.h"
#include "dl_store.h"
#include "harness.h"
#include "ingest.h"
#include "store.h"

#define ORG "oooooooooooooooooooooooo"
#define GW  "gggggggggggggggggggggggg"
#define DEV "dddddddddddddddddddddddd"
#define DV2 "eeeeeeeeeeeeeeeeeeeeeeee"
#define T0  1764500000000LL

static struct h_pg *PGS;
static int db_counter;

struct fx {
    char *dir;
    char *where; /* the test's own database */
    struct corio_store *writer, *reader;
    struct corio_dl_store *dl;
    struct corio_key gw_key;
    struct corio_cloud_downlink *svc;
    struct corio_ingest *ig;
    struct corio_ingest_result res;
};

static struct fx F;

static int no_publish(void *ctx, const char *topic, const uint8_t *p, size_t n)
{
    (void)ctx;
    (void)topic;
    (void)p;
    (void)n;
    return -1;
}

static int setup(void **state)
{
    (void)state;
    memset(&F, 0, sizeof F);
    char name[32];
    snprintf(name, sizeof name, "dl%d", ++db_counter);
    assert_int_equal(h_pg_sql(PGS, h_strf("CREATE DATABASE %s", name), NULL), 0);
    F.where = strdup(h_strf("host=127.0.0.1 port=%d dbname=%s user=postgres", PGS->port, name));
    F.dir = h_tmpdir("downlink-pg");
    char err[256];
    assert_int_equal(corio_store_open_pg(F.where, &F.writer, err, sizeof err), CORIO_OK);
    assert_int_equal(corio_store_open_pg(F.where, &F.reader, err, sizeof err), CORIO_OK);
    assert_int_equal(corio_dl_open(h_strf("%s/downlink.db", F.dir), &F.dl, err, sizeof err),
                     CORIO_OK);
    assert_int_equal(corio_key_generate(&corio_crypto_openssl_ops, 0, 0, &F.gw_key), CORIO_OK);
    assert_int_equal(corio_store_put_org(F.writer, ORG, "one"), CORIO_OK);
    struct corio_gateway_rec g = {.id = GW, .org = ORG, .pubkey_len = 65};
    assert_int_equal(corio_key_public(&F.gw_key, g.pubkey), CORIO_OK);
    assert_int_equal(corio_store_put_gateway(F.writer, &g), CORIO_OK);
    struct corio_device_rec d = {.id = DEV, .org = ORG, .gateway = GW};
    assert_int_equal(corio_store_put_device(F.writer, &d), CORIO_OK);
    struct corio_device_rec d2 = {.id = DV2, .org = ORG, .gateway = GW};
    assert_int_equal(corio_store_put_device(F.writer, &d2), CORIO_OK);
    /* No key and never started: only the hooks run here. */
    struct corio_cloud_downlink_opts o = {.org = ORG,
                                          .dl = F.dl,
                                          .reader = F.reader,
                                          .publish = no_publish,
                                          .command_ttl_ms = 60000,
                                          .command_ttl_max_ms = 600000};
    assert_int_equal(corio_cloud_downlink_new(&o, &F.svc, err, sizeof err), CORIO_OK);
    struct corio_ingest_opts io = {.store = F.writer,
                                   .verifier = corio_cloud_cose_verifier,
                                   .hooks = corio_cloud_downlink_hooks(F.svc)};
    assert_int_equal(corio_ingest_new(&io, &F.ig), CORIO_OK);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    corio_cloud_downlink_free(F.svc);
    corio_ingest_result_free(&F.res);
    corio_ingest_free(F.ig);
    corio_store_close(F.reader);
    corio_store_close(F.writer);
    corio_dl_close(F.dl);
    corio_key_close(&F.gw_key);
    assert_int_equal(system(h_strf("rm -rf '%s'", F.dir)), 0);
    free(F.dir);
    free(F.where);
    return 0;
}

/* One row of sql in the test's database, its columns joined by '|'. */
static char *one_row(const char *sql)
{
    PGconn *c = PQconnectdb(F.where);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexec(c, sql);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(r), 1);
    char out[512] = "";
    for (int i = 0; i < PQnfields(r); i++)
        snprintf(out + strlen(out), sizeof out - strlen(out), "%s%s", i ? "|" : "",
                 PQgetisnull(r, 0, i) ? "null" : PQgetvalue(r, 0, i));
    PQclear(r);
    PQfinish(c);
    return h_strf("%s", out);
}

/* ---- batches ---- */

struct bb {
    struct corio_batch b;
    struct corio_batch_msg m[16];
    uint8_t payloads[16][256];
};

static void bb_init(struct bb *x, uint64_t first)
{
    memset(x, 0, sizeof *x);
    x->b.version = 1;
    snprintf(x->b.gateway, sizeof x->b.gateway, "%s", GW);
    x->b.epoch = 7;
    x->b.first = first;
    x->b.last = first + 15;
    x->b.msgs = x->m;
}

static void bb_add(struct bb *x, const char *dev, const char *suffix, int64_t recv, const void *p,
                   size_t n)
{
    size_t i = x->b.count++;
    assert_true(i < 16 && n <= sizeof x->payloads[i]);
    memcpy(x->payloads[i], p, n);
    x->m[i] = (struct corio_batch_msg){.id = x->b.first + i,
                                       .device = dev,
                                       .device_len = 24,
                                       .suffix = suffix,
                                       .suffix_len = strlen(suffix),
                                       .recv_ms = recv,
                                       .payload = x->payloads[i],
                                       .payload_len = n};
}

static void bb_text(struct bb *x, const char *dev, const char *suffix, int64_t recv,
                    const char *text)
{
    bb_add(x, dev, suffix, recv, text, strlen(text));
}

static int ingest(struct bb *x, int64_t now)
{
    corio_ingest_result_free(&F.res);
    return corio_ingest_decoded(F.ig, &x->b, now, &F.res);
}

struct pts {
    int64_t t[16];
    int n;
};

static int keep_point(const struct corio_point *p, void *arg)
{
    struct pts *s = arg;
    if (s->n < 16)
        s->t[s->n++] = p->t_ms;
    return 0;
}

static struct pts series(const char *dev)
{
    struct pts p = {0};
    assert_int_equal(
        corio_store_series(F.reader, ORG, dev, "temp", 0, T0 + 3600000, 0, 100, keep_point, &p),
        CORIO_OK);
    return p;
}

static int no_gap(const struct corio_gap *g, void *arg)
{
    (void)g;
    (void)arg;
    return 0;
}

static int64_t missing_of(const char *dev)
{
    int64_t missing = -1;
    assert_int_equal(corio_store_gaps(F.reader, ORG, dev, no_gap, NULL, &missing), CORIO_OK);
    return missing;
}

/* ---- tests ---- */

static void packs_without_time_are_dated_or_flagged(void **state)
{
    (void)state;
    struct bb x;
    bb_init(&x, 1);
    /* Boot 3: a heartbeat at T0 after 100 s of uptime; packs sampled at uptime 50 s and
     * 60 s, received a minute later (they waited in the outbox). */
    bb_text(&x, DEV, "up/hb", T0,
            "{\"up\":100,\"bc\":3,\"ep\":1,\"last\":1,\"pending\":1,\"drops\":0}");
    bb_text(&x, DEV, "up/json", T0 + 60000,
            "[{\"bn\":\"urn:corio:" DEV ":\",\"ep\":1,\"seq\":1,\"boot\":3,\"upt\":50000,"
            "\"n\":\"temp\",\"v\":1}]");
    bb_text(&x, DEV, "up/json", T0 + 60001,
            "[{\"bn\":\"urn:corio:" DEV ":\",\"ep\":1,\"seq\":2,\"boot\":3,\"upt\":60000,"
            "\"n\":\"temp\",\"v\":2}]");
    /* Boot 4 of the other device: no heartbeat: kept at its receive time, flagged. */
    bb_text(&x, DV2, "up/json", T0 + 61000,
            "[{\"bn\":\"urn:corio:" DV2 ":\",\"ep\":1,\"seq\":1,\"boot\":4,\"upt\":10,"
            "\"n\":\"temp\",\"v\":3}]");
    assert_int_equal(ingest(&x, T0 + 62000), CORIO_OK);
    assert_int_equal(F.res.stored, 4);
    assert_int_equal(F.res.samples, 3);
    struct pts p = series(DEV);
    assert_int_equal(p.n, 2);
    assert_int_equal(p.t[0], T0 - 100000 + 50000);
    assert_int_equal(p.t[1], T0 - 100000 + 60000);
    struct pts q = series(DV2);
    assert_int_equal(q.n, 1);
    assert_int_equal(q.t[0], T0 + 61000);
    int64_t n;
    assert_int_equal(corio_dl_untimed_count(F.dl, ORG, DEV, &n), CORIO_OK);
    assert_int_equal(n, 0);
    assert_int_equal(corio_dl_untimed_count(F.dl, ORG, DV2, &n), CORIO_OK);
    assert_int_equal(n, 1);
    assert_int_equal(missing_of(DEV), 0);
    /* Redelivered: all duplicates, the same samples, still one flag. */
    assert_int_equal(ingest(&x, T0 + 63000), CORIO_OK);
    assert_int_equal(F.res.duplicates, 4);
    assert_int_equal(F.res.samples, 0);
    assert_int_equal(series(DEV).n, 2);
    assert_int_equal(corio_dl_untimed_count(F.dl, ORG, DV2, &n), CORIO_OK);
    assert_int_equal(n, 1);
}

struct cmd_seen {
    int state;
    bool has_answer;
    int status;
};

static int keep_state(const struct corio_dl_cmd *c, void *arg)
{
    struct cmd_seen *s = arg;
    s->state = c->state;
    s->has_answer = c->has_answer;
    s->status = c->status;
    return 0;
}

static struct cmd_seen cmd_state(int64_t seq)
{
    struct cmd_seen s = {-1, false, -1};
    assert_int_equal(corio_dl_cmd_get(F.dl, ORG, DEV, seq, keep_state, &s), CORIO_OK);
    return s;
}

static size_t result_bytes(uint8_t *buf, size_t cap, const uint8_t *cid, uint64_t seq, int st)
{
    static const uint8_t res[] = {0x18, 0xFA};
    struct corio_cmd_result r = {true, 1, seq, cid, CORIO_DL_CID_LEN, (uint8_t)st, 0, res, 2};
    int n = corio_cmd_result_encode(&r, buf, cap);
    assert_true(n > 0);
    return (size_t)n;
}

static int keep_cfg(const struct corio_dl_cfg *c, void *arg)
{
    struct corio_dl_cfg *out = arg;
    *out = *c;
    out->desired = out->reported = NULL; /* valid only during the call */
    return 0;
}

static void answers_count_in_the_sequence_and_close_commands(void **state)
{
    (void)state;
    uint8_t cid[CORIO_DL_CID_LEN] = {1, 2, 3};
    int64_t seq;
    assert_int_equal(corio_dl_cmd_add(F.dl, ORG, DEV, "blink", NULL, 0, T0, T0 + 60000, cid, &seq),
                     CORIO_OK);
    uint8_t buf[128];
    static const uint8_t cfg[] = {0xA1, 0x61, 'x', 0x01};
    uint64_t v;
    assert_int_equal(corio_dl_cfg_set(F.dl, ORG, DEV, cfg, sizeof cfg, T0, &v), CORIO_OK);
    assert_int_equal(v, 1);
    /* One batch: a pack (seq 1), the answer (seq 2), the reported configuration (seq 3),
     * and an answer of the other device with the same cid, which closes nothing. */
    struct bb x;
    bb_init(&x, 100);
    bb_text(&x, DEV, "up/json", T0 + 20,
            "[{\"bn\":\"urn:corio:" DEV ":\",\"bt\":1764500000,\"ep\":1,\"seq\":1,"
            "\"n\":\"temp\",\"v\":1}]");
    bb_add(&x, DEV, "up/res", T0 + 30, buf, result_bytes(buf, sizeof buf, cid, 2, 0));
    struct corio_cfg_reported rep = {true, 1, 3, 1, CORIO_CFG_APPLIED, 0, cfg, sizeof cfg};
    int n = corio_cfg_reported_encode(&rep, buf, sizeof buf);
    assert_true(n > 0);
    bb_add(&x, DEV, "up/cfg", T0 + 40, buf, (size_t)n);
    bb_add(&x, DV2, "up/res", T0 + 50, buf, result_bytes(buf, sizeof buf, cid, 1, 1));
    assert_int_equal(ingest(&x, T0 + 100), CORIO_OK);
    assert_int_equal(F.res.stored, 4);
    struct cmd_seen s = cmd_state(seq);
    assert_int_equal(s.state, CORIO_DL_DONE);
    assert_true(s.has_answer);
    assert_int_equal(s.status, 0);
    assert_int_equal(missing_of(DEV), 0);
    assert_string_equal(one_row("SELECT epoch, seq, status FROM messages WHERE suffix = 'up/res' "
                                "AND device = '" DEV "'"),
                        "1|2|0");
    assert_string_equal(one_row("SELECT epoch, seq FROM messages WHERE suffix = 'up/cfg'"), "1|3");
    assert_string_equal(one_row("SELECT max_seq FROM device_epochs WHERE device = '" DEV "'"), "3");
    /* The twin took the report. */
    struct corio_dl_cfg seen = {0};
    assert_int_equal(corio_dl_cfg_get(F.dl, ORG, DEV, keep_cfg, &seen), CORIO_OK);
    assert_true(seen.has_reported);
    assert_int_equal(seen.reported_version, 1);
    assert_int_equal(seen.reported_status, CORIO_CFG_APPLIED);
    assert_int_equal(seen.reported_ms, T0 + 40);

    /* An answer with seq 5: seq 4 is missing. Redelivered, it is a duplicate and the
     * command keeps its first answer. */
    bb_init(&x, 200);
    bb_add(&x, DEV, "up/res", T0 + 60, buf, result_bytes(buf, sizeof buf, cid, 5, 1));
    assert_int_equal(ingest(&x, T0 + 200), CORIO_OK);
    assert_int_equal(F.res.stored, 1);
    assert_int_equal(missing_of(DEV), 1);
    assert_int_equal(ingest(&x, T0 + 300), CORIO_OK);
    assert_int_equal(F.res.duplicates, 1);
    assert_int_equal(cmd_state(seq).status, 0);
    assert_string_equal(one_row("SELECT count(*) FROM messages WHERE suffix = 'up/res' "
                                "AND device = '" DEV "'"),
                        "2");

    /* An answer that does not decode is kept as a message, outside any sequence. */
    bb_init(&x, 300);
    bb_text(&x, DEV, "up/res", T0 + 70, "not cbor");
    assert_int_equal(ingest(&x, T0 + 400), CORIO_OK);
    assert_int_equal(F.res.stored, 1);
    assert_string_equal(
        one_row("SELECT epoch, seq FROM messages WHERE suffix = 'up/res' AND gw_id = 300"),
        "null|null");
    assert_int_equal(missing_of(DEV), 1);
}

int main(void)
{
    static const char *const conf[] = {"fsync = off", "full_page_writes = off", NULL};
    PGS = h_pg_start(&(struct h_pg_opts){.dbname = "corio", .conf = conf});
    if (!PGS)
        return h_done(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(packs_without_time_are_dated_or_flagged, setup, teardown),
        cmocka_unit_test_setup_teardown(answers_count_in_the_sequence_and_close_commands, setup,
                                        teardown),
    };
    return h_done(cmocka_run_group_tests(tests, NULL, NULL));
}
