/*
 * local_client.h - corio-gateway's own MQTT client to the gateway's broker, logged in as
 * the gateway's service identity (docs/gateway-coap.md).
 *
 * Every listener of the gateway's broker authenticates, the loopback one included
 * (DESIGN.md §3). corio-gateway logs in with its own identity: client id = the gateway's
 * short id (optionally ".<role>"), username = the gateway's DID, password = base64url of
 * an EAT signed by the gateway's key with aud = the gateway's id and a counter. The
 * plugin gives this identity the service rights (publish under corio/v1/d/+/up/ and
 * corio/v1/d/+/dn/, subscribe to them) that CoAP ingress needs.
 *
 * The counter must grow across restarts: each login takes max(stored + 1, wall-clock
 * milliseconds) and stores it (write, fsync, rename) before it is used, so a lost file
 * or a clock that steps back still gives a counter above every one sent before.
 *
 * The client runs in the caller's thread (corio_local_client_run); callbacks run inside
 * corio_local_client_run() only. A connection that ends is thrown away with its
 * libmosquitto client, so nothing published on it is ever sent again on the next one:
 * the caller decides what to retry.
 */
#ifndef CORIO_GATEWAY_LOCAL_CLIENT_H
#define CORIO_GATEWAY_LOCAL_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "corio/crypto.h"

struct corio_local_client_options {
    const char *gateway;         /* short id: the DID's id and the client id */
    const char *role;            /* NULL, or a role: client id "<gateway>.<role>" */
    const struct corio_key *key; /* the gateway's key; borrowed for the client's life */
    uint32_t key_number;         /* which key of the gateway's DID it is */
    const char *host;            /* the broker's loopback listener: 127.0.0.1 */
    int port;
    int keepalive_s;
    const char *counter_path;     /* where the login counter is kept */
    const char *const *subscribe; /* filters subscribed (QoS 1) at every connect; NULL-ended */
    void (*on_up)(void *arg);     /* connected (CONNACK accepted, subscribed) */
    void (*on_down)(void *arg);   /* the connection ended or a connect failed */
    void (*on_puback)(void *arg, int mid); /* a QoS 1 publish was acknowledged */
    void (*on_message)(void *arg, const char *topic, const uint8_t *payload, size_t len);
    void *arg;
};

struct corio_local_client_stats {
    bool connected;
    uint64_t connects;    /* connections accepted */
    uint64_t refusals;    /* CONNACKs that refused */
    uint64_t disconnects; /* accepted connections that ended */
    uint64_t published;
    uint64_t acked;
};

typedef struct corio_local_client corio_local_client;

/* Creates the client (no connection yet). Returns a corio_err with a reason in err. */
int corio_local_client_new(const struct corio_local_client_options *o, corio_local_client **out,
                           char *err, size_t errlen);

/* Disconnects (when connected) and frees. */
void corio_local_client_free(corio_local_client *c);

/* Connects when due (backoff 250 ms doubling to 5 s, reset by a successful connect) and
 * runs the network for up to timeout_ms. */
void corio_local_client_run(corio_local_client *c, int timeout_ms, int64_t now_ms);

/* The socket to wait on, or -1 while there is none; whether it waits to write. */
int corio_local_client_fd(const corio_local_client *c);
bool corio_local_client_want_write(const corio_local_client *c);

bool corio_local_client_connected(const corio_local_client *c);

/* Publishes payload QoS 1 on topic. Returns the message id (> 0) that on_puback will
 * name, CORIO_ERR_CLOSED when not connected, or CORIO_ERR_IO when libmosquitto refused. */
int corio_local_client_publish(corio_local_client *c, const char *topic, const void *payload,
                               size_t len);

void corio_local_client_stats(const corio_local_client *c, struct corio_local_client_stats *st);

/*
 * The login counter: reads the counter stored at path (absent or unreadable: 0), takes
 * max(stored + 1, wall_ms), stores it (write to a temporary file, fsync, rename) and
 * returns it in *out. Returns CORIO_OK, or CORIO_ERR_IO with a reason in err when it
 * cannot be stored (then it must not be used: it could repeat after a restart).
 */
int corio_local_counter_next(const char *path, int64_t wall_ms, uint64_t *out, char *err,
                             size_t errlen);

#endif /* CORIO_GATEWAY_LOCAL_CLIENT_H */
