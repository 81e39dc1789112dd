/*
 * loadgen.c - corio-loadgen, the benchmarks' device load: many MQTT clients in one
 * process, each publishing SenML packs QoS 1 on corio/v1/d/<id>/up/json, as fast as its
 * PUBACKs allow (a window of publishes in flight) or at a steady rate, and timing each
 * publish to its PUBACK.
 *
 *   corio-loadgen provision --devices N --keys FILE --org ORG --registry-out FILE
 *       N device keys (raw P-256 scalars, 32 bytes each, in FILE) and their registry
 *       lines (docs/registry.md), so that a Corio gateway admits them.
 *   corio-loadgen run --port P [--host H] --devices N [--keys FILE --gateway-id GW]
 *       [--messages M | --rate R --duration S] [--window W] [--epoch E]
 *       [--connect-per-s C] [--result FILE]
 *       With --keys each client logs in as its device, single-step (client id = short
 *       id, username = DID, password = an EAT for GW with a counter from the clock);
 *       without, anonymously with made-up ids. --messages: each device sends M packs
 *       as fast as its window of W (default 20) allows. --rate: each device sends R
 *       packs per second for S seconds (window W). Every client connects first; the
 *       clock starts at the first publish. The result (JSON, to FILE or stdout): clients
 *       connected, packs published and acknowledged, seconds from the first publish to
 *       the last PUBACK, the rate, PUBACK latency percentiles (ms), disconnects.
 *
 * One thread drives every client of a process through poll(); libmosquitto does the
 * MQTT. Past PER_WORKER devices the run forks workers, one slice of devices each (a
 * client takes three descriptors, and the limit is per process); they connect, wait
 * for each other, start together, and the parent merges their counts and latencies.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>

#include "corio/did.h"
#include "corio/eat.h"
#include "corio/encoding.h"
#include "corio/error.h"
#include "crypto_openssl.h"

#define MAX_WINDOW 256

struct client {
    struct mosquitto *m;
    int index;
    char id[CORIO_DID_ID_CHARS + 1];
    char topic[64];
    bool connected, connecting, ever_connected;
    uint64_t sent, acked, seq;
    int inflight;
    int mids[MAX_WINDOW];
    int64_t sent_us[MAX_WINDOW];
    int64_t next_due_us;
    struct corio_key key;
    bool has_key;
};

static struct {
    const char *host;
    int port;
    int devices;
    const char *keys;
    const char *gateway;
    uint64_t messages;
    double rate, duration;
    int window;
    uint32_t epoch;
    double connect_per_s;
    const char *result;
} opt = {.host = "127.0.0.1", .window = 20, .epoch = 1, .connect_per_s = 2000};

/* This process's slice of the devices: [slice_first, slice_first + nclients). With
 * more devices than one process has descriptors for (libmosquitto takes three a
 * client), workers run a slice each (PER_WORKER) and the parent merges their results. */
#define PER_WORKER 5000
#define MAX_WORKERS 64
static int slice_first, nclients;
static struct client *clients;
static double *latencies; /* ms, one per acknowledged publish (capped) */
static size_t nlat, caplat;
static uint64_t total_acked, total_sent, disconnects;
static int64_t first_publish_us, last_ack_us;
static volatile sig_atomic_t stop;

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void die(const char *what)
{
    fprintf(stderr, "corio-loadgen: %s\n", what);
    exit(1);
}

/* ---- provisioning --------------------------------------------------------------------- */

