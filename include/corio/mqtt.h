/*
 * mqtt.h - the device SDK's MQTT client (3.1.1 and 5.0): a state machine over a
 * port's transport, clock and random source (transport.h), with no heap and no
 * blocking. The packets themselves are in mqtt_codec.h.
 *
 * Shape of use:
 *
 *     struct corio_mqtt c;                      // caller-owned, any storage class
 *     corio_mqtt_config_init(&cfg);             // defaults, then set client id etc.
 *     corio_mqtt_init(&c, &cfg, &transport, &clock, &random,
 *                     tx, sizeof tx, rx, sizeof rx, &callbacks, app);
 *     corio_mqtt_connect(&c);                   // start; (re)connects by itself
 *     for (;;) {
 *         wait for the socket or corio_mqtt_poll_ms(&c), whichever first
 *         corio_mqtt_process(&c);               // all callbacks happen in here
 *     }
 *
 * Buffers: tx holds packets queued for the transport (it must hold the largest packet
 * the application sends, CONNECT with its authentication data included); rx holds one
 * whole incoming packet (under MQTT 5 the client announces its size as Maximum Packet
 * Size, so the broker never sends more; under 3.1.1 a larger packet closes the
 * connection). Both stay owned by the caller and must outlive the client.
 *
 * QoS 1 and the outbox. The client keeps a table of unacknowledged QoS 1 publishes (packet
 * id, the application's 64-bit token, state) but never their payloads: the
 * application's outbox owns messages. Each corio_mqtt_publish() that returns CORIO_OK
 * for QoS 1 ends in exactly one on_publish_done(token, result): CORIO_OK is the only
 * "delivered". When a connection is lost before the PUBACK the token stays in the table
 * (unless drop_inflight_on_disconnect) and after the next CONNACK the client asks
 * resend(token) for the message again and sends it with DUP=1 and the same packet id
 * when the broker kept the session, or as a fresh PUBLISH when it did not.
 *
 * Callbacks. Notifications (on_*) are called only from corio_mqtt_process(), never
 * from within another call, and never for a call that returned an error. Providers
 * (resend, auth) are asked for data when the client needs it, possibly from
 * corio_mqtt_process() or corio_mqtt_reauthenticate(). Any callback may call
 * corio_mqtt_publish, _subscribe, _unsubscribe and _disconnect.
 */
#ifndef CORIO_MQTT_H
#define CORIO_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "corio/config.h"
#include "corio/error.h"
#include "corio/mqtt_codec.h"
#include "corio/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Unacknowledged QoS 1 publishes the client tracks at once. */
#ifndef CORIO_MQTT_MAX_INFLIGHT
#define CORIO_MQTT_MAX_INFLIGHT 8
#endif

/* Topic filters the client keeps subscribed across reconnects. */
#ifndef CORIO_MQTT_MAX_SUBSCRIPTIONS
#define CORIO_MQTT_MAX_SUBSCRIPTIONS 4
#endif

/* Features a device may leave out of its image (1, the default: built in; 0: out).
 * CORIO_MQTT_WITH_UNSUBSCRIBE: corio_mqtt_unsubscribe() (0: it returns
 * CORIO_ERR_UNSUPPORTED; registered filters stay for the client's life).
 * CORIO_MQTT_WITH_REAUTH: MQTT 5 re-authentication, corio_mqtt_reauthenticate() (0: it
 * returns CORIO_ERR_UNSUPPORTED, and an AUTH from the broker after CONNACK is a
 * protocol error). Enhanced authentication during CONNECT stays either way.
 * CORIO_MQTT_WITH_RESEND: the client's own resends after a reconnect (the resend
 * provider, DUP). 0: for an application whose outbox resends, the client requires
 * drop_inflight_on_disconnect (corio_mqtt_init() refuses false with CORIO_ERR_INVAL)
 * and never asks resend().
 * CORIO_MQTT_WITH_LOGIN: a username and password in CONNECT (single-step
 * authentication). 0: for a device that authenticates otherwise (corio-eat-v1), the
 * client refuses a configuration with either (corio_mqtt_init() returns
 * CORIO_ERR_INVAL) and corio_mqtt_set_login() returns CORIO_ERR_UNSUPPORTED.
 * CORIO_MQTT_WITH_CONNECT_PROPS: the application's own CONNECT properties
 * (connect_props). 0: the client sends only those it sets itself, and
 * corio_mqtt_init() refuses a non-empty connect_props with CORIO_ERR_INVAL.
 * CORIO_MQTT_WITH_WILL (mqtt_codec.h) likewise leaves out the will message. */
