/*
 * consensus_raft.c - ledger_consensus.h over canonical raft 0.15 with its libuv I/O (raft_uv)
 * and our TLS transport (ledger_tls_transport.h).
 *
 * Facts about the library this file relies on, each checked by the consensus tests:
 *   - the data directory must exist before raft_uv_init;
 *   - raft_bootstrap returns RAFT_CANTBOOTSTRAP when the directory already holds a log,
 *     which on a restart is normal;
 *   - the FSM's apply does not receive the entry's index, but raft applies entries in
 *     order and advances last_applied after each, so inside apply the index is
 *     raft_last_applied() + 1;
 *   - with an FSM of version 2 and snapshot_finalize set, raft leaves the snapshot's
 *     buffers (and their array) to us; a restored snapshot's buffer becomes ours when
 *     restore succeeds and stays raft's when it fails;
 *   - a proposal's memory must come from raft_malloc and becomes raft's when
 *     raft_apply succeeds;
 *   - raft 0.15 has no callback for role or configuration changes, so a timer compares
 *     them every tick_ms;
 *   - raft_uv sends a command entry over the network without padding but its receiver
 *     expects every entry padded to a multiple of 8 bytes (a shorter one makes it read
 *     past its buffer), so every entry here is framed as an 8-byte big-endian length,
 *     the data, and zero padding to a multiple of 8.
 *
 * Snapshot data is framed with a small header (magic, version, index) so that restore
 * learns the index the snapshot stands for, which raft does not pass.
 */
#include "ledger_consensus.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <raft.h>
#include <raft/uv.h>

#include "corio/error.h"
#include "corio_log.h"
#include "ledger_tls_transport.h"

#define SNAP_MAGIC   "cor-snap"
#define SNAP_VERSION 1u
#define SNAP_HEADER  24

struct proposal {
    struct raft_apply req;
    void (*done)(void *arg, int status);
    void *arg;
    struct corio_cons *c;
    struct proposal *prev, *next;
};

struct change {
    struct raft_change req;
    void (*done)(void *arg, int status);
    void *arg;
    struct corio_cons *c;
};

struct corio_cons {
    uv_loop_t *loop;
    struct corio_cons_opts o;
    char *address, *dir, *cert, *key, *bind;
    char **ca;
    struct corio_cons_member *boot;
    struct corio_cons_cbs cbs;

    struct raft raft;
    struct raft_io io;
    struct raft_fsm fsm;
    struct raft_uv_transport transport;
    bool io_init, raft_init, transport_init, started, closing, closed;

    uv_timer_t tick;
    bool tick_init;
    int last_role;
    uint64_t last_leader;
    uint64_t last_config; /* a digest of the configuration */

    struct change *change;  /* the membership change in flight */
    struct proposal *props; /* proposals in flight */

    void (*close_cb)(void *arg);
    void *close_arg;
    char errmsg[256];
};

static int raft_err(int rv)
{
    switch (rv) {
    case 0:
        return CORIO_OK;
    case RAFT_NOMEM:
        return CORIO_ERR_NOSPACE;
    case RAFT_NOTLEADER:
    case RAFT_LEADERSHIPLOST:
    case RAFT_SHUTDOWN:
    case RAFT_CANTCHANGE:
    case RAFT_CANCELED:
    case RAFT_BUSY:
        return CORIO_ERR_STATE;
    case RAFT_BADID:
    case RAFT_DUPLICATEID:
    case RAFT_DUPLICATEADDRESS:
    case RAFT_BADROLE:
    case RAFT_INVALID:
    case RAFT_NOTFOUND:
        return CORIO_ERR_INVAL;
    case RAFT_NOCONNECTION:
        return CORIO_ERR_TIMEOUT;
    default:
        return CORIO_ERR_IO;
    }
}