static int provision(int n, const char *keys, const char *org, const char *registry)
{
    FILE *k = fopen(keys, "wb"), *r = fopen(registry, "w");
    if (!k || !r)
        die("cannot write the keys or the registry lines");
    for (int i = 0; i < n; i++) {
        struct corio_key key;
        uint8_t priv[CORIO_P256_SCALAR_LEN], pub[CORIO_P256_PUB_LEN];
        struct corio_did did;
        char id[CORIO_DID_ID_CHARS + 1], didkey[CORIO_DIDKEY_BUF];
        if (corio_key_generate(&corio_crypto_openssl_ops, 0, CORIO_KEY_EXPORTABLE, &key) !=
                CORIO_OK ||
            corio_key_export(&key, priv) != CORIO_OK || corio_key_public(&key, pub) != CORIO_OK ||
            corio_did_from_key(&corio_crypto_openssl_ops, pub, sizeof pub, &did) != CORIO_OK)
            die("cannot make a key");
        corio_key_close(&key);
        corio_did_id_format(did.id, id, sizeof id);
        corio_didkey_format(pub, sizeof pub, didkey, sizeof didkey);
        if (fwrite(priv, sizeof priv, 1, k) != 1 ||
            fprintf(r, "device %s org=%s key=%s class=bench\n", id, org, didkey) < 0)
            die("cannot write the keys or the registry lines");
    }
    if (fclose(k) != 0 || fclose(r) != 0)
        die("cannot write the keys or the registry lines");
    return 0;
}

/* ---- the clients ---------------------------------------------------------------------- */

static void add_latency(double ms)
{
    if (nlat == caplat) {
        size_t cap = caplat ? caplat * 2 : 65536;
        if (cap > ((size_t)1 << 26))
            return; /* enough for percentiles */
        double *l = realloc(latencies, cap * sizeof *l);
        if (!l)
            return;
        latencies = l;
        caplat = cap;
    }
    latencies[nlat++] = ms;
}

static void publish_one(struct client *c)
{
    char payload[256];
    c->seq++;
    int n = snprintf(payload, sizeof payload,
                     "[{\"bn\":\"urn:corio:%s:\",\"ep\":%" PRIu32 ",\"seq\":%" PRIu64
                     ",\"n\":\"temp\",\"u\":\"Cel\",\"v\":%.2f},{\"n\":\"hum\",\"u\":\"%%RH\","
                     "\"v\":%.1f},{\"n\":\"vib\",\"u\":\"m/s2\",\"v\":0.02}]",
                     c->id, opt.epoch, c->seq, 20.0 + (double)(c->seq % 100) / 10.0,
                     40.0 + (double)(c->seq % 50) / 10.0);
    int mid = 0;
    if (mosquitto_publish(c->m, &mid, c->topic, n, payload, 1, false) != MOSQ_ERR_SUCCESS) {
        c->seq--;
        return;
    }
    int64_t t = now_us();
    if (!first_publish_us)
        first_publish_us = t;
    c->mids[c->inflight] = mid;
    c->sent_us[c->inflight] = t;
    c->inflight++;
    c->sent++;
    total_sent++;
}

static void on_connect(struct mosquitto *m, void *arg, int rc)
{
    (void)m;
    struct client *c = arg;
    c->connecting = false;
    if (rc == 0) {
        c->connected = true;
        c->ever_connected = true;
    }
}

static void on_disconnect(struct mosquitto *m, void *arg, int rc)
{
    (void)m;
    (void)rc;
    struct client *c = arg;
    if (c->connected)
        disconnects++;
    c->connected = false;
    c->connecting = false;
    c->inflight = 0; /* libmosquitto resends them on reconnect; the PUBACK then counts */
}

static void on_publish(struct mosquitto *m, void *arg, int mid)
{
    (void)m;
    struct client *c = arg;
    int64_t t = now_us();
    for (int i = 0; i < c->inflight; i++) {
        if (c->mids[i] != mid)
            continue;
        add_latency((double)(t - c->sent_us[i]) / 1000.0);
        c->mids[i] = c->mids[c->inflight - 1];
        c->sent_us[i] = c->sent_us[c->inflight - 1];
        c->inflight--;
        break;
    }
    c->acked++;
    total_acked++;
    last_ack_us = t;
}

