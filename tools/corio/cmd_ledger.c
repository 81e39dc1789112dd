/*
 * cmd_ledger.c - `corio ledger`: transactions as files (show, add a signature,
 * submit to a node), key rotation on the ledger, and offline verification of signed
 * tree heads, inclusion and consistency proofs with the engine's pure code (merkle.c,
 * sth.c). Also the helpers every ledger command group shares (cli_tx.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "cli.h"
#include "cli_tx.h"
#include "corio/error.h"
#include "corio/encoding.h"
#include "corio/p256.h"
#include "corio/rotation.h"
#include "corio_buf.h"
#include "crypto_openssl.h"
#include "ledger_merkle.h"
#include "ledger_sth.h"
#include "ledger_tls_transport.h"

#define OPS (&corio_crypto_openssl_ops)

/* ---- shared helpers ----------------------------------------------------------------------- */

int cli_opts_parse(int argc, char **argv, struct cli_opts *o)
{
    memset(o, 0, sizeof *o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            o->help = true;
        } else if (!strncmp(a, "--", 2)) {
            if (i + 1 >= argc)
                return cli_usage_error("%s needs a value", a);
            if (o->n == CLI_TX_MAX_OPTS)
                return cli_usage_error("too many options");
            o->name[o->n] = a + 2;
            o->value[o->n++] = argv[++i];
        } else {
            if (o->npos == sizeof o->pos / sizeof o->pos[0])
                return cli_usage_error("too many arguments");
            o->pos[o->npos++] = a;
        }
    }
    return CLI_OK;
}

const char *cli_opt(const struct cli_opts *o, const char *name)
{
    for (size_t i = 0; i < o->n; i++)
        if (!strcmp(o->name[i], name))
            return o->value[i];
    return NULL;
}

const char *cli_need(const struct cli_opts *o, const char *name)
{
    const char *v = cli_opt(o, name);
    if (!v)
        cli_usage_error("--%s is required", name);
    return v;
}

int cli_id(const char *s, uint8_t id[CORIO_DID_ID_LEN])
{
    struct corio_did d;
    size_t n = strlen(s);
    if (n == CORIO_DID_ID_CHARS && corio_did_id_parse(s, n, id) == CORIO_OK)
        return CLI_OK;
    if (corio_did_parse(s, n, &d) == CORIO_OK && !d.has_key) {
        memcpy(id, d.id, CORIO_DID_ID_LEN);
        return CLI_OK;
    }
    return cli_usage_error("'%s' is not a short id or did:corio", s);
}

int cli_pub33(const char *s, uint8_t out[CORIO_TX_KEY_LEN])
{
    uint8_t pub[65];
    int rc = cli_load_public(s, pub);
    if (rc != CLI_OK)
        return rc;
    return corio_p256_compress(pub, out) == CORIO_OK ? CLI_OK : CLI_INPUT;
}

int cli_name(const char *what, const char *s)
{
    return corio_tx_name_ok(s, strlen(s))
               ? CLI_OK
               : cli_usage_error("%s '%s': 1 to 64 of A-Z a-z 0-9 . _ + -", what, s);
}

int cli_hexn(const char *what, const char *s, uint8_t *out, size_t n)
{
    if (strlen(s) != 2 * n || cli_hex_decode(s, out, n) != (int)n)
        return cli_usage_error("%s: expected %zu bytes of hex", what, n);
    return CLI_OK;
}

int cli_u64(const char *what, const char *s, uint64_t *v)
{
    return cli_parse_u64(s, v) == 0 ? CLI_OK : cli_usage_error("%s: not a number", what);
}

/* The signer: --key and --signer (or the key's own DID, key 0). */
static int load_signer(const struct cli_opts *o, struct corio_key *key, struct corio_did *did)
{
    const char *kf = cli_need(o, "key");
    if (!kf)
        return CLI_USAGE;
    int rc = cli_load_key(kf, key);
    if (rc != CLI_OK)
        return rc;
    const char *s = cli_opt(o, "signer");
    if (s) {
        if (corio_did_parse(s, strlen(s), did) != CORIO_OK || !did->has_key) {
            corio_key_close(key);
            return cli_usage_error("--signer: expected did:corio:<id>#<key number>");
        }
        return CLI_OK;
    }
    uint8_t pub[33];
    if (corio_key_public_compressed(key, pub) != CORIO_OK ||
        corio_did_from_key(OPS, pub, sizeof pub, did) != CORIO_OK) {
        corio_key_close(key);
        cli_error("cannot read the key's public part");
        return CLI_FAIL;
    }
    did->has_key = true;
    did->key = 0;
    return CLI_OK;
}

