/*
 * eat_auth.h - the messages of MQTT 5 enhanced authentication "corio-eat-v1" and of
 * onboarding through the quarantine topic space (docs/edge-auth.md, docs/onboarding.md).
 *
 * The exchange (DESIGN.md §3): CONNECT names the method and carries client id = the
 * device's short id; the broker answers AUTH 0x18 with a fresh 32-byte nonce; the
 * device answers AUTH 0x18 with an answer (below) holding its EAT over that nonce and
 * its rotation chain; the broker's CONNACK (or AUTH 0x00 after a re-authentication)
 * carries a result saying whether the device is admitted or quarantined.
 *
 *   answer  = [1, bstr .cbor EAT, bstr .cbor rotation-chain]   at most CORIO_EAT_AUTH_MAX
 *   result  = [1, status]              status 1 admitted, 2 quarantined
 *   claim   = [1, bstr .size 15 claimant id, bstr .size 32 nonce]
 *
 * The same answer shape carries a device's reply to a claim (the EAT then has aud = the
 * claimant's short id and nonce = SHA-256(secret ‖ claimant id); the chain is the
 * inception key alone). Every message is deterministic CBOR: shortest heads, definite
 * lengths, nothing after the item; decoders refuse anything else.
 *
 * Nothing allocates; decoded views point into the input. Returns follow
 * include/corio/error.h.
 */
#ifndef CORIO_EAT_AUTH_H
#define CORIO_EAT_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "corio/crypto.h"
#include "corio/did.h"
#include "corio/eat.h"
#include "corio/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The MQTT 5 Authentication Method. */
#define CORIO_EAT_AUTH_METHOD "corio-eat-v1"
/* Format version of the three messages. */
#define CORIO_EAT_AUTH_VERSION 1
/* The broker's nonce. */
#define CORIO_EAT_AUTH_NONCE_LEN 32
/* The largest answer accepted or made: an EAT of up to CORIO_EAT_MAX_SIZE and a chain of
 * CORIO_ROTATION_MAX_LINKS links with one endorsement each fit with room to spare. */
#define CORIO_EAT_AUTH_MAX 8192
/* Bytes an answer adds around its EAT and chain, at most. */
#define CORIO_EAT_AUTH_OVERHEAD 8u
/* An answer's size for an EAT and a chain of the given lengths, at most. */
#define CORIO_EAT_AUTH_SIZE(eat_len, chain_len) ((eat_len) + (chain_len) + CORIO_EAT_AUTH_OVERHEAD)

/* A decoded answer: views into the input. Neither part is verified. */
struct corio_eat_auth {
    const uint8_t *eat; /* the EAT (COSE_Sign1), 1..CORIO_EAT_MAX_SIZE bytes */
    size_t eat_len;
    const uint8_t *chain; /* the rotation chain (rotation.h), at least 1 byte */
    size_t chain_len;
};

/*
 * Writes the answer [1, eat, chain] into out[0..cap). out may not overlap the inputs.
 * Returns its length; CORIO_ERR_INVAL (NULL input, an empty part, an EAT larger than
 * CORIO_EAT_MAX_SIZE, or an answer larger than CORIO_EAT_AUTH_MAX); CORIO_ERR_NOSPACE.
 */
int corio_eat_auth_encode(const uint8_t *eat, size_t eat_len, const uint8_t *chain,
                          size_t chain_len, uint8_t *out, size_t cap);

/*
 * Reads an answer (hostile input). Returns CORIO_OK with the views in *out;
 * CORIO_ERR_POLICY (larger than CORIO_EAT_AUTH_MAX, or an EAT larger than
 * CORIO_EAT_MAX_SIZE); CORIO_ERR_VERSION (another version); CORIO_ERR_MALFORMED
 * (anything but a deterministic [uint, bstr, bstr] with non-empty strings and nothing
 * after it); CORIO_ERR_INVAL (NULL arguments). *out is unchanged on error.
 */
int corio_eat_auth_decode(const uint8_t *buf, size_t len, struct corio_eat_auth *out);

/* What the broker says of a successful authentication. */
enum corio_eat_auth_status {
    CORIO_EAT_AUTH_ADMITTED = 1,    /* a registered device: its own topics */
    CORIO_EAT_AUTH_QUARANTINED = 2, /* not (yet) registered: the quarantine space only */
};

/* The result [1, status]: writes it into out[0..cap) and returns its length (3),
 * CORIO_ERR_INVAL (unknown status) or CORIO_ERR_NOSPACE. */
int corio_eat_auth_result_encode(enum corio_eat_auth_status status, uint8_t *out, size_t cap);

/* Reads a result (hostile input): CORIO_OK with *status; CORIO_ERR_VERSION;
 * CORIO_ERR_MALFORMED (not a deterministic [1, 1 or 2]); CORIO_ERR_INVAL. */
int corio_eat_auth_result_decode(const uint8_t *buf, size_t len,
                                 enum corio_eat_auth_status *status);

/* ---- onboarding ---- */

/* The quarantine topic space: a device that is not registered may publish only under
 * corio/v1/q/{id}/up/ and read only corio/v1/q/{id}/dn/ (docs/onboarding.md). */
#define CORIO_QUARANTINE_PREFIX   "corio/v1/q/"
#define CORIO_QUARANTINE_CLAIM_DN "dn/claim" /* claim requests to the device */
#define CORIO_QUARANTINE_CLAIM_UP "up/claim" /* the device's answers */
/* Bytes the longest quarantine topic of this header takes, NUL included. */
#define CORIO_QUARANTINE_TOPIC_MAX 48

/* The longest claim secret, in bytes of text. */
#define CORIO_CLAIM_SECRET_MAX 64

/* A claim request: who claims, and the nonce it computed from the secret it holds. */
struct corio_claim_request {
    uint8_t claimant[CORIO_DID_ID_LEN]; /* the claiming organisation's id */
    uint8_t nonce[CORIO_SHA256_LEN];    /* SHA-256(secret ‖ claimant) */
};

/* Writes the request [1, claimant, nonce]; returns its length (52), CORIO_ERR_INVAL or
 * CORIO_ERR_NOSPACE. */
int corio_claim_request_encode(const struct corio_claim_request *r, uint8_t *out, size_t cap);

/* Reads a request (hostile input): CORIO_OK; CORIO_ERR_VERSION; CORIO_ERR_MALFORMED
 * (not a deterministic [1, 15 bytes, 32 bytes]); CORIO_ERR_INVAL. *r is unchanged on
 * error. */
int corio_claim_request_decode(const uint8_t *buf, size_t len, struct corio_claim_request *r);

/* The claim nonce H(secret ‖ claimant) = SHA-256 over the secret's text bytes followed by
 * the claimant's 15-byte id (the ledger's `corio device claim-nonce`). Returns CORIO_OK,
 * CORIO_ERR_INVAL (NULL, or a secret of 0 or more than CORIO_CLAIM_SECRET_MAX bytes) or
 * the backend's errors. */
int corio_claim_nonce(const struct corio_crypto_ops *ops, const char *secret, size_t secret_len,
                      const uint8_t claimant[CORIO_DID_ID_LEN], uint8_t nonce[CORIO_SHA256_LEN]);

/* Writes "corio/v1/q/<id>/<suffix>" (id a short id, NUL-terminated; suffix "up/..." or
 * "dn/..." without wildcards) into out[0..cap), NUL-terminated. Returns the length,
 * CORIO_ERR_INVAL or CORIO_ERR_NOSPACE. */
int corio_quarantine_topic(const char *id, const char *suffix, char *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_EAT_AUTH_H */
