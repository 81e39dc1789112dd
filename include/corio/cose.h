/*
 * cose.h - COSE signatures (RFC 9052) with ES256 only: COSE_Sign1 (one signer; EATs,
 * gateway batches) and COSE_Sign (several signers; rotation statements, ledger
 * transactions). See docs/identity.md.
 *
 * Writing. Signers put {1: -7} (alg ES256) and, when a kid is given, {4: kid} in the
 * protected header, leave the unprotected header empty, and write the COSE tag (18 or
 * 98) unless CORIO_COSE_UNTAGGED. The payload is embedded, or detached (nil) with
 * CORIO_COSE_DETACHED. Signatures are the 64-byte raw r || s, low S (corio_sign_hash).
 * The Sig_structure is hashed as it is produced, so no buffer holds it.
 *
 * Reading is strict:
 *   - the tag is optional, but only the message's own tag (18 or 98) is accepted;
 *   - the protected header is a byte string that is empty or holds exactly one map; an
 *     empty map (h'' or h'a0') is signed as h'' (RFC 9052 §3 and §4.4);
 *     headers are definite-length maps with int or text labels, no label twice in or
 *     across the two buckets, at most CORIO_COSE_MAX_HEADERS labels;
 *   - alg must be present (either bucket) and be ES256 (-7), else
 *     CORIO_ERR_UNSUPPORTED; kid, when present, is a byte string;
 *   - crit (2) is allowed only in the protected bucket, must list labels present there,
 *     and every one must be understood here (alg and kid): else CORIO_ERR_UNSUPPORTED;
 *   - other header parameters are ignored (RFC 9052 §3) but must be well-formed;
 *   - the signature is exactly 64 bytes; verification refuses high S.
 *
 * Error codes: CORIO_ERR_MALFORMED (not a COSE message of the expected kind, or a
 * broken header), CORIO_ERR_UNSUPPORTED (another algorithm, an unknown critical header,
 * too many headers or signatures, too deep), CORIO_ERR_POLICY (alg in a COSE_Sign body
 * header), CORIO_ERR_BADSIG (the signature does not verify, or has a high S),
 * CORIO_ERR_NOSPACE (the output buffer is too small), CORIO_ERR_INVAL (the call is
 * wrong), and the crypto backend's codes (include/corio/crypto.h).
 *
 * Memory: nothing allocates. Decoded structures point into the caller's message, which
 * must outlive them. Outputs never overlap inputs.
 */
#ifndef CORIO_COSE_H
#define CORIO_COSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "corio/cbor.h"
#include "corio/config.h"
#include "corio/crypto.h"
#include "corio/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CORIO_COSE_ALG_ES256     (-7)
#define CORIO_COSE_HDR_ALG       1
#define CORIO_COSE_HDR_CRIT      2
#define CORIO_COSE_HDR_CTY       3
#define CORIO_COSE_HDR_KID       4
#define CORIO_CBOR_TAG_COSE_SIGN 98

/* Most header labels in one header pair (protected + unprotected). */
#ifndef CORIO_COSE_MAX_HEADERS
#define CORIO_COSE_MAX_HEADERS 16
#endif
/* Most signatures in one COSE_Sign. */
#ifndef CORIO_COSE_MAX_SIGNATURES
#define CORIO_COSE_MAX_SIGNATURES 16
#endif

/* Flags for the signing functions. */
#define CORIO_COSE_DETACHED 0x1u /* write nil for the payload; it travels separately */
#define CORIO_COSE_UNTAGGED 0x2u /* leave out the COSE tag (the context says what it is) */

/*
 * An upper bound on the bytes of a COSE_Sign1 this module writes for a kid of kid_len
 * bytes and a payload of payload_len bytes (embedded).
 */
#define CORIO_COSE_SIGN1_MAX(kid_len, payload_len) ((kid_len) + (payload_len) + 100u)
/* An upper bound on one COSE_Signature (inside a COSE_Sign) with a kid of kid_len. */
#define CORIO_COSE_SIGNATURE_MAX(kid_len) ((kid_len) + 90u)

/* ---- COSE_Sign1 ---- */