static size_t body_cb(char *p, size_t size, size_t n, void *arg)
{
    struct corio_buf *b = arg;
    return corio_buf_add(b, p, size * n) == CORIO_OK ? size * n : 0;
}

/*
 * POSTs a transaction to URL/api/v1/tx (the engine's route, docs/ledger.md) as
 * application/cbor and prints the node's answer. A follower answers 307 with the
 * leader's URL: libcurl follows it and keeps the POST and its body (RFC 9110 §15.4.8).
 * "No leader yet" (503 with Retry-After) is tried again for a few seconds. Exit code:
 * 0 when the transaction is in a block as accepted (or queued), 1 when the node or the
 * ledger refused it, 4 when no answer came.
 */
static int submit(const char *node, const uint8_t *tx, size_t len)
{
    char url[1024];
    size_t nl = strlen(node);
    while (nl && node[nl - 1] == '/')
        nl--;
    if (snprintf(url, sizeof url, "%.*s/api/v1/tx", (int)nl, node) >= (int)sizeof url)
        return cli_usage_error("--node: URL too long");
    struct corio_buf body = CORIO_BUF_INIT(1u << 20);
    long status = 0;
    CURLcode rc = CURLE_OK;
    for (int attempt = 0; attempt < 10; attempt++) {
        CURL *c = curl_easy_init();
        if (!c) {
            cli_error("cannot start libcurl");
            return CLI_FAIL;
        }
        corio_buf_reset(&body);
        struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/cbor");
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)tx);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(c, CURLOPT_MAXREDIRS, 4L);
        curl_easy_setopt(c, CURLOPT_POSTREDIR, (long)CURL_REDIR_POST_ALL);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_cb);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
        rc = curl_easy_perform(c);
        status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_slist_free_all(h);
        curl_easy_cleanup(c);
        bool no_leader =
            rc == CURLE_OK && status == 503 && strstr(corio_buf_str(&body), "no leader is known");
        if (!no_leader)
            break;
        usleep(500000);
    }
    if (rc != CURLE_OK) {
        corio_buf_free(&body);
        cli_error("%s: %s", url, curl_easy_strerror(rc));
        return CLI_FAIL;
    }
    fwrite(corio_buf_str(&body), 1, corio_buf_len(&body), stdout);
    fputc('\n', stdout);
    json_t *j = json_loadb(corio_buf_str(&body), corio_buf_len(&body), 0, NULL);
    corio_buf_free(&body);
    const char *st = json_string_value(json_object_get(j, "status"));
    int out = CLI_OK;
    if (status / 100 != 2) {
        cli_error("the node refused the transaction (HTTP %ld)", status);
        out = CLI_REFUSED;
    } else if (st && !strcmp(st, "refused")) {
        cli_error("the ledger refused the transaction: %s",
                  json_string_value(json_object_get(j, "reason")));
        out = CLI_REFUSED;
    }
    json_decref(j);
    return out;
}

/* Writes tx to --out (raw) or stdout (hex), then submits it to --node. */
static int emit(const struct cli_opts *o, const uint8_t *tx, size_t len)
{
    const char *out = cli_opt(o, "out");
    if (out) {
        FILE *f = fopen(out, "wb");
        if (!f || fwrite(tx, 1, len, f) != len || fclose(f) != 0) {
            cli_error("%s: cannot write it", out);
            return CLI_FAIL;
        }
    } else {
        cli_hex_print(stdout, tx, len);
        fputc('\n', stdout);
    }
    uint8_t id[32];
    corio_tx_id(tx, len, id);
    fprintf(stderr, "id ");
    cli_hex_print(stderr, id, 32);
    fputc('\n', stderr);
    const char *node = cli_opt(o, "node");
    return node ? submit(node, tx, len) : CLI_OK;
}