#ifndef CORIO_MQTT_WITH_UNSUBSCRIBE
#define CORIO_MQTT_WITH_UNSUBSCRIBE 1
#endif
#ifndef CORIO_MQTT_WITH_REAUTH
#define CORIO_MQTT_WITH_REAUTH 1
#endif
#ifndef CORIO_MQTT_WITH_RESEND
#define CORIO_MQTT_WITH_RESEND 1
#endif
#ifndef CORIO_MQTT_WITH_LOGIN
#define CORIO_MQTT_WITH_LOGIN 1
#endif
#ifndef CORIO_MQTT_WITH_CONNECT_PROPS
#define CORIO_MQTT_WITH_CONNECT_PROPS 1
#endif

/* 1 (default): the client checks what the application gives it against MQTT's rules:
 * the client id, username and authentication method as MQTT UTF-8, the CONNECT, will
 * and PUBLISH properties (valid for their packet, none the client sets itself, no
 * Subscription Identifier, a Topic Alias within the broker's maximum), topic names,
 * topic filters and corio_mqtt_disconnect()'s reason code are refused with
 * CORIO_ERR_INVAL when they break one, and a PUBACK reason code on_message() returns
 * that a PUBACK may not carry becomes 0x80. 0: a device whose strings, properties and
 * reason codes come from its own code leaves these checks out (one that breaks a rule
 * reaches the broker, which closes the connection). Either way the client checks
 * pointers against lengths, sizes, QoS and options bytes, and every packet from the
 * broker. */
#ifndef CORIO_MQTT_CHECK_OWN
#define CORIO_MQTT_CHECK_OWN 1
#endif

/* How often corio_mqtt_poll_ms() asks to be called while a transport open is in
 * progress (the transport gives no readiness signal for it). */
#ifndef CORIO_MQTT_OPEN_POLL_MS
#define CORIO_MQTT_OPEN_POLL_MS 20
#endif

/* Reconnect policy: exponential backoff with jitter. After the n-th consecutive failed
 * attempt or lost connection the client waits d = min(max_ms, initial_ms * 2^(n-1)),
 * of which jitter_pct percent is drawn at random: the wait is uniform in
 * [d - d*jitter_pct/100, d]. A connection that stayed up reset_after_ms or longer
 * starts the sequence again. */
struct corio_mqtt_backoff {
    uint32_t initial_ms;     /* default 1000 */
    uint32_t max_ms;         /* default 60000 */
    uint8_t jitter_pct;      /* 0..100, default 50 */
    uint32_t reset_after_ms; /* default 60000 */
};

/* The wait before the next attempt after `failures` consecutive failures (0: none),
 * given a random 32-bit value. Pure; exposed so that a policy can be checked. */
uint32_t corio_mqtt_backoff_delay(const struct corio_mqtt_backoff *b, uint32_t failures,
                                  uint32_t random);

/* When the client asks the broker to discard the session (Clean Start / Clean Session). */
enum corio_mqtt_clean {
    CORIO_MQTT_CLEAN_FIRST,  /* on the first connection after corio_mqtt_connect() only */
    CORIO_MQTT_CLEAN_ALWAYS, /* on every connection */
    CORIO_MQTT_CLEAN_NEVER,  /* never */
};

/* What the client sends in CONNECT and how it behaves. Pointers are borrowed: the
 * memory they point to must outlive the client. Start from corio_mqtt_config_init(). */
