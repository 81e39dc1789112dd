/*
 * cmd_device.c - `corio device`: the claim (DESIGN.md §3: the owner's registration
 * carrying the device's EAT whose nonce is H(secret ‖ claimant)), transfer between
 * organisations (both sign), revocation. Transactions as in cli_tx.h.
 *
 * `corio device claim <did> <secret>` is what a QR code feeds (docs/onboarding.md): it
 * asks the device itself, through a gateway where it waits in quarantine, for its EAT
 * over H(secret ‖ claimant). It logs in to the gateway's loopback listener as the
 * gateway's service (client id "<gateway>.claim", a single-step EAT of the gateway's
 * key), publishes the claim request on corio/v1/q/<id>/dn/claim until the device's
 * answer comes on corio/v1/q/<id>/up/claim, checks that answer (key 0 hashes to the
 * DID, the EAT is signed by it for this claimant and nonce) and then makes the
 * device.register transaction with it. A device that does not know the secret cannot
 * make that nonce match, and signs nothing.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <mosquitto.h>

#include "cli.h"
#include "cli_tx.h"
#include "corio/eat.h"
#include "corio/eat_auth.h"
#include "corio/encoding.h"
#include "corio/error.h"
#include "corio/p256.h"
#include "corio/rotation.h"
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

/* ---- asking the device through a gateway ---- */

struct ask {
    const char *answer_topic;
    uint8_t answer[CORIO_EAT_AUTH_MAX];
    size_t answer_len;
    bool answered;
    bool connected;
    int connack;
};

static void ask_on_connect(struct mosquitto *m, void *arg, int rc)
{
    (void)m;
    struct ask *a = arg;
    a->connack = rc;
    a->connected = rc == 0;
}

static void ask_on_message(struct mosquitto *m, void *arg, const struct mosquitto_message *msg)
{
    (void)m;
    struct ask *a = arg;
    if (a->answered || strcmp(msg->topic, a->answer_topic) != 0 || msg->payloadlen <= 0 ||
        (size_t)msg->payloadlen > sizeof a->answer)
        return;
    memcpy(a->answer, msg->payload, (size_t)msg->payloadlen);
    a->answer_len = (size_t)msg->payloadlen;
    a->answered = true;
}

static int64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The service login's password: base64url of an EAT of the gateway's key with a counter
 * above any before: max(the counter file + 1, the clock in ms), stored first when a
 * file is given (docs/gateway-coap.md, "The service login"). */
static int service_password(const char *keyfile, const char *key_no, const char *counter_file,
                            const char gw[CORIO_DID_ID_CHARS + 1], char *out, size_t cap)
{
    struct corio_key key;
    int rc = cli_load_key(keyfile, &key);
    if (rc != CLI_OK)
        return rc;
    uint64_t counter = (uint64_t)wall_ms(), kn = 0;
    if (key_no && cli_u64("--gateway-key-no", key_no, &kn) != CLI_OK) {
        corio_key_close(&key);
        return CLI_USAGE;
    }
    if (counter_file) {
        FILE *f = fopen(counter_file, "r");
        unsigned long long stored = 0;
        if (f) {
            if (fscanf(f, "corio-counter 1 %llu", &stored) != 1)
                stored = 0;
            fclose(f);
        }
        if (stored + 1 > counter)
            counter = stored + 1;
        f = fopen(counter_file, "w");
        bool ok = f && fprintf(f, "corio-counter 1 %" PRIu64 "\n", counter) > 0;
        if (f && fclose(f) != 0)
            ok = false;
        if (!ok) {
            corio_key_close(&key);
            cli_error("%s: cannot store the counter", counter_file);
            return CLI_FAIL;
        }
    }
    struct corio_eat_claims c;
    memset(&c, 0, sizeof c);
    uint8_t tok[CORIO_EAT_MAX_SIZE];
    rc = corio_did_id_parse(gw, CORIO_DID_ID_CHARS, c.issuer.id);
    c.key_number = (uint32_t)kn;
    c.aud = gw;
    c.aud_len = CORIO_DID_ID_CHARS;
    c.has_counter = true;
    c.counter = counter;
    c.assurance = CORIO_EAT_REPORTED;
    int n = rc == CORIO_OK ? corio_eat_make(&key, &c, tok, sizeof tok) : rc;
    corio_key_close(&key);
    if (n < 0 || corio_base64url_encode(tok, (size_t)n, out, cap) < 0) {
        cli_error("cannot make the gateway's token: %s",
                  corio_strerror(n < 0 ? n : CORIO_ERR_NOSPACE));
        return CLI_FAIL;
    }
    return CLI_OK;
}

