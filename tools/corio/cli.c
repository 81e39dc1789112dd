/*
 * cli.c - helpers shared by the corio command's groups (cli.h): error lines, hex and
 * base64url, numbers, files, keys and messages from the command line.
 */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "corio/did.h"
#include "corio/error.h"
#include "corio/p256.h"
#include "crypto_openssl.h"

const struct cli_group *cli_current_group;
const struct cli_command *cli_current_command;

/* Messages and key files are small; anything bigger is a mistake. */
#define CLI_FILE_MAX (1u << 20)

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("corio: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("corio: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (cli_current_group && cli_current_command)
        fprintf(stderr, "usage: corio %s %s %s\n(see corio %s %s --help)\n",
                cli_current_group->name, cli_current_command->name, cli_current_command->usage,
                cli_current_group->name, cli_current_command->name);
    return CLI_USAGE;
}

void cli_command_help(FILE *f)
{
    if (!cli_current_group || !cli_current_command)
        return;
    fprintf(f, "usage: corio %s %s %s\n\n%s\n", cli_current_group->name, cli_current_command->name,
            cli_current_command->usage, cli_current_command->summary);
    if (cli_current_command->help)
        fprintf(f, "\n%s", cli_current_command->help);
    fprintf(f, "\nExit codes: 0 ok, 1 refused, 2 usage, 3 bad input, 4 failure "
               "(corio --help).\n");
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int cli_hex_decode(const char *s, uint8_t *out, size_t cap)
{
    size_t n = strlen(s);
    if (n % 2 || n / 2 > cap)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval((unsigned char)s[2 * i]), lo = hexval((unsigned char)s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return (int)(n / 2);
}

void cli_hex_print(FILE *f, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%02x", p[i]);
}

static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int cli_b64url_encode(const uint8_t *p, size_t n, char *out, size_t cap)
{
    size_t need = (n * 8 + 5) / 6;
    if (cap < need + 1)
        return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = acc << 8 | p[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = B64URL[(acc >> bits) & 63];
        }
    }
    if (bits)
        out[o++] = B64URL[(acc << (6 - bits)) & 63];
    out[o] = 0;
    return (int)o;
}

int cli_b64url_decode(const char *s, size_t n, uint8_t *out, size_t cap)
{
    if (n % 4 == 1)
        return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        const char *at = s[i] ? strchr(B64URL, s[i]) : NULL;
        if (!at)
            return -1;
        acc = acc << 6 | (uint32_t)(at - B64URL);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o == cap)
                return -1;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    /* The spare bits of the last character must be zero: one spelling per value. */
    if (bits && (acc & ((1u << bits) - 1)))
        return -1;
    return (int)o;
}

int cli_parse_u64(const char *s, uint64_t *v)
{
    if (!*s || *s == '-' || *s == '+')
        return -1;
    for (const char *c = s; *c; c++)
        if (*c < '0' || *c > '9')
            return -1;
    errno = 0;
    char *end;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *v = x;
    return 0;
}

int cli_read_file(const char *path, size_t max, uint8_t **buf, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        cli_error("%s: %s", path, strerror(errno));
        return CLI_INPUT;
    }
    uint8_t *b = malloc(max + 1);
    if (!b) {
        if (f != stdin)
            fclose(f);
        cli_error("out of memory");
        return CLI_FAIL;
    }
    size_t n = fread(b, 1, max + 1, f);
    int err = ferror(f);
    if (f != stdin)
        fclose(f);
    if (err) {
        free(b);
        cli_error("%s: cannot read it", path);
        return CLI_INPUT;
    }
    if (n > max) {
        free(b);
        cli_error("%s: larger than %zu bytes", path, max);
        return CLI_INPUT;
    }
    *buf = b;
    *len = n;
    return CLI_OK;
}

/* The length without trailing whitespace (a text file's final newline). */
static size_t trimmed_len(const uint8_t *p, size_t n)
{
    while (n && (p[n - 1] == '\n' || p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    return n;
}

/* Whether p[0..n) is non-empty and made only of characters of set. */
static int all_of(const uint8_t *p, size_t n, const char *set)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!p[i] || !strchr(set, p[i]))
            return 0;
    return 1;
}

