/*
 * gateway_bench.c - corio-bench-gateway, the gateway's benchmarks (bench/README.md,
 * docs/benchmarks.md "Gateway"). Each prints DESIGN.md §8 lines through bench_util.h:
 * "bench <name> <value> <unit>", and where a limit applies "limit <name> <value> <unit>
 * ratio <value/limit>", the limit measured in the same run on the same machine, the two
 * interleaved where the machine is shared.
 *
 *   rate     devices -> gateway (Mosquitto + plugin, outbox) -> forwarder -> cloud broker
 *            -> a cloud-side consumer that verifies each signed batch and acks it: the
 *            lossless rate, next to bare Mosquitto doing the same job (devices -> broker ->
 *            a QoS 1 subscriber). Load: corio-loadgen, QoS 1 as fast as PUBACKs allow.
 *   drain    the outbox filled while the uplink is cut, then drained: messages per second
 *            from the first batch after the link returns to the last, next to raw SQLite
 *            moving the same rows in and out of a table in batches of 500.
 *   bridge   the same job done by the usual alternative, a gateway Mosquitto with
 *            persistence bridging QoS 1 to the cloud Mosquitto: its lossless rate, and
 *            what it loses across an uplink cut and across a crash of the gateway broker
 *            during a cut, side by side with Corio's gateway through the same faults.
 *   devices  1,000 and 10,000 simulated devices on one gateway at a steady rate: CPU of
 *            the broker and corio-gateway, their memory, and the PUBACK latency, next to
 *            bare Mosquitto with the same clients and load.
 *
 * It runs real programs through the test harness (tests/harness), in a temporary
 * directory, and needs the build's bin/ (CORIO_BIN_DIR, CORIO_LIB_DIR: bench/run.sh's
 * wrappers set them). Sizes can be changed with environment variables (BENCH_*), named
 * where they are read.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <mosquitto.h>
#include <sqlite3.h>

#include "batch.h"
#include "bench_util.h"
#include "corio/did.h"
#include "crypto_openssl.h"
#include "harness.h"
#include "outbox.h"

static long env_long(const char *name, long def)
{
    const char *v = getenv(name);
    return v && *v ? atol(v) : def;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "# ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

static void fail(const char *what)
{
    fprintf(stderr, "corio-bench-gateway: %s (logs in %s)\n", what, h_dir());
    h_fail("%s", what);
    exit(h_done(1));
}

static double cpu_seconds(pid_t pid);

/* CPU seconds of this process (the cloud-side consumer runs in it). */
static double self_cpu(void)
{
    return cpu_seconds(getpid());
}

/* ---- the cloud-side consumer --------------------------------------------------------- */

/* A set of message identities (device, seq), hashed to 64 bits: counts distinct ones. */
struct idset {
    uint64_t *slots;
    size_t cap, n;
};

static uint64_t identity(const char *dev, size_t len, uint64_t seq)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)dev[i]) * 1099511628211ULL;
    h ^= seq * 0x9E3779B97F4A7C15ULL;
    h ^= h >> 31;
    return h ? h : 1;
}

static bool idset_add(struct idset *s, uint64_t k)
{
    if ((s->n + 1) * 2 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1 << 16;
        uint64_t *slots = calloc(cap, sizeof *slots);
        if (!slots)
            return false;
        for (size_t i = 0; i < s->cap; i++) {
            if (!s->slots[i])
                continue;
            size_t j = s->slots[i] & (cap - 1);
            while (slots[j])
                j = (j + 1) & (cap - 1);
            slots[j] = s->slots[i];
        }
        free(s->slots);
        s->slots = slots;
        s->cap = cap;
    }
    size_t j = k & (s->cap - 1);
    while (s->slots[j]) {
        if (s->slots[j] == k)
            return false;
        j = (j + 1) & (s->cap - 1);
    }
    s->slots[j] = k;
    s->n++;
    return true;
}

enum sink_mode { SINK_PLAIN, SINK_BATCH };

struct sink {
    enum sink_mode mode;
    struct mosquitto *m;
    uint8_t gw_pub[CORIO_P256_PUB_LEN];
    char gw[CORIO_DID_ID_CHARS + 1];
    pthread_mutex_t lock;
    struct idset ids;
    uint64_t received; /* messages, duplicates included */
    uint64_t batches;
    int64_t first_ms, last_new_ms; /* wall clock of the first message and the last new one */
    int64_t round_first_ms;        /* of the first message since sink_new_round() */
    bool connected;
};

/* A pack's (ep, seq) folded into one number: each load run has its own epoch. */
static uint64_t seq_of(const uint8_t *p, size_t n)
{
    const char *s = memmem(p, n, "\"seq\":", 6), *e = memmem(p, n, "\"ep\":", 5);
    uint64_t seq = s ? strtoull(s + 6, NULL, 10) : 0, ep = e ? strtoull(e + 5, NULL, 10) : 0;
    return seq ^ (ep << 32);
}

static void sink_count(struct sink *s, const char *dev, size_t dev_len, uint64_t seq)
{
    int64_t now = wall_ms();
    if (!s->first_ms)
        s->first_ms = now;
    if (!s->round_first_ms)
        s->round_first_ms = now;
    s->received++;
    if (idset_add(&s->ids, identity(dev, dev_len, seq)))
        s->last_new_ms = now;
}