int cli_tx_make(const struct cli_opts *o, unsigned type, const uint8_t *args, size_t args_len)
{
    struct corio_tx_body b = {.type = type, .args = args, .args_len = args_len};
    const char *ledger = type == CORIO_TX_GENESIS ? NULL : cli_need(o, "ledger");
    const char *expires = cli_need(o, "expires");
    if ((type != CORIO_TX_GENESIS && !ledger) || !expires)
        return CLI_USAGE;
    if (ledger && cli_hexn("--ledger", ledger, b.ledger, 32) != CLI_OK)
        return CLI_USAGE;
    b.has_ledger = ledger != NULL;
    if (cli_u64("--expires", expires, &b.expires) != CLI_OK)
        return CLI_USAGE;
    if (corio_random(OPS, b.nonce, sizeof b.nonce) != CORIO_OK) {
        cli_error("no randomness for the nonce");
        return CLI_FAIL;
    }
    struct corio_key key;
    struct corio_did did;
    int rc = load_signer(o, &key, &did);
    if (rc != CLI_OK)
        return rc;
    uint8_t *body = malloc(CORIO_TX_MAX), *tx = malloc(CORIO_TX_MAX);
    int bl = body ? corio_tx_body_encode(&b, body, CORIO_TX_MAX) : CORIO_ERR_NOSPACE;
    int tl = bl > 0 && tx ? corio_tx_sign(&key, &did, body, (size_t)bl, tx, CORIO_TX_MAX) : bl;
    corio_key_close(&key);
    if (tl < 0) {
        cli_error("cannot make the transaction: %s", corio_strerror(tl));
        rc = CLI_FAIL;
    } else {
        rc = emit(o, tx, (size_t)tl);
    }
    free(body);
    free(tx);
    return rc;
}

/* ---- corio ledger ... ------------------------------------------------------------------------ */

static int read_tx(const char *arg, uint8_t **buf, size_t *len)
{
    return cli_read_message(arg, buf, len);
}

static int ledger_sign(int argc, char **argv)
{
    struct cli_opts o;
    int rc = cli_opts_parse(argc, argv, &o);
    if (rc != CLI_OK || o.help) {
        if (o.help)
            cli_command_help(stdout);
        return rc;
    }
    if (o.npos != 1)
        return cli_usage_error("expected one transaction (file, hex or base64url)");
    uint8_t *tx;
    size_t len;
    if ((rc = read_tx(o.pos[0], &tx, &len)) != CLI_OK)
        return rc;
    struct corio_key key;
    struct corio_did did;
    if ((rc = load_signer(&o, &key, &did)) != CLI_OK) {
        free(tx);
        return rc;
    }
    uint8_t *out = malloc(CORIO_TX_MAX);
    int n =
        out ? corio_tx_add_signature(&key, &did, tx, len, out, CORIO_TX_MAX) : CORIO_ERR_NOSPACE;
    corio_key_close(&key);
    free(tx);
    if (n < 0) {
        cli_error("cannot sign: %s",
                  n == CORIO_ERR_POLICY ? "this identity already signed" : corio_strerror(n));
        free(out);
        return n == CORIO_ERR_POLICY || n == CORIO_ERR_MALFORMED ? CLI_INPUT : CLI_FAIL;
    }
    rc = emit(&o, out, (size_t)n);
    free(out);
    return rc;
}

static int ledger_submit(int argc, char **argv)
{
    struct cli_opts o;
    int rc = cli_opts_parse(argc, argv, &o);
    if (rc != CLI_OK || o.help) {
        if (o.help)
            cli_command_help(stdout);
        return rc;
    }
    const char *node = cli_need(&o, "node");
    if (!node || o.npos != 1)
        return node ? cli_usage_error("expected one transaction") : CLI_USAGE;
    uint8_t *tx;
    size_t len;
    if ((rc = read_tx(o.pos[0], &tx, &len)) != CLI_OK)
        return rc;
    rc = submit(node, tx, len);
    free(tx);
    return rc;
}

