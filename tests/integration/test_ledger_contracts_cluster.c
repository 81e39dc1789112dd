/*
 * test_ledger_contracts_cluster.c - corio-ledger nodes of several organisations over
 * mutual TLS, running the built-in contracts (the daemon's default application):
 *   - the leader SIGKILLed under a load of signed transactions (device claims, each with
 *     the organisation's signature and the device's EAT, which every node verifies):
 *     no committed transaction lost, every node converges to the same state hash, tree
 *     head and views, no fork alarm; a follower that fell behind catches up from a
 *     snapshot holding the contracts' state; a submission to a follower through
 *     `corio ledger submit` follows the leader's 307; a tree head verified with
 *     `corio ledger verify --ca` against its organisation's CA;
 *   - an organisation admitted by vote brings its node into consensus (four voters),
 *     and removing it by vote takes it out again (three);
 *   - a node that forges the blocks it applies is detected by the others.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "../unit/test_contract_util.h"
#include "../unit/test_ledger_util.h"
#include "corio/encoding.h"
#include "corio/error.h"
#include "harness.h"
#include "ledger_sth.h"

#define MAXN 4

struct lnode {
    int id;
    int raft_port, http_port;
    const char *dir, *url;
    struct h_proc *p;
};

struct cluster {
    int n; /* nodes started so far (the first n) */
    struct lnode node[MAXN];
    struct t_org ca[MAXN];
    struct t_node_cert cert[MAXN];
    struct t_id org[MAXN]; /* organisation i runs node i + 1 */
    uint8_t ledger[32];
    uint64_t expires;
};

/* ---- HTTP -------------------------------------------------------------------------------- */

static json_t *get_json(const struct lnode *n, const char *path, long *status)
{
    struct h_http_resp r;
    if (status)
        *status = 0;
    if (h_http_get(h_strf("%s%s", n->url, path), &r) != CORIO_OK)
        return NULL;
    if (status)
        *status = r.status;
    return json_loads(r.body, 0, NULL);
}

static const char *get_text(const struct lnode *n, const char *path)
{
    struct h_http_resp r;
    if (h_http_get(h_strf("%s%s", n->url, path), &r) != CORIO_OK || r.status != 200)
        return NULL;
    return r.body;
}

