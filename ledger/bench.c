/*
 * bench.c - corio-ledger-bench: signed transactions per second through the ledger, on
 * one node and on three nodes over mutual TLS, all in this process (the engine library,
 * no HTTP), in the form of DESIGN.md §8:
 *
 *   bench ledger_tx_1node <tx/s> tx/s          the contracts, device claims
 *   bench ledger_tx_3nodes <tx/s> tx/s
 *   limit ecdsa_verify <verify/s> verify/s ratio <ledger_tx_1node / ecdsa_verify>
 *   bench ledger_null_tx_1node <tx/s> tx/s     the engine alone (the null application)
 *   bench ledger_null_tx_3nodes <tx/s> tx/s
 *   limit sqlite_insert <rows/s> rows/s ratio <ledger_null_tx_1node / sqlite_insert>
 *
 * The contracts' transactions are device claims (device.register): each carries the
 * organisation's ES256 signature and the device's EAT, so it costs two ECDSA P-256
 * verifications in check (on the submitting threads of the node it is submitted to) and
 * two more in apply on every node, serially on each node's loop thread. The limit is
 * the raw OpenSSL verify rate of one thread on this machine, measured in the same run:
 * a node that verifies every signature it applies cannot apply faster than half of it.
 * With three nodes in one process, all three verify on the same cores.
 *
 * The null application's figures are the engine's ceiling; their limit is the raw rate
 * of single-row SQLite inserts committed in batches of the blocks' size, on the same disk.
 *
 * Usage: corio-ledger-bench [claims (default 4000)] [directory (default $TMPDIR)]
 * Transactions are made before the clock starts, submitted without waiting by two
 * threads (as HTTP handlers would), and the clock stops when the last one is applied
 * on every node. docs/ledger.md, "Benchmark".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sqlite3.h>

#include "contracts.h"
#include "corio/cbor.h"
#include "corio/did.h"
#include "corio/eat.h"
#include "corio/error.h"
#include "corio_log.h"
#include "corio_sqlite.h"
#include "crypto_openssl.h"
#include "ledger_app.h"
#include "ledger_engine.h"
#include "ledger_tls_transport.h"
#include "tx.h"

#define OPS        (&corio_crypto_openssl_ops)
#define NODES      3
#define SUBMITTERS 2

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- throw-away certificates (OpenSSL API) --------------------------------------------- */

static int write_pem(const char *path, EVP_PKEY *key, X509 *cert)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int ok =
        key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) : PEM_write_X509(f, cert);
    fclose(f);
    return ok == 1 ? 0 : -1;
}

static void add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext) {
        X509_add_ext(cert, ext, -1);
        X509_EXTENSION_free(ext);
    }
}

static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
                       long serial, int node)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    if (!issuer) {
        add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        char san[128];
        snprintf(san, sizeof san, "IP:127.0.0.1,DNS:localhost,URI:%s%d", CORIO_TLS_NODE_URI, node);
        add_ext(x, issuer, NID_basic_constraints, "CA:FALSE");
        add_ext(x, issuer, NID_ext_key_usage, "serverAuth,clientAuth");
        add_ext(x, issuer, NID_subject_alt_name, san);
    }
    X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256());
    return x;
}

/* An organisation CA and the certificate of its node (id node), files named after tag
 * under dir. */
static int make_org(const char *dir, unsigned tag, int node, char *ca, char *cert, char *key,
                    size_t cap)
{
    EVP_PKEY *cak = EVP_EC_gen("P-256"), *nk = EVP_EC_gen("P-256");
    if (!cak || !nk) {
        EVP_PKEY_free(cak);
        EVP_PKEY_free(nk);
        return -1;
    }
    char cn[32];
    snprintf(cn, sizeof cn, "bench CA %d", node);
    X509 *cac = make_cert(cak, cn, NULL, NULL, 1, 0);
    X509 *nc = make_cert(nk, "bench node", cac, cak, 2, node);
    snprintf(ca, cap, "%s/r%u-org%d-ca.pem", dir, tag, node);
    snprintf(cert, cap, "%s/r%u-org%d-node.pem", dir, tag, node);
    snprintf(key, cap, "%s/r%u-org%d-node.key", dir, tag, node);
    int rc = write_pem(ca, NULL, cac) || write_pem(cert, NULL, nc) || write_pem(key, nk, NULL);
    X509_free(cac);
    X509_free(nc);
    EVP_PKEY_free(cak);
    EVP_PKEY_free(nk);
    return rc;
}

/* ---- identities and transactions ---------------------------------------------------------- */

