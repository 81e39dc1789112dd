/*
 * bus_nats.h - corio-cloud's ingest from NATS JetStream (docs/scale-out.md).
 *
 * Gateways publish their batches to nats-server's MQTT listener (MQTT 3.1.1, QoS 1) on
 * corio/v1/g/{gw}/batch; nats-server maps the topic to the subject corio.v1.g.{gw}.batch,
 * and a JetStream stream (work-queue retention, file storage, replicated in a cluster)
 * keeps every batch until an ingest instance acknowledges it. Every corio-cloud ingest
 * instance pulls from the same durable pull consumer, so the stream's batches are
 * spread over the instances, and a batch whose instance dies before acknowledging it
 * is delivered again (after the consumer's ack wait) to another.
 *
 * An instance acknowledges a batch to JetStream only after its database commit and
 * after publishing the application ack for the gateway. The application ack reaches
 * the gateway's QoS 1 MQTT subscription the way nats-server 2.9 delivers MQTT QoS 1:
 * from its $MQTT_msgs stream (corio_bus_nats_publish_ack).
 *
 * Threads: libnats runs its own; one bus is used by one thread of ours (the ingest
 * worker), which fetches, settles and publishes.
 */
#ifndef CORIO_CLOUD_BUS_NATS_H
#define CORIO_CLOUD_BUS_NATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The subjects of batches and acks, and the prefix under which nats-server 2.9 keeps
 * MQTT QoS 1 messages in its $MQTT_msgs stream. */
#define CORIO_BUS_BATCH_SUBJECTS   "corio.v1.g.*.batch"
#define CORIO_BUS_STATUS_SUBJECTS  "corio.v1.g.*.status"
#define CORIO_BUS_MQTT_QOS1_PREFIX "$MQTT.msgs."
#define CORIO_BUS_MQTT_HEADER      "Nmqtt-Pub"

struct corio_bus_nats_opts {
    const char *url;      /* one or more nats:// or tls:// URLs, comma-separated */
    const char *tls_ca;   /* CA of the servers' certificates; TLS when set */
    const char *tls_cert; /* client certificate and key (mutual TLS), or NULL */
    const char *tls_key;
    const char *stream;   /* the stream of batches (made when missing) */
    const char *consumer; /* the durable pull consumer every instance shares */
    int replicas;         /* of the stream and consumer when this instance makes them */
    int64_t ack_wait_ms;  /* a batch not acknowledged by then is delivered again */
    int64_t max_bytes;    /* the stream's size limit; beyond it new batches are refused */
    /* Called on the library's thread when the connection comes and goes; may be NULL. */
    void (*on_connection)(void *arg, bool up);
    /* A core NATS subject the instances share live events on (live_share.h), and what to
     * call, on the library's thread, with each message that arrives there (its own
     * included); NULL: none. */
    const char *live_subject;
    void (*on_live)(void *arg, const uint8_t *data, size_t len);
    /* What to call, on the library's thread, with each gateway status document published
     * on CORIO_BUS_STATUS_SUBJECTS (the gateways' corio/v1/g/{gw}/status, their wills
     * included), with the subject it came on; NULL: not subscribed. */
    void (*on_status)(void *arg, const char *subject, const uint8_t *data, size_t len);
    void *arg;
};

struct corio_bus_nats;

/*
 * Starts connecting (in the background, retrying for ever: the servers need not be up
 * yet). Returns CORIO_OK and *out; CORIO_ERR_INVAL (bad options, with err) or
 * CORIO_ERR_IO / CORIO_ERR_NOSPACE (the library refused, with err).
 */
int corio_bus_nats_new(const struct corio_bus_nats_opts *o, struct corio_bus_nats **out, char *err,
                       size_t errlen);

/* Flushes pending acknowledgements and closes. NULL is fine. */
void corio_bus_nats_free(struct corio_bus_nats *b);

/* One batch taken from the stream; valid until settled. */
struct corio_bus_msg {
    char topic[160];     /* the MQTT topic it was published on ("" if not mappable) */
    const uint8_t *data; /* the batch as the gateway sent it */
    size_t len;
    uint64_t deliveries; /* 1 the first time; more when delivered again */
    void *priv;
};

/*
 * Takes up to max batches, waiting up to timeout_ms. The first call (and the first
 * after the stream or consumer went missing) makes the stream and the consumer when
 * they do not exist. Returns how many were taken (0: none came in time), or
 * CORIO_ERR_CLOSED when there is no usable connection or stream yet (having waited up
 * to timeout_ms), or CORIO_ERR_NOSPACE.
 */
int corio_bus_nats_fetch(struct corio_bus_nats *b, struct corio_bus_msg *msgs, int max,
                         int timeout_ms);

enum corio_bus_outcome {
    CORIO_BUS_DONE,  /* committed (or stored as rejected): remove it from the stream */
    CORIO_BUS_NEVER, /* refused for good (not a batch, bad signature): remove it too */
    CORIO_BUS_LATER, /* not stored (the database failed): deliver again after delay */
};

/* Settles m (acknowledge, terminate, or negative-acknowledge with delay_ms) and frees
 * it. A settlement lost on the way only means one more delivery. Returns CORIO_OK or
 * CORIO_ERR_IO. */
int corio_bus_nats_settle(struct corio_bus_nats *b, struct corio_bus_msg *m,
                          enum corio_bus_outcome outcome, int64_t delay_ms);

/*
 * Publishes an application ack for gateway (a short id) to the MQTT topic
 * corio/v1/g/{gateway}/ack: once as a plain NATS message on corio.v1.g.{gateway}.ack
 * (for QoS 0 and NATS subscribers), and once into nats-server's MQTT stream as
 * $MQTT.msgs.corio.v1.g.{gateway}.ack, both marked as MQTT QoS 1, which is how
 * nats-server 2.9 delivers to QoS 1 subscriptions: kept in JetStream for a persistent
 * session that is offline, resent until the gateway's PUBACK. Returns CORIO_OK;
 * CORIO_ERR_CLOSED (not connected); CORIO_ERR_IO (no MQTT stream answered: no MQTT
 * client ever connected, or the cluster has no quorum).
 */
int corio_bus_nats_publish_ack(struct corio_bus_nats *b, const char *gateway, const uint8_t *ack,
                               size_t len);

/* Publishes one message on the live subject (at most once: core NATS, no stream).
 * Returns CORIO_OK; CORIO_ERR_STATE (no live subject); CORIO_ERR_CLOSED (not connected). */
int corio_bus_nats_publish_live(struct corio_bus_nats *b, const char *msg, size_t len);

bool corio_bus_nats_connected(struct corio_bus_nats *b);

/*
 * The MQTT topic a NATS subject came from, as nats-server maps MQTT topics ('/'
 * between levels became '.'): writes it into topic (cap bytes). Returns false when the
 * subject is empty, does not fit, or holds a character no topic of ours has (a
 * wildcard, a space, a control character); the ingest then refuses it by its topic.
 */
bool corio_bus_subject_to_topic(const char *subject, char *topic, size_t cap);

#endif /* CORIO_CLOUD_BUS_NATS_H */
