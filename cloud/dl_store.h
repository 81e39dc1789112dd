/*
 * dl_store.h - what corio-cloud keeps for the downlink (docs/storage.md, "Downlink"):
 * commands with their state, desired and reported configuration, the clocks of devices'
 * boots and the messages that could not be dated, the ledger's registry exports and
 * blocks, and what each gateway said in its state message.
 *
 * The tables live in the cloud's database beside the telemetry, on a connection of
 * their own, so that the downlink never takes the ingest worker's transaction: every
 * write here is short and its own transaction (BEGIN IMMEDIATE, the busy timeout waits
 * for the ingest). One struct is shared by the API's threads, the downlink's sender and
 * the ingest worker: a mutex inside makes each call atomic. Only SQLite is implemented;
 * a PostgreSQL backend for several cloud instances is future work (docs/storage.md).
 *
 * Errors: CORIO_OK (or a count, or 0/1 where stated); CORIO_ERR_NOTFOUND;
 * CORIO_ERR_INVAL; CORIO_ERR_IO (logged with SQLite's message); CORIO_ERR_NOSPACE;
 * CORIO_ERR_VERSION (a database of a newer program).
 */
#ifndef CORIO_CLOUD_DL_STORE_H
#define CORIO_CLOUD_DL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define CORIO_DL_CID_LEN 16

/* A command's state (docs/api.md). */
enum corio_dl_state {
    CORIO_DL_QUEUED = 0,    /* stored; not sent yet (no gateway known, or the broker away) */
    CORIO_DL_SENT = 1,      /* sent to the device's gateway; resent until answered */
    CORIO_DL_DELIVERED = 2, /* the gateway handed it to the device */
    CORIO_DL_DONE = 3,      /* the device ran it and succeeded */
    CORIO_DL_FAILED = 4,    /* the device answered with a failure (or does not know it) */
    CORIO_DL_EXPIRED = 5,   /* its expiry passed without an answer (or the device said so) */
};

const char *corio_dl_state_name(int state);

/* A command as stored; pointers valid during the callback only. */
struct corio_dl_cmd {
    int64_t seq;
    char org[CORIO_ID_LEN + 1], device[CORIO_ID_LEN + 1];
    uint8_t cid[CORIO_DL_CID_LEN];
    char name[65];
    const uint8_t *args; /* CBOR, or NULL */
    size_t args_len;
    int64_t created_ms, expires_ms;
    int state;
    char gateway[CORIO_ID_LEN + 1]; /* where it was last sent ("" before) */
    int64_t sends, last_sent_ms, next_send_ms, delivered_ms, answered_ms;
    bool has_answer;
    int status, err;       /* the device's answer (enum corio_cmd_status, corio_err) */
    const uint8_t *result; /* CBOR, or NULL */
    size_t result_len;
};

/* Desired and reported configuration of one device. */
struct corio_dl_cfg {
    char org[CORIO_ID_LEN + 1], device[CORIO_ID_LEN + 1];
    uint64_t version;       /* of the desired configuration; 0: none set */
    const uint8_t *desired; /* CBOR map */
    size_t desired_len;
    int64_t set_ms, sends, last_sent_ms, next_send_ms;
    bool has_reported;
    uint64_t reported_version;
    int reported_status, reported_err;
    const uint8_t *reported; /* CBOR map, or NULL */
    size_t reported_len;
    int64_t reported_ms;
};

struct corio_dl_boot {
    uint64_t boot;
    int64_t base_ms;    /* the wall time of its uptime 0, as well as known */
    int64_t heartbeats; /* heartbeats of this boot seen (0: it cannot date messages) */
};

struct corio_dl_gw {
    char id[CORIO_ID_LEN + 1], org[CORIO_ID_LEN + 1];
    bool has_state;
    uint64_t height, want; /* its registry height and the relays it asks for (state) */
    int64_t state_ms, queued, online;
    uint64_t relay_height; /* the height of the last relay sent to it */
    int64_t relay_sent_ms, relays;
};

typedef int (*corio_dl_cmd_fn)(const struct corio_dl_cmd *c, void *arg);
typedef int (*corio_dl_cfg_fn)(const struct corio_dl_cfg *c, void *arg);
typedef int (*corio_dl_boot_fn)(const struct corio_dl_boot *b, void *arg);
typedef int (*corio_dl_gw_fn)(const struct corio_dl_gw *g, void *arg);

struct corio_dl_store;

/* Opens (creating and migrating the dl_ tables) the database at path. */
int corio_dl_open(const char *path, struct corio_dl_store **out, char *err, size_t errlen);
void corio_dl_close(struct corio_dl_store *s);

/* ---- commands ---- */

/* Stores a new command (state queued) with the next sequence number (*seq). */
int corio_dl_cmd_add(struct corio_dl_store *s, const char *org, const char *device,
                     const char *name, const uint8_t *args, size_t args_len, int64_t created_ms,
                     int64_t expires_ms, const uint8_t cid[CORIO_DL_CID_LEN], int64_t *seq);
/* The device's commands, newest first, at most limit. */
int corio_dl_cmd_list(struct corio_dl_store *s, const char *org, const char *device, int limit,
                      corio_dl_cmd_fn fn, void *arg);
/* One command by its seq; CORIO_ERR_NOTFOUND. */
int corio_dl_cmd_get(struct corio_dl_store *s, const char *org, const char *device, int64_t seq,
                     corio_dl_cmd_fn fn, void *arg);
