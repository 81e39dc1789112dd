/*
 * engine.c - a ledger node (ledger_engine.h): the loop thread that runs consensus and applies
 * blocks, submissions from other threads, membership, halting, and start/stop.
 *
 * A submission travels: submitter (check, then the queue, under mu) -> loop (pending,
 * then a proposal of up to block_max_txs) -> consensus -> every node's apply callback
 * -> on the leader, the waiting map finds the submitter by transaction id and hands it
 * the outcome. A proposal that consensus drops (leadership lost) answers its
 * submitters "unknown": the next leader may still commit it.
 *
 * Timestamps: a proposal carries the leader's wall clock; the block's time is the
 * proposal's, or the previous block's if that is later. No node reads its own clock
 * while applying.
 */
#include "ledger_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "corio/error.h"
#include "corio_http.h"
#include "corio_log.h"
#include "corio_metrics.h"
#include "crypto_openssl.h"

#define TICK_MS 200

int64_t corio__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void corio__hex(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = 0;
}

/* ---- readers ---------------------------------------------------------------------------- */

sqlite3 *corio__reader_get(struct corio_ledger *l)
{
    pthread_mutex_lock(&l->mu);
    sqlite3 *db = l->nreaders ? l->readers[--l->nreaders] : NULL;
    pthread_mutex_unlock(&l->mu);
    if (db)
        return db;
    char err[256];
    if (corio__read_open(l->db_path, &db, err, sizeof err) != CORIO_OK) {
        corio_logkv(CORIO_LOG_ERROR, "cannot open a reader", "error=%s", err);
        return NULL;
    }
    return db;
}

void corio__reader_put(struct corio_ledger *l, sqlite3 *db)
{
    if (!db)
        return;
    pthread_mutex_lock(&l->mu);
    if (l->nreaders < sizeof l->readers / sizeof l->readers[0]) {
        l->readers[l->nreaders++] = db;
        db = NULL;
    }
    pthread_mutex_unlock(&l->mu);
    if (db)
        sqlite3_close(db);
}

/* ---- submissions: results and references ------------------------------------------------ */

static void sub_free(struct sub *s)
{
    pthread_cond_destroy(&s->cv);
    free(s->tx);
    free(s);
}

/* Drops one reference (mu held). */
static void sub_unref_locked(struct sub *s)
{
    if (--s->refs == 0)
        sub_free(s);
}

/* Gives s its outcome unless it already has one (mu held). */
static void sub_resolve_locked(struct sub *s, const struct corio_ledger_submit *r)
{
    if (s->done)
        return;
    uint8_t id[CORIO_LEDGER_ID_LEN];
    memcpy(id, s->id, sizeof id);
    s->res = *r;
    memcpy(s->res.id, id, sizeof id);
    s->done = true;
    pthread_cond_broadcast(&s->cv);
}

static void count_outcome(struct corio_ledger *l, int outcome)
{
    switch (outcome) {
    case CORIO_OK:
        corio_counter_inc(l->m_sub[SUB_COMMITTED]);
        break;
    case CORIO_ERR_POLICY:
    case CORIO_ERR_MALFORMED:
        corio_counter_inc(l->m_sub[SUB_REFUSED_CHECK]);
        break;
    case CORIO_ERR_REFUSED:
        corio_counter_inc(l->m_sub[SUB_NOT_LEADER]);
        break;
    case CORIO_ERR_FULL:
        corio_counter_inc(l->m_sub[SUB_FULL]);
        break;
    case CORIO_ERR_CLOSED:
        corio_counter_inc(l->m_sub[SUB_CLOSED]);
        break;
    case CORIO_ERR_AGAIN:
        break;
    default:
        corio_counter_inc(l->m_sub[SUB_UNKNOWN]);
    }
}

/* The leader as last published (mu held). */
static void leader_hint_locked(struct corio_ledger *l, struct corio_ledger_submit *r)
{
    r->leader_id = l->st.leader_id;
    snprintf(r->leader_api, sizeof r->leader_api, "%s", l->st.leader_api);
}

/* Answers every submission in a list with outcome, dropping the loop's reference. */
static void fail_list(struct corio_ledger *l, struct sub *s, int outcome)
{
    pthread_mutex_lock(&l->mu);
    while (s) {
        struct sub *next = s->next;
        struct corio_ledger_submit r = {.outcome = outcome};
        leader_hint_locked(l, &r);
        if (!s->done)
            count_outcome(l, outcome);
        sub_resolve_locked(s, &r);
        sub_unref_locked(s);
        s = next;
    }
    pthread_mutex_unlock(&l->mu);
}

/* ---- the waiting map (loop) ---------------------------------------------------------------- */

static size_t bucket(const uint8_t id[CORIO_LEDGER_ID_LEN])
{
    return ((size_t)id[0] << 8 | id[1]) % WAIT_BUCKETS;
}

static void wait_add(struct corio_ledger *l, struct sub *s)
{
    size_t b = bucket(s->id);
    s->hnext = l->waiting[b];
    l->waiting[b] = s;
}

static void wait_remove(struct corio_ledger *l, struct sub *s)
{
    for (struct sub **p = &l->waiting[bucket(s->id)]; *p; p = &(*p)->hnext)
        if (*p == s) {
            *p = s->hnext;
            s->hnext = NULL;
            return;
        }
}

/* A transaction was applied: answer everyone waiting for that id (mu held). */
static void wait_resolve_locked(struct corio_ledger *l, const struct corio_store_tx_result *t,
                                uint64_t height)
{
    struct sub **p = &l->waiting[bucket(t->id)];
    while (*p) {
        struct sub *s = *p;
        if (memcmp(s->id, t->id, CORIO_LEDGER_ID_LEN) != 0) {
            p = &s->hnext;
            continue;
        }
        *p = s->hnext;
        s->hnext = NULL;
        struct corio_ledger_submit r = {
            .outcome = CORIO_OK, .height = height, .leaf = t->leaf, .status = t->status};
        snprintf(r.reason, sizeof r.reason, "%s", t->reason);
        if (!s->done)
            count_outcome(l, CORIO_OK);
        sub_resolve_locked(s, &r);
    }
}

/* ---- halting --------------------------------------------------------------------------- */

