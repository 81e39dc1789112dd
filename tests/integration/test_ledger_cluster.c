/*
 * test_ledger_cluster.c - corio-ledger processes through the shared harness: a single
 * node's API end to end (blocks, signed tree heads, proofs checked here with the offline
 * verifiers, the event stream, metrics, restart); a three-organisation cluster over
 * mutual TLS whose leader is SIGKILLed under load (no committed transaction lost, no
 * fork, every node converges); a node that fell behind and catches up from a snapshot;
 * a node that forges what it applies, which its peers detect; membership followed from
 * the application, and a node that halts when consensus disagrees with it; empty blocks
 * when idle. The daemon runs the null application here (`app null`); the contracts run in
 * integration.ledger_contracts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../unit/test_ledger_util.h"
#include "ledger_block.h"
#include "corio/cbor.h"
#include "corio/encoding.h"
#include "corio/error.h"
#include "crypto_openssl.h"
#include "harness.h"
#include "ledger_merkle.h"
#include "ledger_sth.h"

#define MAXN 3

struct lnode {
    int id;
    int raft_port, http_port;
    const char *dir;
    const char *conf;
    struct h_proc *p;
};

struct cluster {
    int n;
    struct lnode node[MAXN];
    struct t_org org[MAXN];
    struct t_node_cert cert[MAXN];
};

/* ---- transactions ------------------------------------------------------------------------ */

static size_t put_tx(uint8_t *buf, size_t cap, const char *key, const char *value)
{
    struct corio_cbor_enc e;
    corio_cbor_enc_init(&e, buf, cap);
    corio_cbor_put_array(&e, 3);
    corio_cbor_put_textz(&e, "put");
    corio_cbor_put_textz(&e, key);
    corio_cbor_put_bytes(&e, value, strlen(value));
    int n = corio_cbor_enc_finish(&e);
    assert_true(n > 0);
    return (size_t)n;
}

static size_t refuse_tx(uint8_t *buf, size_t cap, const char *reason)
{
    struct corio_cbor_enc e;
    corio_cbor_enc_init(&e, buf, cap);
    corio_cbor_put_array(&e, 2);
    corio_cbor_put_textz(&e, "refuse");
    corio_cbor_put_textz(&e, reason);
    int n = corio_cbor_enc_finish(&e);
    assert_true(n > 0);
    return (size_t)n;
}

/* ["members", [[id, address, api], ...]] */
static size_t members_tx(uint8_t *buf, size_t cap, const uint64_t *ids, const char *const *addr,
                         const char *const *api, size_t n)
{
    struct corio_cbor_enc e;
    corio_cbor_enc_init(&e, buf, cap);
    corio_cbor_put_array(&e, 2);
    corio_cbor_put_textz(&e, "members");
    corio_cbor_put_array(&e, n);
    for (size_t i = 0; i < n; i++) {
        corio_cbor_put_array(&e, 3);
        corio_cbor_put_uint(&e, ids[i]);
        corio_cbor_put_textz(&e, addr[i]);
        corio_cbor_put_textz(&e, api[i]);
    }
    int len = corio_cbor_enc_finish(&e);
    assert_true(len > 0);
    return (size_t)len;
}

/* ---- HTTP helpers -------------------------------------------------------------------------- */

static const char *url(const struct lnode *n, const char *path)
{
    return h_strf("http://127.0.0.1:%d%s", n->http_port, path);
}

static json_t *get_json(const struct lnode *n, const char *path, long *status)
{
    struct h_http_resp r;
    if (h_http_get(url(n, path), &r) != CORIO_OK) {
        if (status)
            *status = 0;
        return NULL;
    }
    if (status)
        *status = r.status;
    return json_loads(r.body, 0, NULL);
}

/* POST a transaction; the JSON answer (NULL when no answer), status in *status. */
static json_t *post_tx(const struct lnode *n, const uint8_t *tx, size_t len, bool wait,
                       long *status)
{
    struct h_http_resp r;
    const char *path = wait ? "/api/v1/tx" : "/api/v1/tx?wait=false";
    const char *hdr[] = {"Content-Type: application/cbor", NULL};
    struct h_http_req q = {.method = "POST",
                           .url = url(n, path),
                           .headers = hdr,
                           .body = tx,
                           .len = len,
                           .timeout_ms = 15000};
    *status = 0;
    if (h_http(&q, &r) != CORIO_OK)
        return NULL;
    *status = r.status;
    return json_loads(r.body, 0, NULL);
}

static uint64_t jint(json_t *o, const char *key)
{
    return (uint64_t)json_integer_value(json_object_get(o, key));
}