static int ledger_show(int argc, char **argv)
{
    struct cli_opts o;
    int rc = cli_opts_parse(argc, argv, &o);
    if (rc != CLI_OK || o.help) {
        if (o.help)
            cli_command_help(stdout);
        return rc;
    }
    if (o.npos != 1)
        return cli_usage_error("expected one transaction");
    uint8_t *tx;
    size_t len;
    if ((rc = read_tx(o.pos[0], &tx, &len)) != CLI_OK)
        return rc;
    struct corio_tx *t = malloc(sizeof *t);
    rc = t ? corio_tx_decode(tx, len, t) : CORIO_ERR_NOSPACE;
    if (rc != CORIO_OK) {
        cli_error("not a transaction: %s", corio_strerror(rc));
        free(t);
        free(tx);
        return CLI_INPUT;
    }
    uint8_t id[32];
    corio_tx_id(tx, len, id);
    printf("id ");
    cli_hex_print(stdout, id, 32);
    printf("\ntype %s\nexpires %llu\n", corio_tx_type_name(t->body.type),
           (unsigned long long)t->body.expires);
    if (t->body.has_ledger) {
        printf("ledger ");
        cli_hex_print(stdout, t->body.ledger, 32);
        printf("\n");
    }
    for (size_t i = 0; i < t->nsig; i++) {
        char d[CORIO_DID_BUF];
        corio_did_format(&t->signer[i], d, sizeof d);
        printf("signer %s\n", d);
    }
    const char *why = "";
    printf("args %s\n",
           corio_tx_args_check(t->body.type, t->body.args, t->body.args_len, &why) == CORIO_OK
               ? "valid"
               : why);
    free(t);
    free(tx);
    return CLI_OK;
}

/* A rotation: the link signed by the current key (--key, --signer with the current key
 * number), endorsed by --endorse FILE as --endorser DID#N, carried in a did.rotate
 * transaction signed by the current key. */
int cli_ledger_rotate(int argc, char **argv)
{
    struct cli_opts o;
    int rc = cli_opts_parse(argc, argv, &o);
    if (rc != CLI_OK || o.help) {
        if (o.help)
            cli_command_help(stdout);
        return rc;
    }
    const char *org = cli_need(&o, "org"), *nk = cli_need(&o, "new-key");
    if (!org || !nk)
        return CLI_USAGE;
    struct corio_rotation_statement st;
    if ((rc = cli_id(org, st.org)) != CLI_OK || (rc = cli_pub33(nk, st.new_key)) != CLI_OK)
        return rc;
    struct corio_key key;
    struct corio_did did;
    if ((rc = load_signer(&o, &key, &did)) != CLI_OK)
        return rc;
    memcpy(st.subject, did.id, CORIO_DID_ID_LEN);
    st.key_number = did.key + 1;
    uint8_t link[4096], out[4096];
    int n = corio_rotation_link_make(&key, &st, link, sizeof link);
    corio_key_close(&key);
    const char *ef = cli_opt(&o, "endorse"), *es = cli_opt(&o, "endorser");
    if (n > 0 && ef) {
        struct corio_key ek;
        struct corio_did ed;
        if (!es || corio_did_parse(es, strlen(es), &ed) != CORIO_OK || !ed.has_key)
            return cli_usage_error("--endorse needs --endorser did:corio:<id>#<n>");
        if ((rc = cli_load_key(ef, &ek)) != CLI_OK)
            return rc;
        n = corio_rotation_link_endorse(&ek, &ed, link, (size_t)n, out, sizeof out);
        corio_key_close(&ek);
        if (n > 0)
            memcpy(link, out, (size_t)n);
    }
    if (n < 0) {
        cli_error("cannot make the rotation link: %s", corio_strerror(n));
        return CLI_FAIL;
    }
    struct corio_tx_rotate r = {.link = link, .link_len = (size_t)n};
    uint8_t args[4200];
    int al = corio_tx_rotate_encode(&r, args, sizeof args);
    return al > 0 ? cli_tx_make(&o, CORIO_TX_DID_ROTATE, args, (size_t)al) : CLI_FAIL;
}

/* 64 hex digits at s into 32 bytes: 0 or -1. */
static int hash_at(const char *s, uint8_t out[32])
{
    char tmp[65];
    memcpy(tmp, s, 64);
    tmp[64] = 0;
    return cli_hex_decode(tmp, out, 32) == 32 ? 0 : -1;
}

