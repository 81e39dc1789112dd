/*
 * rotation.h - key rotation statements and chains (DESIGN.md §3; the format is in
 * docs/identity.md).
 *
 * An identity's keys are numbered: key 0 is the inception key its DID is made from.
 * Key k+1 is introduced by a rotation statement
 *     {1: 1 (version), 2: subject id (15 bytes), 3: k+1, 4: new key (33 bytes,
 *      compressed), 5: owner organisation id (15 bytes)}      deterministic CBOR
 * carried as the payload of an untagged COSE_Sign, signed with the external aad
 * CORIO_ROTATION_AAD by the subject's key k (kid "did:corio:<subject>#k") AND by as
 * many of the owner organisation's signers as its threshold asks (kid
 * "did:corio:<signer>#n" each), so a thief holding one key cannot rotate alone.
 *
 * A chain is what a device presents during authentication:
 *     [1 (version), inception key (33 bytes, compressed), link 1, ..., link n]
 * A verifier that knows only the DID checks that the inception key hashes to it, then
 * walks the links offline with the organisation's signers it trusts. The chain is
 * refused if a link skips a key number, goes backwards, repeats a key, names another
 * subject or organisation, lacks the subject's signature by exactly key k, has a bad
 * signature, or has fewer distinct trusted organisation signatures than the threshold.
 *
 * Size (docs/identity.md): a link with s organisation signatures is at most
 * CORIO_ROTATION_LINK_MAX(s) bytes (327 for s = 1); a chain of n such links at most
 * CORIO_ROTATION_CHAIN_MAX(n, s).
 *
 * Nothing allocates; outputs never overlap inputs. Returns follow include/corio/error.h.
 */
#ifndef CORIO_ROTATION_H
#define CORIO_ROTATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "corio/config.h"
#include "corio/cose.h"
#include "corio/crypto.h"
#include "corio/did.h"
#include "corio/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CORIO_ROTATION_VERSION 1
/* External aad of every rotation signature: a signature made for a rotation cannot
 * pass for one over another COSE_Sign payload of the same keys, and the reverse. */
#define CORIO_ROTATION_AAD "corio-rotation-v1"

/* The most links a chain may hold (a key rotated this often should re-enrol). */
#ifndef CORIO_ROTATION_MAX_LINKS
#define CORIO_ROTATION_MAX_LINKS 16
#endif
#if CORIO_ROTATION_MAX_LINKS < 1 || CORIO_ROTATION_MAX_LINKS > 21
#error "CORIO_ROTATION_MAX_LINKS must be between 1 and 21 (the chain's array head is one byte)"
#endif

/* Size bounds (every kid at its longest, 45 bytes). */
#define CORIO_ROTATION_BODY_MAX 85u  /* array head, headers, payload, signatures head */
#define CORIO_ROTATION_SIG_MAX  121u /* one COSE_Signature */
#define CORIO_ROTATION_LINK_MAX(org_sigs)                                                          \
    (CORIO_ROTATION_BODY_MAX + CORIO_ROTATION_SIG_MAX * (1u + (org_sigs)))
#define CORIO_ROTATION_CHAIN_MAX(links, org_sigs) (37u + (links)*CORIO_ROTATION_LINK_MAX(org_sigs))

/* What a rotation statement says. */
struct corio_rotation_statement {
    uint8_t subject[CORIO_DID_ID_LEN]; /* whose key rotates */
    uint8_t org[CORIO_DID_ID_LEN];     /* the owner organisation that endorses it */
    uint32_t key_number;               /* the new key's number, k + 1 >= 1 */
    uint8_t new_key[CORIO_P256_PUB_COMPRESSED];
};

/* One signer the verifier trusts to endorse rotations for the organisation. */
struct corio_rotation_signer {
    struct corio_did did; /* the signer's DID and key number (has_key must be set) */
    const uint8_t *pub;   /* its public key, 33 or 65 bytes */
    size_t pub_len;
};

/* The organisation's endorsement rule. */
struct corio_rotation_trust {
    uint8_t org[CORIO_DID_ID_LEN];               /* the owner organisation */
    const struct corio_rotation_signer *signers; /* whose signatures count */
    size_t count;
    unsigned threshold; /* distinct signers needed, >= 1 */
};

