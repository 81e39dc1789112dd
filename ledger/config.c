/*
 * config.c - corio-ledger's configuration keys, their translation into engine options,
 * the choice of application (the contracts by default), and the daemon's main: parse,
 * start the node, wait for SIGTERM/SIGINT, stop.
 */
#include "ledger_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contracts.h"
#include "corio/error.h"
#include "corio_cli.h"
#include "corio_log.h"
#include "corio_sig.h"

static const char *const app_choices[] = {"contracts", "null", NULL};

const struct corio_conf_key corio_ledger_conf_keys[] = {
    CORIO_LOG_CONF_KEY,
    {.name = "app",
     .type = CORIO_CONF_STRING,
     .def = "contracts",
     .choices = app_choices,
     .help = "The application: 'contracts' (the built-in contracts, docs/ledger-contracts.md) "
             "or 'null' (the engine's test application)."},
    {.name = "genesis_id",
     .type = CORIO_CONF_STRING,
     .help = "With app contracts: the id (64 hex digits) of the genesis transaction the "
             "operators agreed on; this node then refuses to propose any other genesis."},
    {.name = "empty_block_interval",
     .type = CORIO_CONF_DURATION,
     .def = "2s",
     .min = 0,
     .max = 3600000,
     .help = "The leader adds an empty block when nothing happened for this long, so "
             "heights (voting periods, expiries) advance while idle (once the ledger holds "
             "a transaction); 0: never."},
    {.name = "node_id",
     .type = CORIO_CONF_INT,
     .def = "1",
     .min = 1,
     .max = INT64_MAX,
     .help = "This node's consensus id: unique among the members, never reused."},
    {.name = "raft_address",
     .type = CORIO_CONF_STRING,
     .def = "127.0.0.1:7400",
     .help = "host:port other nodes reach this node's consensus on (mutual TLS)."},
    {.name = "raft_bind",
     .type = CORIO_CONF_STRING,
     .help = "ip:port to listen on for consensus, when it differs from raft_address."},
    {.name = "data_dir",
     .type = CORIO_CONF_PATH,
     .def = "data",
     .help = "Directory of the consensus log (raft/) and the ledger database (ledger.db)."},
    {.name = "listen",
     .type = CORIO_CONF_STRING,
     .def = "127.0.0.1:8400",
     .help = "ip:port of the HTTP API (port 0: any free port)."},
    {.name = "member",
     .type = CORIO_CONF_STRING,
     .flags = CORIO_CONF_LIST,
     .help = "A founding member: 'id host:port http://host:port' (consensus id, raft "
             "address, API URL); list them all, this node included, the same on every node. "
             "None: this node alone."},
    {.name = "tls_cert",
     .type = CORIO_CONF_PATH,
     .help = "This node's certificate (PEM, from its organisation's CA; serverAuth and "
             "clientAuth). Required with more than one member."},
    {.name = "tls_key", .type = CORIO_CONF_PATH, .help = "The key of tls_cert (PEM)."},
    {.name = "tls_ca",
     .type = CORIO_CONF_PATH,
     .flags = CORIO_CONF_LIST,
     .help = "A trusted organisation CA (PEM); one line per organisation."},
    {.name = "tls_verify_names",
     .type = CORIO_CONF_BOOL,
     .def = "true",
     .help = "Check that peers' certificates name the host of their raft address."},
    {.name = "tls_verify_node_ids",
     .type = CORIO_CONF_BOOL,
     .def = "true",
     .help = "Check that every node's certificate names its consensus id (a URI "
             "subjectAltName urn:corio:ledger:node:<id>), so no node can claim another's id."},
    {.name = "sign_key",
     .type = CORIO_CONF_PATH,
     .help = "Key that signs tree heads (PEM, P-256). Default: tls_key, else "
             "<data_dir>/sign.key, made on first start."},
    {.name = "election_timeout",
     .type = CORIO_CONF_DURATION,
     .def = "1s",
     .min = 100,
     .max = 60000,
     .help = "Consensus election timeout (randomised up to twice this)."},
    {.name = "heartbeat",
     .type = CORIO_CONF_DURATION,
     .def = "100ms",
     .min = 10,
     .max = 10000,
     .help = "Leader heartbeat interval; below election_timeout."},
    {.name = "snapshot_threshold",
     .type = CORIO_CONF_INT,
     .def = "1024",
     .min = 16,
     .max = 100000000,
     .help = "Log entries between two snapshots of the database."},
    {.name = "snapshot_trailing",
     .type = CORIO_CONF_INT,
     .def = "128",
     .min = 4,
     .max = 100000000,
     .help = "Log entries kept after a snapshot for lagging followers."},
    {.name = "block_max_txs",
     .type = CORIO_CONF_INT,
     .def = "1000",
     .min = 1,
     .max = 65536,
     .help = "Most transactions in one block."},
    {.name = "block_max_bytes",
     .type = CORIO_CONF_SIZE,
     .def = "4MiB",
     .min = 1 << 20,
     .max = 64 << 20,
     .help = "Most transaction bytes in one block."},
    {.name = "max_inflight",
     .type = CORIO_CONF_INT,
     .def = "4",
     .min = 1,
     .max = 64,
     .help = "Proposals the leader has in flight at once."},
    {.name = "queue_max",
     .type = CORIO_CONF_INT,
     .def = "100000",
     .min = 1,
     .max = 10000000,
     .help = "Submissions waiting for a proposal before new ones are turned away (503)."},
    {.name = "submit_timeout",
     .type = CORIO_CONF_DURATION,
     .def = "10s",
     .min = 100,
     .max = 600000,
     .help = "How long POST /api/v1/tx waits for its block."},
    {.name = "http_threads",
     .type = CORIO_CONF_INT,
     .def = "8",
     .min = 1,
     .max = 256,
     .help = "HTTP handler threads (a submission holds one while it waits)."},
    {.name = "max_body",
     .type = CORIO_CONF_SIZE,
     .def = "1025KiB",
     .min = 1024,
     .max = 64 << 20,
     .help = "Largest request body (a transaction is at most 1 MiB)."},
    {.name = "audit_interval",
     .type = CORIO_CONF_DURATION,
     .def = "5s",
     .min = 100,
     .max = 3600000,
     .help = "How often each peer's signed tree head is fetched and checked."},
    {.name = "membership_grace",
     .type = CORIO_CONF_DURATION,
     .def = "60s",
     .min = 1000,
     .max = 86400000,
     .help = "How long the consensus configuration may differ from the decided membership "
             "before the node halts."},
    {.name = "test_fault_alter_tx",
     .type = CORIO_CONF_BOOL,
     .def = "false",
     .help = "TEST ONLY: this node alters the first transaction of every block it applies, "
             "to show that its peers detect the fork. Never in production."},
    {0},
};

