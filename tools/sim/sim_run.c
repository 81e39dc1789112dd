/*
 * sim_run.c - `corio sim run`: the provisioned devices of a state directory, each a
 * real corio_device on its own flash file and key, driven by one poll() loop.
 *
 * The loop has three phases. Sampling: every device records temperature, humidity
 * and vibration at the configured rate (the first samples spread over one period, so
 * the gateway sees an even load), and, when asked, reboots (its RAM state is dropped
 * and it boots again from its flash) or loses its connection. Draining: sampling has
 * ended (count, duration, or SIGINT/SIGTERM); the devices keep running until every
 * outbox is acknowledged or the drain timeout passes (a second signal ends it at
 * once). Stopping: each device disconnects cleanly. Then the summary.
 *
 * Only devices whose socket is ready or whose timer is due are processed in a round,
 * so the cost of a round is the poll() over all sockets plus the work that arrived.
 *
 * The devices answer the downlink (docs/downlink.md): the commands "set_rate"
 * ({"hz": n} changes the device's sampling rate; the result is the new period in ms) and
 * "blink" ({"times": n}, the result is the blinks so far), a desired configuration
 * {"rate": hz} (applied and reported), and "decommission" (the device's key file is
 * wiped and it stops for good).
 *
 * Identity. Under MQTT 5 the devices authenticate with corio-eat-v1 by default: one the
 * gateway does not know waits in quarantine and answers claims with the secret of its
 * provisioning record. With --rotate-every a device rotates its key: key k+1 is made,
 * its rotation link signed by key k and endorsed by the organisation's key, written to
 * <id>.key<k+1>.pem and then the chain to <id>.chain (the commit point), and the device
 * re-authenticates with it. Only a device admitted at that moment rotates (not one in
 * quarantine or offline; its turn comes again later). A chain that would not fit the
 * device's buffer (CORIO_DEVICE_AUTH_MAX) ends the device's rotations; they are counted
 * as skipped.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "corio/cbor.h"
#include "corio/device.h"
#include "corio/did.h"
#include "corio/p256.h"
#include "corio/rotation.h"
#include "corio/port_posix.h"
#include "corio/port_posix_flash.h"
#include "crypto_openssl.h"
#include "sim.h"

struct simdev {
    int index;
    char id[CORIO_SHORT_ID_LEN + 1];
    /* The current key is keys[cur] with chain[cur]; the other slot takes the next one,
     * since the device borrows both until it has switched. */
    struct corio_key keys[2];
    uint8_t chain[2][CORIO_DEVICE_AUTH_MAX];
    size_t chain_len[2];
    int cur;
    uint32_t key_no;
    uint32_t rotations, rotations_skipped;
    double next_rotate;
    char secret[CORIO_CLAIM_SECRET_MAX + 1];
    struct corio_posix_flash pf;
    struct corio_flash flash;
    struct sim_tcp tcp;
    struct corio_posix_tls tls; /* over tcp, when the gateway is reached with TLS */
    bool tls_on;
    bool tls_failed; /* a handshake failed (said once) */
    struct corio_transport tp;
    struct corio_device_config cfg;
    struct corio_device dev;
    uint8_t tx[4096], rx[1024], pack[512], msg[512];
    struct sim_model model;
    struct sim_rng events;
    bool no_time;
    bool decommissioned; /* its keys were wiped on command */
    char key_path[4096];
    double period; /* ms between samples (the rate, changed by set_rate) */
    uint64_t blinks;
    uint64_t commands_run;
    bool up;               /* connected now */
    bool stopped;          /* corio_device_stop() completed */
    bool drained;          /* nothing left unacknowledged after sampling ended */
    uint64_t produced;     /* packs committed, every boot of this run */
    uint64_t acked_before; /* acknowledged in earlier boots of this run */
    uint64_t connects_before;
    uint64_t commit_errors;
    uint32_t boots, netlosses;
    uint32_t claims_before;
    double next_sample, next_reboot, next_netloss; /* ms, monotonic */
    int64_t next_due;
};

static volatile sig_atomic_t signals;

