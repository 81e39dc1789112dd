/*
 * test_ledger_consensus.c - the consensus interface (ledger/ledger_consensus.h) over raft and
 * the mutual-TLS transport, with several nodes on one libuv loop in this process:
 * ordered application, restarts (bootstrapping only once), snapshots and restore,
 * failover, membership changes, and a node whose certificate comes from a CA the
 * others do not trust, which never joins.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "ledger_consensus.h"
#include "corio/error.h"
#include "harness.h"
#include "test_ledger_util.h"

#define MAXN 4

/* A node and the in-memory "application" it applies to: the list of entries. */
struct tnode {
    uint64_t id;
    char address[64];
    const char *dir;
    struct corio_cons_opts opts;
    const char *ca[3];
    struct corio_cons *c;
    bool closed;
    /* the state */
    uint64_t applied;
    char **entries;
    size_t n, cap;
    unsigned snapshots, stored, restores, skipped;
    uint64_t restored_index;
    bool keep_state; /* on restart, keep applied/entries (a persistent application) */
};

/* Each test has its own loop, so that a test that failed half-way (leaving nodes on its
 * loop) cannot disturb the next one. */
static uv_loop_t loops[8], *loopp;
#define loop (*loopp)
static uv_timer_t pumps[8], *pumpp;
#define pump (*pumpp)
static int nloops;

static void pump_cb(uv_timer_t *t)
{
    (void)t;
}

static void loop_setup(void)
{
    assert_true(nloops < 8);
    loopp = &loops[nloops];
    pumpp = &pumps[nloops++];
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(uv_timer_init(&loop, &pump), 0);
    assert_int_equal(uv_timer_start(&pump, pump_cb, 10, 10), 0);
}

static bool run_until(bool (*pred)(void *), void *arg, int ms)
{
    int64_t deadline = h_now_ms() + h_ms(ms);
    while (!pred(arg)) {
        if (h_now_ms() > deadline)
            return false;
        uv_run(&loop, UV_RUN_ONCE);
    }
    return true;
}

/* Runs the loop for about ms, whatever happens. */
static void run_for(int ms)
{
    int64_t end = h_now_ms() + ms;
    while (h_now_ms() < end)
        uv_run(&loop, UV_RUN_ONCE);
}

static void state_clear(struct tnode *n)
{
    for (size_t i = 0; i < n->n; i++)
        free(n->entries[i]);
    free(n->entries);
    n->entries = NULL;
    n->n = n->cap = 0;
    n->applied = 0;
}

static void push_entry(struct tnode *n, const char *s, size_t len)
{
    if (n->n == n->cap) {
        n->cap = n->cap ? n->cap * 2 : 64;
        n->entries = realloc(n->entries, n->cap * sizeof *n->entries);
        assert_non_null(n->entries);
    }
    char *e = malloc(len + 1);
    assert_non_null(e);
    memcpy(e, s, len);
    e[len] = 0;
    n->entries[n->n++] = e;
}

static int app_apply(void *arg, uint64_t index, const void *data, size_t len)
{
    struct tnode *n = arg;
    if (index <= n->applied) {
        n->skipped++;
        return CORIO_OK;
    }
    push_entry(n, data, len);
    n->applied = index;
    return CORIO_OK;
}

/* Snapshot: applied index, count, then each entry as length + bytes. */
static int app_snapshot(void *arg, uint64_t index, void **data, size_t *len)
{
    struct tnode *n = arg;
    assert_int_equal(index, n->applied);
    size_t size = 16;
    for (size_t i = 0; i < n->n; i++)
        size += 8 + strlen(n->entries[i]);
    uint8_t *buf = malloc(size), *p = buf;
    assert_non_null(buf);
    memcpy(p, &n->applied, 8);
    uint64_t count = n->n;
    memcpy(p + 8, &count, 8);
    p += 16;
    for (size_t i = 0; i < n->n; i++) {
        uint64_t l = strlen(n->entries[i]);
        memcpy(p, &l, 8);
        memcpy(p + 8, n->entries[i], l);
        p += 8 + l;
    }
    n->snapshots++;
    *data = buf;
    *len = size;
    return CORIO_OK;
}

