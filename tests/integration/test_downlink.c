/*
 * test_downlink.c - the downlink end to end between the real programs: corio-cloud (its
 * API, database and signed containers), a cloud Mosquitto (behind a fault proxy),
 * corio-gateway with its broker and plugin, and `corio sim` devices. Covers: a command
 * sent through the API reaches a device, runs, and its result closes it; a command for
 * an offline device is delivered when it comes back, and an expired one never is; a
 * command resent while the gateway was down runs once; the device twin round trip
 * (applied and refused); dn/time gives a device without a clock the time; packs of a
 * device without time are dated from its heartbeats after an outage, or stored flagged
 * when nothing can date them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/time.h>
#include <cmocka.h>

#include <jansson.h>

#include "corio/did.h"
#include "corio/topic.h"
#include "corio/error.h"
#include "crypto_openssl.h"
#include "harness.h"

#define ORG     "oooooooooooooooooooooooo"
#define MAX_DEV 4

struct world {
    struct corio_key gw_key, cloud_key;
    char gw_id[CORIO_SHORT_ID_LEN + 1];
    char gw_didkey[CORIO_DIDKEY_BUF], cloud_didkey[CORIO_DIDKEY_BUF];
    struct h_mosq *mosq;
    struct h_proxy *proxy;
    struct h_proc *cloud, *gateway, *sim;
    int http_port, device_port, gw_http_port;
    const char *simdir, *summary;
    char dev[MAX_DEV][CORIO_SHORT_ID_LEN + 1];
    int ndev;
};

static struct world W;

static int64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void keys_close(void *arg)
{
    (void)arg;
    corio_key_close(&W.gw_key);
    corio_key_close(&W.cloud_key);
}

static void new_key(struct corio_key *k, const char *pem, char *didkey, char *id)
{
    assert_int_equal(corio_key_generate(&corio_crypto_openssl_ops, 0, CORIO_KEY_EXPORTABLE, k),
                     CORIO_OK);
    assert_int_equal(corio_openssl_key_write_pem(k, pem), CORIO_OK);
    uint8_t pub[CORIO_P256_PUB_LEN];
    assert_int_equal(corio_key_public(k, pub), CORIO_OK);
    assert_true(corio_didkey_format(pub, sizeof pub, didkey, CORIO_DIDKEY_BUF) > 0);
    if (id) {
        struct corio_did did;
        assert_int_equal(corio_did_from_key(&corio_crypto_openssl_ops, pub, sizeof pub, &did),
                         CORIO_OK);
        corio_did_id_format(did.id, id, CORIO_SHORT_ID_LEN + 1);
    }
}

static const char *api(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *api(const char *fmt, ...)
{
    char path[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    return h_strf("http://127.0.0.1:%d%s", W.http_port, path);
}

static void gateway_start(const char *extra)
{
    const char *dir = h_dir();
    const char *env_lines = h_broker_env_conf();
    const char *conf =
        h_strf("gateway_id %s\nkey %s/gateway.pem\noutbox %s/outbox.db\nregistry %s/registry\n"
               "cloud_port %d\ncloud_keepalive 5s\nack_timeout 2s\nloopback_port %d\n"
               "mqtt_address 127.0.0.1\nmqtt_port %d\nmqtts_port 0\nhttp_port %d\n"
               "broker_dir %s/broker\ncloud_key %s\ndownlink_retry 2s\nstate_interval 2s\n"
               "log_level info\n%s%s",
               W.gw_id, dir, dir, dir, h_proxy_port(W.proxy), h_free_port(), W.device_port,
               W.gw_http_port, dir, W.cloud_didkey, extra ? extra : "", env_lines);
    struct h_daemon_opts o = {.config = conf, .ready_port = W.device_port};
    W.gateway = h_daemon_start("corio-gateway", &o);
    assert_non_null(W.gateway);
}

/* The cloud broker (behind a proxy the test can cut), corio-cloud, the devices made
 * with `corio sim provision`, and corio-gateway. */
