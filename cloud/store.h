/*
 * store.h - the storage interface of corio-cloud (docs/storage.md).
 *
 * One interface, several backends: a backend is a table of primitive operations
 * (struct corio_store_ops: inserts of rows it is handed, single-row reads and updates,
 * and the queries the API needs), and everything with rules in it - message identity,
 * "samples and rollups only for new messages", gap accounting, the tail gap of a
 * heartbeat - lives once, in store.c, above the table. The insert primitives take many
 * rows at once, so that PostgreSQL can COPY them (one round trip for a whole batch); the
 * SQLite backend simply loops. The same tests (tests/unit/test_cloud_store_suite.h) run
 * against both backends.
 *
 * Threads: a struct corio_store is one database connection and is used by one thread
 * at a time. corio-cloud gives the ingest worker its own store (the only writer of its
 * process) and the HTTP handlers another (readers). Several processes may write the
 * same PostgreSQL database at once: each batch's transaction first locks the rows of
 * the devices it touches (corio_store_lock_devices), in id order, so their sequence
 * state is read and written by one transaction at a time.
 *
 * Inside a transaction store.c keeps what many messages of a batch update again and
 * again - each (device, epoch)'s sequence state, each device's last-seen time and
 * counts, the organisation's counters - in memory, and writes it once, before the
 * commit (and before any query, so reads see their own writes).
 *
 * Every row carries its owner organisation, and every query takes the organisation it
 * answers for: a query never crosses organisations.
 *
 * Errors: functions return CORIO_OK (or a count / a 0-1 answer where stated) or a
 * negative corio_err (include/corio/error.h): CORIO_ERR_INVAL for a bad argument,
 * CORIO_ERR_NOTFOUND for a missing row, CORIO_ERR_IO for a database failure (the
 * backend logs the database's own message), CORIO_ERR_VERSION for a database written
 * by a newer program, CORIO_ERR_NOSPACE for memory, CORIO_ERR_STATE for a call out of
 * order (a transaction inside a transaction, a commit without one).
 */
#ifndef CORIO_CLOUD_STORE_H
#define CORIO_CLOUD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A short id (DESIGN.md §3): 24 characters of lowercase base32. */
#define CORIO_ID_LEN 24
/* Longest metric name (SenML name after the device's base name) and unit. */
#define CORIO_METRIC_MAX 64
#define CORIO_UNIT_MAX   32
/* Longest text stored for a rejection reason. */
#define CORIO_REASON_MAX 200
/* Longest message identity: "d:" id ":" epoch ":" seq, or "g:" id ":" epoch ":" id. */
#define CORIO_MID_MAX (2 + CORIO_ID_LEN + 2 * 21)

/* True when s[0..len) is a short id. */
bool corio_store_valid_id(const char *s, size_t len);

/* True when s[0..len) is UTF-8 (RFC 3629: no overlong forms, no surrogates) without a
 * NUL byte: what every backend can store as text. */
bool corio_store_text_ok(const char *s, size_t len);

/* ---- values and rows ------------------------------------------------------------- */

/* SenML value kinds, as stored in metrics.type. */
enum corio_value_kind {
    CORIO_VALUE_NUM = 'n',
    CORIO_VALUE_STR = 's',
    CORIO_VALUE_BOOL = 'b',
    CORIO_VALUE_DATA = 'd',
};

/* One value. str and data point into a buffer the caller owns (for the duration of
 * the call that takes or gives the value). */
struct corio_value {
    enum corio_value_kind kind;
    double num;
    bool b;
    const char *str;     /* STR: text, len bytes (not NUL-terminated) */
    const uint8_t *data; /* DATA: bytes, len */
    size_t len;
};

/* Message status in the messages table. */
enum corio_msg_status {
    CORIO_MSG_STORED = 0,
    CORIO_MSG_REJECTED = 1,
};

/* A message as the ingest hands it to the store. */
struct corio_msg_row {
    const char *org;    /* owner organisation: the gateway's */
    const char *device; /* the device, or NULL for a gateway's own record */
    bool has_seq;       /* the device stamped (epoch, seq): identity d:... */
    int64_t epoch, seq; /* when has_seq */
    const char *gateway;
    int64_t gw_epoch, gw_id; /* the gateway identity (always known) */
    const char *suffix;      /* topic suffix: up/json, up/hb, presence, ... */
    int64_t recv_ms;         /* gateway receive time */
    int64_t stored_ms;       /* cloud time of the commit */
    enum corio_msg_status status;
    const char *reason; /* REJECTED: why (cut to CORIO_REASON_MAX, at a character) */
    size_t reason_len;  /* set by store.c for the backend; callers leave it 0 */
};