static void app_snapshot_free(void *arg, void *data, size_t len)
{
    struct tnode *n = arg;
    (void)len;
    n->stored++;
    free(data);
}

static bool snapshot_stored(void *arg)
{
    return ((struct tnode *)arg)->stored > 0;
}

static int app_restore(void *arg, uint64_t index, const void *data, size_t len)
{
    struct tnode *n = arg;
    n->restores++;
    n->restored_index = index;
    if (n->keep_state && n->applied >= index)
        return CORIO_OK;
    const uint8_t *p = data;
    assert_true(len >= 16);
    uint64_t applied, count;
    memcpy(&applied, p, 8);
    memcpy(&count, p + 8, 8);
    assert_int_equal(applied, index);
    state_clear(n);
    p += 16;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t l;
        memcpy(&l, p, 8);
        push_entry(n, (const char *)p + 8, (size_t)l);
        p += 8 + l;
    }
    n->applied = index;
    return CORIO_OK;
}

static void node_init(struct tnode *n, uint64_t id, const struct t_node_cert *cert,
                      const char *const *cas, size_t ncas)
{
    memset(n, 0, sizeof *n);
    n->id = id;
    snprintf(n->address, sizeof n->address, "127.0.0.1:%d", h_free_port());
    n->dir = h_strf("%s/node%llu", h_dir(), (unsigned long long)id);
    for (size_t i = 0; i < ncas; i++)
        n->ca[i] = cas[i];
    n->opts = (struct corio_cons_opts){
        .id = id,
        .address = n->address,
        .dir = n->dir,
        .election_timeout_ms = 600,
        .heartbeat_ms = 60,
        .snapshot_threshold = 16,
        .snapshot_trailing = 4,
        .tls_cert = cert->cert,
        .tls_key = cert->key,
        .tls_ca = n->ca,
        .ntls_ca = ncas,
        .tls_verify_names = true,
        .tls_verify_ids = true,
    };
}

static void node_start(struct tnode *n)
{
    struct corio_cons_cbs cbs = {
        .arg = n,
        .apply = app_apply,
        .snapshot = app_snapshot,
        .snapshot_free = app_snapshot_free,
        .restore = app_restore,
    };
    char err[256] = "";
    int rc = corio_cons_new(&loop, &n->opts, &cbs, &n->c, err, sizeof err);
    if (rc != CORIO_OK)
        fail_msg("corio_cons_new: %s", err);
    rc = corio_cons_start(n->c, err, sizeof err);
    if (rc != CORIO_OK)
        fail_msg("corio_cons_start: %s", err);
    n->closed = false;
}

static void on_closed(void *arg)
{
    struct tnode *n = arg;
    n->closed = true;
}

static bool node_is_closed(void *arg)
{
    return ((struct tnode *)arg)->closed;
}

static void node_stop(struct tnode *n)
{
    if (!n->c)
        return;
    corio_cons_close(n->c, on_closed, n);
    assert_true(run_until(node_is_closed, n, 10000));
    corio_cons_free(n->c);
    n->c = NULL;
}

static void teardown_nodes(struct tnode *nodes, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        node_stop(&nodes[i]);
        state_clear(&nodes[i]);
    }
    uv_close((uv_handle_t *)&pump, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    /* Every handle the transport and raft opened is closed again. */
    assert_int_equal(uv_loop_close(&loop), 0);
}

struct group {
    struct tnode *nodes;
    size_t count;
};

static struct tnode *leader_of(struct tnode *nodes, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (nodes[i].c && corio_cons_is_leader(nodes[i].c))
            return &nodes[i];
    return NULL;
}

