/*
 * eat_make.c - making Corio EATs (include/corio/eat.h, docs/eat-profile.md): the claims
 * map is written in place inside the COSE_Sign1 payload and sorted into deterministic
 * order there, so a device needs one buffer the size of the token.
 */
#include <string.h>

#include "corio/eat.h"

/* The pre-encoded items below assume these values. */
typedef char profile_len[sizeof CORIO_EAT_PROFILE - 1 == 24 ? 1 : -1];
typedef char key_values[CORIO_EAT_EAT_PROFILE == 265 && CORIO_EAT_SWVERSION == 271 &&
                                CORIO_EAT_MEASUREMENTS == 273 && CORIO_EAT_COSWID_FORMAT == 258 &&
                                CORIO_EAT_COUNTER == -65537 && CORIO_EAT_ASSURANCE == -65538
                            ? 1
                            : -1];
#include "corio_int.h"
#include "eat_int.h"

/* x, for a claim only a build with CORIO_EAT_MAKE_OPTIONAL writes: constant false
 * otherwise, so the compiler leaves the code for it out. */
#define OPTIONAL(x) (CORIO_EAT_MAKE_OPTIONAL && (x))

static bool text_ok(const char *s, size_t n, size_t max)
{
    return s && n >= 1 && n <= max && corio__utf8_ok(s, n);
}

static int check_claims(const struct corio_eat_claims *c)
{
    if (!CORIO_EAT_MAKE_OPTIONAL && (c->has_iat || c->fw_name || c->has_counter))
        return CORIO_ERR_UNSUPPORTED;
    if (!text_ok(c->aud, c->aud_len, CORIO_EAT_AUD_MAX))
        return CORIO_ERR_INVAL;
    if (c->nonce && (c->nonce_len < CORIO_EAT_NONCE_MIN || c->nonce_len > CORIO_EAT_NONCE_MAX))
        return CORIO_ERR_INVAL;
    if (!c->nonce && !OPTIONAL(c->has_counter))
        return CORIO_ERR_INVAL; /* nothing would make the token fresh */
    if (c->has_firmware && !text_ok(c->fw_version, c->fw_version_len, CORIO_EAT_TEXT_MAX))
        return CORIO_ERR_INVAL;
    if (OPTIONAL(c->fw_name) && !text_ok(c->fw_name, c->fw_name_len, CORIO_EAT_TEXT_MAX))
        return CORIO_ERR_INVAL;
    if (c->assurance != CORIO_EAT_REPORTED && c->assurance != CORIO_EAT_ATTESTED)
        return CORIO_ERR_INVAL;
    return CORIO_OK;
}

/*
 * The minimal CoSWID evidence tag (RFC 9393) that carries the firmware digest, written
 * in place as the content of a byte string; every map is written in key order, so the
 * result is deterministic:
 *   {0: tag-id, 1: software-name, 2: {31: iss, 33: 1}, 3: {17: {7: [1, digest],
 *    24: "firmware"}}, 12: 0}
 * tag_id: 16 bytes unique per (device, firmware image), as CoSWID asks of tag-ids.
 */
static void put_coswid(struct corio_cbor_enc *e, const struct corio_eat_claims *c, const char *iss,
                       size_t iss_len, const uint8_t *tag_id)
{
    struct corio_cbor_wrap w;
    corio_cbor_put_bstr_begin(e, &w);
    /* The fixed parts pre-encoded: one copy instead of a call per item. */
    corio_cbor_put_raw(e, "\xa5\x00\x50", 3); /* {0: bstr .size 16 */
    corio_cbor_put_raw(e, tag_id, 16);
    corio_cbor_put_raw(e, "\x01", 1); /* 1: software-name */
    if (OPTIONAL(c->fw_name))
        corio_cbor_put_text(e, c->fw_name, c->fw_name_len);
    else
        corio_cbor_put_textz(e, "firmware");
    corio_cbor_put_raw(e, "\x02\xa2\x18\x1f", 4); /* 2: {31: iss */
    corio_cbor_put_text(e, iss, iss_len);
    /* 33: 1}, 3: {17: {7: [1, bstr .size 32 */
    corio_cbor_put_raw(e, "\x18\x21\x01\x03\xa1\x11\xa2\x07\x82\x01\x58\x20", 12);
    corio_cbor_put_raw(e, c->fw_digest, sizeof c->fw_digest);
    corio_cbor_put_raw(e,
                       "\x18\x18\x68"
                       "firmware"
                       "\x0c\x00",
                       13); /* 24: "firmware"}}, 12: 0} */
    corio_cbor_put_bstr_end(e, &w);
}