/* A decoded COSE_Sign1. Pointers are into the message. */
struct corio_cose_sign1 {
    const uint8_t *protected_hdr; /* the protected header as signed: the content of its */
    size_t protected_len;         /* byte string, or empty (0) when the map is empty */
    const uint8_t *kid;           /* NULL when there is no kid */
    size_t kid_len;
    bool kid_protected;     /* the kid is in the protected bucket */
    bool detached;          /* the payload is nil: it travels separately */
    const uint8_t *payload; /* the embedded payload; NULL when detached */
    size_t payload_len;
    const uint8_t *signature; /* CORIO_P256_SIG_LEN bytes */
    bool tagged;              /* the message carried tag 18 */
};

/*
 * Signs payload[0..payload_len) with key into a COSE_Sign1 written to out[0..cap).
 * kid (may be NULL when kid_len is 0) goes into the protected header; aad is the
 * external additional data bound to the signature but not sent (may be NULL when
 * aad_len is 0). flags: CORIO_COSE_DETACHED, CORIO_COSE_UNTAGGED. With out == NULL,
 * nothing is signed and the length the message would take is returned.
 * Returns the message length, CORIO_ERR_NOSPACE, CORIO_ERR_INVAL, or the signing
 * errors of corio_sign_hash() and the hashing errors of the key's backend.
 */
int corio_cose_sign1_sign(const struct corio_key *key, const uint8_t *kid, size_t kid_len,
                          const uint8_t *aad, size_t aad_len, const uint8_t *payload,
                          size_t payload_len, unsigned flags, uint8_t *out, size_t cap);

/*
 * A COSE_Sign1 whose payload is written in place as CBOR (an EAT's claims map): no
 * second buffer. Between begin and end, write the payload's items through
 * corio_cose_sign1_payload(w); everything written there becomes the payload byte
 * string. The writer is the caller's; the buffer is borrowed until end returns.
 */
struct corio_cose_sign1_writer {
    struct corio_cbor_enc enc;
    struct corio_cbor_wrap payload;
    uint8_t *buf;           /* the message buffer, NULL when counting */
    size_t protected_start; /* offset of the protected header's content */
    size_t protected_len;
    int open; /* 1 between a successful begin and end */
};

/*
 * Starts a COSE_Sign1 in buf[0..cap): tag (unless CORIO_COSE_UNTAGGED in flags), the
 * headers with kid as for corio_cose_sign1_sign(), and an open payload byte string.
 * buf may be NULL to count bytes only. Returns CORIO_OK, CORIO_ERR_NOSPACE or
 * CORIO_ERR_INVAL (also for CORIO_COSE_DETACHED, which a writer cannot do).
 */
int corio_cose_sign1_begin(struct corio_cose_sign1_writer *w, uint8_t *buf, size_t cap,
                           const uint8_t *kid, size_t kid_len, unsigned flags);

/* The encoder that writes the payload, or NULL if w is not open. */
struct corio_cbor_enc *corio_cose_sign1_payload(struct corio_cose_sign1_writer *w);

/*
 * Closes the payload, signs with key (aad as for corio_cose_sign1_sign()) and closes
 * the writer, whatever the outcome. In count-only mode (buf NULL) it signs nothing.
 * Returns the message length, the encoder's sticky error (CORIO_ERR_NOSPACE, ...),
 * CORIO_ERR_STATE (not open), CORIO_ERR_INVAL, or signing and hashing errors.
 */
int corio_cose_sign1_end(struct corio_cose_sign1_writer *w, const struct corio_key *key,
                         const uint8_t *aad, size_t aad_len);

/*
 * Decodes msg[0..len) as a COSE_Sign1 under the rules at the top of this file, without
 * checking the signature. Returns CORIO_OK or an error listed there; *m is written
 * only on success.
 */
int corio_cose_sign1_decode(const uint8_t *msg, size_t len, struct corio_cose_sign1 *m);

/*
 * Verifies the signature of a decoded COSE_Sign1 against pub (33 or 65 bytes), with
 * the external aad (may be NULL when aad_len is 0). A detached message needs its
 * payload in detached[0..detached_len); an embedded one needs detached == NULL.
 * Returns CORIO_OK only when the signature is valid; CORIO_ERR_BADSIG (invalid or high
 * S), CORIO_ERR_MALFORMED (pub is not a P-256 point), CORIO_ERR_INVAL, or the
 * backend's errors.
 */
