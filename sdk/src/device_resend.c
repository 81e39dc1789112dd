/*
 * device_resend.c - the dn/resend payload (include/corio/device.h, docs/formats.md): a
 * gateway that lost acknowledged messages in a power cut asks a device to publish its
 * outbox again from a sequence number on.
 */
#include "corio/cbor.h"
#include "corio/device.h"

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

int corio_device_resend_decode(const uint8_t *msg, size_t len, uint64_t *epoch,
                               uint64_t *from_seq)
{
    if ((!msg && len) || !epoch || !from_seq)
        return CORIO_ERR_INVAL;
    struct corio_cbor_dec dec;
    uint64_t pairs, key, v[4] = {0, 0, 0, 0};
    bool seen[4] = {false, false, false, false};
    corio_cbor_dec_init(&dec, msg, len);
    if (corio_cbor_expect_map(&dec, &pairs) != CORIO_OK || pairs == CORIO_CBOR_INDEFINITE ||
        pairs > 16)
        return CORIO_ERR_MALFORMED;
    for (uint64_t i = 0; i < pairs; i++) {
        struct corio_cbor_item it;
        if (corio_cbor_peek(&dec, &it) != CORIO_OK)
            return CORIO_ERR_MALFORMED;
        if (it.type != CORIO_CBOR_UINT) {
            /* Other keys are ignored, whatever their type. */
            if (corio_cbor_skip(&dec) != CORIO_OK || corio_cbor_skip(&dec) != CORIO_OK)
                return CORIO_ERR_MALFORMED;
            continue;
        }
        if (corio_cbor_expect_uint(&dec, &key) != CORIO_OK)
            return CORIO_ERR_MALFORMED;
        if (key >= 1 && key <= 3) {
            if (seen[key] || corio_cbor_expect_uint(&dec, &v[key]) != CORIO_OK)
                return CORIO_ERR_MALFORMED;
            seen[key] = true;
        } else if (corio_cbor_skip(&dec) != CORIO_OK) {
            return CORIO_ERR_MALFORMED;
        }
    }
    if (corio_cbor_dec_finish(&dec) != CORIO_OK || !seen[1])
        return CORIO_ERR_MALFORMED;
    if (v[1] != 1)
        return CORIO_ERR_VERSION;
    if (!seen[2] || !seen[3] || v[3] == 0)
        return CORIO_ERR_MALFORMED;
    *epoch = v[2];
    *from_seq = v[3];
    return CORIO_OK;
}