static bool has_leader(void *arg)
{
    struct group *g = arg;
    return leader_of(g->nodes, g->count) != NULL;
}

struct done_count {
    unsigned ok, failed;
};

static void on_done(void *arg, int status)
{
    struct done_count *d = arg;
    if (status == CORIO_OK)
        d->ok++;
    else
        d->failed++;
}

struct wait_done {
    struct done_count *d;
    unsigned want;
};

static bool done_reached(void *arg)
{
    struct wait_done *w = arg;
    return w->d->ok + w->d->failed >= w->want;
}

/* Proposes "<prefix><i>" for i in [from, to) on n and waits until all are answered. */
static void propose_range(struct tnode *n, const char *prefix, int from, int to)
{
    struct done_count d = {0, 0};
    for (int i = from; i < to; i++) {
        char buf[64];
        int len = snprintf(buf, sizeof buf, "%s%d", prefix, i);
        assert_int_equal(corio_cons_propose(n->c, buf, (size_t)len, on_done, &d), CORIO_OK);
    }
    struct wait_done w = {&d, (unsigned)(to - from)};
    assert_true(run_until(done_reached, &w, 20000));
    assert_int_equal(d.failed, 0);
}

struct wait_applied {
    struct tnode *n;
    size_t want;
};

static bool applied_reached(void *arg)
{
    struct wait_applied *w = arg;
    return w->n->n >= w->want;
}

static void expect_entries(struct tnode *n, const char *const *want, size_t count)
{
    struct wait_applied w = {n, count};
    if (!run_until(applied_reached, &w, 20000))
        fail_msg("node %llu applied %zu entries, want %zu", (unsigned long long)n->id, n->n, count);
    assert_int_equal(n->n, count);
    for (size_t i = 0; i < count; i++)
        assert_string_equal(n->entries[i], want[i]);
}

static const char **names(const char *prefix, int from, int to, const char **out, size_t at)
{
    for (int i = from; i < to; i++)
        out[at++] = h_strf("%s%d", prefix, i);
    return out;
}

/* ---- tests ---------------------------------------------------------------------------- */

/* One node is a cluster: it elects itself, applies in order, snapshots, and a restart
 * bootstraps nothing, restores the snapshot and replays the rest. */
static void single_node_restart_snapshot(void **state)
{
    (void)state;
    loop_setup();
    struct t_org org = t_org_new("org-a");
    assert_non_null(org.pki);
    struct t_node_cert cert;
    assert_int_equal(t_node_cert(&org, "node1", 1, &cert), 0);
    const char *cas[] = {org.pki->ca_cert};
    struct tnode nodes[1];
    node_init(&nodes[0], 1, &cert, cas, 1);
    struct tnode *n = &nodes[0];
    node_start(n);
    struct group g = {nodes, 1};
    assert_true(run_until(has_leader, &g, 10000));
    assert_int_equal(corio_cons_members(n->c, NULL, 0), 1);

    propose_range(n, "e", 0, 100);
    const char *want[200];
    names("e", 0, 100, want, 0);
    expect_entries(n, want, 100);
    assert_true(n->snapshots >= 1);
    assert_true(run_until(snapshot_stored, n, 10000)); /* snapshots are written in the background */
    struct corio_cons_info info;
    corio_cons_info(n->c, &info);
    assert_int_equal(info.role, CORIO_CONS_LEADER);
    assert_int_equal(info.leader_id, 1);
    assert_int_equal(info.last_applied, n->applied);
    uint64_t applied = n->applied;

    /* Restart with the state lost: the snapshot comes back through restore and the
     * entries after it are applied again, in order, with the same indexes. */
    node_stop(n);
    state_clear(n);
    n->restores = 0;
    node_start(n);
    assert_int_equal(n->restores, 1);
    assert_true(n->restored_index >= 16 && n->restored_index <= applied);
    assert_true(run_until(has_leader, &g, 10000));
    propose_range(n, "f", 0, 1);
    want[100] = "f0";
    expect_entries(n, want, 101);
    assert_true(n->applied > applied);

    /* Restart keeping the state (a persistent application): the snapshot and the
     * replayed entries are skipped, nothing is applied twice. */
    node_stop(n);
    n->keep_state = true;
    n->skipped = 0;
    node_start(n);
    assert_true(run_until(has_leader, &g, 10000));
    propose_range(n, "g", 0, 1);
    want[101] = "g0";
    expect_entries(n, want, 102);
    assert_true(n->skipped >= 1);
    teardown_nodes(nodes, 1);
}