/* ---- the FSM ------------------------------------------------------------------------ */

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    struct corio_cons *c = fsm->data;
    *result = NULL;
    uint64_t index = raft_last_applied(&c->raft) + 1;
    const uint8_t *p = buf->base;
    uint64_t len = buf->len >= 8 ? get64(p) : UINT64_MAX;
    if (len > buf->len - 8 || buf->len % 8 != 0) {
        corio_logkv(CORIO_LOG_ERROR, "a log entry is not framed as this program frames them",
                    "index=%llu bytes=%zu", (unsigned long long)index, buf->len);
        return RAFT_MALFORMED;
    }
    int rc = c->cbs.apply(c->cbs.arg, index, p + 8, (size_t)len);
    return rc == CORIO_OK ? 0 : RAFT_IOERR;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    struct corio_cons *c = fsm->data;
    uint64_t index = raft_last_applied(&c->raft);
    void *data = NULL;
    size_t len = 0;
    int rc = c->cbs.snapshot(c->cbs.arg, index, &data, &len);
    if (rc != CORIO_OK)
        return rc == CORIO_ERR_AGAIN ? RAFT_BUSY : RAFT_IOERR;
    struct raft_buffer *b = raft_malloc(2 * sizeof *b);
    uint8_t *header = raft_malloc(SNAP_HEADER);
    if (!b || !header) {
        raft_free(b);
        raft_free(header);
        c->cbs.snapshot_free(c->cbs.arg, data, len);
        return RAFT_NOMEM;
    }
    memcpy(header, SNAP_MAGIC, 8);
    put64(header + 8, SNAP_VERSION);
    put64(header + 16, index);
    b[0].base = header;
    b[0].len = SNAP_HEADER;
    b[1].base = data;
    b[1].len = len;
    *bufs = b;
    *n_bufs = 2;
    corio_logkv(CORIO_LOG_INFO, "snapshot taken", "index=%llu bytes=%zu", (unsigned long long)index,
                len);
    return 0;
}

static int fsm_snapshot_finalize(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    struct corio_cons *c = fsm->data;
    if (*bufs) {
        if (*n_bufs >= 2)
            c->cbs.snapshot_free(c->cbs.arg, (*bufs)[1].base, (*bufs)[1].len);
        if (*n_bufs >= 1)
            raft_free((*bufs)[0].base);
        raft_free(*bufs);
    }
    *bufs = NULL;
    *n_bufs = 0;
    return 0;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    struct corio_cons *c = fsm->data;
    const uint8_t *p = buf->base;
    if (buf->len < SNAP_HEADER || memcmp(p, SNAP_MAGIC, 8) != 0 || get64(p + 8) != SNAP_VERSION) {
        corio_log(CORIO_LOG_ERROR, "refusing a snapshot that is not ours (or of another version)");
        return RAFT_MALFORMED;
    }
    uint64_t index = get64(p + 16);
    int rc = c->cbs.restore(c->cbs.arg, index, p + SNAP_HEADER, buf->len - SNAP_HEADER);
    if (rc != CORIO_OK)
        return RAFT_IOERR;
    raft_free(buf->base);
    return 0;
}

/* ---- change detection ----------------------------------------------------------------- */

static uint64_t config_digest(const struct raft_configuration *conf)
{
    /* FNV-1a over (id, role, address) of each server: only compared with itself. */
    uint64_t h = 1469598103934665603ull;
    for (unsigned i = 0; i < conf->n; i++) {
        const struct raft_server *s = &conf->servers[i];
        uint64_t parts[2] = {s->id, (uint64_t)s->role};
        const uint8_t *q = (const uint8_t *)parts;
        for (size_t j = 0; j < sizeof parts; j++)
            h = (h ^ q[j]) * 1099511628211ull;
        for (const char *a = s->address; a && *a; a++)
            h = (h ^ (uint8_t)*a) * 1099511628211ull;
        h = (h ^ 0xff) * 1099511628211ull;
    }
    return h;
}

static void on_tick(uv_timer_t *t)
{
    struct corio_cons *c = t->data;
    if (!c->started || c->closing)
        return;
    int role = raft_state(&c->raft);
    raft_id leader = 0;
    const char *addr = NULL;
    raft_leader(&c->raft, &leader, &addr);
    uint64_t digest = config_digest(&c->raft.configuration);
    if (role != c->last_role || leader != c->last_leader || digest != c->last_config) {
        c->last_role = role;
        c->last_leader = leader;
        c->last_config = digest;
        if (c->cbs.changed)
            c->cbs.changed(c->cbs.arg);
    }
}

/* ---- life cycle ----------------------------------------------------------------------- */

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int mkdir_p(const char *path)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
        return -1;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

