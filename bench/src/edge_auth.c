/*
 * edge_auth.c - corio-bench-edge-auth, the benchmark of bench/edge_auth: logins per
 * second that the gateway's broker admits through the corio plugin, with MQTT 5
 * enhanced authentication (corio-eat-v1: nonce, EAT over it, key 0 chain, registry key,
 * state file) and with single-step (EAT with a counter as the password), next to the
 * raw ECDSA P-256 verify rate of one thread on this machine measured in the same run
 * (the plugin verifies one signature per login, in Mosquitto's one thread), and next to
 * bare Mosquitto doing the same job: anonymous MQTT 5 logins to a broker without the
 * plugin, which is what the connection itself costs.
 *
 * A real Mosquitto 2.0 with the plugin on 127.0.0.1; W clients of the SDK, each its own
 * registered device, log in, and once admitted disconnect and log in again, for S
 * seconds per mode, driven by one poll() loop in this process (which signs the tokens:
 * on a two-core machine, the clients take one core, the broker the other). Prints
 * DESIGN.md §8 lines:
 *   bench edge_auth_enhanced <n> auth/s      limit ecdsa_verify <n> verify/s ratio <r>
 *   bench edge_auth_single <n> auth/s        limit ecdsa_verify <n> verify/s ratio <r>
 *   limit mosquitto_login <n> login/s ratio <enhanced / bare>
 *
 * Usage: corio-bench-edge-auth <mosquitto> <corio_mosquitto.so> [seconds] [clients]
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/evp.h>

#include "corio/did.h"
#include "corio/eat.h"
#include "corio/eat_auth.h"
#include "corio/encoding.h"
#include "corio/mqtt.h"
#include "corio/port_posix.h"
#include "corio/rotation.h"
#include "corio/topic.h"
#include "crypto_openssl.h"

#define GW          "gggggggggggggggggggggggg"
#define ORG         "oooooooooooooooooooooooo"
#define MAX_CLIENTS 64

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the limit --------------------------------------------------------------------------- */

/* Raw ECDSA P-256 verifications per second, one thread, OpenSSL (as bench/ledger). */
static double ecdsa_rate(void)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    EVP_PKEY_CTX *sc = k ? EVP_PKEY_CTX_new(k, NULL) : NULL;
    EVP_PKEY_CTX *vc = k ? EVP_PKEY_CTX_new(k, NULL) : NULL;
    uint8_t digest[32], sig[80];
    size_t sl = sizeof sig;
    double rate = -1;
    for (size_t i = 0; i < sizeof digest; i++)
        digest[i] = (uint8_t)(i * 7 + 1);
    if (sc && vc && EVP_PKEY_sign_init(sc) == 1 && EVP_PKEY_sign(sc, sig, &sl, digest, 32) == 1 &&
        EVP_PKEY_verify_init(vc) == 1) {
        unsigned n = 0;
        double t0 = now_s(), t;
        do {
            for (int i = 0; i < 100; i++)
                if (EVP_PKEY_verify(vc, sig, sl, digest, 32) != 1)
                    goto out;
            n += 100;
            t = now_s() - t0;
        } while (t < 2.0);
        rate = n / t;
    }
out:
    EVP_PKEY_CTX_free(sc);
    EVP_PKEY_CTX_free(vc);
    EVP_PKEY_free(k);
    return rate;
}

/* ---- devices and clients ------------------------------------------------------------------ */

struct client {
    struct corio_key key;
    struct corio_did did;
    char id[CORIO_SHORT_ID_LEN + 1];
    char did_text[CORIO_DID_BUF];
    char didkey[CORIO_DIDKEY_BUF];
    uint8_t chain[64];
    size_t chain_len;
    bool eat;
    bool anonymous; /* bare Mosquitto: no credentials at all */
    uint64_t counter;
    struct corio_posix_tcp tcp;
    struct corio_transport tp;
    struct corio_clock clk;
    struct corio_random rnd;
    struct corio_mqtt m;
    uint8_t tx[2048], rx[1024];
    uint8_t answer[1200];
    uint8_t tok[CORIO_EAT_MAX_SIZE];
    char password[CORIO_BASE64URL_ENCODED_LEN(CORIO_EAT_MAX_SIZE) + 1];
    bool running;
    uint64_t admitted, failed;
};

