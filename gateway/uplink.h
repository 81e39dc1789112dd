/*
 * uplink.h - the gateway's MQTT connection to the cloud broker (libmosquitto).
 *
 * One client, driven by the daemon's own loop (corio_uplink_run_once), never by a
 * library thread, so that the forwarder is only ever touched from one thread. It
 * connects with a persistent session (client id = the gateway's short id), reconnects
 * with capped exponential backoff and jitter, subscribes to the gateway's ack and down
 * topics at QoS 1 on every connect, and reports connects and messages to the caller.
 */
#ifndef CORIO_GATEWAY_UPLINK_H
#define CORIO_GATEWAY_UPLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct corio_uplink_options {
    const char *gateway; /* short id: client id and topic segment */
    const char *host;
    int port;
    int keepalive_s;
    /* Mutual TLS when ca is set: the cloud's CA, and this gateway's certificate and key. */
    const char *tls_ca, *tls_cert, *tls_key;
    int max_inflight; /* QoS 1 messages in flight at the MQTT layer */
    /* A last will, retained QoS 1 on corio/v1/g/{gw}/<will_suffix>, when set. */
    const char *will_suffix;
    const char *will_payload;
    void (*on_connect)(void *arg);
    void (*on_message)(void *arg, const char *topic, const uint8_t *payload, size_t len);
    void *arg;
};

struct corio_uplink_stats {
    bool connected;
    uint64_t connects;
    uint64_t disconnects;
    uint64_t published;
    uint64_t publish_refused;
    uint64_t bytes; /* payload bytes handed to the client */
};

typedef struct corio_uplink corio_uplink;

/* Creates the client (no connection yet). Returns a corio_err and a reason in err. */
int corio_uplink_new(const struct corio_uplink_options *o, corio_uplink **out, char *err,
                     size_t errlen);
void corio_uplink_free(corio_uplink *u);

/* Connects or reconnects when due, and runs the network for up to timeout_ms. */
void corio_uplink_run_once(corio_uplink *u, int timeout_ms, int64_t now_ms);

/* Publishes QoS 1 on corio/v1/g/{gw}/<suffix>. Returns 0, or -1 when not connected or
 * the client refused (counted). */
int corio_uplink_publish(corio_uplink *u, const char *suffix, const uint8_t *payload,
                         size_t len);

/* The same, retained: the broker keeps the latest for whoever subscribes later. */
int corio_uplink_publish_retained(corio_uplink *u, const char *suffix, const uint8_t *payload,
                                  size_t len);

void corio_uplink_stats(const corio_uplink *u, struct corio_uplink_stats *st);

#endif /* CORIO_GATEWAY_UPLINK_H */