struct corio_mqtt_config {
    uint8_t version;       /* CORIO_MQTT_V311 or CORIO_MQTT_V5 (default) */
    const char *client_id; /* the device's short DID id; required */
    uint16_t client_id_len;
    const char *username; /* NULL: none */
    uint16_t username_len;
    const uint8_t *password; /* NULL: none */
    uint16_t password_len;
    const struct corio_mqtt_will *will; /* NULL: none */
    uint16_t keepalive_s;               /* default 60; 0 turns keepalive off */
    uint8_t clean;                      /* enum corio_mqtt_clean; default CORIO_MQTT_CLEAN_FIRST */
    uint32_t session_expiry_s;          /* MQTT 5 Session Expiry Interval; default 0 */
    /* MQTT 5 enhanced authentication: the method name (e.g. "corio-eat-v1"); NULL for
     * none. Requires the auth callback. */
    const char *auth_method;
    uint16_t auth_method_len;
    /* Further MQTT 5 CONNECT properties (built with corio_mqtt_props_*), e.g. User
     * Property. Must not hold those the client sets itself: Session Expiry Interval,
     * Maximum Packet Size, Authentication Method and Data. None when built with
     * CORIO_MQTT_WITH_CONNECT_PROPS 0. */
    const uint8_t *connect_props;
    size_t connect_props_len;
    uint32_t
        connect_timeout_ms;   /* transport open to CONNACK, AUTH rounds included; default 10000 */
    uint32_t ping_timeout_ms; /* PINGREQ to PINGRESP; default 10000 */
    /* false (default): unacknowledged QoS 1 tokens survive a lost connection and are
     * resent after the next CONNACK. true: at each lost connection they are reported
     * CORIO_ERR_CLOSED and leave the client, so the outbox retries them itself. */
    bool drop_inflight_on_disconnect;
    struct corio_mqtt_backoff backoff;
};

/* Fills *cfg with the defaults above (no client id). */
void corio_mqtt_config_init(struct corio_mqtt_config *cfg);

/* Steps of the enhanced authentication exchange (MQTT 5.0 §4.12). */
enum corio_mqtt_auth_step {
    CORIO_MQTT_AUTH_START,    /* data for CONNECT (or a re-authentication's AUTH); in is empty */
    CORIO_MQTT_AUTH_CONTINUE, /* the broker sent AUTH 0x18 with in; answer with *out */
    CORIO_MQTT_AUTH_SUCCESS,  /* CONNACK or AUTH 0x00 accepted us; in is the broker's
                                 final data (may be empty); *out is ignored */
};

struct corio_mqtt_callbacks {
    /* A CONNACK accepted the connection. ack->session_present says whether the broker
     * kept the session; ack->props holds the broker's MQTT 5 properties. */
    void (*on_connect)(void *user, const struct corio_mqtt_connack *ack);

    /* A connection attempt failed or a connection ended. err: CORIO_OK after
     * corio_mqtt_disconnect() completed (the client is then STOPPED); otherwise why:
     * CORIO_ERR_CLOSED (the peer closed; reason is its MQTT 5 DISCONNECT reason, or 0),
     * CORIO_ERR_REFUSED (CONNACK refused; reason is the 3.1.1 return code or the MQTT 5
     * reason code), CORIO_ERR_TIMEOUT (no CONNACK or PINGRESP in time), CORIO_ERR_MALFORMED
     * (the broker broke the protocol; reason is what the client told it),
     * CORIO_ERR_NOSPACE (a packet did not fit a buffer), CORIO_ERR_IO or a transport's
     * or auth callback's error. The client then waits its backoff and tries again; call
     * corio_mqtt_disconnect() to stop it. */
    void (*on_disconnect)(void *user, int err, uint8_t reason);

    /* A PUBLISH arrived. Views in msg are valid during the call only. For QoS 1 the
     * return value is the PUBACK's MQTT 5 reason code (0x00 accepts; a failure code such
     * as 0x80, 0x83, 0x87 or 0x97 refuses); it is ignored under 3.1.1 and for QoS 0. */
    uint8_t (*on_message)(void *user, const struct corio_mqtt_publish *msg);