int cli_read_message(const char *arg, uint8_t **buf, size_t *len)
{
    uint8_t *b;
    size_t n;
    FILE *probe = strcmp(arg, "-") == 0 ? NULL : fopen(arg, "rb");
    if (probe)
        fclose(probe);
    if (probe || strcmp(arg, "-") == 0) {
        int rc = cli_read_file(arg, CLI_FILE_MAX, &b, &n);
        if (rc != CLI_OK)
            return rc;
    } else {
        /* Not a file: the message itself, as text. */
        n = strlen(arg);
        b = malloc(n + 1);
        if (!b)
            return CLI_FAIL;
        memcpy(b, arg, n);
        if (!all_of(b, n, "0123456789abcdefABCDEF") && !all_of(b, n, B64URL)) {
            free(b);
            cli_error("%s: no such file, and not a hex or base64url message", arg);
            return CLI_INPUT;
        }
    }
    size_t t = trimmed_len(b, n);
    int m = -1;
    if (all_of(b, t, "0123456789abcdefABCDEF") && t % 2 == 0) {
        char *s = malloc(t + 1);
        if (!s) {
            free(b);
            return CLI_FAIL;
        }
        memcpy(s, b, t);
        s[t] = 0;
        m = cli_hex_decode(s, b, n);
        free(s);
    } else if (all_of(b, t, B64URL)) {
        uint8_t *raw = malloc(t);
        if (!raw) {
            free(b);
            return CLI_FAIL;
        }
        m = cli_b64url_decode((const char *)b, t, raw, t);
        if (m >= 0)
            memcpy(b, raw, (size_t)m);
        free(raw);
        if (m < 0) {
            free(b);
            cli_error("%s: bad base64url", arg);
            return CLI_INPUT;
        }
    } else {
        m = (int)n; /* raw CBOR */
    }
    if (m <= 0) {
        free(b);
        cli_error("%s: empty or unreadable message", arg);
        return CLI_INPUT;
    }
    *buf = b;
    *len = (size_t)m;
    return CLI_OK;
}

static int key_error(const char *path, int rc)
{
    switch (rc) {
    case CORIO_ERR_NOTFOUND:
        cli_error("%s: no such file", path);
        break;
    case CORIO_ERR_UNSUPPORTED:
        cli_error("%s: not an unencrypted P-256 key", path);
        break;
    case CORIO_ERR_MALFORMED:
        cli_error("%s: no PEM private key in it", path);
        break;
    default:
        cli_error("%s: cannot read the key: %s", path, corio_strerror(rc));
    }
    return CLI_INPUT;
}

int cli_load_key(const char *path, struct corio_key *key)
{
    int rc = corio_openssl_key_read_pem(path, key);
    return rc == CORIO_OK ? CLI_OK : key_error(path, rc);
}

/* A PEM file with a public key ("BEGIN PUBLIC KEY") or a private one. */
static int public_from_file(const char *path, uint8_t pub[65])
{
    FILE *f = fopen(path, "r");
    if (!f) {
        cli_error("%s: no such file, and not a public key (did:key, zDn..., hex)", path);
        return CLI_INPUT;
    }
    EVP_PKEY *pkey = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    if (pkey) {
        size_t n = 0;
        uint8_t raw[65];
        int ok = EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, raw,
                                                 sizeof raw, &n) == 1;
        EVP_PKEY_free(pkey);
        if (!ok || corio_p256_point_parse(raw, n, pub) != CORIO_OK) {
            cli_error("%s: not a P-256 public key", path);
            return CLI_INPUT;
        }
        return CLI_OK;
    }
    struct corio_key key;
    int rc = cli_load_key(path, &key);
    if (rc != CLI_OK)
        return rc;
    rc = corio_key_public(&key, pub);
    corio_key_close(&key);
    if (rc != CORIO_OK) {
        cli_error("%s: %s", path, corio_strerror(rc));
        return CLI_FAIL;
    }
    return CLI_OK;
}

