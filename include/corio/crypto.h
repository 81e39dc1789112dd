/*
 * crypto.h - the crypto interface of Corio: ES256 (ECDSA on P-256 with SHA-256),
 * SHA-256 and random bytes, over interchangeable backends.
 *
 * A backend is a table of operations (struct corio_crypto_ops) that the caller chooses:
 * corio_crypto_psa_ops (include/corio/crypto_psa.h, the PSA Crypto API: mbedTLS on
 * devices, possibly a secure element behind it) or corio_crypto_openssl_ops
 * (common/crypto_openssl.h, OpenSSL 3 on Linux servers). Several backends can live in
 * one program; a key belongs to the backend that made it, and a signature made by one
 * verifies with any other.
 *
 * Call the corio_ functions below rather than the table: they add the rules every
 * Corio signer and verifier follows, whatever the backend:
 *   - signatures are raw r || s, 64 bytes (the JOSE/COSE form), never DER;
 *   - signers normalise to low S (s > n/2 becomes n - s), since ECDSA signatures are
 *     malleable and a transaction or batch must have one signature value;
 *   - verifiers refuse r or s outside [1, n-1] and high S with CORIO_ERR_BADSIG before
 *     the backend sees the signature;
 *   - signing is deterministic (RFC 6979) where the backend can do it: the PSA backend
 *     on mbedTLS yes, OpenSSL 3.0 no (deterministic ECDSA arrived in OpenSSL 3.2), so
 *     two signatures of one hash may differ; both are valid. See
 *     CORIO_CRYPTO_CAP_DETERMINISTIC.
 *
 * Memory: nothing here allocates (backends may: OpenSSL does). Every buffer is the
 * caller's and is used only during the call; outputs are written only on success
 * unless stated otherwise. Functions return CORIO_OK or a negative corio_err
 * (include/corio/error.h); the codes each can return are listed with it, and any
 * function may also return CORIO_ERR_CRYPTO when the backend fails for a reason it
 * does not name.
 *
 * Thread safety is the backend's: see its header.
 */
#ifndef CORIO_CRYPTO_H
#define CORIO_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "corio/config.h"
#include "corio/error.h"
#include "corio/p256.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CORIO_SHA256_LEN 32

/*
 * Bytes a backend may use for the state of an incremental SHA-256. The PSA backend on
 * mbedTLS 2.28 needs sizeof(psa_hash_operation_t) = 232 on a 64-bit host (less on a
 * 32-bit MCU) and checks at compile time that it fits; OpenSSL keeps a pointer.
 */
#ifndef CORIO_SHA256_STATE_SIZE
#define CORIO_SHA256_STATE_SIZE 240
#endif

/* Capabilities a backend announces in corio_crypto_ops.caps. */
/* 1 (default): the SDK checks every public point itself (on the curve) before a
 * backend sees it, and decompresses 33-byte keys. 0: a device whose backend validates
 * points on import leaves that field arithmetic (p256.c's) out of its image; PSA
 * does (psa_import_key refuses a point off the curve, which the PSA backend reports
 * as CORIO_ERR_MALFORMED). Then corio_verify_hash() takes uncompressed keys only and
 * corio_key_public() trusts the backend's point. */
#ifndef CORIO_CRYPTO_POINT_CHECK
#define CORIO_CRYPTO_POINT_CHECK 1
#endif

#define CORIO_CRYPTO_CAP_DETERMINISTIC 0x1u /* ECDSA signatures follow RFC 6979 */
#define CORIO_CRYPTO_CAP_PERSISTENT    0x2u /* keys can live under a non-zero id */

/* Key flags, given when a key is made and kept in corio_key.flags. */
#define CORIO_KEY_EXPORTABLE   0x1u        /* corio_key_export() may reveal the private scalar */
#define CORIO_KEY_PERSISTENT   0x2u        /* set by the backend: the key is stored under its id */
#define CORIO_KEY_BACKEND_MASK 0xffff0000u /* bits a backend uses for itself */

struct corio_crypto_ops;

/*
 * A handle to one P-256 key pair held by a backend. For PSA, id is the PSA key id
 * (volatile or persistent); for OpenSSL, obj is the EVP_PKEY. The caller owns the
 * struct; the key material stays in the backend. A handle with ops == NULL is empty
 * (the state after corio_key_close() and after a failed generate, import or open).
 * Handles must not be copied while in use: close the one you opened.
 */
struct corio_key {
    const struct corio_crypto_ops *ops; /* the backend holding the key, or NULL */
    uint32_t id;                        /* backend key id (PSA), else 0 */
    void *obj;                          /* backend object (OpenSSL EVP_PKEY *), else NULL */
    unsigned flags;                     /* CORIO_KEY_* */
};

/*
 * An incremental SHA-256, owned by the caller (a firmware image is hashed in chunks).
 * Zero-initialised or finished, it is idle. Do not copy it while a hash is running:
 * the state may hold a backend pointer.
 */
struct corio_sha256 {
    const struct corio_crypto_ops *ops; /* the backend running the hash, NULL when idle */
    union {
        uint64_t align_u64;
        void *align_ptr;
        double align_double;
        unsigned char bytes[CORIO_SHA256_STATE_SIZE];
    } state;
};