    /* The final outcome of a QoS 1 corio_mqtt_publish() that returned CORIO_OK; called
     * exactly once per token. result: CORIO_OK = delivered (PUBACK 0x00 or 0x10);
     * anything else = NOT delivered, the token has left the client and the outbox keeps
     * the message: CORIO_ERR_REFUSED (PUBACK with failure reason code `reason`),
     * CORIO_ERR_CLOSED (the connection ended without PUBACK and the client will not
     * resend it: after corio_mqtt_disconnect(), or always with
     * drop_inflight_on_disconnect), or the error resend() returned, or the error that
     * made a resent message unsendable (CORIO_ERR_NOSPACE, CORIO_ERR_POLICY, ...). */
    void (*on_publish_done)(void *user, uint64_t token, int result, uint8_t reason);

    /* Provider: fill *msg (topic, payload, retain, props) with the message for token, to
     * be sent again after a reconnect. The client sets qos, dup and packet_id itself.
     * The views must stay valid until the next call into the client returns. Return
     * CORIO_OK, or an error (e.g. CORIO_ERR_NOTFOUND when the outbox no longer has it),
     * which ends the token with on_publish_done(token, that error). May be called more
     * than once for a token (once per reconnect). Topic aliases do not survive a
     * reconnect: give the full topic. NULL: every resend fails with CORIO_ERR_NOTFOUND. */
    int (*resend)(void *user, uint64_t token, struct corio_mqtt_publish *msg);

    /* Provider for enhanced authentication (required when auth_method is set). For
     * START and CONTINUE set *out / *out_len to the Authentication Data to send (both
     * may be left NULL/0 for none); the bytes stay the application's and must stay valid
     * until the next call into the client returns. Return CORIO_OK, or an error to abort:
     * the connection attempt fails with that error (after a client DISCONNECT 0x83). */
    int (*auth)(void *user, enum corio_mqtt_auth_step step, const uint8_t *in, size_t in_len,
                const uint8_t **out, size_t *out_len);

    /* The broker answered a SUBSCRIBE for filter with reason (granted QoS, or >= 0x80 for
     * a refusal, after which the filter is forgotten). Called on every connection that
     * (re)subscribes the filter. */
    void (*on_subscribe)(void *user, const char *filter, uint16_t filter_len, uint8_t reason);

    /* The filter is gone: the broker answered UNSUBSCRIBE (reason; 0 under 3.1.1), or
     * a new session without it began (reason 0). */
    void (*on_unsubscribe)(void *user, const char *filter, uint16_t filter_len, uint8_t reason);
};

enum corio_mqtt_state {
    CORIO_MQTT_STOPPED,    /* initialised, or after corio_mqtt_disconnect() completed */
    CORIO_MQTT_WAITING,    /* waiting out the backoff before the next attempt */
    CORIO_MQTT_OPENING,    /* the transport is opening */
    CORIO_MQTT_CONNECTING, /* CONNECT sent; AUTH exchange or CONNACK pending */
    CORIO_MQTT_CONNECTED,
    CORIO_MQTT_DISCONNECTING, /* corio_mqtt_disconnect() called; finishing */
};

/* One unacknowledged QoS 1 publish (internal). */
struct corio_mqtt_inflight {
    uint64_t token;
    uint32_t order; /* resends go out in the original order */
    uint16_t packet_id;
    uint8_t state;
};

/* One registered topic filter (internal). */
struct corio_mqtt_subscription {
    const char *filter;
    uint16_t filter_len;
    uint16_t packet_id;
    uint8_t options;
    uint8_t state;
};

/* The client. Caller-allocated; every field is private: use the functions below.
 * The order is for code size: the fields the code touches most come first, bytes
 * before words, so that 32-bit cores reach them with their short load and store
 * forms (Thumb-2 and RV32C encode small offsets in 16-bit instructions). */