struct ident {
    struct corio_key key;
    uint8_t pub[CORIO_TX_KEY_LEN];
    struct corio_did did; /* key 0 */
    char short_id[CORIO_DID_ID_CHARS + 1];
};

static int ident_new(struct ident *x)
{
    memset(x, 0, sizeof *x);
    if (corio_key_generate(OPS, 0, 0, &x->key) != CORIO_OK ||
        corio_key_public_compressed(&x->key, x->pub) != CORIO_OK ||
        corio_did_from_key(OPS, x->pub, sizeof x->pub, &x->did) != CORIO_OK ||
        corio_did_id_format(x->did.id, x->short_id, sizeof x->short_id) < 0)
        return -1;
    x->did.has_key = true;
    x->did.key = 0;
    return 0;
}

struct tx {
    uint8_t *buf;
    size_t len;
};

/* Signs a body of type with args by signers[0..n). */
static int make_tx(const uint8_t *ledger, unsigned type, const uint8_t *args, size_t alen,
                   struct ident *const *signers, size_t n, struct tx *out)
{
    struct corio_tx_body b = {.type = type, .args = args, .args_len = alen, .expires = 5000};
    b.has_ledger = ledger != NULL;
    if (ledger)
        memcpy(b.ledger, ledger, sizeof b.ledger);
    uint8_t body[CORIO_TX_MAX], tmp[CORIO_TX_MAX];
    int bl = corio_random(OPS, b.nonce, sizeof b.nonce) == CORIO_OK
                 ? corio_tx_body_encode(&b, body, sizeof body)
                 : -1;
    int len = bl > 0 ? corio_tx_sign(&signers[0]->key, &signers[0]->did, body, (size_t)bl, tmp,
                                     sizeof tmp)
                     : -1;
    for (size_t i = 1; len > 0 && i < n; i++) {
        uint8_t next[CORIO_TX_MAX];
        len = corio_tx_add_signature(&signers[i]->key, &signers[i]->did, tmp, (size_t)len, next,
                                     sizeof next);
        if (len > 0)
            memcpy(tmp, next, (size_t)len);
    }
    if (len <= 0 || !(out->buf = malloc((size_t)len)))
        return -1;
    memcpy(out->buf, tmp, (size_t)len);
    out->len = (size_t)len;
    return 0;
}

/* The genesis of n organisations, node i + 1 for organisation i. */
static int make_genesis(struct ident *orgs, int n, const struct corio_ledger_member *members,
                        struct tx *out)
{
    uint8_t arr[8192];
    struct corio_cbor_enc e;
    corio_cbor_enc_init(&e, arr, sizeof arr);
    corio_cbor_put_array(&e, (size_t)n);
    for (int i = 0; i < n; i++) {
        struct corio_tx_org m = {.has_key = true,
                                 .has_name = true,
                                 .has_node = true,
                                 .has_address = true,
                                 .has_api = members[i].api[0] != 0,
                                 .has_approver = true,
                                 .approver = true,
                                 .name = orgs[i].short_id,
                                 .name_len = strlen(orgs[i].short_id),
                                 .node = members[i].id,
                                 .address = members[i].address,
                                 .address_len = strlen(members[i].address),
                                 .api = members[i].api,
                                 .api_len = strlen(members[i].api)};
        memcpy(m.key, orgs[i].pub, sizeof m.key);
        uint8_t one[1024];
        int ol = corio_tx_org_encode(&m, one, sizeof one);
        if (ol < 0)
            return -1;
        corio_cbor_put_raw(&e, one, (size_t)ol);
    }
    int al = corio_cbor_enc_finish(&e);
    struct corio_tx_genesis g = {
        .orgs = arr, .orgs_len = al > 0 ? (size_t)al : 0, .name = "bench", .name_len = 5};
    uint8_t args[8192];
    int gl = al > 0 ? corio_tx_genesis_encode(&g, args, sizeof args) : -1;
    struct ident *signers[NODES];
    for (int i = 0; i < n; i++)
        signers[i] = &orgs[i];
    return gl > 0 ? make_tx(NULL, CORIO_TX_GENESIS, args, (size_t)gl, signers, (size_t)n, out) : -1;
}