static void on_signal(int sig)
{
    (void)sig;
    signals++;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int random_fill(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    while (len) {
        ssize_t n = getrandom(buf, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return CORIO_ERR_IO;
        }
        buf += n;
        len -= (size_t)n;
    }
    return CORIO_OK;
}

static void on_link(void *app, bool up, int err)
{
    struct simdev *s = app;
    s->up = up;
    if (!up && err == CORIO_OK)
        s->stopped = true;
    /* A gateway whose certificate does not verify will not start to: say so once. */
    if (!up && (err == CORIO_ERR_BADSIG || err == CORIO_ERR_CRYPTO) && !s->tls_failed) {
        s->tls_failed = true;
        fprintf(stderr, "corio: device %s: TLS with the gateway failed: %s\n", s->id,
                err == CORIO_ERR_BADSIG
                    ? "its certificate does not verify (trust anchor, dates or name)"
                    : "handshake refused");
    }
}

/* Reads {"<key>": number} (one pair) from a CBOR map; CORIO_OK with *v, or an error. */
static int one_number(const uint8_t *p, size_t n, const char *key, double *v)
{
    struct corio_cbor_dec d;
    uint64_t pairs;
    const char *k;
    size_t kn;
    if (!p)
        return CORIO_ERR_INVAL;
    corio_cbor_dec_init(&d, p, n);
    if (corio_cbor_expect_map(&d, &pairs) != CORIO_OK || pairs == CORIO_CBOR_INDEFINITE)
        return CORIO_ERR_INVAL;
    for (uint64_t i = 0; i < pairs; i++) {
        if (corio_cbor_expect_text(&d, &k, &kn) != CORIO_OK)
            return CORIO_ERR_INVAL;
        if (kn == strlen(key) && memcmp(k, key, kn) == 0)
            return corio_cbor_expect_number(&d, v) == CORIO_OK ? CORIO_OK : CORIO_ERR_INVAL;
        if (corio_cbor_skip(&d) != CORIO_OK)
            return CORIO_ERR_INVAL;
    }
    return CORIO_ERR_NOTFOUND;
}

static int apply_rate(struct simdev *s, double hz)
{
    if (!(hz > 0 && hz <= 100))
        return CORIO_ERR_INVAL;
    s->period = 1000.0 / hz;
    return CORIO_OK;
}

static int cmd_set_rate(void *app, const struct corio_cmd *cmd, struct corio_cbor_enc *result)
{
    struct simdev *s = app;
    double hz;
    int rc = one_number(cmd->args, cmd->args_len, "hz", &hz);
    if (rc == CORIO_OK)
        rc = apply_rate(s, hz);
    if (rc != CORIO_OK)
        return CORIO_ERR_INVAL;
    s->commands_run++;
    return corio_cbor_put_uint(result, (uint64_t)(s->period + 0.5));
}

static int cmd_blink(void *app, const struct corio_cmd *cmd, struct corio_cbor_enc *result)
{
    struct simdev *s = app;
    double times = 1;
    if (cmd->args && one_number(cmd->args, cmd->args_len, "times", &times) == CORIO_ERR_INVAL)
        return CORIO_ERR_INVAL;
    if (!(times >= 1 && times <= 1000))
        return CORIO_ERR_INVAL;
    s->blinks += (uint64_t)times;
    s->commands_run++;
    return corio_cbor_put_uint(result, s->blinks);
}

static const struct corio_device_command sim_commands[] = {
    {"set_rate", cmd_set_rate},
    {"blink", cmd_blink},
};

/* A desired configuration: {"rate": hz} is applied; other keys are refused. */
static int on_config(void *app, uint64_t version, const uint8_t *cfg, size_t len,
                     struct corio_cbor_enc *reported)
{
    struct simdev *s = app;
    (void)version;
    double hz;
    int rc = one_number(cfg, len, "rate", &hz);
    if (rc == CORIO_OK)
        rc = apply_rate(s, hz);
    corio_cbor_put_map(reported, 1);
    corio_cbor_put_textz(reported, "rate");
    corio_cbor_put_double(reported, 1000.0 / s->period);
    return rc == CORIO_ERR_NOTFOUND ? CORIO_ERR_INVAL : rc;
}

/* Decommissioned: the key is wiped (its file overwritten and removed). */
/* Overwrites a file with zeros and removes it. */
static void wipe(const char *path)
{
    FILE *f = fopen(path, "r+");
    if (f) {
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        rewind(f);
        for (long i = 0; i < n; i++)
            fputc(0, f);
        fflush(f);
        fsync(fileno(f));
        fclose(f);
    }
    unlink(path);
}

/* Decommissioned: every key of the device is wiped (key 0, the rotated keys, the chain). */
static void on_decommission(void *app)
{
    struct simdev *s = app;
    char path[4200];
    wipe(s->key_path);
    for (uint32_t k = 1; k <= s->key_no + 1; k++) {
        snprintf(path, sizeof path, "%.*s.key%u.pem", (int)(strlen(s->key_path) - 4), s->key_path,
                 k);
        wipe(path);
    }
    snprintf(path, sizeof path, "%.*s.chain", (int)(strlen(s->key_path) - 4), s->key_path);
    wipe(path);
    s->decommissioned = true;
}

static const struct corio_device_callbacks sim_callbacks = {
    .on_link = on_link, .on_config = on_config, .on_decommission = on_decommission};

/* The organisation that endorses rotations (--org-key). */
struct sim_org {
    struct corio_key key;
    struct corio_did did; /* with its key number */
    bool loaded;
};

/* A time `mean` seconds ahead on average (uniform in half to one and a half). */
static double next_event(struct simdev *s, double now, double mean)
{
    return now + mean * 1000.0 * (0.5 + sim_rng_unit(&s->events));
}

/* ---- devices ---- */

static int id_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The ids of the devices provisioned in dir, sorted; *ids is malloc'd (free each). */
static int list_devices(const char *dir, char ***ids, int *count)
{
    DIR *d = opendir(dir);
    if (!d) {
        cli_error("%s: %s", dir, strerror(errno));
        return CLI_INPUT;
    }
    char **v = NULL;
    int n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len != CORIO_SHORT_ID_LEN + 4 || strcmp(e->d_name + CORIO_SHORT_ID_LEN, ".pem") != 0 ||
            !corio_short_id_valid(e->d_name, CORIO_SHORT_ID_LEN))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nv = realloc(v, (size_t)cap * sizeof *v);
            if (!nv)
                break;
            v = nv;
        }
        v[n] = strndup(e->d_name, CORIO_SHORT_ID_LEN);
        if (!v[n])
            break;
        n++;
    }
    closedir(d);
    if (n > 0)
        qsort(v, (size_t)n, sizeof *v, id_cmp);
    *ids = v;
    *count = n;
    return CLI_OK;
}