static void halt(struct corio_ledger *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void halt(struct corio_ledger *l, const char *fmt, ...)
{
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&l->mu);
    bool already = l->st.halted;
    if (!already) {
        l->st.halted = true;
        snprintf(l->st.halt_reason, sizeof l->st.halt_reason, "%s", why);
    }
    pthread_mutex_unlock(&l->mu);
    if (already)
        return;
    corio_logkv(CORIO_LOG_ERROR, "node halted: it no longer takes part in consensus",
                "reason=\"%s\"", why);
    corio_gauge_set(l->m_halted, 1);
    /* Consensus is closed from the loop's wake callback, never from inside one of its
     * own callbacks. */
    l->halt_requested = true;
    uv_async_send(&l->wake);
}

static bool halted(struct corio_ledger *l)
{
    pthread_mutex_lock(&l->mu);
    bool h = l->st.halted;
    pthread_mutex_unlock(&l->mu);
    return h;
}

/* ---- publishing the node's state --------------------------------------------------------- */

/* The API URL of member id, from the application's set or the founding members. */
static void api_of(struct corio_ledger *l, uint64_t id, char *out, size_t cap)
{
    out[0] = 0;
    for (int i = 0; i < l->st.nexpected; i++)
        if (l->st.expected[i].id == id) {
            snprintf(out, cap, "%s", l->st.expected[i].api);
            return;
        }
    for (size_t i = 0; i < l->o.nmembers; i++)
        if (l->members[i].id == id) {
            snprintf(out, cap, "%s", l->members[i].api);
            return;
        }
}

/* Copies the loop's view into the published status (loop thread). */
static void publish(struct corio_ledger *l)
{
    struct corio_cons_info info = {0};
    struct corio_cons_member config[CORIO_LEDGER_MAX_PEERS];
    size_t nconfig = 0;
    if (l->cons && !l->cons_closing) {
        corio_cons_info(l->cons, &info);
        nconfig = corio_cons_members(l->cons, config, CORIO_LEDGER_MAX_PEERS);
        if (nconfig > CORIO_LEDGER_MAX_PEERS)
            nconfig = CORIO_LEDGER_MAX_PEERS;
    }
    struct corio_ledger_member expected[CORIO_LEDGER_MAX_PEERS];
    int nexpected = corio__store_expected(l->store, expected, CORIO_LEDGER_MAX_PEERS);
    if (nexpected < 0)
        nexpected = -1;
    if (nexpected > CORIO_LEDGER_MAX_PEERS)
        nexpected = CORIO_LEDGER_MAX_PEERS;
    struct corio_store_head head;
    corio__store_head(l->store, &head);

    pthread_mutex_lock(&l->mu);
    l->st.role = info.role;
    l->st.leader_id = info.leader_id;
    l->st.term = info.term;
    l->st.head = head;
    l->st.nconfig = nconfig;
    memcpy(l->st.config, config, nconfig * sizeof config[0]);
    l->st.nexpected = nexpected;
    if (nexpected > 0)
        memcpy(l->st.expected, expected, (size_t)nexpected * sizeof expected[0]);
    api_of(l, info.leader_id, l->st.leader_api, sizeof l->st.leader_api);
    l->st.queued = l->nqueue + l->npending;
    pthread_mutex_unlock(&l->mu);

    corio_gauge_set(l->m_height, (int64_t)head.height);
    corio_gauge_set(l->m_tree, (int64_t)head.tree_size);
    corio_gauge_set(l->m_leader, info.role == CORIO_CONS_LEADER);
    corio_gauge_set(l->m_term, (int64_t)info.term);
    corio_gauge_set(l->m_queue, (int64_t)(l->nqueue + l->npending));
}

/* ---- membership (loop) ---------------------------------------------------------------------- */

static const struct corio_ledger_member *find_member(const struct corio_ledger_member *m, int n,
                                                     uint64_t id)
{
    for (int i = 0; i < n; i++)
        if (m[i].id == id)
            return &m[i];
    return NULL;
}

static void on_change_done(void *arg, int status)
{
    struct corio_ledger *l = arg;
    l->change_inflight = false;
    if (status != CORIO_OK)
        corio_logkv(CORIO_LOG_WARN, "a membership change did not complete", "error=%s",
                    corio_strerror(status));
    else
        corio_log(CORIO_LOG_INFO, "a membership change completed");
    uv_async_send(&l->wake);
}

/*
 * Compares the consensus configuration with the members the application expects, and
 * (on the leader) moves the configuration one step towards them. A member in the
 * configuration that the application never admitted, or one whose address differs, is
 * a configuration this node must not take part in: it halts. So it does when the
 * configuration does not reach the expected set within membership_grace.
 */