/* A device claim by org: a new device key and its EAT (aud = the organisation). */
static int make_claim(const uint8_t ledger[32], struct ident *org, struct tx *out)
{
    struct ident dev;
    if (ident_new(&dev) != 0)
        return -1;
    uint8_t nonce[32], eat[1024], args[2048];
    int rc = corio_random(OPS, nonce, sizeof nonce) == CORIO_OK ? 0 : -1;
    struct corio_eat_claims c = {.issuer = dev.did,
                                 .aud = org->short_id,
                                 .aud_len = strlen(org->short_id),
                                 .nonce = nonce,
                                 .nonce_len = sizeof nonce,
                                 .assurance = 1};
    c.issuer.has_key = false;
    int el = rc == 0 ? corio_eat_make(&dev.key, &c, eat, sizeof eat) : -1;
    struct corio_tx_device_register r = {.kind = CORIO_DEVICE_KIND_DEVICE,
                                         .auth = CORIO_DEVICE_AUTH_EAT,
                                         .assurance = 1,
                                         .class_ = "sensor",
                                         .class_len = 6,
                                         .model = "th-1",
                                         .model_len = 4,
                                         .hw = "rev-b",
                                         .hw_len = 5,
                                         .eat = eat,
                                         .eat_len = el > 0 ? (size_t)el : 0};
    memcpy(r.org, org->did.id, CORIO_DID_ID_LEN);
    memcpy(r.key, dev.pub, CORIO_TX_KEY_LEN);
    corio_key_close(&dev.key);
    int al = el > 0 ? corio_tx_device_register_encode(&r, args, sizeof args) : -1;
    struct ident *signers[1] = {org};
    return al > 0 ? make_tx(ledger, CORIO_TX_DEVICE_REGISTER, args, (size_t)al, signers, 1, out)
                  : -1;
}

/* A null application transaction: ["put", key, value]. */
static int make_put(unsigned i, struct tx *out)
{
    char key[32], value[32];
    snprintf(key, sizeof key, "k%u", i);
    snprintf(value, sizeof value, "value-%u", i);
    uint8_t buf[128];
    struct corio_cbor_enc e;
    corio_cbor_enc_init(&e, buf, sizeof buf);
    corio_cbor_put_array(&e, 3);
    corio_cbor_put_textz(&e, "put");
    corio_cbor_put_textz(&e, key);
    corio_cbor_put_bytes(&e, value, strlen(value));
    int n = corio_cbor_enc_finish(&e);
    if (n <= 0 || !(out->buf = malloc((size_t)n)))
        return -1;
    memcpy(out->buf, buf, (size_t)n);
    out->len = (size_t)n;
    return 0;
}

/* ---- the ledger run ------------------------------------------------------------------------- */

/* A port nothing listens on now: the kernel's choice for port 0. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

struct run {
    int n;
    struct corio_ledger *node[NODES];
    struct corio_ledger_member members[NODES];
    char ca[NODES][512], cert[NODES][512], key[NODES][512], dir[NODES][512];
    const char *cas[NODES];
    struct corio_ledger_app *apps[NODES];
};

static void run_stop(struct run *r)
{
    for (int i = 0; i < r->n; i++) {
        corio_ledger_free(r->node[i]);
        corio_contracts_app_free(r->apps[i]);
    }
}

/* Starts n nodes with the contracts or the null application; returns the leader. */
static struct corio_ledger *run_start(struct run *r, const char *base, int n, bool contracts,
                                      size_t queue)
{
    memset(r, 0, sizeof *r);
    r->n = n;
    static unsigned round = 0;
    round++;
    for (int i = 0; i < n; i++) {
        r->members[i].id = (uint64_t)i + 1;
        snprintf(r->members[i].address, sizeof r->members[i].address, "127.0.0.1:%d", free_port());
        snprintf(r->dir[i], sizeof r->dir[i], "%s/r%u-n%d", base, round, i + 1);
        if (n > 1 && make_org(base, round, i + 1, r->ca[i], r->cert[i], r->key[i], 512) != 0) {
            fprintf(stderr, "corio-ledger-bench: cannot make certificates\n");
            return NULL;
        }
        r->cas[i] = r->ca[i];
    }
    for (int i = 0; i < n; i++) {
        const struct corio_ledger_app *app = corio_ledger_null_app();
        if (contracts) {
            r->apps[i] = corio_contracts_app_new(NULL);
            if (!r->apps[i])
                return NULL;
            app = r->apps[i];
        }
        struct corio_ledger_opts o = {
            .node_id = (uint64_t)i + 1,
            .raft_address = r->members[i].address,
            .data_dir = r->dir[i],
            .members = n > 1 ? r->members : NULL,
            .nmembers = n > 1 ? (size_t)n : 0,
            .tls_cert = n > 1 ? r->cert[i] : NULL,
            .tls_key = n > 1 ? r->key[i] : NULL,
            .tls_ca = n > 1 ? r->cas : NULL,
            .ntls_ca = n > 1 ? (size_t)n : 0,
            .tls_verify_names = true,
            .tls_verify_ids = true,
            .snapshot_threshold = 4096,
            .snapshot_trailing = 1024,
            .queue_max = queue + 16,
            .no_http = true,
            .audit_interval_ms = 60000,
            .app = app,
        };
        char err[512] = "";
        if (corio_ledger_new(&o, &r->node[i], err, sizeof err) != CORIO_OK ||
            corio_ledger_start(r->node[i], err, sizeof err) != CORIO_OK) {
            fprintf(stderr, "corio-ledger-bench: node %d: %s\n", i + 1, err);
            return NULL;
        }
    }
    double deadline = now_s() + 30;
    while (now_s() < deadline) {
        for (int i = 0; i < n; i++) {
            struct corio_ledger_status st;
            corio_ledger_status(r->node[i], &st);
            if (st.role == CORIO_CONS_LEADER)
                return r->node[i];
        }
        usleep(10000);
    }
    fprintf(stderr, "corio-ledger-bench: no leader\n");
    return NULL;
}