static const char *jstr(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static void unhex(const char *s, uint8_t *out, size_t n)
{
    assert_int_equal(strlen(s), 2 * n);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(s + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
}

static uint8_t *unb64(const char *s, size_t *len)
{
    size_t n = strlen(s);
    uint8_t *buf = malloc(n + 1);
    int m = corio_base64url_decode(s, n, buf, n + 1);
    assert_true(m >= 0);
    *len = (size_t)m;
    return buf;
}

/* ---- starting nodes -------------------------------------------------------------------------- */

static void cluster_init(struct cluster *c, int n, bool tls)
{
    memset(c, 0, sizeof *c);
    c->n = n;
    for (int i = 0; i < n; i++) {
        struct lnode *x = &c->node[i];
        x->id = i + 1;
        x->raft_port = h_free_port();
        x->http_port = h_free_port();
        x->dir = h_strf("%s/n%d", h_dir(), i + 1);
        if (tls) {
            c->org[i] = t_org_new(h_strf("org-%d", i + 1));
            assert_non_null(c->org[i].pki);
            assert_int_equal(
                t_node_cert(&c->org[i], h_strf("node%d", i + 1), (uint64_t)i + 1, &c->cert[i]), 0);
        }
    }
}

/* The config of node i; members are the first nmembers nodes; extra lines appended. */
static const char *node_conf(struct cluster *c, int i, int nmembers, bool tls, const char *extra)
{
    struct lnode *x = &c->node[i];
    /* Heights here count the transactions' blocks only, unless a test asks for empty
     * blocks. */
    bool empty = extra && strstr(extra, "empty_block_interval");
    char *conf =
        h_strf("app null\n%s"
               "node_id %d\nraft_address 127.0.0.1:%d\nlisten 127.0.0.1:%d\n"
               "data_dir %s\nelection_timeout 1s\nheartbeat 100ms\n"
               "audit_interval 300ms\nsnapshot_threshold 64\nsnapshot_trailing 16\n"
               "membership_grace 20s\n",
               empty ? "" : "empty_block_interval 0\n", x->id, x->raft_port, x->http_port, x->dir);
    for (int m = 0; m < nmembers; m++)
        conf = h_strf("%smember %d 127.0.0.1:%d http://127.0.0.1:%d\n", conf, c->node[m].id,
                      c->node[m].raft_port, c->node[m].http_port);
    if (tls) {
        conf = h_strf("%stls_cert %s\ntls_key %s\n", conf, c->cert[i].cert, c->cert[i].key);
        for (int o = 0; o < c->n; o++)
            conf = h_strf("%stls_ca %s\n", conf, c->org[o].pki->ca_cert);
    }
    return h_strf("%s%s", conf, extra ? extra : "");
}

static void node_start(struct cluster *c, int i, const char *conf)
{
    struct lnode *x = &c->node[i];
    x->conf = conf;
    struct h_daemon_opts o = {.config = conf, .ready_url = url(x, "/healthz"), .timeout_ms = 20000};
    x->p = h_daemon_start("corio-ledger", &o);
    assert_non_null(x->p);
}

static json_t *status_of(const struct lnode *x)
{
    return get_json(x, "/api/v1/status", NULL);
}

/* The index of the node that leads, according to the live nodes; -1 if none agree. */
static int find_leader(struct cluster *c)
{
    for (int i = 0; i < c->n; i++) {
        if (!c->node[i].p || !h_proc_alive(c->node[i].p))
            continue;
        json_t *s = status_of(&c->node[i]);
        bool lead = s && !strcmp(jstr(s, "role"), "leader");
        json_decref(s);
        if (lead)
            return i;
    }
    return -1;
}

static int wait_leader(struct cluster *c)
{
    int l = -1;
    bool ok;
    H_POLL(ok, (l = find_leader(c)) >= 0, 20000);
    assert_true(ok);
    return l;
}

/* Submits to whoever leads, following leadership changes; returns the answer of the
 * node that took it (NULL if nobody did before the deadline). */
static json_t *submit(struct cluster *c, const uint8_t *tx, size_t len, long *status)
{
    struct h_poll p;
    h_poll_init(&p, 20000);
    do {
        int l = find_leader(c);
        if (l < 0)
            continue;
        json_t *j = post_tx(&c->node[l], tx, len, true, status);
        if (*status == 200 || *status == 422)
            return j;
        json_decref(j);
    } while (h_poll_next(&p));
    return NULL;
}

struct head {
    uint64_t height, tree_size;
    char root[65], state[65], block[65];
};

static bool read_head(const struct lnode *x, struct head *h)
{
    json_t *s = status_of(x);
    if (!s)
        return false;
    json_t *hd = json_object_get(s, "head");
    h->height = jint(hd, "height");
    h->tree_size = jint(hd, "tree_size");
    snprintf(h->root, sizeof h->root, "%s", jstr(hd, "root"));
    snprintf(h->state, sizeof h->state, "%s", jstr(hd, "state_hash"));
    snprintf(h->block, sizeof h->block, "%s", jstr(hd, "block_hash"));
    json_decref(s);
    return true;
}

/* Whether every running node has the same head, at least min_height. */
static bool converged(struct cluster *c, uint64_t min_height)
{
    struct head first;
    bool have = false;
    for (int i = 0; i < c->n; i++) {
        struct head h;
        if (!c->node[i].p || !read_head(&c->node[i], &h) || h.height < min_height)
            return false;
        if (!have) {
            first = h;
            have = true;
        } else if (h.height != first.height || h.tree_size != first.tree_size ||
                   strcmp(h.root, first.root) || strcmp(h.state, first.state) ||
                   strcmp(h.block, first.block)) {
            return false;
        }
    }
    return have;
}

/* Checks a node's signed tree head: the signature, the key it names, and that it says
 * what the JSON says. Returns the decoded head. */
static struct corio_sth check_tree_head(const struct lnode *x)
{
    long st;
    json_t *j = get_json(x, "/api/v1/tree-head", &st);
    assert_int_equal(st, 200);
    size_t len;
    uint8_t *sth = unb64(jstr(j, "sth"), &len);
    uint8_t key[33], signer[33];
    unhex(jstr(j, "key"), key, 33);
    struct corio_sth s;
    assert_int_equal(corio_sth_verify(&corio_crypto_openssl_ops, sth, len, key, &s, signer),
                     CORIO_OK);
    assert_int_equal(s.tree_size, jint(j, "tree_size"));
    assert_int_equal(s.height, jint(j, "height"));
    assert_int_equal(s.node, (uint64_t)x->id);
    uint8_t root[32];
    unhex(jstr(j, "root"), root, 32);
    assert_memory_equal(s.root, root, 32);
    /* A flipped bit anywhere in the signed bytes breaks it. */
    sth[len / 2] ^= 0x10;
    struct corio_sth t;
    assert_int_not_equal(corio_sth_verify(&corio_crypto_openssl_ops, sth, len, NULL, &t, NULL),
                         CORIO_OK);
    free(sth);
    json_decref(j);
    return s;
}

/* Fetches a transaction by id from a node and verifies its inclusion proof offline. */
static void check_tx_included(const struct lnode *x, const char *id)
{
    long st;
    json_t *j = get_json(x, h_strf("/api/v1/tx/%s", id), &st);
    if (st != 200)
        fail_msg("node %d: GET /api/v1/tx/%s answered %ld", x->id, id, st);
    size_t len;
    uint8_t *tx = unb64(jstr(j, "tx"), &len);
    uint8_t leaf[32], root[32];
    assert_int_equal(corio_merkle_leaf_hash(tx, len, leaf), CORIO_OK);
    free(tx);
    uint8_t lh[32];
    unhex(jstr(j, "leaf_hash"), lh, 32);
    assert_memory_equal(leaf, lh, 32);
    unhex(jstr(j, "root"), root, 32);
    json_t *path = json_object_get(j, "path");
    corio_merkle_hash p[CORIO_MERKLE_MAX_PROOF];
    size_t n = json_array_size(path);
    for (size_t i = 0; i < n; i++)
        unhex(json_string_value(json_array_get(path, i)), p[i], 32);
    assert_int_equal(
        corio_merkle_verify_inclusion(leaf, jint(j, "leaf"), jint(j, "tree_size"), p, n, root),
        CORIO_OK);
    json_decref(j);
}

static uint64_t fork_alarms(const struct lnode *x)
{
    json_t *s = status_of(x);
    uint64_t n = s ? jint(s, "fork_alarms") : 0;
    json_decref(s);
    return n;
}

/* ---- a raw event stream reader ------------------------------------------------------------- */

static int sse_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    const char *req = "GET /api/v1/stream HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n";
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    return fd;
}

static bool sse_wait_for(int fd, const char *needle, int ms)
{
    char buf[8192];
    size_t len = 0;
    int64_t end = h_now_ms() + h_ms(ms);
    while (h_now_ms() < end) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
        if (n <= 0)
            return false;
        len += (size_t)n;
        buf[len] = 0;
        if (strstr(buf, needle))
            return true;
        if (len > sizeof buf / 2) {
            memmove(buf, buf + len / 2, len - len / 2);
            len -= len / 2;
        }
    }
    return false;
}