/* A boot: the device comes up from its flash; with a clock it knows the time. */
static int boot(struct simdev *s)
{
    int rc = corio_device_init(&s->dev, &s->cfg);
    if (rc != CORIO_OK) {
        cli_error("device %s: cannot boot: %s", s->id, corio_strerror(rc));
        return CLI_FAIL;
    }
    if (!s->no_time)
        corio_device_set_time(&s->dev, wall_ms()); /* its real-time clock */
    rc = corio_device_start(&s->dev);
    if (rc != CORIO_OK) {
        cli_error("device %s: cannot start: %s", s->id, corio_strerror(rc));
        return CLI_FAIL;
    }
    s->boots++;
    s->up = false;
    s->next_due = 0;
    return CLI_OK;
}

/* A reboot: what the device had in RAM is gone, its connection dies with it. */
static int reboot(struct simdev *s)
{
    if (s->decommissioned)
        return CLI_OK; /* no key to boot with */
    struct corio_device_stats st;
    if (corio_device_stats(&s->dev, &st) == CORIO_OK) {
        s->acked_before += st.acked;
        s->connects_before += st.connects;
        s->claims_before += st.claims;
    }
    s->tp.close(s->tp.ctx);
    return boot(s);
}

/* TLS over the non-blocking TCP transport (the handshake runs inside open(), a step at a
 * time, as the connect does), with the trust anchor given, or the device's own. */
static int setup_tls(struct simdev *s, const char *dir, const struct sim_opts *o)
{
    uint8_t *own = NULL;
    const char *anchor = o->ca_pem;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s" SIM_GATEWAY_CA_SUFFIX, dir, s->id);
    if (!anchor) {
        size_t len;
        if (cli_read_file(path, 1 << 20, &own, &len) != CLI_OK) {
            cli_error("device %s: no trust anchor for the gateway (provision it with one, or "
                      "give --ca)",
                      s->id);
            return CLI_INPUT;
        }
        own[len] = '\0'; /* cli_read_file leaves room for it */
        anchor = (const char *)own;
    }
    struct corio_transport raw = s->tp;
    int rc = corio_posix_tls_init_transport(&s->tls, &raw, anchor, o->server_name);
    free(own);
    if (rc != CORIO_OK) {
        cli_error("device %s: cannot set up TLS: %s", s->id,
                  rc == CORIO_ERR_INVAL ? "no certificate in the trust anchor" : corio_strerror(rc));
        return rc == CORIO_ERR_INVAL ? CLI_INPUT : CLI_FAIL;
    }
    s->tls_on = true;
    corio_posix_tls_transport(&s->tls, &s->tp);
    return CLI_OK;
}

/* The number of links of a chain: its array holds the version, key 0 and the links. */
static int chain_links(const uint8_t *chain, size_t len)
{
    struct corio_cbor_dec d;
    uint64_t n;
    corio_cbor_dec_init(&d, chain, len);
    if (corio_cbor_expect_array(&d, &n) != CORIO_OK || n < 2 || n > 2 + CORIO_ROTATION_MAX_LINKS)
        return -1;
    return (int)(n - 2);
}

