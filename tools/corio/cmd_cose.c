/*
 * cmd_cose.c - `corio cose`: sign and verify COSE messages (include/corio/cose.h):
 * COSE_Sign1, and COSE_Sign with any of its signers.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "corio/cose.h"
#include "corio/error.h"
#include "crypto_openssl.h"

enum {
    OPT_PUB = 256,
    OPT_KEY,
    OPT_KID,
    OPT_AAD,
    OPT_PAYLOAD,
    OPT_PRINT_PAYLOAD,
    OPT_DETACHED,
    OPT_UNTAGGED,
    OPT_FORMAT,
    OPT_HELP,
};

/* Largest external aad accepted on the command line. */
#define AAD_MAX 1024
#define MSG_MAX (1u << 20)

static void print_kid(const uint8_t *kid, size_t n)
{
    bool text = n > 0;
    for (size_t i = 0; i < n; i++)
        text &= kid[i] >= 0x20 && kid[i] < 0x7f;
    printf("kid ");
    if (text)
        printf("%.*s", (int)n, (const char *)kid);
    else
        cli_hex_print(stdout, kid, n);
    putchar('\n');
}

static const char *why_not(int rc)
{
    switch (rc) {
    case CORIO_ERR_BADSIG:
        return "the signature does not verify (or has a high S)";
    case CORIO_ERR_UNSUPPORTED:
        return "not ES256, or an unknown critical header";
    case CORIO_ERR_MALFORMED:
        return "not a well-formed COSE_Sign1 or COSE_Sign";
    case CORIO_ERR_POLICY:
        return "alg in a COSE_Sign body header";
    default:
        return corio_strerror(rc);
    }
}