struct corio_mqtt {
    uint8_t state;
    uint8_t disc_reason;
    bool disc_pending; /* a DISCONNECT is still to be queued */
    bool transport_open;
    bool connected_once; /* for CORIO_MQTT_CLEAN_FIRST */
    bool clean_this_time;
    bool session_present;
    bool ping_outstanding;
    bool reauth;      /* a re-authentication is in progress */
    bool ack_pending; /* a PUBACK is owed but tx had no room */
    uint8_t ack_reason;
    bool v5; /* cfg.version is CORIO_MQTT_V5, where the code reaches it cheaply */
    uint16_t ack_id;
    uint16_t next_id;
    int pending_err; /* a transport error seen outside process(), handled there */
    uint8_t *tx;
    size_t tx_cap, tx_head, tx_len;
    uint8_t *rx;
    size_t rx_cap, rx_len;
    void *user;
    uint32_t t_state; /* when the current attempt or the disconnect began */
    uint32_t t_connected;
    uint32_t t_last_tx;
    uint32_t t_ping;
    uint32_t t_next_attempt;
    uint32_t failures;
    uint32_t next_order;
    /* The limits in force: our keepalive or the broker's Server Keep Alive, and the
     * broker's Receive Maximum, Maximum QoS, Retain Available, Maximum Packet Size and
     * Topic Alias Maximum (the specification's defaults until CONNACK sets them). */
    uint32_t limits[6];
    struct corio_mqtt_callbacks cb;
    struct corio_transport tp;
    struct corio_clock clk;
    struct corio_random rnd;
    struct corio_mqtt_inflight inflight[CORIO_MQTT_MAX_INFLIGHT];
    struct corio_mqtt_subscription subs[CORIO_MQTT_MAX_SUBSCRIPTIONS];
    struct corio_mqtt_config cfg;
};

/* Prepares c. cfg is copied (the memory it points to is borrowed); tp, clk, rnd and cb
 * are copied; tx (tx_cap bytes) and rx (rx_cap bytes, each >= 64) are borrowed for the
 * client's life; user is passed to every callback. Returns CORIO_OK, or CORIO_ERR_INVAL
 * for a missing argument or function, a bad version, a missing or invalid client id, an
 * auth method without an auth callback or under 3.1.1, connect_props that are
 * invalid or hold a property the client sets itself, or drop_inflight_on_disconnect
 * false when built with CORIO_MQTT_WITH_RESEND 0. */
int corio_mqtt_init(struct corio_mqtt *c, const struct corio_mqtt_config *cfg,
                    const struct corio_transport *tp, const struct corio_clock *clk,
                    const struct corio_random *rnd, uint8_t *tx, size_t tx_cap, uint8_t *rx,
                    size_t rx_cap, const struct corio_mqtt_callbacks *cb, void *user);

/* Starts connecting (the first attempt happens at the next corio_mqtt_process()); from
 * then on the client reconnects by itself until corio_mqtt_disconnect(). Returns
 * CORIO_OK, or CORIO_ERR_STATE unless STOPPED. */
int corio_mqtt_connect(struct corio_mqtt *c);

/* Does everything that is due: opens, flushes tx, reads and handles incoming packets,
 * sends PINGREQ, resends, (un)subscribes, enforces timeouts, reconnects. Never blocks
 * longer than the transport's calls. Connection problems are reported through
 * on_disconnect, not returned. Returns CORIO_OK, or CORIO_ERR_INVAL for c == NULL. */
int corio_mqtt_process(struct corio_mqtt *c);

/* Milliseconds until corio_mqtt_process() has timed work to do (0: now), assuming
 * nothing arrives; UINT32_MAX when there is none (STOPPED, or connected without
 * keepalive). */
uint32_t corio_mqtt_poll_ms(const struct corio_mqtt *c);

/* True when queued bytes wait for the transport to accept them (poll for writability). */
bool corio_mqtt_want_write(const struct corio_mqtt *c);

/* The client's state (CORIO_MQTT_STOPPED for c == NULL). */
enum corio_mqtt_state corio_mqtt_state(const struct corio_mqtt *c);

/* Unacknowledged QoS 1 publishes held now (sent, or waiting to be resent). */
size_t corio_mqtt_inflight_count(const struct corio_mqtt *c);

/* Queues a PUBLISH of msg (topic, payload, qos 0 or 1, retain, MQTT 5 props; dup and
 * packet_id are the client's). The bytes are copied into tx, so msg's memory is free
 * again on return. token identifies a QoS 1 message to the application (ignored for
 * QoS 0). Returns CORIO_OK (QoS 1: on_publish_done follows exactly once), or:
 * CORIO_ERR_STATE    not CONNECTED;
 * CORIO_ERR_AGAIN    tx has no room now, or resends after a reconnect are not done yet
 *                    (they go first, in order): call again after corio_mqtt_process();
 * CORIO_ERR_FULL     CORIO_MQTT_MAX_INFLIGHT or the broker's Receive Maximum reached;
 * CORIO_ERR_NOSPACE  the packet can never fit in tx;
 * CORIO_ERR_UNSUPPORTED the broker's Maximum QoS or Retain Available forbids it;
 * CORIO_ERR_POLICY   larger than the broker's Maximum Packet Size, or a Topic Alias
 *                    above its Topic Alias Maximum;
 * CORIO_ERR_INVAL    msg is not a valid PUBLISH (see corio_mqtt_encode_publish). */