/* A rotated device's current key and chain: <id>.chain and <id>.key<n>.pem. */
static int load_rotation(struct simdev *s, const char *dir, const struct sim_org *org)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.chain", dir, s->id);
    uint8_t *buf;
    size_t len;
    struct stat sb;
    if (stat(path, &sb) != 0)
        return CLI_OK; /* never rotated: key 0 */
    int rc = cli_read_file(path, sizeof s->chain[0], &buf, &len);
    if (rc != CLI_OK)
        return rc;
    int links = chain_links(buf, len);
    if (links < 1) {
        free(buf);
        cli_error("%s: not a rotation chain", path);
        return CLI_INPUT;
    }
    memcpy(s->chain[0], buf, len);
    s->chain_len[0] = len;
    free(buf);
    snprintf(path, sizeof path, "%s/%s.key%d.pem", dir, s->id, links);
    corio_key_close(&s->keys[0]);
    rc = cli_load_key(path, &s->keys[0]);
    if (rc != CLI_OK)
        return rc;
    s->key_no = (uint32_t)links;
    if (org->loaded) {
        /* The chain must lead, under the organisation, to the key in the file. */
        uint8_t pub[CORIO_P256_PUB_LEN];
        struct corio_did subject;
        struct corio_rotation_signer signer = {.did = org->did, .pub = pub, .pub_len = sizeof pub};
        struct corio_rotation_trust t = {.signers = &signer, .count = 1, .threshold = 1};
        struct corio_rotation_result r;
        uint8_t mine[CORIO_P256_PUB_LEN];
        memcpy(t.org, org->did.id, sizeof t.org);
        if (corio_key_public(&org->key, pub) != CORIO_OK ||
            corio_did_id_parse(s->id, CORIO_SHORT_ID_LEN, subject.id) != CORIO_OK ||
            corio_key_public(&s->keys[0], mine) != CORIO_OK)
            return CLI_FAIL;
        subject.has_key = false;
        const char *why = NULL;
        if (corio_rotation_chain_verify(&corio_crypto_openssl_ops, &subject, s->chain[0],
                                        s->chain_len[0], &t, &r, &why) != CORIO_OK ||
            r.key_number != s->key_no || memcmp(r.pub, mine, sizeof mine) != 0) {
            cli_error("%s/%s.chain: does not lead to key %u in %s (%s)", dir, s->id, s->key_no,
                      path, why ? why : "another key");
            return CLI_INPUT;
        }
    }
    return CLI_OK;
}

/* Writes data to path through a temporary file, synced, then renamed over it. */
static int replace_file(const char *path, const uint8_t *data, size_t len)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return -1;
    FILE *f = fopen(tmp, "we");
    if (!f)
        return -1;
    bool ok = fwrite(data, 1, len, f) == len && fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* Rotates s to key k+1 (see the top). Returns a cli_exit code; a chain that would not fit
 * is not an error: the rotation is skipped. */
static int rotate(struct simdev *s, const char *dir, const struct sim_org *org)
{
    /* Only an admitted device rotates: in quarantine (not registered yet) a gateway takes
     * key 0 only, and the ledger registers a device by its key 0. */
    struct corio_device_stats ds;
    if (corio_device_stats(&s->dev, &ds) != CORIO_OK || !ds.connected || ds.quarantined)
        return CLI_OK;
    int next = 1 - s->cur;
    uint32_t k = s->key_no;
    uint8_t pub[CORIO_P256_PUB_LEN], link[1024], endorsed[1024];
    struct corio_rotation_statement st;
    memset(&st, 0, sizeof st);
    st.key_number = k + 1;
    memcpy(st.org, org->did.id, sizeof st.org);
    /* The chain so far: key 0 alone has none on file yet. */
    const uint8_t *chain = s->chain[s->cur];
    size_t chain_len = s->chain_len[s->cur];
    uint8_t start[64];
    if (k == 0) {
        int n = corio_key_public(&s->keys[s->cur], pub) == CORIO_OK
                    ? corio_rotation_chain_start(pub, sizeof pub, start, sizeof start)
                    : CORIO_ERR_CRYPTO;
        if (n < 0)
            return CLI_FAIL;
        chain = start;
        chain_len = (size_t)n;
    }
    if (CORIO_EAT_AUTH_SIZE(CORIO_DEVICE_EAT_MAX, chain_len + CORIO_ROTATION_LINK_MAX(1)) >
        CORIO_DEVICE_AUTH_MAX) {
        s->rotations_skipped++;
        return CLI_OK;
    }
    corio_key_close(&s->keys[next]);
    if (corio_key_generate(&corio_crypto_openssl_ops, 0, CORIO_KEY_EXPORTABLE, &s->keys[next]) !=
            CORIO_OK ||
        corio_key_public(&s->keys[next], pub) != CORIO_OK ||
        corio_p256_compress(pub, st.new_key) != CORIO_OK ||
        corio_did_id_parse(s->id, CORIO_SHORT_ID_LEN, st.subject) != CORIO_OK) {
        cli_error("device %s: cannot make its next key", s->id);
        return CLI_FAIL;
    }
    int n = corio_rotation_link_make(&s->keys[s->cur], &st, link, sizeof link);
    if (n > 0)
        n = corio_rotation_link_endorse(&org->key, &org->did, link, (size_t)n, endorsed,
                                        sizeof endorsed);
    if (n > 0)
        n = corio_rotation_chain_append(chain, chain_len, endorsed, (size_t)n, s->chain[next],
                                        sizeof s->chain[next]);
    if (n < 0) {
        cli_error("device %s: cannot make its rotation link: %s", s->id, corio_strerror(n));
        return CLI_FAIL;
    }
    s->chain_len[next] = (size_t)n;
    /* The key first, then the chain, which commits the rotation. */
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.key%u.pem", dir, s->id, k + 1);
    unlink(path); /* left by a rotation that never committed */
    if (corio_openssl_key_write_pem(&s->keys[next], path) != CORIO_OK) {
        cli_error("%s: cannot write the key", path);
        return CLI_FAIL;
    }
    snprintf(path, sizeof path, "%s/%s.chain", dir, s->id);
    if (replace_file(path, s->chain[next], s->chain_len[next]) != 0) {
        cli_error("%s: cannot write the chain: %s", path, strerror(errno));
        return CLI_FAIL;
    }
    if (corio_device_set_key(&s->dev, &s->keys[next], k + 1, s->chain[next], s->chain_len[next]) !=
        CORIO_OK) {
        cli_error("device %s: the device refused its new key", s->id);
        return CLI_FAIL;
    }
    s->cur = next;
    s->key_no = k + 1;
    s->cfg.key = &s->keys[next];
    s->cfg.key_number = k + 1;
    s->cfg.chain = s->chain[next];
    s->cfg.chain_len = s->chain_len[next];
    s->rotations++;
    return CLI_OK;
}