int corio_cose_sign1_verify(const struct corio_crypto_ops *ops, const struct corio_cose_sign1 *m,
                            const uint8_t *pub, size_t pub_len, const uint8_t *aad, size_t aad_len,
                            const uint8_t *detached, size_t detached_len);

/* ---- COSE_Sign ---- */

/* A decoded COSE_Sign. Pointers are into the message. */
struct corio_cose_sign {
    const uint8_t *protected_hdr; /* the body's protected header as signed (see above) */
    size_t protected_len;
    bool detached;          /* the payload is nil: it travels separately */
    const uint8_t *payload; /* the embedded payload; NULL when detached */
    size_t payload_len;
    size_t count; /* signatures, 1..CORIO_COSE_MAX_SIGNATURES */
    bool tagged;  /* the message carried tag 98 */
    /* Private: the message's body items and signature items, for
     * corio_cose_sign_signature() and corio_cose_sign_add(). */
    const uint8_t *body; /* protected, unprotected, payload items */
    size_t body_len;
    const uint8_t *sigs; /* the signature items, after the array head */
    size_t sigs_len;
};

/* One signer of a COSE_Sign. Pointers are into the message. */
struct corio_cose_signature {
    const uint8_t *protected_hdr; /* its protected header as signed (see above) */
    size_t protected_len;
    const uint8_t *kid; /* NULL when there is no kid */
    size_t kid_len;
    bool kid_protected;
    const uint8_t *signature; /* CORIO_P256_SIG_LEN bytes */
};

/*
 * Signs payload with key into a COSE_Sign with one signature: an empty body header
 * (h'' and {}), the payload (or nil with CORIO_COSE_DETACHED) and a signature whose
 * protected header is {1: -7} plus {4: kid} when kid_len > 0. aad, flags, out == NULL
 * and the return value as for corio_cose_sign1_sign().
 */
int corio_cose_sign_sign(const struct corio_key *key, const uint8_t *kid, size_t kid_len,
                         const uint8_t *aad, size_t aad_len, const uint8_t *payload,
                         size_t payload_len, unsigned flags, uint8_t *out, size_t cap);

/*
 * Adds a signature by key (kid, aad as above) to the COSE_Sign msg[0..msg_len) and
 * writes the result to out[0..cap) (must not overlap msg); the tag is kept as it was.
 * The existing signatures are copied, not checked. A detached message needs its
 * payload in detached[0..detached_len), an embedded one detached == NULL.
 * Returns the new length, the errors of corio_cose_sign_decode(), CORIO_ERR_UNSUPPORTED
 * (already CORIO_COSE_MAX_SIGNATURES signatures), CORIO_ERR_NOSPACE, CORIO_ERR_INVAL,
 * or signing errors.
 */
int corio_cose_sign_add(const struct corio_key *key, const uint8_t *kid, size_t kid_len,
                        const uint8_t *aad, size_t aad_len, const uint8_t *msg, size_t msg_len,
                        const uint8_t *detached, size_t detached_len, uint8_t *out, size_t cap);

/*
 * Decodes msg[0..len) as a COSE_Sign under the rules at the top of this file, checking
 * every signature's headers (not the signatures themselves). The body headers may not
 * carry alg (CORIO_ERR_POLICY): each signer names its own. Returns CORIO_OK or an
 * error listed at the top; *m is written only on success.
 */
int corio_cose_sign_decode(const uint8_t *msg, size_t len, struct corio_cose_sign *m);

/*
 * Reads signature number i (0-based) of a decoded COSE_Sign into *s. Returns CORIO_OK,
 * CORIO_ERR_NOTFOUND (i >= m->count) or CORIO_ERR_INVAL.
 */
int corio_cose_sign_signature(const struct corio_cose_sign *m, size_t i,
                              struct corio_cose_signature *s);

/*
 * Verifies one signature s of the decoded COSE_Sign m against pub, with aad and a
 * detached payload as for corio_cose_sign1_verify(). Returns as that function.
 */
int corio_cose_sign_verify(const struct corio_crypto_ops *ops, const struct corio_cose_sign *m,
                           const struct corio_cose_signature *s, const uint8_t *pub, size_t pub_len,
                           const uint8_t *aad, size_t aad_len, const uint8_t *detached,
                           size_t detached_len);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_COSE_H */