int corio_mqtt_publish(struct corio_mqtt *c, const struct corio_mqtt_publish *msg, uint64_t token);

/* Registers topic filter (borrowed: it must stay valid until on_unsubscribe) with
 * options (CORIO_MQTT_SUB_*; QoS 0 or 1) and subscribes it now or on the next
 * connection; after a reconnect without a session the client subscribes it again.
 * Registering a filter again updates its options. Returns CORIO_OK; CORIO_ERR_INVAL
 * (bad filter or options); CORIO_ERR_FULL (CORIO_MQTT_MAX_SUBSCRIPTIONS); CORIO_ERR_AGAIN
 * (the filter is being unsubscribed); CORIO_ERR_NOSPACE (a SUBSCRIBE would not fit tx). */
int corio_mqtt_subscribe(struct corio_mqtt *c, const char *filter, uint16_t filter_len,
                         uint8_t options);

/* Unsubscribes a registered filter (now, or on the next connection that kept the
 * session). Returns CORIO_OK (on_unsubscribe follows), CORIO_ERR_NOTFOUND when the
 * filter is not registered, CORIO_ERR_INVAL for NULL arguments, CORIO_ERR_UNSUPPORTED
 * when built with CORIO_MQTT_WITH_UNSUBSCRIBE 0. */
int corio_mqtt_unsubscribe(struct corio_mqtt *c, const char *filter, uint16_t filter_len);

/* MQTT 5 re-authentication: asks the auth callback for START data and sends AUTH 0x19;
 * the exchange then runs in corio_mqtt_process() (CONTINUE, then SUCCESS). Returns
 * CORIO_OK; CORIO_ERR_STATE (not CONNECTED, no auth method, or one is in progress);
 * CORIO_ERR_AGAIN (tx has no room now); CORIO_ERR_NOSPACE; the auth callback's error;
 * CORIO_ERR_UNSUPPORTED when built with CORIO_MQTT_WITH_REAUTH 0. */
int corio_mqtt_reauthenticate(struct corio_mqtt *c);

/* Replaces the username and password that the next CONNECT carries; the memory they
 * point to stays borrowed, as in corio_mqtt_config, and must stay valid until the next
 * call. A connection in progress is not affected. Single-step authentication needs
 * this: its password is a token with a fresh counter for every connection attempt, so
 * the application makes a new one before corio_mqtt_connect() and in on_disconnect,
 * before the client's next attempt. Returns CORIO_OK, or CORIO_ERR_INVAL (c NULL, a
 * NULL pointer with a non-zero length, a username that is not valid UTF-8, or a
 * password under MQTT 3.1.1 without a username), or CORIO_ERR_UNSUPPORTED when built
 * with CORIO_MQTT_WITH_LOGIN 0; on error nothing changes. */
int corio_mqtt_set_login(struct corio_mqtt *c, const char *username, uint16_t username_len,
                         const uint8_t *password, uint16_t password_len);

/* Stops the client: sends DISCONNECT with reason (MQTT 5; 0 normal, 0x04 publishes the
 * will) if connected, closes the transport and stops reconnecting. Completion comes from
 * corio_mqtt_process(): unacknowledged QoS 1 tokens get on_publish_done(CORIO_ERR_CLOSED),
 * then on_disconnect(CORIO_OK, reason), and the state is STOPPED. Returns CORIO_OK,
 * CORIO_ERR_STATE when already STOPPED or DISCONNECTING, CORIO_ERR_INVAL for a reason
 * a client may not send. */
int corio_mqtt_disconnect(struct corio_mqtt *c, uint8_t reason);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_MQTT_H */