static int client_auth(void *user, enum corio_mqtt_auth_step step, const uint8_t *in, size_t in_len,
                       const uint8_t **out, size_t *out_len)
{
    struct client *c = user;
    *out = NULL;
    *out_len = 0;
    if (step != CORIO_MQTT_AUTH_CONTINUE)
        return CORIO_OK;
    struct corio_eat_claims cl;
    memset(&cl, 0, sizeof cl);
    cl.issuer = c->did;
    cl.aud = GW;
    cl.aud_len = CORIO_SHORT_ID_LEN;
    cl.nonce = in;
    cl.nonce_len = in_len;
    cl.assurance = CORIO_EAT_REPORTED;
    cl.has_bootcount = true;
    cl.bootcount = 1;
    int n = corio_eat_make(&c->key, &cl, c->tok, sizeof c->tok);
    if (n > 0)
        n = corio_eat_auth_encode(c->tok, (size_t)n, c->chain, c->chain_len, c->answer,
                                  sizeof c->answer);
    if (n < 0)
        return n;
    *out = c->answer;
    *out_len = (size_t)n;
    return CORIO_OK;
}

static void client_on_connect(void *user, const struct corio_mqtt_connack *ack)
{
    (void)ack;
    struct client *c = user;
    c->admitted++;
    corio_mqtt_disconnect(&c->m, 0);
}

static void client_on_disconnect(void *user, int err, uint8_t reason)
{
    (void)reason;
    struct client *c = user;
    if (err != CORIO_OK) {
        c->failed++;
        corio_mqtt_disconnect(&c->m, 0);
    }
    c->running = false;
}

static const struct corio_mqtt_callbacks callbacks = {
    .on_connect = client_on_connect,
    .on_disconnect = client_on_disconnect,
    .auth = client_auth,
};

static int client_new(struct client *c, bool eat)
{
    uint8_t pub[CORIO_P256_PUB_LEN];
    c->eat = eat;
    if (corio_key_generate(&corio_crypto_openssl_ops, 0, 0, &c->key) != CORIO_OK ||
        corio_key_public(&c->key, pub) != CORIO_OK ||
        corio_did_from_key(&corio_crypto_openssl_ops, pub, sizeof pub, &c->did) != CORIO_OK ||
        corio_did_id_format(c->did.id, c->id, sizeof c->id) < 0 ||
        corio_did_format(&c->did, c->did_text, sizeof c->did_text) < 0 ||
        corio_didkey_format(pub, sizeof pub, c->didkey, sizeof c->didkey) < 0)
        return -1;
    int n = corio_rotation_chain_start(pub, sizeof pub, c->chain, sizeof c->chain);
    if (n < 0)
        return -1;
    c->chain_len = (size_t)n;
    return 0;
}

/* One login attempt: a new client each time, as a device that reconnects. */
static int client_start(struct client *c, uint16_t port)
{
    if (corio_posix_tcp_init(&c->tcp, "127.0.0.1", port, 5000) != CORIO_OK)
        return -1;
    corio_posix_tcp_transport(&c->tcp, &c->tp);
    corio_posix_clock(&c->clk);
    corio_posix_random(&c->rnd);
    struct corio_mqtt_config cfg;
    corio_mqtt_config_init(&cfg);
    cfg.client_id = c->id;
    cfg.client_id_len = CORIO_SHORT_ID_LEN;
    if (c->anonymous) {
        /* nothing: the bare broker takes anyone */
    } else if (c->eat) {
        cfg.auth_method = CORIO_EAT_AUTH_METHOD;
        cfg.auth_method_len = (uint16_t)strlen(CORIO_EAT_AUTH_METHOD);
    } else {
        struct corio_eat_claims cl;
        memset(&cl, 0, sizeof cl);
        cl.issuer = c->did;
        cl.aud = GW;
        cl.aud_len = CORIO_SHORT_ID_LEN;
        cl.has_counter = true;
        cl.counter = ++c->counter;
        cl.assurance = CORIO_EAT_REPORTED;
        int n = corio_eat_make(&c->key, &cl, c->tok, sizeof c->tok);
        if (n < 0 || corio_base64url_encode(c->tok, (size_t)n, c->password, sizeof c->password) < 0)
            return -1;
        cfg.username = c->did_text;
        cfg.username_len = (uint16_t)strlen(c->did_text);
        cfg.password = (const uint8_t *)c->password;
        cfg.password_len = (uint16_t)strlen(c->password);
    }
    if (corio_mqtt_init(&c->m, &cfg, &c->tp, &c->clk, &c->rnd, c->tx, sizeof c->tx, c->rx,
                        sizeof c->rx, &callbacks, c) != CORIO_OK ||
        corio_mqtt_connect(&c->m) != CORIO_OK)
        return -1;
    c->running = true;
    return 0;
}

