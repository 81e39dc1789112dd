/*
 * coap_ingress.h - CoAP ingress of corio-gateway (libcoap3): devices POST messages over
 * DTLS (or plain UDP on closed networks) and observe their downlink; docs/gateway-coap.md.
 *
 * Resources:
 *   GET  /auth/nonce                 a fresh 32-byte nonce, bound to the DTLS session
 *   POST /auth                       the device's EAT (aud = the gateway, that nonce):
 *                                    binds the device to the session
 *   POST /d/{id}/up/{json|cbor|hb|evt|res|cfg|ota}
 *                                    a message of the session's device, Block1 when large:
 *                                    published QoS 1 to the local broker, 2.04 only after
 *                                    its PUBACK (the plugin stored it), 5.03 + Max-Age when
 *                                    the broker is down or refused it
 *   GET  /d/{id}/dn/{cmd|cfg|ota|time} (Observe) the latest message on the local broker's
 *                                    corio/v1/d/{id}/dn/<suffix>, and every new one
 * A device's resources exist once it authenticated. Presence: the ingress publishes the
 * device's presence record on corio/v1/d/{id}/up/presence when its first session is bound
 * and when its last one ends, idles out or is unbound by a revocation.
 *
 * Everything runs in the caller's thread: corio_coap_ingress_wait() and _run() from the
 * daemon's loop, the local client's callbacks forwarded to _local_up/_down/_puback/_message.
 */
#ifndef CORIO_GATEWAY_COAP_INGRESS_H
#define CORIO_GATEWAY_COAP_INGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "local_client.h"

struct corio_coap_ingress_options {
    const char *gateway;  /* short id: the aud of device EATs */
    const char *registry; /* the registry file (docs/registry.md) */
    const char *address;  /* listen address, numeric ("0.0.0.0", "::", "127.0.0.1") */
    int coap_port;        /* plain UDP, closed networks only; 0: none */
    int coaps_port;       /* DTLS; 0: none */
    const char *tls_cert; /* the gateway's certificate and key (PEM), for coaps */
    const char *tls_key;
    size_t max_body;            /* largest POST body: larger is 4.13 with Size1 */
    int64_t session_timeout_ms; /* a session silent this long ends (presence offline) */
    uint32_t retry_after_s;     /* Max-Age of a 5.03 */
    uint32_t observe_max_age_s; /* Max-Age of dn notifications: the devices' refresh */
    int piggyback_ms;           /* how long a POST waits for the PUBACK before it sends
                                 * an Empty ACK and answers separately */
    corio_local_client *local;  /* the service client; borrowed */
};

struct corio_coap_ingress_stats {
    uint64_t sessions; /* sessions now */
    uint64_t bound;    /* sessions with an authenticated device */
    uint64_t auth_accepted;
    uint64_t auth_refused;
    uint64_t stored;           /* POSTs answered 2.04 */
    uint64_t unavailable;      /* POSTs answered 5.03 */
    uint64_t denied;           /* requests answered 4.01 or 4.03 */
    uint64_t separate;         /* POSTs answered after an Empty ACK */
    uint64_t relayed;          /* dn messages handed to observers */
    uint64_t presence_dropped; /* presence records lost to a full queue */
};

typedef struct corio_coap_ingress corio_coap_ingress;

/* Opens the listeners and loads the registry. Returns a corio_err with a reason in err. */
int corio_coap_ingress_new(const struct corio_coap_ingress_options *o, corio_coap_ingress **out,
                           char *err, size_t errlen);

/* Records every bound device offline, gives the local client up to flush_ms to take those
 * records, closes the listeners and frees. */
void corio_coap_ingress_free(corio_coap_ingress *ci, int flush_ms);

/* Waits up to timeout_ms for a datagram or the local client's socket. */
void corio_coap_ingress_wait(corio_coap_ingress *ci, int timeout_ms);

/* Handles what is due: datagrams, retransmissions, notifications, idle sessions, the
 * registry file (re-read when it changes, applied only at a higher height). */
void corio_coap_ingress_run(corio_coap_ingress *ci, int64_t now_ms);

/* The local client's events (local_client.h), forwarded by the owner. */
void corio_coap_ingress_local_up(corio_coap_ingress *ci);
void corio_coap_ingress_local_down(corio_coap_ingress *ci);
void corio_coap_ingress_puback(corio_coap_ingress *ci, int mid);
void corio_coap_ingress_message(corio_coap_ingress *ci, const char *topic, const uint8_t *payload,
                                size_t len);

void corio_coap_ingress_stats(const corio_coap_ingress *ci, struct corio_coap_ingress_stats *st);

/* ---- internal, exposed for tests/fuzz/fuzz_coap_ingress.c ------------------------- */

/* Block1 reassembly (RFC 7959 §2.5) of one session: one transfer at a time. */
struct corio__coap_block1 {
    const void *owner; /* the resource the transfer is for; NULL: none */
    uint8_t *buf;
    size_t len, cap;
    uint32_t next; /* the block number expected next */
    uint8_t szx;
};

/* One request's body as it came. */
struct corio__coap_block1_in {
    bool has_block;
    uint32_t num;
    bool more;
    uint8_t szx; /* 0..7 as on the wire */
    bool has_size1;
    uint64_t size1;
    const uint8_t *data;
    size_t len;
};

enum {
    CORIO__B1_DONE = 0,   /* the whole body is in *body (valid until the next feed/clear) */
    CORIO__B1_CONTINUE,   /* 2.31: send the next block */
    CORIO__B1_INCOMPLETE, /* 4.08: a block of no transfer in progress, or out of order */
    CORIO__B1_TOO_LARGE,  /* 4.13: larger than max (by Size1 or by what came) */
    CORIO__B1_BAD,        /* 4.00: a block of the wrong size, or SZX 7 */
    CORIO__B1_NOMEM,      /* 5.00 */
};

/* Feeds one request for resource owner; a body larger than max is refused. Returns one
 * of the values above; on CORIO__B1_DONE *body and *body_len give the body. */
int corio__coap_block1_feed(struct corio__coap_block1 *b, const void *owner, size_t max,
                            const struct corio__coap_block1_in *in, const uint8_t **body,
                            size_t *body_len);
void corio__coap_block1_clear(struct corio__coap_block1 *b);

/* "d/<id>/..." (a Uri-Path joined with '/'): copies the short id into id and returns
 * true; false for any other path. */
bool corio__coap_path_device(const char *path, size_t len, char id[25]);

/* "corio/v1/d/<id>/dn/<cmd|cfg|ota|time>": the id and the suffix's index (0..3). */
bool corio__coap_dn_topic(const char *topic, char id[25], int *index);

#endif /* CORIO_GATEWAY_COAP_INGRESS_H */
