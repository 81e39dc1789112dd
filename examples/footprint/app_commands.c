/*
 * app_commands.c - the footprint example's commands (DESIGN.md §1 "The downlink
 * path"): a CBOR map on dn/cmd with the command's seq, correlation id, expiry, name and
 * arguments, decoded strictly with the SDK's CBOR decoder, and a result on up/res. The
 * commands it knows: "reboot", "format" (telemetry in JSON or CBOR) and "ota" (an
 * offer whose firmware digest must carry the OTA trust anchor's ES256 signature).
 */
#include <string.h>

#include "board.h"
#include "corio/cbor.h"
#include "corio/crypto_psa.h"
#include "fp_app.h"

struct command {
    uint64_t seq;
    const uint8_t *cid;
    size_t cid_len;
    const char *name;
    size_t name_len;
    struct corio_cbor_dec args; /* positioned at the arguments */
    int has_args;
};

static int key_is(const char *s, size_t n, const char *lit)
{
    return n == strlen(lit) && memcmp(s, lit, n) == 0;
}

static int parse(const uint8_t *p, size_t len, struct command *c)
{
    struct corio_cbor_dec d;
    uint64_t pairs, exp;
    int err;

    memset(c, 0, sizeof *c);
    corio_cbor_dec_init(&d, p, len);
    err = corio_cbor_expect_map(&d, &pairs);
    while (err == CORIO_OK && pairs-- > 0) {
        const char *k;
        size_t kn;

        err = corio_cbor_expect_text(&d, &k, &kn);
        if (err != CORIO_OK)
            break;
        if (key_is(k, kn, "seq"))
            err = corio_cbor_expect_uint(&d, &c->seq);
        else if (key_is(k, kn, "cid"))
            err = corio_cbor_expect_bytes(&d, &c->cid, &c->cid_len);
        else if (key_is(k, kn, "exp"))
            err = corio_cbor_expect_uint(&d, &exp);
        else if (key_is(k, kn, "name"))
            err = corio_cbor_expect_text(&d, &c->name, &c->name_len);
        else if (key_is(k, kn, "args")) {
            c->args = d;
            c->has_args = 1;
            err = corio_cbor_skip(&d);
        } else
            err = corio_cbor_skip(&d);
    }
    if (err == CORIO_OK)
        err = corio_cbor_dec_finish(&d);
    if (err == CORIO_OK && (c->seq == 0 || c->name == NULL))
        err = CORIO_ERR_MALFORMED;
    return err;
}

/* args: {"digest": bstr .size 32, "sig": bstr .size 64} */
static int ota_offer(struct command *c)
{
    uint8_t anchor[CORIO_P256_PUB_LEN];
    const uint8_t *digest = NULL, *sig = NULL;
    size_t dn = 0, sn = 0;
    uint64_t pairs;
    int err;

    if (!c->has_args)
        return CORIO_ERR_MALFORMED;
    err = corio_cbor_expect_map(&c->args, &pairs);
    while (err == CORIO_OK && pairs-- > 0) {
        const char *k;
        size_t kn;

        err = corio_cbor_expect_text(&c->args, &k, &kn);
        if (err == CORIO_OK && key_is(k, kn, "digest"))
            err = corio_cbor_expect_bytes(&c->args, &digest, &dn);
        else if (err == CORIO_OK && key_is(k, kn, "sig"))
            err = corio_cbor_expect_bytes(&c->args, &sig, &sn);
        else if (err == CORIO_OK)
            err = corio_cbor_skip(&c->args);
    }
    if (err != CORIO_OK)
        return err;
    if (dn != CORIO_SHA256_LEN || sn != CORIO_P256_SIG_LEN)
        return CORIO_ERR_MALFORMED;
    if (board_ota_anchor(anchor) != 0)
        return CORIO_ERR_IO;
    return corio_verify_hash(&corio_crypto_psa_ops, anchor, sizeof anchor, digest, sig);
}

static int run(struct command *c)
{
    if (key_is(c->name, c->name_len, "reboot")) {
        board_reset();
        return CORIO_OK;
    }
    if (key_is(c->name, c->name_len, "format")) {
        bool json;
        int err = c->has_args ? corio_cbor_expect_bool(&c->args, &json) : CORIO_ERR_MALFORMED;

        if (err == CORIO_OK)
            fp_format_json = json;
        return err;
    }
    if (key_is(c->name, c->name_len, "ota"))
        return ota_offer(c);
    return CORIO_ERR_UNSUPPORTED;
}

uint8_t fp_command(const uint8_t *payload, size_t len, uint32_t now_ms)
{
    static uint8_t res[64];
    struct corio_cbor_enc e;
    struct command c;
    int err, n;

    if (parse(payload, len, &c) != CORIO_OK)
        return 0x99; /* Payload format invalid: the cloud keeps it and sees why */
    err = run(&c);

    /* {"seq": seq, "cid": cid, "err": err} */
    corio_cbor_enc_init(&e, res, sizeof res);
    corio_cbor_put_map(&e, 3);
    corio_cbor_put_textz(&e, "seq");
    corio_cbor_put_uint(&e, c.seq);
    corio_cbor_put_textz(&e, "cid");
    corio_cbor_put_bytes(&e, c.cid, c.cid_len);
    corio_cbor_put_textz(&e, "err");
    corio_cbor_put_int(&e, err);
    n = corio_cbor_enc_finish(&e);
    if (n < 0 || fp_send(FP_UP_RES, res, (size_t)n, now_ms) != CORIO_OK)
        return 0x80; /* not accepted: the cloud sends the command again */
    return 0x00;
}