static void check_membership(struct corio_ledger *l)
{
    if (!l->cons || l->cons_closing || halted(l))
        return;
    struct corio_cons_member c[CORIO_STORE_MAX_MEMBERS];
    size_t nc = corio_cons_members(l->cons, c, CORIO_STORE_MAX_MEMBERS);
    if (nc == 0 || nc > CORIO_STORE_MAX_MEMBERS)
        return; /* not (yet) a member of any configuration */
    /* A node catching up (a new member above all) receives configurations before the
     * blocks that decided them: it judges a configuration only once its state is at
     * least as new. */
    struct corio_cons_info info;
    corio_cons_info(l->cons, &info);
    if (info.last_applied < info.config_index)
        return;
    struct corio_ledger_member e[CORIO_STORE_MAX_MEMBERS], a[CORIO_STORE_MAX_MEMBERS];
    int ne = corio__store_expected(l->store, e, CORIO_STORE_MAX_MEMBERS);
    if (ne == CORIO_ERR_NOTFOUND) {
        /* The application does not decide: the configuration is the allowed set. */
        struct corio_ledger_member now[CORIO_STORE_MAX_MEMBERS];
        int na = corio__store_allowed(l->store, a, CORIO_STORE_MAX_MEMBERS);
        bool same = na == (int)nc;
        for (size_t i = 0; i < nc; i++) {
            now[i].id = c[i].id;
            snprintf(now[i].address, sizeof now[i].address, "%s", c[i].address);
            now[i].api[0] = 0;
            const struct corio_ledger_member *m = find_member(a, na, c[i].id);
            same = same && m && !strcmp(m->address, c[i].address);
        }
        if (!same)
            corio__store_set_allowed(l->store, now, nc);
        l->mismatch_since_ms = 0;
        return;
    }
    if (ne < 0 || ne > CORIO_STORE_MAX_MEMBERS)
        return;
    int na = corio__store_allowed(l->store, a, CORIO_STORE_MAX_MEMBERS);
    if (na < 0)
        return;
    for (size_t i = 0; i < nc; i++) {
        const struct corio_ledger_member *m = find_member(e, ne, c[i].id);
        if (m && strcmp(m->address, c[i].address) != 0) {
            halt(l,
                 "member %llu has address %s in the consensus configuration but %s in the "
                 "membership the application decided",
                 (unsigned long long)c[i].id, c[i].address, m->address);
            return;
        }
        if (!m && !find_member(a, na, c[i].id)) {
            halt(l,
                 "member %llu is in the consensus configuration but the application never "
                 "admitted it",
                 (unsigned long long)c[i].id);
            return;
        }
    }
    bool converged = (int)nc == ne;
    for (size_t i = 0; converged && i < nc; i++)
        converged = c[i].voter && find_member(e, ne, c[i].id);
    if (converged) {
        l->mismatch_since_ms = 0;
        l->pending_since_ms = 0;
        bool same = na == ne;
        for (int i = 0; same && i < ne; i++)
            same = find_member(a, na, e[i].id) != NULL;
        if (!same)
            corio__store_converged(l->store);
        return;
    }
    /* Only a member still in the configuration after the application removed it is a
     * danger (it votes); one admitted but not yet a voter is not: its node may take a
     * while to come up and catch up, and the ledger goes on meanwhile. */
    bool extra = false;
    for (size_t i = 0; i < nc; i++)
        extra = extra || !find_member(e, ne, c[i].id);
    int64_t now = mono_ms();
    if (!extra) {
        l->mismatch_since_ms = 0;
        if (!l->pending_since_ms)
            l->pending_since_ms = now;
        if (now - l->pending_since_ms >= 10000 &&
            (!l->pending_warn_ms || now - l->pending_warn_ms >= 60000)) {
            l->pending_warn_ms = now;
            for (int i = 0; i < ne; i++) {
                bool voter = false;
                for (size_t j = 0; j < nc; j++)
                    voter = voter || (c[j].id == e[i].id && c[j].voter);
                if (!voter)
                    corio_logkv(CORIO_LOG_WARN,
                                "an admitted member is not a voter yet: its node must be "
                                "reachable and catch up",
                                "id=%llu address=%s", (unsigned long long)e[i].id, e[i].address);
            }
        }
    } else if (!l->mismatch_since_ms) {
        l->mismatch_since_ms = now;
    } else if (now - l->mismatch_since_ms > (int64_t)l->o.membership_grace_ms) {
        halt(l,
             "the consensus configuration still holds a member the application removed, "
             "after %u ms",
             l->o.membership_grace_ms);
        return;
    }
    if (!corio_cons_is_leader(l->cons) || l->change_inflight)
        return;
    /* One step: add a missing member, promote one that caught up, remove one that left. */
    int rc = CORIO_ERR_NOTFOUND;
    for (int i = 0; i < ne && rc == CORIO_ERR_NOTFOUND; i++) {
        bool present = false;
        for (size_t j = 0; j < nc; j++)
            present = present || c[j].id == e[i].id;
        if (!present) {
            corio_logkv(CORIO_LOG_INFO, "adding a member", "id=%llu address=%s",
                        (unsigned long long)e[i].id, e[i].address);
            rc = corio_cons_add(l->cons, e[i].id, e[i].address, on_change_done, l);
        }
    }
    for (size_t j = 0; j < nc && rc == CORIO_ERR_NOTFOUND; j++)
        if (!c[j].voter && find_member(e, ne, c[j].id)) {
            corio_logkv(CORIO_LOG_INFO, "promoting a member to voter", "id=%llu",
                        (unsigned long long)c[j].id);
            rc = corio_cons_promote(l->cons, c[j].id, on_change_done, l);
        }
    for (size_t j = 0; j < nc && rc == CORIO_ERR_NOTFOUND; j++)
        if (!find_member(e, ne, c[j].id)) {
            if (c[j].id == l->o.node_id) {
                corio_log(CORIO_LOG_INFO, "this node leaves: handing leadership over first");
                corio_cons_transfer(l->cons, 0);
                return;
            }
            corio_logkv(CORIO_LOG_INFO, "removing a member", "id=%llu",
                        (unsigned long long)c[j].id);
            rc = corio_cons_remove(l->cons, c[j].id, on_change_done, l);
        }
    if (rc == CORIO_OK)
        l->change_inflight = true;
    else if (rc != CORIO_ERR_NOTFOUND)
        corio_logkv(CORIO_LOG_WARN, "cannot start a membership change", "error=%s",
                    corio_strerror(rc));
}

/* ---- proposing (loop) ---------------------------------------------------------------------- */

struct batch {
    struct corio_ledger *l;
    struct sub **subs;
    size_t n;
};

static void try_propose(struct corio_ledger *l);

static void on_batch_done(void *arg, int status)
{
    struct batch *b = arg;
    struct corio_ledger *l = b->l;
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < b->n; i++) {
        struct sub *s = b->subs[i];
        if (!s->done) {
            /* Not applied here (yet): leadership changed under it. */
            wait_remove(l, s);
            struct corio_ledger_submit r = {.outcome = CORIO_ERR_STATE};
            leader_hint_locked(l, &r);
            count_outcome(l, CORIO_ERR_STATE);
            sub_resolve_locked(s, &r);
        } else {
            wait_remove(l, s);
        }
        sub_unref_locked(s);
    }
    pthread_mutex_unlock(&l->mu);
    (void)status;
    free(b->subs);
    free(b);
    l->ninflight--;
    try_propose(l);
}