void corio_cons_free(struct corio_cons *c)
{
    if (!c)
        return;
    if (c->io_init)
        raft_uv_close(&c->io);
    if (c->transport_init) {
        if (c->o.plain)
            raft_uv_tcp_close(&c->transport);
        else
            corio_tls_transport_close(&c->transport);
    }
    free(c->address);
    free(c->dir);
    free(c->cert);
    free(c->key);
    free(c->bind);
    if (c->ca)
        for (size_t i = 0; i < c->o.ntls_ca; i++)
            free(c->ca[i]);
    free(c->ca);
    free(c->boot);
    free(c);
}

int corio_cons_new(uv_loop_t *loop, const struct corio_cons_opts *o,
                   const struct corio_cons_cbs *cbs, struct corio_cons **out, char *err,
                   size_t errlen)
{
    if (!loop || !o || !cbs || !out || o->id == 0 || !o->address || !o->dir || !cbs->apply ||
        !cbs->snapshot || !cbs->snapshot_free || !cbs->restore ||
        strlen(o->address) > CORIO_CONS_ADDRESS_MAX) {
        snprintf(err, errlen, "consensus: bad options");
        return CORIO_ERR_INVAL;
    }
    if (!o->plain && (!o->tls_cert || !o->tls_key || !o->ntls_ca)) {
        snprintf(err, errlen, "consensus: TLS needs a certificate, a key and a CA");
        return CORIO_ERR_INVAL;
    }
    struct corio_cons *c = calloc(1, sizeof *c);
    if (!c)
        return CORIO_ERR_NOSPACE;
    c->loop = loop;
    c->o = *o;
    c->cbs = *cbs;
    c->last_role = -1;
    c->address = strdup(o->address);
    c->dir = strdup(o->dir);
    c->cert = dup_or_null(o->tls_cert);
    c->key = dup_or_null(o->tls_key);
    c->bind = dup_or_null(o->bind_address);
    if (o->ntls_ca) {
        c->ca = calloc(o->ntls_ca, sizeof *c->ca);
        for (size_t i = 0; c->ca && i < o->ntls_ca; i++)
            c->ca[i] = strdup(o->tls_ca[i]);
    }
    if (o->nbootstrap) {
        c->boot = calloc(o->nbootstrap, sizeof *c->boot);
        if (c->boot)
            memcpy(c->boot, o->bootstrap, o->nbootstrap * sizeof *c->boot);
    }
    c->o.address = c->address;
    c->o.dir = c->dir;
    c->o.tls_cert = c->cert;
    c->o.tls_key = c->key;
    c->o.tls_ca = (const char *const *)c->ca;
    c->o.bind_address = c->bind;
    c->o.bootstrap = c->boot;
    if (!c->address || !c->dir || (o->ntls_ca && !c->ca) || (o->nbootstrap && !c->boot)) {
        corio_cons_free(c);
        return CORIO_ERR_NOSPACE;
    }
    for (size_t i = 0; i < o->ntls_ca; i++)
        if (!c->ca[i]) {
            corio_cons_free(c);
            return CORIO_ERR_NOSPACE;
        }

    if (mkdir_p(c->dir) != 0) {
        snprintf(err, errlen, "%s: %s", c->dir, strerror(errno));
        corio_cons_free(c);
        return CORIO_ERR_IO;
    }

    int rv;
    if (o->plain) {
        rv = raft_uv_tcp_init(&c->transport, loop);
        if (rv == 0 && c->bind)
            rv = raft_uv_tcp_set_bind_address(&c->transport, c->bind);
        if (rv != 0)
            snprintf(err, errlen, "raft TCP transport: %s", raft_strerror(rv));
    } else {
        struct corio_tls_opts to = {
            .cert_file = c->cert,
            .key_file = c->key,
            .ca_files = (const char *const *)c->ca,
            .nca = o->ntls_ca,
            .verify_names = o->tls_verify_names,
            .verify_ids = o->tls_verify_ids,
            .id = o->id,
            .bind_address = c->bind,
        };
        rv = corio_tls_transport_init(&c->transport, loop, &to, err, errlen);
    }
    if (rv != 0) {
        corio_cons_free(c);
        return CORIO_ERR_IO;
    }
    c->transport_init = true;

    rv = raft_uv_init(&c->io, loop, c->dir, &c->transport);
    if (rv != 0) {
        snprintf(err, errlen, "%s: raft: %s", c->dir,
                 c->io.errmsg[0] ? c->io.errmsg : raft_strerror(rv));
        corio_cons_free(c);
        return CORIO_ERR_IO;
    }
    c->io_init = true;
    unsigned election = o->election_timeout_ms ? o->election_timeout_ms : 1000;
    raft_uv_set_connect_retry_delay(&c->io, election / 4 ? election / 4 : 1);

    c->fsm.version = 2;
    c->fsm.data = c;
    c->fsm.apply = fsm_apply;
    c->fsm.snapshot = fsm_snapshot;
    c->fsm.restore = fsm_restore;
    c->fsm.snapshot_finalize = fsm_snapshot_finalize;
    *out = c;
    return CORIO_OK;
}

