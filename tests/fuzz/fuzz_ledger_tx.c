/* fuzz_ledger_tx.c - the transaction decoder (ledger/tx.c, tx_args.c) on arbitrary
 * bytes: corio_tx_decode either refuses or yields a body that re-encodes to exactly the
 * signed payload (ids are hashes of that one encoding), the per-type arguments decode
 * or are refused without crashing, and the id is computed for anything. The same bytes
 * are also tried as a bare body and as the arguments of every type. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "corio/error.h"
#include "tx.h"

static const unsigned types[] = {
    CORIO_TX_GENESIS,         CORIO_TX_MEMBER_ADD,      CORIO_TX_MEMBER_REMOVE,
    CORIO_TX_DID_ROTATE,      CORIO_TX_DEVICE_REGISTER, CORIO_TX_DEVICE_TRANSFER,
    CORIO_TX_DEVICE_REVOKE,   CORIO_TX_PROPOSAL,        CORIO_TX_VOTE,
    CORIO_TX_RELEASE_PROPOSE, CORIO_TX_RELEASE_APPROVE,
};

static void body_roundtrip(const struct corio_tx_body *b, const uint8_t *raw, size_t len)
{
    uint8_t *again = malloc(len ? len : 1);
    if (!again || corio_tx_body_encode(b, again, len) != (int)len || memcmp(again, raw, len))
        abort();
    free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t id[CORIO_TX_ID_LEN];
    if (corio_tx_id(data, size, id) != CORIO_OK)
        abort();
    struct corio_tx *t = malloc(sizeof *t);
    if (!t)
        return 0;
    const char *why;
    if (corio_tx_decode(data, size, t) == CORIO_OK) {
        body_roundtrip(&t->body, t->body_raw, t->body_len);
        (void)corio_tx_args_check(t->body.type, t->body.args, t->body.args_len, &why);
    }
    free(t);
    struct corio_tx_body b;
    if (corio_tx_body_decode(data, size, &b) == CORIO_OK)
        body_roundtrip(&b, data, size);
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        (void)corio_tx_args_check(types[i], data, size, &why);
    struct corio_tx_org o;
    (void)corio_tx_org_decode(data, size, &o);
    return 0;
}