static void try_propose(struct corio_ledger *l)
{
    if (!l->pending)
        return;
    if (halted(l) || !l->cons || l->cons_closing) {
        fail_list(l, l->pending, CORIO_ERR_CLOSED);
        l->pending = l->pending_tail = NULL;
        l->npending = 0;
        return;
    }
    if (!corio_cons_is_leader(l->cons)) {
        fail_list(l, l->pending, CORIO_ERR_REFUSED);
        l->pending = l->pending_tail = NULL;
        l->npending = 0;
        return;
    }
    while (l->pending && l->ninflight < l->o.max_inflight) {
        size_t n = 0, bytes = 0;
        for (struct sub *s = l->pending; s && n < l->o.block_max_txs; s = s->next) {
            if (n && bytes + s->len > l->o.block_max_bytes)
                break;
            bytes += s->len;
            n++;
        }
        struct batch *b = calloc(1, sizeof *b);
        struct corio_block_tx *txs = calloc(n, sizeof *txs);
        struct sub **subs = calloc(n, sizeof *subs);
        if (!b || !txs || !subs) {
            free(b);
            free(txs);
            free(subs);
            return;
        }
        struct sub *s = l->pending;
        for (size_t i = 0; i < n; i++, s = s->next) {
            subs[i] = s;
            txs[i] = (struct corio_block_tx){.data = s->tx, .len = s->len};
        }
        struct corio_proposal p = {.timestamp_ms = (uint64_t)corio__now_ms(),
                                   .proposer = l->o.node_id,
                                   .txs = txs,
                                   .ntxs = n};
        int len = corio_proposal_encode(&p, NULL, 0);
        uint8_t *buf = len > 0 ? malloc((size_t)len) : NULL;
        int rc = buf ? corio_proposal_encode(&p, buf, (size_t)len) : CORIO_ERR_NOSPACE;
        free(txs);
        /* Detach the n submissions from pending. */
        l->pending = s;
        if (!s)
            l->pending_tail = NULL;
        l->npending -= n;
        for (size_t i = 0; i < n; i++)
            subs[i]->next = NULL;
        b->l = l;
        b->subs = subs;
        b->n = n;
        if (rc >= 0) {
            /* In the waiting map before the entry exists, so no apply can miss them. */
            for (size_t i = 0; i < n; i++)
                wait_add(l, subs[i]);
            rc = corio_cons_propose(l->cons, buf, (size_t)len, on_batch_done, b);
            if (rc != CORIO_OK)
                for (size_t i = 0; i < n; i++)
                    wait_remove(l, subs[i]);
        }
        free(buf);
        if (rc != CORIO_OK) {
            int outcome = rc == CORIO_ERR_STATE ? CORIO_ERR_REFUSED : rc;
            for (size_t i = 0; i + 1 < n; i++)
                subs[i]->next = subs[i + 1];
            fail_list(l, subs[0], outcome);
            free(subs);
            free(b);
            continue;
        }
        l->ninflight++;
        l->last_activity_ms = mono_ms();
    }
}

/*
 * Heights count time for the application (voting periods, expiries), so an idle ledger
 * must still grow: when nothing was proposed or applied for empty_block_ms, the leader
 * proposes a proposal without transactions, which every node turns into an empty
 * block like any other. A ledger without a transaction yet waits for its first one:
 * nothing there counts heights, and its first transaction (the contracts' genesis,
 * made offline with an expiry height) must not expire while the founders gather.
 */
static void maybe_empty_block(struct corio_ledger *l)
{
    if (!l->o.empty_block_ms || !l->cons || l->cons_closing || l->pending || l->ninflight ||
        !corio_cons_is_leader(l->cons) || halted(l))
        return;
    struct corio_store_head head;
    corio__store_head(l->store, &head);
    if (head.tree_size == 0)
        return;
    int64_t now = mono_ms();
    if (now - l->last_activity_ms < (int64_t)l->o.empty_block_ms)
        return;
    pthread_mutex_lock(&l->mu);
    bool queued = l->nqueue > 0;
    pthread_mutex_unlock(&l->mu);
    if (queued)
        return;
    struct corio_proposal p = {
        .timestamp_ms = (uint64_t)corio__now_ms(), .proposer = l->o.node_id, .ntxs = 0};
    uint8_t buf[64];
    int len = corio_proposal_encode(&p, buf, sizeof buf);
    struct batch *b = len > 0 ? calloc(1, sizeof *b) : NULL;
    if (!b)
        return;
    b->l = l;
    int rc = corio_cons_propose(l->cons, buf, (size_t)len, on_batch_done, b);
    if (rc != CORIO_OK) {
        free(b);
        return;
    }
    l->ninflight++;
    l->last_activity_ms = now;
}

/* ---- consensus callbacks (loop) ---------------------------------------------------------- */