/* ---- tests ------------------------------------------------------------------------------- */

/* One node, no TLS: the whole API, checked with the offline verifiers. */
static void single_node_api(void **state)
{
    (void)state;
    struct cluster c;
    cluster_init(&c, 1, false);
    node_start(&c, 0, node_conf(&c, 0, 0, false, NULL));
    struct lnode *x = &c.node[0];
    wait_leader(&c);
    int sse = sse_open(x->http_port);
    assert_true(sse_wait_for(sse, ": connected", 5000));

    uint8_t tx[128];
    long st;
    char ids[10][65];
    for (int i = 0; i < 10; i++) {
        size_t len = put_tx(tx, sizeof tx, h_strf("k%d", i), h_strf("v%d", i));
        json_t *j = post_tx(x, tx, len, true, &st);
        assert_int_equal(st, 200);
        assert_string_equal(jstr(j, "status"), "accepted");
        snprintf(ids[i], sizeof ids[i], "%s", jstr(j, "id"));
        json_decref(j);
    }
    assert_true(sse_wait_for(sse, "event: block", 5000));
    close(sse);

    /* A transaction the application refuses is recorded with its reason. */
    size_t len = refuse_tx(tx, sizeof tx, "no, thank you");
    json_t *j = post_tx(x, tx, len, true, &st);
    assert_int_equal(st, 200);
    assert_string_equal(jstr(j, "status"), "refused");
    assert_string_equal(jstr(j, "reason"), "no, thank you");
    uint64_t refused_height = jint(j, "height");
    json_decref(j);
    /* One that check refuses never gets there. */
    static const uint8_t bad_put[] = {0x82, 0x63, 'p', 'u', 't', 0x61, 'k'};
    j = post_tx(x, bad_put, sizeof bad_put, true, &st);
    assert_int_equal(st, 422);
    json_decref(j);
    j = post_tx(x, (const uint8_t *)"", 0, true, &st);
    assert_int_equal(st, 400);
    json_decref(j);

    /* Blocks as JSON and CBOR. */
    j = get_json(x, h_strf("/api/v1/blocks/%llu", (unsigned long long)refused_height), &st);
    assert_int_equal(st, 200);
    json_t *t0 = json_array_get(json_object_get(j, "transactions"), 0);
    assert_string_equal(jstr(t0, "status"), "refused");
    assert_string_equal(jstr(t0, "reason"), "no, thank you");
    json_decref(j);
    struct h_http_resp r;
    assert_int_equal(h_http_get(url(x, "/api/v1/blocks/1?format=cbor"), &r), CORIO_OK);
    assert_int_equal(r.status, 200);
    struct corio_block b;
    assert_int_equal(corio_block_decode((const uint8_t *)r.body, r.len, &b), CORIO_OK);
    assert_int_equal(b.height, 1);
    corio_block_free(&b);
    j = get_json(x, "/api/v1/blocks/999", &st);
    assert_int_equal(st, 404);
    json_decref(j);
    j = get_json(x, "/api/v1/blocks/x1", &st);
    assert_int_equal(st, 400);
    json_decref(j);

    /* The signed tree head, inclusion proofs of every transaction, a consistency proof. */
    struct corio_sth sth = check_tree_head(x);
    assert_int_equal(sth.tree_size, 11);
    for (int i = 0; i < 10; i++)
        check_tx_included(x, ids[i]);
    j = get_json(x, "/api/v1/tx/00000000000000000000000000000000000000000000000000000000000000ff",
                 &st);
    assert_int_equal(st, 404);
    json_decref(j);
    j = get_json(x, "/api/v1/proof/consistency?first=3", &st);
    assert_int_equal(st, 200);
    uint8_t r1[32], r2[32];
    unhex(jstr(j, "first_root"), r1, 32);
    unhex(jstr(j, "second_root"), r2, 32);
    assert_memory_equal(r2, sth.root, 32);
    json_t *proof = json_object_get(j, "proof");
    corio_merkle_hash p[CORIO_MERKLE_MAX_PROOF];
    size_t n = json_array_size(proof);
    for (size_t i = 0; i < n; i++)
        unhex(json_string_value(json_array_get(proof, i)), p[i], 32);
    assert_int_equal(corio_merkle_verify_consistency(3, 11, r1, r2, p, n), CORIO_OK);
    json_decref(j);
    j = get_json(x, "/api/v1/proof/consistency?first=5&second=99", &st);
    assert_int_equal(st, 404);
    json_decref(j);
    j = get_json(x, "/api/v1/proof/inclusion?leaf=4&tree_size=7", &st);
    assert_int_equal(st, 200);
    assert_int_equal(jint(j, "tree_size"), 7);
    json_decref(j);

    /* Metrics and health. */
    assert_int_equal(h_http_get(url(x, "/metrics"), &r), CORIO_OK);
    assert_non_null(strstr(r.body, "corio_ledger_tree_size 11"));
    assert_non_null(strstr(r.body, "corio_ledger_transactions_total{status=\"refused\"} 1"));
    j = get_json(x, "/healthz", &st);
    assert_int_equal(st, 200);
    assert_string_equal(jstr(j, "status"), "ok");
    json_decref(j);

    /* A restart comes back to the same head. */
    struct head before, after;
    assert_true(read_head(x, &before));
    assert_int_equal(h_proc_stop(x->p), 0);
    assert_int_equal(h_proc_restart(x->p), CORIO_OK);
    assert_int_equal(h_wait_http_ok(url(x, "/healthz"), 20000), CORIO_OK);
    assert_true(read_head(x, &after));
    assert_int_equal(after.height, before.height);
    assert_string_equal(after.root, before.root);
    assert_string_equal(after.state, before.state);
    wait_leader(&c);
    len = put_tx(tx, sizeof tx, "after", "restart");
    j = post_tx(x, tx, len, true, &st);
    assert_int_equal(st, 200);
    assert_int_equal(jint(j, "height"), before.height + 1);
    json_decref(j);

    /* Rebuilt from the log alone: the database goes, the consensus log stays (below
     * the snapshot threshold, so no snapshot helps). Every block comes back the same. */
    struct head full;
    assert_true(read_head(x, &full));
    char hashes[32][65], states[32][65];
    assert_true(full.height < 32);
    for (uint64_t h = 1; h <= full.height; h++) {
        json_t *blk = get_json(x, h_strf("/api/v1/blocks/%llu", (unsigned long long)h), &st);
        assert_int_equal(st, 200);
        snprintf(hashes[h], 65, "%s", jstr(blk, "hash"));
        snprintf(states[h], 65, "%s", jstr(blk, "state_hash"));
        json_decref(blk);
    }
    assert_int_equal(h_proc_stop(x->p), 0);
    static const char *const files[] = {"ledger.db", "ledger.db-wal", "ledger.db-shm"};
    for (size_t i = 0; i < 3; i++)
        unlink(h_strf("%s/%s", x->dir, files[i]));
    assert_int_equal(h_proc_restart(x->p), CORIO_OK);
    assert_int_equal(h_wait_http_ok(url(x, "/healthz"), 20000), CORIO_OK);
    wait_leader(&c);
    /* Entries of an earlier term are applied once the leader commits one of its own. */
    len = put_tx(tx, sizeof tx, "rebuilt", "from the log");
    j = post_tx(x, tx, len, true, &st);
    assert_int_equal(st, 200);
    assert_int_equal(jint(j, "height"), full.height + 1);
    json_decref(j);
    for (uint64_t h = 1; h <= full.height; h++) {
        json_t *blk = get_json(x, h_strf("/api/v1/blocks/%llu", (unsigned long long)h), &st);
        assert_int_equal(st, 200);
        assert_string_equal(jstr(blk, "hash"), hashes[h]);
        assert_string_equal(jstr(blk, "state_hash"), states[h]);
        json_decref(blk);
    }
}

