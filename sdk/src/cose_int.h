/*
 * cose_int.h - what the COSE files of sdk/src share (not public): header parsing under
 * the rules of include/corio/cose.h, the signer's protected header, and the hash of a
 * Sig_structure computed without building it.
 */
#ifndef CORIO_COSE_INT_H
#define CORIO_COSE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "corio/cbor.h"
#include "corio/cose.h"
#include "corio/crypto.h"

/* Which header pair is parsed: a signer's (alg required, ES256) or a COSE_Sign body's
 * (alg refused: each signer names its own). */
enum corio__cose_role {
    CORIO__COSE_SIGNER,
    CORIO__COSE_BODY,
};

/* What a header pair says that the callers use. */
struct corio__cose_hdrs {
    const uint8_t *kid; /* NULL when absent */
    size_t kid_len;
    bool kid_protected;
    /* The protected map has no entries (h'' or h'a0'): the Sig_structure then holds a
     * zero-length byte string (RFC 9052 §4.4), whatever the message spelled. */
    bool protected_empty;
};

/*
 * Parses a header pair: the protected bucket from prot[0..prot_len) (the content of
 * the protected byte string; empty means an empty map) and the unprotected bucket as
 * the next item of d, which it consumes. Applies every rule of cose.h for role.
 * Returns CORIO_OK, CORIO_ERR_MALFORMED, CORIO_ERR_UNSUPPORTED or CORIO_ERR_POLICY.
 */
int corio__cose_headers(const uint8_t *prot, size_t prot_len, struct corio_cbor_dec *d,
                        enum corio__cose_role role, struct corio__cose_hdrs *out);

/*
 * Writes a signer's protected header, the byte string << {1: -7, ?4: kid} >>, and
 * reports where its content lies in the encoder's buffer. Returns the sticky error.
 */
int corio__cose_put_protected(struct corio_cbor_enc *e, const uint8_t *kid, size_t kid_len,
                              size_t *content_start, size_t *content_len);

/*
 * SHA-256 of the Sig_structure (RFC 9052 §4.4), fed piece by piece:
 *   sign1: ["Signature1", body_protected, external_aad, payload]
 *   else:  ["Signature", body_protected, sign_protected, external_aad, payload]
 * Pointers may be NULL when their length is 0. Returns CORIO_OK or the backend's error.
 */
int corio__cose_tbs_hash(const struct corio_crypto_ops *ops, bool sign1, const uint8_t *body_prot,
                         size_t body_len, const uint8_t *sign_prot, size_t sign_len,
                         const uint8_t *aad, size_t aad_len, const uint8_t *payload,
                         size_t payload_len, uint8_t hash[CORIO_SHA256_LEN]);

#endif /* CORIO_COSE_INT_H */