/* Waits until every node's tree has size leaves. Returns 0, or -1 after 600 s. */
static int wait_applied(struct run *r, uint64_t size)
{
    double t0 = now_s();
    for (;;) {
        bool done = true;
        for (int i = 0; i < r->n; i++) {
            struct corio_ledger_status st;
            corio_ledger_status(r->node[i], &st);
            done = done && st.head.tree_size >= size;
            if (st.halted) {
                fprintf(stderr, "corio-ledger-bench: node %d halted: %s\n", i + 1, st.halt_reason);
                return -1;
            }
        }
        if (done)
            return 0;
        if (now_s() - t0 > 600) {
            fprintf(stderr, "corio-ledger-bench: not all applied within 600 s\n");
            return -1;
        }
        usleep(2000);
    }
}

struct submitter {
    struct corio_ledger *leader;
    struct tx *txs;
    size_t from, to;
    int failed;
};

static void *submit_main(void *arg)
{
    struct submitter *s = arg;
    for (size_t i = s->from; i < s->to && !s->failed; i++) {
        struct corio_ledger_submit out;
        int rc = corio_ledger_submit(s->leader, s->txs[i].buf, s->txs[i].len, false, &out);
        if (rc != CORIO_ERR_AGAIN) {
            fprintf(stderr, "corio-ledger-bench: submission %zu: %s %s\n", i, corio_strerror(rc),
                    out.reason);
            s->failed = 1;
        }
    }
    return NULL;
}

/* Submits txs[0..n) from SUBMITTERS threads and waits until every node applied them
 * (base leaves were there before). Returns transactions per second, or -1. */
static double push(struct run *r, struct corio_ledger *leader, struct tx *txs, size_t n,
                   uint64_t base)
{
    struct submitter s[SUBMITTERS];
    pthread_t t[SUBMITTERS];
    double t0 = now_s();
    for (int i = 0; i < SUBMITTERS; i++) {
        s[i] = (struct submitter){.leader = leader,
                                  .txs = txs,
                                  .from = n * (size_t)i / SUBMITTERS,
                                  .to = n * (size_t)(i + 1) / SUBMITTERS};
        if (pthread_create(&t[i], NULL, submit_main, &s[i]) != 0)
            return -1;
    }
    int failed = 0;
    for (int i = 0; i < SUBMITTERS; i++) {
        pthread_join(t[i], NULL);
        failed |= s[i].failed;
    }
    if (failed || wait_applied(r, base + n) != 0)
        return -1;
    return (double)n / (now_s() - t0);
}

static void free_txs(struct tx *txs, size_t n)
{
    for (size_t i = 0; txs && i < n; i++)
        free(txs[i].buf);
    free(txs);
}

/* The contracts on n nodes: genesis, then claims by the organisations in turn. */
static double run_contracts(const char *base, int n, unsigned claims)
{
    struct run r;
    struct corio_ledger *leader = run_start(&r, base, n, true, claims);
    struct ident orgs[NODES];
    int norgs = 0;
    struct tx *txs = calloc(claims, sizeof *txs);
    struct tx genesis = {0};
    double result = -1;
    if (!leader || !txs)
        goto out;
    for (; norgs < n; norgs++)
        if (ident_new(&orgs[norgs]) != 0)
            goto out;
    struct corio_ledger_submit s;
    if (make_genesis(orgs, n, r.members, &genesis) != 0 ||
        corio_ledger_submit(leader, genesis.buf, genesis.len, true, &s) != CORIO_OK ||
        s.status != CORIO_TX_ACCEPTED) {
        fprintf(stderr, "corio-ledger-bench: the genesis was not accepted: %s\n", s.reason);
        goto out;
    }
    if (wait_applied(&r, 1) != 0)
        goto out;
    for (unsigned i = 0; i < claims; i++)
        if (make_claim(s.id, &orgs[i % (unsigned)n], &txs[i]) != 0)
            goto out;
    result = push(&r, leader, txs, claims, 1);
    /* Every claim must have been accepted, or the figure means nothing. */
    struct corio_ledger_status st;
    corio_ledger_status(leader, &st);
    if (result > 0 && st.head.tree_size != (uint64_t)claims + 1)
        result = -1;
out:
    run_stop(&r);
    for (int i = 0; i < norgs; i++)
        corio_key_close(&orgs[i].key);
    free(genesis.buf);
    free_txs(txs, claims);
    return result;
}

