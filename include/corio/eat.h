/*
 * eat.h - Corio's Entity Attestation Token (RFC 9711): a CWT (RFC 8392) in a COSE_Sign1
 * (ES256) over a claims map, made by a device and verified by a gateway. The profile -
 * every claim, its key, type, limits, and a worked example - is docs/eat-profile.md.
 *
 * Claims (CBOR map keys):
 *     1      iss          text   the device's DID, "did:corio:<id>"           required
 *     3      aud          text   the verifier's id (a gateway's short id)     required
 *     6      iat          uint   seconds since 1970, when the device has time optional
 *     10     eat_nonce    bstr   the verifier's nonce, 8..64 bytes            challenge mode
 *     265    eat_profile  text   CORIO_EAT_PROFILE                            required
 *     267    bootcount    uint   boots so far                                 optional
 *     270    swname       text   firmware name                                optional
 *     271    swversion    [text] firmware version                             with 273
 *     273    measurements [[258, bstr .cbor CoSWID evidence]]: SHA-256 of the running
 *                                firmware                                     with 271
 *     -65537 counter      uint   monotonic counter in flash (single-step)    single-step mode
 *     -65538 assurance    uint   1 reported, 2 attestation (key storage)     required
 * The COSE protected header carries kid = "did:corio:<id>#<key number>": the key that
 * signed, whose DID must be iss. The claims map is in deterministic encoding (RFC 8949
 * §4.2.1), so a claim cannot appear twice.
 *
 * Nothing allocates. Decoded claims point into the token, which must outlive them.
 */
#ifndef CORIO_EAT_H
#define CORIO_EAT_H

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

/* eat_profile: names this profile (docs/eat-profile.md). */
#define CORIO_EAT_PROFILE "tag:corio.dev,2025:eat/1"

/* Claim keys. */
#define CORIO_EAT_ISS          1
#define CORIO_EAT_AUD          3
#define CORIO_EAT_IAT          6
#define CORIO_EAT_NONCE        10
#define CORIO_EAT_EAT_PROFILE  265
#define CORIO_EAT_BOOTCOUNT    267
#define CORIO_EAT_SWNAME       270
#define CORIO_EAT_SWVERSION    271
#define CORIO_EAT_MEASUREMENTS 273
/* Private-use claim keys (RFC 8392 §9.1: below -65536), defined by this profile. */
#define CORIO_EAT_COUNTER   (-65537)
#define CORIO_EAT_ASSURANCE (-65538)

/* The CoAP Content-Format of a CoSWID (application/swid+cbor, RFC 9393). */
#define CORIO_EAT_COSWID_FORMAT 258

/* Assurance levels (DESIGN.md §3): how far the signing key is from the application. */
#define CORIO_EAT_REPORTED 1 /* key in application flash: the measurements are reported */
#define CORIO_EAT_ATTESTED 2 /* key beyond the application (secure element, TF-M, bootloader) */

/* Limits of the profile. */
#define CORIO_EAT_NONCE_MIN 8
#define CORIO_EAT_NONCE_MAX 64
#define CORIO_EAT_AUD_MAX   64 /* bytes of aud */
#define CORIO_EAT_TEXT_MAX  32 /* bytes of swname and of the swversion string */
/* CORIO_EAT_MAKE_OPTIONAL (default 1): corio_eat_make() writes every claim of the
 * profile. 0, for a device that only answers a verifier's nonce (challenge mode, as
 * corio-eat-v1 does) and has no wall clock or firmware name to report: claims with iat,
 * swname or the single-step counter set are refused with CORIO_ERR_UNSUPPORTED, and
 * the code writing those three stays out of the image. Decoding and verifying are the
 * same either way. */
#ifndef CORIO_EAT_MAKE_OPTIONAL
#define CORIO_EAT_MAKE_OPTIONAL 1
#endif

/* The largest token accepted or made. */
#ifndef CORIO_EAT_MAX_SIZE
#define CORIO_EAT_MAX_SIZE 1024
#endif

/*
 * The claims of one token. For corio_eat_make() the caller fills it (pointers to its
 * own buffers); decoding fills it with pointers into the token. Text is UTF-8 and not
 * NUL-terminated.
 */
