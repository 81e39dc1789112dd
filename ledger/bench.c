/*
 * bench.c - corio-ledger-bench: transactions per second through the ledger engine, on
 * one node and on three nodes over mutual TLS, all in this process (the engine
 * library, the null application, no HTTP), in the form of bench/README's convention:
 *
 *   bench ledger_tx_1node <tx/s> tx/s
 *   bench ledger_tx_3nodes <tx/s> tx/s
 *   limit ledger_sqlite_insert <rows/s> rows/s ratio <tx/s of 1 node / rows/s>
 *
 * The limit is the raw rate of single-row SQLite inserts committed in batches of the
 * same size as the ledger's blocks, on the same disk, measured in the same run: a
 * block costs at least that (and more: Merkle nodes, the index, the application).
 *
 * Usage: corio-ledger-bench [transactions (default 20000)] [directory (default $TMPDIR)]
 * Transactions are submitted without waiting (the queue holds them all), and the clock
 * stops when the last one is applied on every node. An application that checks
 * signatures (the contracts) does that work in check, on the submitting threads; this
 * benchmark's null application does none, so its figure is the engine's ceiling.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sqlite3.h>

#include "ledger_app.h"
#include "corio/cbor.h"
#include "corio/error.h"
#include "corio_log.h"
#include "corio_sqlite.h"
#include "ledger_engine.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- throw-away certificates (OpenSSL API) --------------------------------------------- */

static EVP_PKEY *new_key(void)
{
    return EVP_EC_gen("P-256");
}

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
                       long serial)
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
        add_ext(x, issuer, NID_basic_constraints, "CA:FALSE");
        add_ext(x, issuer, NID_ext_key_usage, "serverAuth,clientAuth");
        add_ext(x, issuer, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
    }
    X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256());
    return x;
}

/* An organisation CA and one node certificate under dir/org<i>. */
static int make_org(const char *dir, int i, char *ca, char *cert, char *key, size_t cap)
{
    EVP_PKEY *cak = new_key(), *nk = new_key();
    if (!cak || !nk)
        return -1;
    char cn[32];
    snprintf(cn, sizeof cn, "bench CA %d", i);
    X509 *cac = make_cert(cak, cn, NULL, NULL, 1);
    X509 *nc = make_cert(nk, "bench node", cac, cak, 2);
    snprintf(ca, cap, "%s/org%d-ca.pem", dir, i);
    snprintf(cert, cap, "%s/org%d-node.pem", dir, i);
    snprintf(key, cap, "%s/org%d-node.key", dir, i);
    int rc = write_pem(ca, NULL, cac) || write_pem(cert, NULL, nc) || write_pem(key, nk, NULL);
    X509_free(cac);
    X509_free(nc);
    EVP_PKEY_free(cak);
    EVP_PKEY_free(nk);
    return rc;
}

/* ---- the ledger run ------------------------------------------------------------------------- */

static int free_port(void)
{
    /* Ports from a range unlikely to be in use; bind checks happen in the engine. */
    static int next = 0;
    if (!next)
        next = 20000 + (int)(getpid() % 20000);
    return next++;
}

static size_t make_tx(uint8_t *buf, size_t cap, unsigned i)
{
    char key[32], value[32];
    snprintf(key, sizeof key, "k%u", i);
    snprintf(value, sizeof value, "value-%u", i);
    struct corio_cbor_enc e;
    corio_cbor_enc_init(&e, buf, cap);
    corio_cbor_put_array(&e, 3);
    corio_cbor_put_textz(&e, "put");
    corio_cbor_put_textz(&e, key);
    corio_cbor_put_bytes(&e, value, strlen(value));
    int n = corio_cbor_enc_finish(&e);
    return n > 0 ? (size_t)n : 0;
}

