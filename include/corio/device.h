/*
 * device.h - the device layer of libcorio: what an application on a board calls. It
 * ties the SDK's pieces together as DESIGN.md §1 asks of a device: values the
 * application records become a SenML pack stamped with (epoch, seq) - and with (boot
 * count, uptime) while the device has no time - that is appended to the outbox on
 * flash, and only then published, QoS 1, on corio/v1/d/{id}/up/json or up/cbor; a
 * PUBACK marks it acknowledged, anything else leaves it for a later retry. The
 * connection authenticates in a single step (client id = short id, username = DID,
 * password = base64url of an EAT for the gateway carrying a counter kept in flash) or,
 * under MQTT 5, with enhanced authentication corio-eat-v1 (an EAT over the gateway's
 * nonce and the device's rotation chain, eat_auth.h); a heartbeat goes out on up/hb,
 * and time comes from dn/time. A device the gateway does not know yet is quarantined:
 * it then publishes nothing of its own and only answers claims (docs/onboarding.md).
 * Commands (dn/cmd) go to the application's handlers by name and their results, like
 * reported configuration (dn/cfg, up/cfg), go through the outbox to up/res and up/cfg
 * (device_cmd.c).
 *
 * Shape of use:
 *
 *     static struct corio_device dev;              // must not move after init
 *     struct corio_device_config cfg;
 *     corio_device_config_init(&cfg);
 *     cfg.key = &key; cfg.gateway_id = "…24 chars…";
 *     cfg.transport = &tp; cfg.clock = &clk; cfg.random = &rnd; cfg.flash = &flash;
 *     cfg.tx = tx; cfg.tx_len = sizeof tx; ... rx, pack, msg likewise
 *     corio_device_init(&dev, &cfg);               // a boot: opens the store and outbox
 *     corio_device_start(&dev);                    // connects, and reconnects by itself
 *     for (;;) {
 *         wait for the socket or corio_device_poll_ms(&dev), whichever comes first
 *         corio_device_process(&dev);
 *         if (time to sample) {
 *             corio_device_begin(&dev);
 *             corio_device_add_number(&dev, "temp", "Cel", 21.5);
 *             corio_device_commit(&dev, &seq);     // durable now; published as it can be
 *         }
 *     }
 *
 * The flash region given at init is split: its first CORIO_DEVICE_STORE_SECTORS
 * sectors hold the counter store (boot count and authentication counter, see
 * docs/sdk-device.md), the rest the outbox (outbox.h), which needs at least two.
 *
 * Like the rest of the SDK it allocates nothing, calls no OS and never blocks beyond
 * the ports' own calls (flash operations block). Callbacks run only inside
 * corio_device_process(). Not thread-safe: one caller at a time. Return values follow
 * include/corio/error.h.
 */
#ifndef CORIO_DEVICE_H
#define CORIO_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "corio/cbor.h"
#include "corio/config.h"
#include "corio/crypto.h"
#include "corio/did.h"
#include "corio/downlink.h"
#include "corio/eat_auth.h"
#include "corio/error.h"
#include "corio/flash.h"
#include "corio/mqtt.h"
#include "corio/outbox.h"
#include "corio/rotation.h"
#include "corio/senml.h"
#include "corio/topic.h"
#include "corio/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Sectors at the start of the flash region that the counter store takes (it writes one
 * while the other holds the latest record; docs/sdk-device.md). Not configurable. */
#define CORIO_DEVICE_STORE_SECTORS 2

/* Authentication counters reserved per write to the counter store. A reboot skips
 * what was reserved and not used (at most this many minus one), never reusing one;
 * a larger block means fewer flash writes and bigger skips. */
#ifndef CORIO_DEVICE_COUNTER_BLOCK
#define CORIO_DEVICE_COUNTER_BLOCK 16
#endif
#if CORIO_DEVICE_COUNTER_BLOCK < 1
#error "CORIO_DEVICE_COUNTER_BLOCK must be at least 1"
#endif