/* Logins admitted per second over `seconds`, with n clients logging in over and over. */
static double run_mode(struct client *cs, int n, uint16_t port, double seconds, uint64_t *failed)
{
    struct pollfd pfd[MAX_CLIENTS];
    double t0 = now_s(), warm = t0 + 0.5, end = warm + seconds;
    uint64_t at_warm = 0;
    bool counted = false;
    for (;;) {
        double t = now_s();
        if (!counted && t >= warm) {
            at_warm = 0;
            for (int i = 0; i < n; i++)
                at_warm += cs[i].admitted;
            counted = true;
        }
        if (t >= end)
            break;
        for (int i = 0; i < n; i++)
            if (!cs[i].running && client_start(&cs[i], port) != 0)
                return -1;
        int np = 0;
        for (int i = 0; i < n; i++) {
            int fd = corio_posix_tcp_fd(&cs[i].tcp);
            pfd[np].fd = fd;
            pfd[np].events = (short)(POLLIN | (corio_mqtt_want_write(&cs[i].m) ? POLLOUT : 0));
            pfd[np].revents = 0;
            np++;
        }
        poll(pfd, (nfds_t)np, 5);
        for (int i = 0; i < n; i++)
            corio_mqtt_process(&cs[i].m);
    }
    uint64_t total = 0;
    *failed = 0;
    for (int i = 0; i < n; i++) {
        total += cs[i].admitted;
        *failed += cs[i].failed;
    }
    /* Let the last attempts end before the next mode. */
    double stop = now_s() + 2;
    for (bool any = true; any && now_s() < stop;) {
        any = false;
        for (int i = 0; i < n; i++) {
            if (!cs[i].running)
                continue;
            any = true;
            corio_posix_tcp_wait(&cs[i].tcp, 1, corio_mqtt_want_write(&cs[i].m));
            corio_mqtt_process(&cs[i].m);
        }
    }
    for (int i = 0; i < n; i++)
        cs[i].tp.close(cs[i].tp.ctx);
    return (double)(total - at_warm) / seconds;
}

/* ---- the broker ---------------------------------------------------------------------------- */

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(s, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (s >= 0)
        close(s);
    return port;
}

static bool port_open(int port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) == 0;
    if (s >= 0)
        close(s);
    return ok;
}

