/*
 * batch.h - the gateway-to-cloud batch and the cloud's application ack
 * (docs/formats.md): the CBOR payload codecs that corio-gateway and corio-cloud share.
 *
 * A batch carries a range of gateway outbox rows of one epoch. The signature around it
 * (COSE_Sign1) is applied and checked by the callers with the identity code; this file
 * only encodes and decodes the payload, deterministically.
 */
#ifndef CORIO_COMMON_BATCH_H
#define CORIO_COMMON_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "corio/crypto.h"

#define CORIO_BATCH_VERSION 1
#define CORIO_ACK_VERSION 1
#define CORIO_SHORT_ID_CHARS 24

/* One message of a batch. Decoded strings and payloads point into the decoder's input
 * and are not NUL-terminated. */
struct corio_batch_msg {
    uint64_t id;          /* gateway outbox id */
    const char *device;   /* short id, or empty for the gateway's own records */
    size_t device_len;
    const char *suffix;   /* topic suffix: "up/json", "up/hb", "presence", … */
    size_t suffix_len;
    int64_t recv_ms;      /* gateway receive time */
    const uint8_t *payload;
    size_t payload_len;
};

struct corio_batch {
    uint32_t version;
    char gateway[CORIO_SHORT_ID_CHARS + 1];
    uint64_t epoch;
    uint64_t first, last; /* the outbox id range the batch covers, inclusive */
    int64_t made_ms;
    size_t count;
    struct corio_batch_msg *msgs; /* decode: allocated, free with corio_batch_free() */
};

/*
 * Encodes b (with b->count messages in b->msgs) into buf. Returns the encoded length,
 * or CORIO_ERR_NOSPACE when cap is too small (call with buf == NULL to get the size),
 * or CORIO_ERR_INVAL when the batch breaks a rule the decoder enforces.
 */
int64_t corio_batch_encode(const struct corio_batch *b, uint8_t *buf, size_t cap);

/*
 * Decodes and validates a batch payload. On CORIO_OK, *b holds pointers into buf (which
 * must outlive it) and an allocated message array. On error returns CORIO_ERR_MALFORMED
 * (not CBOR, or not deterministic), CORIO_ERR_VERSION, or CORIO_ERR_POLICY (a rule
 * broken: ids out of range or not increasing, a bad short id), and writes the reason
 * into why (when why is not NULL); *b is then empty.
 */
int corio_batch_decode(const uint8_t *buf, size_t len, struct corio_batch *b, char *why,
                       size_t whylen);

void corio_batch_free(struct corio_batch *b);

/* An application ack: committed ranges of one epoch. */
struct corio_ack_range {
    uint64_t first, last;
};

/* Encodes an ack; returns its length or CORIO_ERR_NOSPACE / CORIO_ERR_INVAL. */
int64_t corio_ack_encode(uint64_t epoch, const struct corio_ack_range *ranges, size_t n,
                         uint8_t *buf, size_t cap);

/*
 * Decodes an ack into *epoch and up to max ranges. Returns the number of ranges, or
 * CORIO_ERR_MALFORMED / CORIO_ERR_VERSION / CORIO_ERR_POLICY (first > last) /
 * CORIO_ERR_NOSPACE (more than max ranges).
 */
int corio_ack_decode(const uint8_t *buf, size_t len, uint64_t *epoch,
                     struct corio_ack_range *ranges, size_t max);

/* ---- The signature around a batch (docs/formats.md) ---- */

/* External AAD of a batch's COSE_Sign1: binds the signature to this use. */
#define CORIO_BATCH_AAD "corio-batch-v1"

/*
 * Signs a batch payload with the gateway's key into a COSE_Sign1 whose protected kid is
 * "did:corio:<gateway>#<key_number>". On CORIO_OK, *out is malloc'd (the caller frees
 * it). Returns CORIO_ERR_INVAL (bad gateway id), CORIO_ERR_NOSPACE, or signing errors.
 */
int corio_batch_seal(const struct corio_key *key, const char *gateway, unsigned key_number,
                     const uint8_t *payload, size_t len, uint8_t **out, size_t *outlen);

/*
 * Reads who signed a sealed batch, without verifying anything: the gateway's short id
 * (NUL-terminated) and key number from the kid. Returns CORIO_OK or CORIO_ERR_MALFORMED.
 */
int corio_batch_signer(const uint8_t *wire, size_t len, char gateway[CORIO_SHORT_ID_CHARS + 1],
                       unsigned *key_number);

/*
 * Verifies a sealed batch against the gateway's public key (33 or 65 bytes) and decodes
 * it into *b (as corio_batch_decode; pointers into wire). The batch's gateway must be
 * the signer named by the kid. Returns CORIO_OK; CORIO_ERR_BADSIG (signature invalid
 * or high S); CORIO_ERR_POLICY (the signer is not the batch's gateway, or a rule of the
 * payload); CORIO_ERR_MALFORMED; CORIO_ERR_VERSION; with the reason in why.
 */
int corio_batch_open(const struct corio_crypto_ops *ops, const uint8_t *wire, size_t len,
                     const uint8_t *pub, size_t pub_len, struct corio_batch *b, char *why,
                     size_t whylen);

#endif /* CORIO_COMMON_BATCH_H */