/* Hex hashes separated by commas into a proof. */
static int parse_proof(const char *s, corio_merkle_hash *out, size_t *n)
{
    *n = 0;
    if (!s || !*s)
        return CLI_OK;
    while (*s) {
        if (*n == CORIO_MERKLE_MAX_PROOF || strlen(s) < 64 || hash_at(s, out[*n]) != 0)
            return cli_usage_error("a proof is 32-byte hex hashes separated by commas");
        (*n)++;
        s += 64;
        if (*s == ',')
            s++;
        else if (*s)
            return cli_usage_error("a proof is 32-byte hex hashes separated by commas");
    }
    return CLI_OK;
}

/* ---- what the API serves, as files: JSON or raw ------------------------------------------- */

/* An input that is a file or "-" (stdin), read once. */
struct input {
    uint8_t *buf;
    size_t len;
    json_t *json; /* when it is a JSON object */
};

static bool is_file_arg(const char *arg)
{
    if (!strcmp(arg, "-"))
        return true;
    FILE *f = fopen(arg, "rb");
    if (f)
        fclose(f);
    return f != NULL;
}

/* Reads arg when it is a file (or stdin) and parses it when it is a JSON object. Returns
 * CLI_OK (in->buf NULL when arg is not a file), or CLI_INPUT. */
static int input_read(const char *arg, struct input *in)
{
    memset(in, 0, sizeof *in);
    if (!is_file_arg(arg))
        return CLI_OK;
    int rc = cli_read_file(arg, 4u << 20, &in->buf, &in->len);
    if (rc != CLI_OK)
        return rc;
    size_t i = 0;
    while (i < in->len &&
           (in->buf[i] == ' ' || in->buf[i] == '\n' || in->buf[i] == '\r' || in->buf[i] == '\t'))
        i++;
    if (i < in->len && in->buf[i] == '{') {
        json_error_t e;
        in->json = json_loadb((const char *)in->buf, in->len, JSON_REJECT_DUPLICATES, &e);
        if (!json_is_object(in->json)) {
            cli_error("%s:%d: not a JSON object: %s", arg, e.line, e.text);
            json_decref(in->json);
            free(in->buf);
            in->buf = NULL;
            return CLI_INPUT;
        }
    }
    return CLI_OK;
}

static void input_free(struct input *in)
{
    json_decref(in->json);
    free(in->buf);
}

/* A base64url field of a JSON object into a malloc'd buffer; NULL when absent or bad. */
static uint8_t *json_b64(json_t *j, const char *name, size_t *len)
{
    const char *s = json_string_value(json_object_get(j, name));
    if (!s)
        return NULL;
    size_t n = strlen(s);
    uint8_t *buf = malloc(n + 1);
    int m = buf ? corio_base64url_decode(s, n, buf, n + 1) : -1;
    if (m < 0) {
        free(buf);
        return NULL;
    }
    *len = (size_t)m;
    return buf;
}

static int json_hash(json_t *j, const char *name, uint8_t out[32])
{
    const char *s = json_string_value(json_object_get(j, name));
    return s && strlen(s) == 64 && hash_at(s, out) == 0 ? 0 : -1;
}

/* A JSON array of hex hashes into a proof: 0 or -1. */
static int json_proof(json_t *arr, corio_merkle_hash *out, size_t *n)
{
    if (!json_is_array(arr) || json_array_size(arr) > CORIO_MERKLE_MAX_PROOF)
        return -1;
    *n = json_array_size(arr);
    for (size_t i = 0; i < *n; i++) {
        const char *h = json_string_value(json_array_get(arr, i));
        if (!h || strlen(h) != 64 || hash_at(h, out[i]) != 0)
            return -1;
    }
    return 0;
}

static int json_u64(json_t *j, const char *name, uint64_t *v)
{
    json_t *x = json_object_get(j, name);
    if (!json_is_integer(x) || json_integer_value(x) < 0)
        return -1;
    *v = (uint64_t)json_integer_value(x);
    return 0;
}

/* ---- signed tree heads ------------------------------------------------------------------------
 */

/* Whether the certificate (DER) chains to the CA file, holds the key that signed the
 * tree head and names the node (ledger_tls_transport.h): the node's organisation vouches
 * for the head. Prints why not. */
