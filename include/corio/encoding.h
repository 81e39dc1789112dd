/*
 * encoding.h - the text encodings of Corio identities and tokens.
 *
 * base32 (RFC 4648 section 6 alphabet, written lowercase, without padding) spells the
 * short id of did:corio; base58btc (the Bitcoin alphabet) spells did:key after the
 * multibase prefix 'z'; base64url (RFC 4648 section 5, without padding) carries binary
 * tokens in text fields, such as an EAT in an MQTT password. All are exact: an encoder has one output for each input and
 * a decoder accepts only what the encoder produces, so an identifier has one spelling.
 *
 * Encoders write a NUL-terminated string into a caller-supplied buffer; decoders read
 * a counted string (no NUL needed) and write bytes into a caller-supplied buffer.
 * Nothing allocates; no pointer is kept; outputs may not overlap inputs. On failure
 * the contents of the output buffer are unspecified.
 */
#ifndef CORIO_ENCODING_H
#define CORIO_ENCODING_H

#include <stddef.h>
#include <stdint.h>

#include "corio/config.h"
#include "corio/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Inputs longer than this are refused with CORIO_ERR_INVAL, so lengths fit an int. */
#define CORIO_ENCODING_MAX_INPUT 0x100000u

/* Characters base32 needs for n bytes (the terminating NUL not counted). */
#define CORIO_BASE32_ENCODED_LEN(n) (((n)*8u + 4u) / 5u)
/* Bytes that n base32 characters decode to (for a length that can be valid). */
#define CORIO_BASE32_DECODED_LEN(n) ((n)*5u / 8u)
/* An upper bound on the characters base58 needs for n bytes (NUL not counted). */
#define CORIO_BASE58_ENCODED_MAX(n) ((n)*138u / 100u + 1u)
/* An upper bound on the bytes that n base58 characters decode to (each leading '1'
 * is a whole byte, so no tighter bound holds for every input). */
#define CORIO_BASE58_DECODED_MAX(n) (n)

/*
 * Encodes in_len bytes as lowercase base32 without padding, followed by a NUL.
 * in may be NULL when in_len is 0. Returns the number of characters written (not
 * counting the NUL), CORIO_ERR_NOSPACE when out_cap < CORIO_BASE32_ENCODED_LEN(in_len)
 * + 1, or CORIO_ERR_INVAL for a NULL pointer or in_len > CORIO_ENCODING_MAX_INPUT.
 */
int corio_base32_encode(const uint8_t *in, size_t in_len, char *out, size_t out_cap);

/*
 * Decodes in_len characters of lowercase, unpadded base32. Strict: refuses any
 * character outside "abcdefghijklmnopqrstuvwxyz234567" (upper case and '=' included),
 * a length that no byte string encodes to (remainder 1, 3 or 6 mod 8), and non-zero
 * bits after the last whole byte. Returns the number of bytes written,
 * CORIO_ERR_MALFORMED for invalid input, CORIO_ERR_NOSPACE when out_cap is below the
 * decoded length, or CORIO_ERR_INVAL for a NULL pointer (in may be NULL when in_len is
 * 0) or in_len > CORIO_ENCODING_MAX_INPUT.
 */
int corio_base32_decode(const char *in, size_t in_len, uint8_t *out, size_t out_cap);

/*
 * Encodes in_len bytes as base58btc (each leading zero byte becomes a '1'), followed
 * by a NUL. The work is quadratic in the length, which suits identifiers, not bulk
 * data. in may be NULL when in_len is 0. Returns the number of characters written
 * (not counting the NUL), CORIO_ERR_NOSPACE when out is too small (out_cap >=
 * CORIO_BASE58_ENCODED_MAX(in_len) + 1 always suffices), or CORIO_ERR_INVAL for a NULL
 * pointer or in_len > CORIO_ENCODING_MAX_INPUT.
 */
int corio_base58_encode(const uint8_t *in, size_t in_len, char *out, size_t out_cap);

/*
 * Decodes in_len characters of base58btc (each leading '1' becomes a zero byte).
 * Refuses any character outside the Bitcoin alphabet (no '0', 'O', 'I', 'l', spaces or
 * NULs). Every string of the alphabet is the one encoding of its value. Returns the
 * number of bytes written, CORIO_ERR_MALFORMED for a bad character, CORIO_ERR_NOSPACE
 * when the value does not fit in out_cap bytes (CORIO_BASE58_DECODED_MAX(in_len)
 * always suffices), or CORIO_ERR_INVAL for a NULL pointer (in may be NULL when in_len
 * is 0) or in_len > CORIO_ENCODING_MAX_INPUT.
 */
int corio_base58_decode(const char *in, size_t in_len, uint8_t *out, size_t out_cap);

/* Characters base64url needs for n bytes (no padding; the NUL not counted). */
#define CORIO_BASE64URL_ENCODED_LEN(n) (((n)*4u + 2u) / 3u)
/* Bytes that n base64url characters decode to (for a length that can be valid). */
#define CORIO_BASE64URL_DECODED_LEN(n) ((n)*3u / 4u)

/*
 * Encodes in_len bytes as base64url without padding, followed by a NUL. Returns the
 * number of characters written (not counting the NUL), CORIO_ERR_NOSPACE, or
 * CORIO_ERR_INVAL as corio_base32_encode().
 */
int corio_base64url_encode(const uint8_t *in, size_t in_len, char *out, size_t out_cap);

/*
 * Decodes unpadded base64url. Strict: refuses characters outside A-Z a-z 0-9 '-' '_'
 * ('=' and '+' '/' included), a length of 1 mod 4, and non-zero bits after the last
 * whole byte. Returns the number of bytes written, CORIO_ERR_MALFORMED,
 * CORIO_ERR_NOSPACE or CORIO_ERR_INVAL as corio_base32_decode().
 */
int corio_base64url_decode(const char *in, size_t in_len, uint8_t *out, size_t out_cap);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_ENCODING_H */