static void world_up(int ndev, const char *gw_extra)
{
    memset(&W, 0, sizeof W);
    h_defer(keys_close, NULL);
    const char *dir = h_dir();
    new_key(&W.gw_key, h_strf("%s/gateway.pem", dir), W.gw_didkey, W.gw_id);
    new_key(&W.cloud_key, h_strf("%s/downlink.pem", dir), W.cloud_didkey, NULL);
    W.mosq = h_mosq_start(NULL);
    assert_non_null(W.mosq);
    W.proxy = h_proxy_start("127.0.0.1", W.mosq->port);
    assert_non_null(W.proxy);

    W.simdir = h_strf("%s/sim", dir);
    W.summary = h_strf("%s/summary.json", dir);
    const char *lines = h_strf("%s/devices.registry", dir);
    const char *prov[] = {h_bin("corio"), "sim",    "provision", "--devices", h_strf("%d", ndev),
                          "--dir",        W.simdir, "--org",     ORG,         "--registry-out",
                          lines,          NULL};
    assert_int_equal(h_run("corio-provision", prov, NULL, 20000, NULL), 0);
    const char *devices = h_read_file(lines, NULL);
    assert_non_null(devices);
    for (const char *p = devices; (p = strstr(p, "device ")) != NULL; p += 7) {
        assert_true(W.ndev < MAX_DEV);
        memcpy(W.dev[W.ndev++], p + 7, CORIO_SHORT_ID_LEN);
    }
    assert_int_equal(W.ndev, ndev);
    assert_int_equal(h_write_file(h_strf("%s/registry", dir),
                                  h_strf("height 1\norg %s Org\ngateway %s org=%s key=%s\n%s", ORG,
                                         W.gw_id, ORG, W.gw_didkey, devices)),
                     0);

    W.http_port = h_free_port();
    const char *conf = h_strf("org %s\ndatabase %s/cloud.db\nregistry %s/registry\n"
                              "http_port %d\nbroker_port %d\nweb_root %s\n"
                              "downlink_key %s/downlink.pem\nresend_min 1s\nresend_max 2s\n",
                              ORG, dir, dir, W.http_port, W.mosq->port, dir, dir);
    struct h_daemon_opts co = {
        .config = conf, .ready_url = api("/healthz"), .ready_log = "connected to the broker"};
    W.cloud = h_daemon_start("corio-cloud", &co);
    assert_non_null(W.cloud);

    W.device_port = h_free_port();
    W.gw_http_port = h_free_port();
    gateway_start(gw_extra);
}

static struct h_proc *sim_start(const char *const *extra)
{
    const char *argv[40] = {h_bin("corio"),
                            "sim",
                            "run",
                            "--dir",
                            W.simdir,
                            "--gateway",
                            h_strf("127.0.0.1:%d", W.device_port),
                            "--gateway-id",
                            W.gw_id,
                            "--rate",
                            "2",
                            "--duration",
                            "600",
                            "--summary",
                            W.summary,
                            "--status",
                            "1",
                            "--heartbeat",
                            "1",
                            "--drain-timeout",
                            "5"};
    int n = 21;
    for (; extra && *extra; extra++)
        argv[n++] = *extra;
    argv[n] = NULL;
    W.sim = h_proc_start("corio-sim", argv, NULL);
    assert_non_null(W.sim);
    return W.sim;
}

/* The packs the sim has made so far, from its latest status line. */
static long sim_sent(void)
{
    char *log = h_read_file(h_proc_log(W.sim), NULL);
    long sent = 0;
    for (const char *p = log; p && (p = strstr(p, " sent=")) != NULL; p += 6)
        sent = strtol(p + 6, NULL, 10);
    return sent;
}

static bool sim_made(void *arg)
{
    return sim_sent() >= *(long *)arg;
}

/* Waits until the sim has made n packs. */
static void sim_wait_made(long n)
{
    assert_int_equal(h_wait_until(sim_made, &n, 30000), CORIO_OK);
}

/* Ends the sim (SIGTERM: it drains, stops and writes its summary). */
static void sim_stop(void)
{
    int st = h_proc_stop(W.sim);
    assert_true(st == 0 || st == 1);
}

static json_t *get_json(const char *url)
{
    struct h_http_resp r;
    assert_int_equal(h_http_get(url, &r), CORIO_OK);
    if (r.status != 200)
        fail_msg("GET %s: %ld %s", url, r.status, r.body);
    json_t *j = json_loads(r.body, 0, NULL);
    assert_non_null(j);
    return j;
}

static json_t *send_json(const char *method, const char *url, const char *body, long want)
{
    struct h_http_resp r;
    static const char *const headers[] = {"Content-Type: application/json", NULL};
    struct h_http_req q = {
        .method = method, .url = url, .headers = headers, .body = body, .len = strlen(body)};
    assert_int_equal(h_http(&q, &r), CORIO_OK);
    if (r.status != want)
        fail_msg("%s %s: %ld (wanted %ld) %s", method, url, r.status, want, r.body);
    json_t *j = json_loads(r.body, 0, NULL);
    assert_non_null(j);
    return j;
}