static int check_cert(const char *ca_file, const uint8_t *der, size_t len, const uint8_t signer[33],
                      uint64_t node)
{
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int rc = CLI_REFUSED;
    if (!x || p != der + len) {
        cli_error("the tree head's certificate does not parse");
    } else if (!store || !ctx || X509_STORE_load_file(store, ca_file) != 1) {
        cli_error("%s: cannot load the CA certificates", ca_file);
        rc = CLI_INPUT;
    } else {
        X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
        uint8_t have[65], want[65];
        size_t n = 0;
        EVP_PKEY *pk = X509_get0_pubkey(x);
        if (X509_STORE_CTX_init(ctx, store, x, NULL) != 1 || X509_verify_cert(ctx) != 1)
            cli_error("the tree head's certificate is not from %s: %s", ca_file,
                      X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
        else if (!pk ||
                 EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, have,
                                                 sizeof have, &n) != 1 ||
                 corio_p256_point_parse(have, n, have) != CORIO_OK ||
                 corio_p256_point_parse(signer, 33, want) != CORIO_OK ||
                 memcmp(have, want, CORIO_P256_PUB_LEN) != 0)
            cli_error("the tree head is not signed with the certificate's key");
        else if (!corio_tls_cert_names_node(x, node))
            cli_error("the certificate does not name node %llu (%s%llu)", (unsigned long long)node,
                      CORIO_TLS_NODE_URI, (unsigned long long)node);
        else
            rc = CLI_OK;
    }
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    X509_free(x);
    ERR_clear_error();
    return rc;
}

/*
 * A signed tree head: the JSON of GET /api/v1/tree-head (its "sth"; with --ca, its
 * "cert" is checked too), or the COSE_Sign1 itself (raw, hex or base64url, a file or
 * text). pin: the key it must be signed with (--node-key), or NULL.
 */
static int load_sth(const char *arg, const char *pin, const char *ca, struct corio_sth *s)
{
    struct input in;
    int rc = input_read(arg, &in);
    if (rc != CLI_OK)
        return rc;
    uint8_t *buf = NULL, *cert = NULL;
    size_t len = 0, cert_len = 0;
    if (in.json) {
        buf = json_b64(in.json, "sth", &len);
        cert = json_b64(in.json, "cert", &cert_len);
        if (!buf) {
            cli_error("%s: no \"sth\" (base64url) in the JSON", arg);
            rc = CLI_INPUT;
        }
    } else {
        rc = cli_read_message(arg, &buf, &len);
    }
    input_free(&in);
    uint8_t expect[33], *e = NULL;
    if (rc == CLI_OK && pin) {
        rc = cli_pub33(pin, expect);
        e = expect;
    }
    uint8_t signer[33];
    if (rc == CLI_OK) {
        int v = corio_sth_verify(OPS, buf, len, e, s, signer);
        if (v != CORIO_OK) {
            cli_error("%s: the signed tree head is refused: %s", arg, corio_strerror(v));
            rc = CLI_REFUSED;
        }
    }
    if (rc == CLI_OK && ca) {
        if (!cert) {
            cli_error("%s: --ca needs the tree head's certificate: give the JSON of "
                      "GET /api/v1/tree-head",
                      arg);
            rc = CLI_INPUT;
        } else {
            rc = check_cert(ca, cert, cert_len, signer, s->node);
        }
    }
    free(buf);
    free(cert);
    if (rc != CLI_OK)
        return rc;
    printf("sth ok node %llu height %llu size %llu%s\n", (unsigned long long)s->node,
           (unsigned long long)s->height, (unsigned long long)s->tree_size, ca ? " certified" : "");
    return CLI_OK;
}

/* ---- proofs -----------------------------------------------------------------------------------
 */

/* Inclusion of a transaction in the signed head s: from --proof (the JSON of GET
 * /api/v1/tx/{id}?tree_size=N or /api/v1/proof/inclusion), or --tx, --index, --path. */
