/*
 * forwarder.h - moves the gateway outbox to the cloud in signed batches, and moves the
 * watermark only on the cloud's application ack (DESIGN.md §1, point 4).
 *
 * The forwarder reads rows after its watermark in id order, cuts them into batches
 * (ranges of ids of one epoch that tile the id space), seals each batch (COSE_Sign1 with
 * the gateway's key, supplied by the caller) and hands it to the uplink, keeping a
 * window of batches in flight. A broker's PUBACK means nothing here: a batch leaves
 * the window only when an application ack covers it, and the watermark then advances
 * over every leading acknowledged batch and is written to the watermark file, which the
 * plugin reads to delete the rows. A batch unacknowledged after a timeout, or still in
 * flight when the uplink reconnects, is sent again; the cloud deduplicates per message.
 *
 * The forwarder does no I/O of its own beyond the outbox and the watermark file: the
 * caller's loop calls corio_forwarder_step() and feeds it uplink events, so the same
 * code runs under the daemon and under unit tests.
 */
#ifndef CORIO_GATEWAY_FORWARDER_H
#define CORIO_GATEWAY_FORWARDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct corio_forwarder_uplink {
    /* Publishes one sealed batch, QoS 1, on corio/v1/g/{gw}/batch. Returns 0 when the
     * publish was handed to the client, non-zero when it could not be (not connected):
     * the batch is then sent again after the next connect. */
    int (*publish)(void *ctx, const uint8_t *batch, size_t len);
    /* Wraps a batch payload into what goes on the wire (COSE_Sign1). On success returns
     * 0 and a malloc'd buffer in *out that the forwarder frees. */
    int (*seal)(void *ctx, const uint8_t *payload, size_t len, uint8_t **out, size_t *outlen);
    void *ctx;
};

struct corio_forwarder_options {
    const char *outbox_path;
    const char *watermark_path; /* default: <outbox_path>.watermark */
    const char *gateway;        /* this gateway's short id */
    int window;                 /* batches in flight, default 8 */
    int batch_max_messages;     /* default 500 */
    size_t batch_max_bytes;     /* payload bytes per batch, default 256 KiB */
    int64_t ack_timeout_ms;     /* first resend after this, doubling to 16x; default 10 s */
    int64_t watermark_interval_ms; /* at most one watermark write per interval, default 100 */
    struct corio_forwarder_uplink uplink;
};

struct corio_forwarder_stats {
    uint64_t epoch;
    int64_t watermark;       /* every id <= this is committed in the cloud */
    int64_t sent_through;    /* highest id put into a batch */
    int inflight;            /* batches in the window */
    uint64_t batches_sent;   /* first sends */
    uint64_t batches_resent;
    uint64_t batches_acked;
    uint64_t messages_acked;
    uint64_t acks_ignored;   /* acks of another epoch or for no batch in flight */
    uint64_t acks_malformed;
    uint64_t reopens;        /* outbox recreated (new epoch) or reopened */
};

typedef struct corio_forwarder corio_forwarder;

/* Creates a forwarder; the outbox is opened lazily (it may not exist yet). Returns a
 * corio_err; on failure *out is NULL and err holds the reason. */
int corio_forwarder_new(const struct corio_forwarder_options *opts, corio_forwarder **out,
                        char *err, size_t errlen);

/* Writes the watermark if it moved, then frees everything. */
void corio_forwarder_free(corio_forwarder *fw);

/*
 * Does what is due at now_ms (a monotonic clock): reopens a recreated outbox, fills the
 * window with new batches, resends timed-out ones, writes the watermark. Returns the
 * number of batches handed to the uplink, or a negative corio_err when the outbox
 * cannot be read (the forwarder retries on the next step).
 */
int corio_forwarder_step(corio_forwarder *fw, int64_t now_ms);

/* The uplink (re)connected: every batch in flight is sent again on the next step. */
void corio_forwarder_uplink_up(corio_forwarder *fw);

/* An application ack arrived (the CBOR of docs/formats.md). Returns CORIO_OK, or a
 * negative corio_err for a malformed ack (counted, otherwise ignored). */
int corio_forwarder_on_ack(corio_forwarder *fw, const uint8_t *ack, size_t len, int64_t now_ms);

void corio_forwarder_stats(const corio_forwarder *fw, struct corio_forwarder_stats *st);

#endif /* CORIO_GATEWAY_FORWARDER_H */