static double run_null(const char *base, int n, unsigned count)
{
    struct run r;
    struct corio_ledger *leader = run_start(&r, base, n, false, count);
    struct tx *txs = calloc(count, sizeof *txs);
    double result = -1;
    if (leader && txs) {
        unsigned i = 0;
        while (i < count && make_put(i, &txs[i]) == 0)
            i++;
        if (i == count)
            result = push(&r, leader, txs, count, 0);
    }
    run_stop(&r);
    free_txs(txs, count);
    return result;
}

/* ---- limits --------------------------------------------------------------------------------- */

/* Raw ECDSA P-256 verifications per second, one thread, OpenSSL, a SHA-256 digest
 * verified against a DER signature (the verify alone, as a node does per signature). */
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

/* Rows inserted per second, committed in batches of 1000. */
static double sqlite_rate(const char *base, unsigned rows)
{
    char path[600];
    snprintf(path, sizeof path, "%s/raw.db", base);
    sqlite3 *db;
    char err[256];
    if (corio_sqlite_open(path, 0, 0, &db, err, sizeof err) != CORIO_OK)
        return -1;
    sqlite3_exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT, v BLOB)", NULL, NULL, NULL);
    sqlite3_stmt *s;
    sqlite3_prepare_v2(db, "INSERT INTO t VALUES(?, ?, ?)", -1, &s, NULL);
    double t0 = now_s();
    for (unsigned i = 0; i < rows; i++) {
        if (i % 1000 == 0)
            sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
        char key[32];
        snprintf(key, sizeof key, "k%u", i);
        sqlite3_bind_int64(s, 1, i);
        sqlite3_bind_text(s, 2, key, -1, SQLITE_TRANSIENT);
        sqlite3_bind_blob(s, 3, key, (int)strlen(key), SQLITE_TRANSIENT);
        sqlite3_step(s);
        sqlite3_reset(s);
        if (i % 1000 == 999 || i + 1 == rows)
            sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    }
    double rate = rows / (now_s() - t0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return rate;
}

static void remove_tree(const char *path)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "corio-ledger-bench: could not remove %s\n", path);
}

int main(int argc, char **argv)
{
    unsigned claims = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 4000;
    const char *tmp = argc > 2 ? argv[2] : getenv("TMPDIR");
    if (!tmp)
        tmp = "/tmp";
    if (claims == 0 || argc > 3) {
        fprintf(stderr, "usage: corio-ledger-bench [claims] [directory]\n");
        return 2;
    }
    char base[512];
    snprintf(base, sizeof base, "%s/corio-ledger-bench-XXXXXX", tmp);
    if (!mkdtemp(base)) {
        fprintf(stderr, "corio-ledger-bench: %s: %s\n", base, strerror(errno));
        return 1;
    }
    corio_log_set_level(CORIO_LOG_WARN);
    /* As in the daemon: a peer that closes is an error on the write, not death. */
    signal(SIGPIPE, SIG_IGN);
    unsigned puts = claims * 5;
    double verify = ecdsa_rate();
    double one = verify > 0 ? run_contracts(base, 1, claims) : -1;
    double three = one > 0 ? run_contracts(base, NODES, claims) : -1;
    double null1 = three > 0 ? run_null(base, 1, puts) : -1;
    double null3 = null1 > 0 ? run_null(base, NODES, puts) : -1;
    double raw = null3 > 0 ? sqlite_rate(base, puts) : -1;
    remove_tree(base);
    if (raw <= 0)
        return 1;
    printf("bench ledger_tx_1node %.0f tx/s\n", one);
    printf("bench ledger_tx_3nodes %.0f tx/s\n", three);
    printf("limit ecdsa_verify %.0f verify/s ratio %.3f\n", verify, one / verify);
    printf("bench ledger_null_tx_1node %.0f tx/s\n", null1);
    printf("bench ledger_null_tx_3nodes %.0f tx/s\n", null3);
    printf("limit sqlite_insert %.0f rows/s ratio %.3f\n", raw, null1 / raw);
    return 0;
}
