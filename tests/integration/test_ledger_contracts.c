/*
 * test_ledger_contracts.c - one corio-ledger running the built-in contracts, driven only
 * through the real `corio` command line (the CLI test of the ledger): a genesis pinned
 * in the node's configuration, organisations admitted by vote, a firmware right granted
 * by vote, a member, a device claimed with its EAT, transferred (both organisations
 * sign) and revoked, a release approved k of n, a key rotation after which only the new
 * key signs, the API's views and DID resolution, and the API's proofs and signed tree
 * heads saved to files and checked offline with `corio ledger verify`.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "corio/error.h"
#include "harness.h"

/* ---- the command line -------------------------------------------------------------------- */

struct run {
    int status;
    const char *out; /* stdout and stderr, in order */
};

/* Runs corio with the arguments (ending with NULL) in the test's directory. */
static struct run cli_run(const char *const *args)
{
    const char *argv[48] = {h_bin("corio")};
    size_t n = 1;
    for (; args[n - 1]; n++) {
        assert_true(n < 47);
        argv[n] = args[n - 1];
    }
    argv[n] = NULL;
    char *out = NULL;
    struct run r;
    r.status = h_run("corio", argv, NULL, 30000, &out);
    r.out = out ? out : "";
    return r;
}

#define CLI(...) cli_run((const char *const[]){__VA_ARGS__, NULL})

/* Runs a command that must succeed. */
#define CLI_OK(...)                                                                                \
    ({                                                                                             \
        struct run r_ = CLI(__VA_ARGS__);                                                          \
        if (r_.status != 0)                                                                        \
            fail_msg("corio exited %d:\n%s", r_.status, r_.out);                                   \
        r_;                                                                                        \
    })

/* The value of the output line "<name> <value>" (scope-owned), or fails. */
static const char *line_value(const char *out, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = out; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (!strncmp(p, name, nl) && p[nl] == ' ') {
            const char *v = p + nl + 1;
            size_t len = strcspn(v, "\n");
            return h_strf("%.*s", (int)len, v);
        }
    }
    fail_msg("no '%s' line in:\n%s", name, out);
    return NULL;
}

/* An identity made with `corio key new` and read back with `corio did show`. */
struct ident {
    const char *key; /* file */
    const char *did, *didkey, *id;
};

static struct ident ident_new(const char *name)
{
    struct ident x;
    x.key = h_strf("%s/%s.key", h_dir(), name);
    CLI_OK("key", "new", "--out", x.key);
    struct run r = CLI_OK("did", "show", x.key);
    x.did = line_value(r.out, "did");
    x.didkey = line_value(r.out, "didkey");
    x.id = line_value(r.out, "id");
    return x;
}

/* ---- the node ------------------------------------------------------------------------------ */

struct node {
    int http_port, raft_port;
    const char *url;
    struct h_proc *p;
};

static json_t *get(const struct node *n, const char *path, long *status)
{
    struct h_http_resp r;
    assert_int_equal(h_http_get(h_strf("%s%s", n->url, path), &r), CORIO_OK);
    if (status)
        *status = r.status;
    return json_loads(r.body, 0, NULL);
}

/* Saves GET path to a file, as `curl -o` would. */
static const char *save(const struct node *n, const char *path, const char *file)
{
    struct h_http_resp r;
    assert_int_equal(h_http_get(h_strf("%s%s", n->url, path), &r), CORIO_OK);
    assert_int_equal(r.status, 200);
    const char *f = h_strf("%s/%s", h_dir(), file);
    assert_int_equal(h_write_file(f, r.body), CORIO_OK);
    return f;
}

/* JSON as text (scope-owned). */
static const char *dump(json_t *j)
{
    char *t = json_dumps(j, 0);
    assert_non_null(t);
    const char *s = h_strf("%s", t);
    free(t);
    return s;
}

static uint64_t jint(json_t *o, const char *key)
{
    return (uint64_t)json_integer_value(json_object_get(o, key));
}