static json_t *post_tx(const struct lnode *n, const struct t_tx *t, bool wait, long *status)
{
    const char *hdr[] = {"Content-Type: application/cbor", NULL};
    struct h_http_req q = {.method = "POST",
                           .url = h_strf("%s/api/v1/tx%s", n->url, wait ? "" : "?wait=false"),
                           .headers = hdr,
                           .body = t->buf,
                           .len = t->len,
                           .timeout_ms = 15000};
    struct h_http_resp r;
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

static bool running(const struct lnode *x)
{
    return x->p && h_proc_alive(x->p);
}

static int find_leader(struct cluster *c)
{
    for (int i = 0; i < c->n; i++) {
        if (!running(&c->node[i]))
            continue;
        json_t *s = get_json(&c->node[i], "/api/v1/status", NULL);
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

/* Submits to whoever leads until a node takes it; the answer (200 or 422). */
static json_t *submit(struct cluster *c, const struct t_tx *t, long *status)
{
    struct h_poll p;
    h_poll_init(&p, 20000);
    do {
        int l = find_leader(c);
        if (l < 0)
            continue;
        json_t *j = post_tx(&c->node[l], t, true, status);
        if (*status == 200 || *status == 422)
            return j;
        json_decref(j);
    } while (h_poll_next(&p));
    fail_msg("no node took the transaction");
    return NULL;
}

/* Submits and requires "accepted"; the transaction is freed. */
static void accept_tx(struct cluster *c, struct t_tx t)
{
    long st;
    json_t *j = submit(c, &t, &st);
    if (st != 200 || strcmp(jstr(j, "status"), "accepted"))
        fail_msg("not accepted (%ld): %s %s", st, jstr(j, "reason"), jstr(j, "error"));
    json_decref(j);
    free(t.buf);
}

struct head {
    uint64_t height, tree_size;
    char root[65], state[65], block[65];
};

static bool read_head(const struct lnode *x, struct head *h)
{
    json_t *s = get_json(x, "/api/v1/status", NULL);
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

/* Whether the running nodes agree on the tree (at least min_size leaves) and, at the
 * lowest height any of them is at, on the block and state hashes (empty blocks keep
 * coming, so the heads themselves seldom line up). */
static bool converged(struct cluster *c, uint64_t min_size)
{
    struct head h[MAXN];
    int n = 0;
    uint64_t low = UINT64_MAX, size = 0;
    for (int i = 0; i < c->n; i++) {
        if (!running(&c->node[i]))
            continue;
        if (!read_head(&c->node[i], &h[n]) || h[n].tree_size < min_size)
            return false;
        if (n && h[n].tree_size != size)
            return false;
        size = h[n].tree_size;
        if (h[n].height < low)
            low = h[n].height;
        n++;
    }
    if (!n || low == 0)
        return n > 0;
    char block[65] = "", state[65] = "";
    for (int i = 0; i < c->n; i++) {
        if (!running(&c->node[i]))
            continue;
        json_t *b =
            get_json(&c->node[i], h_strf("/api/v1/blocks/%llu", (unsigned long long)low), NULL);
        bool same = b && (!block[0] || (!strcmp(block, jstr(b, "hash")) &&
                                        !strcmp(state, jstr(b, "state_hash"))));
        if (b && !block[0]) {
            snprintf(block, sizeof block, "%s", jstr(b, "hash"));
            snprintf(state, sizeof state, "%s", jstr(b, "state_hash"));
        }
        json_decref(b);
        if (!same)
            return false;
    }
    return true;
}

static uint64_t fork_alarms(const struct lnode *x)
{
    json_t *s = get_json(x, "/api/v1/status", NULL);
    uint64_t n = s ? jint(s, "fork_alarms") : 0;
    json_decref(s);
    return n;
}

/* The consensus configuration as node x sees it: voters and non-voters. */
static void config_of(const struct lnode *x, int *voters, int *others)
{
    json_t *s = get_json(x, "/api/v1/status", NULL);
    json_t *cfg = json_object_get(s, "configuration");
    *voters = *others = 0;
    for (size_t i = 0; i < json_array_size(cfg); i++) {
        if (json_is_true(json_object_get(json_array_get(cfg, i), "voter")))
            (*voters)++;
        else
            (*others)++;
    }
    json_decref(s);
}

/* A node's signed tree head, its signature verified with the key it names. */
static struct corio_sth signed_head(const struct lnode *x)
{
    json_t *j = get_json(x, "/api/v1/tree-head", NULL);
    assert_non_null(j);
    const char *b64 = jstr(j, "sth");
    size_t n = strlen(b64);
    uint8_t *sth = malloc(n + 1);
    assert_non_null(sth);
    int len = corio_base64url_decode(b64, n, sth, n + 1);
    assert_true(len > 0);
    struct corio_sth s;
    uint8_t signer[33];
    assert_int_equal(corio_sth_verify(OPS, sth, (size_t)len, NULL, &s, signer), CORIO_OK);
    assert_int_equal(s.node, (uint64_t)x->id);
    free(sth);
    json_decref(j);
    return s;
}

/* ---- transactions ------------------------------------------------------------------------ */

static void hex32(const uint8_t *p, char out[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/* A transaction for this ledger (the genesis when c->ledger is still zero). */
static struct t_tx make(struct cluster *c, unsigned type, const uint8_t *args, size_t alen,
                        struct t_id **signers, size_t n)
{
    struct corio_tx_body b = {.type = type, .args = args, .args_len = alen};
    b.expires = c->expires;
    b.has_ledger = type != CORIO_TX_GENESIS;
    memcpy(b.ledger, c->ledger, sizeof b.ledger);
    assert_int_equal(corio_random(OPS, b.nonce, sizeof b.nonce), CORIO_OK);
    uint8_t body[CORIO_TX_MAX];
    int bl = corio_tx_body_encode(&b, body, sizeof body);
    assert_true(bl > 0);
    struct t_tx t = {.buf = malloc(CORIO_TX_MAX)};
    assert_non_null(t.buf);
    int len =
        corio_tx_sign(&signers[0]->key, &signers[0]->did, body, (size_t)bl, t.buf, CORIO_TX_MAX);
    assert_true(len > 0);
    for (size_t i = 1; i < n; i++) {
        uint8_t *next = malloc(CORIO_TX_MAX);
        assert_non_null(next);
        len = corio_tx_add_signature(&signers[i]->key, &signers[i]->did, t.buf, (size_t)len, next,
                                     CORIO_TX_MAX);
        assert_true(len > 0);
        free(t.buf);
        t.buf = next;
    }
    t.len = (size_t)len;
    assert_int_equal(corio_tx_id(t.buf, t.len, t.id), CORIO_OK);
    return t;
}

/* The org map of organisation i: its key, its node's id, raft address and API. */
static struct t_args org_map(struct cluster *c, int i)
{
    struct t_args a;
    struct t_id *o = &c->org[i];
    struct corio_tx_org m = {.has_key = true,
                             .has_name = true,
                             .has_weight = true,
                             .has_threshold = true,
                             .has_approver = true,
                             .has_node = true,
                             .has_address = true,
                             .has_api = true,
                             .weight = 1,
                             .threshold = 1,
                             .approver = true,
                             .node = (uint64_t)i + 1};
    memcpy(m.key, o->key0, sizeof m.key);
    m.name = o->short_id;
    m.name_len = strlen(o->short_id);
    const char *addr = h_strf("127.0.0.1:%d", c->node[i].raft_port);
    m.address = addr;
    m.address_len = strlen(addr);
    m.api = c->node[i].url;
    m.api_len = strlen(m.api);
    int n = corio_tx_org_encode(&m, a.buf, sizeof a.buf);
    assert_true(n > 0);
    a.len = (size_t)n;
    return a;
}

/* The genesis of organisations 0..n-1, signed by all of them. */
static void found(struct cluster *c, int n)
{
    uint8_t arr[8192];
    struct corio_cbor_enc e;
    corio_cbor_enc_init(&e, arr, sizeof arr);
    corio_cbor_put_array(&e, (size_t)n);
    for (int i = 0; i < n; i++) {
        struct t_args m = org_map(c, i);
        corio_cbor_put_raw(&e, m.buf, m.len);
    }
    int al = corio_cbor_enc_finish(&e);
    assert_true(al > 0);
    struct corio_tx_genesis g = {
        .orgs = arr, .orgs_len = (size_t)al, .name = "cluster ledger", .name_len = 14};
    struct t_args a;
    int gl = corio_tx_genesis_encode(&g, a.buf, sizeof a.buf);
    assert_true(gl > 0);
    struct t_id *signers[MAXN];
    for (int i = 0; i < n; i++)
        signers[i] = &c->org[i];
    c->expires = 5000; /* heights: the ledger is young, and tx.ttl_max is 10000 */
    struct t_tx t = make(c, CORIO_TX_GENESIS, a.buf, (size_t)gl, signers, (size_t)n);
    memcpy(c->ledger, t.id, 32);
    accept_tx(c, t);
}

/* A device claim by organisation i: a new device key, its EAT for the organisation. */
static struct t_tx claim(struct cluster *c, int i)
{
    struct t_id dev;
    t_id_new(&dev);
    uint8_t eat[1024];
    size_t el = t_eat(&dev, c->org[i].short_id, 32, 1, eat, sizeof eat);
    struct t_args a = t_register_args(&c->org[i], &dev, CORIO_DEVICE_KIND_DEVICE, eat, el, NULL);
    t_id_free(&dev);
    return make(c, CORIO_TX_DEVICE_REGISTER, a.buf, a.len, SIGNERS(&c->org[i]));
}

/* Proposes a membership change (by organisation 0, with extra as a second signer when
 * not NULL), has the voters vote yes, and waits until it passed. */
static void membership_vote(struct cluster *c, const struct corio_tx_proposal_payload *pl,
                            struct t_id *extra, const int *voters, int nvoters)
{
    struct t_args pa = t_proposal_args(&c->org[0], CORIO_PROPOSAL_MEMBERSHIP, pl, 15);
    struct t_tx p = extra ? make(c, CORIO_TX_PROPOSAL, pa.buf, pa.len, SIGNERS(&c->org[0], extra))
                          : make(c, CORIO_TX_PROPOSAL, pa.buf, pa.len, SIGNERS(&c->org[0]));
    char id[65];
    hex32(p.id, id);
    uint8_t pid[32];
    memcpy(pid, p.id, 32);
    accept_tx(c, p);
    for (int i = 0; i < nvoters; i++) {
        struct t_args va = t_vote_args(pid, &c->org[voters[i]], CORIO_VOTE_YES);
        accept_tx(c, make(c, CORIO_TX_VOTE, va.buf, va.len, SIGNERS(&c->org[voters[i]])));
    }
    bool ok;
    const char *status = "";
    H_POLL(ok, ({
               int l = find_leader(c);
               json_t *j = l < 0 ? NULL
                                 : get_json(&c->node[l],
                                            h_strf("/api/v1/contracts/proposals/%s", id), NULL);
               json_t *o = json_is_array(j) ? json_array_get(j, 0) : j;
               status = h_strf("%s", jstr(o, "status"));
               json_decref(j);
               *status &&strcmp(status, "open") != 0;
           }),
           30000);
    assert_true(ok);
    assert_string_equal(status, "passed");
}

/* ---- nodes --------------------------------------------------------------------------------- */

static void cluster_init(struct cluster *c, int n)
{
    memset(c, 0, sizeof *c);
    for (int i = 0; i < n; i++) {
        struct lnode *x = &c->node[i];
        x->id = i + 1;
        x->raft_port = h_free_port();
        x->http_port = h_free_port();
        x->url = h_strf("http://127.0.0.1:%d", x->http_port);
        x->dir = h_strf("%s/n%d", h_dir(), i + 1);
        c->ca[i] = t_org_new(h_strf("org-%d", i + 1));
        assert_non_null(c->ca[i].pki);
        assert_int_equal(
            t_node_cert(&c->ca[i], h_strf("node%d", i + 1), (uint64_t)i + 1, &c->cert[i]), 0);
        t_id_new(&c->org[i]);
    }
}

static void cluster_free(struct cluster *c)
{
    for (int i = 0; i < MAXN; i++)
        t_id_free(&c->org[i]);
}

/* Node i's configuration: the founders are nodes 1..nfounders; every organisation's CA
 * is trusted (an organisation's CA is added before it is admitted). */
static const char *node_conf(struct cluster *c, int i, int nfounders, const char *extra)
{
    struct lnode *x = &c->node[i];
    char *conf = h_strf("node_id %d\nraft_address 127.0.0.1:%d\nlisten 127.0.0.1:%d\n"
                        "data_dir %s\nelection_timeout 1s\nheartbeat 100ms\n"
                        "audit_interval 300ms\nsnapshot_threshold 32\nsnapshot_trailing 8\n"
                        "membership_grace 30s\nempty_block_interval 200ms\n"
                        "tls_cert %s\ntls_key %s\n",
                        x->id, x->raft_port, x->http_port, x->dir, c->cert[i].cert, c->cert[i].key);
    for (int m = 0; m < nfounders; m++)
        conf = h_strf("%smember %d 127.0.0.1:%d %s\n", conf, c->node[m].id, c->node[m].raft_port,
                      c->node[m].url);
    for (int o = 0; o < MAXN; o++)
        if (c->ca[o].pki)
            conf = h_strf("%stls_ca %s\n", conf, c->ca[o].pki->ca_cert);
    return h_strf("%s%s", conf, extra ? extra : "");
}

static void node_start(struct cluster *c, int i, const char *conf)
{
    struct lnode *x = &c->node[i];
    struct h_daemon_opts o = {
        .config = conf, .ready_url = h_strf("%s/healthz", x->url), .timeout_ms = 20000};
    x->p = h_daemon_start("corio-ledger", &o);
    assert_non_null(x->p);
    if (c->n < i + 1)
        c->n = i + 1;
}

/* ---- tests ------------------------------------------------------------------------------- */

static void leader_killed_under_signed_load(void **state)
{
    (void)state;
    struct cluster c;
    cluster_init(&c, 3);
    for (int i = 0; i < 3; i++)
        node_start(&c, i, node_conf(&c, i, 3, NULL));
    int l = wait_leader(&c);
    found(&c, 3);

    char committed[256][65];
    int ncommitted = 0;
    long st;
    for (int i = 0; i < 30; i++) {
        struct t_tx t = claim(&c, i % 3);
        json_t *j = submit(&c, &t, &st);
        assert_int_equal(st, 200);
        assert_string_equal(jstr(j, "status"), "accepted");
        snprintf(committed[ncommitted++], 65, "%s", jstr(j, "id"));
        json_decref(j);
        free(t.buf);
    }
    /* A follower answers 307 with the leader's URL, and the CLI follows it. */
    l = wait_leader(&c);
    int f = (l + 1) % 3;
    struct t_tx t = claim(&c, 1);
    json_t *j = post_tx(&c.node[f], &t, true, &st);
    assert_int_equal(st, 307);
    assert_int_equal(jint(j, "leader"), (uint64_t)c.node[l].id);
    json_decref(j);
    const char *file = h_strf("%s/claim.cbor", h_dir());
    FILE *fp = fopen(file, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(t.buf, 1, t.len, fp), t.len);
    fclose(fp);
    free(t.buf);
    const char *argv[] = {h_bin("corio"), "ledger", "submit", "--node", c.node[f].url, file, NULL};
    char *out;
    assert_int_equal(h_run("corio", argv, NULL, 30000, &out), 0);
    assert_non_null(strstr(out, "\"accepted\""));

    /* A burst the leader has not answered yet, and it dies. */
    for (int i = 0; i < 60; i++) {
        t = claim(&c, i % 3);
        json_decref(post_tx(&c.node[l], &t, false, &st));
        assert_true(st == 202 || st == 200);
        free(t.buf);
    }
    assert_int_equal(h_proc_kill(c.node[l].p), 128 + 9);
    struct h_proc *dead = c.node[l].p;
    c.node[l].p = NULL;
    for (int i = 0; i < 30; i++) {
        t = claim(&c, i % 3);
        j = submit(&c, &t, &st);
        assert_int_equal(st, 200);
        assert_string_equal(jstr(j, "status"), "accepted");
        snprintf(committed[ncommitted++], 65, "%s", jstr(j, "id"));
        json_decref(j);
        free(t.buf);
    }
    c.node[l].p = dead;
    assert_int_equal(h_proc_restart(dead), CORIO_OK);
    assert_int_equal(h_wait_http_ok(h_strf("%s/healthz", c.node[l].url), 20000), CORIO_OK);
    bool ok;
    H_POLL(ok, converged(&c, (uint64_t)ncommitted + 1), 30000);
    assert_true(ok);

    /* Nothing committed is lost, on any node. */
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < ncommitted; k++) {
            json_t *x = get_json(&c.node[i], h_strf("/api/v1/tx/%s", committed[k]), &st);
            if (st != 200 || strcmp(jstr(x, "status"), "accepted"))
                fail_msg("node %d lost committed transaction %s", i + 1, committed[k]);
            json_decref(x);
        }
    /* Signed tree heads agree on the log (heights differ by the empty blocks in
     * between). */
    struct corio_sth h0 = signed_head(&c.node[0]);
    for (int i = 1; i < 3; i++) {
        struct corio_sth hi = signed_head(&c.node[i]);
        assert_int_equal(hi.tree_size, h0.tree_size);
        assert_memory_equal(hi.root, h0.root, 32);
    }
    /* The same contracts' state everywhere: views and, at one height, state hashes. */
    for (int o = 0; o < 3; o++) {
        const char *path = h_strf("/api/v1/contracts/orgs/%s/devices", c.org[o].short_id);
        const char *v0 = get_text(&c.node[0], path);
        assert_non_null(v0);
        for (int i = 1; i < 3; i++) {
            const char *vi = get_text(&c.node[i], path);
            assert_non_null(vi);
            assert_string_equal(vi, v0);
        }
    }
    /* Peers compared their signed tree heads: no fork. */
    for (int i = 0; i < 3; i++) {
        H_POLL(ok, ({
                   json_t *s = get_json(&c.node[i], "/api/v1/status", NULL);
                   json_t *p = json_object_get(s, "peers");
                   size_t seen = 0;
                   for (size_t k = 0; k < json_array_size(p); k++)
                       seen += json_is_true(json_object_get(json_array_get(p, k), "seen"));
                   json_decref(s);
                   seen == 2;
               }),
               10000);
        assert_true(ok);
        assert_int_equal(fork_alarms(&c.node[i]), 0);
    }
    /* A tree head checked offline against its organisation's CA, and not another's. */
    struct h_http_resp th;
    assert_int_equal(h_http_get(h_strf("%s/api/v1/tree-head", c.node[1].url), &th), CORIO_OK);
    const char *thf = h_strf("%s/tree-head-2.json", h_dir());
    h_write_file(thf, th.body);
    const char *v_ok[] = {h_bin("corio"),       "ledger", "verify", "--sth", thf, "--ca",
                          c.ca[1].pki->ca_cert, NULL};
    assert_int_equal(h_run("corio", v_ok, NULL, 30000, &out), 0);
    assert_non_null(strstr(out, "node 2"));
    assert_non_null(strstr(out, "certified"));
    const char *v_bad[] = {h_bin("corio"),       "ledger", "verify", "--sth", thf, "--ca",
                           c.ca[0].pki->ca_cert, NULL};
    assert_int_equal(h_run("corio", v_bad, NULL, 30000, &out), 1);

    /* A follower stopped while the others go past several snapshots catches up from one,
     * which carries the contracts' state. */
    l = wait_leader(&c);
    f = (l + 1) % 3;
    assert_int_equal(h_proc_stop(c.node[f].p), 0);
    struct h_proc *stopped = c.node[f].p;
    c.node[f].p = NULL;
    for (int i = 0; i < 50; i++) {
        t = claim(&c, i % 3);
        j = submit(&c, &t, &st);
        assert_int_equal(st, 200);
        snprintf(committed[ncommitted++], 65, "%s", jstr(j, "id"));
        json_decref(j);
        free(t.buf);
    }
    c.node[f].p = stopped;
    assert_int_equal(h_proc_restart(stopped), CORIO_OK);
    H_POLL(ok, converged(&c, (uint64_t)ncommitted + 1), 40000);
    assert_true(ok);
    assert_int_equal(h_proc_wait_log(stopped, "restored a snapshot", 5000), CORIO_OK);
    const char *path = h_strf("/api/v1/contracts/orgs/%s/devices", c.org[2].short_id);
    const char *restored = get_text(&c.node[f], path);
    assert_non_null(restored);
    assert_string_equal(restored, get_text(&c.node[l], path));
    json_t *x = get_json(&c.node[f], h_strf("/api/v1/tx/%s", committed[ncommitted - 1]), &st);
    assert_int_equal(st, 200);
    json_decref(x);
    /* And it restarts from its own snapshot and database. */
    assert_int_equal(h_proc_stop(stopped), 0);
    assert_int_equal(h_proc_restart(stopped), CORIO_OK);
    H_POLL(ok, converged(&c, (uint64_t)ncommitted + 1), 30000);
    assert_true(ok);
    for (int i = 0; i < 3; i++)
        assert_int_equal(fork_alarms(&c.node[i]), 0);
    cluster_free(&c);
}

static void admission_changes_membership(void **state)
{
    (void)state;
    struct cluster c;
    cluster_init(&c, 4);
    for (int i = 0; i < 3; i++)
        node_start(&c, i, node_conf(&c, i, 3, NULL));
    /* Node 4 knows the founders but is not one of them: it waits to be added. */
    node_start(&c, 3, node_conf(&c, 3, 3, NULL));
    c.n = 3;
    wait_leader(&c);
    found(&c, 3);
    c.n = 4;

    /* Organisation 4 is admitted by vote (it signs the proposal with its key 0). */
    struct t_args om = org_map(&c, 3);
    struct corio_tx_proposal_payload admit = {
        .action = CORIO_MEMBERSHIP_ADMIT, .has_org = true, .org = om.buf, .org_len = om.len};
    membership_vote(&c, &admit, &c.org[3], (const int[]){0, 1}, 2);
    bool ok;
    int voters, others;
    H_POLL(ok, ({
               int l = find_leader(&c);
               if (l >= 0)
                   config_of(&c.node[l], &voters, &others);
               l >= 0 && voters == 4 && others == 0;
           }),
           30000);
    assert_true(ok);
    /* Its node takes part: its own claim reaches every node, node 4 included. */
    struct t_tx t = claim(&c, 3);
    char id[65];
    hex32(t.id, id);
    accept_tx(&c, t);
    H_POLL(ok, converged(&c, 1), 30000);
    assert_true(ok);
    long st;
    json_decref(get_json(&c.node[3], h_strf("/api/v1/tx/%s", id), &st));
    assert_int_equal(st, 200);
    json_t *s = get_json(&c.node[3], "/api/v1/status", NULL);
    assert_int_equal(json_array_size(json_object_get(s, "members")), 4);
    assert_false(json_is_true(json_object_get(s, "halted")));
    json_decref(s);

    /* Removed by vote, it leaves consensus again. */
    struct corio_tx_proposal_payload rm = {.action = CORIO_MEMBERSHIP_REMOVE, .has_target = true};
    memcpy(rm.target, c.org[3].did.id, CORIO_DID_ID_LEN);
    membership_vote(&c, &rm, NULL, (const int[]){0, 1, 2}, 3);
    H_POLL(ok, ({
               int l = find_leader(&c);
               if (l >= 0)
                   config_of(&c.node[l], &voters, &others);
               l >= 0 && l != 3 && voters == 3 && others == 0;
           }),
           30000);
    assert_true(ok);
    /* Whatever the removed node does now is no longer the cluster's business. */
    h_proc_stop(c.node[3].p);
    c.n = 3;
    accept_tx(&c, claim(&c, 0));
    H_POLL(ok, converged(&c, 1), 30000);
    assert_true(ok);
    for (int i = 0; i < 3; i++) {
        s = get_json(&c.node[i], "/api/v1/status", NULL);
        assert_false(json_is_true(json_object_get(s, "halted")));
        assert_int_equal(json_array_size(json_object_get(s, "members")), 3);
        json_decref(s);
    }
    cluster_free(&c);
}

/* Node 3 alters a transaction of every block it applies (its signatures then fail, so
 * it records another history): its peers see its signed tree heads contradict their
 * logs, and alarm about it alone. */
static void forged_block_detected(void **state)
{
    (void)state;
    struct cluster c;
    cluster_init(&c, 3);
    for (int i = 0; i < 2; i++)
        node_start(&c, i, node_conf(&c, i, 3, NULL));
    c.n = 2;
    int l = wait_leader(&c);
    assert_true(l < 2);
    node_start(&c, 2, node_conf(&c, 2, 3, "test_fault_alter_tx true\n"));
    c.n = 2; /* submit through the honest nodes only */
    found(&c, 3);
    for (int i = 0; i < 3; i++)
        accept_tx(&c, claim(&c, i));
    bool ok;
    H_POLL(ok, fork_alarms(&c.node[0]) > 0 && fork_alarms(&c.node[1]) > 0, 20000);
    assert_true(ok);
    for (int i = 0; i < 2; i++) {
        json_t *s = get_json(&c.node[i], "/api/v1/status", NULL);
        json_t *alarms = json_object_get(s, "alarms");
        assert_true(json_array_size(alarms) >= 1);
        for (size_t k = 0; k < json_array_size(alarms); k++)
            assert_int_equal(jint(json_array_get(alarms, k), "peer"), 3);
        json_decref(s);
        assert_true(h_proc_log_contains(c.node[i].p, "fork detected"));
    }
    /* The forger's own view of the contracts differs: it refused the genesis. */
    const char *honest = get_text(&c.node[0], "/api/v1/contracts/orgs");
    const char *forged = get_text(&c.node[2], "/api/v1/contracts/orgs");
    assert_non_null(honest);
    assert_true(!forged || strcmp(honest, forged) != 0);
    H_POLL(ok, fork_alarms(&c.node[2]) >= 2, 20000);
    assert_true(ok);
    cluster_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(leader_killed_under_signed_load),
        H_TEST(admission_changes_membership),
        H_TEST(forged_block_detected),
    };
    return h_done(cmocka_run_group_tests(tests, NULL, NULL));
}
