/*
 * test_cli_identity.c - the real `corio` binary ($CORIO_BIN_DIR/corio) for keys, DIDs,
 * EATs and COSE: outputs checked against the library, tokens and messages crossing
 * between the CLI (OpenSSL) and the library's PSA backend in both directions, the
 * published COSE examples, and the documented exit code of every kind of failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "corio/cose.h"
#include "corio/crypto.h"
#include "corio/crypto_psa.h"
#include "corio/did.h"
#include "corio/eat.h"
#include "corio/error.h"
#include "crypto_openssl.h"
#include "harness.h"

/* One run of the command: its exit status and what it printed (stdout and stderr
 * together, in order; error lines start "corio: "). */
struct result {
    int status;
    const char *out;
};

static void run_corio(struct result *r, const char *const *args)
{
    const char *argv[40] = {h_bin("corio")};
    size_t n = 1;
    while (args[n - 1]) {
        assert_true(n < 39);
        argv[n] = args[n - 1];
        n++;
    }
    argv[n] = NULL;
    char *out = NULL;
    r->status = h_run("corio", argv, NULL, 30000, &out);
    r->out = out ? out : "";
}

/* A shell line, for redirections ($C is the corio binary); runs in h_dir(). */
static int shell(const char *line)
{
    const char *argv[] = {"/bin/sh", "-c", h_strf("C='%s'; %s", h_bin("corio"), line), NULL};
    return h_run("sh", argv, NULL, 30000, NULL);
}

#define RUN(r, ...)                                                                                \
    do {                                                                                           \
        const char *args_[] = {__VA_ARGS__, NULL};                                                 \
        run_corio((r), args_);                                                                     \
    } while (0)
#define EXPECT_EXIT(r, code)                                                                       \
    do {                                                                                           \
        if ((r)->status != (code))                                                                 \
            fail_msg("line %d: exit %d, want %d\n%s", __LINE__, (r)->status, (code), (r)->out);    \
    } while (0)

/* The value of the line "name value" in out, copied into v. */
static void field(const struct result *r, const char *name, char *v, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *line = r->out; line && *line;
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, name, nl) == 0 && line[nl] == ' ') {
            const char *s = line + nl + 1, *e = strchr(s, '\n');
            size_t n = e ? (size_t)(e - s) : strlen(s);
            assert_true(n < cap);
            memcpy(v, s, n);
            v[n] = 0;
            return;
        }
    }
    fail_msg("no line '%s' in:\n%s", name, r->out);
}

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex) / 2;
    assert_true(n <= cap);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
    return n;
}