/* POSTs a command; its seq. */
static json_int_t command(int d, const char *body)
{
    json_t *j = send_json("POST", api("/api/v1/devices/%s/commands", W.dev[d]), body, 201);
    json_int_t seq = json_integer_value(json_object_get(j, "seq"));
    assert_string_equal(json_string_value(json_object_get(j, "state")), "queued");
    json_decref(j);
    return seq;
}

static json_t *command_get(int d, json_int_t seq)
{
    return get_json(api("/api/v1/devices/%s/commands/%lld", W.dev[d], (long long)seq));
}

static bool command_in(int d, json_int_t seq, const char *state)
{
    json_t *j = command_get(d, seq);
    bool ok = strcmp(json_string_value(json_object_get(j, "state")), state) == 0;
    json_decref(j);
    return ok;
}

static void wait_state(int d, json_int_t seq, const char *state, int timeout_ms)
{
    bool ok;
    H_POLL(ok, command_in(d, seq, state), timeout_ms);
    if (!ok) {
        json_t *j = command_get(d, seq);
        char *s = json_dumps(j, JSON_COMPACT);
        fail_msg("command %lld of %s is not %s: %s", (long long)seq, W.dev[d], state, s);
    }
}

static bool online(int d, bool want)
{
    json_t *j = get_json(api("/api/v1/devices/%s", W.dev[d]));
    bool ok = json_is_true(json_object_get(j, "online")) == want;
    json_decref(j);
    return ok;
}

static void wait_online(bool want)
{
    for (int d = 0; d < W.ndev; d++) {
        bool ok;
        H_POLL(ok, online(d, want), 30000);
        if (!ok)
            fail_msg("device %s never became %s", W.dev[d], want ? "online" : "offline");
    }
}

/* A sample of a /metrics page, or -1. */
static double metric(int port, const char *name)
{
    struct h_http_resp resp;
    if (h_http_get(h_strf("http://127.0.0.1:%d/metrics", port), &resp) != CORIO_OK ||
        resp.status != 200)
        return -1;
    size_t n = strlen(name);
    for (const char *p = resp.body; (p = strstr(p, name)); p += n)
        if ((p == resp.body || p[-1] == '\n') && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return -1;
}

/* The sim's summary entry of device d. */
static json_t *summary_of(json_t *root, int d)
{
    size_t i;
    json_t *dv;
    json_array_foreach(json_object_get(root, "devices"), i, dv)
    {
        if (strcmp(json_string_value(json_object_get(dv, "id")), W.dev[d]) == 0)
            return dv;
    }
    fail_msg("device %s is not in the summary", W.dev[d]);
    return NULL;
}

static json_int_t ival(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    assert_true(json_is_number(v));
    return (json_int_t)json_number_value(v);
}

/* ---- tests ---- */

static void a_command_reaches_the_device_and_its_result_closes_it(void **state)
{
    (void)state;
    world_up(2, NULL);
    sim_start(NULL);
    wait_online(true);
    json_int_t s1 = command(0, "{\"name\":\"set_rate\",\"args\":{\"hz\":4}}");
    json_int_t s2 = command(1, "{\"name\":\"blink\",\"args\":{\"times\":3},\"ttl\":60000}");
    json_int_t s3 = command(1, "{\"name\":\"reboot\"}");
    assert_true(s2 > s1 && s3 > s2); /* one sequence for the whole cloud */
    wait_state(0, s1, "done", 20000);
    wait_state(1, s2, "done", 20000);
    wait_state(1, s3, "failed", 20000);
    json_t *c = command_get(0, s1);
    assert_string_equal(json_string_value(json_object_get(c, "status")), "done");
    assert_int_equal(json_integer_value(json_object_get(c, "result")), 250); /* ms per sample */
    assert_string_equal(json_string_value(json_object_get(c, "gateway")), W.gw_id);
    assert_true(json_integer_value(json_object_get(c, "sends")) >= 1);
    assert_true(json_is_integer(json_object_get(c, "answered")));
    json_decref(c);
    c = command_get(1, s2);
    assert_int_equal(json_integer_value(json_object_get(c, "result")), 3);
    json_decref(c);
    c = command_get(1, s3);
    assert_string_equal(json_string_value(json_object_get(c, "status")), "unknown");
    json_decref(c);
    /* The list, newest first. */
    json_t *l = get_json(api("/api/v1/devices/%s/commands", W.dev[1]));
    json_t *arr = json_object_get(l, "commands");
    assert_int_equal(json_array_size(arr), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, 0), "seq")), s3);
    json_decref(l);
    /* Refusals. */
    json_decref(send_json("POST", api("/api/v1/devices/%s/commands", W.dev[0]),
                          "{\"name\":\"bad name\"}", 400));
    json_decref(send_json("POST", api("/api/v1/devices/%s/commands", W.dev[0]),
                          "{\"name\":\"blink\",\"expiry\":1000}", 400));
    json_decref(send_json("POST", api("/api/v1/devices/%s/commands", W.dev[0]),
                          "{\"name\":\"blink\",\"colour\":1}", 400));
    json_decref(send_json("POST", api("/api/v1/devices/aaaaaaaaaaaaaaaaaaaaaaaa/commands"),
                          "{\"name\":\"blink\"}", 404));
    /* The devices did it: the rate changed, the blinks happened, each once. */
    sim_stop();
    json_error_t err;
    json_t *root = json_load_file(W.summary, 0, &err);
    assert_non_null(root);
    assert_true(json_number_value(json_object_get(summary_of(root, 0), "period_ms")) == 250.0);
    assert_int_equal(ival(summary_of(root, 1), "blinks"), 3);
    assert_int_equal(ival(summary_of(root, 0), "commands"), 1);
    assert_int_equal(ival(summary_of(root, 1), "commands"), 2);
    json_decref(root);
    /* Each answer came through the outbox with the device's seq: no gap opened. */
    for (int d = 0; d < 2; d++) {
        json_t *dj = get_json(api("/api/v1/devices/%s", W.dev[d]));
        assert_int_equal(json_integer_value(json_object_get(dj, "missing")), 0);
        json_decref(dj);
    }
}