/* Three organisations, a node each, over mutual TLS: one order everywhere; the leader
 * stops, the others go on; it comes back and catches up. */
static void three_nodes_failover(void **state)
{
    (void)state;
    loop_setup();
    struct t_org orgs[3] = {t_org_new("org-a"), t_org_new("org-b"), t_org_new("org-c")};
    struct t_node_cert certs[3];
    const char *cas[3];
    for (int i = 0; i < 3; i++) {
        assert_non_null(orgs[i].pki);
        assert_int_equal(t_node_cert(&orgs[i], h_strf("node%d", i + 1), (uint64_t)i + 1, &certs[i]),
                         0);
        cas[i] = orgs[i].pki->ca_cert;
    }
    struct tnode nodes[3];
    struct corio_cons_member boot[3];
    for (int i = 0; i < 3; i++) {
        node_init(&nodes[i], (uint64_t)i + 1, &certs[i], cas, 3);
        boot[i].id = (uint64_t)i + 1;
        snprintf(boot[i].address, sizeof boot[i].address, "%s", nodes[i].address);
        boot[i].voter = true;
    }
    for (int i = 0; i < 3; i++) {
        nodes[i].opts.bootstrap = boot;
        nodes[i].opts.nbootstrap = 3;
        node_start(&nodes[i]);
    }
    struct group g = {nodes, 3};
    assert_true(run_until(has_leader, &g, 20000));
    struct tnode *l = leader_of(nodes, 3);
    struct done_count none = {0, 0};
    for (int i = 0; i < 3; i++)
        if (&nodes[i] != l)
            assert_int_equal(corio_cons_propose(nodes[i].c, "x", 1, on_done, &none),
                             CORIO_ERR_STATE);
    struct corio_cons_member m[4];
    assert_int_equal(corio_cons_members(l->c, m, 4), 3);

    propose_range(l, "a", 0, 30);
    const char *want[100];
    names("a", 0, 30, want, 0);
    for (int i = 0; i < 3; i++)
        expect_entries(&nodes[i], want, 30);

    /* The leader goes away; the two others elect one of them and go on. */
    struct tnode *old = l;
    node_stop(old);
    state_clear(old);
    assert_true(run_until(has_leader, &g, 20000));
    l = leader_of(nodes, 3);
    assert_true(l != old);
    propose_range(l, "b", 0, 20);
    names("b", 0, 20, want, 30);
    for (int i = 0; i < 3; i++)
        if (&nodes[i] != old)
            expect_entries(&nodes[i], want, 50);

    /* It comes back with its state lost and catches up (log and snapshot). */
    node_start(old);
    expect_entries(old, want, 50);
    struct corio_cons_net_stats ns;
    corio_cons_net_stats(l->c, &ns);
    assert_true(ns.connected > 0);
    assert_true(ns.accepted > 0);
    teardown_nodes(nodes, 3);
}

/* Node 3 has a certificate from a CA that nodes 1 and 2 do not trust: 1 and 2 form a
 * cluster and commit, node 3 never receives anything and its handshakes are refused. */