/* What a verified chain establishes. */
struct corio_rotation_result {
    uint32_t key_number;             /* the current key's number (0: no rotation) */
    uint8_t pub[CORIO_P256_PUB_LEN]; /* the current key, uncompressed */
    size_t links;
};

/*
 * Writes a link for st, signed by current, the subject's key st->key_number - 1, into
 * out[0..cap) (CORIO_ROTATION_LINK_MAX(0) suffices). The organisation's signatures
 * are added with corio_rotation_link_endorse(). Returns the length, CORIO_ERR_INVAL
 * (NULL argument, key number 0, new key not a valid point), CORIO_ERR_NOSPACE, or
 * signing errors.
 */
int corio_rotation_link_make(const struct corio_key *current,
                             const struct corio_rotation_statement *st, uint8_t *out, size_t cap);

/*
 * Adds the signature of one endorsing signer (key, whose DID and key number are
 * signer: the organisation itself or a member signing for it) to the link
 * link[0..len) and writes the result to out[0..cap). The link's statement is decoded
 * to refuse anything that is not a link; whether this signer counts is the verifier's
 * rule (struct corio_rotation_trust), and the subject's signature is not checked here.
 * Returns the new length, the errors of corio_rotation_link_decode(), CORIO_ERR_INVAL,
 * CORIO_ERR_NOSPACE, CORIO_ERR_UNSUPPORTED (too many signatures) or signing errors.
 */
int corio_rotation_link_endorse(const struct corio_key *key, const struct corio_did *signer,
                                const uint8_t *link, size_t len, uint8_t *out, size_t cap);

/*
 * Decodes a link's statement WITHOUT checking any signature. Returns CORIO_OK,
 * CORIO_ERR_MALFORMED (not an untagged COSE_Sign with a statement in deterministic
 * CBOR), CORIO_ERR_VERSION (another statement version), CORIO_ERR_UNSUPPORTED, or
 * CORIO_ERR_INVAL.
 */
int corio_rotation_link_decode(const uint8_t *link, size_t len,
                               struct corio_rotation_statement *st);

/*
 * Starts a chain holding only the inception key (33 or 65 bytes; written compressed)
 * into out[0..cap). Returns the length (37), CORIO_ERR_MALFORMED (not a valid point),
 * CORIO_ERR_NOSPACE or CORIO_ERR_INVAL.
 */
int corio_rotation_chain_start(const uint8_t *inception, size_t inception_len, uint8_t *out,
                               size_t cap);

/*
 * Appends link[0..link_len) to chain[0..chain_len) into out[0..cap) (no overlap). The
 * link is decoded, not verified. Returns the new length, CORIO_ERR_MALFORMED,
 * CORIO_ERR_VERSION, CORIO_ERR_UNSUPPORTED (already CORIO_ROTATION_MAX_LINKS links),
 * CORIO_ERR_NOSPACE or CORIO_ERR_INVAL.
 */
int corio_rotation_chain_append(const uint8_t *chain, size_t chain_len, const uint8_t *link,
                                size_t link_len, uint8_t *out, size_t cap);

/*
 * Verifies chain[0..len) for the identity subject (its key fragment is ignored) under
 * the organisation rule t, offline, and reports the current key. why, when not NULL,
 * receives a short static reason on failure. Returns CORIO_OK only for a chain that
 * passes every rule at the top of this file; CORIO_ERR_MALFORMED, CORIO_ERR_VERSION,
 * CORIO_ERR_UNSUPPORTED (too many links), CORIO_ERR_POLICY (a rule is broken: wrong
 * subject or organisation, skipped, repeated or backward key, missing or wrong
 * subject signature, too few organisation signatures), CORIO_ERR_BADSIG (a signature
 * does not verify), CORIO_ERR_INVAL, or the backend's errors.
 */
int corio_rotation_chain_verify(const struct corio_crypto_ops *ops, const struct corio_did *subject,
                                const uint8_t *chain, size_t len,
                                const struct corio_rotation_trust *t,
                                struct corio_rotation_result *out, const char **why);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_ROTATION_H */