/* Bytes kept for the single-step EAT (and four thirds of that for its base64url
 * text). A token without firmware claims takes about 230 bytes; with a 32-byte
 * firmware name and version about 480 (docs/eat-profile.md §8). */
#ifndef CORIO_DEVICE_EAT_MAX
#define CORIO_DEVICE_EAT_MAX 512
#endif

/* Recent commands remembered (in RAM) with their answers, so that a command delivered
 * again (same correlation id) is answered the same without running twice. */
#ifndef CORIO_DEVICE_CMD_RING
#define CORIO_DEVICE_CMD_RING 8
#endif
#if CORIO_DEVICE_CMD_RING < 1 || CORIO_DEVICE_CMD_RING > 255
#error "CORIO_DEVICE_CMD_RING must be between 1 and 255"
#endif

/* Bytes a command handler may write as its result (one CBOR item). */
#ifndef CORIO_DEVICE_RESULT_MAX
#define CORIO_DEVICE_RESULT_MAX 32
#endif
#if CORIO_DEVICE_RESULT_MAX < 1 || CORIO_DEVICE_RESULT_MAX > 255
#error "CORIO_DEVICE_RESULT_MAX must be between 1 and 255"
#endif

/* Bytes kept for an enhanced-authentication answer (eat_auth.h): the EAT and the
 * rotation chain. The default holds a chain of two rotations with one endorsement each;
 * a device that keeps a longer chain raises it. Shares its memory with the single-step
 * password. */
#ifndef CORIO_DEVICE_AUTH_MAX
#define CORIO_DEVICE_AUTH_MAX                                                                      \
    CORIO_EAT_AUTH_SIZE(CORIO_DEVICE_EAT_MAX, CORIO_ROTATION_CHAIN_MAX(2u, 1u))
#endif

/* How the device logs in (corio_device_config.auth). */
enum corio_device_auth {
    CORIO_DEVICE_AUTH_SINGLE = 0, /* username = DID, password = EAT with a counter */
    CORIO_DEVICE_AUTH_EAT = 1,    /* MQTT 5 enhanced authentication corio-eat-v1 */
};

/* Heartbeat interval by default (corio_device_config.heartbeat_ms). */
#ifndef CORIO_DEVICE_HEARTBEAT_MS
#define CORIO_DEVICE_HEARTBEAT_MS 60000u
#endif

/* Notifications. Each is optional (NULL) and called only from corio_device_process(). */
struct corio_device_callbacks {
    /* The connection came up (up = true, err = CORIO_OK: CONNACK accepted), or an
     * attempt failed or the connection ended (up = false; err says why, as
     * on_disconnect in mqtt.h; CORIO_OK after corio_device_stop() completed). */
    void (*on_link)(void *app, bool up, int err);
    /* A message arrived on dn/ota (kind says which); the payload is valid during the
     * call only. dn/time, dn/cmd and dn/cfg are handled by the device itself (commands
     * through corio_device_config.commands, configuration through on_config). The
     * application may record and commit a pack from here. */
    void (*on_downlink)(void *app, enum corio_topic_kind kind, const uint8_t *payload, size_t len);
    /* The device learnt the time from dn/time (milliseconds since 1970). */
    void (*on_time)(void *app, uint64_t unix_ms);
    /* A desired configuration arrived on dn/cfg: its version and the configuration, a
     * CBOR map (valid during the call). Apply it and return CORIO_OK, or refuse it with
     * a negative corio_err. The device then reports on up/cfg what it runs: what the
     * handler wrote into `reported` (one CBOR map; the encoder writes into the device's
     * pack buffer), or when it wrote nothing, the desired map if applied and no map if
     * refused. A version below the last one taken in this boot is ignored. Without this
     * callback every desired configuration is refused with CORIO_ERR_UNSUPPORTED. */
    int (*on_config)(void *app, uint64_t version, const uint8_t *cfg, size_t len,
                     struct corio_cbor_enc *reported);
    /* The "decommission" command: erase the device's keys and credentials now. Called
     * once its answer ("done") is on flash; the device then publishes the answer on the
     * connection it still has, disconnects when the gateway acknowledges it (or the
     * connection ends) and never connects again (corio_device_start() answers
     * CORIO_ERR_STATE). Without this callback "decommission" is an unknown command. */
    void (*on_decommission)(void *app);
};