static void unknown_ca_cannot_join(void **state)
{
    (void)state;
    loop_setup();
    struct t_org a = t_org_new("org-a"), b = t_org_new("org-b"), x = t_org_new("intruder");
    assert_non_null(a.pki);
    assert_non_null(b.pki);
    assert_non_null(x.pki);
    struct t_node_cert certs[3];
    assert_int_equal(t_node_cert(&a, "node1", 1, &certs[0]), 0);
    assert_int_equal(t_node_cert(&b, "node2", 2, &certs[1]), 0);
    assert_int_equal(t_node_cert(&x, "node3", 3, &certs[2]), 0);
    const char *trusted[2] = {a.pki->ca_cert, b.pki->ca_cert};
    const char *all[3] = {a.pki->ca_cert, b.pki->ca_cert, x.pki->ca_cert};
    struct tnode nodes[3];
    node_init(&nodes[0], 1, &certs[0], trusted, 2);
    node_init(&nodes[1], 2, &certs[1], trusted, 2);
    node_init(&nodes[2], 3, &certs[2], all, 3);
    struct corio_cons_member boot[3];
    for (int i = 0; i < 3; i++) {
        boot[i].id = (uint64_t)i + 1;
        snprintf(boot[i].address, sizeof boot[i].address, "%s", nodes[i].address);
        boot[i].voter = true;
    }
    for (int i = 0; i < 3; i++) {
        nodes[i].opts.bootstrap = boot;
        nodes[i].opts.nbootstrap = 3;
        node_start(&nodes[i]);
    }
    struct group g = {nodes, 2}; /* only 1 and 2 can lead */
    assert_true(run_until(has_leader, &g, 20000));
    struct tnode *l = leader_of(nodes, 2);
    propose_range(l, "c", 0, 10);
    const char *want[10];
    names("c", 0, 10, want, 0);
    expect_entries(&nodes[0], want, 10);
    expect_entries(&nodes[1], want, 10);
    run_for(1500); /* a window in which node 3 would have caught up */
    assert_int_equal(nodes[2].n, 0);
    assert_false(corio_cons_is_leader(nodes[2].c));
    struct corio_cons_net_stats s1, s2, s3;
    corio_cons_net_stats(nodes[0].c, &s1);
    corio_cons_net_stats(nodes[1].c, &s2);
    corio_cons_net_stats(nodes[2].c, &s3);
    assert_true(s1.handshake_failed + s2.handshake_failed > 0);
    /* Node 3 never completes a connection as a server (the others refuse its
     * certificate before they finish). As a client it may believe it connected: in TLS
     * 1.3 the client is done before the server has judged the client's certificate, and
     * the server then hangs up. */
    assert_int_equal(s3.accepted, 0);
    teardown_nodes(nodes, 3);
}

/* Node 3's certificate is from a trusted CA but names another host than its raft
 * address: with name checks, the others neither dial it nor accept its hello. */
static void wrong_name_cannot_join(void **state)
{
    (void)state;
    loop_setup();
    struct t_org a = t_org_new("org-a"), b = t_org_new("org-b"), c = t_org_new("org-c");
    assert_non_null(a.pki);
    assert_non_null(b.pki);
    assert_non_null(c.pki);
    struct t_node_cert certs[3];
    assert_int_equal(t_node_cert(&a, "node1", 1, &certs[0]), 0);
    assert_int_equal(t_node_cert(&b, "node2", 2, &certs[1]), 0);
    assert_int_equal(
        t_node_cert_san(&c, "node3", "IP:127.0.0.2,URI:urn:corio:ledger:node:3", &certs[2]), 0);
    const char *cas[3] = {a.pki->ca_cert, b.pki->ca_cert, c.pki->ca_cert};
    struct tnode nodes[3];
    struct corio_cons_member boot[3];
    for (int i = 0; i < 3; i++) {
        node_init(&nodes[i], (uint64_t)i + 1, &certs[i], cas, 3);
        boot[i].id = (uint64_t)i + 1;
        snprintf(boot[i].address, sizeof boot[i].address, "%s", nodes[i].address);
        boot[i].voter = true;
    }
    for (int i = 0; i < 3; i++) {
        nodes[i].opts.bootstrap = boot;
        nodes[i].opts.nbootstrap = 3;
        node_start(&nodes[i]);
    }
    struct group g = {nodes, 2};
    assert_true(run_until(has_leader, &g, 20000));
    propose_range(leader_of(nodes, 2), "w", 0, 5);
    const char *want[5];
    names("w", 0, 5, want, 0);
    expect_entries(&nodes[0], want, 5);
    expect_entries(&nodes[1], want, 5);
    run_for(1500);
    assert_int_equal(nodes[2].n, 0);
    struct corio_cons_net_stats s1, s2;
    corio_cons_net_stats(nodes[0].c, &s1);
    corio_cons_net_stats(nodes[1].c, &s2);
    assert_true(s1.handshake_failed + s2.handshake_failed > 0);
    assert_true(s1.refused_hello + s2.refused_hello > 0);
    teardown_nodes(nodes, 3);
}

