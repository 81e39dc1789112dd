/*
 * cmd_key.c - `corio key`: key files. Keys are P-256, made by the OpenSSL backend and
 * written as unencrypted PKCS#8 PEM with mode 0600 (corio_openssl_key_write_pem: the
 * file appears whole or not at all, and an existing file is never replaced).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <openssl/pem.h>

#include "cli.h"
#include "corio/error.h"
#include "crypto_openssl.h"

static int key_new(int argc, char **argv)
{
    static const struct option opts[] = {
        {"out", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out = NULL;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            out = optarg;
            break;
        case 'h':
            cli_command_help(stdout);
            return CLI_OK;
        default:
            return cli_usage_error("bad option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return cli_usage_error("unexpected argument '%s'", argv[optind]);

    struct corio_key key;
    uint8_t pub[65];
    int rc = corio_key_generate(&corio_crypto_openssl_ops, 0, CORIO_KEY_EXPORTABLE, &key);
    if (rc == CORIO_OK)
        rc = corio_key_public(&key, pub);
    if (rc != CORIO_OK) {
        corio_key_close(&key);
        cli_error("cannot make a key: %s", corio_strerror(rc));
        return CLI_FAIL;
    }
    if (!out) {
        int ok = PEM_write_PKCS8PrivateKey(stdout, corio_openssl_key_pkey(&key), NULL, NULL, 0,
                                           NULL, NULL) == 1 &&
                 fflush(stdout) == 0;
        corio_key_close(&key);
        if (!ok) {
            cli_error("cannot write the key to standard output");
            return CLI_FAIL;
        }
        return CLI_OK;
    }
    rc = corio_openssl_key_write_pem(&key, out);
    corio_key_close(&key);
    if (rc == CORIO_ERR_STATE) {
        cli_error("%s: exists; not replacing a key file", out);
        return CLI_INPUT;
    }
    if (rc != CORIO_OK) {
        cli_error("%s: cannot write the key: %s", out, corio_strerror(rc));
        return CLI_FAIL;
    }
    return cli_print_identity(pub);
}

static const struct cli_command commands[] = {
    {"new", "[--out FILE]", "make a P-256 key; write it to FILE (mode 0600) or to stdout",
     "  --out FILE   write the key as PKCS#8 PEM to FILE, created with mode 0600 (never\n"
     "               replaces a file), and print the key's did, didkey, id and pub;\n"
     "               without it the PEM goes to standard output\n",
     key_new},
};

const struct cli_group cli_group_key = {"key", "key files", commands,
                                        sizeof commands / sizeof commands[0]};
