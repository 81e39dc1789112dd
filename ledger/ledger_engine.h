/*
 * ledger_engine.h - a ledger node: consensus (ledger_consensus.h), blocks and state
 * (ledger_store.h), the application (ledger_app.h), signed tree heads (ledger_sth.h), the HTTP API,
 * and the checks that keep honest nodes honest (tree heads compared with every peer, membership
 * followed or the node halts). corio-ledger's main is a thin layer over this; tests and the
 * benchmark run nodes in-process through it. docs/ledger.md describes the behaviour.
 *
 * Threads: corio_ledger_start starts a loop thread (consensus, applying blocks), the
 * HTTP server's threads and an auditor thread. Every function here may be called from
 * any thread, except new/start/stop/free, which belong to the thread that owns the node.
 */
#ifndef CORIO_LEDGER_ENGINE_H
#define CORIO_LEDGER_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ledger_app.h"
#include "ledger_consensus.h"
#include "ledger_store.h"

struct corio_ledger;
struct corio_registry;

struct corio_ledger_opts {
    uint64_t node_id;
    const char *raft_address; /* "host:port" peers dial */
    const char *raft_bind;    /* listen here instead (NULL: raft_address) */
    const char *data_dir;     /* raft log in <dir>/raft, database <dir>/ledger.db */
    /* The founding members (this node among them when it founds the cluster): the
     * bootstrap configuration, and the peers whose tree heads this node checks until the
     * application decides the membership. None: this node alone. */
    const struct corio_ledger_member *members;
    size_t nmembers;
    /* Mutual TLS between nodes; without it only a single node on a loopback address. */
    const char *tls_cert, *tls_key;
    const char *const *tls_ca;
    size_t ntls_ca;
    bool tls_verify_names;
    /* Check that each node's certificate names its consensus id (a URI subjectAltName
     * "urn:corio:ledger:node:<id>"): a node cannot claim another node's id, and a node
     * refuses to start with a certificate that does not name its own. */
    bool tls_verify_ids;
    /* The key that signs tree heads (PEM, P-256). NULL: tls_key, else
     * <data_dir>/sign.key, made on first start. */
    const char *sign_key;
    unsigned election_timeout_ms, heartbeat_ms; /* 0: 1000, 100 */
    unsigned snapshot_threshold, snapshot_trailing;
    size_t block_max_txs;       /* 0: 1000 */
    size_t block_max_bytes;     /* 0: 4 MiB */
    unsigned max_inflight;      /* proposals in flight at once; 0: 4 */
    size_t queue_max;           /* submissions waiting for a proposal; 0: 100000 */
    unsigned submit_timeout_ms; /* how long a submitter waits for the outcome; 0: 10000 */
    /* HTTP API; http_port 0 picks a free port (corio_ledger_http_port). no_http: none. */
    const char *http_address;
    uint16_t http_port;
    unsigned http_threads; /* 0: 8 */
    size_t max_body;       /* 0: 1 MiB + 1 KiB */
    bool no_http;
    unsigned audit_interval_ms;   /* 0: 5000; tree heads fetched from each peer */
    unsigned membership_grace_ms; /* 0: 60000 */
    /* The leader proposes an empty block when nothing was proposed or applied for this
     * long, so that heights (voting periods, expiries) advance while the ledger is
     * idle. 0: never. */
    unsigned empty_block_ms;
    bool fault_alter_tx; /* TEST ONLY: corrupt the first transaction of each block */
    const struct corio_ledger_app *app;
};

/* The outcome of a submission. */
struct corio_ledger_submit {
    /*
     * CORIO_OK: committed; status and reason say what the application decided.
     * CORIO_ERR_AGAIN: queued, not waited for (wait == false).
     * CORIO_ERR_POLICY / CORIO_ERR_MALFORMED: refused by check; never proposed.
     * CORIO_ERR_REFUSED: this node does not lead; leader_id and leader_api say who does
     *   (0 and "" when nobody is known).
     * CORIO_ERR_TIMEOUT, CORIO_ERR_STATE: the outcome is unknown (a deadline passed, or
     *   leadership changed after the proposal): ask again by id later.
     * CORIO_ERR_FULL: too many submissions queued. CORIO_ERR_CLOSED: halted or stopping.
     * CORIO_ERR_INVAL: too large.
     */
    int outcome;
    uint8_t id[CORIO_LEDGER_ID_LEN];
    uint64_t height, leaf;
    enum corio_tx_status status;
    char reason[CORIO_BLOCK_MAX_REASON + 1];
    uint64_t leader_id;
    char leader_api[CORIO_LEDGER_ADDRESS_MAX + 1];
};

#define CORIO_LEDGER_MAX_PEERS 16

/* What a node knows about one peer's tree head (auditor). */
struct corio_ledger_peer_view {
    uint64_t id;
    char api[CORIO_LEDGER_ADDRESS_MAX + 1];
    bool seen; /* a valid signed tree head was fetched */
    uint64_t tree_size, height;
    int64_t checked_ms; /* wall clock of the last successful check */
    bool alarm;         /* a fork was found against this peer */
    char error[160];    /* why the last fetch or check failed, "" when it did not */
};

/* A snapshot of the node's state, for the API and tests. */
struct corio_ledger_status {
    uint64_t node_id;
    enum corio_cons_role role;
    uint64_t leader_id;
    char leader_api[CORIO_LEDGER_ADDRESS_MAX + 1];
    uint64_t term;
    struct corio_store_head head;
    bool halted;
    char halt_reason[256];
    size_t nconfig; /* the consensus configuration */
    struct corio_cons_member config[CORIO_LEDGER_MAX_PEERS];
    int nexpected; /* -1: the application does not decide membership */
    struct corio_ledger_member expected[CORIO_LEDGER_MAX_PEERS];
    size_t npeers;
    struct corio_ledger_peer_view peers[CORIO_LEDGER_MAX_PEERS];
    uint64_t fork_alarms; /* forks found so far */
    uint64_t queued;      /* submissions not yet proposed */
};

/* Checks opts, opens the database and the consensus log (nothing runs yet). Returns
 * CORIO_OK, CORIO_ERR_INVAL or CORIO_ERR_IO with the reason in err. */
int corio_ledger_new(const struct corio_ledger_opts *opts, struct corio_ledger **out, char *err,
                     size_t errlen);

/* Starts consensus, the HTTP API and the auditor. Returns CORIO_OK or CORIO_ERR_IO. */
int corio_ledger_start(struct corio_ledger *l, char *err, size_t errlen);

/* Stops everything (HTTP first, then the auditor, then consensus). Idempotent. */
void corio_ledger_stop(struct corio_ledger *l);

/* Stops if needed and frees. NULL is fine. */
void corio_ledger_free(struct corio_ledger *l);

/*
 * Submits a transaction (copied): check, then, on the leader, queue it for the next
 * proposal. With wait, blocks until it is applied here or the submit timeout passes.
 * Returns out->outcome (see above).
 */
int corio_ledger_submit(struct corio_ledger *l, const uint8_t *tx, size_t len, bool wait,
                        struct corio_ledger_submit *out);

void corio_ledger_status(struct corio_ledger *l, struct corio_ledger_status *out);

/* The HTTP port (after start), 0 without HTTP. */
uint16_t corio_ledger_http_port(const struct corio_ledger *l);

/* The node's metrics registry (owned by the node). */
struct corio_registry *corio_ledger_metrics(struct corio_ledger *l);

#endif /* CORIO_LEDGER_ENGINE_H */