/* Node 3's certificate, from a trusted CA, names node 1's id: the others refuse its
 * hello (it claims id 3) and refuse it as the server they dial for id 3. A node whose
 * own certificate does not name its id does not start. */
static void wrong_id_cannot_join(void **state)
{
    (void)state;
    loop_setup();
    struct t_org a = t_org_new("org-a"), b = t_org_new("org-b"), c = t_org_new("org-c");
    assert_non_null(a.pki);
    assert_non_null(b.pki);
    assert_non_null(c.pki);
    struct t_node_cert certs[3], none;
    assert_int_equal(t_node_cert(&a, "node1", 1, &certs[0]), 0);
    assert_int_equal(t_node_cert(&b, "node2", 2, &certs[1]), 0);
    assert_int_equal(t_node_cert(&c, "node3", 1, &certs[2]), 0);
    assert_int_equal(t_node_cert_san(&c, "plain", "IP:127.0.0.1", &none), 0);
    const char *cas[3] = {a.pki->ca_cert, b.pki->ca_cert, c.pki->ca_cert};

    struct tnode lone;
    node_init(&lone, 4, &none, cas, 3);
    struct corio_cons_cbs cbs = {.arg = &lone,
                                 .apply = app_apply,
                                 .snapshot = app_snapshot,
                                 .snapshot_free = app_snapshot_free,
                                 .restore = app_restore};
    char err[256] = "";
    struct corio_cons *cons = NULL;
    assert_int_equal(corio_cons_new(&loop, &lone.opts, &cbs, &cons, err, sizeof err), CORIO_ERR_IO);
    assert_null(cons);
    assert_non_null(strstr(err, "does not name its id 4"));

    struct tnode nodes[3];
    struct corio_cons_member boot[3];
    for (int i = 0; i < 3; i++) {
        node_init(&nodes[i], (uint64_t)i + 1, &certs[i], cas, 3);
        boot[i].id = (uint64_t)i + 1;
        snprintf(boot[i].address, sizeof boot[i].address, "%s", nodes[i].address);
        boot[i].voter = true;
    }
    /* Node 3 itself does not check (a dishonest node would not). */
    nodes[2].opts.tls_verify_ids = false;
    for (int i = 0; i < 3; i++) {
        nodes[i].opts.bootstrap = boot;
        nodes[i].opts.nbootstrap = 3;
        node_start(&nodes[i]);
    }
    struct group g = {nodes, 2};
    assert_true(run_until(has_leader, &g, 20000));
    propose_range(leader_of(nodes, 2), "i", 0, 5);
    const char *want[5];
    names("i", 0, 5, want, 0);
    expect_entries(&nodes[0], want, 5);
    expect_entries(&nodes[1], want, 5);
    run_for(1500);
    assert_int_equal(nodes[2].n, 0);
    struct corio_cons_net_stats s1, s2;
    corio_cons_net_stats(nodes[0].c, &s1);
    corio_cons_net_stats(nodes[1].c, &s2);
    assert_true(s1.handshake_failed + s2.handshake_failed > 0);
    assert_true(s1.refused_hello + s2.refused_hello > 0);
    teardown_nodes(nodes, 3);
}

