/*
 * coap.h - the device SDK's CoAP client (RFC 7252) with block-wise transfers
 * (RFC 7959) and Observe (RFC 7641): a state machine over a port's datagram
 * transport, clock and random source (transport.h), with no heap and no blocking.
 * The messages themselves are in coap_codec.h.
 *
 * Shape of use:
 *
 *     struct corio_coap c;                      // caller-owned, any storage class
 *     corio_coap_config_init(&cfg);             // RFC 7252 defaults
 *     corio_coap_init(&c, &cfg, &datagram, &clock, &random,
 *                     tx, sizeof tx, rx, sizeof rx, &callbacks, app);
 *     corio_coap_start(&c);                     // opens the transport (DTLS handshake)
 *     corio_coap_observe(&c, &cmd_req, CMD);    // /d/{id}/dn/cmd, kept registered
 *     corio_coap_request(&c, &post, token);     // a POST to /d/{id}/up/cbor
 *     for (;;) {
 *         wait for the socket or corio_coap_poll_ms(&c), whichever first
 *         corio_coap_process(&c);               // all callbacks happen in here
 *     }
 *
 * One peer. The client talks to the one peer its transport was opened to (the
 * gateway); with a DTLS transport that peer is authenticated by its certificate.
 *
 * Requests and their final outcome. corio_coap_request() and corio_coap_observe()
 * take a 64-bit token the application chooses (unique among the client's entries),
 * and every call that returns CORIO_OK ends in exactly one final on_response() for
 * that token. For a POST, "final with result CORIO_OK and code 2.04" means the gateway
 * has committed the message (DESIGN §1). The client keeps only a description of each
 * request (borrowed pointers: path, query, payload) and rebuilds its messages from it
 * when it retransmits, so those bytes must stay valid and unchanged until the final
 * on_response().
 *
 * Callbacks are called only from corio_coap_process(), never from within another call,
 * and never for a call that returned an error. Any callback may call
 * corio_coap_request(), _observe(), _cancel() and _stop().
 */
#ifndef CORIO_COAP_H
#define CORIO_COAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "corio/coap_codec.h"
#include "corio/config.h"
#include "corio/error.h"
#include "corio/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Requests and observations the client holds at once (queued, in flight, or observing). */
#ifndef CORIO_COAP_MAX_EXCHANGES
#define CORIO_COAP_MAX_EXCHANGES 4
#endif

/* Message ids of recent confirmable and non-confirmable messages from the peer that
 * the client remembers to recognise duplicates (RFC 7252 §4.5). */
#ifndef CORIO_COAP_DEDUP_SIZE
#define CORIO_COAP_DEDUP_SIZE 8
#endif

/* How often corio_coap_poll_ms() asks to be called while the transport is opening or
 * would not take a datagram (neither gives a readiness signal of its own). */
#ifndef CORIO_COAP_OPEN_POLL_MS
#define CORIO_COAP_OPEN_POLL_MS 20
#endif

/* Datagrams read per corio_coap_process(), so that a flood cannot starve the caller. */
#ifndef CORIO_COAP_RECV_ROUNDS
#define CORIO_COAP_RECV_ROUNDS 8
#endif

/* Bytes of rx the client keeps free for a response's header and options when it
 * chooses the Block2 size it asks for. */
#ifndef CORIO_COAP_RX_SLACK
#define CORIO_COAP_RX_SLACK 64
#endif

/* Pass for "no Content-Format / Accept option". */
#define CORIO_COAP_NO_FORMAT (-1)

/* Reopen policy for the transport: exponential backoff with jitter, as the MQTT
 * client's. After the n-th consecutive failure the client waits d = min(max_ms,
 * initial_ms * 2^(n-1)), uniform in [d - d*jitter_pct/100, d]. Any message from the
 * peer resets the count. */
struct corio_coap_backoff {
    uint32_t initial_ms; /* default 1000 */
    uint32_t max_ms;     /* default 60000 */
    uint8_t jitter_pct;  /* 0..100, default 50 */
};

/* The wait before the next attempt after `failures` consecutive failures (0: none),
 * given a random 32-bit value. Pure; exposed so that a policy can be checked. */
uint32_t corio_coap_backoff_delay(const struct corio_coap_backoff *b, uint32_t failures,
                                  uint32_t random);

/* Transmission parameters (RFC 7252 §4.8) and the client's own. Start from
 * corio_coap_config_init(). */
