/*
 * p256.h - public-data arithmetic on the NIST P-256 curve (secp256r1).
 *
 * What ES256 needs around the crypto backends, written in our own code so that it is
 * the same on every backend: compressing and decompressing points (did:key carries the
 * 33-byte compressed point, and mbedTLS 2.28 cannot parse one), checking that an
 * uncompressed point lies on the curve, and the scalar range and low-S rules for
 * signatures (include/corio/crypto.h).
 *
 * Every function here works on PUBLIC data only (public keys, signatures). None of
 * them runs in constant time; never pass a private scalar except to
 * corio_p256_scalar_check(), whose timing reveals only whether the scalar is in range.
 *
 * All byte strings are big-endian. No function allocates or keeps a pointer; the
 * caller owns every buffer, and an output may not overlap an input unless stated.
 */
#ifndef CORIO_P256_H
#define CORIO_P256_H

#include <stddef.h>
#include <stdint.h>

#include "corio/config.h"
#include "corio/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CORIO_P256_SCALAR_LEN     32 /* a private key or one half of a signature */
#define CORIO_P256_PUB_LEN        65 /* 0x04 || x || y, SEC 1 uncompressed */
#define CORIO_P256_PUB_COMPRESSED 33 /* 0x02 or 0x03 (parity of y) || x, SEC 1 */
#define CORIO_P256_SIG_LEN        64 /* r || s, each 32 bytes: the raw ES256 form */

/*
 * Checks a 65-byte uncompressed point: prefix 0x04, both coordinates below the field
 * prime p, and y^2 = x^3 - 3x + b (mod p). The point at infinity has no 65-byte form,
 * and P-256 has cofactor 1, so a point that passes is a valid public key.
 * Returns CORIO_OK, CORIO_ERR_MALFORMED when the point is not valid, or
 * CORIO_ERR_INVAL when pub is NULL.
 */
int corio_p256_point_check(const uint8_t pub[CORIO_P256_PUB_LEN]);

/*
 * Decompresses a 33-byte point into its 65-byte uncompressed form: y is the square
 * root of x^3 - 3x + b, computed as (x^3 - 3x + b)^((p+1)/4) mod p, with the parity
 * the prefix names. Returns CORIO_OK, CORIO_ERR_MALFORMED when the prefix is not 0x02
 * or 0x03, x >= p, or x is not the abscissa of a curve point (no square root), or
 * CORIO_ERR_INVAL when an argument is NULL. out is written only on success; it may
 * not overlap in.
 */
int corio_p256_decompress(const uint8_t in[CORIO_P256_PUB_COMPRESSED],
                          uint8_t out[CORIO_P256_PUB_LEN]);

/*
 * Compresses a 65-byte uncompressed point after checking it as corio_p256_point_check()
 * does. Returns CORIO_OK, CORIO_ERR_MALFORMED for an invalid point, or CORIO_ERR_INVAL
 * when an argument is NULL. out is written only on success.
 */
int corio_p256_compress(const uint8_t in[CORIO_P256_PUB_LEN],
                        uint8_t out[CORIO_P256_PUB_COMPRESSED]);

/*
 * Parses a public key from outside in either SEC 1 form: 33 bytes compressed or 65
 * bytes uncompressed (any other length is refused), and writes the validated
 * uncompressed form to out. Returns CORIO_OK, CORIO_ERR_MALFORMED for a bad length or
 * an invalid point, or CORIO_ERR_INVAL when an argument is NULL.
 */
int corio_p256_point_parse(const uint8_t *in, size_t in_len, uint8_t out[CORIO_P256_PUB_LEN]);

/*
 * Whether a 32-byte scalar lies in [1, n-1], n the order of the curve: the valid range
 * of a private key and of each of a signature's r and s. Returns 1 if it does, else 0
 * (also 0 for NULL).
 */
int corio_p256_scalar_check(const uint8_t s[CORIO_P256_SCALAR_LEN]);

/*
 * Whether a scalar in [1, n-1] is "low": s <= (n-1)/2. Returns 1 or 0 (0 for NULL).
 * The caller checks the range first; for s outside [1, n-1] the answer is meaningless.
 */
int corio_p256_scalar_is_low(const uint8_t s[CORIO_P256_SCALAR_LEN]);

/*
 * Replaces s in [1, n-1] by n - s, which is also in [1, n-1]: the other of the two
 * valid S values of an ECDSA signature. Returns CORIO_OK, or CORIO_ERR_INVAL when s is
 * NULL or outside [1, n-1] (then s is unchanged).
 */
int corio_p256_scalar_negate(uint8_t s[CORIO_P256_SCALAR_LEN]);

/*
 * Checks a raw r || s signature the way every Corio verifier does before asking a
 * backend: r and s in [1, n-1] and s low. Returns CORIO_OK, CORIO_ERR_BADSIG when a rule
 * fails, or CORIO_ERR_INVAL when sig is NULL.
 */
int corio_p256_sig_check(const uint8_t sig[CORIO_P256_SIG_LEN]);

/*
 * Brings a raw r || s signature to low-S form in place (s > n/2 becomes n - s). A
 * signature already in low-S form is unchanged. Returns CORIO_OK, or CORIO_ERR_BADSIG
 * when r or s is outside [1, n-1] (sig unchanged), or CORIO_ERR_INVAL when sig is NULL.
 */
int corio_p256_sig_normalize(uint8_t sig[CORIO_P256_SIG_LEN]);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_P256_H */