/* One sample of a stored message. */
struct corio_sample_row {
    const char *org;
    const char *device;
    const char *metric;
    int64_t t_ms;
    int64_t msg; /* the message's reference (corio_store_add_message) */
    struct corio_value value;
};

/* A metric descriptor as ingest last saw it: an empty unit leaves the stored one. */
struct corio_metric_row {
    const char *org, *device, *name, *unit;
    enum corio_value_kind kind;
};

/* Registry records (loaded from the registry file until the ledger exists). */
struct corio_gateway_rec {
    char id[CORIO_ID_LEN + 1];
    char org[CORIO_ID_LEN + 1];
    uint8_t pubkey[65]; /* uncompressed P-256 point, pubkey_len 65; 0: none known */
    size_t pubkey_len;
    int64_t key_no;
};

struct corio_device_rec {
    const char *id;
    const char *org;
    const char *gateway;                                   /* "" or NULL: not pinned to a gateway */
    const char *cls, *model, *hw_rev, *groups, *assurance; /* NULL: "" */
};

/* Per (device, epoch) sequence state. */
struct corio_epoch_state {
    int64_t max_seq; /* highest stored seq, 0 before the first */
    int64_t stored;  /* messages stored with a seq of this epoch */
    bool has_hb;     /* a heartbeat of this epoch was seen */
    int64_t hb_last, hb_pending, hb_drops, hb_ms;
};

/* One (device, epoch)'s sequence state, with its owner. */
struct corio_epoch_row {
    const char *org, *device;
    int64_t epoch;
    struct corio_epoch_state st;
};

enum corio_gap_kind {
    CORIO_GAP_SEQ = 0,  /* a hole between stored sequence numbers */
    CORIO_GAP_TAIL = 1, /* a heartbeat's last seq is ahead of the stored ones */
};

struct corio_gap {
    const char *device;
    int64_t epoch, from_seq, to_seq; /* inclusive */
    enum corio_gap_kind kind;
    int64_t detected_ms;
};

/* Counters per organisation, as GET /api/v1/stats shows them. */
struct corio_store_counts {
    int64_t messages;   /* messages stored (any kind) */
    int64_t samples;    /* samples stored */
    int64_t duplicates; /* messages received again, not stored again */
    int64_t rejected;   /* messages recorded as rejected */
    int64_t batches;    /* distinct batches committed */
};

struct corio_batch_rec {
    const char *org, *gateway;
    int64_t gw_epoch, first_id, last_id, received_ms;
    int64_t n_new, n_dup, n_rejected;
};

/* An update of a device's row from ingest; fields are applied when their flag is set. */
struct corio_device_update {
    const char *org, *id;
    int64_t seen_ms;     /* last_seen = max(last_seen, seen_ms) when > 0 */
    const char *gateway; /* the gateway that relayed it (set when not NULL) */
    bool has_epoch;      /* the device's current epoch, when at least as recent */
    int64_t epoch, epoch_ms;
    int64_t messages_delta; /* added to messages */
    bool has_presence;      /* online, when presence_ms is at least as recent */
    bool online;
    int64_t presence_ms;
};

/* ---- query results (pointers valid during the callback only) --------------------- */

struct corio_device_info {
    const char *id, *org, *gateway;
    const char *cls, *model, *hw_rev, *groups, *assurance;
    bool online;
    bool has_seen;
    int64_t last_seen_ms;
    bool has_epoch;
    int64_t epoch, last_seq;    /* last_seq: highest stored seq of epoch */
    int64_t messages;           /* stored messages that carry a device seq */
    int64_t missing;            /* sequence numbers in gaps, tail gaps included */
    const char *const *metrics; /* metric names, in name order */
    size_t nmetrics;
};

struct corio_metric_info {
    char unit[CORIO_UNIT_MAX + 1];
    enum corio_value_kind kind;
};

/* A series point: raw (step 0) or a bucket. */
struct corio_point {
    int64_t t_ms;
    struct corio_value value; /* raw */
    double min, max, sum;     /* bucket */
    int64_t count;            /* bucket: numeric samples in it */
};

