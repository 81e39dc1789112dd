/*
 * cmd_device.c - `corio device`: the claim (DESIGN.md §3: the owner's registration
 * carrying the device's EAT whose nonce is H(secret ‖ claimant)), transfer between
 * organisations (both sign), revocation. Transactions as in cli_tx.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_tx.h"
#include "corio/error.h"
#include "crypto_openssl.h"

#define HELP_OUT(o)                                                                                \
    do {                                                                                           \
        if ((o).help) {                                                                            \
            cli_command_help(stdout);                                                          \
            return CLI_OK;                                                                         \
        }                                                                                          \
    } while (0)

/* The nonce a claimant asks the device to put in its EAT: SHA-256(secret ‖ claimant id),
 * the secret as printed with the device, the claimant's 15-byte id. */
static int device_claim_nonce(int argc, char **argv)
{
    struct cli_opts o;
    int rc = cli_opts_parse(argc, argv, &o);
    if (rc != CLI_OK)
        return rc;
    HELP_OUT(o);
    const char *org = cli_need(&o, "org");
    uint8_t id[CORIO_DID_ID_LEN];
    if (!org || o.npos != 1 || cli_id(org, id) != CLI_OK)
        return org && o.npos != 1 ? cli_usage_error("expected the device's secret") : CLI_USAGE;
    size_t sl = strlen(o.pos[0]);
    uint8_t *buf = malloc(sl + sizeof id), h[32];
    if (!buf)
        return CLI_FAIL;
    memcpy(buf, o.pos[0], sl);
    memcpy(buf + sl, id, sizeof id);
    rc = corio_sha256(&corio_crypto_openssl_ops, buf, sl + sizeof id, h);
    free(buf);
    if (rc != CORIO_OK)
        return CLI_FAIL;
    cli_hex_print(stdout, h, sizeof h);
    fputc('\n', stdout);
    return CLI_OK;
}

static int device_claim(int argc, char **argv)
{
    struct cli_opts o;
    int rc = cli_opts_parse(argc, argv, &o);
    if (rc != CLI_OK)
        return rc;
    HELP_OUT(o);
    struct corio_tx_device_register r = {.kind = CORIO_DEVICE_KIND_DEVICE,
                                         .auth = CORIO_DEVICE_AUTH_SINGLE, .assurance = 1};
    const char *org = cli_need(&o, "org"), *key = cli_need(&o, "device-key"),
               *eat = cli_need(&o, "eat"), *cls = cli_need(&o, "class"),
               *model = cli_need(&o, "model"), *hw = cli_need(&o, "hw");
    if (!org || !key || !eat || !cls || !model || !hw)
        return CLI_USAGE;
    if (cli_id(org, r.org) != CLI_OK || cli_name("--class", cls) != CLI_OK ||
        cli_name("--model", model) != CLI_OK || cli_name("--hw", hw) != CLI_OK)
        return CLI_USAGE;
    if ((rc = cli_pub33(key, r.key)) != CLI_OK)
        return rc;
    r.class_ = cls;
    r.class_len = strlen(cls);
    r.model = model;
    r.model_len = strlen(model);
    r.hw = hw;
    r.hw_len = strlen(hw);
    const char *kind = cli_opt(&o, "kind"), *auth = cli_opt(&o, "auth"),
               *as = cli_opt(&o, "assurance"), *gw = cli_opt(&o, "gateway");
    if (kind && strcmp(kind, "device") && strcmp(kind, "gateway"))
        return cli_usage_error("--kind: device or gateway");
    if (kind && !strcmp(kind, "gateway"))
        r.kind = CORIO_DEVICE_KIND_GATEWAY;
    if (auth && strcmp(auth, "single") && strcmp(auth, "eat"))
        return cli_usage_error("--auth: single or eat");
    if (auth && !strcmp(auth, "eat"))
        r.auth = CORIO_DEVICE_AUTH_EAT;
    if (as && strcmp(as, "reported") && strcmp(as, "attested"))
        return cli_usage_error("--assurance: reported or attested");
    if (as && !strcmp(as, "attested"))
        r.assurance = 2;
    if (gw) {
        if (cli_id(gw, r.gateway) != CLI_OK)
            return CLI_USAGE;
        r.has_gateway = true;
    }
    uint8_t *tok;
    size_t tl;
    if ((rc = cli_read_message(eat, &tok, &tl)) != CLI_OK)
        return rc;
    r.eat = tok;
    r.eat_len = tl;
    uint8_t args[2048];
    int n = corio_tx_device_register_encode(&r, args, sizeof args);
    const char *why = "";
    if (n < 0 || corio_tx_args_check(CORIO_TX_DEVICE_REGISTER, args, (size_t)n, &why) != CORIO_OK)
        rc = cli_usage_error("not a valid claim (%s)", why);
    else
        rc = cli_tx_make(&o, CORIO_TX_DEVICE_REGISTER, args, (size_t)n);
    free(tok);
    return rc;
}

static int device_ref(int argc, char **argv, unsigned type)
{
    struct cli_opts o;
    int rc = cli_opts_parse(argc, argv, &o);
    if (rc != CLI_OK)
        return rc;
    HELP_OUT(o);
    struct corio_tx_device_ref d = {0};
    const char *dev = cli_need(&o, "device");
    if (!dev || cli_id(dev, d.device) != CLI_OK)
        return CLI_USAGE;
    if (type == CORIO_TX_DEVICE_TRANSFER) {
        const char *from = cli_need(&o, "from"), *to = cli_need(&o, "to");
        if (!from || !to || cli_id(from, d.from) != CLI_OK || cli_id(to, d.to) != CLI_OK)
            return CLI_USAGE;
        d.has_from = d.has_to = true;
    }
    uint8_t args[128];
    int n = corio_tx_device_ref_encode(type, &d, args, sizeof args);
    return n > 0 ? cli_tx_make(&o, type, args, (size_t)n) : CLI_FAIL;
}

static int device_transfer(int argc, char **argv)
{
    return device_ref(argc, argv, CORIO_TX_DEVICE_TRANSFER);
}

static int device_revoke(int argc, char **argv)
{
    return device_ref(argc, argv, CORIO_TX_DEVICE_REVOKE);
}

static const struct cli_command commands[] = {
    {"claim-nonce", "--org ID SECRET",
     "the nonce to ask the device for: SHA-256(SECRET ‖ claimant id), in hex", NULL,
     device_claim_nonce},
    {"claim",
     "--org ID --device-key KEY --eat TOKEN --class C --model M --hw H [--kind device|gateway]"
     " [--auth single|eat] [--assurance reported|attested] [--gateway ID] ...",
     "register a device for its owner: the claim, with the device's EAT",
     "  --eat TOKEN   the device's EAT (file, hex or base64url): signed by its key 0,\n"
     "                aud = the claiming organisation's short id, nonce = the output of\n"
     "                `corio device claim-nonce`\n" CLI_TX_HELP,
     device_claim},
    {"transfer", "--device ID --from ID --to ID ...",
     "move a device to another organisation (both organisations sign)", CLI_TX_HELP,
     device_transfer},
    {"revoke", "--device ID ...", "revoke a device for good (its organisation signs)",
     CLI_TX_HELP, device_revoke},
};

const struct cli_group cli_group_device = {"device", "the device registry on the ledger",
                                           commands, sizeof commands / sizeof commands[0]};