struct corio_coap_config {
    uint32_t ack_timeout_ms;        /* ACK_TIMEOUT; default 2000 */
    uint16_t ack_random_factor_pct; /* ACK_RANDOM_FACTOR in percent, 100..400; default 150 */
    uint8_t max_retransmit;         /* MAX_RETRANSMIT, 0..10; default 4 */
    uint8_t nstart;                 /* exchanges in flight at once, 1..MAX_EXCHANGES; default 1 */
    /* How long to wait for a separate response after an empty ACK, and for the response
     * to a non-confirmable request; default 60000. */
    uint32_t response_timeout_ms;
    /* Transport open (DTLS handshake included) before the attempt counts as failed;
     * default 30000. */
    uint32_t open_timeout_ms;
    /* The largest block size exponent the client sends (Block1) and asks for (Block2):
     * 0..6 (16..1024 bytes), default 6. The client lowers it further to fit tx and rx,
     * and follows a smaller size the peer asks for. */
    uint8_t block_szx;
    uint8_t token_len; /* 1..8 bytes per token; default 8 */
    /* An observation is registered again when no fresh notification came for
     * max(the last Max-Age, observe_refresh_min_ms) (RFC 7641 §3.3.1); default 30000. */
    uint32_t observe_refresh_min_ms;
    struct corio_coap_backoff backoff;
};

/* Fills *cfg with the defaults above. */
void corio_coap_config_init(struct corio_coap_config *cfg);

/* A request. Pointers are borrowed until the request's final on_response(). Start from
 * corio_coap_request_init(). */
struct corio_coap_request {
    uint8_t method;         /* CORIO_COAP_GET, _POST, _PUT, _DELETE, _FETCH, _PATCH, _IPATCH */
    bool non_confirmable;   /* NON instead of CON (no retransmission) */
    const char *path;       /* "d/<id>/up/cbor" (a leading '/' is allowed); NULL: "/" */
    const char *query;      /* "a=1&b=2" (Uri-Query per '&'), or NULL */
    int32_t content_format; /* of the payload: 0..65535, or CORIO_COAP_NO_FORMAT */
    int32_t accept;         /* Accept option: 0..65535, or CORIO_COAP_NO_FORMAT */
    const uint8_t *payload; /* sent block-wise (Block1) when larger than one block */
    size_t payload_len;
};

/* Fills *req: GET, confirmable, path "/", no formats, no payload. */
void corio_coap_request_init(struct corio_coap_request *req);

/* A response, or one block of one, or a notification. Views are valid during the
 * callback only. */
struct corio_coap_response {
    uint8_t code;           /* e.g. CORIO_COAP_CHANGED (2.04), CORIO_COAP_CONTENT (2.05) */
    int32_t content_format; /* or CORIO_COAP_NO_FORMAT */
    const uint8_t *payload; /* this piece of the body (NULL when empty) */
    size_t payload_len;
    uint32_t offset;                  /* where the piece starts in the whole body */
    bool more;                        /* Block2: more pieces follow (not final) */
    bool observe;                     /* the message carried an Observe option... */
    uint32_t observe_seq;             /* ...with this sequence number */
    uint32_t max_age_s;               /* Max-Age, 60 when absent */
    const struct corio_coap_msg *msg; /* the whole message, for other options */
};

struct corio_coap_callbacks {
    /* The transport opened (after the DTLS handshake). Observations are (re)registered
     * and queued requests go out from now on. */
    void (*on_open)(void *user);

    /* An open attempt failed or the open transport was lost or closed. err: CORIO_OK
     * after corio_coap_stop() completed (the client is then STOPPED); otherwise why:
     * CORIO_ERR_TIMEOUT (the open timed out, or a confirmable message went
     * unacknowledged after every retransmission, which ends the association so that a
     * gateway that lost its DTLS state is handshaken with again), or the transport's
     * error (CORIO_ERR_IO, CORIO_ERR_CLOSED, CORIO_ERR_BADSIG, ...). The client waits
     * its backoff and opens again; requests in flight start over on the new
     * association (a Block1 transfer from its first block) and observations are
     * registered again. */
    void (*on_close)(void *user, int err);

