/*
 * ledger_int.h - the node's internals shared by engine.c (loop thread, submissions),
 * api.c (HTTP handlers) and audit.c (peer tree heads). Not for applications.
 *
 * Locking: l->mu guards everything marked (mu); fields marked (loop) belong to the
 * loop thread; the rest is set before start and then only read.
 */
#ifndef CORIO_LEDGER_INT_H
#define CORIO_LEDGER_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include <sqlite3.h>
#include <uv.h>

#include "corio/crypto.h"
#include "ledger_engine.h"
#include "ledger_sth.h"

struct corio_http;
struct corio_registry;
struct corio_counter;
struct corio_gauge;
struct corio_histogram;

/* A submission: from an HTTP thread (or the benchmark) to the loop and back. */
struct sub {
    struct sub *next;  /* queue or pending list (mu / loop) */
    struct sub *hnext; /* chain in the waiting map (loop) */
    uint8_t *tx;
    size_t len;
    uint8_t id[CORIO_LEDGER_ID_LEN];
    int refs;                       /* (mu) the loop's and the submitter's */
    bool done;                      /* (mu) res is final */
    struct corio_ledger_submit res; /* (mu) */
    pthread_cond_t cv;
};

#define WAIT_BUCKETS 4096
#define MAX_ALARMS   32

struct alarm {
    uint64_t peer;
    const char *kind; /* "root", "consistency", "block", "signature" */
    char detail[200];
    int64_t at_ms;
};

struct corio_ledger {
    struct corio_ledger_opts o;
    char *data_dir, *db_path, *raft_dir, *raft_address, *raft_bind, *http_address;
    char *tls_cert, *tls_key, *sign_key_path, **tls_ca;
    struct corio_ledger_member *members; /* copy of the founding members */
    const struct corio_ledger_app *app;

    struct corio_registry *metrics;
    struct corio_http *http;
    uint16_t http_port;

    /* loop thread */
    uv_loop_t loop;
    bool loop_init;
    pthread_t thread;
    bool thread_running;
    uv_async_t wake;
    uv_timer_t timer;
    struct corio_cons *cons; /* (loop) */
    bool cons_closing, cons_closed;
    struct corio_store *store;          /* (loop) */
    struct sub *pending, *pending_tail; /* (loop) submissions not yet proposed */
    atomic_size_t npending;             /* written by the loop, read anywhere */
    unsigned ninflight;                 /* (loop) */
    struct sub *waiting[WAIT_BUCKETS];  /* (loop) proposed, by id */
    bool change_inflight;               /* (loop) a membership change */
    int64_t mismatch_since_ms;          /* (loop) 0: configuration follows the membership */
    int64_t pending_since_ms;           /* (loop) admitted members not all voters since */
    int64_t pending_warn_ms;            /* (loop) last warning about members not yet voters */
    bool halt_requested;                /* (loop) close consensus at the next wake */
    int64_t last_activity_ms;           /* (loop) monotonic: last proposal or block */
    bool stop_requested;                /* (mu) */

    pthread_mutex_t mu;
    struct sub *queue, *queue_tail;  /* (mu) from submitters */
    size_t nqueue;                   /* (mu) */
    struct corio_ledger_status st;   /* (mu) published by the loop and the auditor */
    struct alarm alarms[MAX_ALARMS]; /* (mu) */
    size_t nalarms;                  /* (mu) */
    uint8_t sth[CORIO_STH_MAX];      /* (mu) the signed head of sth_height */
    size_t sth_len;
    uint64_t sth_height;
    bool sth_valid;
    bool stopped;

    /* readers for HTTP threads and the auditor (mu) */
    sqlite3 *readers[16];
    size_t nreaders;

    /* signing */
    struct corio_key key;
    uint8_t pub[CORIO_P256_PUB_COMPRESSED];
    uint8_t *cert_der; /* the node certificate (DER) shown next to tree heads, or NULL */
    size_t cert_der_len;

    /* auditor */
    pthread_t audit_thread;
    bool audit_running;
    pthread_cond_t audit_cv;
    void *trust; /* X509_STORE * of the organisation CAs, or NULL without TLS */

    /* metrics */
    struct corio_gauge *m_height, *m_tree, *m_leader, *m_term, *m_queue, *m_halted, *m_fork;
    struct corio_gauge *m_tls_failed, *m_tls_open;
    struct corio_counter *m_blocks, *m_tx[2], *m_sub[6], *m_alarm[4], *m_malformed;
    struct corio_counter *m_peer[3];
    struct corio_histogram *m_apply;
};

/* Submission result labels (m_sub). */
enum { SUB_COMMITTED, SUB_REFUSED_CHECK, SUB_NOT_LEADER, SUB_UNKNOWN, SUB_FULL, SUB_CLOSED };

/* A read-only connection for this thread's use; give it back with corio__reader_put. */
sqlite3 *corio__reader_get(struct corio_ledger *l);
void corio__reader_put(struct corio_ledger *l, sqlite3 *db);

/* The signed tree head of the current head (cached per height). Copies it into out
 * (CORIO_STH_MAX bytes) and its fields into s. Returns the length or an error. */
int corio__sth_current(struct corio_ledger *l, uint8_t *out, struct corio_sth *s);

/* Percent-decodes a request path into out (cap bytes, NUL-terminated). Returns 0, or
 * -1 for a bad escape, an encoded NUL or a path that does not fit (api.c). */
int corio__path_decode(const char *in, char *out, size_t cap);

/* The HTTP routes (api.c). */
int corio__api_routes(struct corio_ledger *l);
/* An SSE "block" event for a new block (api.c); called by the loop. */
void corio__api_block_event(struct corio_ledger *l, const struct corio_store_head *h, size_t ntxs);

/* The auditor (audit.c). */
int corio__audit_start(struct corio_ledger *l, char *err, size_t errlen);
void corio__audit_stop(struct corio_ledger *l);
/* Records a fork alarm (mu taken inside): log line, metric, status. */
void corio__alarm(struct corio_ledger *l, uint64_t peer, int kind, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
enum { ALARM_ROOT, ALARM_CONSISTENCY, ALARM_BLOCK, ALARM_SIGNATURE };

/* Wall clock in ms. */
int64_t corio__now_ms(void);
/* Lowercase hex of n bytes into out (2n + 1 bytes). */
void corio__hex(const uint8_t *p, size_t n, char *out);

#endif /* CORIO_LEDGER_INT_H */