static int fail(char *err, size_t errlen, const struct corio_conf *c, const char *key, int line,
                const char *what)
{
    snprintf(err, errlen, "%s:%d: '%s' %s", corio_conf_name(c),
             line ? line : corio_conf_line(c, key), key, what);
    return CORIO_ERR_INVAL;
}

/* 64 hex digits (either case) into 32 bytes: 0 or -1. */
static int unhex32(const char *h, uint8_t out[32])
{
    for (int i = 0; i < 64; i++) {
        char c = h[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        if (i % 2 == 0)
            out[i / 2] = (uint8_t)(d << 4);
        else
            out[i / 2] |= (uint8_t)d;
    }
    return 0;
}

/* "id host:port [api]" */
static int parse_member(const char *v, struct corio_ledger_member *m)
{
    char addr[CORIO_LEDGER_ADDRESS_MAX + 2], api[CORIO_LEDGER_ADDRESS_MAX + 2];
    unsigned long long id;
    char extra;
    api[0] = 0;
    int n = sscanf(v, "%llu %256s %256s %c", &id, addr, api, &extra);
    if (n < 2 || n > 3 || id == 0 || strlen(addr) > CORIO_LEDGER_ADDRESS_MAX ||
        strlen(api) > CORIO_LEDGER_ADDRESS_MAX || !strchr(addr, ':'))
        return -1;
    if (api[0] && strncmp(api, "http://", 7) && strncmp(api, "https://", 8))
        return -1;
    size_t al = strlen(api);
    while (al && api[al - 1] == '/')
        api[--al] = 0;
    m->id = id;
    memcpy(m->address, addr, strlen(addr) + 1);
    memcpy(m->api, api, al + 1);
    return 0;
}

int corio_ledger_conf_opts(const struct corio_conf *c, struct corio_ledger_conf_storage *s,
                           struct corio_ledger_opts *o, char *err, size_t errlen)
{
    memset(o, 0, sizeof *o);
    memset(s, 0, sizeof *s);
    o->node_id = (uint64_t)corio_conf_int(c, "node_id");
    o->raft_address = corio_conf_str(c, "raft_address");
    o->raft_bind = corio_conf_str(c, "raft_bind");
    o->data_dir = corio_conf_str(c, "data_dir");
    if (!strchr(o->raft_address, ':'))
        return fail(err, errlen, c, "raft_address", 0, "must be host:port");

    const char *listen = corio_conf_str(c, "listen");
    const char *colon = strrchr(listen, ':');
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof s->http_address || !end ||
        *end || port < 0 || port > 65535)
        return fail(err, errlen, c, "listen", 0, "must be ip:port");
    memcpy(s->http_address, listen, (size_t)(colon - listen));
    o->http_address = s->http_address;
    o->http_port = (uint16_t)port;

    size_t nm = corio_conf_count(c, "member");
    if (nm > CORIO_LEDGER_MAX_PEERS)
        return fail(err, errlen, c, "member", 0, "is given too often (at most 16 members)");
    bool self = nm == 0;
    for (size_t i = 0; i < nm; i++) {
        if (parse_member(corio_conf_str_at(c, "member", i), &s->members[i]) != 0)
            return fail(err, errlen, c, "member", 0,
                        "wants 'id host:port http://host:port' (an id above 0)");
        for (size_t j = 0; j < i; j++)
            if (s->members[j].id == s->members[i].id ||
                !strcmp(s->members[j].address, s->members[i].address))
                return fail(err, errlen, c, "member", 0, "lists a member twice");
        if (s->members[i].id == o->node_id) {
            self = true;
            if (strcmp(s->members[i].address, o->raft_address) != 0)
                return fail(err, errlen, c, "member", 0,
                            "gives this node another address than raft_address");
        }
    }
    o->members = s->members;
    o->nmembers = nm;
    (void)self; /* a node not among the founders waits to be added */

    o->tls_cert = corio_conf_str(c, "tls_cert");
    o->tls_key = corio_conf_str(c, "tls_key");
    o->ntls_ca = corio_conf_count(c, "tls_ca");
    if (o->ntls_ca > sizeof s->ca / sizeof s->ca[0])
        return fail(err, errlen, c, "tls_ca", 0, "is given too often (at most 16 CAs)");
    for (size_t i = 0; i < o->ntls_ca; i++)
        s->ca[i] = corio_conf_str_at(c, "tls_ca", i);
    o->tls_ca = s->ca;
    bool any = o->tls_cert || o->tls_key || o->ntls_ca;
    if (any && (!o->tls_cert || !o->tls_key || !o->ntls_ca))
        return fail(err, errlen, c, o->tls_cert ? (o->tls_key ? "tls_ca" : "tls_key") : "tls_cert",
                    0, "is missing: tls_cert, tls_key and tls_ca go together");
    if (!any && nm > 1)
        return fail(err, errlen, c, "member", 0,
                    "lists several members: set tls_cert, tls_key and tls_ca");
    o->tls_verify_names = corio_conf_bool(c, "tls_verify_names");
    o->sign_key = corio_conf_str(c, "sign_key");

    o->election_timeout_ms = (unsigned)corio_conf_int(c, "election_timeout");
    o->heartbeat_ms = (unsigned)corio_conf_int(c, "heartbeat");
    if (o->heartbeat_ms >= o->election_timeout_ms)
        return fail(err, errlen, c, "heartbeat", 0, "must be below election_timeout");
    o->snapshot_threshold = (unsigned)corio_conf_int(c, "snapshot_threshold");
    o->snapshot_trailing = (unsigned)corio_conf_int(c, "snapshot_trailing");
    o->block_max_txs = (size_t)corio_conf_int(c, "block_max_txs");
    o->block_max_bytes = (size_t)corio_conf_int(c, "block_max_bytes");
    o->max_inflight = (unsigned)corio_conf_int(c, "max_inflight");
    o->queue_max = (size_t)corio_conf_int(c, "queue_max");
    o->submit_timeout_ms = (unsigned)corio_conf_int(c, "submit_timeout");
    o->http_threads = (unsigned)corio_conf_int(c, "http_threads");
    o->max_body = (size_t)corio_conf_int(c, "max_body");
    o->audit_interval_ms = (unsigned)corio_conf_int(c, "audit_interval");
    o->membership_grace_ms = (unsigned)corio_conf_int(c, "membership_grace");
    o->fault_alter_tx = corio_conf_bool(c, "test_fault_alter_tx");
    int64_t empty = corio_conf_int(c, "empty_block_interval");
    if (empty > 0 && empty < 100)
        return fail(err, errlen, c, "empty_block_interval", 0, "must be 0 or at least 100ms");
    o->empty_block_ms = (unsigned)empty;
    o->tls_verify_ids = corio_conf_bool(c, "tls_verify_node_ids");

    s->null_app = !strcmp(corio_conf_str(c, "app"), "null");
    const char *g = corio_conf_str(c, "genesis_id");
    if (g) {
        if (s->null_app)
            return fail(err, errlen, c, "genesis_id", 0, "only applies to app contracts");
        if (strlen(g) != 64 || unhex32(g, s->genesis) != 0)
            return fail(err, errlen, c, "genesis_id", 0,
                        "must be the genesis transaction's id: 64 hex digits");
        s->pin_genesis = true;
    }
    return CORIO_OK;
}