int corio_cons_start(struct corio_cons *c, char *err, size_t errlen)
{
    if (!c || c->started || c->closing)
        return CORIO_ERR_STATE;
    int rv = raft_init(&c->raft, &c->io, &c->fsm, c->o.id, c->address);
    if (rv != 0) {
        snprintf(err, errlen, "raft: %s", raft_errmsg(&c->raft));
        return CORIO_ERR_IO;
    }
    c->raft_init = true;
    c->raft.data = c;
    raft_set_election_timeout(&c->raft, c->o.election_timeout_ms ? c->o.election_timeout_ms : 1000);
    raft_set_heartbeat_timeout(&c->raft, c->o.heartbeat_ms ? c->o.heartbeat_ms : 100);
    raft_set_snapshot_threshold(&c->raft, c->o.snapshot_threshold ? c->o.snapshot_threshold : 1024);
    raft_set_snapshot_trailing(&c->raft, c->o.snapshot_trailing ? c->o.snapshot_trailing : 128);
    raft_set_pre_vote(&c->raft, true);

    /* A founding member bootstraps; any other node waits to be added. */
    bool founding = c->o.nbootstrap == 0;
    for (size_t i = 0; i < c->o.nbootstrap; i++)
        if (c->boot[i].id == c->o.id)
            founding = true;
    if (founding) {
        struct raft_configuration conf;
        raft_configuration_init(&conf);
        if (c->o.nbootstrap == 0)
            rv = raft_configuration_add(&conf, c->o.id, c->address, RAFT_VOTER);
        for (size_t i = 0; rv == 0 && i < c->o.nbootstrap; i++)
            rv = raft_configuration_add(&conf, c->boot[i].id, c->boot[i].address, RAFT_VOTER);
        if (rv == 0) {
            rv = raft_bootstrap(&c->raft, &conf);
            if (rv == RAFT_CANTBOOTSTRAP)
                rv = 0; /* a restart: the log is already there */
            else if (rv == 0)
                corio_logkv(CORIO_LOG_INFO, "bootstrapped a new cluster", "members=%u", conf.n);
        }
        raft_configuration_close(&conf);
        if (rv != 0) {
            snprintf(err, errlen, "raft bootstrap: %s", raft_strerror(rv));
            return CORIO_ERR_IO;
        }
    }

    rv = raft_start(&c->raft);
    if (rv != 0) {
        snprintf(err, errlen, "raft start: %s", raft_errmsg(&c->raft));
        return rv == RAFT_IOERR || rv == RAFT_CORRUPT ? CORIO_ERR_IO : raft_err(rv);
    }
    c->started = true;
    if (uv_timer_init(c->loop, &c->tick) == 0) {
        c->tick.data = c;
        c->tick_init = true;
        unsigned ms = c->o.tick_ms ? c->o.tick_ms : 50;
        uv_timer_start(&c->tick, on_tick, ms, ms);
    }
    return CORIO_OK;
}

/* ---- proposals -------------------------------------------------------------------------- */

static void on_applied(struct raft_apply *req, int status, void *result)
{
    (void)result;
    struct proposal *p = req->data;
    struct corio_cons *c = p->c;
    if (p->prev)
        p->prev->next = p->next;
    else
        c->props = p->next;
    if (p->next)
        p->next->prev = p->prev;
    p->done(p->arg, status == 0 ? CORIO_OK : CORIO_ERR_STATE);
    free(p);
}

