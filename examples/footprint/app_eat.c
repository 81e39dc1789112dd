/*
 * app_eat.c - the footprint example's answer to corio-eat-v1 (FP_HAVE_EAT, DESIGN.md §3):
 * the broker's nonce goes into an EAT with the device's DID, the gateway as audience,
 * the boot count and the running firmware's digest and version, signed with the
 * device key (assurance "reported": the key is in application flash).
 */
#include "fp_app.h"

#if FP_HAVE_EAT
#include <string.h>

#include "board.h"
#include "corio/eat.h"

static uint8_t token[512];

int fp_eat_answer(const uint8_t *nonce, size_t nonce_len, const uint8_t **out, size_t *out_len)
{
    static const char version[] = "1.0.0";
    struct corio_eat_claims c;
    const char *aud = board_gateway_id();
    int n;

    memset(&c, 0, sizeof c);
    memcpy(c.issuer.id, fp_identity_id(), sizeof c.issuer.id);
    c.key_number = 0;
    c.aud = aud;
    c.aud_len = strlen(aud);
    c.nonce = nonce;
    c.nonce_len = nonce_len;
    c.has_bootcount = true;
    c.bootcount = fp_boot_count;
    if (board_firmware_digest(c.fw_digest) == 0) {
        c.has_firmware = true;
        c.fw_version = version;
        c.fw_version_len = sizeof version - 1;
    }
    c.assurance = CORIO_EAT_REPORTED;
    n = corio_eat_make(fp_identity_key(), &c, token, sizeof token);
    if (n < 0)
        return n;
    *out = token;
    *out_len = (size_t)n;
    return CORIO_OK;
}
#else
typedef int fp_eat_unused; /* ISO C forbids an empty translation unit */
#endif