/* A command the application handles (docs/sdk-device.md, "Commands"). */
struct corio_device_command {
    const char *name; /* NUL-terminated; corio_cmd_name_ok() */
    /* Runs cmd (its arguments are cmd->args, one CBOR item, or none). The handler may
     * write one CBOR item into result (an encoder over CORIO_DEVICE_RESULT_MAX bytes):
     * the command's result. Returns CORIO_OK (done) or a negative corio_err (failed,
     * reported as "err"). Called at most once per correlation id among the last
     * CORIO_DEVICE_CMD_RING commands of this boot, never after the command's expiry when
     * the device has time, and never while the application holds a pack open. */
    int (*run)(void *app, const struct corio_cmd *cmd, struct corio_cbor_enc *result);
};

/* What corio_device_init() needs. Start from corio_device_config_init(). Everything
 * pointed to is borrowed and must outlive the device, except the ports and callbacks
 * tables, which are copied (their ctx pointers stay borrowed). */
struct corio_device_config {
    /* Identity. key signs the EATs (its backend also hashes); key_number is its number
     * in the DID (0: the inception key). device_id is the short id (24 characters,
     * NUL-terminated); NULL derives it from key, which is right for key 0 only. */
    const struct corio_key *key;
    uint32_t key_number;
    const char *device_id;
    /* The gateway's short id: the EATs' audience (aud). Required. */
    const char *gateway_id;
    /* The EAT's assurance claim: CORIO_EAT_REPORTED (also when 0) or
     * CORIO_EAT_ATTESTED, only when the key lives beyond the application. */
    uint8_t assurance;
    /* Firmware claims for a gateway that checks firmware: fw_digest (32 bytes, the
     * SHA-256 of the running image) and fw_version (NUL-terminated, 1..32 bytes), or
     * both NULL; fw_name optional. */
    const uint8_t *fw_digest;
    const char *fw_version;
    const char *fw_name;
    /* How to log in: CORIO_DEVICE_AUTH_SINGLE (the default) or CORIO_DEVICE_AUTH_EAT (MQTT
     * 5 only), which the registry's auth=eat asks for and which an unregistered device
     * needs to reach quarantine and be claimed. */
    enum corio_device_auth auth;
    /* Enhanced authentication presents the rotation chain (rotation.h) from key 0 to key
     * key_number: borrowed, and required when key_number > 0; with key 0 leave it NULL
     * (the device makes the one-key chain itself). At most CORIO_DEVICE_AUTH_MAX bytes
     * together with a token. */
    const uint8_t *chain;
    size_t chain_len;
    /* The claim secret printed with the device (its QR code): text of 1 to
     * CORIO_CLAIM_SECRET_MAX bytes, NUL-terminated, borrowed; NULL: claims are never
     * answered. While quarantined, the device signs a claim only for a nonce it
     * recomputes from this secret (docs/onboarding.md). */
    const char *claim_secret;

    /* Ports (transport.h, flash.h): required. */
    const struct corio_transport *transport;
    const struct corio_clock *clock;
    const struct corio_random *random;
    const struct corio_flash *flash;

    /* Caller buffers, borrowed for the device's life; each at least 64 bytes.
     * tx queues outgoing MQTT packets: it must hold CONNECT with its token (about
     * 400 bytes; more with firmware claims) and the largest pack plus about 60
     * bytes; more lets several publishes queue. rx holds one incoming packet (the
     * largest downlink). pack is where a pack is built: its size, and the outbox's
     * largest payload, bound a pack. msg receives stored packs read back to publish
     * them; make it at least as large as pack. */
    uint8_t *tx;
    size_t tx_len;
    uint8_t *rx;
    size_t rx_len;
    uint8_t *pack;
    size_t pack_len;
    uint8_t *msg;
    size_t msg_len;