static pid_t broker_start(const char *mosquitto, const char *plugin, const char *dir, int port)
{
    /* plugin NULL: bare Mosquitto, anonymous logins allowed. */
    char conf[600], log[600];
    snprintf(conf, sizeof conf, "%s/mosquitto%s.conf", dir, plugin ? "" : "-bare");
    snprintf(log, sizeof log, "%s/mosquitto%s.log", dir, plugin ? "" : "-bare");
    FILE *f = fopen(conf, "w");
    if (!f)
        return -1;
    if (geteuid() == 0)
        fprintf(f, "user root\n");
    fprintf(f,
            "per_listener_settings false\nallow_anonymous %s\npersistence false\n"
            "log_dest stderr\nlog_type error\nlog_type warning\nmax_queued_messages 0\n"
            "listener %d 127.0.0.1\n",
            plugin ? "false" : "true", port);
    if (plugin)
        fprintf(f,
                "plugin %s\nplugin_opt_gateway " GW "\nplugin_opt_outbox %s/outbox.db\n"
                "plugin_opt_registry %s/registry\n",
                plugin, dir, dir);
    if (fclose(f) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        FILE *l = freopen(log, "w", stderr);
        (void)l;
        execlp(mosquitto, mosquitto, "-c", conf, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; pid > 0 && i < 500; i++) {
        if (port_open(port))
            return pid;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (pid > 0)
        kill(pid, SIGKILL);
    return -1;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 5) {
        fprintf(stderr, "usage: corio-bench-edge-auth <mosquitto> <corio_mosquitto.so> "
                        "[seconds] [clients]\n");
        return 2;
    }
    double seconds = argc > 3 ? atof(argv[3]) : 5;
    int n = argc > 4 ? atoi(argv[4]) : 16;
    if (seconds <= 0 || n < 1 || n > MAX_CLIENTS) {
        fprintf(stderr, "corio-bench-edge-auth: seconds > 0, clients 1 to %d\n", MAX_CLIENTS);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    const char *tmp = getenv("TMPDIR");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/corio-bench-edge-auth-XXXXXX", tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "corio-bench-edge-auth: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    struct client *eat = calloc((size_t)n, sizeof *eat),
                  *single = calloc((size_t)n, sizeof *single);
    char path[600];
    snprintf(path, sizeof path, "%s/registry", dir);
    FILE *reg = fopen(path, "w");
    int rc = 1;
    pid_t broker = -1;
    if (!eat || !single || !reg)
        goto out;
    fprintf(reg, "height 1\norg " ORG " Bench\n");
    for (int i = 0; i < n; i++) {
        if (client_new(&eat[i], true) != 0 || client_new(&single[i], false) != 0)
            goto out;
        fprintf(reg, "device %s org=" ORG " key=%s class=bench auth=eat\n", eat[i].id,
                eat[i].didkey);
        fprintf(reg, "device %s org=" ORG " key=%s class=bench\n", single[i].id, single[i].didkey);
    }
    if (fclose(reg) != 0) {
        reg = NULL;
        goto out;
    }
    reg = NULL;
    double verify = ecdsa_rate();
    int port = free_port();
    broker = port > 0 ? broker_start(argv[1], argv[2], dir, port) : -1;
    if (verify <= 0 || broker < 0) {
        fprintf(stderr, "corio-bench-edge-auth: %s\n",
                verify <= 0 ? "no ECDSA" : "the broker did not start (see its log)");
        goto out;
    }
    uint64_t failed_eat, failed_single, failed_bare = 0;
    double r_eat = run_mode(eat, n, (uint16_t)port, seconds, &failed_eat);
    double r_single = run_mode(single, n, (uint16_t)port, seconds, &failed_single);
    kill(broker, SIGTERM);
    waitpid(broker, NULL, 0);
    broker = -1;
    /* The same job on bare Mosquitto: the same clients, anonymous. */
    double r_bare = -1;
    int bare_port = free_port();
    broker = bare_port > 0 ? broker_start(argv[1], NULL, dir, bare_port) : -1;
    if (broker > 0) {
        for (int i = 0; i < n; i++)
            eat[i].anonymous = true;
        r_bare = run_mode(eat, n, (uint16_t)bare_port, seconds, &failed_bare);
    }
    if (r_eat <= 0 || r_single <= 0 || r_bare <= 0 || failed_eat || failed_single || failed_bare) {
        fprintf(stderr, "corio-bench-edge-auth: refused logins: %llu enhanced, %llu single-step\n",
                (unsigned long long)failed_eat, (unsigned long long)failed_single);
        goto out;
    }
    fprintf(stderr, "# edge_auth: %d clients, %.0f s per mode; %d cores\n", n, seconds,
            (int)sysconf(_SC_NPROCESSORS_ONLN));
    printf("bench edge_auth_enhanced %.0f auth/s\n", r_eat);
    printf("limit ecdsa_verify %.0f verify/s ratio %.3f\n", verify, r_eat / verify);
    printf("bench edge_auth_single %.0f auth/s\n", r_single);
    printf("limit ecdsa_verify %.0f verify/s ratio %.3f\n", verify, r_single / verify);
    printf("limit mosquitto_login %.0f login/s ratio %.3f\n", r_bare, r_eat / r_bare);
    fflush(stdout);
    rc = 0;
out:
    if (reg)
        fclose(reg);
    if (broker > 0) {
        kill(broker, SIGTERM);
        waitpid(broker, NULL, 0);
    }
    for (int i = 0; eat && single && i < n; i++) {
        corio_key_close(&eat[i].key);
        corio_key_close(&single[i].key);
    }
    free(eat);
    free(single);
    if (rc == 0) {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "corio-bench-edge-auth: could not remove %s\n", dir);
    } else {
        fprintf(stderr, "corio-bench-edge-auth: kept %s\n", dir);
    }
    return rc;
}
