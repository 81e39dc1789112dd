/* bench_nats.c - corio-cloud scaled out: ingest throughput from a NATS JetStream stream
 * into PostgreSQL with one and with two corio-cloud instances sharing the stream's
 * consumer. Each round gets a fresh nats-server (one node, MQTT listener on) and a fresh
 * database; a gateway's signed batches (SenML JSON, 500 messages of 10 records) are
 * published to the MQTT listener while the instances are frozen, then the clock runs
 * from thawing them until every batch is committed.
 *
 *   bench nats_ingest_1   samples/s, one instance
 *   bench nats_ingest_2   samples/s, two instances
 *   limit nats_ingest_1   the one-instance figure; the ratio is the speed-up
 * On a machine of two cores shared by nats-server, PostgreSQL and the instances, the
 * speed-up says more about contention than about the design; see docs/benchmarks.md. */
#include <signal.h>

#include "bench_ingest_workload.h"
#include "corio/did.h"
#include "corio/p256.h"
#include "crypto_openssl.h"
#include "harness.h"

#define BATCHES 60

struct round {
    struct h_pg *pg;
    const char *registry;
    struct corio_key *key;
    uint8_t **wire;
    size_t *wire_len;
};

static double stat_batches(int port)
{
    struct h_http_resp r;
    if (h_http_get(h_strf("http://127.0.0.1:%d/api/v1/stats", port), &r) != CORIO_OK ||
        r.status != 200)
        return -1;
    const char *p = strstr(r.body, "\"batches\":");
    return p ? strtod(p + 10, NULL) : -1;
}

static double run_round(const struct round *rd, const struct workload *w, int instances)
{
    struct h_nats *n = h_nats_start(&(struct h_nats_opts){.mqtt = true});
    if (!n)
        bench_die("cannot start nats-server");
    const char *db = h_strf("ingest%d", instances);
    if (h_pg_sql(rd->pg, h_strf("CREATE DATABASE %s", db), NULL) != 0)
        bench_die("cannot create %s", db);
    const char *conninfo =
        h_strf("host=127.0.0.1 port=%d dbname=%s user=postgres", rd->pg->port, db);
    struct h_proc *p[4];
    int http[4];
    for (int i = 0; i < instances; i++) {
        http[i] = h_free_port();
        const char *conf =
            h_strf("org %s\nstore postgres\npg_conninfo %s\nregistry %s\nhttp_port %d\n"
                   "web_root %s\nlog_level info\nbus nats\nnats_url %s\nnats_fetch 16\n"
                   "nats_stream_max_bytes 256MiB\n",
                   B_ORG, conninfo, rd->registry, http[i], h_dir(), n->url);
        struct h_daemon_opts o = {.config = conf,
                                  .ready_url = h_strf("http://127.0.0.1:%d/healthz", http[i]),
                                  .timeout_ms = 20000};
        if (!(p[i] = h_daemon_start("corio-cloud", &o)))
            bench_die("cannot start corio-cloud");
    }
    /* The gateway's session makes nats-server's MQTT streams, where acks go. */
    struct h_mqtt *gw = h_mqtt_connect(
        n->node[0].mqtt_port, &(struct h_mqtt_opts){.client_id = B_GW, .persistent = true});
    if (!gw || h_mqtt_subscribe(gw, "corio/v1/g/" B_GW "/ack", 1) != CORIO_OK)
        bench_die("gateway cannot connect");
    /* Wait until every instance consumes, then freeze them while the stream fills. */
    for (int i = 0; i < instances; i++) {
        if (h_proc_wait_log(p[i], "consuming batches", 20000) != CORIO_OK)
            bench_die("corio-cloud does not consume");
        h_proc_signal(p[i], SIGSTOP);
    }
    for (int b = 0; b < w->batches; b++)
        if (h_mqtt_publish(gw, "corio/v1/g/" B_GW "/batch", rd->wire[b], (int)rd->wire_len[b], 1) !=
            CORIO_OK)
            bench_die("publish failed");
    double t = bench_now();
    for (int i = 0; i < instances; i++)
        h_proc_signal(p[i], SIGCONT);
    bool done;
    H_POLL(done, stat_batches(http[0]) >= w->batches, 120000);
    t = bench_now() - t;
    if (!done)
        bench_die("not every batch was stored");
    for (int i = 0; i < instances; i++)
        h_proc_stop(p[i]);
    h_mqtt_close(gw);
    h_nats_stop(n);
    return (double)w->batches * w->per_batch * w->metrics / t;
}

int main(void)
{
    struct workload w = {.devices = 50,
                         .metrics = 10,
                         .per_batch = 500,
                         .batches = BATCHES,
                         .t0 = (bench_wall_ms() / 1000 - 7200) * 1000};
    static const char *const conf[] = {"log_min_messages = warning", NULL};
    struct round rd = {.pg = h_pg_start(&(struct h_pg_opts){.dbname = "bench", .conf = conf})};
    if (!rd.pg)
        bench_die("cannot start PostgreSQL");

    /* The gateway, its key, its devices, and its batches, signed. */
    struct corio_key key;
    if (corio_key_generate(&corio_crypto_openssl_ops, 0, 0, &key) != CORIO_OK)
        bench_die("key");
    uint8_t pub[CORIO_P256_PUB_LEN];
    char didkey[CORIO_DIDKEY_BUF];
    if (corio_key_public(&key, pub) != CORIO_OK ||
        corio_didkey_format(pub, sizeof pub, didkey, sizeof didkey) <= 0)
        bench_die("did:key");
    char *reg = h_strf("org %s bench\ngateway %s org=%s key=%s\n", B_ORG, B_GW, B_ORG, didkey);
    for (int d = 0; d < w.devices; d++) {
        char id[CORIO_ID_LEN + 1];
        wl_device(d, id);
        reg = h_strf("%sdevice %s org=%s gateway=%s\n", reg, id, B_ORG, B_GW);
    }
    rd.registry = h_strf("%s/registry.conf", h_dir());
    if (h_write_file(rd.registry, reg) != CORIO_OK)
        bench_die("registry");
    struct wl_batches x;
    wl_batches_make(&x, &w);
    rd.wire = calloc(BATCHES, sizeof *rd.wire);
    rd.wire_len = calloc(BATCHES, sizeof *rd.wire_len);
    for (int b = 0; b < BATCHES; b++) {
        int64_t n = corio_batch_encode(&x.b[b], NULL, 0);
        uint8_t *payload = malloc((size_t)n);
        if (n <= 0 || !payload || corio_batch_encode(&x.b[b], payload, (size_t)n) != n ||
            corio_batch_seal(&key, B_GW, 0, payload, (size_t)n, &rd.wire[b], &rd.wire_len[b]) !=
                CORIO_OK)
            bench_die("cannot seal batch %d", b);
        free(payload);
    }
    wl_batches_free(&x);

    double one = run_round(&rd, &w, 1);
    double two = run_round(&rd, &w, 2);
    bench_print("nats_ingest_1", one, "samples/s");
    bench_print("nats_ingest_2", two, "samples/s");
    bench_limit("nats_ingest_1", one, "samples/s", two);
    for (int b = 0; b < BATCHES; b++)
        free(rd.wire[b]);
    free(rd.wire);
    free(rd.wire_len);
    corio_key_close(&key);
    return h_done(0);
}