    /* Behaviour. */
    enum corio_format format;    /* packs and heartbeats: JSON or CBOR (default CBOR) */
    bool no_time;                /* never subscribe to dn/time: stamp boot count and uptime */
    uint32_t heartbeat_ms;       /* heartbeat interval; 0: none (default
                                    CORIO_DEVICE_HEARTBEAT_MS) */
    uint8_t max_inflight;        /* unacknowledged publishes at once, 1..CORIO_MQTT_MAX_INFLIGHT
                                    (default CORIO_MQTT_MAX_INFLIGHT) */
    uint8_t mqtt_version;        /* CORIO_MQTT_V5 (default) or CORIO_MQTT_V311 */
    uint16_t keepalive_s;        /* default 60 */
    uint32_t connect_timeout_ms; /* default 10000 */
    /* Reconnects after failed attempts and lost connections (a full gateway refuses
     * by disconnecting), and waits before retrying after a PUBLISH was refused with a
     * failure reason code: the same policy (mqtt.h), both growing with consecutive
     * failures. */
    struct corio_mqtt_backoff backoff;

    const struct corio_device_callbacks *callbacks; /* NULL: none */
    void *app;                                      /* passed to every callback */

    /* Commands by name (names distinct), borrowed; NULL with ncommands 0: none, and
     * every command but "decommission" (see on_decommission) is answered "unknown". */
    const struct corio_device_command *commands;
    size_t ncommands;
};

/* Fills *cfg with the defaults above: no identity, ports or buffers. */
void corio_device_config_init(struct corio_device_config *cfg);

/* What the application may ask (corio_device_stats()). Counts are since init. */
struct corio_device_stats {
    bool connected;
    bool has_time;         /* time came from dn/time or corio_device_set_time() */
    uint32_t boot_count;   /* this boot's number, from the counter store (first: 1) */
    uint64_t uptime_ms;    /* since init */
    uint64_t unix_ms;      /* the time now, when has_time */
    uint32_t epoch;        /* the outbox's (as in outbox.h) */
    uint32_t last_seq;     /* last sequence number assigned */
    uint32_t pending;      /* outbox entries not yet acknowledged */
    uint32_t drops;        /* unacknowledged entries the ring overwrote, this epoch */
    uint32_t inflight;     /* publishes awaiting their PUBACK now */
    uint64_t counter;      /* the authentication counter of the latest token */
    uint32_t produced;     /* packs committed to the outbox */
    uint32_t published;    /* PUBLISHes handed to the client (first sends) */
    uint32_t resent;       /* PUBLISHes the client sent again after a reconnect */
    uint32_t acked;        /* PUBACKs that marked an entry acknowledged */
    uint32_t refused;      /* PUBLISHes refused with a failure reason code */
    uint32_t skipped;      /* entries that could not be read back or sent as they are
                              (left in the outbox; tried again on the next connection) */
    uint32_t connects;     /* CONNACKs accepted */
    uint32_t link_errors;  /* failed attempts and lost connections */
    uint32_t login_errors; /* tokens that could not be made (store or crypto failure) */
    uint32_t heartbeats;   /* heartbeats handed to the client */
    uint32_t resend_requests; /* dn/resend requests taken */
    uint32_t replayed;     /* acknowledged entries published again for such a request */
    uint32_t commands;     /* commands answered (run, expired, unknown), duplicates not
                              included */
    uint32_t duplicates;   /* commands delivered again and answered from the ring */
    uint32_t configs;      /* desired configurations answered */
    uint32_t malformed;    /* dn/cmd or dn/cfg payloads that did not decode (PUBACK 0x99) */
    uint32_t deferred;     /* dn/cmd or dn/cfg refused because a pack was open (PUBACK
                              0x80 under MQTT 5; the gateway delivers them again) */
    uint32_t unanswered;   /* answers that could not be appended to the outbox (the
                              command stays in the ring; a redelivery is answered) */
    bool quarantined;      /* the gateway admitted the device to quarantine only */
    uint32_t claims;       /* claim requests answered with an EAT */
    uint32_t claims_refused; /* claim requests refused (wrong nonce, no secret, not key 0) */
    uint8_t store;         /* enum corio_device_store_opened: what init found */
    uint8_t outbox;        /* enum corio_dev_outbox_opened */
};