static int setup(struct simdev *s, int index, const char *dir, const char *id,
                 const struct sim_opts *o, const struct sockaddr_storage *addr, socklen_t addr_len,
                 const struct corio_clock *clk, const struct corio_random *rnd,
                 const struct sim_org *org)
{
    char path[4096];
    s->index = index;
    s->pf.fd = -1;
    memcpy(s->id, id, CORIO_SHORT_ID_LEN);
    snprintf(path, sizeof path, "%s/%s.pem", dir, id);
    snprintf(s->key_path, sizeof s->key_path, "%s", path);
    int rc = cli_load_key(path, &s->keys[0]);
    if (rc != CLI_OK)
        return rc;
    uint8_t pub[CORIO_P256_PUB_LEN];
    struct corio_did did;
    char derived[CORIO_SHORT_ID_LEN + 1];
    if (corio_key_public(&s->keys[0], pub) != CORIO_OK ||
        corio_did_from_key(&corio_crypto_openssl_ops, pub, sizeof pub, &did) != CORIO_OK ||
        corio_did_id_format(did.id, derived, sizeof derived) < 0 || strcmp(derived, id) != 0) {
        cli_error("%s: the key is not the one of device %s", path, id);
        return CLI_INPUT;
    }
    if ((rc = load_rotation(s, dir, org)) != CLI_OK)
        return rc;
    if (sim_prov_secret(dir, id, s->secret, sizeof s->secret) != CORIO_OK)
        s->secret[0] = '\0'; /* provisioned before claim secrets: answers no claim */
    snprintf(path, sizeof path, "%s/%s.flash", dir, id);
    struct stat sb;
    if (stat(path, &sb) != 0) {
        cli_error("%s: missing (provision the devices with corio sim provision)", path);
        return CLI_INPUT;
    }
    rc = corio_posix_flash_open(&s->pf, path, SIM_SECTOR_SIZE, SIM_SECTORS, SIM_PROG_SIZE, 0);
    if (rc != CORIO_OK) {
        cli_error("%s: cannot open the flash file: %s", path, corio_strerror(rc));
        return rc == CORIO_ERR_INVAL ? CLI_INPUT : CLI_FAIL;
    }
    corio_posix_flash_port(&s->pf, &s->flash);
    sim_tcp_init(&s->tcp, addr, addr_len);
    sim_tcp_transport(&s->tcp, &s->tp);
    if (o->tls && (rc = setup_tls(s, dir, o)) != CLI_OK)
        return rc;
    sim_model_init(&s->model, o->seed, (uint64_t)index);
    sim_rng_seed(&s->events, o->seed ^ 0x5eed5eedull, (uint64_t)index);
    s->no_time = sim_rng_unit(&s->events) < o->no_time_fraction;

    struct corio_device_config *c = &s->cfg;
    corio_device_config_init(c);
    c->key = &s->keys[0];
    c->key_number = s->key_no;
    c->device_id = s->id;
    c->auth = o->auth_eat ? CORIO_DEVICE_AUTH_EAT : CORIO_DEVICE_AUTH_SINGLE;
    if (s->key_no > 0) {
        c->chain = s->chain[0];
        c->chain_len = s->chain_len[0];
    }
    c->claim_secret = s->secret[0] ? s->secret : NULL;
    c->gateway_id = o->gateway_id;
    c->transport = &s->tp;
    c->clock = clk;
    c->random = rnd;
    c->flash = &s->flash;
    c->tx = s->tx;
    c->tx_len = sizeof s->tx;
    c->rx = s->rx;
    c->rx_len = sizeof s->rx;
    c->pack = s->pack;
    c->pack_len = sizeof s->pack;
    c->msg = s->msg;
    c->msg_len = sizeof s->msg;
    c->format = o->format;
    /* Without a clock it stamps boot count and uptime until dn/time gives it the time. */
    c->no_time = false;
    c->commands = sim_commands;
    c->ncommands = sizeof sim_commands / sizeof sim_commands[0];
    s->period = 1000.0 / o->rate;
    c->heartbeat_ms = (uint32_t)(o->heartbeat * 1000.0);
    c->mqtt_version = o->mqtt_version;
    c->callbacks = &sim_callbacks;
    c->app = s;
    return boot(s);
}