int corio_cons_propose(struct corio_cons *c, const void *data, size_t len,
                       void (*done)(void *arg, int status), void *arg)
{
    if (!c || !done || (!data && len))
        return CORIO_ERR_INVAL;
    if (!c->started || c->closing || raft_state(&c->raft) != RAFT_LEADER)
        return CORIO_ERR_STATE;
    if (len > SIZE_MAX - 16)
        return CORIO_ERR_INVAL;
    size_t framed = 8 + (len + 7) / 8 * 8;
    struct proposal *p = calloc(1, sizeof *p);
    uint8_t *copy = raft_malloc(framed);
    if (!p || !copy) {
        free(p);
        raft_free(copy);
        return CORIO_ERR_NOSPACE;
    }
    put64(copy, len);
    if (len)
        memcpy(copy + 8, data, len);
    memset(copy + 8 + len, 0, framed - 8 - len);
    p->done = done;
    p->arg = arg;
    p->c = c;
    p->req.data = p;
    struct raft_buffer buf = {copy, framed};
    int rv = raft_apply(&c->raft, &p->req, &buf, 1, on_applied);
    if (rv != 0) {
        raft_free(copy);
        free(p);
        snprintf(c->errmsg, sizeof c->errmsg, "%s", raft_errmsg(&c->raft));
        return raft_err(rv);
    }
    p->next = c->props;
    if (c->props)
        c->props->prev = p;
    c->props = p;
    return CORIO_OK;
}

/* ---- reading the state ------------------------------------------------------------------ */

void corio_cons_info(struct corio_cons *c, struct corio_cons_info *out)
{
    memset(out, 0, sizeof *out);
    if (!c->started || c->closing)
        return;
    switch (raft_state(&c->raft)) {
    case RAFT_FOLLOWER:
        out->role = CORIO_CONS_FOLLOWER;
        break;
    case RAFT_CANDIDATE:
        out->role = CORIO_CONS_CANDIDATE;
        break;
    case RAFT_LEADER:
        out->role = CORIO_CONS_LEADER;
        break;
    default:
        out->role = CORIO_CONS_UNAVAILABLE;
    }
    raft_id id = 0;
    const char *addr = NULL;
    raft_leader(&c->raft, &id, &addr);
    out->leader_id = id;
    if (addr)
        snprintf(out->leader_address, sizeof out->leader_address, "%s", addr);
    out->term = c->raft.current_term;
    out->last_applied = raft_last_applied(&c->raft);
    out->commit_index = c->raft.commit_index;
    out->last_index = raft_last_index(&c->raft);
    out->config_index = c->raft.configuration_uncommitted_index
                            ? c->raft.configuration_uncommitted_index
                            : c->raft.configuration_index;
}

bool corio_cons_is_leader(struct corio_cons *c)
{
    return c && c->started && !c->closing && raft_state(&c->raft) == RAFT_LEADER;
}

size_t corio_cons_members(struct corio_cons *c, struct corio_cons_member *out, size_t max)
{
    if (!c->started || c->closing)
        return 0;
    const struct raft_configuration *conf = &c->raft.configuration;
    for (unsigned i = 0; i < conf->n && i < max; i++) {
        out[i].id = conf->servers[i].id;
        snprintf(out[i].address, sizeof out[i].address, "%s",
                 conf->servers[i].address ? conf->servers[i].address : "");
        out[i].voter = conf->servers[i].role == RAFT_VOTER;
    }
    return conf->n;
}

/* ---- membership ------------------------------------------------------------------------- */

static void on_changed(struct raft_change *req, int status)
{
    struct change *ch = req->data;
    struct corio_cons *c = ch->c;
    if (c->change == ch)
        c->change = NULL;
    ch->done(ch->arg, raft_err(status));
    free(ch);
}

static struct change *change_new(struct corio_cons *c, void (*done)(void *, int), void *arg)
{
    if (!c->started || c->closing || c->change || raft_state(&c->raft) != RAFT_LEADER)
        return NULL;
    struct change *ch = calloc(1, sizeof *ch);
    if (!ch)
        return NULL;
    ch->done = done;
    ch->arg = arg;
    ch->c = c;
    ch->req.data = ch;
    return ch;
}

static int change_started(struct corio_cons *c, struct change *ch, int rv)
{
    if (rv != 0) {
        snprintf(c->errmsg, sizeof c->errmsg, "%s", raft_errmsg(&c->raft));
        free(ch);
        return raft_err(rv);
    }
    c->change = ch;
    return CORIO_OK;
}