/* What the counter store's open found (stats.store). */
enum corio_device_store_opened {
    CORIO_DEVICE_STORE_RECOVERED = 0, /* a valid record was found */
    CORIO_DEVICE_STORE_BLANK,         /* erased: a first boot */
    CORIO_DEVICE_STORE_CORRUPT,       /* written, but no valid record: started over,
                                         counters from 1 (a gateway that saw higher ones
                                         refuses them until they pass it) */
};

/* The counter store's state (internal; docs/sdk-device.md has the format). */
struct corio_device_store {
    struct corio_flash flash; /* the store's two sectors */
    uint32_t sector;          /* the sector taking records */
    uint32_t pos;             /* the next slot in it */
    uint32_t boot;            /* this boot's count */
    uint64_t next;            /* the next counter to hand out */
    uint64_t limit;           /* counters below it are reserved on flash */
    uint8_t opened;           /* enum corio_device_store_opened */
};

/* A window of a flash region (internal): some of base's sectors, seen as a region of
 * their own. */
struct corio_device_flash_view {
    const struct corio_flash *base; /* the device's copy of the application's region */
    uint32_t offset;                /* byte offset of the window in base */
    uint32_t size;                  /* bytes in the window */
};

/* A command remembered with its answer (internal). */
struct corio_device_cmd_slot {
    uint8_t cid[CORIO_CMD_CID_MAX];
    uint8_t cid_len; /* 0: an empty slot */
    uint8_t status;  /* enum corio_cmd_status */
    uint8_t res_len;
    int32_t err;
    uint8_t res[CORIO_DEVICE_RESULT_MAX];
};

/* The device. Caller-owned (any storage class) and must not move after init: the
 * client and the outbox point into it. Every field is private. */
