/*
 * ledger_consensus.h - the ledger's consensus interface: a replicated, ordered log of opaque
 * entries among the organisations' nodes.
 *
 * The ledger engine needs only this much from consensus, so that the Raft library
 * underneath (canonical raft 0.15 with its libuv I/O, which is no longer developed
 * upstream) can be replaced without touching anything else: consensus_raft.c is the
 * only file that includes raft.h (with tls_transport.c, its network).
 *
 *   - propose an entry (leader only); learn when it was applied here, or that it may
 *     not have been;
 *   - apply every committed entry, in log order, exactly once per index on this node's
 *     state: the callback gets the entry's log index, and a node restarting replays
 *     the entries after its last snapshot, so apply must skip (return 0 without effect)
 *     entries at or below the index its persistent state already holds;
 *   - snapshots: take a copy of the state as of the last applied index, restore one
 *     (after a restart, or when the leader sends its own to a node that fell behind);
 *   - membership: read the configuration, add, promote and remove members, transfer
 *     leadership; one change at a time;
 *   - leadership: who leads, whether this node does; a callback when the role, the
 *     leader or the configuration changed.
 *
 * One node alone is a valid cluster and the default. Bootstrapping: every founding
 * member starts with the same bootstrap configuration; a node whose data directory
 * already holds a log keeps its own (restart), and a node not in the bootstrap
 * configuration waits to be added by the leader.
 *
 * Threading: everything runs on the libuv loop given to corio_cons_new, and every
 * function here must be called on that loop's thread. Callbacks run there too.
 * Errors are corio_err codes; the Raft library's message is kept for corio_cons_errmsg.
 */
#ifndef CORIO_LEDGER_CONSENSUS_H
#define CORIO_LEDGER_CONSENSUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#define CORIO_CONS_ADDRESS_MAX 255

struct corio_cons;

struct corio_cons_member {
    uint64_t id; /* > 0 */
    char address[CORIO_CONS_ADDRESS_MAX + 1];
    bool voter; /* false: replicates the log but does not vote (being added) */
};

enum corio_cons_role {
    CORIO_CONS_UNAVAILABLE, /* not started, stopped, or not (yet) a member */
    CORIO_CONS_FOLLOWER,
    CORIO_CONS_CANDIDATE,
    CORIO_CONS_LEADER,
};

/* What the application supplies. apply, snapshot, snapshot_free and restore are
 * required; changed may be NULL. arg is passed to each. */
struct corio_cons_cbs {
    void *arg;
    /*
     * A committed entry at log index (increasing from call to call; indexes the log
     * uses for itself are skipped). Return 0 when the entry is applied (or was already
     * applied before a restart); a negative corio_err stops applying, and the same
     * entry is offered again later.
     */
    int (*apply)(void *arg, uint64_t index, const void *data, size_t len);
    /*
     * A copy of the state as of the last applied entry, whose index is given. *data
     * (allocated by the application) is handed to snapshot_free once stored.
     */
    int (*snapshot)(void *arg, uint64_t index, void **data, size_t *len);
    void (*snapshot_free)(void *arg, void *data, size_t len);
    /*
     * Replaces the state with a snapshot taken at index (by this node or the leader).
     * data is valid during the call only. An application whose persistent state is
     * already at or past index may keep it and return 0. A negative return refuses
     * the snapshot (the node then cannot go on, see docs/ledger.md).
     */
    int (*restore)(void *arg, uint64_t index, const void *data, size_t len);
    /* The role, the leader or the configuration changed (seen within tick_ms). */
    void (*changed)(void *arg);
};

struct corio_cons_opts {
    uint64_t id;         /* this node's id, > 0 */
    const char *address; /* this node's "host:port" for raft traffic */
    const char *dir;     /* the log's directory; created if missing */
    /* The bootstrap configuration: founding members (all voters), this node among
     * them; n == 0 means this node alone. Ignored when the directory holds a log, and
     * when this node is not in it (it then waits to be added). */
    const struct corio_cons_member *bootstrap;
    size_t nbootstrap;
    unsigned election_timeout_ms; /* 0: 1000 */
    unsigned heartbeat_ms;        /* 0: 100 */
    unsigned snapshot_threshold;  /* entries between snapshots; 0: 1024 */
    unsigned snapshot_trailing;   /* entries kept after one; 0: 128 */
    unsigned tick_ms;             /* how often roles and configuration are checked; 0: 50 */
    /* The network: mutual TLS (ledger_tls_transport.h). All three are required unless plain
     * is set. */
    const char *tls_cert, *tls_key;
    const char *const *tls_ca;
    size_t ntls_ca;
    bool tls_verify_names;
    bool tls_verify_ids;      /* certificates name the raft ids (ledger_tls_transport.h) */
    const char *bind_address; /* listen here instead of on address; NULL: address */
    /* Plaintext TCP (raft's own transport): only for a single node that accepts no
     * peers, or for tests of the layers above. */
    bool plain;
};