int corio_eat_make(const struct corio_key *key, const struct corio_eat_claims *c, uint8_t *out,
                   size_t cap)
{
    if (!key || !key->ops || !c || !out)
        return CORIO_ERR_INVAL;
    int rc = check_claims(c);
    if (rc != CORIO_OK)
        return rc;

    /* The kid is the issuer's DID with the key number as its fragment, so iss is its
     * first iss_len bytes. The room after it takes the firmware digest for the tag-id
     * hash once the kid is written. */
    struct corio_did did = c->issuer;
    char kid[CORIO_DID_BUF + CORIO_SHA256_LEN];
    const size_t iss_len = CORIO_DID_PREFIX_LEN + CORIO_DID_ID_CHARS;
    did.has_key = true;
    did.key = c->key_number;
    int kid_len = corio_did_format(&did, kid, CORIO_DID_BUF);
    if (kid_len < 0)
        return CORIO_ERR_INVAL;

    struct corio_cose_sign1_writer w;
    rc = corio_cose_sign1_begin(&w, out, cap < CORIO_EAT_MAX_SIZE ? cap : CORIO_EAT_MAX_SIZE,
                                (const uint8_t *)kid, (size_t)kid_len, 0);
    if (rc != CORIO_OK)
        return rc;
    uint8_t tag_id[CORIO_SHA256_LEN];
    if (c->has_firmware) {
        memcpy(kid + iss_len, c->fw_digest, sizeof c->fw_digest);
        rc = corio_sha256(key->ops, (const uint8_t *)kid, iss_len + sizeof c->fw_digest, tag_id);
        if (rc != CORIO_OK)
            return rc;
    }
    struct corio_cbor_enc *e = corio_cose_sign1_payload(&w);
    unsigned pairs = 4u + (c->nonce ? 1u : 0u) + (OPTIONAL(c->has_counter) ? 1u : 0u) +
                     (OPTIONAL(c->has_iat) ? 1u : 0u) + (c->has_bootcount ? 1u : 0u) +
                     (c->has_firmware ? 2u : 0u) + (OPTIONAL(c->fw_name) ? 1u : 0u);
    /* The claims in deterministic order (RFC 8949 §4.2.1, keys by their encoded bytes):
     * 1, 3, 6, 10, then 265..273 (0x19 heads), then the private negative keys (0x3a
     * heads). Writing them in that order spares a device the map sorter. At most 11
     * pairs: the map's head is one byte, and it goes with the key of iss. */
    const uint8_t head[2] = {(uint8_t)(0xa0u | pairs), CORIO_EAT_ISS};
    corio_cbor_put_raw(e, head, 2);
    corio_cbor_put_text(e, kid, iss_len);
    corio_cbor_put_int(e, CORIO_EAT_AUD);
    corio_cbor_put_text(e, c->aud, c->aud_len);
    if (OPTIONAL(c->has_iat)) {
        corio_cbor_put_int(e, CORIO_EAT_IAT);
        corio_cbor_put_uint(e, c->iat);
    }
    if (c->nonce) {
        corio_cbor_put_int(e, CORIO_EAT_NONCE);
        corio_cbor_put_bytes(e, c->nonce, c->nonce_len);
    }
    /* 265: the profile, pre-encoded (key 0x19 0x0109, text of 24 bytes). */
    corio_cbor_put_raw(e, "\x19\x01\x09\x78\x18" CORIO_EAT_PROFILE, 29);
    if (c->has_bootcount) {
        corio_cbor_put_int(e, CORIO_EAT_BOOTCOUNT);
        corio_cbor_put_uint(e, c->bootcount);
    }
    if (OPTIONAL(c->fw_name)) {
        corio_cbor_put_int(e, CORIO_EAT_SWNAME);
        corio_cbor_put_text(e, c->fw_name, c->fw_name_len);
    }
    if (c->has_firmware) {
        corio_cbor_put_raw(e, "\x19\x01\x0f\x81", 4); /* 271: [ */
        corio_cbor_put_text(e, c->fw_version, c->fw_version_len);
        /* 273: [[258, */
        corio_cbor_put_raw(e, "\x19\x01\x11\x81\x82\x19\x01\x02", 8);
        put_coswid(e, c, kid, iss_len, tag_id);
    }
    if (OPTIONAL(c->has_counter)) {
        corio_cbor_put_raw(e, "\x3a\x00\x01\x00\x00", 5); /* -65537 */
        corio_cbor_put_uint(e, c->counter);
    }
    corio_cbor_put_raw(e, "\x3a\x00\x01\x00\x01", 5); /* -65538 */
    corio_cbor_put_uint(e, c->assurance);
    return corio_cose_sign1_end(&w, key, NULL, 0);
}