/* Three organisations; the leader is SIGKILLed with submissions in flight. */
static void leader_killed_under_load(void **state)
{
    (void)state;
    struct cluster c;
    cluster_init(&c, 3, true);
    for (int i = 0; i < 3; i++)
        node_start(&c, i, node_conf(&c, i, 3, true, NULL));
    int l = wait_leader(&c);

    char committed[200][65];
    int ncommitted = 0;
    uint8_t tx[128];
    long st;
    for (int i = 0; i < 40; i++) {
        size_t len = put_tx(tx, sizeof tx, h_strf("a%d", i), h_strf("%d", i));
        json_t *j = submit(&c, tx, len, &st);
        assert_int_equal(st, 200);
        snprintf(committed[ncommitted++], 65, "%s", jstr(j, "id"));
        json_decref(j);
    }
    /* A follower sends submitters to the leader. */
    int f = (l + 1) % 3;
    size_t len = put_tx(tx, sizeof tx, "to-a-follower", "x");
    json_t *j = post_tx(&c.node[f], tx, len, true, &st);
    assert_int_equal(st, 307);
    assert_int_equal(jint(j, "leader"), (uint64_t)c.node[l].id);
    json_decref(j);

    /* A burst without waiting, then the leader dies with it in flight. */
    for (int i = 0; i < 60; i++) {
        len = put_tx(tx, sizeof tx, h_strf("b%d", i), h_strf("%d", i));
        j = post_tx(&c.node[l], tx, len, false, &st);
        assert_true(st == 202 || st == 200);
        json_decref(j);
    }
    assert_int_equal(h_proc_kill(c.node[l].p), 128 + 9);
    struct lnode *dead = &c.node[l];

    /* The survivors elect a leader and go on. */
    struct h_proc *saved = dead->p;
    dead->p = NULL;
    for (int i = 0; i < 40; i++) {
        len = put_tx(tx, sizeof tx, h_strf("c%d", i), h_strf("%d", i));
        j = submit(&c, tx, len, &st);
        assert_int_equal(st, 200);
        snprintf(committed[ncommitted++], 65, "%s", jstr(j, "id"));
        json_decref(j);
    }
    /* The dead one comes back and catches up; everyone converges. */
    dead->p = saved;
    assert_int_equal(h_proc_restart(dead->p), CORIO_OK);
    assert_int_equal(h_wait_http_ok(url(dead, "/healthz"), 20000), CORIO_OK);
    bool ok;
    H_POLL(ok, converged(&c, 1), 30000);
    assert_true(ok);

    /* No committed transaction is lost, anywhere; the proofs hold on every node. */
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < ncommitted; k += 7)
            check_tx_included(&c.node[i], committed[k]);
    for (int i = 0; i < 3; i++) {
        long s2;
        for (int k = 0; k < ncommitted; k++) {
            json_t *t = get_json(&c.node[i], h_strf("/api/v1/tx/%s", committed[k]), &s2);
            json_decref(t);
            if (s2 != 200)
                fail_msg("node %d lost committed transaction %s", i + 1, committed[k]);
        }
    }
    /* Same signed tree head contents everywhere, and no fork alarm after peers compared
     * them (a few audit rounds). */
    struct corio_sth s0 = check_tree_head(&c.node[0]);
    for (int i = 1; i < 3; i++) {
        struct corio_sth si = check_tree_head(&c.node[i]);
        assert_int_equal(si.tree_size, s0.tree_size);
        assert_memory_equal(si.root, s0.root, 32);
        assert_memory_equal(si.state_hash, s0.state_hash, 32);
        assert_memory_equal(si.block_hash, s0.block_hash, 32);
    }
    for (int i = 0; i < 3; i++) {
        bool seen_all;
        H_POLL(seen_all, ({
                   json_t *s3 = status_of(&c.node[i]);
                   json_t *p3 = json_object_get(s3, "peers");
                   size_t seen = 0;
                   for (size_t k = 0; k < json_array_size(p3); k++)
                       seen += json_is_true(json_object_get(json_array_get(p3, k), "seen"));
                   json_decref(s3);
                   seen == 2;
               }),
               10000);
        assert_true(seen_all);
        assert_int_equal(fork_alarms(&c.node[i]), 0);
    }
}