static void sample(struct simdev *s, double dt)
{
    struct sim_sample v;
    sim_model_step(&s->model, dt, &v);
    struct corio_device *d = &s->dev;
    int rc = corio_device_begin(d);
    if (rc == CORIO_OK)
        rc = corio_device_add_number(d, "temp", "Cel", v.temp);
    if (rc == CORIO_OK)
        rc = corio_device_add_number(d, "hum", "%RH", v.hum);
    if (rc == CORIO_OK)
        rc = corio_device_add_number(d, "vib", "m/s2", v.vib);
    if (rc == CORIO_OK)
        rc = corio_device_add_bool(d, "running", NULL, v.running);
    if (rc == CORIO_OK)
        rc = corio_device_commit(d, NULL);
    else
        corio_device_abort(d);
    if (rc == CORIO_OK)
        s->produced++;
    else
        s->commit_errors++;
}

/* ---- figures ---- */

struct totals {
    int connected, quarantined;
    uint64_t produced, acked, pending, drops, boots, netlosses, commit_errors;
    uint64_t rotations, rotations_skipped, claims;
};

static void device_figures(struct simdev *s, struct corio_device_stats *st)
{
    if (corio_device_stats(&s->dev, st) != CORIO_OK)
        memset(st, 0, sizeof *st);
}

static void totals(struct simdev *devs, int n, struct totals *t)
{
    memset(t, 0, sizeof *t);
    for (int i = 0; i < n; i++) {
        struct corio_device_stats st;
        device_figures(&devs[i], &st);
        t->connected += devs[i].up;
        t->produced += devs[i].produced;
        t->acked += devs[i].acked_before + st.acked;
        t->pending += st.pending;
        t->drops += st.drops;
        t->boots += devs[i].boots;
        t->netlosses += devs[i].netlosses;
        t->commit_errors += devs[i].commit_errors;
        t->quarantined += st.quarantined;
        t->rotations += devs[i].rotations;
        t->rotations_skipped += devs[i].rotations_skipped;
        t->claims += devs[i].claims_before + st.claims;
    }
}

static int write_summary(const char *path, struct simdev *devs, int n, const struct totals *t,
                         double seconds)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        cli_error("%s: %s", tmp, strerror(errno));
        return CLI_FAIL;
    }
    fprintf(f, "{\n  \"devices\": [\n");
    for (int i = 0; i < n; i++) {
        struct simdev *s = &devs[i];
        struct corio_device_stats st;
        device_figures(s, &st);
        fprintf(f,
                "    {\"id\": \"%s\", \"epoch\": %" PRIu32 ", \"last_seq\": %" PRIu32
                ", \"produced\": %" PRIu64 ", \"acked\": %" PRIu64 ", \"pending\": %" PRIu32
                ", \"drops\": %" PRIu32 ", \"boots\": %" PRIu32 ", \"connects\": %" PRIu64
                ", \"netlosses\": %" PRIu32 ", \"no_time\": %s, \"has_time\": %s"
                ", \"period_ms\": %.1f, \"blinks\": %" PRIu64 ", \"commands\": %" PRIu32
                ", \"duplicates\": %" PRIu32 ", \"decommissioned\": %s, \"key_no\": %" PRIu32
                ", \"rotations\": %" PRIu32 ", \"quarantined\": %s, \"claims\": %" PRIu32
                ", \"link_errors\": %" PRIu32 ", \"resend_requests\": %" PRIu32
                ", \"replayed\": %" PRIu32 "}%s\n",
                s->id, st.epoch, st.last_seq, s->produced, s->acked_before + st.acked, st.pending,
                st.drops, s->boots, s->connects_before + st.connects, s->netlosses,
                s->no_time ? "true" : "false", st.has_time ? "true" : "false", s->period, s->blinks,
                st.commands, st.duplicates, s->decommissioned ? "true" : "false", s->key_no,
                s->rotations, st.quarantined ? "true" : "false", s->claims_before + st.claims,
                st.link_errors, st.resend_requests, st.replayed,
                i + 1 < n ? "," : "");
    }
    fprintf(f,
            "  ],\n  \"devices_count\": %d, \"sent\": %" PRIu64 ", \"acked\": %" PRIu64
            ", \"pending\": %" PRIu64 ", \"drops\": %" PRIu64 ", \"boots\": %" PRIu64
            ", \"netlosses\": %" PRIu64 ", \"commit_errors\": %" PRIu64 ", \"rotations\": %" PRIu64
            ", \"rotations_skipped\": %" PRIu64 ", \"claims\": %" PRIu64 ", \"seconds\": %.3f\n}\n",
            n, t->produced, t->acked, t->pending, t->drops, t->boots, t->netlosses,
            t->commit_errors, t->rotations, t->rotations_skipped, t->claims, seconds);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        cli_error("%s: cannot write the summary: %s", path, strerror(errno));
        return CLI_FAIL;
    }
    return CLI_OK;
}

/* ---- the loop ---- */

enum phase { SAMPLING, DRAINING, STOPPING, DONE };

/* Each device holds its flash file and a socket open. */
static void raise_fd_limit(int devices)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = (rlim_t)devices * 2 + 64;
    if (rl.rlim_cur >= want)
        return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want)
        fprintf(stderr,
                "corio: warning: %d devices need about %llu open files, the limit is %llu; "
                "connections beyond it will fail and be retried\n",
                devices, (unsigned long long)want, (unsigned long long)rl.rlim_cur);
}