/* Open commands (queued, sent, delivered) due for sending at now, not expired, oldest
 * first, at most limit. */
int corio_dl_cmd_due(struct corio_dl_store *s, int64_t now_ms, int limit, corio_dl_cmd_fn fn,
                     void *arg);
/* Records a send: state sent (unless delivered already), the gateway, next send. */
int corio_dl_cmd_sent(struct corio_dl_store *s, int64_t seq, const char *gateway, int64_t now_ms,
                      int64_t next_ms);
/* The gateway delivered it: sent -> delivered. Returns 1 when it changed. */
int corio_dl_cmd_delivered(struct corio_dl_store *s, const char *device, const uint8_t *cid,
                           size_t cid_len, int64_t now_ms);
/* The device's answer closes an open command of that device: done, failed or expired by
 * status. Returns 1 when it closed one, 0 when no open command of the device has the cid
 * (a local command, or answered before). */
int corio_dl_cmd_answer(struct corio_dl_store *s, const char *device, const uint8_t *cid,
                        size_t cid_len, int status, int err, const uint8_t *result,
                        size_t result_len, int64_t now_ms);
/* Open commands past their expiry become expired; *n gets how many. */
int corio_dl_cmd_expire(struct corio_dl_store *s, int64_t now_ms, int64_t *n);

/* ---- configuration ---- */

/* Sets the desired configuration (a CBOR map): its version goes up by one (*version). */
int corio_dl_cfg_set(struct corio_dl_store *s, const char *org, const char *device,
                     const uint8_t *cfg, size_t len, int64_t now_ms, uint64_t *version);
int corio_dl_cfg_get(struct corio_dl_store *s, const char *org, const char *device,
                     corio_dl_cfg_fn fn, void *arg);
/* Devices whose desired version is not reported yet and whose next send is due. */
int corio_dl_cfg_due(struct corio_dl_store *s, int64_t now_ms, int limit, corio_dl_cfg_fn fn,
                     void *arg);
int corio_dl_cfg_sent(struct corio_dl_store *s, const char *device, int64_t now_ms,
                      int64_t next_ms);
/* A report from the device, kept unless a report of a higher version is. Returns 1 when
 * kept. */
int corio_dl_cfg_reported(struct corio_dl_store *s, const char *org, const char *device,
                          uint64_t version, int status, int err, const uint8_t *cfg, size_t len,
                          int64_t now_ms);

/* ---- time ---- */

/* Evidence about a boot's clock: its uptime 0 was at or before bound_ms (the receive time
 * of a message minus the uptime it carries); from_heartbeat counts it as a heartbeat. */
struct corio_dl_boot_note {
    char device[CORIO_ID_LEN + 1];
    uint64_t boot; /* at most INT64_MAX */
    int64_t bound_ms;
    bool from_heartbeat;
};
/* Records the n notes of one batch in one transaction: all or none. Returns CORIO_OK,
 * CORIO_ERR_INVAL (a bad org, device or boot: nothing written) or CORIO_ERR_IO. */
int corio_dl_boot_notes(struct corio_dl_store *s, const char *org,
                        const struct corio_dl_boot_note *notes, size_t n);
int corio_dl_boot_get(struct corio_dl_store *s, const char *device, uint64_t boot,
                      struct corio_dl_boot *b);
int corio_dl_boots(struct corio_dl_store *s, const char *org, const char *device,
                   corio_dl_boot_fn fn, void *arg);
/* A message that could not be dated (kept once per identity). */
int corio_dl_untimed_add(struct corio_dl_store *s, const char *org, const char *device,
                         const char *mid, uint64_t boot, uint64_t upt_ms, int64_t recv_ms);
int corio_dl_untimed_count(struct corio_dl_store *s, const char *org, const char *device,
                           int64_t *n);

/* ---- the ledger's registry ---- */

int corio_dl_export_put(struct corio_dl_store *s, uint64_t height, const char *text, size_t len,
                        int64_t now_ms);
/* The export at height (CORIO_ERR_NOTFOUND), or the latest (height 0): malloc'd. */
int corio_dl_export_get(struct corio_dl_store *s, uint64_t height, uint64_t *got, char **text,
                        size_t *len);
/* Forgets exports below height `from`, never the latest. */
int corio_dl_export_prune(struct corio_dl_store *s, uint64_t from);
int corio_dl_block_put(struct corio_dl_store *s, uint64_t height, const uint8_t *data, size_t len);
int corio_dl_block_get(struct corio_dl_store *s, uint64_t height, uint8_t **data, size_t *len);
/* Keeps blocks from height `from` on. */
int corio_dl_block_prune(struct corio_dl_store *s, uint64_t from);

/* ---- gateways ---- */

/* Makes sure the gateway has a row. */
int corio_dl_gw_touch(struct corio_dl_store *s, const char *org, const char *gateway);
int corio_dl_gw_state(struct corio_dl_store *s, const char *org, const char *gateway,
                      uint64_t height, uint64_t want, int64_t queued, int64_t online,
                      int64_t now_ms);
int corio_dl_gw_relayed(struct corio_dl_store *s, const char *gateway, uint64_t height,
                        int64_t now_ms);
int corio_dl_gw_list(struct corio_dl_store *s, corio_dl_gw_fn fn, void *arg);

#endif /* CORIO_CLOUD_DL_STORE_H */
