/*
 * statehash.c - the multiset hash applications may use for their state hash (ledger_app.h):
 * a 256-bit sum of SHA-256 digests, so adding or removing one item costs one hash and
 * the result does not depend on the order items came in.
 */
#include <string.h>

#include <openssl/sha.h>

#include "ledger_app.h"
#include "corio/error.h"

void corio_ledger_sethash_init(struct corio_ledger_sethash *h)
{
    memset(h->acc, 0, sizeof h->acc);
}

/* acc = acc + d (sign 1) or acc - d (sign -1), modulo 2^256, big-endian. */
static void add256(uint8_t acc[32], const uint8_t d[32], int sign)
{
    int carry = 0;
    for (int i = 31; i >= 0; i--) {
        int v = sign > 0 ? acc[i] + d[i] + carry : acc[i] - d[i] - carry;
        if (sign > 0) {
            carry = v > 0xff;
            acc[i] = (uint8_t)(v & 0xff);
        } else {
            carry = v < 0;
            acc[i] = (uint8_t)((v + 0x100) & 0xff);
        }
    }
}

static int update(struct corio_ledger_sethash *h, const void *item, size_t len, int sign)
{
    if (!h || (!item && len))
        return CORIO_ERR_INVAL;
    uint8_t d[32];
    if (!SHA256(item ? item : (const void *)"", len, d))
        return CORIO_ERR_CRYPTO;
    add256(h->acc, d, sign);
    return CORIO_OK;
}

int corio_ledger_sethash_add(struct corio_ledger_sethash *h, const void *item, size_t len)
{
    return update(h, item, len, 1);
}

int corio_ledger_sethash_remove(struct corio_ledger_sethash *h, const void *item, size_t len)
{
    return update(h, item, len, -1);
}