    /* A response for token. result CORIO_OK: r is the response; r->more says that more
     * of a block-wise body follows (offsets are contiguous from 0; offset 0 again means
     * the resource changed and the body starts over). Exactly one call per token is
     * final: r->more false, or result < 0 (r is then NULL):
     * CORIO_ERR_TIMEOUT      no ACK after every retransmission, or no response in
     *                        response_timeout_ms;
     * CORIO_ERR_REFUSED      the peer answered with Reset;
     * CORIO_ERR_UNSUPPORTED  the response had a critical option the client does not
     *                        know (it was rejected, RFC 7252 §5.4.1);
     * CORIO_ERR_MALFORMED    a block-wise transfer broke its rules (wrong block,
     *                        size or offset);
     * CORIO_ERR_STATE        the body kept changing during a Block2 transfer;
     * CORIO_ERR_NOSPACE      a message would not fit tx, or the transport refused a
     *                        datagram as too large;
     * CORIO_ERR_CLOSED       cancelled by corio_coap_cancel() or corio_coap_stop().
     * For an observation the final call ends it: result CORIO_OK with the response to
     * the cancellation, or a response without Observe (the peer would not or no longer
     * keeps it: an error code, or a 2.xx without Observe), or an error as above. */
    void (*on_response)(void *user, uint64_t token, int result,
                        const struct corio_coap_response *r);

    /* A notification for the observation token: the registration's first response and
     * then every fresh one, in order (RFC 7641 §3.4; stale and duplicate ones are not
     * delivered). After a re-registration the current state comes again, so the
     * application must treat a notification as "the state now", idempotently. A
     * notification larger than one block comes in pieces like a block-wise response
     * (r->offset, r->more): the client fetches the rest with GET and Block2 (RFC 7959
     * §2.6). Offset 0 again means a newer notification replaced an unfinished one (or,
     * when a fetch failed, the re-registration's answer did). */
    void (*on_notify)(void *user, uint64_t token, const struct corio_coap_response *r);
};

enum corio_coap_state {
    CORIO_COAP_STOPPED, /* initialised, or after corio_coap_stop() completed */
    CORIO_COAP_WAITING, /* waiting out the backoff before the next open */
    CORIO_COAP_OPENING, /* the transport is opening (DTLS handshake) */
    CORIO_COAP_OPEN,
};

/* One request or observation (internal). */
struct corio_coap_entry {
    struct corio_coap_request req;
    uint64_t user_token;
    uint32_t order; /* first come, first sent */
    uint8_t kind;   /* request or observation */
    uint8_t state;
    uint8_t tok[CORIO_COAP_MAX_TOKEN];  /* the exchange's, or the observation's */
    uint8_t ftok[CORIO_COAP_MAX_TOKEN]; /* an observation's Block2 fetch */
    uint8_t tok_len;
    uint16_t mid;
    uint8_t tries;    /* transmissions of the current message */
    uint8_t restarts; /* Block2 bodies that changed under us */
    uint32_t rto;     /* current retransmission timeout */
    uint32_t t_tx;    /* last transmission */
    uint32_t t_due;   /* a queued entry goes no earlier */
    int result;       /* for an entry that ended outside process() */
    /* Block1: the block being sent and its size exponent; use_b1 once block-wise. */
    uint32_t b1_off;
    uint8_t b1_szx;
    bool use_b1;
    /* Block2: the next offset expected and the size exponent to ask for. For an
     * observation, b2_next means the rest of a notification is being fetched. */
    uint32_t b2_off;
    uint8_t b2_szx;
    bool b2_next; /* the next message asks for block b2_off */
    uint8_t etag[8];
    uint8_t etag_len; /* 0: none seen */
    /* Observation: the latest fresh sequence number and when it came. */
    uint32_t obs_seq;
    uint32_t t_obs;
    uint32_t obs_refresh;
    bool obs_have;
    bool cancelling; /* the deregistration is what is queued or in flight */
};

/* One remembered message id from the peer (internal). */
struct corio_coap_seen {
    uint32_t t;
    uint16_t mid;
    uint8_t type;  /* CON or NON; 0xFF: unused */
    uint8_t reply; /* what a CON was answered with: ACK or RST */
};

/* The client. Caller-allocated; every field is private: use the functions below. */
struct corio_coap {
    struct corio_coap_config cfg;
    struct corio_datagram dg;
    struct corio_clock clk;
    struct corio_random rnd;
    struct corio_coap_callbacks cb;
    void *user;
    uint8_t *tx;
    size_t tx_cap;
    uint8_t *rx;
    size_t rx_cap;
    uint8_t state;
    bool stopping;
    bool want_write;
    uint8_t tok_salt[4];
    uint32_t t_state; /* when the current open attempt or wait began */
    uint32_t wait_ms; /* the current backoff */
    uint32_t failures;
    uint32_t next_order;
    uint32_t next_tok;
    uint16_t next_mid;
    uint32_t exchange_lifetime; /* RFC 7252 §4.8.2, from the configuration */
    uint32_t non_lifetime;
    struct corio_coap_entry entry[CORIO_COAP_MAX_EXCHANGES];
    struct corio_coap_seen seen[CORIO_COAP_DEDUP_SIZE];
};

