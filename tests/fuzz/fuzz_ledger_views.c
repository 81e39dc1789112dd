/* fuzz_ledger_views.c - the contracts' HTTP views as a node serves them: any request path
 * is percent-decoded the way the engine does (corio__path_decode) and handed to the
 * contracts' route over a ledger holding a genesis (one organisation, so ids, DIDs and
 * hex ids in paths meet real rows). The answer is "not mine", an error code, or a view
 * with a status and a NUL-terminated body of the length it claims; never a crash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "contracts.h"
#include "corio/cbor.h"
#include "corio/error.h"
#include "crypto_openssl.h"
#include "ledger_int.h"
#include "ledger_store.h"
#include "tx.h"

#define OPS (&corio_crypto_openssl_ops)

static struct corio_store *store;
static char db_path[64];

static void cleanup(void)
{
    corio__store_close(store);
    static const char *const suffix[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        char f[80];
        snprintf(f, sizeof f, "%s%s", db_path, suffix[i]);
        unlink(f);
    }
}

/* A ledger with one organisation's genesis, in a temporary file. */
static void setup(void)
{
    char path[] = "/tmp/fuzz-ledger-views-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        abort();
    close(fd);
    unlink(path);
    snprintf(db_path, sizeof db_path, "%s", path);
    atexit(cleanup);
    char err[256];
    const struct corio_ledger_app *app = corio_contracts_app();
    if (corio__store_open(path, app, &store, err, sizeof err) != CORIO_OK)
        abort();
    struct corio_key key;
    uint8_t pub[CORIO_TX_KEY_LEN];
    struct corio_did did;
    if (corio_key_generate(OPS, 0, 0, &key) != CORIO_OK ||
        corio_key_public_compressed(&key, pub) != CORIO_OK ||
        corio_did_from_key(OPS, pub, sizeof pub, &did) != CORIO_OK)
        abort();
    did.has_key = true;
    did.key = 0;
    struct corio_tx_org m = {.has_key = true,
                             .has_name = true,
                             .has_node = true,
                             .has_address = true,
                             .name = "fuzz",
                             .name_len = 4,
                             .node = 1,
                             .address = "127.0.0.1:7400",
                             .address_len = 14};
    memcpy(m.key, pub, sizeof pub);
    uint8_t org[512], arr[600], args[1024], body[2048], tx[4096];
    int ol = corio_tx_org_encode(&m, org, sizeof org);
    struct corio_cbor_enc e;
    corio_cbor_enc_init(&e, arr, sizeof arr);
    corio_cbor_put_array(&e, 1);
    corio_cbor_put_raw(&e, org, ol > 0 ? (size_t)ol : 0);
    int al = corio_cbor_enc_finish(&e);
    struct corio_tx_genesis g = {
        .orgs = arr, .orgs_len = al > 0 ? (size_t)al : 0, .name = "fuzz", .name_len = 4};
    int gl = corio_tx_genesis_encode(&g, args, sizeof args);
    struct corio_tx_body b = {
        .type = CORIO_TX_GENESIS, .args = args, .args_len = gl > 0 ? (size_t)gl : 0, .expires = 9};
    int bl = corio_tx_body_encode(&b, body, sizeof body);
    int tl = bl > 0 ? corio_tx_sign(&key, &did, body, (size_t)bl, tx, sizeof tx) : -1;
    corio_key_close(&key);
    if (ol <= 0 || al <= 0 || gl <= 0 || tl <= 0)
        abort();
    struct corio_block_tx btx = {.data = tx, .len = (size_t)tl};
    struct corio_proposal p = {.timestamp_ms = 1000, .proposer = 1, .txs = &btx, .ntxs = 1};
    struct corio_store_applied out;
    if (corio__store_apply(store, 1, &p, 0, &out) != CORIO_OK || out.ntxs != 1 ||
        out.txs[0].status != CORIO_TX_ACCEPTED)
        abort();
    corio__store_applied_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!store)
        setup();
    char *raw = malloc(size + 1);
    if (!raw)
        return 0;
    memcpy(raw, data, size);
    raw[size] = 0;
    char path[1024];
    int rc = corio__path_decode(raw, path, sizeof path);
    free(raw);
    if (rc != 0)
        return 0;
    struct corio_ledger_view v = {0};
    const struct corio_ledger_app *app = corio_contracts_app();
    rc = app->route(app->ctx, corio__store_db(store), path, &v);
    if (rc == 1 &&
        (v.status < 100 || v.status > 599 || !v.body || strlen(v.body) != v.len || !v.content_type))
        abort();
    if (rc != 1 && v.body)
        abort();
    free(v.body);
    return 0;
}