static void sink_on_message(struct mosquitto *m, void *arg, const struct mosquitto_message *msg)
{
    struct sink *s = arg;
    if (s->mode == SINK_PLAIN) {
        /* corio/v1/d/<id>/up/json */
        const char *id = msg->topic + 11;
        pthread_mutex_lock(&s->lock);
        sink_count(s, id, 24, seq_of(msg->payload, (size_t)msg->payloadlen));
        pthread_mutex_unlock(&s->lock);
        return;
    }
    struct corio_batch b;
    char why[128];
    if (corio_batch_open(&corio_crypto_openssl_ops, msg->payload, (size_t)msg->payloadlen,
                         s->gw_pub, sizeof s->gw_pub, &b, why, sizeof why) != CORIO_OK) {
        note("sink: a batch does not open: %s", why);
        return;
    }
    pthread_mutex_lock(&s->lock);
    s->batches++;
    for (size_t i = 0; i < b.count; i++)
        if (b.msgs[i].device_len && b.msgs[i].suffix_len == 7 &&
            !memcmp(b.msgs[i].suffix, "up/json", 7)) /* not presence records */
            sink_count(s, b.msgs[i].device, b.msgs[i].device_len,
                       seq_of(b.msgs[i].payload, b.msgs[i].payload_len));
    pthread_mutex_unlock(&s->lock);
    /* Stored (counted): the application ack, as corio-cloud sends after its commit. */
    struct corio_ack_range r = {b.first, b.last};
    uint8_t ack[64];
    int64_t n = corio_ack_encode(b.epoch, &r, 1, ack, sizeof ack);
    char topic[96];
    snprintf(topic, sizeof topic, "corio/v1/g/%s/ack", b.gateway);
    if (n > 0)
        mosquitto_publish(m, NULL, topic, (int)n, ack, 1, false);
    corio_batch_free(&b);
}

static void sink_on_connect(struct mosquitto *m, void *arg, int rc)
{
    struct sink *s = arg;
    if (rc)
        return;
    mosquitto_subscribe(m, NULL, s->mode == SINK_PLAIN ? "corio/v1/d/+/up/#" : "corio/v1/g/+/batch",
                        1);
    s->connected = true;
}

static struct sink *sink_start(enum sink_mode mode, int port, const uint8_t *gw_pub)
{
    struct sink *s = calloc(1, sizeof *s);
    s->mode = mode;
    if (gw_pub)
        memcpy(s->gw_pub, gw_pub, sizeof s->gw_pub);
    pthread_mutex_init(&s->lock, NULL);
    char id[64];
    snprintf(id, sizeof id, "bench-sink-%d-%d", (int)getpid(), port);
    s->m = mosquitto_new(id, false, s);
    mosquitto_int_option(s->m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_max_inflight_messages_set(s->m, 100);
    mosquitto_connect_callback_set(s->m, sink_on_connect);
    mosquitto_message_callback_set(s->m, sink_on_message);
    mosquitto_loop_start(s->m);
    mosquitto_connect_async(s->m, "127.0.0.1", port, 30);
    bool up;
    H_POLL(up, s->connected, 10000);
    if (!up)
        fail("the sink cannot connect");
    /* The SUBACK: the subscription holds before any load starts. */
    int64_t t = wall_ms() + 300;
    H_POLL(up, wall_ms() >= t, 2000);
    return s;
}

/* From now on round_first_ms is the time of the next message. */
static void sink_new_round(struct sink *s)
{
    pthread_mutex_lock(&s->lock);
    s->round_first_ms = 0;
    pthread_mutex_unlock(&s->lock);
}

static uint64_t sink_distinct(struct sink *s)
{
    pthread_mutex_lock(&s->lock);
    uint64_t n = s->ids.n;
    pthread_mutex_unlock(&s->lock);
    return n;
}

static void sink_stop(struct sink *s)
{
    mosquitto_disconnect(s->m);
    mosquitto_loop_stop(s->m, false);
    mosquitto_destroy(s->m);
    free(s->ids.slots);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* Waits until the sink holds want distinct messages, or no new one came for idle_ms.
 * Returns the count. */
static uint64_t sink_wait(struct sink *s, uint64_t want, int idle_ms)
{
    uint64_t last = sink_distinct(s);
    int64_t last_change = wall_ms();
    while (last < want && wall_ms() - last_change < idle_ms) {
        usleep(20000);
        uint64_t n = sink_distinct(s);
        if (n != last) {
            last = n;
            last_change = wall_ms();
        }
    }
    return last;
}

/* ---- identities and programs ---------------------------------------------------------- */

struct gw_ident {
    char id[CORIO_DID_ID_CHARS + 1];
    char didkey[CORIO_DIDKEY_BUF];
    uint8_t pub[CORIO_P256_PUB_LEN];
    const char *pem;
};

static void make_gateway_ident(struct gw_ident *g)
{
    struct corio_key key;
    struct corio_did did;
    if (corio_key_generate(&corio_crypto_openssl_ops, 0, CORIO_KEY_EXPORTABLE, &key) != CORIO_OK ||
        corio_key_public(&key, g->pub) != CORIO_OK ||
        corio_did_from_key(&corio_crypto_openssl_ops, g->pub, sizeof g->pub, &did) != CORIO_OK)
        fail("cannot make the gateway's key");
    corio_did_id_format(did.id, g->id, sizeof g->id);
    corio_didkey_format(g->pub, sizeof g->pub, g->didkey, sizeof g->didkey);
    static int made;
    g->pem = h_strf("%s/gateway-%d.pem", h_dir(), made++);
    if (corio_openssl_key_write_pem(&key, g->pem) != CORIO_OK)
        fail("cannot write the gateway's key");
    corio_key_close(&key);
}

#define ORG B_ORG

/* Devices for the gateway: keys and the registry file (with the gateway in it). */
static const char *provision(int devices, const struct gw_ident *g, const char **registry)
{
    const char *keys = h_strf("%s/keys-%d.bin", h_dir(), devices);
    const char *lines = h_strf("%s/devices-%d.reg", h_dir(), devices);
    const char *argv[] = {h_bin("corio-loadgen"), "provision", "--devices",
                          h_strf("%d", devices), "--keys", keys, "--org", ORG,
                          "--registry-out", lines, NULL};
    if (h_run("loadgen-provision", argv, NULL, 600000, NULL) != 0)
        fail("corio-loadgen provision failed");
    *registry = h_strf("%s/registry-%d", h_dir(), devices);
    if (h_write_file(*registry, h_strf("height 1\norg %s Bench Org\ngateway %s org=%s key=%s\n%s",
                                       ORG, g->id, ORG, g->didkey, h_read_file(lines, NULL))) != 0)
        fail("cannot write the registry");
    return keys;
}

struct gateway {
    struct h_proc *proc;
    int device_port, http_port;
    const char *outbox;
};

static struct gateway start_gateway(const struct gw_ident *g, const char *registry, int cloud_port,
                                    const char *extra)
{
    struct gateway gw = {0};
    gw.device_port = h_free_port();
    gw.http_port = h_free_port();
    static int started;
    const char *dir = h_mkdir(h_strf("gateway-%d", started++));
    gw.outbox = h_strf("%s/outbox.db", dir);
    struct h_daemon_opts o = {
        .config = h_strf("gateway_id %s\nkey %s\noutbox %s\nregistry %s\ncloud_port %d\n"
                         "cloud_keepalive 5s\nloopback_port 0\nmqtt_address 127.0.0.1\n"
                         "mqtt_port %d\nmqtts_port 0\nhttp_port %d\nbroker_dir %s/broker\n"
                         "status_interval 0\nlog_level warn\n%s",
                         g->id, g->pem, gw.outbox, registry, cloud_port, gw.device_port,
                         gw.http_port, dir, extra ? extra : ""),
        .ready_port = gw.device_port,
        .timeout_ms = 30000};
    gw.proc = h_daemon_start("corio-gateway", &o);
    if (!gw.proc)
        fail("corio-gateway did not start");
    return gw;
}

/* The broker corio-gateway runs: its child. */
static pid_t broker_pid(const struct gateway *gw)
{
    pid_t parent = h_proc_pid(gw->proc), found = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d)) && !found) {
        char path[300], buf[512];
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        const char *p = strrchr(buf, ')');
        int ppid = 0;
        if (p && sscanf(p + 2, "%*c %d", &ppid) == 1 && ppid == parent && strstr(buf, "(mosquitto)"))
            found = (pid_t)atoi(e->d_name);
    }
    if (d)
        closedir(d);
    if (!found)
        fail("cannot find the gateway's broker");
    return found;
}