int sim_run(const struct sim_opts *o)
{
    char **ids = NULL;
    int count = 0;
    int rc = list_devices(o->dir, &ids, &count);
    if (rc != CLI_OK)
        return rc;
    int n = o->devices > 0 && o->devices < count ? o->devices : count;
    struct simdev *devs = NULL;
    struct sim_org org;
    memset(&org, 0, sizeof org);
    struct pollfd *pfd = NULL;
    int *pfd_dev = NULL;
    if (count == 0) {
        cli_error("%s: no devices (make them with corio sim provision)", o->dir);
        rc = CLI_INPUT;
        goto out;
    }
    if (o->devices > count) {
        cli_error("%s: %d devices asked for, %d provisioned", o->dir, o->devices, count);
        rc = CLI_INPUT;
        goto out;
    }
    raise_fd_limit(n);
    struct sockaddr_storage addr;
    socklen_t addr_len;
    if (sim_resolve(o->host, o->port, &addr, &addr_len) != CORIO_OK) {
        cli_error("--gateway: cannot resolve '%s'", o->host);
        rc = CLI_INPUT;
        goto out;
    }
    devs = calloc((size_t)n, sizeof *devs);
    pfd = calloc((size_t)n, sizeof *pfd);
    pfd_dev = calloc((size_t)n, sizeof *pfd_dev);
    if (!devs || !pfd || !pfd_dev) {
        cli_error("out of memory for %d devices", n);
        rc = CLI_FAIL;
        goto out;
    }
    for (int i = 0; i < n; i++)
        devs[i].pf.fd = -1;
    if (o->org_key) {
        uint8_t pub[CORIO_P256_PUB_LEN];
        if ((rc = cli_load_key(o->org_key, &org.key)) != CLI_OK)
            goto out;
        org.loaded = true;
        if (corio_key_public(&org.key, pub) != CORIO_OK ||
            corio_did_from_key(&corio_crypto_openssl_ops, pub, sizeof pub, &org.did) != CORIO_OK) {
            rc = CLI_FAIL;
            goto out;
        }
        org.did.has_key = true;
        org.did.key = o->org_key_number;
    }
    struct corio_clock clk;
    struct corio_random rnd = {NULL, random_fill};
    corio_posix_clock(&clk);
    for (int i = 0; i < n; i++) {
        rc = setup(&devs[i], i, o->dir, ids[i], o, &addr, addr_len, &clk, &rnd, &org);
        if (rc != CLI_OK)
            goto out;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int64_t t0 = mono_ms();
    for (int i = 0; i < n; i++) {
        struct simdev *s = &devs[i];
        s->next_sample = (double)t0 + s->period * i / n;
        s->next_reboot = o->reboot_every > 0 ? next_event(s, (double)t0, o->reboot_every) : 0;
        s->next_netloss = o->netloss_every > 0 ? next_event(s, (double)t0, o->netloss_every) : 0;
        s->next_rotate = o->rotate_every > 0 ? next_event(s, (double)t0, o->rotate_every) : 0;
    }
    enum phase phase = SAMPLING;
    int64_t phase_deadline = 0, next_check = 0,
            next_status = t0 + (int64_t)(o->status_every * 1000);
    sig_atomic_t seen_signals = 0;

    while (phase != DONE) {
        int64_t now = mono_ms();
        double dnow = (double)now;

        /* Phases. */
        if (phase == SAMPLING) {
            bool done = signals > 0;
            if (o->duration > 0 && now - t0 >= (int64_t)(o->duration * 1000))
                done = true;
            if (o->count > 0) {
                bool all = true;
                for (int i = 0; i < n && all; i++)
                    all = devs[i].produced >= o->count;
                done = done || all;
            }
            if (done) {
                phase = DRAINING;
                seen_signals = signals;
                phase_deadline = now + (int64_t)(o->drain_timeout * 1000);
                next_check = now;
            }
        }
        if (phase == DRAINING && now >= next_check) {
            bool all = true;
            for (int i = 0; i < n; i++) {
                struct simdev *s = &devs[i];
                if (s->drained)
                    continue;
                struct corio_device_stats st;
                device_figures(s, &st);
                s->drained = st.pending == 0;
                all = all && s->drained;
            }
            next_check = now + 200;
            if (all || now >= phase_deadline || signals > seen_signals) {
                for (int i = 0; i < n; i++)
                    if (corio_device_stop(&devs[i].dev) != CORIO_OK)
                        devs[i].stopped = true;
                phase = STOPPING;
                phase_deadline = now + 3000;
            }
        }
        if (phase == STOPPING) {
            bool all = true;
            for (int i = 0; i < n && all; i++)
                all = devs[i].stopped;
            if (all || now >= phase_deadline)
                phase = DONE;
        }

        /* What the devices do of their own accord. */
        double wake = dnow + 1000.0;
        if (phase == SAMPLING) {
            for (int i = 0; i < n; i++) {
                struct simdev *s = &devs[i];
                if (s->next_reboot > 0 && dnow >= s->next_reboot) {
                    if ((rc = reboot(s)) != CLI_OK)
                        goto out;
                    s->next_reboot = next_event(s, dnow, o->reboot_every);
                }
                if (s->next_rotate > 0 && dnow >= s->next_rotate) {
                    if ((rc = rotate(s, o->dir, &org)) != CLI_OK)
                        goto out;
                    s->next_rotate = next_event(s, dnow, o->rotate_every);
                    s->next_due = 0;
                }
                if (s->next_netloss > 0 && dnow >= s->next_netloss) {
                    if (s->up) {
                        sim_tcp_cut(&s->tcp);
                        s->netlosses++;
                    }
                    s->next_netloss = next_event(s, dnow, o->netloss_every);
                }
                if ((o->count == 0 || s->produced < o->count) && !s->decommissioned) {
                    if (dnow >= s->next_sample) {
                        sample(s, s->period / 1000.0);
                        s->next_sample += s->period;
                        if (s->next_sample < dnow - 10 * s->period)
                            s->next_sample = dnow; /* fell behind: skip, do not burst */
                        s->next_due = 0;
                    }
                    if (s->next_sample < wake)
                        wake = s->next_sample;
                }
                if (s->next_reboot > 0 && s->next_reboot < wake)
                    wake = s->next_reboot;
                if (s->next_netloss > 0 && s->next_netloss < wake)
                    wake = s->next_netloss;
                if (s->next_rotate > 0 && s->next_rotate < wake)
                    wake = s->next_rotate;
            }
        }

        /* Wait for the sockets or the first timer. */
        int np = 0;
        for (int i = 0; i < n; i++) {
            struct simdev *s = &devs[i];
            if ((double)s->next_due < wake)
                wake = (double)s->next_due;
            if (s->tcp.fd < 0)
                continue;
            pfd[np].fd = s->tcp.fd;
            pfd[np].events = POLLIN;
            if (s->tcp.connecting || corio_device_want_write(&s->dev))
                pfd[np].events |= POLLOUT;
            pfd[np].revents = 0;
            pfd_dev[np++] = i;
        }
        if (phase == DRAINING && (double)next_check < wake)
            wake = (double)next_check;
        int timeout = wake <= dnow ? 0 : (int)(wake - dnow) + 1;
        if (phase == DONE)
            timeout = 0;
        if (poll(pfd, (nfds_t)np, timeout) < 0 && errno != EINTR) {
            cli_error("poll: %s", strerror(errno));
            rc = CLI_FAIL;
            goto out;
        }

        /* Process what is ready or due. */
        now = mono_ms();
        for (int k = 0; k < np; k++)
            if (pfd[k].revents)
                devs[pfd_dev[k]].next_due = 0;
        for (int i = 0; i < n; i++) {
            struct simdev *s = &devs[i];
            if (now < s->next_due)
                continue;
            corio_device_process(&s->dev);
            uint32_t w = corio_device_poll_ms(&s->dev);
            s->next_due = now + (w > 1000 ? 1000 : (int64_t)w);
        }

        if (o->status_every > 0 && now >= next_status) {
            struct totals t;
            totals(devs, n, &t);
            fprintf(stderr,
                    "sim t=%.0fs connected=%d/%d quarantined=%d sent=%" PRIu64 " acked=%" PRIu64
                    " pending=%" PRIu64 " boots=%" PRIu64 " netlosses=%" PRIu64
                    " rotations=%" PRIu64 " claims=%" PRIu64 "\n",
                    (double)(now - t0) / 1000.0, t.connected, n, t.quarantined, t.produced, t.acked,
                    t.pending, t.boots, t.netlosses, t.rotations, t.claims);
            next_status = now + (int64_t)(o->status_every * 1000);
        }
    }

    struct totals t;
    totals(devs, n, &t);
    double seconds = (double)(mono_ms() - t0) / 1000.0;
    if (o->summary && (rc = write_summary(o->summary, devs, n, &t, seconds)) != CLI_OK)
        goto out;
    printf("sim devices=%d sent=%" PRIu64 " acked=%" PRIu64 " pending=%" PRIu64 " drops=%" PRIu64
           "\n",
           n, t.produced, t.acked, t.pending, t.drops);
    fflush(stdout);
    rc = t.pending == 0 ? CLI_OK : CLI_REFUSED;

out:
    if (devs) {
        for (int i = 0; i < n; i++) {
            if (devs[i].tp.close)
                devs[i].tp.close(devs[i].tp.ctx);
            if (devs[i].tls_on)
                corio_posix_tls_free(&devs[i].tls);
            corio_posix_flash_close(&devs[i].pf);
            corio_key_close(&devs[i].keys[0]);
            corio_key_close(&devs[i].keys[1]);
        }
    }
    if (org.loaded)
        corio_key_close(&org.key);
    free(devs);
    free(pfd);
    free(pfd_dev);
    for (int i = 0; i < count; i++)
        free(ids[i]);
    free(ids);
    return rc;
}