/* A node stopped while the others go far past a snapshot catches up from one. */
static void restart_from_snapshot(void **state)
{
    (void)state;
    struct cluster c;
    cluster_init(&c, 3, true);
    for (int i = 0; i < 3; i++)
        node_start(&c, i, node_conf(&c, i, 3, true, NULL));
    wait_leader(&c);
    uint8_t tx[128];
    long st;
    for (int i = 0; i < 10; i++) {
        size_t len = put_tx(tx, sizeof tx, h_strf("s%d", i), "x");
        json_decref(submit(&c, tx, len, &st));
        assert_int_equal(st, 200);
    }
    bool ok;
    H_POLL(ok, converged(&c, 10), 20000);
    assert_true(ok);
    /* Stop a follower; the others go on for several snapshots (threshold 64). */
    int l = find_leader(&c);
    int f = (l + 1) % 3;
    assert_int_equal(h_proc_stop(c.node[f].p), 0);
    struct h_proc *saved = c.node[f].p;
    c.node[f].p = NULL;
    for (int i = 0; i < 200; i++) {
        size_t len = put_tx(tx, sizeof tx, h_strf("t%d", i), h_strf("%d", i));
        json_decref(submit(&c, tx, len, &st));
        assert_int_equal(st, 200);
    }
    c.node[f].p = saved;
    assert_int_equal(h_proc_restart(c.node[f].p), CORIO_OK);
    H_POLL(ok, converged(&c, 210), 60000);
    assert_true(ok);
    /* It got there through a snapshot: the leader's log no longer had its entries. */
    assert_int_equal(h_proc_wait_log(c.node[f].p, "restored a snapshot", 5000), CORIO_OK);
    /* And it restarts from its own snapshot and database again. */
    assert_int_equal(h_proc_stop(c.node[f].p), 0);
    assert_int_equal(h_proc_restart(c.node[f].p), CORIO_OK);
    H_POLL(ok, converged(&c, 210), 30000);
    assert_true(ok);
    for (int i = 0; i < 3; i++)
        assert_int_equal(fork_alarms(&c.node[i]), 0);
}