static void an_offline_device_gets_its_command_when_back_and_never_an_expired_one(void **state)
{
    (void)state;
    world_up(1, NULL);
    sim_start(NULL);
    wait_online(true);
    sim_stop();
    wait_online(false);
    json_int_t later = command(0, "{\"name\":\"blink\",\"args\":{\"times\":1},\"ttl\":120000}");
    json_int_t soon = command(0, "{\"name\":\"blink\",\"args\":{\"times\":5},\"ttl\":1500}");
    /* Both reach the gateway's queue; the device is away. */
    wait_state(0, later, "sent", 20000);
    bool ok;
    H_POLL(ok, metric(W.gw_http_port, "corio_gateway_downlink_queued") >= 1, 20000);
    assert_true(ok);
    wait_state(0, soon, "expired", 20000);
    H_POLL(ok, metric(W.gw_http_port, "corio_gateway_downlink_expired_total") >= 1, 20000);
    assert_true(ok);
    /* Back: it gets the one still alive, once. */
    sim_start(NULL);
    wait_state(0, later, "done", 30000);
    assert_true(command_in(0, soon, "expired"));
    sim_stop();
    json_error_t err;
    json_t *root = json_load_file(W.summary, 0, &err);
    assert_non_null(root);
    assert_int_equal(ival(summary_of(root, 0), "blinks"), 1);
    json_decref(root);
    assert_true(metric(W.gw_http_port, "corio_gateway_downlink_queued") == 0);
}

static bool sends_at_least(int d, json_int_t seq, json_int_t n)
{
    json_t *c = command_get(d, seq);
    bool ok = json_integer_value(json_object_get(c, "sends")) >= n;
    json_decref(c);
    return ok;
}

static void a_command_resent_while_the_gateway_was_down_runs_once(void **state)
{
    (void)state;
    world_up(1, NULL);
    sim_start(NULL);
    wait_online(true);
    /* The gateway loses the cloud, then dies; the cloud keeps resending meanwhile. */
    assert_int_equal(h_proxy_set(W.proxy, H_CUT, 0), CORIO_OK);
    json_int_t seq = command(0, "{\"name\":\"blink\",\"args\":{\"times\":1}}");
    bool ok;
    H_POLL(ok, sends_at_least(0, seq, 3), 20000);
    assert_true(ok);
    h_proc_kill(W.gateway);
    assert_int_equal(h_proxy_set(W.proxy, H_PASS, 0), CORIO_OK);
    assert_int_equal(h_proc_restart(W.gateway), CORIO_OK);
    assert_int_equal(h_proc_wait_port(W.gateway, W.device_port, h_ms(20000)), CORIO_OK);
    wait_state(0, seq, "done", 40000);
    /* The copies the cloud sent (kept by the broker for the gateway's session, and
     * those after it came back) were recognised as one command. */
    H_POLL(ok, metric(W.gw_http_port, "corio_gateway_downlink_duplicates_total") >= 1, 20000);
    assert_true(ok);
    sim_stop();
    json_error_t err;
    json_t *root = json_load_file(W.summary, 0, &err);
    assert_non_null(root);
    assert_int_equal(ival(summary_of(root, 0), "blinks"), 1);
    json_decref(root);
}