struct load {
    const char *keys, *gateway_id;
    int devices, port, window;
    long messages;
    double rate, duration;
};

struct load_result {
    json_t *j;
    double rate, seconds, p50, p99, pmax;
    int64_t acked, start_wall_ms;
};

/* Runs corio-loadgen to completion. */
static struct load_result run_load(const struct load *l, const char *name)
{
    const char *result = h_strf("%s/%s.json", h_dir(), name);
    const char *argv[32];
    int n = 0;
    argv[n++] = h_bin("corio-loadgen");
    argv[n++] = "run";
    argv[n++] = "--port";
    argv[n++] = h_strf("%d", l->port);
    argv[n++] = "--devices";
    argv[n++] = h_strf("%d", l->devices);
    argv[n++] = "--window";
    argv[n++] = h_strf("%d", l->window ? l->window : 20);
    if (l->keys) {
        argv[n++] = "--keys";
        argv[n++] = l->keys;
        argv[n++] = "--gateway-id";
        argv[n++] = l->gateway_id;
    }
    if (l->rate > 0) {
        argv[n++] = "--rate";
        argv[n++] = h_strf("%g", l->rate);
        argv[n++] = "--duration";
        argv[n++] = h_strf("%g", l->duration);
    } else {
        argv[n++] = "--messages";
        argv[n++] = h_strf("%ld", l->messages);
    }
    /* Each run its own epoch, so that the sink tells runs of the same devices apart even
     * when two start within the same second. */
    static long runs;
    argv[n++] = "--epoch";
    argv[n++] = h_strf("%ld", (long)(wall_ms() / 1000 % 10000000) * 100 + runs++ % 100);
    argv[n++] = "--result";
    argv[n++] = result;
    argv[n] = NULL;
    int rc = h_run(name, argv, NULL, 3600000, NULL);
    struct load_result r = {0};
    json_error_t jerr;
    r.j = json_load_file(result, 0, &jerr);
    if (rc != 0 || !r.j)
        fail(h_strf("%s: corio-loadgen failed (%d)", name, rc));
    r.rate = json_real_value(json_object_get(r.j, "rate"));
    r.seconds = json_real_value(json_object_get(r.j, "seconds"));
    r.acked = json_integer_value(json_object_get(r.j, "acked"));
    json_t *lat = json_object_get(r.j, "latency_ms");
    r.p50 = json_real_value(json_object_get(lat, "p50"));
    r.p99 = json_real_value(json_object_get(lat, "p99"));
    r.pmax = json_real_value(json_object_get(lat, "max"));
    int64_t end = json_integer_value(json_object_get(r.j, "wall_ms"));
    r.start_wall_ms = end - (int64_t)(r.seconds * 1000);
    return r;
}

