/*
 * chaos_world.h - the world the gateway chaos tests (chaos_uplink.c, chaos_powercut.c,
 * chaos_outbox_full.c) run in, after chaos_telemetry.c: simulated devices (corio sim) ->
 * corio-gateway (its Mosquitto + plugin) -> fault proxy -> cloud Mosquitto ->
 * corio-cloud on SQLite; and the account each test ends with: per device, what it sent
 * equals what the cloud stored plus what was reported dropped, and nothing was dropped.
 *
 * Static functions in a header: each chaos test is one program (tests/CMakeLists.txt).
 */
#ifndef CORIO_TESTS_CHAOS_WORLD_H
#define CORIO_TESTS_CHAOS_WORLD_H

#include <jansson.h>
#include <sqlite3.h>

#include "corio/did.h"
#include "crypto_openssl.h"
#include "harness.h"
#include "outbox.h"

struct world_opts {
    int devices;
    const char *rate;      /* packs per second per device */
    const char *gateway;   /* more corio-gateway configuration lines, or NULL */
    const char *heartbeat; /* seconds; default 2 */
};

struct world {
    struct world_opts o;
    struct h_mosq *cloud_broker;
    struct h_proxy *link;
    struct h_proc *cloud, *gateway, *sim;
    const char *dir, *cloud_db, *outbox, *summary, *devices;
    int http_port, gw_http_port, device_port;
    char org[CORIO_DID_ID_CHARS + 1];
    char gw[CORIO_DID_ID_CHARS + 1];
};

static __attribute__((unused)) void world_identity(const char *pem, char id[CORIO_DID_ID_CHARS + 1], char *didkey,
                           size_t cap)
{
    struct corio_key key;
    assert_int_equal(corio_key_generate(&corio_crypto_openssl_ops, 0, CORIO_KEY_EXPORTABLE, &key),
                     CORIO_OK);
    uint8_t pub[CORIO_P256_PUB_LEN];
    assert_int_equal(corio_key_public(&key, pub), CORIO_OK);
    struct corio_did did;
    assert_int_equal(corio_did_from_key(&corio_crypto_openssl_ops, pub, sizeof pub, &did),
                     CORIO_OK);
    corio_did_id_format(did.id, id, CORIO_DID_ID_CHARS + 1);
    if (didkey)
        corio_didkey_format(pub, sizeof pub, didkey, cap);
    if (pem)
        assert_int_equal(corio_openssl_key_write_pem(&key, pem), CORIO_OK);
    corio_key_close(&key);
}