static bool config_in_sync(int d, bool want)
{
    json_t *j = get_json(api("/api/v1/devices/%s/config", W.dev[d]));
    bool ok = json_is_true(json_object_get(j, "in_sync")) == want &&
              json_integer_value(json_object_get(j, "reported_version")) ==
                  json_integer_value(json_object_get(j, "version"));
    json_decref(j);
    return ok;
}

static void the_twin_round_trip(void **state)
{
    (void)state;
    world_up(1, NULL);
    json_t *j = get_json(api("/api/v1/devices/%s/config", W.dev[0]));
    assert_true(json_is_null(json_object_get(j, "desired")));
    assert_false(json_is_true(json_object_get(j, "in_sync")));
    json_decref(j);
    sim_start(NULL);
    wait_online(true);
    j = send_json("PUT", api("/api/v1/devices/%s/config", W.dev[0]), "{\"rate\":4}", 200);
    assert_int_equal(json_integer_value(json_object_get(j, "version")), 1);
    json_decref(j);
    bool ok;
    H_POLL(ok, config_in_sync(0, true), 30000);
    assert_true(ok);
    j = get_json(api("/api/v1/devices/%s/config", W.dev[0]));
    assert_string_equal(json_string_value(json_object_get(j, "reported_status")), "applied");
    assert_true(json_number_value(json_object_get(json_object_get(j, "reported"), "rate")) == 4.0);
    assert_true(json_integer_value(json_object_get(json_object_get(j, "desired"), "rate")) == 4);
    json_decref(j);
    /* A configuration the device refuses: reported, not in sync; what it runs stays. */
    j = send_json("PUT", api("/api/v1/devices/%s/config", W.dev[0]), "{\"colour\":\"red\"}", 200);
    assert_int_equal(json_integer_value(json_object_get(j, "version")), 2);
    json_decref(j);
    H_POLL(ok, config_in_sync(0, false), 30000);
    assert_true(ok);
    j = get_json(api("/api/v1/devices/%s/config", W.dev[0]));
    assert_string_equal(json_string_value(json_object_get(j, "reported_status")), "refused");
    assert_true(json_number_value(json_object_get(json_object_get(j, "reported"), "rate")) == 4.0);
    json_decref(j);
    json_decref(send_json("PUT", api("/api/v1/devices/%s/config", W.dev[0]), "[1]", 400));
    sim_stop();
    json_error_t err;
    json_t *root = json_load_file(W.summary, 0, &err);
    assert_non_null(root);
    assert_true(json_number_value(json_object_get(summary_of(root, 0), "period_ms")) == 250.0);
    json_decref(root);
}

static json_int_t stored_messages(int d)
{
    json_t *j = get_json(api("/api/v1/devices/%s", W.dev[d]));
    json_int_t n = json_integer_value(json_object_get(j, "messages"));
    json_decref(j);
    return n;
}

static void dn_time_gives_a_device_without_a_clock_the_time(void **state)
{
    (void)state;
    world_up(2, NULL);
    const char *extra[] = {"--no-time-fraction", "1", NULL};
    sim_start(extra);
    wait_online(true);
    bool ok;
    H_POLL(ok, metric(W.gw_http_port, "corio_gateway_time_published_total") >= 2, 20000);
    assert_true(ok);
    /* Published is not yet taken: stop only once each device has stored two more packs,
     * which its loop makes after handling what had arrived. */
    for (int d = 0; d < W.ndev; d++) {
        json_int_t before = stored_messages(d);
        H_POLL(ok, stored_messages(d) >= before + 2, 20000);
        assert_true(ok);
    }
    sim_stop();
    json_error_t err;
    json_t *root = json_load_file(W.summary, 0, &err);
    assert_non_null(root);
    for (int d = 0; d < W.ndev; d++) {
        assert_true(json_is_true(json_object_get(summary_of(root, d), "no_time")));
        assert_true(json_is_true(json_object_get(summary_of(root, d), "has_time")));
    }
    json_decref(root);
}