/* Prepares c. cfg, dg, clk, rnd and cb are copied; tx (tx_cap bytes) and rx (rx_cap
 * bytes, each >= 64) are borrowed for the client's life: tx holds the one message being
 * sent (it bounds the Block1 size), rx the one datagram being read (it bounds the
 * Block2 size asked for); user is passed to every callback. Returns CORIO_OK, or
 * CORIO_ERR_INVAL for a missing argument or function or a configuration value out of
 * range, or the random source's error. */
int corio_coap_init(struct corio_coap *c, const struct corio_coap_config *cfg,
                    const struct corio_datagram *dg, const struct corio_clock *clk,
                    const struct corio_random *rnd, uint8_t *tx, size_t tx_cap, uint8_t *rx,
                    size_t rx_cap, const struct corio_coap_callbacks *cb, void *user);

/* Starts: the transport opens at the next corio_coap_process(), and from then on the
 * client reopens it by itself until corio_coap_stop(). Returns CORIO_OK, or
 * CORIO_ERR_STATE unless STOPPED (or while a stop is being completed). */
int corio_coap_start(struct corio_coap *c);

/* Does everything that is due: opens, sends queued messages, retransmits, reads and
 * handles datagrams (acknowledging, rejecting, deduplicating), re-registers
 * observations, enforces timeouts, reopens. Never blocks longer than the transport's
 * calls. Returns CORIO_OK, or CORIO_ERR_INVAL for c == NULL. */
int corio_coap_process(struct corio_coap *c);

/* Milliseconds until corio_coap_process() has timed work to do (0: now), assuming
 * nothing arrives; UINT32_MAX when there is none. */
uint32_t corio_coap_poll_ms(const struct corio_coap *c);

/* True when a datagram is waiting for the transport to accept it. */
bool corio_coap_want_write(const struct corio_coap *c);

/* The client's state (CORIO_COAP_STOPPED for c == NULL). */
enum corio_coap_state corio_coap_state(const struct corio_coap *c);

/* Requests and observations held now. */
size_t corio_coap_pending(const struct corio_coap *c);

/*
 * Queues a request (any state but a stop in progress; it goes out once the transport
 * is open and fewer than nstart exchanges are in flight, oldest first). Returns
 * CORIO_OK (one final on_response(token) follows), or:
 * CORIO_ERR_INVAL    a bad request (method, formats, a path or query segment over 255
 *                    bytes, payload NULL with a length), or token already held;
 * CORIO_ERR_NOSPACE  even its smallest message cannot fit tx;
 * CORIO_ERR_FULL     CORIO_COAP_MAX_EXCHANGES entries are held;
 * CORIO_ERR_STATE    corio_coap_stop() is being completed.
 */
int corio_coap_request(struct corio_coap *c, const struct corio_coap_request *req, uint64_t token);

/*
 * Registers an observation of req's resource (RFC 7641; method GET, req's payload is
 * ignored) and keeps it registered: again after the transport reopens, after a failed
 * attempt, and when no fresh notification came for a while (see
 * observe_refresh_min_ms). Notifications go to on_notify(token); the one final
 * on_response(token) comes when the observation ends (see there). Returns as
 * corio_coap_request().
 */
int corio_coap_observe(struct corio_coap *c, const struct corio_coap_request *req, uint64_t token);

/*
 * Cancels token. A request ends with on_response(CORIO_ERR_CLOSED) from the next
 * corio_coap_process() (a response that still comes is rejected). An established
 * observation is deregistered (a GET with Observe 1, RFC 7641 §3.6) and ends with
 * that GET's response; one not yet established ends with CORIO_ERR_CLOSED. Returns
 * CORIO_OK, CORIO_ERR_NOTFOUND when token is not held (or is already ending).
 */
int corio_coap_cancel(struct corio_coap *c, uint64_t token);

/* Stops the client: every held token ends with on_response(CORIO_ERR_CLOSED), the
 * transport closes, then on_close(CORIO_OK), all from the next corio_coap_process();
 * the state is then STOPPED. Also ends requests queued before corio_coap_start().
 * Returns CORIO_OK, or CORIO_ERR_STATE when a stop is in progress or the client is
 * STOPPED with nothing held. */
int corio_coap_stop(struct corio_coap *c);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_COAP_H */
