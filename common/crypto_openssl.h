/*
 * crypto_openssl.h - the OpenSSL 3 backend of include/corio/crypto.h, for Linux
 * programs (gateway daemon, cloud, ledger, CLI), and the key-file helpers they share.
 *
 *   - Signing is randomized ECDSA: OpenSSL 3.0 cannot sign deterministically (RFC 6979
 *     nonces arrived in OpenSSL 3.2), so the table has no CORIO_CRYPTO_CAP_DETERMINISTIC.
 *     Nonces come from OpenSSL's DRBG. Signatures are still normalised to low S by
 *     the corio_ wrappers and verify with any backend.
 *   - Keys live in memory as EVP_PKEY (corio_key.obj); there are no persistent key ids
 *     (corio_key_open() and non-zero ids return CORIO_ERR_UNSUPPORTED). Keys persist
 *     as PEM files instead: corio_openssl_key_write_pem() and _read_pem().
 *   - Thread safety: every operation may run in several threads at once, on one key
 *     too, as long as no thread closes a key that another is using. Failing calls
 *     clear the calling thread's OpenSSL error queue, so a later SSL_get_error() does
 *     not see our errors.
 * Return codes are include/corio/error.h's.
 */
#ifndef CORIO_CRYPTO_OPENSSL_H
#define CORIO_CRYPTO_OPENSSL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include "corio/crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The OpenSSL backend's table. Needs no initialisation. */
extern const struct corio_crypto_ops corio_crypto_openssl_ops;

/* The longest DER ECDSA-Sig-Value of a P-256 signature: SEQUENCE of two 33-byte INTEGERs. */
#define CORIO_OPENSSL_SIG_DER_MAX 72

/*
 * Converts a DER ECDSA-Sig-Value (what OpenSSL, X.509 and TLS use) to raw r || s.
 * Strict: the input must be exactly one canonical DER encoding, with r and s positive
 * and below 2^256 (their range mod n is left to the verifier). Returns CORIO_OK,
 * CORIO_ERR_MALFORMED, or CORIO_ERR_INVAL for a NULL argument. raw is written only on
 * success.
 */
int corio_openssl_sig_der_to_raw(const uint8_t *der, size_t der_len,
                                 uint8_t raw[CORIO_P256_SIG_LEN]);

/*
 * Converts raw r || s to a DER ECDSA-Sig-Value in der (cap bytes;
 * CORIO_OPENSSL_SIG_DER_MAX always suffices). Returns the DER length,
 * CORIO_ERR_NOSPACE, CORIO_ERR_INVAL (NULL argument) or CORIO_ERR_CRYPTO.
 */
int corio_openssl_sig_raw_to_der(const uint8_t raw[CORIO_P256_SIG_LEN], uint8_t *der, size_t cap);

/*
 * Makes an EVP_PKEY holding only the public key from a 65-byte uncompressed point
 * (as for verifying, or a TLS peer check). The point is validated first. On success
 * *out is the caller's, to free with EVP_PKEY_free(). Returns CORIO_OK,
 * CORIO_ERR_MALFORMED (not a valid P-256 point), CORIO_ERR_INVAL or CORIO_ERR_CRYPTO.
 */
int corio_openssl_pkey_from_public(const uint8_t pub[CORIO_P256_PUB_LEN], EVP_PKEY **out);

/*
 * Wraps an existing EVP_PKEY, which must be a P-256 key pair with its private part,
 * in a key handle of this backend, marked CORIO_KEY_EXPORTABLE. On success the handle
 * owns pkey (corio_key_close() frees it); on failure the caller still does. Returns
 * CORIO_OK, CORIO_ERR_UNSUPPORTED (another kind of key, or no private part) or
 * CORIO_ERR_INVAL.
 */
int corio_openssl_key_from_pkey(EVP_PKEY *pkey, struct corio_key *key);

/*
 * The EVP_PKEY behind a key of this backend, still owned by the key (e.g. to hand to
 * SSL_CTX_use_PrivateKey, which takes its own reference); NULL for a key of another
 * backend or an empty one.
 */
EVP_PKEY *corio_openssl_key_pkey(const struct corio_key *key);

/*
 * Writes the private key as an unencrypted PKCS#8 PEM file ("BEGIN PRIVATE KEY") at
 * path, created with mode 0600. The file appears whole or not at all (written to a
 * temporary name in the same directory, synced, then linked into place), and an
 * existing file is never replaced. The key must be of this backend and exportable.
 * Returns CORIO_OK, CORIO_ERR_STATE (path exists), CORIO_ERR_POLICY (key not
 * exportable), CORIO_ERR_INVAL (NULL argument, empty key or another backend's key),
 * CORIO_ERR_IO (the file system refused) or CORIO_ERR_CRYPTO.
 */
int corio_openssl_key_write_pem(const struct corio_key *key, const char *path);

/*
 * Reads a P-256 private key from a PEM file: PKCS#8 ("BEGIN PRIVATE KEY") or SEC 1
 * ("BEGIN EC PRIVATE KEY", as `openssl ecparam -genkey` writes). The key pair is
 * checked for consistency. File permissions are not checked: the caller decides
 * whether a group- or world-readable key file is acceptable. On success key is a
 * handle of this backend, marked CORIO_KEY_EXPORTABLE. Returns CORIO_OK,
 * CORIO_ERR_NOTFOUND (no such file), CORIO_ERR_IO (cannot read it),
 * CORIO_ERR_MALFORMED (no PEM private key in it, or an inconsistent key pair),
 * CORIO_ERR_UNSUPPORTED (an encrypted key, or not a P-256 key) or CORIO_ERR_INVAL.
 */
int corio_openssl_key_read_pem(const char *path, struct corio_key *key);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_CRYPTO_OPENSSL_H */
