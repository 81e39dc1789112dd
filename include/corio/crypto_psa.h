/*
 * crypto_psa.h - the PSA Crypto API backend of include/corio/crypto.h, the one devices
 * use. Here it runs on mbedTLS 2.28 (sdk/crypto/psa, linked with libmbedcrypto); the
 * same calls reach mbedTLS 3.x, TF-M, or a secure element behind a PSA driver.
 *
 *   - Signing is deterministic ECDSA (RFC 6979, PSA_ALG_DETERMINISTIC_ECDSA) when the
 *     PSA implementation provides it (PSA_WANT_ALG_DETERMINISTIC_ECDSA; Debian's
 *     mbedTLS 2.28 does), else randomized ECDSA; the table's caps say which.
 *   - Keys are volatile (id 0) or persistent (ids 1 to 0x3fffffff, PSA's user range).
 *     mbedTLS on Linux keeps persistent keys in files named <id>.psa_its in the
 *     process's working directory (its PSA ITS emulation); on a device they live
 *     wherever the PSA implementation keeps them. corio_key.obj is unused.
 *   - A key made or opened by Corio may sign and verify ES256 only (its PSA policy),
 *     and may be exported only when made with CORIO_KEY_EXPORTABLE. Persistent keys
 *     provisioned by someone else open if they are P-256 key pairs whose policy allows
 *     ECDSA with SHA-256 and signing.
 *   - Verification imports the public key as a volatile key for the one call.
 *   - Thread safety: mbedTLS 2.28's PSA core is not safe to call from several threads
 *     at once; serialise calls, as a device's single crypto task does.
 */
#ifndef CORIO_CRYPTO_PSA_H
#define CORIO_CRYPTO_PSA_H

#include <stdint.h>

#include "corio/crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

/* CORIO_CRYPTO_PSA_PERSISTENT (default 1): persistent keys (ids 1 to 0x3fffffff) and
 * corio_key_open(). 0, for a device that imports its provisioned key or generates one
 * at each boot: volatile keys only; the table then lacks CORIO_CRYPTO_CAP_PERSISTENT, so
 * corio_key_open() and a non-zero id return CORIO_ERR_UNSUPPORTED, and the code reading
 * stored keys' attributes stays out of the image. */
#ifndef CORIO_CRYPTO_PSA_PERSISTENT
#define CORIO_CRYPTO_PSA_PERSISTENT 1
#endif

/* CORIO_CRYPTO_PSA_GENERATE (default 1): key generation and the export of private keys.
 * 0, for a device whose key is provisioned and imported at boot: corio_key_generate()
 * and corio_key_export() return CORIO_ERR_UNSUPPORTED, and their code stays out of the
 * image, with mbedTLS's key generation and private-key export behind it. */
#ifndef CORIO_CRYPTO_PSA_GENERATE
#define CORIO_CRYPTO_PSA_GENERATE 1
#endif

/* The PSA backend's table; usable after corio_crypto_psa_init(). */
extern const struct corio_crypto_ops corio_crypto_psa_ops;

/*
 * Initialises the PSA implementation (psa_crypto_init) once; later calls do nothing
 * and succeed. Until it succeeds, the table's operations return CORIO_ERR_STATE.
 * Returns CORIO_OK, CORIO_ERR_IO (storage) or CORIO_ERR_CRYPTO (e.g. no entropy).
 */
int corio_crypto_psa_init(void);

/*
 * Releases everything the PSA implementation holds (mbedtls_psa_crypto_free on
 * mbedTLS): every open key handle becomes invalid, volatile keys are lost, persistent
 * keys stay stored. corio_crypto_psa_init() may be called again afterwards. Does
 * nothing when not initialised.
 */
void corio_crypto_psa_deinit(void);

/* Maps a psa_status_t to the nearest corio_err (PSA_SUCCESS to CORIO_OK). */
int corio_crypto_psa_err(int32_t psa_status);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_CRYPTO_PSA_H */
