/*
 * chaos_telemetry.c - the telemetry path end to end under faults: simulated devices →
 * corio-gateway (its Mosquitto + plugin) → fault proxy → cloud Mosquitto → corio-cloud.
 * While the devices publish, the test cuts and stalls the gateway–cloud link, SIGKILLs
 * corio-gateway, the gateway's broker, the cloud broker (while corio-cloud is frozen, so
 * that batches the broker PUBACKed die with it) and corio-cloud. Then it checks that
 * every message the devices sent is stored exactly once, counted by (device, epoch,
 * seq), with no gap left.
 *
 * The cloud-broker step is what makes a gateway that moved its watermark on the
 * broker's PUBACK lose messages: those batches were acknowledged by the broker and never
 * reached the database. A non-idempotent ingest shows as more rows than sequence
 * numbers. In `make test` one round of faults runs; `make soak` repeats rounds for
 * CORIO_SOAK_SECONDS.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "corio/did.h"
#include "crypto_openssl.h"
#include "harness.h"
#include "outbox.h"

#define DEVICES "5"
#define RATE    "4"

struct env {
    struct h_mosq *cloud_broker;
    struct h_proxy *link;
    struct h_proc *cloud, *gateway, *sim;
    const char *dir, *cloud_db, *outbox, *summary;
    int http_port, gw_http_port, device_port;
    char org[CORIO_DID_ID_CHARS + 1];
    char gw[CORIO_DID_ID_CHARS + 1];
};

static void identity(const char *pem, char id[CORIO_DID_ID_CHARS + 1], char *didkey, size_t cap)
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

static struct env *start(void)
{
    static struct env env;
    struct env *e = &env;
    memset(e, 0, sizeof *e);
    e->dir = h_dir();
    char gw_didkey[CORIO_DIDKEY_BUF];
    identity(NULL, e->org, NULL, 0);
    const char *gw_pem = h_strf("%s/gateway.pem", e->dir);
    identity(gw_pem, e->gw, gw_didkey, sizeof gw_didkey);

    const char *devices = h_strf("%s/devices", e->dir), *reg = h_strf("%s/devices.reg", e->dir);
    const char *prov[] = {h_bin("corio"), "sim", "provision", "--devices", DEVICES, "--dir",
                          devices, "--org", e->org, "--registry-out", reg, NULL};
    assert_int_equal(h_run("corio-provision", prov, NULL, 60000, NULL), 0);
    const char *registry = h_strf("%s/registry", e->dir);
    assert_int_equal(h_write_file(registry, h_strf("height 1\norg %s Chaos Org\n"
                                                   "gateway %s org=%s key=%s\n%s",
                                                   e->org, e->gw, e->org, gw_didkey,
                                                   h_read_file(reg, NULL))),
                     0);

    e->cloud_broker = h_mosq_start(NULL);
    assert_non_null(e->cloud_broker);
    e->link = h_proxy_start("127.0.0.1", e->cloud_broker->port);
    assert_non_null(e->link);

    e->cloud_db = h_strf("%s/cloud.db", e->dir);
    e->http_port = h_free_port();
    struct h_daemon_opts co = {
        .config = h_strf("org %s\ndatabase %s\nregistry %s\nhttp_port %d\nbroker_port %d\n"
                         "web_root %s/web/dist\n",
                         e->org, e->cloud_db, registry, e->http_port, e->cloud_broker->port,
                         getenv("CORIO_SOURCE_DIR")),
        .ready_url = h_strf("http://127.0.0.1:%d/healthz", e->http_port)};
    e->cloud = h_daemon_start("corio-cloud", &co);
    assert_non_null(e->cloud);

    e->outbox = h_strf("%s/gateway/outbox.db", e->dir);
    e->device_port = h_free_port();
    e->gw_http_port = h_free_port();
    char *env_lines = h_strf("%s", "");
    for (const char *const *v = h_sanitizer_env(); v && *v; v++)
        env_lines = h_strf("%sbroker_env %s\n", env_lines, *v);
    h_mkdir("gateway");
    struct h_daemon_opts go = {
        .config = h_strf("gateway_id %s\nkey %s\noutbox %s\nregistry %s\ncloud_port %d\n"
                         "cloud_keepalive 5s\nack_timeout 2s\nloopback_port 0\n"
                         "mqtt_address 127.0.0.1\nmqtt_port %d\nmqtts_port 0\nhttp_port %d\n"
                         "broker_dir %s/gateway/broker\nlog_level debug\n%s",
                         e->gw, gw_pem, e->outbox, registry, h_proxy_port(e->link), e->device_port,
                         e->gw_http_port, e->dir, env_lines),
        .ready_port = e->device_port};
    e->gateway = h_daemon_start("corio-gateway", &go);
    assert_non_null(e->gateway);

    e->summary = h_strf("%s/sim.json", e->dir);
    const char *run[] = {h_bin("corio"), "sim", "run", "--dir", devices, "--gateway",
                         h_strf("127.0.0.1:%d", e->device_port), "--gateway-id", e->gw,
                         "--rate", RATE, "--heartbeat", "2", "--drain-timeout", "300",
                         "--summary", e->summary, NULL};
    e->sim = h_proc_start("corio-sim", run, NULL);
    assert_non_null(e->sim);
    return e;
}

/* Distinct device messages stored in the cloud. */
static int64_t stored(struct env *e)
{
    sqlite3 *db;
    int64_t n = -1;
    if (sqlite3_open_v2(e->cloud_db, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(db, 5000);
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db, "SELECT count(*) FROM messages WHERE seq IS NOT NULL", -1, &st,
                               NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return n;
}

/* The highest id the gateway's plugin has written. */
static int64_t written(struct env *e)
{
    struct corio_outbox_options o = {.path = e->outbox, .read_only = true};
    corio_outbox *ob;
    char err[256];
    if (corio_outbox_open(&o, &ob, err, sizeof err) != CORIO_OK)
        return -1;
    struct corio_outbox_stats st;
    int rc = corio_outbox_stats(ob, &st);
    corio_outbox_close(ob);
    return rc == CORIO_OK ? st.last_id : -1;
}

/* Progress is the clock of this test: each fault lasts until the other side moved on. */
static void wait_stored_grows(struct env *e, int64_t by)
{
    int64_t from = stored(e);
    bool grew;
    H_POLL(grew, stored(e) >= from + by, 60000);
    if (!grew)
        fail_msg("the cloud stopped storing (at %lld)", (long long)stored(e));
}

static void wait_written_grows(struct env *e, int64_t by)
{
    int64_t from = written(e);
    bool grew;
    H_POLL(grew, written(e) >= from + by, 60000);
    if (!grew)
        fail_msg("the gateway stopped accepting device messages (at %lld)", (long long)written(e));
}

static pid_t broker_pid(struct env *e)
{
    /* The last "broker started" line of corio-gateway's log names the live broker. */
    const char *log = h_read_file(h_proc_log(e->gateway), NULL);
    const char *at = NULL;
    for (const char *p = log; (p = strstr(p, "msg=\"broker started\" pid=")); p++)
        at = p;
    assert_non_null(at);
    return (pid_t)atoi(strstr(at, "pid=") + 4);
}

static void one_round_of_faults(struct env *e)
{
    /* The link cut, then stalled: the gateway keeps accepting; the cloud catches up. */
    wait_stored_grows(e, 20);
    assert_int_equal(h_proxy_set(e->link, H_CUT, 0), CORIO_OK);
    wait_written_grows(e, 20);
    assert_int_equal(h_proxy_set(e->link, H_PASS, 0), CORIO_OK);
    wait_stored_grows(e, 20);
    assert_int_equal(h_proxy_set(e->link, H_STALL, 0), CORIO_OK);
    wait_written_grows(e, 20);
    assert_int_equal(h_proxy_set(e->link, H_PASS, 0), CORIO_OK);
    wait_stored_grows(e, 20);

    /* corio-gateway SIGKILLed mid-stream (its broker follows it down), then restarted. */
    assert_int_equal(kill(h_proc_pid(e->gateway), SIGKILL), 0);
    assert_int_equal(h_proc_restart(e->gateway), CORIO_OK);
    assert_int_equal(h_proc_wait_port(e->gateway, e->device_port, 30000), CORIO_OK);
    wait_stored_grows(e, 20);

    /* The gateway's broker SIGKILLed: corio-gateway restarts it. */
    assert_int_equal(kill(broker_pid(e), SIGKILL), 0);
    assert_int_equal(h_proc_wait_log(e->gateway, "broker died; restarting", 10000), CORIO_OK);
    assert_int_equal(h_wait_port(e->device_port, 30000), CORIO_OK);
    wait_stored_grows(e, 20);

    /* corio-cloud frozen while the cloud broker PUBACKs batches and queues them for it;
     * then the broker is SIGKILLed with its queue. Only application acks save them. */
    assert_int_equal(h_proc_signal(e->cloud, SIGSTOP), CORIO_OK);
    wait_written_grows(e, 30);
    h_proc_kill(e->cloud_broker->proc);
    assert_int_equal(h_mosq_restart(e->cloud_broker), CORIO_OK);
    assert_int_equal(h_proc_signal(e->cloud, SIGCONT), CORIO_OK);
    wait_stored_grows(e, 20);

    /* corio-cloud SIGKILLed mid-stream, then restarted on the same database. */
    h_proc_kill(e->cloud);
    assert_int_equal(h_proc_restart(e->cloud), CORIO_OK);
    assert_int_equal(h_wait_http_ok(h_strf("http://127.0.0.1:%d/healthz", e->http_port), 30000),
                     CORIO_OK);
    wait_stored_grows(e, 20);
}

/* Checks every device of the summary against the cloud's messages table. */
static void check_exactly_once(struct env *e, json_t *summary)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(e->cloud_db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
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
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, epoch);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        int64_t rows = sqlite3_column_int64(st, 0), distinct = sqlite3_column_int64(st, 1);
        int64_t lo = sqlite3_column_int64(st, 2), hi = sqlite3_column_int64(st, 3);
        sqlite3_reset(st);
        if (rows != last || distinct != last || lo != 1 || hi != last)
            fail_msg("device %s epoch %lld: %lld rows, %lld distinct seqs in [%lld, %lld]; "
                     "the device sent 1..%lld",
                     id, (long long)epoch, (long long)rows, (long long)distinct, (long long)lo,
                     (long long)hi, (long long)last);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static int64_t api_number(struct env *e, const char *path, const char *key)
{
    struct h_http_resp r;
    if (h_http_get(h_strf("http://127.0.0.1:%d%s", e->http_port, path), &r) != CORIO_OK ||
        r.status != 200)
        return -1;
    json_t *j = json_loads(r.body, 0, NULL);
    int64_t v = j ? (int64_t)json_integer_value(json_object_get(j, key)) : -1;
    json_decref(j);
    return v;
}

static void every_message_is_stored_exactly_once_through_faults(void **state)
{
    (void)state;
    struct env *e = start();
    const char *soak = getenv("CORIO_SOAK_SECONDS");
    int64_t until = h_now_ms() + (soak ? atoll(soak) * 1000 : 0);
    int rounds = 0;
    do {
        one_round_of_faults(e);
        rounds++;
    } while (h_now_ms() < until);

    /* Devices stop and drain; the summary is what they sent. */
    assert_int_equal(h_proc_signal(e->sim, SIGTERM), CORIO_OK);
    assert_int_equal(h_proc_wait_exit(e->sim, 300000), 0);
    json_error_t jerr;
    json_t *summary = json_load_file(e->summary, 0, &jerr);
    assert_non_null(summary);
    int64_t sent = json_integer_value(json_object_get(summary, "sent"));
    assert_true(sent > 0);
    assert_int_equal(json_integer_value(json_object_get(summary, "drops")), 0);

    bool all;
    H_POLL(all, stored(e) >= sent, 120000);
    assert_int_equal(stored(e), sent);
    check_exactly_once(e, summary);
    /* No gap is left: holes between stored seqs or behind the last heartbeats. */
    bool no_gaps;
    H_POLL(no_gaps, api_number(e, "/api/v1/stats", "missing") == 0, 30000);
    assert_true(no_gaps);
    print_message("chaos_telemetry: %d round(s), %lld messages sent and stored once\n", rounds,
                  (long long)sent);
    json_decref(summary);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(every_message_is_stored_exactly_once_through_faults),
    };
    return h_done(cmocka_run_group_tests(tests, NULL, NULL));
}