const struct corio_ledger_app *corio_ledger_conf_app(const struct corio_ledger_conf_storage *s,
                                                     struct corio_ledger_app **owned)
{
    *owned = NULL;
    if (s->null_app)
        return corio_ledger_null_app();
    struct corio_contracts_opts co = {.pin_genesis = s->pin_genesis};
    memcpy(co.genesis, s->genesis, sizeof co.genesis);
    *owned = corio_contracts_app_new(&co);
    return *owned;
}

static bool is_loopback_listen(const char *ip)
{
    return !strncmp(ip, "127.", 4) || !strcmp(ip, "::1") || !strcmp(ip, "[::1]") ||
           !strcmp(ip, "localhost");
}

int corio_ledger_main(int argc, char **argv)
{
    struct corio_cli cli = {
        .prog = "corio-ledger",
        .version = CORIO_VERSION_STRING,
        .summary = "A Corio ledger node: Raft-ordered blocks over mutual TLS, an RFC 9162 "
                   "verifiable log, signed tree heads, the built-in contracts and an HTTP "
                   "API (docs/ledger.md, docs/ledger-contracts.md).",
        .keys = corio_ledger_conf_keys,
    };
    struct corio_conf *conf;
    int rc = corio_cli_start(&cli, argc, argv, &conf);
    if (rc != CORIO_CLI_RUN)
        return rc;
    corio_log_set_comp("ledger");
    corio_log_set_level(corio_log_level_parse(corio_conf_str(conf, "log_level")));

    struct corio_ledger_conf_storage storage;
    struct corio_ledger_opts opts;
    char err[512] = "";
    if (corio_ledger_conf_opts(conf, &storage, &opts, err, sizeof err) != CORIO_OK) {
        fprintf(stderr, "corio-ledger: %s\n", err);
        corio_conf_free(conf);
        return 1;
    }
    if (opts.fault_alter_tx)
        corio_log(CORIO_LOG_WARN, "test_fault_alter_tx is on: this node will fork on purpose");
    struct corio_ledger_app *owned = NULL;
    opts.app = corio_ledger_conf_app(&storage, &owned);
    if (!opts.app) {
        fprintf(stderr, "corio-ledger: out of memory\n");
        corio_conf_free(conf);
        return 1;
    }
    if (!is_loopback_listen(storage.http_address))
        corio_logkv(CORIO_LOG_WARN,
                    "the HTTP API is plain HTTP: serve it to others only through a TLS proxy",
                    "listen=%s", storage.http_address);
    if (corio_sig_init() != CORIO_OK) {
        fprintf(stderr, "corio-ledger: cannot install signal handlers\n");
        corio_contracts_app_free(owned);
        corio_conf_free(conf);
        return 1;
    }
    struct corio_ledger *l = NULL;
    rc = corio_ledger_new(&opts, &l, err, sizeof err);
    if (rc == CORIO_OK)
        rc = corio_ledger_start(l, err, sizeof err);
    if (rc != CORIO_OK) {
        corio_logkv(CORIO_LOG_ERROR, "cannot start", "error=%s", err);
        corio_ledger_free(l);
        corio_contracts_app_free(owned);
        corio_conf_free(conf);
        return 1;
    }
    corio_logkv(CORIO_LOG_INFO, "ready", "node=%llu http_port=%u", (unsigned long long)opts.node_id,
                (unsigned)corio_ledger_http_port(l));
    corio_sig_wait(-1);
    corio_logkv(CORIO_LOG_INFO, "stopping", "signal=%d", corio_sig_last());
    corio_ledger_free(l);
    corio_contracts_app_free(owned);
    corio_conf_free(conf);
    corio_log(CORIO_LOG_INFO, "stopped");
    return 0;
}