/* Node 3 alters a transaction of every block it applies: its peers see its signed tree
 * heads contradict their logs and raise the alarm; it sees theirs. */
static void forged_node_detected(void **state)
{
    (void)state;
    struct cluster c;
    cluster_init(&c, 3, true);
    /* Nodes 1 and 2 first, so that one of them leads: a forged leader would not even
     * recognise its own submitters' transactions (it changes their ids). */
    for (int i = 0; i < 2; i++)
        node_start(&c, i, node_conf(&c, i, 3, true, NULL));
    c.n = 2;
    int l = wait_leader(&c);
    c.n = 3;
    node_start(&c, 2, node_conf(&c, 2, 3, true, "test_fault_alter_tx true\n"));
    assert_true(l < 2);
    uint8_t tx[128];
    long st;
    for (int i = 0; i < 5; i++) {
        size_t len = put_tx(tx, sizeof tx, h_strf("f%d", i), "x");
        json_decref(submit(&c, tx, len, &st));
        assert_int_equal(st, 200);
    }
    bool ok;
    H_POLL(ok, fork_alarms(&c.node[0]) > 0 && fork_alarms(&c.node[1]) > 0, 20000);
    assert_true(ok);
    for (int i = 0; i < 2; i++) {
        json_t *s = status_of(&c.node[i]);
        json_t *alarms = json_object_get(s, "alarms");
        assert_true(json_array_size(alarms) >= 1);
        for (size_t k = 0; k < json_array_size(alarms); k++)
            assert_int_equal(jint(json_array_get(alarms, k), "peer"), 3); /* only node 3 */
        json_decref(s);
        struct h_http_resp r;
        assert_int_equal(h_http_get(url(&c.node[i], "/metrics"), &r), CORIO_OK);
        assert_non_null(strstr(r.body, "corio_ledger_fork_detected 1"));
        /* Which contradiction is found first (a root, a consistency proof, a block hash)
         * depends on which tree was larger at that moment; one of them counted. */
        assert_true(!strstr(r.body, "corio_ledger_fork_alarms_total{kind=\"root\"} 0") ||
                    !strstr(r.body, "corio_ledger_fork_alarms_total{kind=\"consistency\"} 0") ||
                    !strstr(r.body, "corio_ledger_fork_alarms_total{kind=\"block\"} 0"));
        json_t *th = get_json(&c.node[i], "/api/v1/tree-head", NULL);
        assert_true(json_is_true(json_object_get(th, "fork")));
        json_decref(th);
        assert_true(h_proc_log_contains(c.node[i].p, "fork detected"));
    }
    H_POLL(ok, fork_alarms(&c.node[2]) >= 2, 20000);
    assert_true(ok);
}

