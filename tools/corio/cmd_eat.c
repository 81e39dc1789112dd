/*
 * cmd_eat.c - `corio eat`: make and verify Corio EATs (include/corio/eat.h,
 * docs/eat-profile.md) from the command line, as a simulated device and as a gateway
 * would.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "corio/did.h"
#include "corio/eat.h"
#include "corio/error.h"
#include "crypto_openssl.h"

enum {
    OPT_KEY = 256,
    OPT_AUD,
    OPT_NONCE,
    OPT_COUNTER,
    OPT_LAST_COUNTER,
    OPT_FW_DIGEST,
    OPT_FW_VERSION,
    OPT_FW_NAME,
    OPT_BOOT_COUNT,
    OPT_KEY_NUMBER,
    OPT_DID,
    OPT_IAT,
    OPT_NO_IAT,
    OPT_FORMAT,
    OPT_PUB,
    OPT_REQUIRE_FW,
    OPT_ASSURANCE,
    OPT_HELP,
};

static int eat_make(int argc, char **argv)
{
    static const struct option opts[] = {
        {"key", required_argument, NULL, OPT_KEY},
        {"aud", required_argument, NULL, OPT_AUD},
        {"nonce", required_argument, NULL, OPT_NONCE},
        {"counter", required_argument, NULL, OPT_COUNTER},
        {"fw-digest", required_argument, NULL, OPT_FW_DIGEST},
        {"fw-version", required_argument, NULL, OPT_FW_VERSION},
        {"fw-name", required_argument, NULL, OPT_FW_NAME},
        {"boot-count", required_argument, NULL, OPT_BOOT_COUNT},
        {"key-number", required_argument, NULL, OPT_KEY_NUMBER},
        {"did", required_argument, NULL, OPT_DID},
        {"iat", required_argument, NULL, OPT_IAT},
        {"no-iat", no_argument, NULL, OPT_NO_IAT},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    const char *key_path = NULL, *did_s = NULL;
    struct corio_eat_claims c;
    uint8_t nonce[CORIO_EAT_NONCE_MAX];
    bool have_digest = false, have_key_number = false, no_iat = false;
    uint64_t key_number = 0;
    enum cli_format format = CLI_FORMAT_HEX;
    int n, opt;
    memset(&c, 0, sizeof c);
    c.assurance = CORIO_EAT_REPORTED; /* a key in a file is within the application's reach */
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        switch (opt) {
        case OPT_KEY:
            key_path = optarg;
            break;
        case OPT_AUD:
            c.aud = optarg;
            c.aud_len = strlen(optarg);
            break;
        case OPT_NONCE:
            n = cli_hex_decode(optarg, nonce, sizeof nonce);
            if (n < CORIO_EAT_NONCE_MIN)
                return cli_usage_error("--nonce: expected 8 to 64 bytes in hex");
            c.nonce = nonce;
            c.nonce_len = (size_t)n;
            break;
        case OPT_COUNTER:
            if (cli_parse_u64(optarg, &c.counter) != 0)
                return cli_usage_error("--counter: expected an unsigned integer");
            c.has_counter = true;
            break;
        case OPT_FW_DIGEST:
            if (cli_hex_decode(optarg, c.fw_digest, sizeof c.fw_digest) != 32)
                return cli_usage_error("--fw-digest: expected a SHA-256 digest, 64 hex digits");
            have_digest = true;
            break;
        case OPT_FW_VERSION:
            c.fw_version = optarg;
            c.fw_version_len = strlen(optarg);
            break;
        case OPT_FW_NAME:
            c.fw_name = optarg;
            c.fw_name_len = strlen(optarg);
            break;
        case OPT_BOOT_COUNT:
            if (cli_parse_u64(optarg, &c.bootcount) != 0)
                return cli_usage_error("--boot-count: expected an unsigned integer");
            c.has_bootcount = true;
            break;
        case OPT_KEY_NUMBER:
            if (cli_parse_u64(optarg, &key_number) != 0 || key_number > UINT32_MAX)
                return cli_usage_error("--key-number: expected 0 to 4294967295");
            have_key_number = true;
            break;
        case OPT_DID:
            did_s = optarg;
            break;
        case OPT_IAT:
            if (cli_parse_u64(optarg, &c.iat) != 0)
                return cli_usage_error("--iat: expected seconds since 1970");
            c.has_iat = true;
            break;
        case OPT_NO_IAT:
            no_iat = true;
            break;
        case OPT_FORMAT:
            if (cli_parse_format(optarg, &format) != 0)
                return cli_usage_error("--format: expected hex, b64url or raw");
            break;
        case OPT_HELP:
            cli_command_help(stdout);
            return CLI_OK;
        default:
            return cli_usage_error("bad option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return cli_usage_error("unexpected argument '%s'", argv[optind]);
    if (!key_path)
        return cli_usage_error("--key is required");
    if (!c.aud)
        return cli_usage_error("--aud is required");
    if (c.aud_len == 0 || c.aud_len > CORIO_EAT_AUD_MAX)
        return cli_usage_error("--aud: 1 to %d bytes", CORIO_EAT_AUD_MAX);
    if (!c.nonce && !c.has_counter)
        return cli_usage_error("--nonce (challenge) or --counter (single-step) is required");
    if (have_digest != (c.fw_version != NULL))
        return cli_usage_error("--fw-digest and --fw-version go together");
    c.has_firmware = have_digest;
    if (c.fw_version && (c.fw_version_len == 0 || c.fw_version_len > CORIO_EAT_TEXT_MAX))
        return cli_usage_error("--fw-version: 1 to %d bytes", CORIO_EAT_TEXT_MAX);
    if (c.fw_name && (c.fw_name_len == 0 || c.fw_name_len > CORIO_EAT_TEXT_MAX))
        return cli_usage_error("--fw-name: 1 to %d bytes", CORIO_EAT_TEXT_MAX);
    if (no_iat && c.has_iat)
        return cli_usage_error("--iat and --no-iat exclude each other");
    if (!no_iat && !c.has_iat) {
        time_t now = time(NULL);
        if (now > 0) {
            c.iat = (uint64_t)now;
            c.has_iat = true;
        }
    }

    struct corio_key key;
    uint8_t pub[65];
    int rc = cli_load_key(key_path, &key);
    if (rc != CLI_OK)
        return rc;
    if (did_s) {
        struct corio_did d;
        if (corio_did_parse(did_s, strlen(did_s), &d) != CORIO_OK) {
            corio_key_close(&key);
            return cli_usage_error("--did: not a did:corio");
        }
        if (d.has_key && have_key_number && d.key != key_number) {
            corio_key_close(&key);
            return cli_usage_error("--did names key %u, --key-number %llu", (unsigned)d.key,
                                   (unsigned long long)key_number);
        }
        if (d.has_key)
            key_number = d.key;
        c.issuer = d;
    } else {
        /* Without --did the key founds its identity: key 0 of its own DID. */
        rc = corio_key_public(&key, pub);
        if (rc == CORIO_OK)
            rc = corio_did_from_key(&corio_crypto_openssl_ops, pub, sizeof pub, &c.issuer);
        if (rc != CORIO_OK) {
            corio_key_close(&key);
            cli_error("cannot derive the DID: %s", corio_strerror(rc));
            return CLI_FAIL;
        }
    }
    c.key_number = (uint32_t)key_number;
    uint8_t tok[CORIO_EAT_MAX_SIZE];
    n = corio_eat_make(&key, &c, tok, sizeof tok);
    corio_key_close(&key);
    if (n == CORIO_ERR_INVAL)
        return cli_usage_error("the claims are outside the EAT profile (text must be UTF-8)");
    if (n < 0) {
        cli_error("cannot make the token: %s", corio_strerror(n));
        return CLI_FAIL;
    }
    return cli_write_message(tok, (size_t)n, format);
}

static void print_text(const char *name, const char *s, size_t n)
{
    printf("%s %.*s\n", name, (int)n, s);
}

static int eat_verify(int argc, char **argv)
{
    static const struct option opts[] = {
        {"pub", required_argument, NULL, OPT_PUB},
        {"aud", required_argument, NULL, OPT_AUD},
        {"nonce", required_argument, NULL, OPT_NONCE},
        {"last-counter", required_argument, NULL, OPT_LAST_COUNTER},
        {"require-firmware", no_argument, NULL, OPT_REQUIRE_FW},
        {"assurance", required_argument, NULL, OPT_ASSURANCE},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    const char *pub_arg = NULL;
    struct corio_eat_expect e;
    uint8_t nonce[CORIO_EAT_NONCE_MAX];
    bool have_last = false;
    int n, opt;
    memset(&e, 0, sizeof e);
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        switch (opt) {
        case OPT_PUB:
            pub_arg = optarg;
            break;
        case OPT_AUD:
            e.aud = optarg;
            e.aud_len = strlen(optarg);
            break;
        case OPT_NONCE:
            n = cli_hex_decode(optarg, nonce, sizeof nonce);
            if (n < CORIO_EAT_NONCE_MIN)
                return cli_usage_error("--nonce: expected 8 to 64 bytes in hex");
            e.nonce = nonce;
            e.nonce_len = (size_t)n;
            break;
        case OPT_LAST_COUNTER:
            if (cli_parse_u64(optarg, &e.last_counter) != 0)
                return cli_usage_error("--last-counter: expected an unsigned integer");
            have_last = true;
            break;
        case OPT_REQUIRE_FW:
            e.require_firmware = true;
            break;
        case OPT_ASSURANCE:
            if (strcmp(optarg, "reported") == 0)
                e.registered_assurance = CORIO_EAT_REPORTED;
            else if (strcmp(optarg, "attestation") == 0)
                e.registered_assurance = CORIO_EAT_ATTESTED;
            else
                return cli_usage_error("--assurance: expected reported or attestation");
            break;
        case OPT_HELP:
            cli_command_help(stdout);
            return CLI_OK;
        default:
            return cli_usage_error("bad option '%s'", argv[optind - 1]);
        }
    }
    if (!pub_arg)
        return cli_usage_error("--pub is required");
    if (!e.aud)
        return cli_usage_error("--aud is required");
    if (!e.nonce == !have_last)
        return cli_usage_error("give exactly one of --nonce (challenge) and --last-counter "
                               "(single-step)");
    if (argc - optind > 1)
        return cli_usage_error("unexpected argument '%s'", argv[optind + 1]);
    const char *src = optind < argc ? argv[optind] : "-";

    uint8_t pub[65];
    int rc = cli_load_public(pub_arg, pub);
    if (rc != CLI_OK)
        return rc;
    uint8_t *tok;
    size_t len;
    rc = cli_read_message(src, &tok, &len);
    if (rc != CLI_OK)
        return rc;
    struct corio_eat_claims c;
    const char *why = NULL;
    rc = corio_eat_verify(&corio_crypto_openssl_ops, tok, len, pub, sizeof pub, &e, &c, &why);
    if (rc != CORIO_OK) {
        free(tok);
        if (rc == CORIO_ERR_CRYPTO || rc == CORIO_ERR_INVAL) {
            cli_error("cannot verify: %s", why ? why : corio_strerror(rc));
            return CLI_FAIL;
        }
        cli_error("token refused: %s", why ? why : corio_strerror(rc));
        return CLI_REFUSED;
    }
    char did[CORIO_DID_BUF];
    corio_did_format(&c.issuer, did, sizeof did);
    printf("ok\niss %s\nkey %u\n", did, (unsigned)c.key_number);
    print_text("aud", c.aud, c.aud_len);
    if (c.nonce) {
        printf("nonce ");
        cli_hex_print(stdout, c.nonce, c.nonce_len);
        putchar('\n');
    }
    if (c.has_counter)
        printf("counter %llu\n", (unsigned long long)c.counter);
    if (c.has_iat)
        printf("iat %llu\n", (unsigned long long)c.iat);
    if (c.has_bootcount)
        printf("boot-count %llu\n", (unsigned long long)c.bootcount);
    if (c.has_firmware) {
        printf("fw-digest ");
        cli_hex_print(stdout, c.fw_digest, sizeof c.fw_digest);
        putchar('\n');
        print_text("fw-version", c.fw_version, c.fw_version_len);
    }
    if (c.fw_name)
        print_text("fw-name", c.fw_name, c.fw_name_len);
    printf("assurance %s\n", c.assurance == CORIO_EAT_ATTESTED ? "attestation" : "reported");
    free(tok);
    return fflush(stdout) == 0 ? CLI_OK : CLI_FAIL;
}

static const struct cli_command commands[] = {
    {"make",
     "--key FILE --aud GW (--nonce HEX | --counter N) [--fw-digest HEX --fw-version V] "
     "[options]",
     "make an EAT signed by the key in FILE, for the gateway GW",
     "  --key FILE        the device's private key (PEM)\n"
     "  --aud GW          the verifier's id: the gateway's short id\n"
     "  --nonce HEX       the verifier's nonce, 8 to 64 bytes (challenge mode)\n"
     "  --counter N       the device's monotonic counter (single-step mode)\n"
     "  --fw-digest HEX   SHA-256 of the running firmware (64 hex digits)\n"
     "  --fw-version V    its version (1 to 32 bytes); goes with --fw-digest\n"
     "  --fw-name NAME    its name (swname)\n"
     "  --boot-count N    the boot counter\n"
     "  --did DID         the device's DID (did:corio:<id>[#<n>]); default: the DID\n"
     "                    the key founds as key 0\n"
     "  --key-number N    which of the DID's keys FILE is (default 0)\n"
     "  --iat SECONDS     issued-at time; default now; --no-iat leaves it out\n"
     "  --format F        hex (default), b64url or raw\n"
     "The token claims assurance \"reported\": a key in a file is within the\n"
     "application's reach (docs/eat-profile.md).\n",
     eat_make},
    {"verify", "--pub KEY --aud GW (--nonce HEX | --last-counter N) [options] [TOKEN]",
     "verify an EAT against the device's public key and what the verifier expects",
     "  --pub KEY            the device's public key: did:key, zDn..., hex, or a PEM file\n"
     "  --aud GW             this verifier's id; the token's aud must equal it\n"
     "  --nonce HEX          the nonce this verifier issued (challenge mode)\n"
     "  --last-counter N     single-step mode: the token's counter must exceed N\n"
     "  --require-firmware   the token must carry the firmware digest and version\n"
     "  --assurance LEVEL    the device record's level (reported or attestation): a\n"
     "                       token claiming more is refused\n"
     "  TOKEN                a file (raw, hex or base64url), '-' for standard input\n"
     "                       (the default), or the token itself in hex or base64url\n"
     "Prints ok and the claims, one per line, or the reason for refusing (exit 1).\n",
     eat_verify},
};

const struct cli_group cli_group_eat = {"eat", "entity attestation tokens", commands,
                                        sizeof commands / sizeof commands[0]};