struct corio_device {
    struct corio_flash flash; /* the application's region, copied */
    struct corio_device_flash_view store_view, outbox_view;
    struct corio_device_store store;
    struct corio_dev_outbox ob;
    struct corio_dev_outbox_iter it; /* the publishing position */
    struct corio_mqtt mqtt;
    struct corio_clock clk;
    struct corio_random rnd;
    struct corio_device_callbacks cb;
    void *app;
    const struct corio_key *key;
    uint32_t key_number;
    struct corio_did did;
    char id[CORIO_SHORT_ID_LEN + 1];
    char did_text[CORIO_DID_BUF];
    char gateway[CORIO_SHORT_ID_LEN + 1];
    char bn[CORIO_SHORT_ID_LEN + 12]; /* "urn:corio:<id>:" */
    char topic[CORIO_TOPIC_MAX];      /* the topic of the publish being made */
    char subs[3][CORIO_TOPIC_MAX];    /* downlink filters, borrowed by the client */
    uint8_t assurance;
    const uint8_t *fw_digest;
    const char *fw_version;
    const char *fw_name;
    uint8_t *pack;
    size_t pack_len;
    uint8_t *msg;
    size_t msg_len;
    uint8_t format;
    bool no_time;
    bool connected;
    bool started;
    bool rewind;  /* publish again from the oldest unacknowledged entry */
    bool holding; /* a refusal's backoff is running */
    bool hb_due;  /* a heartbeat is owed now */
    uint8_t max_inflight;
    uint8_t n_inflight;
    uint32_t inflight[CORIO_MQTT_MAX_INFLIGHT]; /* seqs awaiting a PUBACK */
    uint32_t inflight_replay;                   /* bit i: inflight[i] is a replay */
    bool replaying;                             /* a gateway's resend request runs */
    struct corio_dev_outbox_iter replay_it;     /* its position */
    uint32_t heartbeat_ms;
    struct corio_mqtt_backoff backoff;
    uint32_t refusals; /* consecutive refused PUBLISHes */
    uint32_t hold_until;
    uint32_t last_clock; /* the clock at the last tick */
    uint64_t uptime_ms;
    uint64_t next_hb; /* uptime of the next heartbeat */
    bool has_time;
    uint64_t time_base; /* unix ms at uptime 0 */
    uint32_t epoch;
    uint32_t next_seq; /* the seq the next append gets */
    /* The pack being built. */
    bool pack_open;
    uint32_t pack_records;
    uint32_t pack_seq;
    uint8_t pack_time_kind;
    uint64_t pack_time_ms;
    struct corio_senml_enc enc;
    struct corio_device_stats st;
    /* Commands and configuration (device_cmd.c). */
    const struct corio_device_command *commands;
    size_t ncommands;
    struct corio_device_cmd_slot ring[CORIO_DEVICE_CMD_RING];
    uint8_t ring_next;
    bool cfg_taken;       /* a desired configuration was taken in this boot */
    uint64_t cfg_version; /* its version */
    bool decommissioned;  /* the keys are gone: never connect again */
    uint32_t decom_seq;   /* the seq of the decommission answer */
    /* Enhanced authentication and claims. */
    uint8_t auth_mode; /* enum corio_device_auth */
    bool quarantined;
    bool subs_due;   /* the subscriptions must follow the admission status */
    bool reauth_due; /* a new key waits to be presented */
    const uint8_t *chain;
    size_t chain_len;
    uint8_t chain0[40]; /* the one-key chain of key 0, when key_number is 0 */
    size_t chain0_len;
    const char *claim_secret;
    size_t claim_secret_len;
    char qsub[CORIO_QUARANTINE_TOPIC_MAX]; /* corio/v1/q/{id}/dn/claim */
    /* The token, and what carries it: its base64url text (the MQTT password) or the
     * enhanced-authentication answer (token and chain). */
    uint8_t eat[CORIO_DEVICE_EAT_MAX];
    union {
        char password[(CORIO_DEVICE_EAT_MAX * 4 + 2) / 3 + 1];
        uint8_t answer[CORIO_DEVICE_AUTH_MAX];
    } cred;
};

/*
 * A boot: prepares d from cfg. Opens the counter store in the first
 * CORIO_DEVICE_STORE_SECTORS sectors of cfg->flash, counts this boot and reserves
 * authentication counters there; opens (recovers, or formats with a random epoch)
 * the outbox in the rest; prepares the MQTT client (client id = short id) and its
 * downlink subscriptions (dn/#, or dn/cmd, dn/cfg and dn/ota with no_time). Connects
 * nothing: see corio_device_start(). Calling it again on the same flash (after
 * dropping or stopping the previous d) is a reboot: the boot count goes up, seq
 * continues, unacknowledged entries are published again, no counter is reused.
 * Returns CORIO_OK; CORIO_ERR_INVAL (a missing argument, port function or buffer, a
 * buffer under 64 bytes, an id that is not a short id, max_inflight out of range, a
 * flash region without room for the store and two outbox sectors, a sector under 128
 * bytes or not a multiple of 32, an unknown format or version, enhanced authentication
 * under MQTT 3.1.1, a key above 0 without a chain, a chain or claim secret too large);
 * CORIO_ERR_IO (the
 * flash failed); CORIO_ERR_FULL (the outbox's sequence numbers are exhausted); the
 * errors of corio_dev_outbox_open() and corio_mqtt_init(); or the key's backend's
 * errors while deriving the id.
 */
int corio_device_init(struct corio_device *d, const struct corio_device_config *cfg);

/*
 * Switches the device to key key_number of its DID after a rotation: key (borrowed)
 * signs every token from now on, and chain (borrowed; rotation.h) leads from key 0 to
 * it. Under enhanced authentication a connected device re-authenticates at once (AUTH
 * 0x19), so the gateway learns the new key and refuses the old one from then on; a
 * single-step device uses it from its next connection. Returns CORIO_OK; CORIO_ERR_INVAL
 * (d or key NULL, a key number below the current one, no chain for a key above 0 under
 * enhanced authentication, a chain that does not fit CORIO_DEVICE_AUTH_MAX with a
 * token).
 */