/* The application decides the members: a second node joins when a transaction says so;
 * a membership that contradicts the consensus configuration halts the node. */
static void membership_follows_the_application(void **state)
{
    (void)state;
    struct cluster c;
    cluster_init(&c, 2, true);
    /* Node 1 founds alone; node 2 knows node 1 but is not a founder: it waits. */
    node_start(&c, 0, node_conf(&c, 0, 1, true, NULL));
    node_start(&c, 1, node_conf(&c, 1, 1, true, NULL));
    wait_leader(&c);
    uint64_t ids[2] = {1, 2};
    const char *addr[2] = {h_strf("127.0.0.1:%d", c.node[0].raft_port),
                           h_strf("127.0.0.1:%d", c.node[1].raft_port)};
    const char *api[2] = {url(&c.node[0], ""), url(&c.node[1], "")};
    uint8_t tx[512];
    long st;
    size_t len = members_tx(tx, sizeof tx, ids, addr, api, 2);
    json_decref(post_tx(&c.node[0], tx, len, true, &st));
    assert_int_equal(st, 200);
    bool ok;
    H_POLL(ok, converged(&c, 1), 30000);
    assert_true(ok);
    json_t *s = status_of(&c.node[0]);
    assert_int_equal(json_array_size(json_object_get(s, "configuration")), 2);
    json_decref(s);

    /* Now a membership that gives node 2 another address: consensus cannot follow
     * that, and the node that applied it halts rather than take part. (Node 2 would halt
     * too once it applied the same block, but with the leader gone it never learns that
     * the block committed: a two-node cluster cannot go on without either.) */
    const char *other[2] = {addr[0], "127.0.0.1:1"};
    len = members_tx(tx, sizeof tx, ids, other, api, 2);
    json_decref(post_tx(&c.node[0], tx, len, true, &st));
    assert_int_equal(st, 200);
    for (int i = 0; i < 1; i++) {
        H_POLL(ok, ({
                   long hs;
                   json_t *h = get_json(&c.node[i], "/healthz", &hs);
                   json_decref(h);
                   hs == 503;
               }),
               20000);
        assert_true(ok);
        json_t *h = get_json(&c.node[i], "/api/v1/status", NULL);
        assert_true(json_is_true(json_object_get(h, "halted")));
        assert_non_null(strstr(jstr(h, "halt_reason"), "address"));
        json_decref(h);
    }
    /* A halted node turns submissions away. */
    len = put_tx(tx, sizeof tx, "late", "x");
    json_decref(post_tx(&c.node[0], tx, len, true, &st));
    assert_int_equal(st, 503);
}