static int verify_inclusion(const struct cli_opts *o, const struct corio_sth *s)
{
    const char *proof = cli_opt(o, "proof"), *txarg = cli_opt(o, "tx");
    if (proof && txarg)
        return cli_usage_error("--proof carries the transaction: leave out --tx");
    uint64_t index, size = s->tree_size;
    corio_merkle_hash path[CORIO_MERKLE_MAX_PROOF];
    size_t n;
    uint8_t *tx = NULL;
    size_t len = 0;
    int rc;
    if (proof) {
        struct input in;
        if ((rc = input_read(proof, &in)) != CLI_OK)
            return rc;
        if (!in.json) {
            input_free(&in);
            cli_error("%s: expected the JSON of GET /api/v1/tx/{id} or /api/v1/proof/inclusion",
                      proof);
            return CLI_INPUT;
        }
        tx = json_b64(in.json, "tx", &len);
        if (!tx || json_u64(in.json, "leaf", &index) != 0 ||
            json_u64(in.json, "tree_size", &size) != 0 ||
            json_proof(json_object_get(in.json, "path"), path, &n) != 0) {
            input_free(&in);
            free(tx);
            cli_error("%s: an inclusion proof has tx, leaf, tree_size and path", proof);
            return CLI_INPUT;
        }
        uint8_t claimed[32], lh[32];
        bool has_leaf_hash = json_hash(in.json, "leaf_hash", claimed) == 0;
        input_free(&in);
        corio_merkle_leaf_hash(tx, len, lh);
        if (has_leaf_hash && memcmp(claimed, lh, 32) != 0) {
            free(tx);
            cli_error("%s: leaf_hash is not the hash of tx", proof);
            return CLI_REFUSED;
        }
    } else {
        const char *ix = cli_need(o, "index");
        if (!ix || cli_u64("--index", ix, &index) != CLI_OK ||
            parse_proof(cli_opt(o, "path"), path, &n) != CLI_OK)
            return CLI_USAGE;
        if ((rc = read_tx(txarg, &tx, &len)) != CLI_OK)
            return rc;
    }
    if (size != s->tree_size) {
        free(tx);
        cli_error("the proof is for a tree of %llu leaves, the signed head's has %llu: ask for "
                  "it with ?tree_size=%llu",
                  (unsigned long long)size, (unsigned long long)s->tree_size,
                  (unsigned long long)s->tree_size);
        return CLI_REFUSED;
    }
    uint8_t lh[32], id[32];
    corio_merkle_leaf_hash(tx, len, lh);
    /* The id only when the leaf is one of the contracts' transactions. */
    struct corio_tx *t = malloc(sizeof *t);
    bool named =
        t && corio_tx_decode(tx, len, t) == CORIO_OK && corio_tx_id(tx, len, id) == CORIO_OK;
    free(t);
    free(tx);
    rc = corio_merkle_verify_inclusion(lh, index, s->tree_size, path, n, s->root);
    if (rc != CORIO_OK) {
        cli_error("inclusion refused: %s", corio_strerror(rc));
        return CLI_REFUSED;
    }
    printf("inclusion ok leaf %llu of %llu", (unsigned long long)index,
           (unsigned long long)s->tree_size);
    if (named) {
        printf(" id ");
        cli_hex_print(stdout, id, 32);
    }
    fputc('\n', stdout);
    return CLI_OK;
}

/* The log grew from the old signed head to the new one without rewriting: --consistency
 * is the JSON of GET /api/v1/proof/consistency?first=M&second=N, or hex hashes. */
static int verify_consistency(const struct cli_opts *o, const struct corio_sth *s)
{
    struct corio_sth first;
    int rc = load_sth(cli_opt(o, "old-sth"), cli_opt(o, "node-key"), cli_opt(o, "ca"), &first);
    if (rc != CLI_OK)
        return rc;
    const char *arg = cli_opt(o, "consistency");
    corio_merkle_hash proof[CORIO_MERKLE_MAX_PROOF];
    size_t n = 0;
    struct input in = {0};
    if (arg && (rc = input_read(arg, &in)) != CLI_OK)
        return rc;
    if (in.json) {
        uint64_t a, b;
        bool ok = json_u64(in.json, "first", &a) == 0 && json_u64(in.json, "second", &b) == 0 &&
                  json_proof(json_object_get(in.json, "proof"), proof, &n) == 0;
        input_free(&in);
        if (!ok) {
            cli_error("%s: a consistency proof has first, second and proof", arg);
            return CLI_INPUT;
        }
        if (a != first.tree_size || b != s->tree_size) {
            cli_error("the proof is from %llu to %llu leaves, the signed heads have %llu and "
                      "%llu: ask for ?first=%llu&second=%llu",
                      (unsigned long long)a, (unsigned long long)b,
                      (unsigned long long)first.tree_size, (unsigned long long)s->tree_size,
                      (unsigned long long)first.tree_size, (unsigned long long)s->tree_size);
            return CLI_REFUSED;
        }
    } else {
        if (in.buf) {
            input_free(&in);
            cli_error("%s: expected the JSON of GET /api/v1/proof/consistency", arg);
            return CLI_INPUT;
        }
        if (parse_proof(arg, proof, &n) != CLI_OK)
            return CLI_USAGE;
    }
    rc = corio_merkle_verify_consistency(first.tree_size, s->tree_size, first.root, s->root, proof,
                                         n);
    if (rc != CORIO_OK) {
        cli_error("consistency refused (a fork or a rewritten log): %s", corio_strerror(rc));
        return CLI_REFUSED;
    }
    printf("consistency ok %llu -> %llu\n", (unsigned long long)first.tree_size,
           (unsigned long long)s->tree_size);
    return CLI_OK;
}