static const char *jstr(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static uint64_t height_of(const struct node *n)
{
    json_t *j = get(n, "/healthz", NULL);
    uint64_t h = jint(j, "height");
    json_decref(j);
    return h;
}

/* The status of a proposal, as the contracts' view says. */
static const char *proposal_status(const struct node *n, const char *id)
{
    json_t *j = get(n, h_strf("/api/v1/contracts/proposals/%s", id), NULL);
    json_t *p = json_is_array(j) ? json_array_get(j, 0) : j;
    const char *s = h_strf("%s", jstr(p, "status"));
    json_decref(j);
    return s;
}

/* ---- the scenario ---------------------------------------------------------------------------- */

static void governance_through_the_cli(void **state)
{
    (void)state;
    struct ident a = ident_new("org-a"), b = ident_new("org-b"), c = ident_new("org-c");
    struct ident person = ident_new("person"), person2 = ident_new("person-next");
    struct ident dev = ident_new("device");
    struct node n = {.http_port = h_free_port(), .raft_port = h_free_port()};
    n.url = h_strf("http://127.0.0.1:%d", n.http_port);

    /* The genesis is made offline (k = 2 approvals for a release), and the node is
     * configured to propose only that one. */
    const char *gfile = h_strf("%s/genesis.json", h_dir());
    h_write_file(gfile, h_strf("{\"name\": \"cli ledger\", \"params\": {\"release.k\": 2},"
                               " \"orgs\": [{\"key\": \"%s\", \"name\": \"Org A\", \"node\": 1,"
                               " \"address\": \"127.0.0.1:%d\", \"api\": \"%s\"}]}",
                               a.didkey, n.raft_port, n.url));
    struct run r = CLI_OK("org", "genesis", "--file", gfile, "--key", a.key, "--expires", "100",
                          "--out", "genesis.cbor");
    const char *ledger = line_value(r.out, "id");
    CLI_OK("org", "genesis", "--file", gfile, "--key", a.key, "--expires", "100", "--out",
           "other-genesis.cbor");
    const char *conf = h_strf("node_id 1\nraft_address 127.0.0.1:%d\nlisten 127.0.0.1:%d\n"
                              "data_dir %s/node\nempty_block_interval 100ms\n"
                              "membership_grace 1h\naudit_interval 1s\ngenesis_id %s\n",
                              n.raft_port, n.http_port, h_dir(), ledger);
    struct h_daemon_opts o = {
        .config = conf, .ready_url = h_strf("%s/healthz", n.url), .timeout_ms = 20000};
    n.p = h_daemon_start("corio-ledger", &o);
    assert_non_null(n.p);
    bool ok;
    H_POLL(ok, ({
               json_t *s = get(&n, "/api/v1/status", NULL);
               bool lead = !strcmp(jstr(s, "role"), "leader");
               json_decref(s);
               lead;
           }),
           20000);
    assert_true(ok);

    /* Another genesis is refused before it is proposed (422 from check). */
    r = CLI("ledger", "submit", "--node", n.url, "other-genesis.cbor");
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.out, "not the genesis this node is configured with"));
    r = CLI_OK("ledger", "submit", "--node", n.url, "genesis.cbor");
    assert_non_null(strstr(r.out, "\"accepted\""));
    json_t *j = get(&n, "/api/v1/status", NULL);
    assert_string_equal(jstr(j, "application"), "contracts");
    json_decref(j);

    const char *exp = h_strf("%llu", (unsigned long long)height_of(&n) + 2000);