int cli_load_public(const char *arg, uint8_t pub[65])
{
    size_t n = strlen(arg);
    if (strncmp(arg, CORIO_DIDKEY_PREFIX, CORIO_DIDKEY_PREFIX_LEN) == 0) {
        if (corio_didkey_parse(arg, n, pub) != CORIO_OK) {
            cli_error("%s: not a P-256 did:key", arg);
            return CLI_INPUT;
        }
        return CLI_OK;
    }
    if (n == CORIO_MULTIKEY_LEN && arg[0] == 'z' && corio_multikey_parse(arg, n, pub) == CORIO_OK)
        return CLI_OK;
    if ((n == 66 || n == 130) && all_of((const uint8_t *)arg, n, "0123456789abcdefABCDEF")) {
        uint8_t raw[65];
        int m = cli_hex_decode(arg, raw, sizeof raw);
        if (m < 0 || corio_p256_point_parse(raw, (size_t)m, pub) != CORIO_OK) {
            cli_error("%s: not a P-256 public key", arg);
            return CLI_INPUT;
        }
        return CLI_OK;
    }
    return public_from_file(arg, pub);
}

int cli_parse_format(const char *s, enum cli_format *f)
{
    if (strcmp(s, "hex") == 0)
        *f = CLI_FORMAT_HEX;
    else if (strcmp(s, "b64url") == 0 || strcmp(s, "base64url") == 0)
        *f = CLI_FORMAT_B64URL;
    else if (strcmp(s, "raw") == 0)
        *f = CLI_FORMAT_RAW;
    else
        return -1;
    return 0;
}

int cli_write_message(const uint8_t *p, size_t n, enum cli_format f)
{
    int ok;
    if (f == CLI_FORMAT_RAW) {
        ok = fwrite(p, 1, n, stdout) == n;
    } else if (f == CLI_FORMAT_HEX) {
        cli_hex_print(stdout, p, n);
        ok = putchar('\n') != EOF;
    } else {
        char *s = malloc(n * 2 + 2);
        ok = s && cli_b64url_encode(p, n, s, n * 2 + 2) >= 0 && printf("%s\n", s) > 0;
        free(s);
    }
    if (fflush(stdout) != 0 || !ok) {
        cli_error("cannot write the output: %s", strerror(errno));
        return CLI_FAIL;
    }
    return CLI_OK;
}

int cli_print_identity(const uint8_t pub[65])
{
    struct corio_did did;
    char did_s[CORIO_DID_BUF], key_s[CORIO_DIDKEY_BUF], id_s[CORIO_DID_ID_CHARS + 1];
    uint8_t comp[CORIO_P256_PUB_COMPRESSED];
    int rc = corio_did_from_key(&corio_crypto_openssl_ops, pub, CORIO_P256_PUB_LEN, &did);
    if (rc == CORIO_OK && corio_did_format(&did, did_s, sizeof did_s) < 0)
        rc = CORIO_ERR_INVAL;
    if (rc == CORIO_OK && corio_didkey_format(pub, CORIO_P256_PUB_LEN, key_s, sizeof key_s) < 0)
        rc = CORIO_ERR_INVAL;
    if (rc == CORIO_OK && corio_did_id_format(did.id, id_s, sizeof id_s) < 0)
        rc = CORIO_ERR_INVAL;
    if (rc == CORIO_OK)
        rc = corio_p256_compress(pub, comp);
    if (rc != CORIO_OK) {
        cli_error("cannot derive the identity: %s", corio_strerror(rc));
        return CLI_FAIL;
    }
    printf("did %s\ndidkey %s\nid %s\npub ", did_s, key_s, id_s);
    cli_hex_print(stdout, comp, sizeof comp);
    putchar('\n');
    return fflush(stdout) == 0 ? CLI_OK : CLI_FAIL;
}
