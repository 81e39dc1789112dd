/* bench_nats.c - corio-cloud scaled out: ingest throughput from a NATS JetStream stream
 * into PostgreSQL with one and with two corio-cloud instances sharing the stream's
 * consumer. Each round gets a fresh nats-server (one node, MQTT listener on) and a fresh
 * database; the signed batches of four gateways with 25 devices each (SenML JSON, 500
 * messages of 10 records) are published to the MQTT listener while the instances are
 * frozen, then the clock runs from thawing them until every batch is committed.
 *
 * Batches of one gateway share devices, and a batch's transaction locks its devices:
 * two instances never store one device's messages at once. Instances run side by side
 * on batches of different gateways, which is what the several gateways give them.
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

#define GATEWAYS 4
#define PER_GW   15 /* batches of each gateway */
#define BATCHES  (GATEWAYS * PER_GW)

struct round {
    struct h_pg *pg;
    const char *registry;
    struct corio_key *key;
    uint8_t **wire;
    size_t *wire_len;
    const char **topic;
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

static double run_round(const struct round *rd, int64_t samples, int instances)
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
    /* One MQTT session publishes for the gateways and takes their acks at QoS 1 (which
     * also makes nats-server's MQTT streams, where acks are stored). */
    struct h_mqtt *gw = h_mqtt_connect(
        n->node[0].mqtt_port, &(struct h_mqtt_opts){.client_id = "gateways", .persistent = true});
    if (!gw || h_mqtt_subscribe(gw, "corio/v1/g/+/ack", 1) != CORIO_OK)
        bench_die("the gateways cannot connect");
    /* Wait until every instance consumes, then freeze them while the stream fills. */
    for (int i = 0; i < instances; i++) {
        if (h_proc_wait_log(p[i], "consuming batches", 20000) != CORIO_OK)
            bench_die("corio-cloud does not consume");
        h_proc_signal(p[i], SIGSTOP);
    }
    for (int b = 0; b < BATCHES; b++)
        if (h_mqtt_publish(gw, rd->topic[b], rd->wire[b], (int)rd->wire_len[b], 1) != CORIO_OK)
            bench_die("publish failed");
    double t = bench_now();
    for (int i = 0; i < instances; i++)
        h_proc_signal(p[i], SIGCONT);
    bool done;
    H_POLL(done, stat_batches(http[0]) >= BATCHES, 120000);
    t = bench_now() - t;
    if (!done)
        bench_die("not every batch was stored");
    for (int i = 0; i < instances; i++)
        h_proc_stop(p[i]);
    h_mqtt_close(gw);
    h_nats_stop(n);
    return (double)samples / t;
}

static void gateway_id(int g, char out[CORIO_ID_LEN + 1])
{
    memset(out, 'g', CORIO_ID_LEN);
    out[CORIO_ID_LEN - 1] = (char)('a' + g);
    out[CORIO_ID_LEN] = 0;
}

int main(void)
{
    static const char *const conf[] = {"log_min_messages = warning", NULL};
    struct round rd = {.pg = h_pg_start(&(struct h_pg_opts){.dbname = "bench", .conf = conf})};
    if (!rd.pg)
        bench_die("cannot start PostgreSQL");

    /* The gateways (one key, for brevity), their devices, and their batches, signed, in
     * the order they are published: the gateways' batches interleaved. */
    struct corio_key key;
    if (corio_key_generate(&corio_crypto_openssl_ops, 0, 0, &key) != CORIO_OK)
        bench_die("key");
    uint8_t pub[CORIO_P256_PUB_LEN];
    char didkey[CORIO_DIDKEY_BUF];
    if (corio_key_public(&key, pub) != CORIO_OK ||
        corio_didkey_format(pub, sizeof pub, didkey, sizeof didkey) <= 0)
        bench_die("did:key");
    char gw[GATEWAYS][CORIO_ID_LEN + 1];
    struct workload w[GATEWAYS];
    char *reg = h_strf("org %s bench\n", B_ORG);
    int64_t t0 = (bench_wall_ms() / 1000 - 7200) * 1000;
    for (int g = 0; g < GATEWAYS; g++) {
        gateway_id(g, gw[g]);
        w[g] = (struct workload){.devices = 25,
                                 .metrics = 10,
                                 .per_batch = 500,
                                 .batches = PER_GW,
                                 .t0 = t0,
                                 .device_base = 25 * g,
                                 .gateway = gw[g]};
        reg = h_strf("%sgateway %s org=%s key=%s\n", reg, gw[g], B_ORG, didkey);
        for (int d = 0; d < w[g].devices; d++) {
            char id[CORIO_ID_LEN + 1];
            wl_device(w[g].device_base + d, id);
            reg = h_strf("%sdevice %s org=%s gateway=%s\n", reg, id, B_ORG, gw[g]);
        }
    }
    rd.registry = h_strf("%s/registry.conf", h_dir());
    if (h_write_file(rd.registry, reg) != CORIO_OK)
        bench_die("registry");
    rd.wire = calloc(BATCHES, sizeof *rd.wire);
    rd.wire_len = calloc(BATCHES, sizeof *rd.wire_len);
    rd.topic = calloc(BATCHES, sizeof *rd.topic);
    for (int g = 0; g < GATEWAYS; g++) {
        struct wl_batches x;
        wl_batches_make(&x, &w[g]);
        for (int b = 0; b < PER_GW; b++) {
            int k = b * GATEWAYS + g;
            int64_t n = corio_batch_encode(&x.b[b], NULL, 0);
            uint8_t *payload = malloc((size_t)n);
            if (n <= 0 || !payload || corio_batch_encode(&x.b[b], payload, (size_t)n) != n ||
                corio_batch_seal(&key, gw[g], 0, payload, (size_t)n, &rd.wire[k],
                                 &rd.wire_len[k]) != CORIO_OK)
                bench_die("cannot seal batch %d of gateway %d", b, g);
            free(payload);
            rd.topic[k] = h_strf("corio/v1/g/%s/batch", gw[g]);
        }
        wl_batches_free(&x);
    }
    int64_t samples = (int64_t)BATCHES * w[0].per_batch * w[0].metrics;

    double one = run_round(&rd, samples, 1);
    double two = run_round(&rd, samples, 2);
    bench_print("nats_ingest_1", one, "samples/s");
    bench_print("nats_ingest_2", two, "samples/s");
    bench_limit("nats_ingest_1", one, "samples/s", two);
    for (int b = 0; b < BATCHES; b++)
        free(rd.wire[b]);
    free(rd.wire);
    free(rd.wire_len);
    free(rd.topic);
    corio_key_close(&key);
    return h_done(0);
}