static int on_apply(void *arg, uint64_t index, const void *data, size_t len)
{
    struct corio_ledger *l = arg;
    if (halted(l))
        return CORIO_ERR_STATE;
    struct corio_store_head head;
    corio__store_head(l->store, &head);
    if (index <= head.applied_index)
        return CORIO_OK;
    struct corio_proposal p;
    int rc = corio_proposal_decode(data, len, &p);
    if (rc != CORIO_OK) {
        /* Every node sees the same bytes and skips them the same way. */
        corio_logkv(CORIO_LOG_ERROR, "skipping a log entry that is not a proposal",
                    "index=%llu bytes=%zu error=%s", (unsigned long long)index, len,
                    corio_strerror(rc));
        corio_counter_inc(l->m_malformed);
        rc = corio__store_skip(l->store, index);
        if (rc != CORIO_OK)
            halt(l, "cannot record log index %llu: %s", (unsigned long long)index,
                 corio_strerror(rc));
        return rc;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct corio_store_applied res;
    rc = corio__store_apply(l->store, index, &p,
                            l->o.fault_alter_tx ? CORIO_STORE_FAULT_ALTER_TX : 0, &res);
    corio_proposal_free(&p);
    if (rc != CORIO_OK) {
        halt(l, "cannot apply the block at log index %llu: %s", (unsigned long long)index,
             corio_strerror(rc));
        return rc;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    corio_histogram_observe(l->m_apply, (double)(t1.tv_sec - t0.tv_sec) +
                                            (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    corio_counter_inc(l->m_blocks);
    l->last_activity_ms = mono_ms();
    /* Published before the submitters hear back, so that what they read next (status,
     * tree head) already includes their block. */
    publish(l);
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < res.ntxs; i++) {
        corio_counter_inc(l->m_tx[res.txs[i].status == CORIO_TX_ACCEPTED ? 0 : 1]);
        wait_resolve_locked(l, &res.txs[i], res.head.height);
    }
    pthread_mutex_unlock(&l->mu);
    corio__api_block_event(l, &res.head, res.ntxs);
    bool changed = res.members_changed;
    corio__store_applied_free(&res);
    if (changed)
        corio_log(CORIO_LOG_INFO, "the application changed the expected membership");
    check_membership(l);
    return CORIO_OK;
}

static int on_snapshot(void *arg, uint64_t index, void **data, size_t *len)
{
    struct corio_ledger *l = arg;
    struct corio_store_head h;
    corio__store_head(l->store, &h);
    if (h.applied_index != index) {
        corio_logkv(CORIO_LOG_WARN, "snapshot postponed: the database is not at the log index",
                    "index=%llu applied_index=%llu", (unsigned long long)index,
                    (unsigned long long)h.applied_index);
        return CORIO_ERR_AGAIN;
    }
    return corio__store_snapshot(l->store, data, len);
}

static void on_snapshot_free(void *arg, void *data, size_t len)
{
    (void)arg;
    (void)len;
    sqlite3_free(data);
}

static int on_restore(void *arg, uint64_t index, const void *data, size_t len)
{
    struct corio_ledger *l = arg;
    int rc = corio__store_restore(l->store, index, data, len);
    if (rc != CORIO_OK)
        corio_logkv(CORIO_LOG_ERROR, "cannot restore a snapshot", "index=%llu error=%s",
                    (unsigned long long)index, corio_strerror(rc));
    else
        publish(l);
    return rc;
}

static void on_changed(void *arg)
{
    struct corio_ledger *l = arg;
    publish(l);
    struct corio_ledger_status st;
    pthread_mutex_lock(&l->mu);
    st.role = l->st.role;
    st.leader_id = l->st.leader_id;
    pthread_mutex_unlock(&l->mu);
    corio_logkv(CORIO_LOG_INFO, "consensus state changed", "role=%s leader=%llu",
                st.role == CORIO_CONS_LEADER      ? "leader"
                : st.role == CORIO_CONS_FOLLOWER  ? "follower"
                : st.role == CORIO_CONS_CANDIDATE ? "candidate"
                                                  : "unavailable",
                (unsigned long long)st.leader_id);
    try_propose(l);
    check_membership(l);
}

/* ---- the loop ------------------------------------------------------------------------------ */

static void on_cons_closed(void *arg)
{
    struct corio_ledger *l = arg;
    l->cons_closed = true;
    corio_cons_free(l->cons);
    l->cons = NULL;
    publish(l);
    pthread_mutex_lock(&l->mu);
    bool stop = l->stop_requested;
    pthread_mutex_unlock(&l->mu);
    if (stop) {
        uv_close((uv_handle_t *)&l->wake, NULL);
        uv_close((uv_handle_t *)&l->timer, NULL);
    }
}

static void close_consensus(struct corio_ledger *l)
{
    if (l->cons && !l->cons_closing) {
        l->cons_closing = true;
        corio_cons_close(l->cons, on_cons_closed, l);
    }
}

static void on_wake(uv_async_t *a)
{
    struct corio_ledger *l = a->data;
    pthread_mutex_lock(&l->mu);
    struct sub *q = l->queue;
    size_t n = l->nqueue;
    l->queue = l->queue_tail = NULL;
    l->nqueue = 0;
    bool stop = l->stop_requested;
    pthread_mutex_unlock(&l->mu);
    if (q) {
        if (l->pending_tail)
            l->pending_tail->next = q;
        else
            l->pending = q;
        while (q->next)
            q = q->next;
        l->pending_tail = q;
        l->npending += n;
    }
    if (stop || l->halt_requested) {
        fail_list(l, l->pending, CORIO_ERR_CLOSED);
        l->pending = l->pending_tail = NULL;
        l->npending = 0;
        if (l->cons)
            close_consensus(l);
        else if (stop && !uv_is_closing((uv_handle_t *)&l->wake)) {
            uv_close((uv_handle_t *)&l->wake, NULL);
            uv_close((uv_handle_t *)&l->timer, NULL);
        }
        return;
    }
    try_propose(l);
}

static void on_timer(uv_timer_t *t)
{
    struct corio_ledger *l = t->data;
    if (l->cons && !l->cons_closing) {
        struct corio_cons_net_stats ns;
        corio_cons_net_stats(l->cons, &ns);
        corio_gauge_set(l->m_tls_failed, (int64_t)ns.handshake_failed);
        corio_gauge_set(l->m_tls_open, (int64_t)ns.open);
    }
    publish(l);
    check_membership(l);
    maybe_empty_block(l);
}

static void *loop_main(void *arg)
{
    struct corio_ledger *l = arg;
    uv_run(&l->loop, UV_RUN_DEFAULT);
    return NULL;
}

/* ---- submitting (any thread) ------------------------------------------------------------ */

int corio_ledger_submit(struct corio_ledger *l, const uint8_t *tx, size_t len, bool wait,
                        struct corio_ledger_submit *out)
{
    memset(out, 0, sizeof *out);
    if ((!tx && len) || len > CORIO_BLOCK_MAX_TX) {
        out->outcome = CORIO_ERR_INVAL;
        return out->outcome;
    }
    int rc =
        l->app->tx_id
            ? l->app->tx_id(l->app->ctx, tx, len, out->id)
            : (SHA256(tx ? tx : (const uint8_t *)"", len, out->id) ? CORIO_OK : CORIO_ERR_CRYPTO);
    if (rc != CORIO_OK) {
        out->outcome = rc;
        return rc;
    }
    if (l->app->check) {
        sqlite3 *db = corio__reader_get(l);
        rc = db ? l->app->check(l->app->ctx, db, tx, len, out->reason, sizeof out->reason)
                : CORIO_ERR_IO;
        corio__reader_put(l, db);
        if (rc != CORIO_OK) {
            if (rc != CORIO_ERR_POLICY && rc != CORIO_ERR_MALFORMED)
                rc = CORIO_ERR_MALFORMED;
            if (!out->reason[0])
                snprintf(out->reason, sizeof out->reason, "refused");
            out->outcome = rc;
            count_outcome(l, rc);
            return rc;
        }
    }
    struct sub *s = calloc(1, sizeof *s);
    if (!s || !(s->tx = malloc(len ? len : 1))) {
        free(s);
        out->outcome = CORIO_ERR_NOSPACE;
        return out->outcome;
    }
    if (len)
        memcpy(s->tx, tx, len);
    s->len = len;
    memcpy(s->id, out->id, sizeof s->id);
    pthread_cond_init(&s->cv, NULL);
    s->refs = wait ? 2 : 1;

    pthread_mutex_lock(&l->mu);
    int early = CORIO_OK;
    if (l->st.halted || l->stopped || l->stop_requested)
        early = CORIO_ERR_CLOSED;
    else if (l->st.role != CORIO_CONS_LEADER)
        early = CORIO_ERR_REFUSED;
    else if (l->nqueue + l->npending >= l->o.queue_max)
        early = CORIO_ERR_FULL;
    if (early != CORIO_OK) {
        out->outcome = early;
        leader_hint_locked(l, out);
        count_outcome(l, early);
        pthread_mutex_unlock(&l->mu);
        sub_free(s);
        return early;
    }
    if (l->queue_tail)
        l->queue_tail->next = s;
    else
        l->queue = s;
    l->queue_tail = s;
    l->nqueue++;
    /* Under mu: the loop closes wake only after it saw stop_requested, which is set
     * under mu and checked above. */
    uv_async_send(&l->wake);
    pthread_mutex_unlock(&l->mu);
    if (!wait) {
        out->outcome = CORIO_ERR_AGAIN;
        return out->outcome;
    }

    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += l->o.submit_timeout_ms / 1000;
    deadline.tv_nsec += (long)(l->o.submit_timeout_ms % 1000) * 1000000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&l->mu);
    while (!s->done)
        if (pthread_cond_timedwait(&s->cv, &l->mu, &deadline) == ETIMEDOUT)
            break;
    if (s->done) {
        *out = s->res;
    } else {
        out->outcome = CORIO_ERR_TIMEOUT;
        count_outcome(l, CORIO_ERR_TIMEOUT);
    }
    sub_unref_locked(s);
    pthread_mutex_unlock(&l->mu);
    return out->outcome;
}

/* ---- tree heads -------------------------------------------------------------------------- */

int corio__sth_current(struct corio_ledger *l, uint8_t *out, struct corio_sth *s)
{
    pthread_mutex_lock(&l->mu);
    const struct corio_store_head *h = &l->st.head;
    struct corio_sth sth = {.tree_size = h->tree_size,
                            .height = h->height,
                            .timestamp_ms = h->timestamp_ms,
                            .node = l->o.node_id};
    memcpy(sth.root, h->root, 32);
    memcpy(sth.block_hash, h->block_hash, 32);
    memcpy(sth.state_hash, h->state_hash, 32);
    int rc = CORIO_OK;
    if (!l->sth_valid || l->sth_height != h->height) {
        rc = corio_sth_sign(&sth, &l->key, l->sth, sizeof l->sth);
        if (rc > 0) {
            l->sth_len = (size_t)rc;
            l->sth_height = h->height;
            l->sth_valid = true;
            rc = CORIO_OK;
        }
    }
    if (rc == CORIO_OK) {
        memcpy(out, l->sth, l->sth_len);
        rc = (int)l->sth_len;
        if (s)
            *s = sth;
    }
    pthread_mutex_unlock(&l->mu);
    return rc;
}

/* ---- creating and starting ---------------------------------------------------------------- */

static char *dupz(const char *s)
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
    return mkdir(tmp, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

/* Loads the signing key, or makes and stores one. */
static int load_key(struct corio_ledger *l, char *err, size_t errlen)
{
    int rc = corio_openssl_key_read_pem(l->sign_key_path, &l->key);
    if (rc == CORIO_ERR_NOTFOUND && !l->o.sign_key && !l->o.tls_key) {
        rc = corio_key_generate(&corio_crypto_openssl_ops, 0, CORIO_KEY_EXPORTABLE, &l->key);
        if (rc == CORIO_OK)
            rc = corio_openssl_key_write_pem(&l->key, l->sign_key_path);
        if (rc == CORIO_OK)
            corio_logkv(CORIO_LOG_INFO, "made a new tree head signing key", "path=%s",
                        l->sign_key_path);
    }
    if (rc != CORIO_OK) {
        snprintf(err, errlen, "%s: cannot load the signing key: %s", l->sign_key_path,
                 corio_strerror(rc));
        return rc;
    }
    return corio_key_public_compressed(&l->key, l->pub);
}

/* The node certificate (first in the PEM file) as DER, shown with tree heads. */
static int load_cert(struct corio_ledger *l, char *err, size_t errlen)
{
    if (!l->tls_cert)
        return CORIO_OK;
    FILE *f = fopen(l->tls_cert, "r");
    X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    if (!x) {
        snprintf(err, errlen, "%s: cannot read the certificate", l->tls_cert);
        return CORIO_ERR_IO;
    }
    unsigned char *der = NULL;
    int n = i2d_X509(x, &der);
    X509_free(x);
    if (n <= 0) {
        snprintf(err, errlen, "%s: cannot encode the certificate", l->tls_cert);
        return CORIO_ERR_IO;
    }
    l->cert_der = malloc((size_t)n);
    if (l->cert_der) {
        memcpy(l->cert_der, der, (size_t)n);
        l->cert_der_len = (size_t)n;
    }
    OPENSSL_free(der);
    return l->cert_der ? CORIO_OK : CORIO_ERR_NOSPACE;
}

static bool loopback_address(const char *addr)
{
    return !strncmp(addr, "127.", 4) || !strncmp(addr, "localhost:", 10) ||
           !strncmp(addr, "[::1]:", 6);
}

static void register_metrics(struct corio_ledger *l)
{
    struct corio_registry *r = l->metrics;
    l->m_height = corio_gauge_new(r, "corio_ledger_height", "Height of the last applied block.");
    l->m_tree = corio_gauge_new(r, "corio_ledger_tree_size", "Leaves of the Merkle log.");
    l->m_leader = corio_gauge_new(r, "corio_ledger_is_leader", "1 while this node leads.");
    l->m_term = corio_gauge_new(r, "corio_ledger_term", "The consensus term this node is in.");
    l->m_queue = corio_gauge_new(r, "corio_ledger_queued", "Submissions not yet proposed.");
    l->m_halted = corio_gauge_new(r, "corio_ledger_halted",
                                  "1 once the node halted (see /api/v1/status for why).");
    l->m_fork = corio_gauge_new(r, "corio_ledger_fork_detected",
                                "1 once a peer's signed tree head contradicted this node's log.");
    l->m_tls_failed = corio_gauge_new(r, "corio_ledger_raft_tls_handshake_failures",
                                      "Raft TLS handshakes refused or broken since start.");
    l->m_tls_open = corio_gauge_new(r, "corio_ledger_raft_connections", "Raft connections open.");
    l->m_blocks = corio_counter_new(r, "corio_ledger_blocks_total", "Blocks applied.");
    static const char *const status[] = {"accepted", "refused", NULL};
    corio_counter_new_labeled(r, "corio_ledger_transactions_total",
                              "Transactions applied, by the application's verdict.", "status",
                              status, l->m_tx);
    static const char *const result[] = {"committed", "refused_check", "not_leader", "unknown",
                                         "full",      "closed",        NULL};
    corio_counter_new_labeled(r, "corio_ledger_submissions_total",
                              "Submissions answered, by outcome.", "result", result, l->m_sub);
    static const char *const kinds[] = {"root", "consistency", "block", "signature", NULL};
    corio_counter_new_labeled(r, "corio_ledger_fork_alarms_total",
                              "Contradictions found in peers' signed tree heads, by kind.", "kind",
                              kinds, l->m_alarm);
    static const char *const peer[] = {"ok", "unreachable", "invalid", NULL};
    corio_counter_new_labeled(r, "corio_ledger_peer_checks_total",
                              "Peer tree head checks, by result.", "result", peer, l->m_peer);
    l->m_malformed = corio_counter_new(r, "corio_ledger_malformed_proposals_total",
                                       "Log entries skipped because they were not proposals.");
    static const double bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                    0.05,   0.1,   0.25,   0.5,   1,    2.5};
    l->m_apply =
        corio_histogram_new(r, "corio_ledger_apply_seconds", "Time to apply and store one block.",
                            bounds, sizeof bounds / sizeof bounds[0]);
}

int corio_ledger_new(const struct corio_ledger_opts *o, struct corio_ledger **out, char *err,
                     size_t errlen)
{
    if (!o || !out || !o->app || o->node_id == 0 || !o->raft_address || !o->data_dir) {
        snprintf(err, errlen,
                 "ledger: node id, raft address, data directory and application "
                 "are required");
        return CORIO_ERR_INVAL;
    }
    bool tls = o->tls_cert || o->tls_key || o->ntls_ca;
    if (tls && (!o->tls_cert || !o->tls_key || !o->ntls_ca)) {
        snprintf(err, errlen, "TLS needs tls_cert, tls_key and at least one tls_ca");
        return CORIO_ERR_INVAL;
    }
    if (!tls && (o->nmembers > 1 || !loopback_address(o->raft_address))) {
        snprintf(err, errlen,
                 "without TLS a ledger node runs alone on a loopback raft address; set "
                 "tls_cert, tls_key and tls_ca for a cluster");
        return CORIO_ERR_INVAL;
    }
    if (o->nmembers > CORIO_LEDGER_MAX_PEERS) {
        snprintf(err, errlen, "at most %d members", CORIO_LEDGER_MAX_PEERS);
        return CORIO_ERR_INVAL;
    }
    struct corio_ledger *l = calloc(1, sizeof *l);
    if (!l)
        return CORIO_ERR_NOSPACE;
    l->o = *o;
    l->app = o->app;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->audit_cv, NULL);
    if (!l->o.block_max_txs)
        l->o.block_max_txs = 1000;
    if (l->o.block_max_txs > CORIO_BLOCK_MAX_TXS)
        l->o.block_max_txs = CORIO_BLOCK_MAX_TXS;
    if (!l->o.block_max_bytes)
        l->o.block_max_bytes = 4u << 20;
    if (!l->o.max_inflight)
        l->o.max_inflight = 4;
    if (!l->o.queue_max)
        l->o.queue_max = 100000;
    if (!l->o.submit_timeout_ms)
        l->o.submit_timeout_ms = 10000;
    if (!l->o.audit_interval_ms)
        l->o.audit_interval_ms = 5000;
    if (!l->o.membership_grace_ms)
        l->o.membership_grace_ms = 60000;
    l->st.node_id = o->node_id;
    l->st.nexpected = -1;

    l->data_dir = strdup(o->data_dir);
    l->raft_address = strdup(o->raft_address);
    l->raft_bind = dupz(o->raft_bind);
    l->http_address = dupz(o->http_address);
    l->tls_cert = dupz(o->tls_cert);
    l->tls_key = dupz(o->tls_key);
    size_t dl = strlen(o->data_dir) + 32;
    l->db_path = malloc(dl);
    l->raft_dir = malloc(dl);
    l->sign_key_path = o->sign_key  ? strdup(o->sign_key)
                       : o->tls_key ? strdup(o->tls_key)
                                    : malloc(dl);
    if (o->ntls_ca) {
        l->tls_ca = calloc(o->ntls_ca, sizeof *l->tls_ca);
        for (size_t i = 0; l->tls_ca && i < o->ntls_ca; i++)
            l->tls_ca[i] = strdup(o->tls_ca[i]);
    }
    if (o->nmembers) {
        l->members = calloc(o->nmembers, sizeof *l->members);
        if (l->members)
            memcpy(l->members, o->members, o->nmembers * sizeof *l->members);
    }
    l->metrics = corio_registry_new();
    if (!l->data_dir || !l->raft_address || !l->db_path || !l->raft_dir || !l->sign_key_path ||
        (o->ntls_ca && !l->tls_ca) || (o->nmembers && !l->members) || !l->metrics) {
        corio_ledger_free(l);
        return CORIO_ERR_NOSPACE;
    }
    l->o.data_dir = l->data_dir;
    l->o.raft_address = l->raft_address;
    l->o.raft_bind = l->raft_bind;
    l->o.http_address = l->http_address;
    l->o.tls_cert = l->tls_cert;
    l->o.tls_key = l->tls_key;
    l->o.tls_ca = (const char *const *)l->tls_ca;
    l->o.members = l->members;
    snprintf(l->db_path, dl, "%s/ledger.db", o->data_dir);
    snprintf(l->raft_dir, dl, "%s/raft", o->data_dir);
    if (!o->sign_key && !o->tls_key)
        snprintf(l->sign_key_path, dl, "%s/sign.key", o->data_dir);
    register_metrics(l);

    int rc = CORIO_OK;
    if (mkdir_p(l->data_dir) != 0) {
        snprintf(err, errlen, "%s: %s", l->data_dir, strerror(errno));
        rc = CORIO_ERR_IO;
    }
    if (rc == CORIO_OK)
        rc = load_key(l, err, errlen);
    if (rc == CORIO_OK)
        rc = load_cert(l, err, errlen);
    if (rc == CORIO_OK)
        rc = corio__store_open(l->db_path, l->app, &l->store, err, errlen);
    if (rc == CORIO_OK) {
        if (uv_loop_init(&l->loop) != 0) {
            snprintf(err, errlen, "cannot make the event loop");
            rc = CORIO_ERR_IO;
        } else {
            l->loop_init = true;
        }
    }
    if (rc == CORIO_OK) {
        struct corio_cons_member boot[CORIO_LEDGER_MAX_PEERS];
        for (size_t i = 0; i < o->nmembers; i++) {
            boot[i].id = o->members[i].id;
            snprintf(boot[i].address, sizeof boot[i].address, "%s", o->members[i].address);
            boot[i].voter = true;
        }
        struct corio_cons_opts co = {
            .id = o->node_id,
            .address = l->raft_address,
            .dir = l->raft_dir,
            .bootstrap = boot,
            .nbootstrap = o->nmembers,
            .election_timeout_ms = o->election_timeout_ms,
            .heartbeat_ms = o->heartbeat_ms,
            .snapshot_threshold = o->snapshot_threshold,
            .snapshot_trailing = o->snapshot_trailing,
            .tls_cert = l->tls_cert,
            .tls_key = l->tls_key,
            .tls_ca = (const char *const *)l->tls_ca,
            .ntls_ca = o->ntls_ca,
            .tls_verify_names = o->tls_verify_names,
            .tls_verify_ids = o->tls_verify_ids,
            .bind_address = l->raft_bind,
            .plain = !tls,
        };
        struct corio_cons_cbs cbs = {
            .arg = l,
            .apply = on_apply,
            .snapshot = on_snapshot,
            .snapshot_free = on_snapshot_free,
            .restore = on_restore,
            .changed = on_changed,
        };
        rc = corio_cons_new(&l->loop, &co, &cbs, &l->cons, err, errlen);
    }
    if (rc != CORIO_OK) {
        l->cons = NULL;
        corio__store_close(l->store);
        l->store = NULL;
        corio_ledger_free(l);
        return rc;
    }
    corio__store_head(l->store, &l->st.head);
    *out = l;
    return CORIO_OK;
}

int corio_ledger_start(struct corio_ledger *l, char *err, size_t errlen)
{
    if (l->thread_running)
        return CORIO_ERR_STATE;
    uv_async_init(&l->loop, &l->wake, on_wake);
    l->wake.data = l;
    uv_timer_init(&l->loop, &l->timer);
    l->timer.data = l;
    int rc = corio_cons_start(l->cons, err, errlen);
    if (rc != CORIO_OK) {
        /* Whatever raft opened is closed through consensus; the loop runs until then. */
        l->stop_requested = true;
        l->stopped = true;
        close_consensus(l);
        uv_run(&l->loop, UV_RUN_DEFAULT);
        return rc;
    }
    uv_timer_start(&l->timer, on_timer, TICK_MS, TICK_MS);
    publish(l);
    if (pthread_create(&l->thread, NULL, loop_main, l) != 0) {
        snprintf(err, errlen, "cannot start the loop thread");
        return CORIO_ERR_IO;
    }
    l->thread_running = true;

    if (!l->o.no_http) {
        struct corio_http_opts ho = {
            .address = l->http_address,
            .port = l->o.http_port,
            .max_body = l->o.max_body ? l->o.max_body : CORIO_BLOCK_MAX_TX + 1024,
            .threads = l->o.http_threads ? l->o.http_threads : 8,
            .metrics = l->metrics,
        };
        rc = corio_http_new(&l->http, &ho);
        if (rc == CORIO_OK)
            rc = corio__api_routes(l);
        if (rc == CORIO_OK)
            rc = corio_http_start(l->http, err, errlen);
        if (rc != CORIO_OK) {
            if (!err[0])
                snprintf(err, errlen, "cannot start the HTTP API: %s", corio_strerror(rc));
            corio_ledger_stop(l);
            return CORIO_ERR_IO;
        }
        l->http_port = corio_http_port(l->http);
    }
    rc = corio__audit_start(l, err, errlen);
    if (rc != CORIO_OK) {
        corio_ledger_stop(l);
        return rc;
    }
    corio_logkv(CORIO_LOG_INFO, "ledger node started", "node=%llu raft=%s http_port=%u app=%s",
                (unsigned long long)l->o.node_id, l->raft_address, (unsigned)l->http_port,
                l->app->name ? l->app->name : "?");
    return CORIO_OK;
}

void corio_ledger_stop(struct corio_ledger *l)
{
    if (!l)
        return;
    /* The loop first: it answers every waiting submitter, so that the HTTP handlers
     * blocked on them return and the server can stop at once. */
    pthread_mutex_lock(&l->mu);
    bool stopped = l->stopped;
    l->stopped = true;
    if (!stopped && l->thread_running) {
        l->stop_requested = true;
        uv_async_send(&l->wake);
    }
    pthread_mutex_unlock(&l->mu);
    if (stopped)
        return;
    if (l->http)
        corio_http_stop(l->http);
    corio__audit_stop(l);
    if (l->thread_running) {
        pthread_join(l->thread, NULL);
        l->thread_running = false;
    }
}

void corio_ledger_free(struct corio_ledger *l)
{
    if (!l)
        return;
    corio_ledger_stop(l);
    corio_http_free(l->http);
    if (l->cons) {
        /* Made but never started. */
        corio_cons_free(l->cons);
        l->cons = NULL;
    }
    if (l->loop_init) {
        uv_run(&l->loop, UV_RUN_DEFAULT);
        if (uv_loop_close(&l->loop) != 0)
            corio_log(CORIO_LOG_WARN, "the ledger's event loop still had open handles");
    }
    corio__store_close(l->store);
    for (size_t i = 0; i < l->nreaders; i++)
        sqlite3_close(l->readers[i]);
    if (l->app && l->app->close)
        l->app->close(l->app->ctx);
    corio_key_close(&l->key);
    corio_registry_free(l->metrics);
    free(l->cert_der);
    free(l->data_dir);
    free(l->db_path);
    free(l->raft_dir);
    free(l->raft_address);
    free(l->raft_bind);
    free(l->http_address);
    free(l->tls_cert);
    free(l->tls_key);
    free(l->sign_key_path);
    if (l->tls_ca)
        for (size_t i = 0; i < l->o.ntls_ca; i++)
            free(l->tls_ca[i]);
    free(l->tls_ca);
    free(l->members);
    pthread_cond_destroy(&l->audit_cv);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

void corio_ledger_status(struct corio_ledger *l, struct corio_ledger_status *out)
{
    pthread_mutex_lock(&l->mu);
    *out = l->st;
    out->queued = l->nqueue + l->npending;
    pthread_mutex_unlock(&l->mu);
}

uint16_t corio_ledger_http_port(const struct corio_ledger *l)
{
    return l->http_port;
}

struct corio_registry *corio_ledger_metrics(struct corio_ledger *l)
{
    return l->metrics;
}