/*
 * Asks device `id` for its claim answer through the gateway at host:port, until
 * timeout_ms. Returns CLI_OK with the answer in a, CLI_REFUSED when none came, or
 * another cli_exit code.
 */
static int ask_device(const struct cli_opts *o, const char *id, const uint8_t claimant[15],
                      const uint8_t nonce[32], struct ask *a)
{
    const char *via = cli_need(o, "gateway"), *gkey = cli_need(o, "gateway-key");
    if (!via || !gkey)
        return CLI_USAGE;
    char host[256];
    const char *colon = strrchr(via, ':');
    uint64_t port = 0, timeout_s = 30;
    if (!colon || (size_t)(colon - via) >= sizeof host || cli_parse_u64(colon + 1, &port) != 0 ||
        port < 1 || port > 65535)
        return cli_usage_error("--gateway: expected HOST:PORT (its loopback listener)");
    memcpy(host, via, (size_t)(colon - via));
    host[colon - via] = '\0';
    const char *t = cli_opt(o, "timeout");
    if (t && (cli_u64("--timeout", t, &timeout_s) != CLI_OK || timeout_s < 1))
        return CLI_USAGE;

    /* The gateway is the key's DID. */
    uint8_t pub[65];
    struct corio_did gdid;
    char gw[CORIO_DID_ID_CHARS + 1], gwdid[CORIO_DID_BUF], client[CORIO_DID_ID_CHARS + 8];
    int rc = cli_load_public(gkey, pub);
    if (rc != CLI_OK)
        return rc;
    if (corio_did_from_key(&corio_crypto_openssl_ops, pub, sizeof pub, &gdid) != CORIO_OK ||
        corio_did_id_format(gdid.id, gw, sizeof gw) < 0)
        return CLI_FAIL;
    snprintf(gwdid, sizeof gwdid, "did:corio:%s", gw);
    snprintf(client, sizeof client, "%s.claim", gw);
    char password[CORIO_BASE64URL_ENCODED_LEN(CORIO_EAT_MAX_SIZE) + 1];
    rc = service_password(gkey, cli_opt(o, "gateway-key-no"), cli_opt(o, "gateway-counter"), gw,
                          password, sizeof password);
    if (rc != CLI_OK)
        return rc;

    char topic_dn[CORIO_QUARANTINE_TOPIC_MAX], topic_up[CORIO_QUARANTINE_TOPIC_MAX];
    struct corio_claim_request req;
    memcpy(req.claimant, claimant, sizeof req.claimant);
    memcpy(req.nonce, nonce, sizeof req.nonce);
    uint8_t payload[64];
    int plen = corio_claim_request_encode(&req, payload, sizeof payload);
    if (plen < 0 ||
        corio_quarantine_topic(id, CORIO_QUARANTINE_CLAIM_DN, topic_dn, sizeof topic_dn) < 0 ||
        corio_quarantine_topic(id, CORIO_QUARANTINE_CLAIM_UP, topic_up, sizeof topic_up) < 0)
        return CLI_FAIL;
    a->answer_topic = topic_up;

    mosquitto_lib_init();
    struct mosquitto *m = mosquitto_new(client, true, a);
    rc = CLI_FAIL;
    if (!m)
        goto out;
    mosquitto_connect_callback_set(m, ask_on_connect);
    mosquitto_message_callback_set(m, ask_on_message);
    mosquitto_username_pw_set(m, gwdid, password);
    if (mosquitto_connect(m, host, (int)port, 30) != MOSQ_ERR_SUCCESS) {
        cli_error("--gateway %s: cannot connect", via);
        rc = CLI_FAIL;
        goto out;
    }
    int64_t deadline = mono_ms() + (int64_t)timeout_s * 1000, next_ask = 0;
    bool subscribed = false;
    while (!a->answered && mono_ms() < deadline) {
        if (mosquitto_loop(m, 50, 1) != MOSQ_ERR_SUCCESS && !a->connected) {
            if (a->connack) {
                cli_error("the gateway refused the service login (CONNACK %d): is the gateway's "
                          "key in its registry?",
                          a->connack);
                rc = CLI_REFUSED;
                goto out;
            }
            mosquitto_reconnect(m);
        }
        if (!a->connected)
            continue;
        if (!subscribed) {
            subscribed = mosquitto_subscribe(m, NULL, topic_up, 1) == MOSQ_ERR_SUCCESS;
            continue;
        }
        if (mono_ms() >= next_ask) {
            /* Again and again: the device may not be connected yet. */
            mosquitto_publish(m, NULL, topic_dn, plen, payload, 1, false);
            next_ask = mono_ms() + 1000;
        }
    }
    rc = a->answered ? CLI_OK : CLI_REFUSED;
    if (!a->answered)
        cli_error("no answer from device %s within %" PRIu64 " s (not connected to that gateway, "
                  "or the secret is not its own)",
                  id, timeout_s);
out:
    if (m) {
        mosquitto_disconnect(m);
        mosquitto_destroy(m);
    }
    mosquitto_lib_cleanup();
    return rc;
}