/* ---- rate --------------------------------------------------------------------------- */

/* One side of the rate benchmark, kept up for every round: bare Mosquitto with a QoS 1
 * subscriber, or corio-gateway with the cloud broker and the acking consumer. */
struct rate_side {
    const char *name;
    struct sink *sink;
    struct load load;
    pid_t pids[4];
    const char *what[4];
    int npids;
    double cpu[4], self_cpu;
    uint64_t messages;
    double seconds, puback_seconds;
    double p99_max;
};

static void rate_round(struct rate_side *side, long per_device, int round)
{
    uint64_t before = sink_distinct(side->sink);
    double cpu0[4], self0 = self_cpu();
    for (int i = 0; i < side->npids; i++)
        cpu0[i] = cpu_seconds(side->pids[i]);
    side->load.messages = per_device;
    struct load_result r = run_load(&side->load, h_strf("load-%s-%d", side->name, round));
    uint64_t n = (uint64_t)side->load.devices * (uint64_t)per_device;
    uint64_t got = sink_wait(side->sink, before + n, 60000) - before;
    if (got != n)
        fail(h_strf("%s: the far end got %" PRIu64 " of %" PRIu64, side->name, got, n));
    /* From the first publish to the last new message at the far end. */
    double secs = (double)(side->sink->last_new_ms - r.start_wall_ms) / 1000.0;
    for (int i = 0; i < side->npids; i++)
        side->cpu[i] += cpu_seconds(side->pids[i]) - cpu0[i];
    side->self_cpu += self_cpu() - self0;
    side->messages += n;
    side->seconds += secs;
    side->puback_seconds += (double)r.acked / r.rate;
    if (r.p99 > side->p99_max)
        side->p99_max = r.p99;
    note("rate: round %d: %s %.0f msg/s end to end (PUBACK rate %.0f, p99 %.1f ms)", round,
         side->name, (double)n / secs, r.rate, r.p99);
    json_decref(r.j);
}

static void rate_cpu_note(const struct rate_side *side)
{
    char line[512];
    int n = snprintf(line, sizeof line, "rate: %s: CPU per message:", side->name);
    for (int i = 0; i < side->npids && n > 0 && (size_t)n < sizeof line; i++)
        n += snprintf(line + n, sizeof line - (size_t)n, " %s %.1f us,", side->what[i],
                      side->cpu[i] * 1e6 / (double)side->messages);
    note("%s consumer (this process) %.1f us", line, side->self_cpu * 1e6 / (double)side->messages);
}

/* Devices -> bare Mosquitto -> a QoS 1 subscriber, and devices -> corio-gateway -> cloud
 * broker -> the acking consumer, both up at once, their load runs alternating round by
 * round, so that both see the same machine (it is shared). */
static void bench_rate(void)
{
    int devices = (int)env_long("BENCH_RATE_DEVICES", 50); /* BENCH_RATE_DEVICES */
    long per = env_long("BENCH_RATE_MESSAGES", 1000);      /* per device and round */
    int rounds = (int)env_long("BENCH_RATE_ROUNDS", 4);    /* each side */
    note("rate: %d devices x %ld packs, QoS 1, a window of 20 each, %d rounds a side "
         "alternating",
         devices, per, rounds);

    struct h_mosq *bare_broker = h_mosq_start(NULL);
    if (!bare_broker)
        fail("mosquitto did not start");
    struct rate_side bare = {.name = "bare", .npids = 1, .what = {"broker"}};
    bare.sink = sink_start(SINK_PLAIN, bare_broker->port, NULL);
    bare.load = (struct load){.devices = devices, .port = bare_broker->port};
    bare.pids[0] = h_proc_pid(bare_broker->proc);

    struct gw_ident g;
    make_gateway_ident(&g);
    const char *registry;
    const char *keys = provision(devices, &g, &registry);
    struct h_mosq *cloud = h_mosq_start(NULL);
    if (!cloud)
        fail("the cloud broker did not start");
    struct rate_side gw = {.name = "gateway",
                           .npids = 3,
                           .what = {"broker + plugin", "corio-gateway", "cloud broker"}};
    gw.sink = sink_start(SINK_BATCH, cloud->port, g.pub);
    struct gateway gwp =
        start_gateway(&g, registry, cloud->port, "window 16\nbatch_messages 1000\n");
    gw.load = (struct load){
        .keys = keys, .gateway_id = g.id, .devices = devices, .port = gwp.device_port};
    gw.pids[0] = broker_pid(&gwp);
    gw.pids[1] = h_proc_pid(gwp.proc);
    gw.pids[2] = h_proc_pid(cloud->proc);

    for (int i = 0; i < rounds; i++) {
        rate_round(&bare, per, i + 1);
        rate_round(&gw, per, i + 1);
    }
    rate_cpu_note(&bare);
    rate_cpu_note(&gw);
    h_proc_stop(gwp.proc);
    sink_stop(gw.sink);
    h_mosq_stop(cloud);
    sink_stop(bare.sink);
    h_mosq_stop(bare_broker);

    double rate = (double)gw.messages / gw.seconds,
           limit_rate = (double)bare.messages / bare.seconds;
    bench_print("gateway_lossless_rate", rate, "msg/s");
    bench_limit("mosquitto_qos1_rate", limit_rate, "msg/s", rate);
    double prate = (double)gw.messages / gw.puback_seconds;
    bench_print("gateway_puback_rate", prate, "msg/s");
    bench_limit("mosquitto_puback_rate", (double)bare.messages / bare.puback_seconds, "msg/s", prate);
    bench_print("gateway_puback_latency_p99", gw.p99_max, "ms");
    bench_limit("mosquitto_puback_latency_p99", bare.p99_max, "ms", gw.p99_max);
}