int corio_cons_add(struct corio_cons *c, uint64_t id, const char *address,
                   void (*done)(void *arg, int status), void *arg)
{
    if (!c || !done || !address || id == 0)
        return CORIO_ERR_INVAL;
    struct change *ch = change_new(c, done, arg);
    if (!ch)
        return CORIO_ERR_STATE;
    return change_started(c, ch, raft_add(&c->raft, &ch->req, id, address, on_changed));
}

int corio_cons_promote(struct corio_cons *c, uint64_t id, void (*done)(void *arg, int status),
                       void *arg)
{
    if (!c || !done || id == 0)
        return CORIO_ERR_INVAL;
    struct change *ch = change_new(c, done, arg);
    if (!ch)
        return CORIO_ERR_STATE;
    return change_started(c, ch, raft_assign(&c->raft, &ch->req, id, RAFT_VOTER, on_changed));
}

int corio_cons_remove(struct corio_cons *c, uint64_t id, void (*done)(void *arg, int status),
                      void *arg)
{
    if (!c || !done || id == 0)
        return CORIO_ERR_INVAL;
    struct change *ch = change_new(c, done, arg);
    if (!ch)
        return CORIO_ERR_STATE;
    return change_started(c, ch, raft_remove(&c->raft, &ch->req, id, on_changed));
}

static void on_transferred(struct raft_transfer *req)
{
    free(req);
}

int corio_cons_transfer(struct corio_cons *c, uint64_t id)
{
    if (!c || !c->started || c->closing || raft_state(&c->raft) != RAFT_LEADER)
        return CORIO_ERR_STATE;
    struct raft_transfer *req = calloc(1, sizeof *req);
    if (!req)
        return CORIO_ERR_NOSPACE;
    int rv = raft_transfer(&c->raft, req, id, on_transferred);
    if (rv != 0) {
        free(req);
        return raft_err(rv);
    }
    return CORIO_OK;
}

void corio_cons_net_stats(struct corio_cons *c, struct corio_cons_net_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!c || c->o.plain || !c->transport_init || !c->transport.impl)
        return;
    struct corio_tls_stats s;
    corio_tls_transport_stats(&c->transport, &s);
    out->accepted = s.accepted;
    out->connected = s.connected;
    out->handshake_failed = s.handshake_failed;
    out->refused_hello = s.refused_hello;
    out->open = s.open;
}

const char *corio_cons_errmsg(struct corio_cons *c)
{
    if (!c)
        return "";
    if (c->errmsg[0])
        return c->errmsg;
    return c->raft_init ? raft_errmsg(&c->raft) : "";
}

/* ---- closing ---------------------------------------------------------------------------- */

static void on_tick_closed(uv_handle_t *h)
{
    struct corio_cons *c = h->data;
    c->tick_init = false;
    if (!c->raft_init || c->closed) {
        if (c->close_cb) {
            void (*cb)(void *) = c->close_cb;
            c->close_cb = NULL;
            cb(c->close_arg);
        }
    }
}

static void on_raft_closed(struct raft *r)
{
    struct corio_cons *c = r->data;
    c->closed = true;
    /* Anything raft did not answer is answered now. */
    while (c->props) {
        struct proposal *p = c->props;
        c->props = p->next;
        p->done(p->arg, CORIO_ERR_STATE);
        free(p);
    }
    if (c->change) {
        c->change->done(c->change->arg, CORIO_ERR_STATE);
        free(c->change);
        c->change = NULL;
    }
    if (!c->tick_init && c->close_cb) {
        void (*cb)(void *) = c->close_cb;
        c->close_cb = NULL;
        cb(c->close_arg);
    }
}

void corio_cons_close(struct corio_cons *c, void (*cb)(void *arg), void *arg)
{
    if (!c || c->closing)
        return;
    c->closing = true;
    c->close_cb = cb;
    c->close_arg = arg;
    if (c->tick_init) {
        uv_timer_stop(&c->tick);
        uv_close((uv_handle_t *)&c->tick, on_tick_closed);
    }
    if (c->raft_init) {
        c->raft.data = c;
        raft_close(&c->raft, on_raft_closed);
    } else {
        c->closed = true;
        if (!c->tick_init && cb) {
            c->close_cb = NULL;
            cb(arg);
        }
    }
}