enum corio_tier {
    CORIO_TIER_RAW = 0,
    CORIO_TIER_1M = 1,
    CORIO_TIER_1H = 2,
};
#define CORIO_TIER_1M_MS 60000
#define CORIO_TIER_1H_MS 3600000

/* A change to a rollup bucket (tier 1M or 1H): the aggregate of the numeric samples
 * just inserted into it, to merge into the stored bucket. */
struct corio_rollup_row {
    enum corio_tier tier;
    const char *org, *device, *metric;
    int64_t bucket_ms;
    double min, max, sum;
    int64_t count;
};

struct corio_store_stats {
    int64_t devices, online, missing;
    struct corio_store_counts counts;
};

/* How long each tier is kept, in ms; 0 keeps it forever. */
struct corio_retention {
    int64_t raw_ms, rollup_1m_ms, rollup_1h_ms, messages_ms;
};

typedef int (*corio_device_fn)(const struct corio_device_info *d, void *arg);
typedef int (*corio_point_fn)(const struct corio_point *p, void *arg);
typedef int (*corio_gap_fn)(const struct corio_gap *g, void *arg);
typedef int (*corio_epoch_fn)(int64_t epoch, const struct corio_epoch_state *st, void *arg);

/* ---- the backend table ------------------------------------------------------------ */

struct corio_store;

/*
 * The primitives a backend implements. Each returns what the corio_store_ function of
 * the same meaning documents below. Arguments have been checked by store.c. The ingest
 * primitives (from lock_devices to batch_record) are called only between begin and
 * commit/rollback; the row arrays they take are never empty.
 */
struct corio_store_ops {
    const char *name;
    void (*close)(struct corio_store *s);
    int (*ping)(struct corio_store *s);
    int (*begin)(struct corio_store *s);
    int (*commit)(struct corio_store *s);
    int (*rollback)(struct corio_store *s);

    int (*org_put)(struct corio_store *s, const char *id, const char *name);
    int (*gateway_put)(struct corio_store *s, const struct corio_gateway_rec *g);
    int (*gateway_get)(struct corio_store *s, const char *id, struct corio_gateway_rec *g);
    int (*device_put)(struct corio_store *s, const struct corio_device_rec *d);
    int (*device_org)(struct corio_store *s, const char *id, char org[CORIO_ID_LEN + 1]);

    /* Locks the rows of these devices (sorted, distinct; unknown ids are skipped) until
     * the transaction ends. A single-writer backend may do nothing. */
    int (*lock_devices)(struct corio_store *s, const char *const *ids, size_t n);
    /* Inserts each message whose identity mids[i] is not stored yet (the identities are
     * distinct): is_new[i] = 1 and ref[i] its reference, else is_new[i] = 0. In order,
     * so references grow with i. */
    int (*messages_insert)(struct corio_store *s, const struct corio_msg_row *m,
                           const char *const *mids, size_t n, int64_t *ref, uint8_t *is_new);
    /* Inserts samples (distinct keys); inserted[i] = 0 for one whose key exists. */
    int (*samples_insert)(struct corio_store *s, const struct corio_sample_row *r, size_t n,
                          uint8_t *inserted);
    /* Merges aggregates into their buckets (distinct (tier, device, metric, bucket)):
     * min of mins, max of maxes, sums and counts added; a missing bucket is created. */
    int (*rollups_merge)(struct corio_store *s, const struct corio_rollup_row *r, size_t n);
    /* Creates or updates descriptors (distinct (device, name)): the type always, the
     * unit when not empty. */
    int (*metrics_put)(struct corio_store *s, const struct corio_metric_row *m, size_t n);
    int (*epoch_get)(struct corio_store *s, const char *device, int64_t epoch,
                     struct corio_epoch_state *st); /* CORIO_ERR_NOTFOUND */
    /* Every epoch's state of these devices (sorted, distinct): fn(arg, row) for each;
     * fn's non-zero return stops and is returned. */
    int (*epochs_load)(struct corio_store *s, const char *const *ids, size_t n,
                       int (*fn)(void *arg, const struct corio_epoch_row *row), void *arg);
    /* Creates or replaces states (distinct (device, epoch)). */
    int (*epochs_put)(struct corio_store *s, const struct corio_epoch_row *rows, size_t n);
    /* The gap of (device, epoch) that holds seq; CORIO_ERR_NOTFOUND. */
    int (*gap_find)(struct corio_store *s, const char *device, int64_t epoch, int64_t seq,
                    struct corio_gap *g);
    int (*gap_delete)(struct corio_store *s, const char *device, int64_t epoch, int64_t from_seq);
    int (*gap_insert)(struct corio_store *s, const char *org, const struct corio_gap *g);
    /* 1 when u->has_presence and the presence was applied, else 0. */
    int (*device_update)(struct corio_store *s, const struct corio_device_update *u);
    /* Applies updates without presence (distinct (org, id)), as device_update does. */
    int (*devices_update)(struct corio_store *s, const struct corio_device_update *u, size_t n);
    int (*counts_add)(struct corio_store *s, const char *org, const struct corio_store_counts *d);
    /* 1 when the batch is new, 0 when it was recorded before (its delivery is counted). */
    int (*batch_record)(struct corio_store *s, const struct corio_batch_rec *b);