/* ---- drain -------------------------------------------------------------------------- */

/* Raw SQLite: n rows of the outbox's shape in (batches of 500 per transaction) and out
 * again (read and delete 500 at a time), WAL, synchronous=NORMAL, as the outbox runs. */
static void sqlite_move(long n, size_t payload, double *in_rate, double *out_rate,
                        double *both_rate)
{
    static int calls;
    const char *path = h_strf("%s/raw-%d.db", h_dir(), calls++);
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                     "CREATE TABLE outbox(id INTEGER PRIMARY KEY, device TEXT NOT "
                     "NULL, suffix TEXT NOT NULL, recv_ms INTEGER NOT NULL, class INTEGER NOT "
                     "NULL, payload BLOB NOT NULL, dev_epoch INTEGER, dev_seq INTEGER) STRICT;",
                     NULL, NULL, NULL) != SQLITE_OK)
        fail("raw SQLite: cannot create");
    sqlite3_stmt *ins, *sel, *del;
    sqlite3_prepare_v2(db,
                       "INSERT INTO outbox(device, suffix, recv_ms, class, payload, dev_epoch, "
                       "dev_seq, id) VALUES (?1, 'up/json', ?2, 0, ?3, 1, ?4, ?4)",
                       -1, &ins, NULL);
    sqlite3_prepare_v2(db, "SELECT id, device, suffix, recv_ms, payload FROM outbox WHERE id > ?1 "
                           "ORDER BY id LIMIT 500",
                       -1, &sel, NULL);
    sqlite3_prepare_v2(db, "DELETE FROM outbox WHERE id <= ?1", -1, &del, NULL);
    uint8_t *buf = malloc(payload);
    memset(buf, 'x', payload);
    int64_t t0 = wall_ms();
    for (long i = 0; i < n; i += 500) {
        sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
        for (long k = i; k < n && k < i + 500; k++) {
            sqlite3_bind_text(ins, 1, "abcdefghijklmnopqrstuvwx", -1, SQLITE_STATIC);
            sqlite3_bind_int64(ins, 2, k);
            sqlite3_bind_blob(ins, 3, buf, (int)payload, SQLITE_STATIC);
            sqlite3_bind_int64(ins, 4, k + 1);
            if (sqlite3_step(ins) != SQLITE_DONE)
                fail("raw SQLite: insert failed");
            sqlite3_reset(ins);
        }
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    }
    int64_t t1 = wall_ms();
    int64_t after = 0;
    size_t bytes = 0;
    for (;;) {
        sqlite3_bind_int64(sel, 1, after);
        int rows = 0;
        while (sqlite3_step(sel) == SQLITE_ROW) {
            after = sqlite3_column_int64(sel, 0);
            bytes += (size_t)sqlite3_column_bytes(sel, 4);
            rows++;
        }
        sqlite3_reset(sel);
        if (!rows)
            break;
        sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
        sqlite3_bind_int64(del, 1, after);
        sqlite3_step(del);
        sqlite3_reset(del);
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    }
    int64_t t2 = wall_ms();
    if (bytes != (size_t)n * payload)
        fail("raw SQLite: rows went missing");
    free(buf);
    sqlite3_finalize(ins);
    sqlite3_finalize(sel);
    sqlite3_finalize(del);
    sqlite3_close(db);
    *in_rate = (double)n * 1000.0 / (double)(t1 - t0 ? t1 - t0 : 1);
    *out_rate = (double)n * 1000.0 / (double)(t2 - t1 ? t2 - t1 : 1);
    *both_rate = (double)n * 1000.0 / (double)(t2 - t0 ? t2 - t0 : 1);
}

/* Rows in the outbox's table, or -1. */
static int64_t outbox_rows(const char *path)
{
    struct corio_outbox_options oo = {.path = path, .read_only = true};
    corio_outbox *ob;
    char err[256];
    struct corio_outbox_stats os = {.rows = -1};
    if (corio_outbox_open(&oo, &ob, err, sizeof err) != CORIO_OK)
        return -1;
    if (corio_outbox_stats(ob, &os) != CORIO_OK)
        os.rows = -1;
    corio_outbox_close(ob);
    return os.rows;
}

/* Rounds of: the uplink cut while the devices fill the outbox, then the drain, measured
 * from the first batch to reach the cloud after the link returns to the outbox being
 * empty (acknowledged and deleted); each round followed by raw SQLite moving as many
 * rows in and out, so that both see the same machine. */
