/*
 * nats.c - nats-server 2.9 for a test (harness.h, "nats-server"): one node or a
 * cluster on loopback, JetStream on every node, optional MQTT and TLS; killing a
 * node and bringing it back, and knowing when the cluster is whole again. With auth,
 * the client certificates name users whose permissions the configuration gives.
 *
 * "Whole" is read from each node's monitoring port: /routez must list a route to
 * every other running node and /healthz must answer 200, which nats-server 2.9
 * does only once JetStream is current with the meta leader.
 */
#include "harness_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NATS_SERVER "/usr/sbin/nats-server"

/* The client port's TLS, also the MQTT listener's with mqtt_tls. */
static void tls_block(FILE *f, const struct h_nats_opts *o, const char *indent)
{
    fprintf(f, "%stls {\n%s  cert_file: \"%s\"\n%s  key_file: \"%s\"\n", indent, indent,
            o->certfile, indent, o->keyfile);
    if (o->cafile)
        fprintf(f, "%s  ca_file: \"%s\"\n", indent, o->cafile);
    if (o->verify)
        fprintf(f, "%s  %s: true\n", indent, o->auth ? "verify_and_map" : "verify");
    fprintf(f, "%s}\n", indent);
}

static char *config_text(const struct h_nats *n, const struct h_nats_opts *o, int i)
{
    const struct h_nats_node *nd = &n->node[i];
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    fprintf(f, "# Written by the Corio test harness (tests/harness/nats.c).\n");
    fprintf(f, "server_name: %s\n", nd->name);
    fprintf(f, "listen: 127.0.0.1:%d\n", nd->port);
    fprintf(f, "http: 127.0.0.1:%d\n", nd->http_port);
    fprintf(f,
            "jetstream {\n  store_dir: \"%s/js\"\n  max_memory_store: 256MB\n"
            "  max_file_store: 1GB\n}\n",
            nd->dir);
    if (n->nodes > 1) {
        fprintf(f, "cluster {\n  name: corio-test\n  listen: 127.0.0.1:%d\n  routes: [\n",
                nd->cluster_port);
        for (int j = 0; j < n->nodes; j++)
            if (j != i)
                fprintf(f, "    nats-route://127.0.0.1:%d\n", n->node[j].cluster_port);
        fprintf(f, "  ]\n}\n");
    }
    bool tls = o->certfile && o->keyfile;
    if (o->mqtt) {
        fprintf(f, "mqtt {\n  listen: 127.0.0.1:%d\n", nd->mqtt_port);
        if (tls && o->mqtt_tls)
            tls_block(f, o, "  ");
        fprintf(f, "}\n");
    }
    if (tls)
        tls_block(f, o, "");
    if (o->auth)
        fprintf(f, "include auth.conf\n");
    if (o->extra)
        fprintf(f, "%s\n", o->extra);
    fclose(f);
    return buf;
}

static void pick_ports(struct h_nats *n, const struct h_nats_opts *o)
{
    for (int i = 0; i < n->nodes; i++) {
        struct h_nats_node *nd = &n->node[i];
        nd->port = h_free_port();
        nd->http_port = h_free_port();
        nd->cluster_port = n->nodes > 1 ? h_free_port() : 0;
        nd->mqtt_port = o->mqtt ? h_free_port() : 0;
    }
    char *url = NULL;
    for (int i = 0; i < n->nodes; i++) {
        char *next = h__xasprintf("%s%snats://127.0.0.1:%d", url ? url : "", url ? "," : "",
                                  n->node[i].port);
        free(url);
        url = next;
    }
    n->url = h__scoped(url);
}

static int write_configs(struct h_nats *n, const struct h_nats_opts *o)
{
    for (int i = 0; i < n->nodes; i++) {
        char *text = config_text(n, o, i);
        int rc = text ? h_write_file(n->node[i].conf, text) : CORIO_ERR_IO;
        free(text);
        /* nats-server takes an include's path relative to the including file. */
        if (rc == CORIO_OK && o->auth)
            rc = h_write_file(h_strf("%s/auth.conf", n->node[i].dir), o->auth);
        if (rc != CORIO_OK)
            return rc;
    }
    return CORIO_OK;
}

/* The number after "key": in a JSON text, or -1. Enough for /routez. */
static long json_number(const char *json, const char *key)
{
    char *pat = h__xasprintf("\"%s\":", key);
    const char *p = json ? strstr(json, pat) : NULL;
    long v = -1;
    if (p) {
        p += strlen(pat);
        while (*p == ' ')
            p++;
        char *end;
        v = strtol(p, &end, 10);
        if (end == p)
            v = -1;
    }
    free(pat);
    return v;
}

struct ready_check {
    struct h_nats *n;
    int dead; /* index of a node that died, or -1 */
};