/*
 * The backend table. Implementations return the codes documented for the corio_
 * function of the same name; they may assume non-NULL arguments of the right sizes,
 * since the wrappers check those. Every member is required (a backend that lacks a
 * feature returns CORIO_ERR_UNSUPPORTED). Backends fill id, obj and flags of a key;
 * the wrappers set ops.
 */
struct corio_crypto_ops {
    const char *name; /* "psa", "openssl" */
    unsigned caps;    /* CORIO_CRYPTO_CAP_* */
    int (*random)(uint8_t *out, size_t len);
    int (*sha256)(const uint8_t *data, size_t len, uint8_t out[CORIO_SHA256_LEN]);
    int (*sha256_start)(void *state); /* state arrives zeroed */
    int (*sha256_update)(void *state, const uint8_t *data, size_t len);
    int (*sha256_finish)(void *state, uint8_t out[CORIO_SHA256_LEN]); /* releases state */
    void (*sha256_abort)(void *state);                                /* releases state */
    int (*key_generate)(uint32_t id, unsigned flags, struct corio_key *key);
    int (*key_import)(uint32_t id, unsigned flags, const uint8_t priv[CORIO_P256_SCALAR_LEN],
                      struct corio_key *key);
    int (*key_open)(uint32_t id, struct corio_key *key);
    int (*key_export)(const struct corio_key *key, uint8_t priv[CORIO_P256_SCALAR_LEN]);
    int (*key_public)(const struct corio_key *key, uint8_t pub[CORIO_P256_PUB_LEN]);
    /* Raw r || s as the backend makes it, before low-S normalisation. */
    int (*sign_hash)(const struct corio_key *key, const uint8_t hash[CORIO_SHA256_LEN],
                     uint8_t sig[CORIO_P256_SIG_LEN]);
    /* pub is an uncompressed point, validated unless CORIO_CRYPTO_POINT_CHECK is 0
     * (then the backend must refuse a point off the curve with CORIO_ERR_MALFORMED);
     * sig has passed corio_p256_sig_check(). */
    int (*verify_hash)(const uint8_t pub[CORIO_P256_PUB_LEN], const uint8_t hash[CORIO_SHA256_LEN],
                       const uint8_t sig[CORIO_P256_SIG_LEN]);
    void (*key_close)(struct corio_key *key);
    int (*key_destroy)(struct corio_key *key);
};

/* ---- random and hashing ---- */

/*
 * Fills out with len bytes from the backend's cryptographically secure generator.
 * Returns CORIO_OK, CORIO_ERR_INVAL (NULL ops, or NULL out with len > 0),
 * CORIO_ERR_STATE (backend not initialised) or CORIO_ERR_CRYPTO (no entropy).
 */
int corio_random(const struct corio_crypto_ops *ops, uint8_t *out, size_t len);

/*
 * out = SHA-256(data[0..len)). data may be NULL when len is 0. Returns CORIO_OK,
 * CORIO_ERR_INVAL, CORIO_ERR_STATE or CORIO_ERR_CRYPTO.
 */
int corio_sha256(const struct corio_crypto_ops *ops, const uint8_t *data, size_t len,
                 uint8_t out[CORIO_SHA256_LEN]);

/*
 * Starts an incremental SHA-256 in the caller's h, which must be idle. Once started, h
 * must end with corio_sha256_finish() or corio_sha256_abort() (a backend may hold
 * resources until then). Returns CORIO_OK, CORIO_ERR_INVAL (NULL argument),
 * CORIO_ERR_STATE (h is already running, or the backend is not initialised) or
 * CORIO_ERR_CRYPTO.
 */
int corio_sha256_start(struct corio_sha256 *h, const struct corio_crypto_ops *ops);

/*
 * Feeds len bytes (data may be NULL when len is 0). On failure the hash is aborted
 * and h is idle. Returns CORIO_OK, CORIO_ERR_INVAL, CORIO_ERR_STATE (h is idle) or
 * CORIO_ERR_CRYPTO.
 */
int corio_sha256_update(struct corio_sha256 *h, const uint8_t *data, size_t len);

/*
 * Writes the digest and leaves h idle, on success and on failure. Returns CORIO_OK,
 * CORIO_ERR_INVAL, CORIO_ERR_STATE (h is idle) or CORIO_ERR_CRYPTO.
 */
int corio_sha256_finish(struct corio_sha256 *h, uint8_t out[CORIO_SHA256_LEN]);

/* Abandons a running hash and leaves h idle; does nothing when h is idle or NULL. */
void corio_sha256_abort(struct corio_sha256 *h);

/* ---- keys ---- */

/*
 * Generates a P-256 key pair in the backend. id 0 makes a volatile key that lives
 * until corio_key_close(); a non-zero id makes a persistent key stored under that id
 * (backends with CORIO_CRYPTO_CAP_PERSISTENT only; for PSA, 1 to 0x3fffffff). flags:
 * CORIO_KEY_EXPORTABLE or 0 (a key that should never leave the device: the default).
 * Returns CORIO_OK, CORIO_ERR_INVAL (NULL argument, unknown flag, id out of range),
 * CORIO_ERR_UNSUPPORTED (persistent key on a backend without them), CORIO_ERR_STATE
 * (a key with that id exists, or the backend is not initialised), CORIO_ERR_FULL (no
 * key slot or storage left), CORIO_ERR_IO (storage failed) or CORIO_ERR_CRYPTO.
 */