static void bench_drain(void)
{
    int devices = (int)env_long("BENCH_DRAIN_DEVICES", 50);
    long per = env_long("BENCH_DRAIN_MESSAGES", 3000); /* per device and round */
    int rounds = (int)env_long("BENCH_DRAIN_ROUNDS", 2);
    uint64_t want = (uint64_t)devices * (uint64_t)per;
    note("drain: %d rounds of %" PRIu64 " packs stored while the uplink is cut, then drained",
         rounds, want);
    struct gw_ident g;
    make_gateway_ident(&g);
    const char *registry;
    const char *keys = provision(devices, &g, &registry);
    struct h_mosq *cloud = h_mosq_start(NULL);
    struct h_proxy *link = cloud ? h_proxy_start("127.0.0.1", cloud->port) : NULL;
    if (!link)
        fail("the cloud broker did not start");
    struct sink *s = sink_start(SINK_BATCH, cloud->port, g.pub);
    struct gateway gw =
        start_gateway(&g, registry, h_proxy_port(link), "window 16\nbatch_messages 1000\n");
    struct load l = {.keys = keys, .gateway_id = g.id, .devices = devices,
                     .port = gw.device_port, .messages = per};
    double drain_secs = 0, cloud_secs = 0, in_secs = 0, out_secs = 0;
    for (int i = 0; i < rounds; i++) {
        h_proxy_set(link, H_CUT, 0);
        uint64_t before = sink_distinct(s);
        struct load_result r = run_load(&l, h_strf("load-drain-%d", i + 1));
        note("drain: round %d: %" PRId64 " packs stored at the gateway at %.0f msg/s (PUBACK "
             "rate), %" PRId64 " rows in the outbox",
             i + 1, r.acked, r.rate, outbox_rows(gw.outbox));
        json_decref(r.j);
        sink_new_round(s);
        h_proxy_set(link, H_PASS, 0);
        uint64_t got = sink_wait(s, before + want, 60000) - before;
        if (got != want)
            fail(h_strf("drain: the cloud got %" PRIu64 " of %" PRIu64, got, want));
        /* Drained means acknowledged and gone from the outbox (the plugin deleted it):
         * watched through one reader asking for the oldest row, a cheap question. */
        struct corio_outbox_options oo = {.path = gw.outbox, .read_only = true};
        corio_outbox *ob;
        char err[256];
        if (corio_outbox_open(&oo, &ob, err, sizeof err) != CORIO_OK)
            fail("drain: cannot read the outbox");
        int64_t deadline = wall_ms() + 60000, oldest = 1;
        while (corio_outbox_oldest(ob, &oldest) == CORIO_OK && oldest != 0 &&
               wall_ms() < deadline)
            usleep(2000);
        int64_t empty_ms = wall_ms();
        corio_outbox_close(ob);
        if (oldest != 0)
            fail("drain: the outbox did not empty");
        double secs = (double)(empty_ms - s->round_first_ms) / 1000.0;
        note("drain: round %d: the cloud had every message %.2f s after the first batch, the "
             "outbox was empty after %.2f s: %.0f msg/s",
             i + 1, (double)(s->last_new_ms - s->round_first_ms) / 1000.0, secs,
             (double)want / secs);
        drain_secs += secs;
        cloud_secs += (double)(s->last_new_ms - s->round_first_ms) / 1000.0;
        double in, out, both;
        sqlite_move((long)want, 150, &in, &out, &both);
        note("drain: round %d: raw SQLite %.0f msg/s in, %.0f msg/s out", i + 1, in, out);
        in_secs += (double)want / in;
        out_secs += (double)want / out;
    }
    h_proc_stop(gw.proc);
    sink_stop(s);
    double n = (double)want * rounds;
    double drain = n / drain_secs;
    bench_print("gateway_drain_rate", drain, "msg/s");
    bench_limit("sqlite_batched_insert_delete_rate", n / (in_secs + out_secs), "msg/s", drain);
    bench_limit("sqlite_batched_read_delete_rate", n / out_secs, "msg/s", drain);
    /* The same drain as the cloud sees it: until its last message arrived (the outbox
     * empties later, as acks move the watermark and the plugin deletes). */
    bench_print("gateway_drain_to_cloud_rate", n / cloud_secs, "msg/s");
}

/* ---- bridge ------------------------------------------------------------------------- */

/* One side of the bridge benchmark: Mosquitto bridging, or Corio's gateway; the cloud
 * broker behind a fault proxy, the counting consumer on it. */
struct bridge_side {
    const char *name;
    bool corio;
    struct h_mosq *cloud, *gm; /* gm: the bridging Mosquitto */
    struct h_proxy *link;
    struct sink *sink;
    struct gateway gw; /* corio */
    struct gw_ident id; /* corio: the load's gateway_id points here */
    struct load load;
    uint64_t messages;
    double seconds;
    uint64_t sent_cut, lost_cut, sent_crash, lost_crash;
};

static void bridge_side_start(struct bridge_side *b, int devices)
{
    b->cloud = h_mosq_start(NULL);
    b->link = b->cloud ? h_proxy_start("127.0.0.1", b->cloud->port) : NULL;
    if (!b->link)
        fail("the cloud broker did not start");
    if (!b->corio) {
        b->sink = sink_start(SINK_PLAIN, b->cloud->port, NULL);
        /* Persistence on, as a bridge that means to keep messages across a restart is
         * set up; the broker writes its file at autosave_interval (default 30 min) and
         * when it stops cleanly. */
        struct h_mosq_opts o = {
            .persistence = true,
            .extra = h_strf("connection cloud\naddress 127.0.0.1:%d\ntopic corio/v1/d/# out 1\n"
                            "cleansession false\nbridge_protocol_version mqttv311\n"
                            "restart_timeout 1 5\n",
                            h_proxy_port(b->link))};
        b->gm = h_mosq_start(&o);
        if (!b->gm)
            fail("the bridging Mosquitto did not start");
        int64_t t = wall_ms() + 1500;
        bool up;
        H_POLL(up, wall_ms() >= t, 3000); /* the bridge connects */
        b->load = (struct load){.devices = devices, .port = b->gm->port};
        return;
    }
    make_gateway_ident(&b->id);
    const char *registry;
    const char *keys = provision(devices, &b->id, &registry);
    b->sink = sink_start(SINK_BATCH, b->cloud->port, b->id.pub);
    b->gw =
        start_gateway(&b->id, registry, h_proxy_port(b->link), "window 16\nbatch_messages 1000\n");
    b->load = (struct load){
        .keys = keys, .gateway_id = b->id.id, .devices = devices, .port = b->gw.device_port};
}

