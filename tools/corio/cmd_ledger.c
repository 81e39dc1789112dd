/*
 * cmd_ledger.c - `corio ledger`: transactions as files (show, add a signature,
 * submit to a node), key rotation on the ledger, and offline verification of signed
 * tree heads, inclusion and consistency proofs with the engine's pure code (merkle.c,
 * sth.c). Also the helpers every ledger command group shares (cli_tx.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cli.h"
#include "cli_tx.h"
#include "corio/error.h"
#include "corio/p256.h"
#include "corio/rotation.h"
#include "crypto_openssl.h"
#include "ledger_merkle.h"
#include "ledger_sth.h"

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
    fwrite(p, size, n, arg);
    return size * n;
}

/* POSTs a transaction to URL/api/v1/tx; prints the node's answer. */
static int submit(const char *node, const uint8_t *tx, size_t len)
{
    CURL *c = curl_easy_init();
    if (!c) {
        cli_error("cannot start libcurl");
        return CLI_FAIL;
    }
    char url[1024];
    snprintf(url, sizeof url, "%s/api/v1/tx", node);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/cbor");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)tx);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, stdout);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) {
        cli_error("%s: %s", url, curl_easy_strerror(rc));
        return CLI_FAIL;
    }
    fputc('\n', stdout);
    if (status / 100 != 2) {
        cli_error("the node refused the transaction (HTTP %ld)", status);
        return CLI_REFUSED;
    }
    return CLI_OK;
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
    int n = out ? corio_tx_add_signature(&key, &did, tx, len, out, CORIO_TX_MAX) : CORIO_ERR_NOSPACE;
    corio_key_close(&key);
    free(tx);
    if (n < 0) {
        cli_error("cannot sign: %s", n == CORIO_ERR_POLICY ? "this identity already signed"
                                                           : corio_strerror(n));
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
static int ledger_rotate(int argc, char **argv)
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

static int load_sth(const char *arg, const char *pin, struct corio_sth *s)
{
    uint8_t *buf;
    size_t len;
    int rc = cli_read_message(arg, &buf, &len);
    if (rc != CLI_OK)
        return rc;
    uint8_t expect[33], *e = NULL;
    if (pin) {
        if ((rc = cli_pub33(pin, expect)) != CLI_OK) {
            free(buf);
            return rc;
        }
        e = expect;
    }
    uint8_t signer[33];
    rc = corio_sth_verify(OPS, buf, len, e, s, signer);
    free(buf);
    if (rc != CORIO_OK) {
        cli_error("%s: the signed tree head is refused: %s", arg, corio_strerror(rc));
        return CLI_REFUSED;
    }
    printf("sth ok node %llu height %llu size %llu\n", (unsigned long long)s->node,
           (unsigned long long)s->height, (unsigned long long)s->tree_size);
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
    struct corio_sth s;
    if ((rc = load_sth(sth, cli_opt(&o, "node-key"), &s)) != CLI_OK)
        return rc;
    const char *leaf = cli_opt(&o, "tx");
    if (leaf) {
        uint64_t index;
        corio_merkle_hash path[CORIO_MERKLE_MAX_PROOF];
        size_t n;
        const char *ix = cli_need(&o, "index");
        if (!ix || cli_u64("--index", ix, &index) != CLI_OK ||
            parse_proof(cli_opt(&o, "path"), path, &n) != CLI_OK)
            return CLI_USAGE;
        uint8_t *tx;
        size_t len;
        if ((rc = read_tx(leaf, &tx, &len)) != CLI_OK)
            return rc;
        uint8_t lh[32];
        corio_merkle_leaf_hash(tx, len, lh);
        free(tx);
        rc = corio_merkle_verify_inclusion(lh, index, s.tree_size, path, n, s.root);
        if (rc != CORIO_OK) {
            cli_error("inclusion refused: %s", corio_strerror(rc));
            return CLI_REFUSED;
        }
        printf("inclusion ok leaf %llu of %llu\n", (unsigned long long)index,
               (unsigned long long)s.tree_size);
    }
    const char *old = cli_opt(&o, "old-sth");
    if (old) {
        struct corio_sth first;
        corio_merkle_hash proof[CORIO_MERKLE_MAX_PROOF];
        size_t n;
        if ((rc = load_sth(old, cli_opt(&o, "node-key"), &first)) != CLI_OK)
            return rc;
        if (parse_proof(cli_opt(&o, "consistency"), proof, &n) != CLI_OK)
            return CLI_USAGE;
        rc = corio_merkle_verify_consistency(first.tree_size, s.tree_size, first.root, s.root,
                                             proof, n);
        if (rc != CORIO_OK) {
            cli_error("consistency refused (a fork or a rewritten log): %s", corio_strerror(rc));
            return CLI_REFUSED;
        }
        printf("consistency ok %llu -> %llu\n", (unsigned long long)first.tree_size,
               (unsigned long long)s.tree_size);
    }
    return CLI_OK;
}

static const struct cli_command commands[] = {
    {"show", "TX", "decode a transaction: id, type, expiry, ledger, signers", NULL, ledger_show},
    {"sign", "--key FILE [--signer DID#N] [--out FILE] [--node URL] TX",
     "add a signature to a transaction (another organisation, a new member)",
     "  TX  a file, hex or base64url\n", ledger_sign},
    {"submit", "--node URL TX", "submit a transaction to a ledger node", NULL, ledger_submit},
    {"rotate",
     "--key FILE --signer DID#K --org ID --new-key PUBKEY [--endorse FILE --endorser DID#N] ...",
     "rotate an identity to key K+1 (the link signed by key K, endorsed by its organisation)",
     "  --key, --signer  the identity's current key and its number K\n"
     "  --org ID         the owner organisation (for an organisation: itself)\n"
     "  --new-key KEY    the next key (did:key, zDn..., hex or a PEM file)\n"
     "  --endorse FILE   an endorser's key: the organisation or one of its members;\n"
     "                   more endorsements: corio cose's COSE_Sign tools\n" CLI_TX_HELP,
     ledger_rotate},
    {"verify",
     "--sth FILE [--node-key KEY] [--tx TX --index N --path H,H...] [--old-sth FILE"
     " --consistency H,H...]",
     "check a signed tree head, a transaction's inclusion and the log's consistency offline",
     "  --sth FILE          a signed tree head (COSE_Sign1) from a node\n"
     "  --node-key KEY      the node key it must be signed with\n"
     "  --tx, --index, --path  a transaction, its leaf index and audit path (hex hashes)\n"
     "  --old-sth, --consistency  an earlier head and the consistency proof to this one\n",
     ledger_verify},
};

const struct cli_group cli_group_ledger = {"ledger", "ledger transactions and proofs", commands,
                                           sizeof commands / sizeof commands[0]};