static int cose_verify(int argc, char **argv)
{
    static const struct option opts[] = {
        {"pub", required_argument, NULL, OPT_PUB},
        {"aad", required_argument, NULL, OPT_AAD},
        {"payload", required_argument, NULL, OPT_PAYLOAD},
        {"print-payload", no_argument, NULL, OPT_PRINT_PAYLOAD},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    const char *pub_arg = NULL, *payload_path = NULL;
    static uint8_t aad[AAD_MAX];
    size_t aad_len = 0;
    bool print_payload = false;
    int opt, n;
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        switch (opt) {
        case OPT_PUB:
            pub_arg = optarg;
            break;
        case OPT_AAD:
            n = cli_hex_decode(optarg, aad, sizeof aad);
            if (n < 0)
                return cli_usage_error("--aad: expected hex, at most %d bytes", AAD_MAX);
            aad_len = (size_t)n;
            break;
        case OPT_PAYLOAD:
            payload_path = optarg;
            break;
        case OPT_PRINT_PAYLOAD:
            print_payload = true;
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
    if (argc - optind != 1)
        return cli_usage_error("expected one message: a file, '-', or hex or base64url");
    uint8_t pub[65];
    int rc = cli_load_public(pub_arg, pub);
    if (rc != CLI_OK)
        return rc;
    uint8_t *msg = NULL, *detached = NULL;
    size_t len = 0, detached_len = 0;
    rc = cli_read_message(argv[optind], &msg, &len);
    if (rc == CLI_OK && payload_path)
        rc = cli_read_file(payload_path, MSG_MAX, &detached, &detached_len);
    if (rc != CLI_OK) {
        free(msg);
        return rc;
    }

    const struct corio_crypto_ops *ops = &corio_crypto_openssl_ops;
    const uint8_t *payload = NULL, *kid = NULL;
    size_t payload_len = 0, kid_len = 0;
    bool is_detached = false;
    char which[64] = "";
    struct corio_cose_sign1 m1;
    struct corio_cose_sign m;
    int vr = corio_cose_sign1_decode(msg, len, &m1), vs;
    if (vr == CORIO_OK) {
        is_detached = m1.detached;
        if (is_detached != (detached != NULL)) {
            vr = CORIO_ERR_INVAL;
        } else {
            vr = corio_cose_sign1_verify(ops, &m1, pub, sizeof pub, aad, aad_len, detached,
                                         detached_len);
            payload = m1.payload;
            payload_len = m1.payload_len;
            kid = m1.kid;
            kid_len = m1.kid_len;
        }
    } else if ((vs = corio_cose_sign_decode(msg, len, &m)) == CORIO_OK) {
        /* A COSE_Sign: valid when one of its signatures is by this key. */
        is_detached = m.detached;
        vr = is_detached != (detached != NULL) ? CORIO_ERR_INVAL : CORIO_ERR_BADSIG;
        for (size_t i = 0; i < m.count && vr == CORIO_ERR_BADSIG; i++) {
            struct corio_cose_signature s;
            vr = corio_cose_sign_signature(&m, i, &s);
            if (vr == CORIO_OK)
                vr = corio_cose_sign_verify(ops, &m, &s, pub, sizeof pub, aad, aad_len, detached,
                                            detached_len);
            if (vr == CORIO_OK) {
                snprintf(which, sizeof which, "signature %zu of %zu\n", i + 1, m.count);
                kid = s.kid;
                kid_len = s.kid_len;
            }
        }
        payload = m.payload;
        payload_len = m.payload_len;
    } else if (vr == CORIO_ERR_MALFORMED) {
        /* Neither: the COSE_Sign reading's reason when it says more than "malformed". */
        vr = vs;
    }
    if (vr == CORIO_ERR_INVAL) {
        free(msg);
        free(detached);
        if (is_detached)
            return cli_usage_error("the payload is detached: give it with --payload FILE");
        return cli_usage_error("the payload is embedded: --payload does not apply");
    }
    if (vr != CORIO_OK) {
        free(msg);
        free(detached);
        cli_error("refused: %s", why_not(vr));
        return CLI_REFUSED;
    }
    printf("ok\n%s", which);
    if (kid)
        print_kid(kid, kid_len);
    if (is_detached) {
        printf("payload detached, %zu bytes\n", detached_len);
    } else {
        printf("payload %zu bytes\n", payload_len);
        if (print_payload) {
            printf("payload-hex ");
            cli_hex_print(stdout, payload, payload_len);
            putchar('\n');
        }
    }
    free(msg);
    free(detached);
    return fflush(stdout) == 0 ? CLI_OK : CLI_FAIL;
}

static int cose_sign(int argc, char **argv)
{
    static const struct option opts[] = {
        {"key", required_argument, NULL, OPT_KEY},
        {"kid", required_argument, NULL, OPT_KID},
        {"aad", required_argument, NULL, OPT_AAD},
        {"detached", no_argument, NULL, OPT_DETACHED},
        {"untagged", no_argument, NULL, OPT_UNTAGGED},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    const char *key_path = NULL, *kid = NULL;
    static uint8_t aad[AAD_MAX];
    size_t aad_len = 0;
    unsigned flags = 0;
    enum cli_format format = CLI_FORMAT_HEX;
    int opt, n;
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        switch (opt) {
        case OPT_KEY:
            key_path = optarg;
            break;
        case OPT_KID:
            kid = optarg;
            break;
        case OPT_AAD:
            n = cli_hex_decode(optarg, aad, sizeof aad);
            if (n < 0)
                return cli_usage_error("--aad: expected hex, at most %d bytes", AAD_MAX);
            aad_len = (size_t)n;
            break;
        case OPT_DETACHED:
            flags |= CORIO_COSE_DETACHED;
            break;
        case OPT_UNTAGGED:
            flags |= CORIO_COSE_UNTAGGED;
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
    if (!key_path)
        return cli_usage_error("--key is required");
    if (argc - optind != 1)
        return cli_usage_error("expected one payload file ('-' for standard input)");
    struct corio_key key;
    int rc = cli_load_key(key_path, &key);
    if (rc != CLI_OK)
        return rc;
    uint8_t *payload;
    size_t payload_len;
    rc = cli_read_file(argv[optind], MSG_MAX, &payload, &payload_len);
    if (rc != CLI_OK) {
        corio_key_close(&key);
        return rc;
    }
    size_t kid_len = kid ? strlen(kid) : 0;
    size_t cap = CORIO_COSE_SIGN1_MAX(kid_len, payload_len);
    uint8_t *out = malloc(cap);
    n = out ? corio_cose_sign1_sign(&key, (const uint8_t *)kid, kid_len, aad, aad_len, payload,
                                    payload_len, flags, out, cap)
            : CORIO_ERR_NOSPACE;
    corio_key_close(&key);
    free(payload);
    if (n < 0) {
        free(out);
        cli_error("cannot sign: %s", corio_strerror(n));
        return CLI_FAIL;
    }
    rc = cli_write_message(out, (size_t)n, format);
    free(out);
    return rc;
}

static const struct cli_command commands[] = {
    {"verify", "--pub KEY [--aad HEX] [--payload FILE] [--print-payload] MESSAGE",
     "verify a COSE_Sign1 (or a COSE_Sign signature) against a public key",
     "  --pub KEY         did:key, zDn..., hex of a 33- or 65-byte point, or a PEM file\n"
     "  --aad HEX         external additional data the signer bound\n"
     "  --payload FILE    the payload of a detached message\n"
     "  --print-payload   print the embedded payload in hex\n"
     "  MESSAGE           a file (raw CBOR, hex or base64url), '-' for standard input,\n"
     "                    or the message itself in hex or base64url\n"
     "Only ES256 with a low S verifies (docs/crypto.md).\n",
     cose_verify},
    {"sign", "--key FILE [--kid TEXT] [--aad HEX] [--detached] [--untagged] [--format F] PAYLOAD",
     "sign the file PAYLOAD ('-' for standard input) into a COSE_Sign1",
     "  --key FILE     the signer's private key (PEM)\n"
     "  --kid TEXT     key id for the protected header (e.g. did:corio:<id>#<n>)\n"
     "  --aad HEX      external additional data to bind\n"
     "  --detached     leave the payload out of the message\n"
     "  --untagged     leave out tag 18\n"
     "  --format F     hex (default), b64url or raw\n",
     cose_sign},
};

const struct cli_group cli_group_cose = {"cose", "COSE signatures", commands,
                                         sizeof commands / sizeof commands[0]};