static void bridge_round(struct bridge_side *b, long per, int round)
{
    uint64_t before = sink_distinct(b->sink);
    b->load.messages = per;
    struct load_result r = run_load(&b->load, h_strf("load-%s-%d", b->name, round));
    uint64_t n = (uint64_t)b->load.devices * (uint64_t)per;
    uint64_t got = sink_wait(b->sink, before + n, 30000) - before;
    if (got != n)
        note("bridge: %s: the cloud got %" PRIu64 " of %" PRIu64 " without any fault", b->name,
             got, n);
    double secs = (double)(b->sink->last_new_ms - r.start_wall_ms) / 1000.0;
    note("bridge: round %d: %s %.0f msg/s", round, b->name, (double)got / secs);
    b->messages += got;
    b->seconds += secs;
    json_decref(r.j);
}

/* Devices publish per_fault each while the uplink is cut, then it returns: what arrives.
 * With crash, the gateway (its broker; for Corio, corio-gateway and its broker at once)
 * is SIGKILLed during the cut and started again on its files (a power cut, an OOM kill, a
 * watchdog) before the uplink returns. */
static void bridge_fault(struct bridge_side *b, long per_fault, bool crash)
{
    uint64_t before = sink_distinct(b->sink);
    h_proxy_set(b->link, H_CUT, 0);
    b->load.messages = per_fault;
    struct load_result r =
        run_load(&b->load, h_strf("load-%s-%s", b->name, crash ? "crash" : "cut"));
    json_decref(r.j);
    if (crash && !b->corio) {
        h_proc_kill(b->gm->proc);
        if (h_mosq_restart(b->gm) != CORIO_OK)
            fail("the bridging Mosquitto did not restart");
    } else if (crash) {
        h_proc_kill(b->gw.proc);
        if (h_proc_restart(b->gw.proc) != CORIO_OK ||
            h_proc_wait_port(b->gw.proc, b->gw.device_port, 30000) != CORIO_OK)
            fail("corio-gateway did not restart");
    }
    h_proxy_set(b->link, H_PASS, 0);
    uint64_t sent = (uint64_t)b->load.devices * (uint64_t)per_fault;
    uint64_t got = sink_wait(b->sink, before + sent, 30000) - before;
    if (crash) {
        b->sent_crash = sent;
        b->lost_crash = sent - got;
    } else {
        b->sent_cut = sent;
        b->lost_cut = sent - got;
    }
}

static void bridge_side_stop(struct bridge_side *b)
{
    if (b->corio)
        h_proc_stop(b->gw.proc);
    else
        h_mosq_stop(b->gm);
    sink_stop(b->sink);
    h_mosq_stop(b->cloud);
}

/* The same job done by the usual alternative, a gateway Mosquitto with persistence
 * bridging QoS 1 to the cloud: both up at once, their load runs alternating round by
 * round; then the same faults on each. */
static void bench_bridge(void)
{
    int devices = (int)env_long("BENCH_BRIDGE_DEVICES", 50);
    long per = env_long("BENCH_BRIDGE_MESSAGES", 1000); /* per device and round */
    int rounds = (int)env_long("BENCH_BRIDGE_ROUNDS", 3);
    long per_fault = env_long("BENCH_BRIDGE_FAULT_MESSAGES", 200);
    note("bridge: %d devices x %ld packs, %d rounds a side alternating; then %ld each across "
         "a cut, and across a cut with a crash of the gateway",
         devices, per, rounds, per_fault);
    struct bridge_side bridge = {.name = "bridge"}, corio = {.name = "corio", .corio = true};
    bridge_side_start(&bridge, devices);
    bridge_side_start(&corio, devices);
    for (int i = 0; i < rounds; i++) {
        bridge_round(&bridge, per, i + 1);
        bridge_round(&corio, per, i + 1);
    }
    struct bridge_side *sides[] = {&bridge, &corio};
    for (int i = 0; i < 2; i++) {
        bridge_fault(sides[i], per_fault, false);
        bridge_fault(sides[i], per_fault, true);
        bridge_side_stop(sides[i]);
    }
    double rate = (double)corio.messages / corio.seconds;
    bench_print("gateway_lossless_rate_vs_bridge", rate, "msg/s");
    bench_limit("mosquitto_bridge_rate", (double)bridge.messages / bridge.seconds, "msg/s", rate);
    bench_print("mosquitto_bridge_lost_across_cut", (double)bridge.lost_cut, "messages");
    bench_print("mosquitto_bridge_lost_across_crash", (double)bridge.lost_crash, "messages");
    bench_print("gateway_lost_across_cut", (double)corio.lost_cut, "messages");
    bench_print("gateway_lost_across_crash", (double)corio.lost_crash, "messages");
    note("bridge: of %" PRIu64 " packs sent across each fault, the bridge lost %" PRIu64
         " (cut) and %" PRIu64 " (crash during the cut); Corio lost %" PRIu64 " and %" PRIu64,
         bridge.sent_cut, bridge.lost_cut, bridge.lost_crash, corio.lost_cut, corio.lost_crash);
}

