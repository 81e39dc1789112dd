/*
 * device_resend.c - the dn/resend payload (include/corio/device.h, docs/formats.md): a
 * gateway that lost acknowledged messages in a power cut asks a device to publish its
 * outbox again from a sequence number on.
 */
#include "corio/cbor.h"
#include "corio/device.h"
#include "device_int.h"

int corio_device_resend_encode(uint64_t epoch, uint64_t from_seq, uint8_t *buf, size_t cap)
{
    struct corio_cbor_enc e;
    if (!buf || from_seq == 0)
        return CORIO_ERR_INVAL;
    corio_cbor_enc_init(&e, buf, cap);
    corio_cbor_put_map(&e, 3);
    corio_cbor_put_uint(&e, 1);
    corio_cbor_put_uint(&e, 1);
    corio_cbor_put_uint(&e, 2);
    corio_cbor_put_uint(&e, epoch);
    corio_cbor_put_uint(&e, 3);
    corio_cbor_put_uint(&e, from_seq);
    int rc = corio_cbor_enc_finish(&e);
    return rc < 0 ? rc : (int)corio_cbor_enc_len(&e);
}

/*
 * The small CBOR maps the gateway sends devices (dn/resend, dn/time): unsigned keys
 * 1..nkeys with unsigned values, key 1 the format version, which must be 1; other keys
 * are ignored, whatever their type. Fills v[k] and bit k of *seen for each key k
 * present. Returns CORIO_OK, CORIO_ERR_MALFORMED (not such a map, a key twice, no
 * version) or CORIO_ERR_VERSION.
 */
int corio__dev_uint_map(const uint8_t *msg, size_t len, uint64_t *v, unsigned nkeys,
                        unsigned *seen)
{
    struct corio_cbor_dec dec;
    uint64_t pairs, key;
    *seen = 0;
    corio_cbor_dec_init(&dec, msg, len);
    if (corio_cbor_expect_map(&dec, &pairs) != CORIO_OK || pairs == CORIO_CBOR_INDEFINITE ||
        pairs > 16)
        return CORIO_ERR_MALFORMED;
    for (uint64_t i = 0; i < pairs; i++) {
        struct corio_cbor_item it;
        if (corio_cbor_peek(&dec, &it) != CORIO_OK)
            return CORIO_ERR_MALFORMED;
        if (it.type != CORIO_CBOR_UINT) {
            if (corio_cbor_skip(&dec) != CORIO_OK || corio_cbor_skip(&dec) != CORIO_OK)
                return CORIO_ERR_MALFORMED;
            continue;
        }
        if (corio_cbor_expect_uint(&dec, &key) != CORIO_OK)
            return CORIO_ERR_MALFORMED;
        if (key >= 1 && key <= nkeys) {
            if ((*seen & (1u << key)) || corio_cbor_expect_uint(&dec, &v[key]) != CORIO_OK)
                return CORIO_ERR_MALFORMED;
            *seen |= 1u << key;
        } else if (corio_cbor_skip(&dec) != CORIO_OK) {
            return CORIO_ERR_MALFORMED;
        }
    }
    if (corio_cbor_dec_finish(&dec) != CORIO_OK || !(*seen & 2u))
        return CORIO_ERR_MALFORMED;
    return v[1] == 1 ? CORIO_OK : CORIO_ERR_VERSION;
}

int corio_device_resend_decode(const uint8_t *msg, size_t len, uint64_t *epoch,
                               uint64_t *from_seq)
{
    if ((!msg && len) || !epoch || !from_seq)
        return CORIO_ERR_INVAL;
    uint64_t v[4] = {0, 0, 0, 0};
    unsigned seen;
    int rc = corio__dev_uint_map(msg, len, v, 3, &seen);
    if (rc != CORIO_OK)
        return rc;
    if (!(seen & (1u << 2)) || !(seen & (1u << 3)) || v[3] == 0)
        return CORIO_ERR_MALFORMED;
    *epoch = v[2];
    *from_seq = v[3];
    return CORIO_OK;
}