/* Runs n nodes and pushes txs through; returns tx/s or a negative value. */
static double run(const char *base, int n, unsigned txs)
{
    struct corio_ledger *nodes[3] = {0};
    struct corio_ledger_member members[3];
    char ca[3][512], cert[3][512], key[3][512], dir[3][512];
    const char *cas[3];
    int raft_port[3];
    for (int i = 0; i < n; i++) {
        raft_port[i] = free_port();
        members[i].id = (uint64_t)i + 1;
        snprintf(members[i].address, sizeof members[i].address, "127.0.0.1:%d", raft_port[i]);
        members[i].api[0] = 0;
        snprintf(dir[i], sizeof dir[i], "%s/n%d-%d", base, n, i + 1);
        if (n > 1 && make_org(base, i + 1, ca[i], cert[i], key[i], sizeof ca[i]) != 0) {
            fprintf(stderr, "corio-ledger-bench: cannot make certificates\n");
            return -1;
        }
        cas[i] = ca[i];
    }
    double result = -1;
    for (int i = 0; i < n; i++) {
        struct corio_ledger_opts o = {
            .node_id = (uint64_t)i + 1,
            .raft_address = members[i].address,
            .data_dir = dir[i],
            .members = n > 1 ? members : NULL,
            .nmembers = n > 1 ? (size_t)n : 0,
            .tls_cert = n > 1 ? cert[i] : NULL,
            .tls_key = n > 1 ? key[i] : NULL,
            .tls_ca = n > 1 ? cas : NULL,
            .ntls_ca = n > 1 ? (size_t)n : 0,
            .tls_verify_names = true,
            .snapshot_threshold = 4096,
            .snapshot_trailing = 1024,
            .queue_max = txs + 1,
            .no_http = true,
            .audit_interval_ms = 60000,
            .app = corio_ledger_null_app(),
        };
        char err[512] = "";
        if (corio_ledger_new(&o, &nodes[i], err, sizeof err) != CORIO_OK ||
            corio_ledger_start(nodes[i], err, sizeof err) != CORIO_OK) {
            fprintf(stderr, "corio-ledger-bench: node %d: %s\n", i + 1, err);
            goto out;
        }
    }
    /* Wait for a leader. */
    struct corio_ledger *leader = NULL;
    double deadline = now_s() + 30;
    while (!leader && now_s() < deadline) {
        for (int i = 0; i < n && !leader; i++) {
            struct corio_ledger_status st;
            corio_ledger_status(nodes[i], &st);
            if (st.role == CORIO_CONS_LEADER)
                leader = nodes[i];
        }
        if (!leader)
            usleep(10000);
    }
    if (!leader) {
        fprintf(stderr, "corio-ledger-bench: no leader\n");
        goto out;
    }
    uint8_t tx[128];
    double t0 = now_s();
    for (unsigned i = 0; i < txs; i++) {
        size_t len = make_tx(tx, sizeof tx, i);
        struct corio_ledger_submit s;
        int rc = corio_ledger_submit(leader, tx, len, false, &s);
        if (rc != CORIO_ERR_AGAIN) {
            fprintf(stderr, "corio-ledger-bench: submission %u: %s\n", i, corio_strerror(rc));
            goto out;
        }
    }
    for (bool done = false; !done;) {
        done = true;
        for (int i = 0; i < n; i++) {
            struct corio_ledger_status st;
            corio_ledger_status(nodes[i], &st);
            done = done && st.head.tree_size >= txs;
        }
        if (!done) {
            if (now_s() - t0 > 600) {
                fprintf(stderr, "corio-ledger-bench: not all applied within 600 s\n");
                goto out;
            }
            usleep(2000);
        }
    }
    result = txs / (now_s() - t0);
out:
    for (int i = 0; i < n; i++)
        corio_ledger_free(nodes[i]);
    return result;
}

/* The raw SQLite figure: rows inserted per second, committed in batches of 1000. */
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
    unsigned txs = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 20000;
    const char *tmp = argc > 2 ? argv[2] : getenv("TMPDIR");
    if (!tmp)
        tmp = "/tmp";
    if (txs == 0) {
        fprintf(stderr, "usage: corio-ledger-bench [transactions] [directory]\n");
        return 2;
    }
    char base[512];
    snprintf(base, sizeof base, "%s/corio-ledger-bench-XXXXXX", tmp);
    if (!mkdtemp(base)) {
        fprintf(stderr, "corio-ledger-bench: %s: %s\n", base, strerror(errno));
        return 1;
    }
    corio_log_set_level(CORIO_LOG_WARN);
    double one = run(base, 1, txs);
    double three = one > 0 ? run(base, 3, txs) : -1;
    double raw = sqlite_rate(base, txs);
    remove_tree(base);
    if (one <= 0 || three <= 0 || raw <= 0)
        return 1;
    printf("bench ledger_tx_1node %.0f tx/s\n", one);
    printf("bench ledger_tx_3nodes %.0f tx/s\n", three);
    printf("limit ledger_sqlite_insert %.0f rows/s ratio %.3f\n", raw, one / raw);
    return 0;
}