/*
 * Checks a claim answer from device `did`: key 0 (the chain's inception key) founds the
 * DID, and the EAT is signed by it for this claimant and nonce. Fills key33 and *eat.
 */
static int check_answer(const struct ask *a, const struct corio_did *did,
                        const char claimant[CORIO_DID_ID_CHARS + 1], const uint8_t nonce[32],
                        uint8_t key33[33], struct corio_eat_claims *claims, uint8_t **eat,
                        size_t *eat_len)
{
    struct corio_eat_auth ans;
    const char *why = NULL;
    if (corio_eat_auth_decode(a->answer, a->answer_len, &ans) != CORIO_OK) {
        cli_error("the device's answer is not [1, EAT, chain]");
        return CLI_REFUSED;
    }
    struct corio_rotation_trust none = {.threshold = 1};
    struct corio_rotation_result r;
    if (corio_rotation_chain_verify(&corio_crypto_openssl_ops, did, ans.chain, ans.chain_len, &none,
                                    &r, &why) != CORIO_OK ||
        r.key_number != 0) {
        cli_error("the device's key 0 is not its DID's: %s", why ? why : "a rotated chain");
        return CLI_REFUSED;
    }
    struct corio_eat_expect e = {
        .aud = claimant, .aud_len = CORIO_DID_ID_CHARS, .nonce = nonce, .nonce_len = 32};
    if (corio_eat_verify(&corio_crypto_openssl_ops, ans.eat, ans.eat_len, r.pub, sizeof r.pub, &e,
                         claims, &why) != CORIO_OK ||
        claims->key_number != 0) {
        cli_error("the device's EAT is refused: %s", why ? why : "not signed by key 0");
        return CLI_REFUSED;
    }
    if (corio_p256_compress(r.pub, key33) != CORIO_OK)
        return CLI_FAIL;
    *eat = malloc(ans.eat_len);
    if (!*eat)
        return CLI_FAIL;
    memcpy(*eat, ans.eat, ans.eat_len);
    *eat_len = ans.eat_len;
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
    bool via_gateway = o.npos == 2; /* <did> <secret>: ask the device */
    if (o.npos != 0 && !via_gateway)
        return cli_usage_error("expected the device's DID and secret, or --device-key and --eat");
    const char *org = cli_need(&o, "org"), *cls = cli_need(&o, "class"),
               *model = cli_need(&o, "model"), *hw = cli_need(&o, "hw");
    const char *key = via_gateway ? NULL : cli_need(&o, "device-key"),
               *eat = via_gateway ? NULL : cli_need(&o, "eat");
    if (!org || !cls || !model || !hw || (!via_gateway && (!key || !eat)))
        return CLI_USAGE;
    if (cli_id(org, r.org) != CLI_OK || cli_name("--class", cls) != CLI_OK ||
        cli_name("--model", model) != CLI_OK || cli_name("--hw", hw) != CLI_OK)
        return CLI_USAGE;
    r.class_ = cls;
    r.class_len = strlen(cls);
    r.model = model;
    r.model_len = strlen(model);
    r.hw = hw;
    r.hw_len = strlen(hw);
    const char *kind = cli_opt(&o, "kind"), *auth = cli_opt(&o, "auth"),
               *as = cli_opt(&o, "assurance"), *gw = cli_opt(&o, "pin");
    if (!gw && !via_gateway)
        gw = cli_opt(&o, "gateway");
    if (kind && strcmp(kind, "device") && strcmp(kind, "gateway"))
        return cli_usage_error("--kind: device or gateway");
    if (kind && !strcmp(kind, "gateway"))
        r.kind = CORIO_DEVICE_KIND_GATEWAY;
    if (auth && strcmp(auth, "single") && strcmp(auth, "eat"))
        return cli_usage_error("--auth: single or eat");
    /* A device that answered through quarantine speaks corio-eat-v1. */
    if ((auth && !strcmp(auth, "eat")) || (!auth && via_gateway))
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
    uint8_t *tok = NULL;
    size_t tl = 0;
    if (via_gateway) {
        struct corio_did did;
        const char *secret = o.pos[1];
        uint8_t nonce[32];
        char claimant[CORIO_DID_ID_CHARS + 1];
        char id[CORIO_DID_ID_CHARS + 1];
        if (cli_id(o.pos[0], did.id) != CLI_OK)
            return CLI_USAGE;
        did.has_key = false;
        if (corio_did_id_format(did.id, id, sizeof id) < 0 ||
            corio_did_id_format(r.org, claimant, sizeof claimant) < 0)
            return CLI_FAIL;
        if (corio_claim_nonce(&corio_crypto_openssl_ops, secret, strlen(secret), r.org, nonce) !=
            CORIO_OK)
            return cli_usage_error("the secret is 1 to %d bytes of text", CORIO_CLAIM_SECRET_MAX);
        struct ask *a = calloc(1, sizeof *a);
        if (!a)
            return CLI_FAIL;
        rc = ask_device(&o, id, r.org, nonce, a);
        struct corio_eat_claims claims;
        if (rc == CLI_OK)
            rc = check_answer(a, &did, claimant, nonce, r.key, &claims, &tok, &tl);
        free(a);
        if (rc != CLI_OK)
            return rc;
        if (!as)
            r.assurance = claims.assurance; /* what the device reports of itself */
        fprintf(stderr, "corio: device %s answered the claim for %s\n", id, claimant);
    } else {
        if ((rc = cli_pub33(key, r.key)) != CLI_OK)
            return rc;
        if ((rc = cli_read_message(eat, &tok, &tl)) != CLI_OK)
            return rc;
    }
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
     "(DID SECRET --gateway HOST:PORT --gateway-key FILE | --device-key KEY --eat TOKEN)"
     " --org ID --class C --model M --hw H [--kind device|gateway] [--auth single|eat]"
     " [--assurance reported|attested] [--pin ID] ...",
     "register a device for its owner: the claim, with the device's EAT",
     "  DID SECRET    what the device's QR code holds: the device is asked for its EAT\n"
     "                over H(SECRET ‖ org) through a gateway where it waits in\n"
     "                quarantine (docs/onboarding.md); --auth defaults to eat\n"
     "  --gateway HOST:PORT   that gateway's loopback listener\n"
     "  --gateway-key FILE    the gateway's key (its service login)\n"
     "  --gateway-key-no N    its key number (default 0)\n"
     "  --gateway-counter FILE  the counter file of the service login (default: the clock)\n"
     "  --timeout S   how long to wait for the device's answer (default 30)\n"
     "  --device-key KEY, --eat TOKEN  instead: the device's key 0 and its EAT (file, hex\n"
     "                or base64url), aud = the claiming organisation's short id, nonce =\n"
     "                `corio device claim-nonce`\n"
     "  --pin ID      pin the device to this gateway (--gateway without DID SECRET "
     "too)\n" CLI_TX_HELP,
     device_claim},
    {"transfer", "--device ID --from ID --to ID ...",
     "move a device to another organisation (both organisations sign)", CLI_TX_HELP,
     device_transfer},
    {"revoke", "--device ID ...", "revoke a device for good (its organisation signs)", CLI_TX_HELP,
     device_revoke},
};

const struct cli_group cli_group_device = {"device", "the device registry on the ledger",
                                           commands, sizeof commands / sizeof commands[0]};