    int (*devices)(struct corio_store *s, const char *org, const char *id, corio_device_fn fn,
                   void *arg);
    int (*metric_get)(struct corio_store *s, const char *org, const char *device, const char *name,
                      struct corio_metric_info *mi);
    int (*series)(struct corio_store *s, const char *org, const char *device, const char *metric,
                  enum corio_tier tier, int64_t from_ms, int64_t to_ms, int64_t step_ms,
                  int64_t limit, corio_point_fn fn, void *arg);
    /* The seq gaps of the device, in (epoch, from_seq) order. */
    int (*gaps)(struct corio_store *s, const char *org, const char *device, corio_gap_fn fn,
                void *arg);
    /* The sequence state of each epoch of the device, in epoch order. */
    int (*epochs)(struct corio_store *s, const char *org, const char *device, corio_epoch_fn fn,
                  void *arg);
    int (*stats)(struct corio_store *s, const char *org, struct corio_store_stats *st);
    int (*retain)(struct corio_store *s, const struct corio_retention *r, int64_t now_ms,
                  int64_t *deleted);
    /* Housekeeping outside any transaction (PostgreSQL: time partitions); may be NULL. */
    int (*maintain)(struct corio_store *s, const struct corio_retention *r, int64_t now_ms);
};

struct corio__store_tx; /* store.c's state of the open transaction */

/* Every backend's handle starts with this; backends set ops and leave tx alone. */
struct corio_store {
    const struct corio_store_ops *ops;
    struct corio__store_tx *tx;
};

/* ---- backends --------------------------------------------------------------------- */

/*
 * Opens (creating and migrating when needed) the SQLite database at path, in WAL mode.
 * Returns CORIO_OK and *out (free with corio_store_close), CORIO_ERR_IO or
 * CORIO_ERR_VERSION with a one-line reason in err.
 */
int corio_store_open_sqlite(const char *path, struct corio_store **out, char *err, size_t errlen);

/* The schema version the SQLite backend writes (PRAGMA user_version). */
int corio_store_sqlite_schema_version(void);

/*
 * Connects to PostgreSQL with a libpq connection string ("host=... dbname=..." or a
 * postgresql:// URI), creates or migrates the schema (docs/storage.md), and makes the
 * time partitions around now. A lost connection is re-established by the next call
 * (which fails until the server answers again). Returns CORIO_OK and *out;
 * CORIO_ERR_IO (cannot connect, or a migration failed) or CORIO_ERR_VERSION (a newer
 * program's schema) with a one-line reason in err.
 */
int corio_store_open_pg(const char *conninfo, struct corio_store **out, char *err, size_t errlen);

/* The schema version the PostgreSQL backend writes (its schema_version table). */
int corio_store_pg_schema_version(void);

/* Closes the store (rolling back an open transaction). NULL is fine. */
void corio_store_close(struct corio_store *s);

/* The backend's name: "sqlite" or "postgres". */
const char *corio_store_backend(const struct corio_store *s);

/* CORIO_OK when the database answers a trivial query, else CORIO_ERR_IO. */
int corio_store_ping(struct corio_store *s);

/* ---- transactions ----------------------------------------------------------------- */

/* One batch is one transaction: begin, the ingest calls, commit (or rollback). The
 * ingest calls below open and commit a transaction of their own when none is open.
 * commit first writes what store.c kept in memory; when it fails, call rollback. */
int corio_store_begin(struct corio_store *s);
int corio_store_commit(struct corio_store *s);
int corio_store_rollback(struct corio_store *s);

