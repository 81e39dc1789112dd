/*
 * did.h - the two DID spellings of Corio (DESIGN.md §3, docs/identity.md).
 *
 * did:corio names a device, gateway, organisation or person for life:
 *     did:corio:<id>            the identity
 *     did:corio:<id>#<n>        its key number n (0 is the inception key)
 * <id> is the short id: the lowercase, unpadded base32 of the first 15 bytes of SHA-256
 * over the 33-byte compressed inception key, 24 characters. Topics and storage use the
 * short id alone.
 *
 * did:key writes one P-256 public key: "did:key:z" followed by the base58btc of the
 * multicodec p256-pub (0x1200, varint 0x80 0x24) and the 33-byte compressed point, 48
 * characters, so every P-256 did:key starts "did:key:zDn". Its multibase part alone
 * ("zDn...") is the publicKeyMultibase of a DID document.
 *
 * Parsing is strict: every accepted string is the one spelling this module prints for
 * its value (lowercase base32 without padding, no leading zeros in key numbers, no
 * paths, queries or parameters), so identifiers can be compared as strings.
 *
 * Nothing here allocates or keeps a pointer; the caller owns every buffer. Functions
 * return CORIO_OK, a non-negative length, or a negative corio_err.
 */
#ifndef CORIO_DID_H
#define CORIO_DID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "corio/config.h"
#include "corio/crypto.h"
#include "corio/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CORIO_DID_ID_LEN     15 /* bytes of a short id */
#define CORIO_DID_ID_CHARS   24 /* base32 characters of a short id */
#define CORIO_DID_PREFIX     "did:corio:"
#define CORIO_DID_PREFIX_LEN 10
/* The longest did:corio string: prefix, id, '#' and a 10-digit key number. */
#define CORIO_DID_STR_MAX (CORIO_DID_PREFIX_LEN + CORIO_DID_ID_CHARS + 1 + 10)
/* A buffer that holds any did:corio string and its NUL. */
#define CORIO_DID_BUF (CORIO_DID_STR_MAX + 1)

#define CORIO_DIDKEY_PREFIX     "did:key:"
#define CORIO_DIDKEY_PREFIX_LEN 8
/* The multibase part of a P-256 did:key: 'z' and 48 base58btc characters. */
#define CORIO_MULTIKEY_LEN 49
/* A whole P-256 did:key ("did:key:zDn..."), 57 characters. */
#define CORIO_DIDKEY_LEN (CORIO_DIDKEY_PREFIX_LEN + CORIO_MULTIKEY_LEN)
/* A buffer that holds a did:key and its NUL. */
#define CORIO_DIDKEY_BUF (CORIO_DIDKEY_LEN + 1)

/* A parsed did:corio: the short id's bytes and, for a key reference, a key number. */
struct corio_did {
    uint8_t id[CORIO_DID_ID_LEN];
    bool has_key; /* a "#<n>" fragment was (or is to be) written */
    uint32_t key; /* the key number when has_key */
};

/* ---- did:corio ---- */

/*
 * Computes the DID of an identity whose inception key is pub (33 bytes compressed or 65
 * uncompressed; validated as a P-256 point, unless built with CORIO_CRYPTO_POINT_CHECK
 * 0, crypto.h, when only its form is), hashing with the backend ops. did->has_key
 * is false afterwards. Returns CORIO_OK, CORIO_ERR_MALFORMED (not a valid point or a
 * bad length), CORIO_ERR_INVAL (NULL argument), or the backend's hashing errors.
 */
int corio_did_from_key(const struct corio_crypto_ops *ops, const uint8_t *pub, size_t pub_len,
                       struct corio_did *did);

/*
 * Parses s[0..len) (no NUL needed; a NUL inside is refused) as "did:corio:<id>" or
 * "did:corio:<id>#<n>", n a decimal key number 0..4294967295 without leading zeros.
 * Returns CORIO_OK, CORIO_ERR_MALFORMED for anything else (upper case, padding, a path,
 * query or parameters, an empty or oversized fragment), or CORIO_ERR_INVAL (NULL
 * argument). *did is written only on success.
 */
int corio_did_parse(const char *s, size_t len, struct corio_did *did);

/*
 * Writes the DID as a NUL-terminated string, with "#<key>" when did->has_key, into
 * out[0..cap) (CORIO_DID_BUF always suffices). Returns the length without the NUL,
 * CORIO_ERR_NOSPACE or CORIO_ERR_INVAL.
 */
int corio_did_format(const struct corio_did *did, char *out, size_t cap);

/*
 * Writes the 24-character short id of a 15-byte id, NUL-terminated, into out[0..cap)
 * (cap >= 25). Returns 24, CORIO_ERR_NOSPACE or CORIO_ERR_INVAL.
 */
int corio_did_id_format(const uint8_t id[CORIO_DID_ID_LEN], char *out, size_t cap);

/*
 * Parses a 24-character short id (s[0..len), exactly 24 lowercase base32 characters).
 * Returns CORIO_OK, CORIO_ERR_MALFORMED or CORIO_ERR_INVAL; id is written only on
 * success.
 */
int corio_did_id_parse(const char *s, size_t len, uint8_t id[CORIO_DID_ID_LEN]);

/* True when a and b name the same identity (key numbers are not compared). */
bool corio_did_same(const struct corio_did *a, const struct corio_did *b);

/* ---- did:key (P-256) ---- */

/*
 * Writes the did:key of a P-256 public key (33 or 65 bytes; validated) as a
 * NUL-terminated string into out[0..cap) (CORIO_DIDKEY_BUF suffices). Returns
 * CORIO_DIDKEY_LEN, CORIO_ERR_MALFORMED (not a valid point), CORIO_ERR_NOSPACE or
 * CORIO_ERR_INVAL.
 */
int corio_didkey_format(const uint8_t *pub, size_t pub_len, char *out, size_t cap);

/*
 * Parses s[0..len) as a P-256 did:key, "did:key:zDn...", optionally followed by the
 * fragment that names its one verification method ("#zDn..." equal to the multibase
 * part), and writes the validated uncompressed point (65 bytes) to pub. Refuses other
 * multibase prefixes, other multicodecs, a wrong length and points off the curve.
 * Returns CORIO_OK, CORIO_ERR_MALFORMED or CORIO_ERR_INVAL; pub is written only on
 * success.
 */
int corio_didkey_parse(const char *s, size_t len, uint8_t pub[CORIO_P256_PUB_LEN]);

/*
 * The multibase part alone ("zDn...", 49 characters): publicKeyMultibase in DID
 * documents. format writes it NUL-terminated (cap >= CORIO_MULTIKEY_LEN + 1) and
 * returns CORIO_MULTIKEY_LEN; parse accepts exactly that form. Errors as above.
 */
int corio_multikey_format(const uint8_t *pub, size_t pub_len, char *out, size_t cap);
int corio_multikey_parse(const char *s, size_t len, uint8_t pub[CORIO_P256_PUB_LEN]);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_DID_H */
