/*
 * app_commands.c - the footprint example's commands (DESIGN.md §1 "The downlink
 * path"): a command on dn/cmd decoded by the SDK's downlink codec (downlink.h: its
 * correlation id, expiry, sequence number, name and CBOR arguments), run, and its result
 * on up/res through the outbox, stamped with the outbox's (epoch, seq) as packs are.
 * The commands it knows: "reboot", "format" (telemetry in JSON or CBOR) and "ota" (an
 * offer whose firmware digest must carry the OTA trust anchor's ES256 signature). The
 * example keeps no wall clock (no dn/time), so it leaves expiry to the gateway, which
 * drops an expired command before delivering it.
 */
#include <string.h>

#include "board.h"
#include "corio/cbor.h"
#include "corio/crypto_psa.h"
#include "corio/downlink.h"
#include "fp_app.h"

/* args: {"digest": bstr .size 32, "sig": bstr .size 64} */
static int ota_offer(struct corio_cbor_dec *args)
{
    uint8_t anchor[CORIO_P256_PUB_LEN];
    const uint8_t *digest = NULL, *sig = NULL;
    size_t dn = 0, sn = 0;
    uint64_t pairs;
    int err = corio_cbor_expect_map(args, &pairs);

    while (err == CORIO_OK && pairs-- > 0) {
        const char *k;
        size_t kn;

        err = corio_cbor_expect_text(args, &k, &kn);
        if (err == CORIO_OK && kn == 6 && memcmp(k, "digest", 6) == 0)
            err = corio_cbor_expect_bytes(args, &digest, &dn);
        else if (err == CORIO_OK && kn == 3 && memcmp(k, "sig", 3) == 0)
            err = corio_cbor_expect_bytes(args, &sig, &sn);
        else if (err == CORIO_OK)
            err = corio_cbor_skip(args);
    }
    if (err != CORIO_OK)
        return err;
    if (dn != CORIO_SHA256_LEN || sn != CORIO_P256_SIG_LEN)
        return CORIO_ERR_MALFORMED;
    if (board_ota_anchor(anchor) != 0)
        return CORIO_ERR_IO;
    return corio_verify_hash(&corio_crypto_psa_ops, anchor, sizeof anchor, digest, sig);
}

/* The commands the device knows, in the order run() tells them apart. */
static const char names[][7] = {"reboot", "format", "ota"};

/* Runs c: CORIO_OK, a handler's error, or CORIO_ERR_NOTFOUND for a name it does not know. */
static int run(const struct corio_cmd *c)
{
    struct corio_cbor_dec args;
    struct corio_cbor_item it;
    size_t i = 0;
    int err;

    while (i < sizeof names / sizeof names[0] &&
           !(c->name_len == strlen(names[i]) && memcmp(c->name, names[i], c->name_len) == 0))
        i++;
    corio_cbor_dec_init(&args, c->args, c->args_len); /* none: every read fails */
    switch (i) {
    case 0:
        board_reset();
        return CORIO_OK;
    case 1:
        /* args: a bool, true for JSON. peek() tells it as well as expect_bool() and the
         * image has it already; the rest of args was checked whole by the codec. */
        err = corio_cbor_peek(&args, &it);
        if (err == CORIO_OK && it.type != CORIO_CBOR_FALSE && it.type != CORIO_CBOR_TRUE)
            err = CORIO_ERR_MALFORMED;
        if (err == CORIO_OK)
            fp_format_json = it.type == CORIO_CBOR_TRUE;
        return err;
    case 2:
        return ota_offer(&args);
    default:
        return CORIO_ERR_NOTFOUND;
    }
}

uint8_t fp_command(const uint8_t *payload, size_t len, uint32_t now_ms)
{
    static uint8_t res[80];
    struct corio_cmd c;
    struct corio_cmd_result r;
    uint32_t epoch, last_seq, depth, drops;
    int err, n;

    if (corio_cmd_decode(payload, len, &c) != CORIO_OK)
        return 0x99;         /* Payload format invalid: the cloud keeps it and sees why */
    memset(&r, 0, sizeof r); /* before run(): one call, not one per way out of it */
    err = run(&c);
    r.cid = c.cid;
    r.cid_len = c.cid_len;
    r.status = err == CORIO_ERR_NOTFOUND ? CORIO_CMD_UNKNOWN
               : err == CORIO_OK         ? CORIO_CMD_DONE
                                         : CORIO_CMD_FAILED;
    r.err = r.status == CORIO_CMD_FAILED ? err : CORIO_OK;
#if FP_HAVE_OUTBOX
    /* The result is the outbox's next entry: it carries that (epoch, seq), as a pack. */
    fp_outbox_figures(&epoch, &last_seq, &depth, &drops);
    r.has_id = true;
    r.epoch = epoch;
    r.seq = last_seq + 1u;
#else
    (void)epoch;
    (void)last_seq;
    (void)depth;
    (void)drops;
#endif
    n = corio_cmd_result_encode(&r, res, sizeof res);
    if (n < 0 || fp_send(FP_UP_RES, res, (size_t)n, now_ms) != CORIO_OK)
        return 0x80; /* not accepted: the gateway delivers it again */
    return 0x00;
}
