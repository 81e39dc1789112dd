/*
 * broker.h - corio-gateway runs the gateway's Mosquitto: it writes its configuration
 * (device listeners, the authenticated loopback listener, the corio plugin and its
 * options), starts it, restarts it when it dies, and stops it on shutdown.
 */
#ifndef CORIO_GATEWAY_BROKER_H
#define CORIO_GATEWAY_BROKER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct corio_broker_options {
    const char *bin;        /* mosquitto */
    const char *dir;        /* where the configuration is written */
    const char *plugin;     /* corio_mosquitto.so */
    const char *gateway;    /* plugin_opt_gateway */
    const char *outbox;     /* plugin_opt_outbox */
    const char *registry;   /* plugin_opt_registry */
    int64_t outbox_max_bytes;
    int64_t sync_ms;
    const char *vfs;        /* plugin_opt_vfs, or NULL */
    const char *stats;      /* plugin_opt_stats, or NULL (the plugin's default) */
    int loopback_port;      /* 127.0.0.1, authenticated like every listener; 0: none */
    const char *mqtt_address;
    int mqtt_port;          /* plain MQTT for devices; 0: none */
    int mqtts_port;         /* MQTT over TLS for devices; 0: none */
    const char *tls_cert, *tls_key, *tls_ca;
    int ws_port;            /* MQTT over WebSockets; 0: none */
    const char *const *env; /* NAME=VALUE for the broker's environment (NULL-terminated) */
    size_t nenv;
    const char *const *extra; /* more configuration lines */
    size_t nextra;
};

struct corio_broker_stats {
    pid_t pid;          /* 0 while not running */
    uint64_t starts;    /* times started */
    uint64_t deaths;    /* times it exited without being asked */
};

typedef struct corio_broker corio_broker;

/* Writes the configuration and starts the broker. Returns a corio_err with err set. */
int corio_broker_start(const struct corio_broker_options *o, corio_broker **out, char *err,
                       size_t errlen);

/* Reaps a dead broker and restarts it after a capped backoff. Call from the loop. */
void corio_broker_check(corio_broker *b, int64_t now_ms);

/* SIGTERM, then SIGKILL after timeout_ms; reaps; frees. */
void corio_broker_stop(corio_broker *b, int timeout_ms);

void corio_broker_stats(const corio_broker *b, struct corio_broker_stats *st);

#endif /* CORIO_GATEWAY_BROKER_H */