/* An idle ledger still grows once it holds a transaction: the leader adds empty blocks,
 * which every node applies like any other (heights count time for voting periods and
 * expiries). An empty ledger waits for its first transaction. */
static void empty_blocks_when_idle(void **state)
{
    (void)state;
    struct cluster c;
    cluster_init(&c, 1, false);
    node_start(&c, 0, node_conf(&c, 0, 0, false, "empty_block_interval 100ms\n"));
    wait_leader(&c);
    struct head h;
    int64_t until = h_now_ms() + 600; /* a window, unscaled: it can only make this slower */
    while (h_now_ms() < until) {
        assert_true(read_head(&c.node[0], &h));
        assert_int_equal(h.height, 0);
    }
    uint8_t tx[64];
    long st;
    size_t len = put_tx(tx, sizeof tx, "first", "one");
    json_decref(post_tx(&c.node[0], tx, len, true, &st));
    assert_int_equal(st, 200);
    bool ok;
    H_POLL(ok, read_head(&c.node[0], &h) && h.height >= 4, 10000);
    assert_true(ok);
    assert_int_equal(h.tree_size, 1);
    json_t *b = get_json(&c.node[0], "/api/v1/blocks/3", &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_array_size(json_object_get(b, "transactions")), 0);
    assert_int_equal(jint(b, "tree_size"), 1);
    json_decref(b);
}

/* Bad configurations stop the daemon with one line naming file and line. */
static void bad_configuration(void **state)
{
    (void)state;
    const char *dir = h_mkdir("conf");
    const char *bad = h_strf("%s/bad.conf", dir);
    h_write_file(bad, "node_id 1\nlisen 127.0.0.1:1\n");
    const char *argv[] = {h_bin("corio-ledger"), "-c", bad, NULL};
    char *out;
    assert_int_equal(h_run("corio-ledger", argv, NULL, 10000, &out), 1);
    assert_non_null(strstr(out, "bad.conf:2"));
    h_write_file(bad, "node_id 1\nmember 1 127.0.0.1:7400\nmember 2 127.0.0.1:7401\n");
    assert_int_equal(h_run("corio-ledger", argv, NULL, 10000, &out), 1);
    assert_non_null(strstr(out, "tls_cert"));
    h_write_file(bad, "node_id 1\nheartbeat 2s\nelection_timeout 1s\n");
    assert_int_equal(h_run("corio-ledger", argv, NULL, 10000, &out), 1);
    assert_non_null(strstr(out, "heartbeat"));
    h_write_file(bad, "node_id 1\napp ledgerish\n");
    assert_int_equal(h_run("corio-ledger", argv, NULL, 10000, &out), 1);
    assert_non_null(strstr(out, "bad.conf:2"));
    h_write_file(bad, "node_id 1\ngenesis_id 00ff\n");
    assert_int_equal(h_run("corio-ledger", argv, NULL, 10000, &out), 1);
    assert_non_null(strstr(out, "bad.conf:2: 'genesis_id'"));
    h_write_file(bad, "app null\ngenesis_id "
                      "0000000000000000000000000000000000000000000000000000000000000000\n");
    assert_int_equal(h_run("corio-ledger", argv, NULL, 10000, &out), 1);
    assert_non_null(strstr(out, "only applies to app contracts"));
    h_write_file(bad, "empty_block_interval 10ms\n");
    assert_int_equal(h_run("corio-ledger", argv, NULL, 10000, &out), 1);
    assert_non_null(strstr(out, "empty_block_interval"));
    const char *help[] = {h_bin("corio-ledger"), "--help", NULL};
    assert_int_equal(h_run("corio-ledger", help, NULL, 10000, &out), 0);
    assert_non_null(strstr(out, "test_fault_alter_tx"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(single_node_api),
        H_TEST(leader_killed_under_load),
        H_TEST(restart_from_snapshot),
        H_TEST(forged_node_detected),
        H_TEST(membership_follows_the_application),
        H_TEST(empty_blocks_when_idle),
        H_TEST(bad_configuration),
    };
    return h_done(cmocka_run_group_tests(tests, NULL, NULL));
}