int corio_device_set_key(struct corio_device *d, const struct corio_key *key, uint32_t key_number,
                         const uint8_t *chain, size_t chain_len);

/* Starts connecting, with a fresh token; from then on the client reconnects by itself
 * (with a fresh token each time) until corio_device_stop(). Returns CORIO_OK, or
 * CORIO_ERR_STATE when already started or decommissioned. A token that cannot be made (flash or
 * crypto failure) is counted in stats.login_errors and the attempt goes without a password (the
 * gateway refuses it) and is retried. */
int corio_device_start(struct corio_device *d);

/* Does what is due: the MQTT client's work (connect, read, PUBACKs, resends,
 * keepalive), the heartbeat, and publishing unacknowledged entries in seq order within
 * the in-flight window. Call it when the transport is readable (or writable, when
 * corio_device_want_write()) or when corio_device_poll_ms() has passed. Returns
 * CORIO_OK, or CORIO_ERR_INVAL for d NULL. */
int corio_device_process(struct corio_device *d);

/* Milliseconds until corio_device_process() has timed work (0: now), assuming nothing
 * arrives; UINT32_MAX when there is none. */
uint32_t corio_device_poll_ms(struct corio_device *d);

/* True when queued bytes wait for the transport (poll it for writability too). */
bool corio_device_want_write(const struct corio_device *d);

/* Disconnects cleanly and stops reconnecting; completes in corio_device_process()
 * (on_link(false, CORIO_OK)). Entries not yet acknowledged stay in the outbox.
 * corio_device_start() may follow. Returns CORIO_OK or CORIO_ERR_STATE (not started). */
int corio_device_stop(struct corio_device *d);

/* ---- Recording values ---- */

/*
 * Starts a pack, stamped now: its first record will carry the outbox epoch and the
 * seq its append is going to get, the base name "urn:corio:<id>:", and the time (bt,
 * seconds since 1970) when the device has time, else the boot count and uptime.
 * Returns CORIO_OK; CORIO_ERR_STATE when a pack is already open; CORIO_ERR_FULL when
 * the outbox has no sequence number left.
 */
int corio_device_begin(struct corio_device *d);

/*
 * Add one record to the open pack: name (RFC 8428 §4.5.1 characters, NUL-terminated;
 * the resolved name "urn:corio:<id>:<name>" at most CORIO_SENML_MAX_NAME bytes), unit
 * (NUL-terminated, or NULL for none) and a value: a finite number, a NUL-terminated
 * UTF-8 string, or a boolean. Returns CORIO_OK; CORIO_ERR_STATE (no pack open);
 * CORIO_ERR_INVAL (the SenML encoder refuses the record: see senml.h); CORIO_ERR_NOSPACE
 * (the pack buffer, or the outbox's largest payload, cannot hold it);
 * CORIO_ERR_UNSUPPORTED (more than CORIO_SENML_MAX_RECORDS records). On any error the
 * pack is unchanged and stays open.
 */
int corio_device_add_number(struct corio_device *d, const char *name, const char *unit, double v);
int corio_device_add_string(struct corio_device *d, const char *name, const char *unit,
                            const char *s);
int corio_device_add_bool(struct corio_device *d, const char *name, const char *unit, bool v);

/*
 * Closes the pack and appends it to the outbox; when that returns, the pack is on
 * flash and survives a power cut, and only then is it published (now, if the
 * connection and the window allow, else from corio_device_process()). *seq (may be
 * NULL) receives its sequence number. Returns CORIO_OK; CORIO_ERR_STATE (no pack
 * open); CORIO_ERR_INVAL (no record in it); the outbox's append errors
 * (CORIO_ERR_IO: not stored, its seq may show as a gap; CORIO_ERR_NOSPACE;
 * CORIO_ERR_FULL). The pack is closed either way.
 */