/* Starts everything but the devices (world_run_devices). */
static __attribute__((unused)) struct world *world_start(const struct world_opts *o)
{
    static struct world world;
    struct world *w = &world;
    memset(w, 0, sizeof *w);
    w->o = *o;
    w->dir = h_dir();
    char gw_didkey[CORIO_DIDKEY_BUF];
    world_identity(NULL, w->org, NULL, 0);
    const char *gw_pem = h_strf("%s/gateway.pem", w->dir);
    world_identity(gw_pem, w->gw, gw_didkey, sizeof gw_didkey);

    w->devices = h_strf("%s/devices", w->dir);
    const char *reg = h_strf("%s/devices.reg", w->dir);
    const char *prov[] = {h_bin("corio"), "sim", "provision", "--devices", h_strf("%d", o->devices),
                          "--dir", w->devices, "--org", w->org, "--registry-out", reg, NULL};
    assert_int_equal(h_run("corio-provision", prov, NULL, 120000, NULL), 0);
    const char *registry = h_strf("%s/registry", w->dir);
    assert_int_equal(h_write_file(registry, h_strf("height 1\norg %s Chaos Org\n"
                                                   "gateway %s org=%s key=%s\n%s",
                                                   w->org, w->gw, w->org, gw_didkey,
                                                   h_read_file(reg, NULL))),
                     0);

    w->cloud_broker = h_mosq_start(NULL);
    assert_non_null(w->cloud_broker);
    w->link = h_proxy_start("127.0.0.1", w->cloud_broker->port);
    assert_non_null(w->link);

    w->cloud_db = h_strf("%s/cloud.db", w->dir);
    w->http_port = h_free_port();
    struct h_daemon_opts co = {
        .config = h_strf("org %s\ndatabase %s\nregistry %s\nhttp_port %d\nbroker_port %d\n"
                         "web_root %s/web/dist\n",
                         w->org, w->cloud_db, registry, w->http_port, w->cloud_broker->port,
                         getenv("CORIO_SOURCE_DIR")),
        .ready_url = h_strf("http://127.0.0.1:%d/healthz", w->http_port)};
    w->cloud = h_daemon_start("corio-cloud", &co);
    assert_non_null(w->cloud);

    w->outbox = h_strf("%s/gateway/outbox.db", w->dir);
    w->device_port = h_free_port();
    w->gw_http_port = h_free_port();
    const char *env_lines = h_broker_env_conf();
    h_mkdir("gateway");
    struct h_daemon_opts go = {
        .config = h_strf("gateway_id %s\nkey %s\noutbox %s\nregistry %s\ncloud_port %d\n"
                         "cloud_keepalive 5s\nack_timeout 2s\nloopback_port 0\n"
                         "mqtt_address 127.0.0.1\nmqtt_port %d\nmqtts_port 0\nhttp_port %d\n"
                         "broker_dir %s/gateway/broker\nstatus_interval 1s\nlog_level info\n%s%s",
                         w->gw, gw_pem, w->outbox, registry, h_proxy_port(w->link),
                         w->device_port, w->gw_http_port, w->dir, env_lines,
                         o->gateway ? o->gateway : ""),
        .ready_port = w->device_port};
    w->gateway = h_daemon_start("corio-gateway", &go);
    assert_non_null(w->gateway);
    return w;
}

static __attribute__((unused)) void world_run_devices(struct world *w)
{
    w->summary = h_strf("%s/sim.json", w->dir);
    const char *run[] = {h_bin("corio"), "sim", "run", "--dir", w->devices, "--gateway",
                         h_strf("127.0.0.1:%d", w->device_port), "--gateway-id", w->gw,
                         "--rate", w->o.rate, "--heartbeat", w->o.heartbeat ? w->o.heartbeat : "2",
                         "--drain-timeout", "600", "--summary", w->summary, NULL};
    w->sim = h_proc_start("corio-sim", run, NULL);
    assert_non_null(w->sim);
}