/* Every raw point of a device's temperature, and their count. */
static size_t points(int d, int64_t *min_t, int64_t *max_t)
{
    json_t *j = get_json(api("/api/v1/devices/%s/series?metric=temp&from=%lld&to=%lld", W.dev[d],
                             (long long)(wall_ms() - 3600000), (long long)(wall_ms() + 60000)));
    json_t *pts = json_object_get(j, "points");
    *min_t = INT64_MAX;
    *max_t = 0;
    size_t i;
    json_t *p;
    json_array_foreach(pts, i, p)
    {
        int64_t t = json_integer_value(json_array_get(p, 0));
        *min_t = t < *min_t ? t : *min_t;
        *max_t = t > *max_t ? t : *max_t;
    }
    size_t n = json_array_size(pts);
    json_decref(j);
    return n;
}

static json_int_t untimed(int d)
{
    json_t *j = get_json(api("/api/v1/devices/%s/time", W.dev[d]));
    json_int_t n = json_integer_value(json_object_get(j, "untimed"));
    json_decref(j);
    return n;
}

static json_int_t produced(int d)
{
    json_error_t err;
    json_t *root = json_load_file(W.summary, 0, &err);
    assert_non_null(root);
    json_int_t n = ival(summary_of(root, d), "produced");
    json_decref(root);
    return n;
}

static void packs_without_time_are_dated_by_heartbeats_or_flagged(void **state)
{
    (void)state;
    /* No dn/time: the device never learns the time, every pack has boot and uptime. */
    world_up(1, "device_time false\n");
    /* It samples for a while with the gateway down, then the gateway comes back. */
    h_proc_stop(W.gateway);
    int64_t t0 = wall_ms();
    const char *extra[] = {"--no-time-fraction", "1", NULL};
    sim_start(extra);
    sim_wait_made(8);
    int64_t back = wall_ms();
    assert_int_equal(h_proc_restart(W.gateway), CORIO_OK);
    assert_int_equal(h_proc_wait_port(W.gateway, W.device_port, h_ms(20000)), CORIO_OK);
    wait_online(true);
    sim_stop();
    json_int_t n = produced(0);
    assert_true(n >= 8);
    bool ok;
    int64_t lo, hi;
    H_POLL(ok, points(0, &lo, &hi) == (size_t)n, 30000);
    assert_true(ok);
    /* Dated from the heartbeat of the same boot: the packs sampled during the outage
     * carry their own time, seconds before the gateway came back, not its receive
     * time. */
    assert_true(lo >= t0 - 1500);
    assert_true(lo < back - 2000);
    assert_int_equal(untimed(0), 0);
    json_t *j = get_json(api("/api/v1/devices/%s/time", W.dev[0]));
    json_t *boot = json_array_get(json_object_get(j, "boots"), 0);
    assert_true(json_integer_value(json_object_get(boot, "heartbeats")) >= 1);
    assert_true(json_is_true(json_object_get(boot, "dates")));
    json_decref(j);

    /* A boot without heartbeats: nothing dates its packs; they are kept, flagged. */
    h_proc_stop(W.gateway);
    const char *nohb[] = {"--no-time-fraction", "1", "--heartbeat", "0", NULL};
    sim_start(nohb);
    sim_wait_made(6);
    int64_t back2 = wall_ms();
    assert_int_equal(h_proc_restart(W.gateway), CORIO_OK);
    assert_int_equal(h_proc_wait_port(W.gateway, W.device_port, h_ms(20000)), CORIO_OK);
    wait_online(true);
    sim_stop();
    json_int_t n2 = produced(0);
    H_POLL(ok, points(0, &lo, &hi) == (size_t)(n + n2), 30000);
    assert_true(ok);
    H_POLL(ok, untimed(0) == n2, 20000);
    assert_true(ok);
    assert_true(hi >= back2); /* stored at their receive time */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(a_command_reaches_the_device_and_its_result_closes_it),
        H_TEST(an_offline_device_gets_its_command_when_back_and_never_an_expired_one),
        H_TEST(a_command_resent_while_the_gateway_was_down_runs_once),
        H_TEST(the_twin_round_trip),
        H_TEST(dn_time_gives_a_device_without_a_clock_the_time),
        H_TEST(packs_without_time_are_dated_by_heartbeats_or_flagged),
    };
    return h_done(cmocka_run_group_tests(tests, NULL, NULL));
}