/* ---- registry --------------------------------------------------------------------- */

/* Insert or replace. Ids must be short ids (CORIO_ERR_INVAL otherwise). Each runs in
 * its own transaction unless one is open. */
int corio_store_put_org(struct corio_store *s, const char *id, const char *name);
int corio_store_put_gateway(struct corio_store *s, const struct corio_gateway_rec *g);
/* Registers a device, or changes its registry fields (never its ingest state). */
int corio_store_put_device(struct corio_store *s, const struct corio_device_rec *d);
/* CORIO_OK and *g, or CORIO_ERR_NOTFOUND. */
int corio_store_get_gateway(struct corio_store *s, const char *id, struct corio_gateway_rec *g);
/* CORIO_OK and the device's organisation, or CORIO_ERR_NOTFOUND. */
int corio_store_device_org(struct corio_store *s, const char *id, char org[CORIO_ID_LEN + 1]);

/* ---- ingest (inside a transaction) ------------------------------------------------ */

/*
 * Writes the identity of m into mid (at least CORIO_MID_MAX + 1 bytes):
 * "d:<device>:<epoch>:<seq>" when m->has_seq, else "g:<gateway>:<gw_epoch>:<gw_id>".
 */
void corio_store_message_id(const struct corio_msg_row *m, char *mid, size_t len);

/*
 * Locks the devices ids[0..n) (any order, repeats allowed; unknown ids are ignored)
 * until the transaction ends, so that no other writer changes their sequence state
 * meanwhile, and reads the sequence state of all their epochs in one go (store.c then
 * needs no read per message). Call it first in a batch's transaction, with every device
 * of the batch: locks taken in one go, in id order, cannot deadlock with another
 * writer's. CORIO_ERR_STATE outside a transaction; CORIO_ERR_INVAL for a bad id.
 */
int corio_store_lock_devices(struct corio_store *s, const char *const *ids, size_t n);

/*
 * Inserts messages m[0..n) by identity. For each, is_new[i] = 1 when it was new
 * (ref[i] is then its reference, for its samples), 0 when a message with that identity
 * exists - stored before, or earlier in m. Counts each message (stored, rejected or
 * duplicate) in its organisation's counters and, for a new stored message of a
 * device, the device's message count (when it has a seq), gateway and last-seen time.
 * Every row is checked first: one bad row (CORIO_ERR_INVAL) inserts nothing. Returns
 * the number of new messages, or an error.
 */
int corio_store_add_messages(struct corio_store *s, const struct corio_msg_row *m, size_t n,
                             int64_t *ref, uint8_t *is_new);

/* One message: 1 when new (*ref set), 0 when its identity exists, or an error. */
int corio_store_add_message(struct corio_store *s, const struct corio_msg_row *m, int64_t *ref);

/*
 * Inserts samples r[0..n) of messages just inserted (r[i].msg a reference that
 * corio_store_add_messages gave), with units[i] (NULL or "": none) for their metrics'
 * descriptors; units may be NULL. inserted[i] = 1 for a sample that was new, 0 for one
 * whose (device, metric, time, message) exists - stored before, or earlier in r. For
 * the new ones: the descriptors (the last unit given wins; an empty one keeps the
 * stored unit; the type follows the latest value), the counters, and for numeric ones
 * their 1-minute and 1-hour rollups, so rollups always equal an aggregate of the raw
 * samples. Strings must be UTF-8 without NUL (corio_store_text_ok). Every row is
 * checked first (CORIO_ERR_INVAL: nothing inserted). Returns the number inserted.
 */
int corio_store_add_samples(struct corio_store *s, const struct corio_sample_row *r,
                            const char *const *units, size_t n, uint8_t *inserted);

/* One sample: 1 when new, 0 when the same (device, metric, time, message) exists. */
int corio_store_add_sample(struct corio_store *s, const struct corio_sample_row *r,
                           const char *unit);

/*
 * Sequence accounting (docs/storage.md, "Gap accounting") for a new message
 * (device, epoch, seq): advances the epoch's highest seq, opens the hole before it as a
 * gap, or fills part of an existing gap (splitting it). Also makes epoch the device's
 * current one when recv_ms is at least as recent as the last. For each gap that now
 * exists and did not before (a new hole, or the pieces of a split), calls fn (may be
 * NULL). Returns CORIO_OK or an error.
 */