/* Writes p[0..n) to name, relative to the test's directory. */
static void write_file(const char *name, const void *p, size_t n)
{
    FILE *f = fopen(h_strf("%s/%s", h_dir(), name), "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static const char *path(const char *name)
{
    return h_strf("%s/%s", h_dir(), name);
}

/* The first line of out, without its newline, as a scope-owned string. */
static char *first_line(const char *out)
{
    const char *e = strchr(out, '\n');
    return h_strf("%.*s", (int)(e ? (size_t)(e - out) : strlen(out)), out);
}

static int group_setup(void **state)
{
    (void)state;
    return corio_crypto_psa_init() == CORIO_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    corio_crypto_psa_deinit();
    return 0;
}

static struct result R;

static void help_and_usage_errors(void **state)
{
    (void)state;
    RUN(&R, "--help");
    EXPECT_EXIT(&R, 0);
    assert_non_null(strstr(R.out, "Exit codes:"));
    for (int code = 0; code <= 4; code++) {
        char needle[8];
        snprintf(needle, sizeof needle, "  %d  ", code);
        assert_non_null(strstr(R.out, needle));
    }
    assert_non_null(strstr(R.out, "corio key new"));
    assert_non_null(strstr(R.out, "corio did show"));
    assert_non_null(strstr(R.out, "corio eat make"));
    assert_non_null(strstr(R.out, "corio eat verify"));
    assert_non_null(strstr(R.out, "corio cose verify"));
    RUN(&R, "eat", "make", "--help");
    EXPECT_EXIT(&R, 0);
    assert_non_null(strstr(R.out, "--fw-digest"));
    RUN(&R, "cose", "--help");
    EXPECT_EXIT(&R, 0);
    const char *const usage_errors[][4] = {
        {"nope"},
        {"key"},
        {"key", "nope"},
        {"key", "new", "--bogus"},
        {"key", "new", "extra"},
        {"did", "show"},
        {"eat", "make"},
        {"eat", "verify", "--aud", "x"},
    };
    for (size_t i = 0; i < sizeof usage_errors / sizeof usage_errors[0]; i++) {
        const char *args[6] = {0};
        for (size_t k = 0; k < 4 && usage_errors[i][k]; k++)
            args[k] = usage_errors[i][k];
        run_corio(&R, args);
        EXPECT_EXIT(&R, 2);
        assert_non_null(strstr(R.out, "corio: "));
    }
    const char *none[] = {NULL};
    run_corio(&R, none);
    EXPECT_EXIT(&R, 2);
}

static void key_new_and_did_show(void **state)
{
    (void)state;
    RUN(&R, "key", "new", "--out", "dev.pem");
    EXPECT_EXIT(&R, 0);
    struct stat st;
    assert_int_equal(stat(path("dev.pem"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char did[128], didkey[128], id[64], pub[80];
    field(&R, "did", did, sizeof did);
    field(&R, "didkey", didkey, sizeof didkey);
    field(&R, "id", id, sizeof id);
    field(&R, "pub", pub, sizeof pub);

    /* The library agrees with what the command printed. */
    struct corio_key key;
    uint8_t full[65], comp[33], got[65];
    struct corio_did d;
    char s[CORIO_DIDKEY_BUF];
    assert_int_equal(corio_openssl_key_read_pem(path("dev.pem"), &key), CORIO_OK);
    assert_int_equal(corio_key_public(&key, full), CORIO_OK);
    corio_key_close(&key);
    assert_int_equal(corio_did_from_key(&corio_crypto_psa_ops, full, 65, &d), CORIO_OK);
    assert_int_equal(corio_did_format(&d, s, sizeof s), 34);
    assert_string_equal(did, s);
    assert_int_equal(corio_did_id_format(d.id, s, sizeof s), 24);
    assert_string_equal(id, s);
    assert_int_equal(corio_didkey_parse(didkey, strlen(didkey), got), CORIO_OK);
    assert_memory_equal(got, full, 65);
    assert_int_equal(unhex(pub, comp, sizeof comp), 33);
    assert_int_equal(corio_p256_compress(full, got), CORIO_OK);
    assert_memory_equal(comp, got, 33);

    /* An existing file is never replaced. */
    RUN(&R, "key", "new", "--out", "dev.pem");
    EXPECT_EXIT(&R, 3);
    assert_non_null(strstr(R.out, "exists"));
    RUN(&R, "key", "new", "--out", "no-such-dir/k.pem");
    EXPECT_EXIT(&R, 4);

    /* Every spelling of the key shows the same identity. */
    char hex65[140] = "04";
    for (int i = 0; i < 64; i++)
        snprintf(hex65 + 2 + 2 * i, 3, "%02x", full[1 + i]);
    const char *forms[] = {"dev.pem", didkey, didkey + 8, pub, hex65};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        RUN(&R, "did", "show", forms[i]);
        EXPECT_EXIT(&R, 0);
        char v[128];
        field(&R, "did", v, sizeof v);
        assert_string_equal(v, did);
        field(&R, "didkey", v, sizeof v);
        assert_string_equal(v, didkey);
    }
    /* A PEM public key too. */
    EVP_PKEY *pk = NULL;
    assert_int_equal(corio_openssl_pkey_from_public(full, &pk), CORIO_OK);
    FILE *f = fopen(path("dev.pub"), "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PUBKEY(f, pk), 1);
    fclose(f);
    EVP_PKEY_free(pk);
    RUN(&R, "did", "show", "dev.pub");
    EXPECT_EXIT(&R, 0);
    char v[128];
    field(&R, "did", v, sizeof v);
    assert_string_equal(v, did);

    /* Without --out the key is PEM on stdout, and it is a usable key. */
    RUN(&R, "key", "new");
    EXPECT_EXIT(&R, 0);
    assert_non_null(strstr(R.out, "-----BEGIN PRIVATE KEY-----"));
    write_file("stdout.pem", R.out, strlen(R.out));
    RUN(&R, "did", "show", "stdout.pem");
    EXPECT_EXIT(&R, 0);

    /* Bad inputs: exit 3 with a reason. */
    write_file("junk.pem", "not a key\n", 10);
    const char *bad[] = {"missing.pem", "junk.pem",
                         "did:key:zDnaeQRy3dcKsKa1zmKtVKsTy3m2HYoQnFnfKuxD6HfSTQgYg",
                         "did:key:z6MkeTGwHmLmuCmgg4ABYhzWVh6ZX7hTwWt8gguAretUfc9c",
                         "05dfdd3c9b9fdf7794ca9b78ce2c75f133e309c9b83d52fd0966829b5d390650dc"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        RUN(&R, "did", "show", bad[i]);
        EXPECT_EXIT(&R, 3);
        assert_non_null(strstr(R.out, "corio: "));
    }
}

static const char *GW = "ab2cd3ef4gh5ij6kl7mn2op3";
static const char *NONCE = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
static const char *DIGEST = "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881";

static void eat_from_the_cli(void **state)
{
    (void)state;
    RUN(&R, "key", "new", "--out", "eat.pem");
    EXPECT_EXIT(&R, 0);
    char didkey[128], did[64];
    field(&R, "didkey", didkey, sizeof didkey);
    field(&R, "did", did, sizeof did);

    RUN(&R, "eat", "make", "--key", "eat.pem", "--aud", GW, "--nonce", NONCE, "--fw-digest", DIGEST,
        "--fw-version", "2.0.1", "--fw-name", "demo", "--boot-count", "12", "--iat", "1764500000");
    EXPECT_EXIT(&R, 0);
    const char *tok_hex = first_line(R.out);

    /* The library (PSA) verifies what the CLI (OpenSSL) made. */
    uint8_t tok[2048], pub[65], nonce[32];
    size_t n = unhex(tok_hex, tok, sizeof tok);
    assert_int_equal(corio_didkey_parse(didkey, strlen(didkey), pub), CORIO_OK);
    unhex(NONCE, nonce, sizeof nonce);
    struct corio_eat_expect e = {.aud = GW,
                                 .aud_len = strlen(GW),
                                 .nonce = nonce,
                                 .nonce_len = 32,
                                 .require_firmware = true};
    struct corio_eat_claims c;
    assert_int_equal(corio_eat_verify(&corio_crypto_psa_ops, tok, n, pub, 65, &e, &c, NULL),
                     CORIO_OK);
    assert_int_equal(c.bootcount, 12);
    assert_int_equal(c.iat, 1764500000);
    assert_int_equal(c.assurance, CORIO_EAT_REPORTED);
    assert_int_equal(c.fw_version_len, 5);

    /* The CLI verifies it: from the command line, a file, and stdin. */
    RUN(&R, "eat", "verify", "--pub", didkey, "--aud", GW, "--nonce", NONCE, "--require-firmware",
        tok_hex);
    EXPECT_EXIT(&R, 0);
    char v[256];
    field(&R, "iss", v, sizeof v);
    assert_string_equal(v, did);
    field(&R, "fw-digest", v, sizeof v);
    assert_string_equal(v, DIGEST);
    field(&R, "boot-count", v, sizeof v);
    assert_string_equal(v, "12");
    field(&R, "assurance", v, sizeof v);
    assert_string_equal(v, "reported");
    write_file("tok.hex", tok_hex, strlen(tok_hex));
    RUN(&R, "eat", "verify", "--pub", "eat.pem", "--aud", GW, "--nonce", NONCE, "tok.hex");
    EXPECT_EXIT(&R, 0);
    write_file("tok.cbor", tok, n);
    RUN(&R, "eat", "verify", "--pub", "eat.pem", "--aud", GW, "--nonce", NONCE, "tok.cbor");
    EXPECT_EXIT(&R, 0);
    assert_int_equal(shell(h_strf("\"$C\" eat verify --pub %s --aud %s --nonce %s < tok.hex",
                                  didkey, GW, NONCE)),
                     0);

    /* base64url output verifies as well. */
    RUN(&R, "eat", "make", "--key", "eat.pem", "--aud", GW, "--nonce", NONCE, "--format", "b64url");
    EXPECT_EXIT(&R, 0);
    const char *b64 = first_line(R.out);
    assert_null(strpbrk(b64, "+/="));
    RUN(&R, "eat", "verify", "--pub", didkey, "--aud", GW, "--nonce", NONCE, b64);
    EXPECT_EXIT(&R, 0);

    /* Refusals: exit 1 with the reason. */
    char other_nonce[80];
    strcpy(other_nonce, NONCE);
    other_nonce[63] = '0';
    RUN(&R, "eat", "verify", "--pub", didkey, "--aud", GW, "--nonce", other_nonce, tok_hex);
    EXPECT_EXIT(&R, 1);
    assert_non_null(strstr(R.out, "nonce is not the one issued"));
    RUN(&R, "eat", "verify", "--pub", didkey, "--aud", "somebody-else", "--nonce", NONCE, tok_hex);
    EXPECT_EXIT(&R, 1);
    assert_non_null(strstr(R.out, "another audience"));
    RUN(&R, "key", "new", "--out", "other.pem");
    EXPECT_EXIT(&R, 0);
    RUN(&R, "eat", "verify", "--pub", "other.pem", "--aud", GW, "--nonce", NONCE, tok_hex);
    EXPECT_EXIT(&R, 1);
    assert_non_null(strstr(R.out, "signature does not verify"));
    RUN(&R, "eat", "verify", "--pub", didkey, "--aud", GW, "--nonce", NONCE, "--assurance",
        "reported", tok_hex);
    EXPECT_EXIT(&R, 0);
    RUN(&R, "eat", "verify", "--pub", didkey, "--aud", GW, "--nonce", NONCE, "d28443a10126a0");
    EXPECT_EXIT(&R, 1);

    /* Single-step: a counter, accepted once above the last one seen. */
    RUN(&R, "eat", "make", "--key", "eat.pem", "--aud", GW, "--counter", "41", "--no-iat");
    EXPECT_EXIT(&R, 0);
    const char *ss = first_line(R.out);
    RUN(&R, "eat", "verify", "--pub", didkey, "--aud", GW, "--last-counter", "40", ss);
    EXPECT_EXIT(&R, 0);
    field(&R, "counter", v, sizeof v);
    assert_string_equal(v, "41");
    RUN(&R, "eat", "verify", "--pub", didkey, "--aud", GW, "--last-counter", "41", ss);
    EXPECT_EXIT(&R, 1);
    assert_non_null(strstr(R.out, "counter is not above"));
    RUN(&R, "eat", "verify", "--pub", didkey, "--aud", GW, "--last-counter", "40",
        "--require-firmware", ss);
    EXPECT_EXIT(&R, 1);

    /* Usage errors (2) and bad inputs (3). */
    const char *const usage[][12] = {
        {"eat", "make", "--aud", GW, "--nonce", NONCE},
        {"eat", "make", "--key", "eat.pem", "--nonce", NONCE},
        {"eat", "make", "--key", "eat.pem", "--aud", GW},
        {"eat", "make", "--key", "eat.pem", "--aud", GW, "--nonce", "0011"},
        {"eat", "make", "--key", "eat.pem", "--aud", GW, "--nonce", "xyz"},
        {"eat", "make", "--key", "eat.pem", "--aud", GW, "--counter", "-1"},
        {"eat", "make", "--key", "eat.pem", "--aud", GW, "--nonce", NONCE, "--fw-digest", DIGEST},
        {"eat", "make", "--key", "eat.pem", "--aud", GW, "--nonce", NONCE, "--fw-digest", "abcd",
         "--fw-version", "1"},
        {"eat", "make", "--key", "eat.pem", "--aud", GW, "--nonce", NONCE, "--format", "pem"},
        {"eat", "make", "--key", "eat.pem", "--aud", GW, "--nonce", NONCE, "--did", "did:web:x"},
        {"eat", "verify", "--pub", didkey, "--aud", GW, tok_hex},
        {"eat", "verify", "--pub", didkey, "--aud", GW, "--nonce", NONCE, "--last-counter", "1"},
    };
    for (size_t i = 0; i < sizeof usage / sizeof usage[0]; i++) {
        run_corio(&R, usage[i]);
        if (R.status != 2)
            fail_msg("usage case %zu: exit %d (%s)", i, R.status, R.out);
    }
    RUN(&R, "eat", "make", "--key", "missing.pem", "--aud", GW, "--nonce", NONCE);
    EXPECT_EXIT(&R, 3);
    assert_non_null(strstr(R.out, "missing.pem: no such file"));
    RUN(&R, "eat", "verify", "--pub", didkey, "--aud", GW, "--nonce", NONCE, "missing.tok");
    EXPECT_EXIT(&R, 3);
    RUN(&R, "eat", "verify", "--pub", "did:key:zBogus", "--aud", GW, "--nonce", NONCE, tok_hex);
    EXPECT_EXIT(&R, 3);
}

static void eat_from_psa_verified_by_the_cli(void **state)
{
    (void)state;
    struct corio_key k;
    uint8_t pub[65], tok[CORIO_EAT_MAX_SIZE], nonce[32];
    char didkey[CORIO_DIDKEY_BUF];
    assert_int_equal(corio_key_generate(&corio_crypto_psa_ops, 0, 0, &k), CORIO_OK);
    assert_int_equal(corio_key_public(&k, pub), CORIO_OK);
    assert_int_equal(corio_didkey_format(pub, 65, didkey, sizeof didkey), CORIO_DIDKEY_LEN);
    unhex(NONCE, nonce, sizeof nonce);
    struct corio_eat_claims c;
    memset(&c, 0, sizeof c);
    assert_int_equal(corio_did_from_key(&corio_crypto_psa_ops, pub, 65, &c.issuer), CORIO_OK);
    c.key_number = 3;
    c.aud = GW;
    c.aud_len = strlen(GW);
    c.nonce = nonce;
    c.nonce_len = 32;
    c.assurance = CORIO_EAT_ATTESTED;
    int n = corio_eat_make(&k, &c, tok, sizeof tok);
    assert_true(n > 0);
    write_file("psa.tok", tok, (size_t)n);
    RUN(&R, "eat", "verify", "--pub", didkey, "--aud", GW, "--nonce", NONCE, "psa.tok");
    EXPECT_EXIT(&R, 0);
    char v[64];
    field(&R, "key", v, sizeof v);
    assert_string_equal(v, "3");
    field(&R, "assurance", v, sizeof v);
    assert_string_equal(v, "attestation");
    /* The registry says the key is within the application's reach: refused. */
    RUN(&R, "eat", "verify", "--pub", didkey, "--aud", GW, "--nonce", NONCE, "--assurance",
        "reported", "psa.tok");
    EXPECT_EXIT(&R, 1);
    assert_non_null(strstr(R.out, "assurance"));
    corio_key_close(&k);
}

/* RFC 9052 C.2.1 and cose-wg/Examples sign1-tests, key "11". */
static const char *KEY11 = "04bac5b11cad8f99f9c72b05cf4b9e26d244dc189f745228255a219a86d6a09eff"
                           "20138bf82dc1b6d562be0fa54ab7804a3a64b6d72ccfed6b6fb6ed28bbfc117e";
static const char *C21 =
    "d28443a10126a10442313154546869732069732074686520636f6e74656e742e58408eb33e4ca31d1c465ab0"
    "5aac34cc6b23d58fef5c083106c4d25a91aef0b0117e2af9a291aa32e14ab834dc56ed2a223444547e01f11d3b"
    "0916e5a4c345cacb36";
static const char *PASS02 =
    "d28443a10126a10442313154546869732069732074686520636f6e74656e742e5840eae868ecc176883766c5"
    "dc5ba5b8dca25dab3c2e56a551ce5705b793914348e155388b10c4f1b59a6733eab416870a945111a4b2fbdbef"
    "33a77234b1deff2f9b";
static const char *PASS03 =
    "8443a10126a10442313154546869732069732074686520636f6e74656e742e5840eae868ecc176883766c5dc5b"
    "a5b8dca25dab3c2e56a551ce5705b793914348e19f43d6c6ba654472da301b645b293c9ba939295b97c4bdb847"
    "782bff384c5794";
static const char *FAIL03 =
    "d28445a1013903e6a10442313154546869732069732074686520636f6e74656e742e5840eae868ecc176883766"
    "c5dc5ba5b8dca25dab3c2e56a551ce5705b793914348e19f43d6c6ba654472da301b645b293c9ba939295b97c4"
    "bdb847782bff384c5794";

static void cose_from_the_cli(void **state)
{
    (void)state;
    write_file("c21.hex", C21, strlen(C21));
    RUN(&R, "cose", "verify", "--pub", KEY11, "--print-payload", "c21.hex");
    EXPECT_EXIT(&R, 0);
    char v[256];
    field(&R, "kid", v, sizeof v);
    assert_string_equal(v, "11");
    field(&R, "payload-hex", v, sizeof v);
    assert_string_equal(v, "546869732069732074686520636f6e74656e742e");
    uint8_t raw[256];
    size_t n = unhex(C21, raw, sizeof raw);
    write_file("c21.cbor", raw, n);
    RUN(&R, "cose", "verify", "--pub", KEY11, "c21.cbor");
    EXPECT_EXIT(&R, 0);
    RUN(&R, "cose", "verify", "--pub", KEY11, "--aad", "11aa22bb33cc44dd55006699", PASS02);
    EXPECT_EXIT(&R, 0);
    RUN(&R, "cose", "verify", "--pub", KEY11, PASS02);
    EXPECT_EXIT(&R, 1);
    RUN(&R, "cose", "verify", "--pub", KEY11, PASS03); /* high S */
    EXPECT_EXIT(&R, 1);
    assert_non_null(strstr(R.out, "high S"));
    RUN(&R, "cose", "verify", "--pub", KEY11, FAIL03);
    EXPECT_EXIT(&R, 1);
    assert_non_null(strstr(R.out, "not ES256"));

    /* Signed by the CLI, verified by the library (PSA) and by the CLI. */
    RUN(&R, "key", "new", "--out", "cose.pem");
    EXPECT_EXIT(&R, 0);
    char didkey[128];
    field(&R, "didkey", didkey, sizeof didkey);
    write_file("payload.bin", "\x00\x01payload\xff", 10);
    assert_int_equal(shell("\"$C\" cose sign --key cose.pem --kid 'did:corio:x#1' --aad 0102 "
                           "--format raw payload.bin > signed.cbor"),
                     0);
    size_t signed_len;
    const uint8_t *signed_msg = (const uint8_t *)h_read_file(path("signed.cbor"), &signed_len);
    assert_non_null(signed_msg);
    struct corio_cose_sign1 m;
    uint8_t pub[65];
    assert_int_equal(corio_didkey_parse(didkey, strlen(didkey), pub), CORIO_OK);
    assert_int_equal(corio_cose_sign1_decode(signed_msg, signed_len, &m), CORIO_OK);
    assert_int_equal(corio_cose_sign1_verify(&corio_crypto_psa_ops, &m, pub, 65,
                                             (const uint8_t *)"\x01\x02", 2, NULL, 0),
                     CORIO_OK);
    RUN(&R, "cose", "verify", "--pub", didkey, "--aad", "0102", "signed.cbor");
    EXPECT_EXIT(&R, 0);
    field(&R, "kid", v, sizeof v);
    assert_string_equal(v, "did:corio:x#1");
    RUN(&R, "cose", "verify", "--pub", didkey, "signed.cbor");
    EXPECT_EXIT(&R, 1);

    /* Detached. */
    RUN(&R, "cose", "sign", "--key", "cose.pem", "--detached", "--format", "b64url", "payload.bin");
    EXPECT_EXIT(&R, 0);
    const char *det = first_line(R.out);
    RUN(&R, "cose", "verify", "--pub", didkey, "--payload", "payload.bin", det);
    EXPECT_EXIT(&R, 0);
    RUN(&R, "cose", "verify", "--pub", didkey, det);
    EXPECT_EXIT(&R, 2);
    write_file("other.bin", "\x00\x01payloaD\xff", 10);
    RUN(&R, "cose", "verify", "--pub", didkey, "--payload", "other.bin", det);
    EXPECT_EXIT(&R, 1);

    /* A COSE_Sign by a PSA key and an OpenSSL key: either public key verifies it. */
    struct corio_key a, b;
    uint8_t pa[65], m1[512], m2[512];
    char ka[CORIO_DIDKEY_BUF];
    assert_int_equal(corio_key_generate(&corio_crypto_psa_ops, 0, 0, &a), CORIO_OK);
    assert_int_equal(corio_openssl_key_read_pem(path("cose.pem"), &b), CORIO_OK);
    assert_int_equal(corio_key_public(&a, pa), CORIO_OK);
    corio_didkey_format(pa, 65, ka, sizeof ka);
    int n1 = corio_cose_sign_sign(&a, (const uint8_t *)"a", 1, NULL, 0, (const uint8_t *)"tx", 2, 0,
                                  m1, sizeof m1);
    int n2 = corio_cose_sign_add(&b, (const uint8_t *)"b", 1, NULL, 0, m1, (size_t)n1, NULL, 0, m2,
                                 sizeof m2);
    assert_true(n2 > 0);
    write_file("multi.cbor", m2, (size_t)n2);
    RUN(&R, "cose", "verify", "--pub", ka, "multi.cbor");
    EXPECT_EXIT(&R, 0);
    assert_non_null(strstr(R.out, "signature 1 of 2"));
    RUN(&R, "cose", "verify", "--pub", didkey, "multi.cbor");
    EXPECT_EXIT(&R, 0);
    assert_non_null(strstr(R.out, "signature 2 of 2"));
    RUN(&R, "cose", "verify", "--pub", KEY11, "multi.cbor");
    EXPECT_EXIT(&R, 1);
    corio_key_close(&a);
    corio_key_close(&b);

    /* Bad inputs. */
    RUN(&R, "cose", "verify", "--pub", KEY11, "missing.cbor");
    EXPECT_EXIT(&R, 3);
    RUN(&R, "cose", "verify", "--pub", KEY11, "--aad", "0g", "c21.hex");
    EXPECT_EXIT(&R, 2);
    RUN(&R, "cose", "verify", "c21.hex");
    EXPECT_EXIT(&R, 2);
    RUN(&R, "cose", "sign", "--key", "cose.pem", "missing.bin");
    EXPECT_EXIT(&R, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(help_and_usage_errors),
        H_TEST(key_new_and_did_show),
        H_TEST(eat_from_the_cli),
        H_TEST(eat_from_psa_verified_by_the_cli),
        H_TEST(cose_from_the_cli),
    };
    return h_done(cmocka_run_group_tests(tests, group_setup, group_teardown));
}
