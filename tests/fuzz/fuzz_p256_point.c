/*
 * fuzz_p256_point.c - libFuzzer target for P-256 public key parsing (sdk/src/p256.c):
 * compressed and uncompressed points from outside, e.g. from a did:key.
 *
 * Differential: for the SEC 1 forms we accept (0x02, 0x03, 0x04), OpenSSL's
 * EC_POINT_oct2point must agree on validity and on the point. An accepted point
 * must pass the on-curve check and survive compression and decompression. The first
 * 64 bytes also exercise the signature range and low-S rules.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>

#include "corio/error.h"
#include "corio/p256.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* OpenSSL's verdict on a point, and its uncompressed form when valid. */
static int openssl_parse(const uint8_t *data, size_t size, uint8_t out[65])
{
    static EC_GROUP *group;
    if (!group)
        group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    EC_POINT *pt = group ? EC_POINT_new(group) : NULL;
    if (!pt)
        abort();
    int ok = EC_POINT_oct2point(group, pt, data, size, NULL) == 1 &&
             EC_POINT_point2oct(group, pt, POINT_CONVERSION_UNCOMPRESSED, out, 65, NULL) == 65;
    EC_POINT_free(pt);
    ERR_clear_error();
    return ok;
}

static void check_signature_rules(const uint8_t *data)
{
    uint8_t sig[CORIO_P256_SIG_LEN];
    memcpy(sig, data, sizeof sig);
    int checked = corio_p256_sig_check(sig);
    int rc = corio_p256_sig_normalize(sig);
    if (rc == CORIO_OK) {
        if (corio_p256_sig_check(sig) != CORIO_OK || memcmp(sig, data, 32) != 0)
            abort();
        if (checked == CORIO_OK && memcmp(sig, data, sizeof sig) != 0)
            abort(); /* a low-S signature is left alone */
    } else if (rc != CORIO_ERR_BADSIG || checked != CORIO_ERR_BADSIG ||
               memcmp(sig, data, sizeof sig) != 0) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *in = malloc(size ? size : 1); /* an exact copy: ASan sees overreads */
    if (!in)
        abort();
    memcpy(in, data, size);
    uint8_t ours[CORIO_P256_PUB_LEN];
    int rc = corio_p256_point_parse(in, size, ours);
    if (rc != CORIO_OK && rc != CORIO_ERR_MALFORMED)
        abort();
    if ((size == 33 && (in[0] == 0x02 || in[0] == 0x03)) || (size == 65 && in[0] == 0x04)) {
        uint8_t theirs[65];
        int ok = openssl_parse(in, size, theirs);
        if (ok != (rc == CORIO_OK))
            abort();
        if (ok && memcmp(ours, theirs, 65) != 0)
            abort();
    } else if (rc == CORIO_OK) {
        abort(); /* no other length or prefix is a point */
    }
    if (rc == CORIO_OK) {
        uint8_t comp[33], back[65];
        if (corio_p256_point_check(ours) != CORIO_OK ||
            corio_p256_compress(ours, comp) != CORIO_OK ||
            corio_p256_decompress(comp, back) != CORIO_OK || memcmp(back, ours, 65) != 0)
            abort();
    }
    if (size >= CORIO_P256_SIG_LEN)
        check_signature_rules(in);
    free(in);
    return 0;
}