struct change_wait {
    int status;
    bool done;
};

static void on_change(void *arg, int status)
{
    struct change_wait *w = arg;
    w->status = status;
    w->done = true;
}

static bool change_done(void *arg)
{
    return ((struct change_wait *)arg)->done;
}

/* A node not in the bootstrap configuration waits; the leader adds it, promotes it,
 * it catches up; then the leader removes it. */
static void add_and_remove_member(void **state)
{
    (void)state;
    loop_setup();
    struct t_org a = t_org_new("org-a"), b = t_org_new("org-b");
    struct t_node_cert certs[2];
    assert_int_equal(t_node_cert(&a, "node1", 1, &certs[0]), 0);
    assert_int_equal(t_node_cert(&b, "node2", 2, &certs[1]), 0);
    const char *cas[2] = {a.pki->ca_cert, b.pki->ca_cert};
    struct tnode nodes[2];
    node_init(&nodes[0], 1, &certs[0], cas, 2);
    node_init(&nodes[1], 2, &certs[1], cas, 2);
    struct corio_cons_member boot[1] = {{.id = 1, .voter = true}};
    snprintf(boot[0].address, sizeof boot[0].address, "%s", nodes[0].address);
    nodes[0].opts.bootstrap = boot;
    nodes[0].opts.nbootstrap = 1;
    nodes[1].opts.bootstrap = boot; /* not a founding member: it waits */
    nodes[1].opts.nbootstrap = 1;
    node_start(&nodes[0]);
    node_start(&nodes[1]);
    struct group g = {nodes, 2};
    assert_true(run_until(has_leader, &g, 10000));
    assert_true(corio_cons_is_leader(nodes[0].c));
    propose_range(&nodes[0], "d", 0, 5);
    assert_int_equal(nodes[1].n, 0);

    struct change_wait w = {0, false};
    assert_int_equal(corio_cons_add(nodes[0].c, 2, nodes[1].address, on_change, &w), CORIO_OK);
    /* One change at a time. */
    assert_int_equal(corio_cons_remove(nodes[0].c, 2, on_change, &w), CORIO_ERR_STATE);
    assert_true(run_until(change_done, &w, 10000));
    assert_int_equal(w.status, CORIO_OK);
    w.done = false;
    assert_int_equal(corio_cons_promote(nodes[0].c, 2, on_change, &w), CORIO_OK);
    assert_true(run_until(change_done, &w, 20000));
    assert_int_equal(w.status, CORIO_OK);
    struct corio_cons_member m[4];
    assert_int_equal(corio_cons_members(nodes[0].c, m, 4), 2);
    assert_true(m[0].voter && m[1].voter);

    propose_range(&nodes[0], "d", 5, 10);
    const char *want[10];
    names("d", 0, 10, want, 0);
    expect_entries(&nodes[1], want, 10);

    w.done = false;
    assert_int_equal(corio_cons_remove(nodes[0].c, 2, on_change, &w), CORIO_OK);
    assert_true(run_until(change_done, &w, 10000));
    assert_int_equal(w.status, CORIO_OK);
    assert_int_equal(corio_cons_members(nodes[0].c, m, 4), 1);
    assert_int_equal(m[0].id, 1);
    teardown_nodes(nodes, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(single_node_restart_snapshot), H_TEST(three_nodes_failover),
        H_TEST(unknown_ca_cannot_join),       H_TEST(wrong_name_cannot_join),
        H_TEST(wrong_id_cannot_join),         H_TEST(add_and_remove_member),
    };
    return h_done(cmocka_run_group_tests(tests, NULL, NULL));
}