static bool cluster_whole(void *arg)
{
    struct ready_check *c = arg;
    struct h_nats *n = c->n;
    int running = 0;
    for (int i = 0; i < n->nodes; i++) {
        if (!n->node[i].proc || !h_proc_pid(n->node[i].proc))
            continue;
        if (!h_proc_alive(n->node[i].proc)) {
            c->dead = i;
            return true;
        }
        running++;
    }
    for (int i = 0; i < n->nodes; i++) {
        struct h_nats_node *nd = &n->node[i];
        if (!h_proc_pid(nd->proc))
            continue;
        char url[64];
        struct h_http_resp r;
        struct h_http_req q = {.url = url, .timeout_ms = 2000};
        if (n->nodes > 1) {
            snprintf(url, sizeof url, "http://127.0.0.1:%d/routez", nd->http_port);
            bool ok = h__http(&q, &r) == CORIO_OK && r.status == 200 &&
                      json_number(r.body, "num_routes") >= running - 1;
            free(r.body);
            if (!ok)
                return false;
        }
        snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", nd->http_port);
        bool ok = h__http(&q, &r) == CORIO_OK && r.status == 200;
        free(r.body);
        if (!ok)
            return false;
    }
    return true;
}

int h_nats_wait_ready(struct h_nats *n, int timeout_ms)
{
    if (!n)
        return CORIO_ERR_INVAL;
    struct ready_check c = {n, -1};
    int rc = h_wait_until(cluster_whole, &c, timeout_ms);
    if (c.dead >= 0) {
        struct h_proc *p = n->node[c.dead].proc;
        h__msg("nats %s exited while the cluster formed; its log %s ends:", n->node[c.dead].name,
               h_proc_log(p));
        h__tail_to_stderr(h_proc_log(p), 15);
        return CORIO_ERR_CLOSED;
    }
    if (rc != CORIO_OK)
        h__msg("nats: the cluster was not whole and healthy within %d ms", h_ms(timeout_ms));
    return rc;
}

static int start_node(struct h_nats *n, int i)
{
    struct h_nats_node *nd = &n->node[i];
    if (nd->proc)
        return h_proc_restart(nd->proc);
    const char *argv[] = {NATS_SERVER, "-c", nd->conf, NULL};
    /* nats-server 2.9 exits 1 after a clean shutdown on SIGTERM. */
    struct h_proc_opts po = {.clean_status = 1};
    nd->proc = h_proc_start(h_strf("nats-%s", nd->name), argv, &po);
    return nd->proc ? CORIO_OK : CORIO_ERR_IO;
}

struct h_nats *h_nats_start(const struct h_nats_opts *opts)
{
    static const struct h_nats_opts none;
    if (!opts)
        opts = &none;
    if (opts->nodes < 0 || opts->nodes > H_NATS_MAX_NODES) {
        h__msg("h_nats_start: %d nodes", opts->nodes);
        return NULL;
    }
    struct h_nats *n = h__scoped(h__xcalloc(1, sizeof *n));
    n->nodes = opts->nodes > 1 ? opts->nodes : 1;
    for (int i = 0; i < n->nodes; i++) {
        n->node[i].name = h_strf("n%d", i);
        n->node[i].dir = h_mkdir(h_strf("nats-n%d", i));
        n->node[i].conf = h_strf("%s/nats.conf", n->node[i].dir);
    }
    for (int attempt = 0; attempt < 3; attempt++) {
        pick_ports(n, opts);
        if (write_configs(n, opts) != CORIO_OK)
            return NULL;
        int rc = CORIO_OK;
        for (int i = 0; i < n->nodes && rc == CORIO_OK; i++)
            rc = start_node(n, i);
        if (rc == CORIO_OK)
            rc = h_nats_wait_ready(n, 30000);
        if (rc == CORIO_OK)
            return n;
        bool busy = false;
        for (int i = 0; i < n->nodes; i++) {
            struct h_proc *p = n->node[i].proc;
            if (p && !h_proc_alive(p) && h_proc_log_contains(p, "address already in use"))
                busy = true;
        }
        for (int i = 0; i < n->nodes; i++)
            if (n->node[i].proc)
                h_proc_stop(n->node[i].proc);
        if (!busy)
            return NULL;
        h__msg("nats: a port was taken meanwhile; trying other ports");
    }
    return NULL;
}

static struct h_nats_node *node_at(struct h_nats *n, int i)
{
    if (!n || i < 0 || i >= n->nodes || !n->node[i].proc) {
        h__msg("nats: no node %d", i);
        return NULL;
    }
    return &n->node[i];
}

int h_nats_kill_node(struct h_nats *n, int i)
{
    struct h_nats_node *nd = node_at(n, i);
    return nd ? h_proc_kill(nd->proc) : CORIO_ERR_INVAL;
}

int h_nats_stop_node(struct h_nats *n, int i)
{
    struct h_nats_node *nd = node_at(n, i);
    return nd ? h_proc_stop(nd->proc) : CORIO_ERR_INVAL;
}

int h_nats_restart_node(struct h_nats *n, int i)
{
    struct h_nats_node *nd = node_at(n, i);
    if (!nd)
        return CORIO_ERR_INVAL;
    int rc = h_proc_restart(nd->proc);
    if (rc == CORIO_OK)
        rc = h_proc_wait_port(nd->proc, nd->port, 10000);
    return rc == CORIO_OK ? h_nats_wait_ready(n, 30000) : rc;
}

int h_nats_stop(struct h_nats *n)
{
    if (!n)
        return CORIO_ERR_INVAL;
    int rc = CORIO_OK;
    for (int i = 0; i < n->nodes; i++) {
        if (!n->node[i].proc)
            continue;
        int st = h_proc_stop(n->node[i].proc);
        if (st != 1 && st != 0)
            rc = CORIO_ERR_STATE;
    }
    return rc;
}