int corio_store_seq_stored(struct corio_store *s, const char *org, const char *device,
                           int64_t epoch, int64_t seq, int64_t recv_ms, int64_t now_ms,
                           corio_gap_fn fn, void *arg);

/*
 * Records a heartbeat (last seq assigned, outbox entries pending, drops) of the
 * device's epoch, unless a more recent one (by recv_ms) is already recorded. When it is
 * recorded and reveals a tail gap that differs from the one before, *tail is set and 1
 * is returned; 0 otherwise (tail untouched).
 */
int corio_store_heartbeat(struct corio_store *s, const char *org, const char *device, int64_t epoch,
                          int64_t last, int64_t pending, int64_t drops, int64_t recv_ms,
                          struct corio_gap *tail);

/*
 * Records presence (online or not) at t_ms from gateway, unless a more recent presence
 * is recorded. Returns 1 when applied, 0 when stale.
 */
int corio_store_presence(struct corio_store *s, const char *org, const char *device,
                         const char *gateway, bool online, int64_t t_ms);

/*
 * Records a batch delivery and its counts. Returns 1 for a batch not seen before, 0
 * for a redelivery (counted only in the batch's row).
 */
int corio_store_record_batch(struct corio_store *s, const struct corio_batch_rec *b);

/* ---- queries ---------------------------------------------------------------------- */

/* Calls fn for every device of org, in id order. Returns CORIO_OK, fn's non-zero
 * return, or an error. */
int corio_store_devices(struct corio_store *s, const char *org, corio_device_fn fn, void *arg);

/* Calls fn once for device id of org; CORIO_ERR_NOTFOUND when org has no such device. */
int corio_store_device(struct corio_store *s, const char *org, const char *id, corio_device_fn fn,
                       void *arg);

/* The metric's descriptor; CORIO_ERR_NOTFOUND. */
int corio_store_metric(struct corio_store *s, const char *org, const char *device, const char *name,
                       struct corio_metric_info *mi);

/* The tier a step (ms) is answered from: raw below 60 s, 1 min below 1 h, else 1 h. */
enum corio_tier corio_store_tier_for_step(int64_t step_ms);

/*
 * The series of (device, metric) in [from_ms, to_ms).
 * step_ms == 0: raw samples, the newest `limit` of them, in time order; fn gets
 * t_ms and value. step_ms > 0: one point per step-aligned bucket that holds numeric
 * samples (t_ms = floor(t / step) * step), from the tier corio_store_tier_for_step
 * picks; fn gets min, max, sum, count; at most `limit` buckets (the newest).
 * Returns CORIO_OK, fn's non-zero return, or an error.
 */
int corio_store_series(struct corio_store *s, const char *org, const char *device,
                       const char *metric, int64_t from_ms, int64_t to_ms, int64_t step_ms,
                       int64_t limit, corio_point_fn fn, void *arg);

/*
 * Calls fn for each open gap of the device (seq gaps in (epoch, from_seq) order, then
 * tail gaps derived from heartbeats) and sets *missing to the sequence numbers they
 * hold. Returns CORIO_OK, fn's non-zero return, or an error; CORIO_ERR_NOTFOUND when
 * org has no such device.
 */
int corio_store_gaps(struct corio_store *s, const char *org, const char *device, corio_gap_fn fn,
                     void *arg, int64_t *missing);

int corio_store_stats(struct corio_store *s, const char *org, struct corio_store_stats *st);

/*
 * Deletes what is older than each tier's retention (relative to now_ms): raw samples,
 * 1-minute and 1-hour rollups, and messages and batch records. Runs in its own
 * transactions (CORIO_ERR_STATE inside one). *deleted (may be NULL) gets the number of
 * rows deleted.
 */
int corio_store_retain(struct corio_store *s, const struct corio_retention *r, int64_t now_ms,
                       int64_t *deleted);

/*
 * Housekeeping that keeps the database fast as time advances; run it at start and
 * periodically (corio-cloud does, with retention). PostgreSQL: creates the daily
 * partitions of samples from the retention horizon (a day back when raw samples are
 * kept for ever) to a week ahead, and moves rows that landed in the default partition
 * into partitions of their own. SQLite: nothing. Runs in its own transactions
 * (CORIO_ERR_STATE inside one); several processes may run it at once.
 */
int corio_store_maintain(struct corio_store *s, const struct corio_retention *r, int64_t now_ms);

#endif /* CORIO_CLOUD_STORE_H */