struct corio_eat_claims {
    struct corio_did issuer; /* iss: the device's DID (has_key ignored) */
    uint32_t key_number;     /* the kid's key number: which key of the DID signed */
    const char *aud;         /* the verifier's id, 1..CORIO_EAT_AUD_MAX bytes */
    size_t aud_len;
    const uint8_t *nonce; /* the verifier's nonce, or NULL */
    size_t nonce_len;
    bool has_counter; /* single-step: the monotonic counter */
    uint64_t counter;
    bool has_iat;
    uint64_t iat; /* seconds since 1970-01-01T00:00:00Z */
    bool has_bootcount;
    uint64_t bootcount;
    bool has_firmware; /* fw_digest and fw_version are set */
    uint8_t fw_digest[CORIO_SHA256_LEN];
    const char *fw_version; /* 1..CORIO_EAT_TEXT_MAX bytes */
    size_t fw_version_len;
    const char *fw_name; /* swname, NULL when absent; 1..CORIO_EAT_TEXT_MAX bytes */
    size_t fw_name_len;
    uint8_t assurance; /* CORIO_EAT_REPORTED or CORIO_EAT_ATTESTED */
};

/*
 * Makes a token: the claims c, signed by key (the DID's key number c->key_number) into
 * out[0..cap). A token needs a nonce or a counter (or both); the rest as listed at the
 * top. Returns the token length (at most CORIO_EAT_MAX_SIZE), CORIO_ERR_INVAL (a claim
 * outside the profile, NULL arguments), CORIO_ERR_NOSPACE, or signing and hashing errors
 * of the key's backend.
 */
int corio_eat_make(const struct corio_key *key, const struct corio_eat_claims *c, uint8_t *out,
                   size_t cap);

/*
 * Decodes a token's COSE_Sign1 and claims WITHOUT checking the signature or any
 * expectation: for a verifier to learn which DID and key number to look up before
 * corio_eat_verify(). Never trust what it returns. Returns CORIO_OK, the errors of
 * corio_cose_sign1_decode(), CORIO_ERR_MALFORMED (claims outside the profile: wrong
 * types, sizes or shapes, missing required claims, not deterministic, detached, kid
 * not a DID key reference), CORIO_ERR_UNSUPPORTED (another eat_profile, a firmware
 * digest other than SHA-256, a measurement format other than CoSWID, claims nested
 * beyond CORIO_CBOR_MAX_DEPTH) or CORIO_ERR_POLICY (a token larger than
 * CORIO_EAT_MAX_SIZE, or a kid that is not a key of iss).
 */
int corio_eat_decode(const uint8_t *tok, size_t len, struct corio_eat_claims *out);

/* What a verifier expects of a token. */
struct corio_eat_expect {
    const char *aud; /* its own id; required */
    size_t aud_len;
    const uint8_t *nonce; /* the nonce it issued (challenge mode), or NULL for
                           * single-step mode */
    size_t nonce_len;
    uint64_t last_counter;        /* single-step: the highest counter seen for this DID;
                                   * the token's must be greater */
    bool require_firmware;        /* the token must carry swversion and measurements */
    uint8_t registered_assurance; /* the device record's level, or 0 when unknown: a
                                   * token claiming more than the record is refused */
};

/*
 * Verifies a token: the signature against pub (33 or 65 bytes, the key the verifier
 * resolved for the kid's DID and key number), then every claim against the profile
 * and e: eat_profile, aud, the kid's DID equals iss, in challenge mode the nonce equals
 * e->nonce, in single-step mode a counter above e->last_counter, firmware claims when
 * required, and assurance not above the registry's record. On success *out holds the
 * claims (pointing into tok). why, when not NULL, receives a short static English
 * reason on failure. Returns CORIO_OK only for a token that passes everything;
 * otherwise the errors of corio_eat_decode(), CORIO_ERR_BADSIG (signature), or
 * CORIO_ERR_POLICY (a claim does not match the expectation).
 */
int corio_eat_verify(const struct corio_crypto_ops *ops, const uint8_t *tok, size_t len,
                     const uint8_t *pub, size_t pub_len, const struct corio_eat_expect *e,
                     struct corio_eat_claims *out, const char **why);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_EAT_H */