int corio_key_generate(const struct corio_crypto_ops *ops, uint32_t id, unsigned flags,
                       struct corio_key *key);

/*
 * Imports a private key given as its 32-byte big-endian scalar (from provisioning or a
 * key file); the public key is derived from it. id and flags as for
 * corio_key_generate(). Returns the codes of corio_key_generate(), with CORIO_ERR_INVAL
 * also for a scalar outside [1, n-1].
 */
int corio_key_import(const struct corio_crypto_ops *ops, uint32_t id, unsigned flags,
                     const uint8_t priv[CORIO_P256_SCALAR_LEN], struct corio_key *key);

/*
 * Opens a persistent key stored under id (made earlier by generate or import, or
 * provisioned into a secure element). Returns CORIO_OK, CORIO_ERR_INVAL (NULL argument,
 * id 0 or out of range), CORIO_ERR_NOTFOUND (no key with that id), CORIO_ERR_UNSUPPORTED
 * (the backend has no persistent keys, or the key under id is not a P-256 signing
 * key), CORIO_ERR_STATE, CORIO_ERR_FULL, CORIO_ERR_IO or CORIO_ERR_CRYPTO.
 */
int corio_key_open(const struct corio_crypto_ops *ops, uint32_t id, struct corio_key *key);

/*
 * Writes the private scalar (32 bytes, big-endian) of a key made with
 * CORIO_KEY_EXPORTABLE. Returns CORIO_OK, CORIO_ERR_INVAL (NULL argument or empty key),
 * CORIO_ERR_POLICY (the key is not exportable) or CORIO_ERR_CRYPTO.
 */
int corio_key_export(const struct corio_key *key, uint8_t priv[CORIO_P256_SCALAR_LEN]);

/*
 * Writes the public key, uncompressed (65 bytes, 0x04 || x || y). Returns CORIO_OK,
 * CORIO_ERR_INVAL (NULL argument or empty key) or CORIO_ERR_CRYPTO (including a
 * backend that returned an invalid point).
 */
int corio_key_public(const struct corio_key *key, uint8_t pub[CORIO_P256_PUB_LEN]);

/*
 * Writes the public key compressed (33 bytes, 0x02/0x03 || x), the form did:key and
 * did:corio ids are made from. Returns as corio_key_public().
 */
int corio_key_public_compressed(const struct corio_key *key,
                                uint8_t pub[CORIO_P256_PUB_COMPRESSED]);

/*
 * Releases the handle: a volatile key is gone, a persistent key stays stored and can
 * be opened again. key is empty afterwards. Does nothing for NULL or an empty key.
 */
void corio_key_close(struct corio_key *key);

/*
 * Destroys the key: a persistent key is erased from storage too. key is empty
 * afterwards, also on failure. Returns CORIO_OK, CORIO_ERR_INVAL (NULL or empty key),
 * CORIO_ERR_IO (storage failed) or CORIO_ERR_CRYPTO.
 */
int corio_key_destroy(struct corio_key *key);

/* ---- ES256 ---- */

/*
 * Signs a 32-byte SHA-256 digest with key and writes the raw low-S signature r || s
 * (64 bytes). Deterministic when the key's backend has CORIO_CRYPTO_CAP_DETERMINISTIC
 * (except for a provisioned PSA key whose policy names randomized ECDSA).
 * Returns CORIO_OK, CORIO_ERR_INVAL (NULL argument or empty key), CORIO_ERR_POLICY (the
 * key may not sign) or CORIO_ERR_CRYPTO (including a backend that returned r or s out
 * of range).
 */
int corio_sign_hash(const struct corio_key *key, const uint8_t hash[CORIO_SHA256_LEN],
                    uint8_t sig[CORIO_P256_SIG_LEN]);

/*
 * Verifies a raw r || s signature of a 32-byte SHA-256 digest against a public key of
 * pub_len bytes, compressed (33) or uncompressed (65). Refuses r or s outside [1, n-1]
 * and high S before asking the backend. Returns CORIO_OK when the signature is valid,
 * CORIO_ERR_BADSIG when it is not, CORIO_ERR_MALFORMED when pub is not a valid P-256
 * point, CORIO_ERR_INVAL (NULL argument), CORIO_ERR_STATE or CORIO_ERR_CRYPTO; with
 * CORIO_CRYPTO_POINT_CHECK 0, CORIO_ERR_UNSUPPORTED for a compressed key. Only
 * CORIO_OK means valid.
 */
int corio_verify_hash(const struct corio_crypto_ops *ops, const uint8_t *pub, size_t pub_len,
                      const uint8_t hash[CORIO_SHA256_LEN], const uint8_t sig[CORIO_P256_SIG_LEN]);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_CRYPTO_H */