static __attribute__((unused)) int64_t world_sql_int(struct world *w, const char *sql)
{
    sqlite3 *db;
    int64_t n = -1;
    if (sqlite3_open_v2(w->cloud_db, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(db, 5000);
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return n;
}

/* Distinct device messages stored in the cloud. */
static __attribute__((unused)) int64_t world_stored(struct world *w)
{
    return world_sql_int(w, "SELECT count(*) FROM messages WHERE seq IS NOT NULL");
}

static __attribute__((unused)) bool world_outbox(struct world *w, struct corio_outbox_stats *st)
{
    struct corio_outbox_options o = {.path = w->outbox, .read_only = true};
    corio_outbox *ob;
    char err[256];
    if (corio_outbox_open(&o, &ob, err, sizeof err) != CORIO_OK)
        return false;
    int rc = corio_outbox_stats(ob, st);
    corio_outbox_close(ob);
    return rc == CORIO_OK;
}

/* The highest id the gateway's plugin has handed out. */
static __attribute__((unused)) int64_t world_written(struct world *w)
{
    struct corio_outbox_stats st;
    return world_outbox(w, &st) ? st.last_id : -1;
}

static __attribute__((unused)) int64_t world_outbox_rows(struct world *w)
{
    struct corio_outbox_stats st;
    return world_outbox(w, &st) ? st.rows : -1;
}

static __attribute__((unused)) void world_wait_stored_grows(struct world *w, int64_t by)
{
    int64_t from = world_stored(w);
    bool grew;
    H_POLL(grew, world_stored(w) >= from + by, 120000);
    if (!grew)
        fail_msg("the cloud stopped storing (at %lld)", (long long)world_stored(w));
}

static __attribute__((unused)) void world_wait_written_grows(struct world *w, int64_t by)
{
    int64_t from = world_written(w);
    bool grew;
    H_POLL(grew, world_written(w) >= from + by, 120000);
    if (!grew)
        fail_msg("the gateway stopped accepting device messages (at %lld)",
                 (long long)world_written(w));
}

/* A value on corio-gateway's /metrics ("name value"), or -1. */
static __attribute__((unused)) double world_metric(struct world *w, const char *name)
{
    struct h_http_resp r;
    if (h_http_get(h_strf("http://127.0.0.1:%d/metrics", w->gw_http_port), &r) != CORIO_OK ||
        r.status != 200)
        return -1;
    size_t n = strlen(name);
    for (const char *at = r.body; (at = strstr(at, name)); at += n)
        if ((at == r.body || at[-1] == '\n') && at[n] == ' ')
            return atof(at + n + 1);
    return -1;
}

static __attribute__((unused)) int64_t world_api_number(struct world *w, const char *path, const char *key)
{
    struct h_http_resp r;
    if (h_http_get(h_strf("http://127.0.0.1:%d%s", w->http_port, path), &r) != CORIO_OK ||
        r.status != 200)
        return -1;
    json_t *j = json_loads(r.body, 0, NULL);
    int64_t v = j ? (int64_t)json_integer_value(json_object_get(j, key)) : -1;
    json_decref(j);
    return v;
}

static __attribute__((unused)) int64_t world_missing(struct world *w)
{
    return world_api_number(w, "/api/v1/stats", "missing");
}

/*
 * Polls until value(w) reaches target from below (rising) or above (falling). Gives up
 * when the value has not moved for stall_ms, or after limit_ms: a world that lost
 * messages stops moving short of its target, and the test must then fail with its
 * account rather than wait out every long deadline in turn.
 */
static __attribute__((unused)) bool world_reaches(struct world *w,
                                                  int64_t (*value)(struct world *),
                                                  int64_t target, bool rising, int stall_ms,
                                                  int limit_ms)
{
    struct h_poll p;
    h_poll_init(&p, limit_ms);
    int64_t last = value(w), moved_at = h_now_ms();
    for (;;) {
        int64_t v = value(w);
        if (v >= 0 && (rising ? v >= target : v <= target))
            return true;
        if (v != last) {
            last = v;
            moved_at = h_now_ms();
        }
        if (h_now_ms() - moved_at > stall_ms || !h_poll_next(&p))
            return false;
    }
}

/* This gateway's latest status as corio-cloud serves it (GET /api/v1/gateways/status), or NULL;
 * the caller decrefs. */
static __attribute__((unused)) json_t *world_cloud_status(struct world *w)
{
    struct h_http_resp r;
    if (h_http_get(h_strf("http://127.0.0.1:%d/api/v1/gateways/status", w->http_port), &r) != CORIO_OK ||
        r.status != 200)
        return NULL;
    json_t *j = json_loads(r.body, 0, NULL), *found = NULL;
    size_t i;
    json_t *g;
    json_array_foreach(json_object_get(j, "gateways"), i, g)
    {
        if (strcmp(json_string_value(json_object_get(g, "id")), w->gw) == 0)
            found = json_incref(json_object_get(g, "status"));
    }
    json_decref(j);
    return found;
}

/*
 * Between two rounds of a soak: the cloud has no gap left (the devices answered every
 * resend request and delivered what they kept), and the devices have been connected for
 * a minute, which resets their reconnect backoff (sdk/src/device.c); rounds back to back
 * would keep devices away longer than their outboxes hold, a test of the devices'
 * capacity rather than of the gateway.
 */
static __attribute__((unused)) void world_settle(struct world *w)
{
    if (!world_reaches(w, world_missing, 0, false, 90000, 300000))
        fail_msg("the cloud still misses %lld messages", (long long)world_missing(w));
    int64_t calm = h_now_ms() + 65000;
    bool waited;
    H_POLL(waited, h_now_ms() >= calm, 70000);
}

/* Totals of the account. */
struct world_account {
    int64_t sent, stored, dropped, devices, replayed, resend_requests, link_errors;
};

/*
 * Stops the devices (they drain first), then checks every device's account against the
 * cloud: sent = stored + dropped, dropped = 0, every seq 1..sent stored exactly once, and
 * no gap left (the cloud's missing count is 0). Returns the totals.
 */
static __attribute__((unused)) struct world_account world_finish(struct world *w)
{
    /* A device answering a resend request (after a power cut) keeps sending until it is
     * done, but a stopping device only drains what it has not had acknowledged: stop
     * them once the cloud has no gap left (or after five minutes; the account then says
     * what is missing). */
    (void)world_reaches(w, world_missing, 0, false, 90000, 300000);
    assert_int_equal(h_proc_signal(w->sim, SIGTERM), CORIO_OK);
    assert_int_equal(h_proc_wait_exit(w->sim, 300000), 0);
    json_error_t jerr;
    json_t *summary = json_load_file(w->summary, 0, &jerr);
    assert_non_null(summary);
    int64_t sent = json_integer_value(json_object_get(summary, "sent"));
    assert_true(sent > 0);
    (void)world_reaches(w, world_stored, sent, true, 60000, 300000);
    if (world_stored(w) != sent)
        print_message("chaos: the devices sent %lld, the cloud stored %lld (account below)\n",
                      (long long)sent, (long long)world_stored(w));

    struct world_account a = {0};
    int bad_devices = 0;
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(w->cloud_db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT count(*), count(DISTINCT seq), min(seq), max(seq) "
                                        "FROM messages WHERE device = ?1 AND epoch = ?2 "
                                        "AND seq IS NOT NULL AND status = 0",
                                        -1, &st, NULL),
                     SQLITE_OK);
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(summary, "devices"), i, d)
    {
        const char *id = json_string_value(json_object_get(d, "id"));
        json_int_t epoch = json_integer_value(json_object_get(d, "epoch"));
        json_int_t last = json_integer_value(json_object_get(d, "last_seq"));
        json_int_t produced = json_integer_value(json_object_get(d, "produced"));
        json_int_t dropped = json_integer_value(json_object_get(d, "drops"));
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, epoch);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        int64_t rows = sqlite3_column_int64(st, 0), distinct = sqlite3_column_int64(st, 1);
        int64_t lo = sqlite3_column_int64(st, 2), hi = sqlite3_column_int64(st, 3);
        sqlite3_reset(st);
        if (produced != last || produced != distinct + dropped || dropped != 0 ||
            rows != distinct || (last && (lo != 1 || hi != last))) {
            /* Every device whose account is wrong is printed; the test fails below. */
            print_message("chaos: device %s epoch %lld: sent %lld (last seq %lld), stored %lld "
                          "(%lld rows, seqs %lld..%lld), dropped %lld\n",
                          id, (long long)epoch, (long long)produced, (long long)last,
                          (long long)distinct, (long long)rows, (long long)lo, (long long)hi,
                          (long long)dropped);
            bad_devices++;
        }
        a.sent += produced;
        a.stored += distinct;
        a.dropped += dropped;
        a.devices++;
        a.replayed += json_integer_value(json_object_get(d, "replayed"));
        a.resend_requests += json_integer_value(json_object_get(d, "resend_requests"));
        a.link_errors += json_integer_value(json_object_get(d, "link_errors"));
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    int64_t drops = json_integer_value(json_object_get(summary, "drops"));
    json_decref(summary);
    if (bad_devices)
        fail_msg("%d device(s) with a wrong account: sent %lld, stored %lld, dropped %lld",
                 bad_devices, (long long)a.sent, (long long)a.stored, (long long)a.dropped);
    assert_int_equal(a.sent, sent);
    assert_int_equal(drops, 0);
    /* Gateway drops are of the droppable class only, which the devices do not send. */
    assert_true(world_metric(w, "corio_gateway_dropped_total") == 0);
    bool no_gaps;
    H_POLL(no_gaps, world_api_number(w, "/api/v1/stats", "missing") == 0, 60000);
    assert_true(no_gaps);
    return a;
}

#endif /* CORIO_TESTS_CHAOS_WORLD_H */
