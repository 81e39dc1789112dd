/*
 * did_key.c - P-256 public keys as did:key and as multibase "zDn..." strings
 * (include/corio/did.h): multicodec p256-pub (0x1200, varint 0x80 0x24) and the
 * compressed point, in base58btc.
 */
#include "corio/did.h"

#include <string.h>

#include "corio/encoding.h"
#include "corio/p256.h"

/* The unsigned varint of multicodec 0x1200 (p256-pub): 0x80 | (0x1200 & 0x7f), 0x1200 >> 7. */
static const uint8_t P256_PUB_CODEC[2] = {0x80, 0x24};
#define MULTIKEY_BYTES (2 + CORIO_P256_PUB_COMPRESSED)

int corio_multikey_format(const uint8_t *pub, size_t pub_len, char *out, size_t cap)
{
    uint8_t full[CORIO_P256_PUB_LEN], raw[MULTIKEY_BYTES];
    char buf[CORIO_BASE58_ENCODED_MAX(MULTIKEY_BYTES) + 1];
    if (!pub || !out)
        return CORIO_ERR_INVAL;
    int rc = corio_p256_point_parse(pub, pub_len, full);
    if (rc != CORIO_OK)
        return rc;
    memcpy(raw, P256_PUB_CODEC, 2);
    rc = corio_p256_compress(full, raw + 2);
    if (rc != CORIO_OK)
        return rc;
    rc = corio_base58_encode(raw, sizeof raw, buf, sizeof buf);
    if (rc < 0)
        return rc;
    /* The codec prefix pins the value between 2^279 and 2^280, which always takes 48
     * base58 digits; anything else would be a broken encoder. */
    if (rc != CORIO_MULTIKEY_LEN - 1)
        return CORIO_ERR_CRYPTO;
    if (cap < CORIO_MULTIKEY_LEN + 1)
        return CORIO_ERR_NOSPACE;
    out[0] = 'z';
    memcpy(out + 1, buf, (size_t)rc + 1);
    return CORIO_MULTIKEY_LEN;
}

int corio_multikey_parse(const char *s, size_t len, uint8_t pub[CORIO_P256_PUB_LEN])
{
    uint8_t raw[CORIO_BASE58_DECODED_MAX(CORIO_MULTIKEY_LEN)];
    if (!s || !pub)
        return CORIO_ERR_INVAL;
    if (len != CORIO_MULTIKEY_LEN || s[0] != 'z')
        return CORIO_ERR_MALFORMED;
    int n = corio_base58_decode(s + 1, len - 1, raw, sizeof raw);
    if (n != MULTIKEY_BYTES || memcmp(raw, P256_PUB_CODEC, 2) != 0)
        return CORIO_ERR_MALFORMED;
    /* Decompression refuses a bad prefix byte, x >= p and x off the curve. */
    return corio_p256_decompress(raw + 2, pub);
}

int corio_didkey_format(const uint8_t *pub, size_t pub_len, char *out, size_t cap)
{
    char mb[CORIO_MULTIKEY_LEN + 1];
    if (!pub || !out)
        return CORIO_ERR_INVAL;
    int rc = corio_multikey_format(pub, pub_len, mb, sizeof mb);
    if (rc < 0)
        return rc;
    if (cap < CORIO_DIDKEY_LEN + 1)
        return CORIO_ERR_NOSPACE;
    memcpy(out, CORIO_DIDKEY_PREFIX, CORIO_DIDKEY_PREFIX_LEN);
    memcpy(out + CORIO_DIDKEY_PREFIX_LEN, mb, CORIO_MULTIKEY_LEN + 1);
    return CORIO_DIDKEY_LEN;
}

int corio_didkey_parse(const char *s, size_t len, uint8_t pub[CORIO_P256_PUB_LEN])
{
    if (!s || !pub)
        return CORIO_ERR_INVAL;
    if (len < CORIO_DIDKEY_LEN || memcmp(s, CORIO_DIDKEY_PREFIX, CORIO_DIDKEY_PREFIX_LEN) != 0)
        return CORIO_ERR_MALFORMED;
    const char *mb = s + CORIO_DIDKEY_PREFIX_LEN;
    if (len != CORIO_DIDKEY_LEN) {
        /* did:key:<mb>#<mb> names the key's one verification method; nothing else may
         * follow. */
        if (len != CORIO_DIDKEY_LEN + 1 + CORIO_MULTIKEY_LEN || mb[CORIO_MULTIKEY_LEN] != '#' ||
            memcmp(mb, mb + CORIO_MULTIKEY_LEN + 1, CORIO_MULTIKEY_LEN) != 0)
            return CORIO_ERR_MALFORMED;
    }
    return corio_multikey_parse(mb, CORIO_MULTIKEY_LEN, pub);
}