static int ledger_verify(int argc, char **argv)
{
    struct cli_opts o;
    int rc = cli_opts_parse(argc, argv, &o);
    if (rc != CLI_OK || o.help) {
        if (o.help)
            cli_command_help(stdout);
        return rc;
    }
    const char *sth = cli_need(&o, "sth");
    if (!sth)
        return CLI_USAGE;
    if (cli_opt(&o, "old-sth") && !cli_opt(&o, "consistency"))
        return cli_usage_error("--old-sth needs --consistency");
    struct corio_sth s;
    if ((rc = load_sth(sth, cli_opt(&o, "node-key"), cli_opt(&o, "ca"), &s)) != CLI_OK)
        return rc;
    if ((cli_opt(&o, "tx") || cli_opt(&o, "proof")) && (rc = verify_inclusion(&o, &s)) != CLI_OK)
        return rc;
    if (cli_opt(&o, "old-sth") && (rc = verify_consistency(&o, &s)) != CLI_OK)
        return rc;
    return CLI_OK;
}

static const struct cli_command commands[] = {
    {"show", "TX", "decode a transaction: id, type, expiry, ledger, signers", NULL, ledger_show},
    {"sign", "--key FILE [--signer DID#N] [--out FILE] [--node URL] TX",
     "add a signature to a transaction (another organisation, a new member)",
     "  TX  a file, hex or base64url\n", ledger_sign},
    {"submit", "--node URL TX", "submit a transaction to a ledger node", NULL, ledger_submit},
    {"rotate", CLI_ROTATE_USAGE, CLI_ROTATE_SUMMARY, CLI_ROTATE_HELP, cli_ledger_rotate},
    {"verify",
     "--sth FILE [--node-key KEY] [--ca FILE] [--proof FILE | --tx TX --index N --path H,...]"
     " [--old-sth FILE --consistency FILE|H,...]",
     "check signed tree heads, a transaction's inclusion and the log's consistency offline",
     "  --sth FILE          a signed tree head: the JSON of GET /api/v1/tree-head as saved\n"
     "                      (curl -o), or its COSE_Sign1 (raw, hex or base64url)\n"
     "  --node-key KEY      the key it must be signed with (did:key, hex or PEM)\n"
     "  --ca FILE           the node's organisation CA: the head's certificate (in the\n"
     "                      JSON) must chain to it, hold the signing key and name the node\n"
     "  --proof FILE        an inclusion proof: the JSON of GET /api/v1/tx/{id}?tree_size=N\n"
     "                      or /api/v1/proof/inclusion?leaf=I&tree_size=N, N the head's size\n"
     "  --tx, --index, --path  the same as parts: a transaction, its leaf index and its\n"
     "                      audit path (hex hashes separated by commas)\n"
     "  --old-sth FILE      an earlier signed tree head (as --sth)\n"
     "  --consistency FILE  the JSON of GET /api/v1/proof/consistency?first=M&second=N\n"
     "                      (M, N the two heads' sizes), or its hex hashes\n"
     "Exit 0 when everything given verifies, 1 when something does not.\n",
     ledger_verify},
};

const struct cli_group cli_group_ledger = {"ledger", "ledger transactions and proofs", commands,
                                           sizeof commands / sizeof commands[0]};