/* ---- devices ------------------------------------------------------------------------ */

/* CPU seconds (user + system) of pid so far; -1 when it is gone. */
static double cpu_seconds(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Resident memory of pid in MiB (VmRSS). */
static double rss_mib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    double kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %lf kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib / 1024.0;
}

struct usage {
    double cpu_pct, rss, p50, p99, rate;
    int64_t acked;
};

/* Runs the paced load while sampling the CPU of pids; memory at the end. */
static struct usage measure(const struct load *l, const char *name, const pid_t *pids, int npids)
{
    double before[4];
    for (int i = 0; i < npids; i++)
        before[i] = cpu_seconds(pids[i]);
    int64_t t0 = wall_ms();
    struct load_result r = run_load(l, name);
    int64_t t1 = wall_ms();
    struct usage u = {.p50 = r.p50, .p99 = r.p99, .rate = r.rate, .acked = r.acked};
    for (int i = 0; i < npids; i++) {
        u.cpu_pct += (cpu_seconds(pids[i]) - before[i]) * 100.0 * 1000.0 / (double)(t1 - t0);
        u.rss += rss_mib(pids[i]);
    }
    json_decref(r.j);
    return u;
}

static void bench_devices_at(int devices, double rate, double duration)
{
    note("devices: %d devices at %.2f packs/s each for %.0f s (connecting included in CPU)",
         devices, rate, duration);
    /* Bare Mosquitto with a subscriber, the same clients and load. */
    struct h_mosq *m = h_mosq_start(NULL);
    if (!m)
        fail("mosquitto did not start");
    struct sink *s = sink_start(SINK_PLAIN, m->port, NULL);
    struct load l = {.devices = devices, .port = m->port, .rate = rate, .duration = duration};
    pid_t mp = h_proc_pid(m->proc);
    struct usage bare = measure(&l, h_strf("load-bare-%d", devices), &mp, 1);
    sink_stop(s);
    h_mosq_stop(m);

    struct gw_ident g;
    make_gateway_ident(&g);
    const char *registry;
    const char *keys = provision(devices, &g, &registry);
    struct h_mosq *cloud = h_mosq_start(NULL);
    s = sink_start(SINK_BATCH, cloud->port, g.pub);
    struct gateway gw = start_gateway(&g, registry, cloud->port, NULL);
    pid_t pids[2] = {broker_pid(&gw), h_proc_pid(gw.proc)};
    l = (struct load){.keys = keys, .gateway_id = g.id, .devices = devices,
                      .port = gw.device_port, .rate = rate, .duration = duration};
    struct usage corio = measure(&l, h_strf("load-gateway-%d", devices), pids, 2);
    /* Lossless: every acknowledged pack reached the cloud. */
    uint64_t got = sink_wait(s, (uint64_t)corio.acked, 60000);
    if (got != (uint64_t)corio.acked)
        fail(h_strf("devices: the cloud got %" PRIu64 " of %" PRId64, got, corio.acked));
    h_proc_stop(gw.proc);
    sink_stop(s);
    h_mosq_stop(cloud);

    char name[96];
    snprintf(name, sizeof name, "gateway_%d_devices_cpu", devices);
    bench_print(name, corio.cpu_pct, "%");
    snprintf(name, sizeof name, "mosquitto_%d_devices_cpu", devices);
    bench_limit(name, bare.cpu_pct, "%", corio.cpu_pct);
    snprintf(name, sizeof name, "gateway_%d_devices_rss", devices);
    bench_print(name, corio.rss, "MiB");
    snprintf(name, sizeof name, "mosquitto_%d_devices_rss", devices);
    bench_limit(name, bare.rss, "MiB", corio.rss);
    snprintf(name, sizeof name, "gateway_%d_devices_puback_p50", devices);
    bench_print(name, corio.p50, "ms");
    snprintf(name, sizeof name, "mosquitto_%d_devices_puback_p50", devices);
    bench_limit(name, bare.p50, "ms", corio.p50);
    snprintf(name, sizeof name, "gateway_%d_devices_puback_p99", devices);
    bench_print(name, corio.p99, "ms");
    snprintf(name, sizeof name, "mosquitto_%d_devices_puback_p99", devices);
    bench_limit(name, bare.p99, "ms", corio.p99);
}

static void bench_devices(void)
{
    double duration = (double)env_long("BENCH_DEVICES_SECONDS", 30);
    bench_devices_at(1000, 1.0, duration);
    bench_devices_at(10000, 0.2, duration);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: corio-bench-gateway rate|drain|bridge|devices\n");
        return 64;
    }
    signal(SIGPIPE, SIG_IGN);
    mosquitto_lib_init();
    if (!strcmp(argv[1], "rate"))
        bench_rate();
    else if (!strcmp(argv[1], "drain"))
        bench_drain();
    else if (!strcmp(argv[1], "bridge"))
        bench_bridge();
    else if (!strcmp(argv[1], "devices"))
        bench_devices();
    else {
        fprintf(stderr, "corio-bench-gateway: unknown benchmark '%s'\n", argv[1]);
        return 64;
    }
    mosquitto_lib_cleanup();
    return h_done(0);
}