/* Network counters (ledger_tls_transport.h's), zero for the plain transport. */
struct corio_cons_net_stats {
    uint64_t accepted, connected, handshake_failed, refused_hello, open;
};

/* What corio_cons_info reports. */
struct corio_cons_info {
    enum corio_cons_role role;
    uint64_t leader_id; /* 0 when unknown */
    char leader_address[CORIO_CONS_ADDRESS_MAX + 1];
    uint64_t term;
    uint64_t last_applied;
    uint64_t commit_index;
    uint64_t last_index;
    /* The log index of the configuration in effect (committed or not); 0 when none. A
     * node whose last_applied is below it runs a configuration newer than its state. */
    uint64_t config_index;
};

/*
 * Makes a node on loop (not started). opts is copied. Returns CORIO_OK and sets *out;
 * CORIO_ERR_INVAL (bad options); CORIO_ERR_IO (the directory, the TLS files; the
 * reason in err); CORIO_ERR_NOSPACE.
 */
int corio_cons_new(uv_loop_t *loop, const struct corio_cons_opts *opts,
                   const struct corio_cons_cbs *cbs, struct corio_cons **out, char *err,
                   size_t errlen);

/*
 * Loads the log (restoring the last snapshot and replaying nothing yet: entries are
 * applied as they are known committed), bootstraps a fresh founding member, and starts
 * elections and the network. Returns CORIO_OK; CORIO_ERR_IO with the reason in err.
 */
int corio_cons_start(struct corio_cons *c, char *err, size_t errlen);

/*
 * Proposes an entry (copied). done(arg, status) is called exactly once, unless this
 * returns an error: status 0 once the entry was applied here (after the apply
 * callback), or CORIO_ERR_STATE when leadership was lost or the node stopped first,
 * in which case the entry may still be committed later by the next leader.
 * Returns CORIO_OK; CORIO_ERR_STATE (not the leader, or stopping); CORIO_ERR_NOSPACE.
 */
int corio_cons_propose(struct corio_cons *c, const void *data, size_t len,
                       void (*done)(void *arg, int status), void *arg);

/* The current role, leader and indexes. */
void corio_cons_info(struct corio_cons *c, struct corio_cons_info *out);

/* True when this node leads. */
bool corio_cons_is_leader(struct corio_cons *c);

/*
 * The configuration as this node knows it: copies at most max members into out and
 * returns how many there are (may be more than max).
 */
size_t corio_cons_members(struct corio_cons *c, struct corio_cons_member *out, size_t max);

/*
 * Membership changes, leader only, one at a time. done(arg, status) follows with 0
 * when the change committed, or a negative code (CORIO_ERR_STATE: leadership lost;
 * CORIO_ERR_TIMEOUT: a new member did not catch up in time).
 *   add:     a new member, non-voting;
 *   promote: make a non-voting member a voter (once it has caught up);
 *   remove:  take a member out.
 * Return CORIO_OK; CORIO_ERR_STATE (not the leader, or a change is in progress);
 * CORIO_ERR_INVAL (unknown id, duplicate id or address, already a voter).
 */
int corio_cons_add(struct corio_cons *c, uint64_t id, const char *address,
                   void (*done)(void *arg, int status), void *arg);
int corio_cons_promote(struct corio_cons *c, uint64_t id, void (*done)(void *arg, int status),
                       void *arg);
int corio_cons_remove(struct corio_cons *c, uint64_t id, void (*done)(void *arg, int status),
                      void *arg);

/* Asks another voter (0: any) to take over leadership. Returns CORIO_OK or
 * CORIO_ERR_STATE / CORIO_ERR_INVAL. */
int corio_cons_transfer(struct corio_cons *c, uint64_t id);

/* Network counters. */
void corio_cons_net_stats(struct corio_cons *c, struct corio_cons_net_stats *out);

/* The Raft library's last error message, for logs. */
const char *corio_cons_errmsg(struct corio_cons *c);

/*
 * Stops the node: pending proposals and changes get CORIO_ERR_STATE, the log is
 * closed. cb(arg) runs on the loop once everything is released (the loop must keep
 * running until then); after it, corio_cons_free. Calling it twice is harmless (the
 * second cb is not called).
 */
void corio_cons_close(struct corio_cons *c, void (*cb)(void *arg), void *arg);

/* Frees a node that was never started, or whose close callback ran. NULL is fine. */
void corio_cons_free(struct corio_cons *c);

#endif /* CORIO_LEDGER_CONSENSUS_H */