static void set_login(struct client *c)
{
    if (!c->has_key)
        return;
    struct corio_eat_claims cl;
    memset(&cl, 0, sizeof cl);
    char did[CORIO_DID_BUF];
    snprintf(did, sizeof did, "did:corio:%s", c->id);
    if (corio_did_parse(did, strlen(did), &cl.issuer) != CORIO_OK)
        die("bad device id");
    cl.aud = opt.gateway;
    cl.aud_len = strlen(opt.gateway);
    cl.has_counter = true;
    /* Above any counter used before for this device: microseconds of the wall clock. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    cl.counter = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    cl.assurance = CORIO_EAT_REPORTED;
    uint8_t tok[CORIO_EAT_MAX_SIZE];
    int n = corio_eat_make(&c->key, &cl, tok, sizeof tok);
    char pass[CORIO_BASE64URL_ENCODED_LEN(CORIO_EAT_MAX_SIZE) + 1];
    if (n <= 0 || corio_base64url_encode(tok, (size_t)n, pass, sizeof pass) <= 0)
        die("cannot make a token");
    mosquitto_username_pw_set(c->m, did, pass);
}

static void start_connect(struct client *c)
{
    set_login(c);
    int rc = c->ever_connected ? mosquitto_reconnect_async(c->m)
                               : mosquitto_connect_async(c->m, opt.host, opt.port, 60);
    if (rc == MOSQ_ERR_SUCCESS)
        c->connecting = true;
}

static void load_keys(void)
{
    FILE *f = fopen(opt.keys, "rb");
    if (!f || fseek(f, (long)slice_first * CORIO_P256_SCALAR_LEN, SEEK_SET) != 0)
        die("cannot read the keys");
    for (int i = 0; i < nclients; i++) {
        uint8_t priv[CORIO_P256_SCALAR_LEN], pub[CORIO_P256_PUB_LEN];
        struct corio_did did;
        if (fread(priv, sizeof priv, 1, f) != 1)
            die("fewer keys than devices");
        struct client *c = &clients[i];
        if (corio_key_import(&corio_crypto_openssl_ops, 0, 0, priv, &c->key) != CORIO_OK ||
            corio_key_public(&c->key, pub) != CORIO_OK ||
            corio_did_from_key(&corio_crypto_openssl_ops, pub, sizeof pub, &did) != CORIO_OK)
            die("bad key");
        c->has_key = true;
        corio_did_id_format(did.id, c->id, sizeof c->id);
    }
    fclose(f);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double p)
{
    if (!nlat)
        return 0;
    size_t i = (size_t)ceil(p / 100.0 * (double)nlat);
    return latencies[i ? i - 1 : 0];
}

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* Runs the network of every client for up to timeout_ms. */
static void network(struct pollfd *pfd, int *idx, int timeout_ms)
{
    int n = 0;
    for (int i = 0; i < nclients; i++) {
        int fd = mosquitto_socket(clients[i].m);
        if (fd < 0)
            continue;
        pfd[n].fd = fd;
        pfd[n].events = POLLIN | (mosquitto_want_write(clients[i].m) ? POLLOUT : 0);
        pfd[n].revents = 0;
        idx[n++] = i;
    }
    if (poll(pfd, (nfds_t)n, timeout_ms) < 0 && errno != EINTR)
        die("poll failed");
    for (int k = 0; k < n; k++) {
        struct client *c = &clients[idx[k]];
        if (pfd[k].revents & (POLLIN | POLLERR | POLLHUP))
            mosquitto_loop_read(c->m, 1);
        if (mosquitto_socket(c->m) >= 0 && (pfd[k].revents & POLLOUT))
            mosquitto_loop_write(c->m, 1);
    }
}

/* Writes what this process measured: counts, its first publish and last PUBACK on the
 * monotonic clock (shared by every process), and the raw latencies beside it. */
static void write_part(const char *path, int connected)
{
    FILE *f = fopen(path, "w");
    char lat[4200];
    snprintf(lat, sizeof lat, "%s.lat", path);
    FILE *l = fopen(lat, "wb");
    if (!f || !l || (nlat && fwrite(latencies, sizeof *latencies, nlat, l) != nlat))
        die("cannot write a worker's result");
    fprintf(f, "%d %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRId64 " %" PRId64 "\n", connected,
            total_sent, total_acked, disconnects, first_publish_us, last_ack_us);
    if (fclose(f) != 0 || fclose(l) != 0)
        die("cannot write a worker's result");
}

/* Runs this process's slice: connect everyone, tell the parent (ready_fd), wait for its
 * go (go_fd), then the load. -1 for both when alone. Returns the clients connected. */
static int run_slice(int ready_fd, int go_fd)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    clients = calloc((size_t)nclients, sizeof *clients);
    struct pollfd *pfd = calloc((size_t)nclients, sizeof *pfd);
    int *idx = calloc((size_t)nclients, sizeof *idx);
    if (!clients || !pfd || !idx)
        die("out of memory");
    if (opt.keys)
        load_keys();
    mosquitto_lib_init();
    for (int i = 0; i < nclients; i++) {
        struct client *c = &clients[i];
        c->index = slice_first + i;
        if (!c->has_key)
            snprintf(c->id, sizeof c->id, "bench%019d", c->index);
        snprintf(c->topic, sizeof c->topic, "corio/v1/d/%s/up/json", c->id);
        c->m = mosquitto_new(c->id, true, c);
        if (!c->m)
            die("cannot make a client");
        mosquitto_int_option(c->m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
        mosquitto_max_inflight_messages_set(c->m, (unsigned)opt.window);
        mosquitto_connect_callback_set(c->m, on_connect);
        mosquitto_disconnect_callback_set(c->m, on_disconnect);
        mosquitto_publish_callback_set(c->m, on_publish);
    }

    /* Everyone connects first, at connect_per_s (shared between the workers). */
    int workers = (opt.devices + PER_WORKER - 1) / PER_WORKER;
    double per_s = opt.connect_per_s / workers;
    int64_t t0 = now_us(), deadline = t0 + 300 * 1000000LL, last_misc = 0;
    int started = 0, connected = 0;
    while (!stop && connected < nclients && now_us() < deadline) {
        int64_t allowed = (int64_t)((double)(now_us() - t0) / 1e6 * per_s) + 1;
        while (started < nclients && started < allowed)
            start_connect(&clients[started++]);
        network(pfd, idx, 5);
        connected = 0;
        for (int i = 0; i < started; i++) {
            struct client *c = &clients[i];
            connected += c->connected;
            if (!c->connected && !c->connecting && started == nclients)
                start_connect(c); /* refused or lost: the token is new each time */
        }
        if (now_us() - last_misc > 500000) {
            for (int i = 0; i < started; i++)
                mosquitto_loop_misc(clients[i].m);
            last_misc = now_us();
        }
    }
    fprintf(stderr, "corio-loadgen: %d of %d clients connected in %.1f s\n", connected, nclients,
            (double)(now_us() - t0) / 1e6);
    if (ready_fd >= 0) {
        char b = 1, go;
        if (write(ready_fd, &b, 1) != 1 || read(go_fd, &go, 1) != 1)
            die("the parent is gone");
    }

    /* The load. */
    bool paced = opt.rate > 0;
    uint64_t target = paced ? 0 : opt.messages;
    int64_t start = now_us(), end = paced ? start + (int64_t)(opt.duration * 1e6) : 0;
    int64_t period = paced ? (int64_t)(1e6 / opt.rate) : 0;
    for (int i = 0; paced && i < nclients; i++) /* spread over one period */
        clients[i].next_due_us = start + period * (slice_first + i) / opt.devices;
    for (;;) {
        int64_t t = now_us();
        bool sending = paced ? t < end : false;
        bool pending = false;
        for (int i = 0; i < nclients; i++) {
            struct client *c = &clients[i];
            if (!c->connected) {
                if (!c->connecting)
                    start_connect(c);
                pending = true;
                continue;
            }
            if (paced) {
                while (sending && c->next_due_us <= t && c->inflight < opt.window) {
                    publish_one(c);
                    c->next_due_us += period;
                }
                if (c->acked < c->sent)
                    pending = true;
            } else {
                while (c->sent < target && c->inflight < opt.window)
                    publish_one(c);
                if (c->acked < target)
                    pending = true;
            }
        }
        if (stop || (!sending && !pending))
            break;
        if (t - last_misc > 500000) {
            for (int i = 0; i < nclients; i++)
                mosquitto_loop_misc(clients[i].m);
            last_misc = t;
        }
        network(pfd, idx, paced ? 1 : 5);
        if (now_us() - start > 3600 * 1000000LL)
            break;
    }
    for (int i = 0; i < nclients; i++) {
        clients[i].connected = false; /* the run is over: this one is not counted */
        mosquitto_disconnect(clients[i].m);
        mosquitto_loop_write(clients[i].m, 1);
        mosquitto_destroy(clients[i].m);
        if (clients[i].has_key)
            corio_key_close(&clients[i].key);
    }
    mosquitto_lib_cleanup();
    free(clients);
    free(pfd);
    free(idx);
    return connected;
}

static int run(void)
{
    if (opt.window < 1 || opt.window > MAX_WINDOW)
        die("--window must be 1..256");
    if (opt.keys && !opt.gateway)
        die("--keys needs --gateway-id");
    int workers = (opt.devices + PER_WORKER - 1) / PER_WORKER;
    if (workers > MAX_WORKERS)
        die("too many devices for one corio-loadgen");
    int connected = 0;
    if (workers == 1) {
        slice_first = 0;
        nclients = opt.devices;
        connected = run_slice(-1, -1);
    } else {
        char dir[] = "/tmp/corio-loadgen-XXXXXX";
        if (!mkdtemp(dir))
            die("cannot make a directory");
        int ready[2], go[2];
        if (pipe(ready) != 0 || pipe(go) != 0)
            die("cannot make pipes");
        pid_t *pids = calloc((size_t)workers, sizeof *pids);
        for (int w = 0; w < workers; w++) {
            pid_t pid = fork();
            if (pid < 0)
                die("cannot fork");
            if (pid == 0) {
                close(ready[0]);
                close(go[1]);
                slice_first = w * PER_WORKER;
                nclients = opt.devices - slice_first < PER_WORKER ? opt.devices - slice_first
                                                                  : PER_WORKER;
                int c = run_slice(ready[1], go[0]);
                char part[4096];
                snprintf(part, sizeof part, "%s/part-%d", dir, w);
                write_part(part, c);
                _exit(0);
            }
            pids[w] = pid;
        }
        close(ready[1]);
        close(go[0]);
        for (int w = 0; w < workers; w++) {
            char b;
            if (read(ready[0], &b, 1) != 1)
                die("a worker died while connecting");
        }
        char gos[MAX_WORKERS];
        memset(gos, 1, sizeof gos);
        if (write(go[1], gos, (size_t)workers) != workers)
            die("cannot start the workers");
        int64_t first = 0, last = 0;
        for (int w = 0; w < workers; w++) {
            int status;
            if (waitpid(pids[w], &status, 0) != pids[w] || !WIFEXITED(status) ||
                WEXITSTATUS(status) != 0)
                die("a worker failed");
            char part[4096], lat[4200];
            snprintf(part, sizeof part, "%s/part-%d", dir, w);
            snprintf(lat, sizeof lat, "%s.lat", part);
            FILE *f = fopen(part, "r");
            int c;
            uint64_t sent, acked, disc;
            int64_t fp, la;
            if (!f || fscanf(f, "%d %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNd64 " %" SCNd64, &c,
                             &sent, &acked, &disc, &fp, &la) != 6)
                die("a worker left no result");
            fclose(f);
            connected += c;
            total_sent += sent;
            total_acked += acked;
            disconnects += disc;
            if (fp && (!first || fp < first))
                first = fp;
            if (la > last)
                last = la;
            f = fopen(lat, "rb");
            double v;
            while (f && fread(&v, sizeof v, 1, f) == 1)
                add_latency(v);
            if (f)
                fclose(f);
            unlink(lat);
            unlink(part);
        }
        rmdir(dir);
        free(pids);
        first_publish_us = first;
        last_ack_us = last;
    }
    double seconds = last_ack_us > first_publish_us
                         ? (double)(last_ack_us - first_publish_us) / 1e6
                         : 0;
    qsort(latencies, nlat, sizeof *latencies, cmp_double);
    FILE *out = opt.result ? fopen(opt.result, "w") : stdout;
    if (!out)
        die("cannot write the result");
    fprintf(out,
            "{\"clients\": %d, \"connected\": %d, \"published\": %" PRIu64
            ", \"acked\": %" PRIu64 ", \"seconds\": %.6f, \"rate\": %.1f, \"latency_ms\": "
            "{\"p50\": %.3f, \"p90\": %.3f, \"p99\": %.3f, \"max\": %.3f}, \"disconnects\": %" PRIu64
            ", \"wall_ms\": %" PRId64 "}\n",
            opt.devices, connected, total_sent, total_acked, seconds,
            seconds > 0 ? (double)total_acked / seconds : 0, pct(50), pct(90), pct(99),
            nlat ? latencies[nlat - 1] : 0, disconnects, wall_ms());
    if (out != stdout)
        fclose(out);
    free(latencies);
    return connected == opt.devices && total_acked == total_sent ? 0 : 2;
}

static const char *value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "corio-loadgen: %s needs a value\n", argv[*i]);
        exit(64);
    }
    return argv[++*i];
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: corio-loadgen provision|run ... (see bench/loadgen.c)\n");
        return 64;
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    const char *keys = NULL, *org = NULL, *registry = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--host"))
            opt.host = value(argc, argv, &i);
        else if (!strcmp(a, "--port"))
            opt.port = atoi(value(argc, argv, &i));
        else if (!strcmp(a, "--devices"))
            opt.devices = atoi(value(argc, argv, &i));
        else if (!strcmp(a, "--keys"))
            keys = opt.keys = value(argc, argv, &i);
        else if (!strcmp(a, "--gateway-id"))
            opt.gateway = value(argc, argv, &i);
        else if (!strcmp(a, "--messages"))
            opt.messages = strtoull(value(argc, argv, &i), NULL, 10);
        else if (!strcmp(a, "--rate"))
            opt.rate = atof(value(argc, argv, &i));
        else if (!strcmp(a, "--duration"))
            opt.duration = atof(value(argc, argv, &i));
        else if (!strcmp(a, "--window"))
            opt.window = atoi(value(argc, argv, &i));
        else if (!strcmp(a, "--epoch"))
            opt.epoch = (uint32_t)strtoul(value(argc, argv, &i), NULL, 10);
        else if (!strcmp(a, "--connect-per-s"))
            opt.connect_per_s = atof(value(argc, argv, &i));
        else if (!strcmp(a, "--result"))
            opt.result = value(argc, argv, &i);
        else if (!strcmp(a, "--org"))
            org = value(argc, argv, &i);
        else if (!strcmp(a, "--registry-out"))
            registry = value(argc, argv, &i);
        else {
            fprintf(stderr, "corio-loadgen: unknown option %s\n", a);
            return 64;
        }
    }
    if (opt.devices < 1)
        die("--devices must be at least 1");
    if (!strcmp(argv[1], "provision")) {
        if (!keys || !org || !registry)
            die("provision needs --keys, --org and --registry-out");
        return provision(opt.devices, keys, org, registry);
    }
    if (strcmp(argv[1], "run") != 0)
        die("the command is provision or run");
    if (!opt.port || (!opt.messages && !(opt.rate > 0 && opt.duration > 0)))
        die("run needs --port, and --messages or --rate with --duration");
    return run();
}