int corio_device_commit(struct corio_device *d, uint32_t *seq);

/* Drops the open pack, if any. */
void corio_device_abort(struct corio_device *d);

/* ---- Time and figures ---- */

/* Gives the device the time (milliseconds since 1970), as an RTC or GNSS would;
 * dn/time does the same. Later packs carry bt instead of boot count and uptime.
 * Returns CORIO_OK, or CORIO_ERR_INVAL for a time before 1978 (below 2^28 seconds,
 * which SenML reads as relative). */
int corio_device_set_time(struct corio_device *d, uint64_t unix_ms);

/*
 * Reports the configuration the device runs on up/cfg, unasked (at boot, or after a
 * local change): cfg[0..len) is one CBOR map (copied), answering the last desired
 * version taken in this boot (0 before any). Appended to the outbox like a pack, so it
 * is published as soon as it can be. Returns CORIO_OK; CORIO_ERR_INVAL (not one map);
 * CORIO_ERR_STATE (a pack is open); CORIO_ERR_NOSPACE (larger than the msg buffer or
 * the outbox's largest payload); the outbox's append errors.
 */
int corio_device_report_config(struct corio_device *d, const uint8_t *cfg, size_t len);

/* Fills *st. Reads the outbox's sector headers (outbox.h). Returns CORIO_OK or
 * CORIO_ERR_INVAL. */
int corio_device_stats(struct corio_device *d, struct corio_device_stats *st);

/* The device's short id and DID (NUL-terminated, owned by d). */
const char *corio_device_id(const struct corio_device *d);
const char *corio_device_did(const struct corio_device *d);

/* The payload of dn/time, version 1 (docs/formats.md): the CBOR map {1: 1, 2: ms since
 * 1970}. Writes it into buf[0..cap) and returns its length, CORIO_ERR_NOSPACE or
 * CORIO_ERR_INVAL; for gateways and tests. */
int corio_device_time_encode(uint64_t unix_ms, uint8_t *buf, size_t cap);

/* The payload of dn/resend, version 1 (docs/formats.md): the CBOR map {1: 1, 2: the
 * device's outbox epoch, 3: the first seq to send again}, in deterministic encoding.
 * A gateway that may have lost messages it had acknowledged (a power cut inside its
 * sync interval) sends it; the device then publishes again every acknowledged entry it
 * still holds of that epoch from that seq on (unacknowledged ones go out anyway), or,
 * when the epoch is not its own (the gateway holds nothing of the current one; 0 when it
 * knows none), every acknowledged entry it holds. Writes it into buf[0..cap) and returns
 * its length, CORIO_ERR_NOSPACE or CORIO_ERR_INVAL (NULL buf, from 0). */
int corio_device_resend_encode(uint64_t epoch, uint64_t from_seq, uint8_t *buf, size_t cap);

/* Reads a dn/resend payload (hostile input): CORIO_OK with *epoch and *from_seq;
 * CORIO_ERR_MALFORMED (not one definite-length map of at most 16 pairs in which keys
 * 1, 2 and 3 appear once each with unsigned values, from_seq at least 1, nothing after
 * it; other keys are ignored); CORIO_ERR_VERSION (key 1 is not 1); CORIO_ERR_INVAL
 * (NULL arguments). The outputs are unchanged on error. */
int corio_device_resend_decode(const uint8_t *msg, size_t len, uint64_t *epoch,
                               uint64_t *from_seq);

/* Reads a dn/time payload (hostile input): CORIO_OK with *unix_ms; CORIO_ERR_MALFORMED
 * (not one definite-length map of at most 16 pairs whose keys 1 and 2 appear once each
 * with unsigned values, and nothing after it; other keys are ignored);
 * CORIO_ERR_VERSION (key 1 is not 1); CORIO_ERR_INVAL (NULL arguments). *unix_ms is
 * unchanged on error. */
int corio_device_time_decode(const uint8_t *msg, size_t len, uint64_t *unix_ms);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_DEVICE_H */