#define TX(...) __VA_ARGS__, "--ledger", ledger, "--expires", exp

    /* Organisations B and C are admitted by vote in one voting period: each newcomer
     * signs its admission with its key 0 (corio ledger sign), A votes yes. The
     * transactions are made offline first, then submitted. */
    int raft_b = h_free_port(), raft_c = h_free_port();
    CLI_OK("org", "admit",
           TX("--org", a.id, "--new-key", b.didkey, "--name", "Org B", "--node-id", "2",
              "--address", h_strf("127.0.0.1:%d", raft_b), "--api", "http://127.0.0.1:1",
              "--approver", "yes", "--period", "30", "--key", a.key, "--out", "admit-b.cbor"));
    const char *admit_b = line_value(
        CLI_OK("ledger", "sign", "--key", b.key, "--out", "admit-b-signed.cbor", "admit-b.cbor")
            .out,
        "id");
    CLI_OK("org", "admit",
           TX("--org", a.id, "--new-key", c.didkey, "--name", "Org C", "--node-id", "3",
              "--address", h_strf("127.0.0.1:%d", raft_c), "--approver", "yes", "--period", "30",
              "--key", a.key, "--out", "admit-c.cbor"));
    const char *admit_c = line_value(
        CLI_OK("ledger", "sign", "--key", c.key, "--out", "admit-c-signed.cbor", "admit-c.cbor")
            .out,
        "id");
    const char *props[] = {admit_b, admit_c};
    const char *files[] = {"admit-b-signed.cbor", "admit-c-signed.cbor"};
    for (int i = 0; i < 2; i++)
        CLI_OK("vote", "cast",
               TX("--proposal", props[i], "--org", a.id, "--choice", "yes", "--key", a.key, "--out",
                  h_strf("vote-%d.cbor", i)));
    for (int i = 0; i < 2; i++)
        CLI_OK("ledger", "submit", "--node", n.url, files[i]);
    for (int i = 0; i < 2; i++)
        CLI_OK("ledger", "submit", "--node", n.url, h_strf("vote-%d.cbor", i));
    for (int i = 0; i < 2; i++) {
        H_POLL(ok, strcmp(proposal_status(&n, props[i]), "open") != 0, 30000);
        assert_true(ok);
        assert_string_equal(proposal_status(&n, props[i]), "passed");
    }
    j = get(&n, "/api/v1/contracts/orgs", NULL);
    assert_int_equal(json_array_size(j), 3);
    json_decref(j);
    /* The ledger's membership follows: three nodes expected (B's and C's do not run). */
    j = get(&n, "/api/v1/status", NULL);
    assert_int_equal(json_array_size(json_object_get(j, "members")), 3);
    json_decref(j);

    /* Now three organisations vote on A's right: two yes, one no. The proposal goes
     * straight to the node; the votes are submitted as they are made. */
    r = CLI_OK("proposal", "rights",
               TX("--org", a.id, "--holder", a.id, "--class", "sensor", "--grant", "yes",
                  "--period", "30", "--key", a.key, "--out", "right.cbor", "--node", n.url));
    const char *right = line_value(r.out, "id");
    const struct ident *voters[] = {&a, &b, &c};
    for (int i = 0; i < 3; i++)
        CLI_OK("vote", "cast",
               TX("--proposal", right, "--org", voters[i]->id, "--choice", i == 2 ? "no" : "yes",
                  "--key", voters[i]->key, "--out", h_strf("right-vote-%d.cbor", i), "--node",
                  n.url));
    H_POLL(ok, strcmp(proposal_status(&n, right), "open") != 0, 30000);
    assert_true(ok);
    assert_string_equal(proposal_status(&n, right), "passed");
    j = get(&n, h_strf("/api/v1/contracts/proposals/%s", right), NULL);
    json_t *tally = json_object_get(json_is_array(j) ? json_array_get(j, 0) : j, "tally");
    assert_int_equal(jint(tally, "yes"), 2);
    assert_int_equal(jint(tally, "no"), 1);
    assert_int_equal(jint(tally, "total"), 3);
    json_decref(j);
    j = get(&n, "/api/v1/contracts/rights", NULL);
    assert_non_null(strstr(dump(j), "sensor"));
    json_decref(j);

    /* A member: the organisation adds the person, who signs with its key 0. */
    CLI_OK(
        "org", "member-add",
        TX("--org", a.id, "--member-key", person.didkey, "--key", a.key, "--out", "member.cbor"));
    CLI_OK("ledger", "sign", "--key", person.key, "--node", n.url, "--out", "member-signed.cbor",
           "member.cbor");
    j = get(&n, h_strf("/api/v1/contracts/orgs/%s/members", a.id), NULL);
    assert_non_null(strstr(dump(j), person.did));
    json_decref(j);

    /* A device claimed with its EAT (nonce = H(secret ‖ claimant)), transferred to B with
     * both organisations' signatures, and revoked by its new owner. */
    const char *nonce =
        h_strf("%.64s", CLI_OK("device", "claim-nonce", "--org", a.id, "printed-secret").out);
    r = CLI_OK("eat", "make", "--key", dev.key, "--aud", a.id, "--nonce", nonce);
    const char *eat = h_strf("%.*s", (int)strcspn(r.out, "\n"), r.out);
    r = CLI_OK("device", "claim",
               TX("--org", a.id, "--device-key", dev.didkey, "--eat", eat, "--class", "sensor",
                  "--model", "th-1", "--hw", "rev-b", "--key", a.key, "--out", "claim.cbor",
                  "--node", n.url));
    assert_non_null(strstr(r.out, "\"accepted\""));
    j = get(&n, h_strf("/api/v1/contracts/devices/%s", dev.id), NULL);
    assert_non_null(strstr(dump(j), a.did));
    json_decref(j);
    CLI_OK("device", "transfer",
           TX("--device", dev.id, "--from", a.id, "--to", b.id, "--key", a.key, "--out",
              "transfer.cbor"));
    /* One signature is not enough. */
    r = CLI("ledger", "submit", "--node", n.url, "transfer.cbor");
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.out, "not signed for"));
    CLI_OK("ledger", "sign", "--key", b.key, "--node", n.url, "--out", "transfer-signed.cbor",
           "transfer.cbor");
    j = get(&n, h_strf("/api/v1/contracts/devices/%s", dev.id), NULL);
    assert_non_null(strstr(dump(j), b.did));
    json_decref(j);
    CLI_OK("device", "revoke",
           TX("--device", dev.id, "--key", b.key, "--out", "revoke.cbor", "--node", n.url));
    j = get(&n, h_strf("/api/v1/contracts/devices/%s", dev.id), NULL);
    json_t *d = json_is_array(j) ? json_array_get(j, 0) : j;
    assert_true(json_is_true(json_object_get(d, "revoked")));
    json_decref(j);
    r = CLI("device", "revoke",
            TX("--device", dev.id, "--key", b.key, "--out", "revoke2.cbor", "--node", n.url));
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.out, "is revoked"));

    /* A release approved 2 of 3: the proposer (an approver) counts, B approves. */
    const char *digest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    r = CLI_OK("release", "propose",
               TX("--org", a.id, "--class", "sensor", "--digest", digest, "--version", "1.2.0",
                  "--key", a.key, "--out", "release.cbor", "--node", n.url));
    const char *release = line_value(r.out, "id");
    j = get(&n, "/api/v1/contracts/releases", NULL);
    assert_string_equal(jstr(json_array_get(j, 0), "status"), "pending");
    json_decref(j);
    r = CLI("release", "approve",
            TX("--release", release, "--org", c.id, "--key", b.key, "--out", "approve-bad.cbor",
               "--node", n.url));
    assert_int_equal(r.status, 1); /* B's key does not sign for C */
    CLI_OK("release", "approve",
           TX("--release", release, "--org", b.id, "--key", b.key, "--out", "approve.cbor",
              "--node", n.url));
    j = get(&n, "/api/v1/contracts/releases", NULL);
    assert_string_equal(jstr(json_array_get(j, 0), "status"), "approved");
    assert_int_equal(json_array_size(json_object_get(json_array_get(j, 0), "approvals")), 2);
    json_decref(j);
    struct h_http_resp reg;
    assert_int_equal(h_http_get(h_strf("%s/api/v1/contracts/registry", n.url), &reg), CORIO_OK);
    assert_int_equal(reg.status, 200);
    assert_non_null(strstr(reg.body, digest));

    /* The person's key rotates (the link endorsed by A): the old key no longer signs,
     * the new one does, and the DID document shows it. */
    r = CLI_OK("did", "rotate",
               TX("--key", person.key, "--signer", h_strf("%s#0", person.did), "--org", a.id,
                  "--new-key", person2.didkey, "--endorse", a.key, "--endorser",
                  h_strf("%s#0", a.did), "--out", "rotate.cbor", "--node", n.url));
    assert_non_null(strstr(r.out, "\"accepted\""));
    r = CLI("proposal", "decision",
            TX("--org", a.id, "--title", "old-key", "--key", person.key, "--signer",
               h_strf("%s#0", person.did), "--out", "old.cbor", "--node", n.url));
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.out, "its current key is 1"));
    CLI_OK("proposal", "decision",
           TX("--org", a.id, "--title", "new-key", "--key", person2.key, "--signer",
              h_strf("%s#1", person.did), "--out", "new.cbor", "--node", n.url));
    j = get(&n, h_strf("/1.0/identifiers/%s", person.did), NULL);
    const char *doc = dump(j);
    json_decref(j);
    assert_non_null(strstr(doc, person2.didkey + strlen("did:key:")));
    assert_non_null(strstr(doc, "\"versionId\": \"1\""));
    long st;
    j = get(&n, "/1.0/identifiers/did:corio:aaaaaaaaaaaaaaaaaaaaaaaa", &st);
    assert_int_equal(st, 404);
    json_decref(j);
    j = get(&n, "/api/v1/contracts/nothing-here", &st);
    assert_int_equal(st, 404);
    json_decref(j);

    /* Offline proofs from what the API serves, as files: two signed tree heads, the
     * rotation's inclusion in the newer one, and the consistency between them. */
    const char *sth1 = save(&n, "/api/v1/tree-head", "sth1.json");
    r = CLI_OK("org", "member-remove",
               TX("--org", a.id, "--member", person.id, "--key", a.key, "--out", "remove.cbor",
                  "--node", n.url));
    const char *removed = line_value(r.out, "id");
    const char *sth2 = save(&n, "/api/v1/tree-head", "sth2.json");
    json_t *h2 = json_loads(h_read_file(sth2, NULL), 0, NULL);
    uint64_t size2 = jint(h2, "tree_size");
    json_decref(h2);
    j = json_loads(h_read_file(sth1, NULL), 0, NULL);
    uint64_t size1 = jint(j, "tree_size");
    json_decref(j);
    assert_true(size2 > size1);
    const char *proof =
        save(&n, h_strf("/api/v1/tx/%s?tree_size=%llu", removed, (unsigned long long)size2),
             "proof.json");
    const char *cons = save(&n,
                            h_strf("/api/v1/proof/consistency?first=%llu&second=%llu",
                                   (unsigned long long)size1, (unsigned long long)size2),
                            "consistency.json");
    r = CLI_OK("ledger", "verify", "--sth", sth2, "--proof", proof, "--old-sth", sth1,
               "--consistency", cons);
    assert_non_null(
        strstr(r.out, h_strf("inclusion ok leaf %llu of %llu id %s",
                             (unsigned long long)(size2 - 1), (unsigned long long)size2, removed)));
    assert_non_null(strstr(r.out, h_strf("consistency ok %llu -> %llu", (unsigned long long)size1,
                                         (unsigned long long)size2)));
    /* The head's key can be pinned; another key is refused. */
    j = json_loads(h_read_file(sth2, NULL), 0, NULL);
    const char *key = h_strf("%s", jstr(j, "key"));
    json_decref(j);
    CLI_OK("ledger", "verify", "--sth", sth2, "--node-key", key);
    r = CLI("ledger", "verify", "--sth", sth2, "--node-key", a.didkey);
    assert_int_equal(r.status, 1);
    /* A changed audit path, a proof for another tree size than the head's, swapped
     * heads: all refused. */
    const char *bad = h_strf("%s/bad-proof.json", h_dir());
    char *text = h_read_file(proof, NULL);
    char *at = strstr(text, "\"path\": [\"");
    if (!at)
        at = strstr(text, "\"path\":[\"");
    assert_non_null(at);
    at = strchr(at, '[') + 2;
    *at = *at == '0' ? '1' : '0';
    h_write_file(bad, text);
    r = CLI("ledger", "verify", "--sth", sth2, "--proof", bad);
    assert_int_equal(r.status, 1);
    r = CLI("ledger", "verify", "--sth", sth1, "--proof", proof);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.out, "?tree_size="));
    r = CLI("ledger", "verify", "--sth", sth1, "--old-sth", sth2, "--consistency", cons);
    assert_int_equal(r.status, 1);
#undef TX
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(governance_through_the_cli),
    };
    return h_done(cmocka_run_group_tests(tests, NULL, NULL));
}
