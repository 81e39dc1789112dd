/*
 * test_relay.c - the downlink container and state message (common/down.h) and registry
 * relays (common/relay.h). Blocks, transactions and tree heads are made with the
 * ledger's own encoders and signers (ledger/), so the gateway's reading of them is
 * checked against the real formats: a revocation relayed and applied; an update that
 * leaves out a revocation, invents a device, changes a key without its rotation, or
 * brings a revoked device back, refused; a broken chain, a foreign tree-head key, a
 * missing height; a whole-registry update; the line model's parse, apply and diff.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "corio/did.h"
#include "corio/rotation.h"
#include "crypto_openssl.h"
#include "down.h"
#include "ledger_block.h"
#include "ledger_sth.h"
#include "relay.h"
#include "tx.h"

static const struct corio_crypto_ops *ops = &corio_crypto_openssl_ops;

struct world {
    struct corio_key node, org, dev1, dev2, dev1b;
    uint8_t node_pub[33];
    char org_id[25], dev1_id[25], dev2_id[25];
    uint8_t org_raw[15];
    char dev1_key[80], dev2_key[80], dev1b_key[80];
    uint8_t ledger[32];
};

static struct world W;

static void key_of(struct corio_key *k, char id[25], char didkey[80], uint8_t *raw)
{
    assert_int_equal(corio_key_generate(ops, 0, 0, k), CORIO_OK);
    uint8_t pub[65];
    assert_int_equal(corio_key_public(k, pub), CORIO_OK);
    struct corio_did did;
    if (id) {
        assert_int_equal(corio_did_from_key(ops, pub, sizeof pub, &did), CORIO_OK);
        assert_int_equal(corio_did_id_format(did.id, id, 25), 24);
        if (raw)
            memcpy(raw, did.id, 15);
    }
    if (didkey)
        assert_true(corio_didkey_format(pub, sizeof pub, didkey, 80) > 0);
}

static int setup(void **state)
{
    (void)state;
    memset(&W, 0, sizeof W);
    key_of(&W.node, NULL, NULL, NULL);
    assert_int_equal(corio_key_public_compressed(&W.node, W.node_pub), CORIO_OK);
    key_of(&W.org, W.org_id, NULL, W.org_raw);
    key_of(&W.dev1, W.dev1_id, W.dev1_key, NULL);
    key_of(&W.dev2, W.dev2_id, W.dev2_key, NULL);
    key_of(&W.dev1b, NULL, W.dev1b_key, NULL);
    memset(W.ledger, 0x4e, sizeof W.ledger);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    corio_key_close(&W.node);
    corio_key_close(&W.org);
    corio_key_close(&W.dev1);
    corio_key_close(&W.dev2);
    corio_key_close(&W.dev1b);
    return 0;
}

/* ---- making ledger artifacts ---- */

struct blob {
    uint8_t b[4096];
    size_t n;
};

/* A transaction of type with args, signed by the organisation. */
static struct blob tx(unsigned type, const uint8_t *args, size_t args_len)
{
    static uint8_t nonce = 0;
    struct corio_tx_body b = {.version = CORIO_TX_VERSION,
                              .type = type,
                              .expires = 1000,
                              .has_ledger = true,
                              .args = args,
                              .args_len = args_len};
    memset(b.nonce, ++nonce, sizeof b.nonce);
    memcpy(b.ledger, W.ledger, sizeof b.ledger);
    uint8_t body[2048];
    int n = corio_tx_body_encode(&b, body, sizeof body);
    assert_true(n > 0);
    struct corio_did signer = {.has_key = true, .key = 0};
    memcpy(signer.id, W.org_raw, 15);
    struct blob out;
    int m = corio_tx_sign(&W.org, &signer, body, (size_t)n, out.b, sizeof out.b);
    assert_true(m > 0);
    out.n = (size_t)m;
    return out;
}

static struct blob revoke_tx(const char *device)
{
    struct corio_tx_device_ref r = {0};
    assert_int_equal(corio_did_id_parse(device, 24, r.device), CORIO_OK);
    uint8_t args[64];
    int n = corio_tx_device_ref_encode(CORIO_TX_DEVICE_REVOKE, &r, args, sizeof args);
    assert_true(n > 0);
    return tx(CORIO_TX_DEVICE_REVOKE, args, (size_t)n);
}

static struct blob register_tx(const struct corio_key *k)
{
    static const uint8_t eat[] = {1, 2, 3};
    struct corio_tx_device_register r = {.kind = 1,
                                         .auth = 1,
                                         .assurance = 1,
                                         .class_ = "sensor",
                                         .class_len = 6,
                                         .model = "m",
                                         .model_len = 1,
                                         .hw = "a",
                                         .hw_len = 1,
                                         .eat = eat,
                                         .eat_len = sizeof eat};
    memcpy(r.org, W.org_raw, 15);
    assert_int_equal(corio_key_public_compressed(k, r.key), CORIO_OK);
    uint8_t args[512];
    int n = corio_tx_device_register_encode(&r, args, sizeof args);
    assert_true(n > 0);
    return tx(CORIO_TX_DEVICE_REGISTER, args, (size_t)n);
}

static struct blob rotate_tx(const struct corio_key *cur, const char *subject,
                             const struct corio_key *next, uint32_t number)
{
    struct corio_rotation_statement st = {.key_number = number};
    assert_int_equal(corio_did_id_parse(subject, 24, st.subject), CORIO_OK);
    memcpy(st.org, W.org_raw, 15);
    assert_int_equal(corio_key_public_compressed(next, st.new_key), CORIO_OK);
    uint8_t link[1024];
    int n = corio_rotation_link_make(cur, &st, link, sizeof link);
    assert_true(n > 0);
    struct corio_tx_rotate r = {link, (size_t)n};
    uint8_t args[1200];
    int m = corio_tx_rotate_encode(&r, args, sizeof args);
    assert_true(m > 0);
    return tx(CORIO_TX_DID_ROTATE, args, (size_t)m);
}

struct chain {
    struct blob blocks[8];
    uint8_t hash[8][32];
    size_t n;
    uint64_t first;
    uint8_t sth[CORIO_STH_MAX];
    size_t sth_len;
};

/* Appends a block at the next height holding txs (status 0, or 1 when refused[i]). */
static void block(struct chain *c, const uint8_t *prev, const struct blob *txs, size_t ntx,
                  const bool *refused)
{
    struct corio_block_tx bt[4];
    for (size_t i = 0; i < ntx; i++)
        bt[i] = (struct corio_block_tx){
            txs[i].b, txs[i].n, refused && refused[i] ? CORIO_TX_REFUSED : CORIO_TX_ACCEPTED,
            refused && refused[i] ? "no" : "", refused && refused[i] ? 2u : 0u};
    struct corio_block b = {.version = 1,
                            .height = c->first + c->n,
                            .timestamp_ms = 1000,
                            .proposer = 1,
                            .txs = bt,
                            .ntxs = ntx};
    if (c->n)
        memcpy(b.prev_hash, c->hash[c->n - 1], 32);
    else if (prev)
        memcpy(b.prev_hash, prev, 32);
    struct blob *out = &c->blocks[c->n];
    int n = corio_block_encode(&b, out->b, sizeof out->b);
    assert_true(n > 0);
    out->n = (size_t)n;
    assert_int_equal(corio_block_hash(out->b, out->n, c->hash[c->n]), CORIO_OK);
    c->n++;
}

static void sign_head(struct chain *c, const struct corio_key *k)
{
    struct corio_sth s = {
        .tree_size = 10, .height = c->first + c->n - 1, .timestamp_ms = 1000, .node = 1};
    memcpy(s.block_hash, c->hash[c->n - 1], 32);
    int n = corio_sth_sign(&s, k, c->sth, sizeof c->sth);
    assert_true(n > 0);
    c->sth_len = (size_t)n;
}

static struct corio_down_item item(struct chain *c, uint64_t height, uint64_t base,
                                   const char *update, struct corio_bytes *views)
{
    for (size_t i = 0; i < c->n; i++)
        views[i] = (struct corio_bytes){c->blocks[i].b, c->blocks[i].n};
    return (struct corio_down_item){.kind = CORIO_DOWN_REGISTRY,
                                    .height = height,
                                    .base = base,
                                    .update = {(const uint8_t *)update, strlen(update)},
                                    .blocks = views,
                                    .nblocks = c->n,
                                    .sth = {c->sth, c->sth_len}};
}

static char *registry(uint64_t height, bool dev1_revoked, const char *dev1_key)
{
    char *s = malloc(2048);
    snprintf(s, 2048,
             "height %llu\n"
             "org %s Example Org # the owner\n"
             "device %s org=%s key=%s class=sensor revoked=%s\n"
             "device %s org=%s key=%s class=sensor\n",
             (unsigned long long)height, W.org_id, W.dev1_id, W.org_id, dev1_key,
             dev1_revoked ? "yes" : "no", W.dev2_id, W.org_id, W.dev2_key);
    return s;
}

static int verify(const char *cur, uint64_t cur_height, const uint8_t *anchor,
                  const struct corio_down_item *it, struct corio_relay_result *res, char *why)
{
    return corio_relay_verify(ops, (const uint8_t(*)[33])W.node_pub, 1, cur, strlen(cur),
                              cur_height, anchor, it, res, why, 256);
}

/* ---- tests ---- */

static void a_revocation_is_relayed_and_applied(void **state)
{
    (void)state;
    uint8_t anchor[32];
    memset(anchor, 0xAB, sizeof anchor);
    struct chain c = {.first = 6};
    struct blob t = revoke_tx(W.dev1_id);
    block(&c, anchor, &t, 1, NULL);
    sign_head(&c, &W.node);
    char *cur = registry(5, false, W.dev1_key), update[512];
    snprintf(update, sizeof update, "device %s org=%s key=%s class=sensor revoked=yes\n", W.dev1_id,
             W.org_id, W.dev1_key);
    struct corio_bytes v[8];
    struct corio_down_item it = item(&c, 6, 5, update, v);
    struct corio_relay_result res;
    char why[256] = "";
    assert_int_equal(verify(cur, 5, anchor, &it, &res, why), CORIO_OK);
    assert_int_equal(res.height, 6);
    assert_int_equal(res.transactions, 1);
    assert_memory_equal(res.anchor, c.hash[0], 32);
    assert_int_equal(res.sth.height, 6);
    assert_non_null(strstr(res.text, "height 6\n"));
    assert_non_null(strstr(res.text, "revoked=yes"));
    /* An organisation's name is the rest of its line, '#' included (as the parser reads it). */
    assert_non_null(strstr(res.text, "Example Org # the owner\n"));
    free(res.text);

    /* Leaving the revocation out is refused. */
    it = item(&c, 6, 5, "", v);
    assert_int_equal(verify(cur, 5, anchor, &it, &res, why), CORIO_ERR_POLICY);
    assert_non_null(strstr(why, "revoked in the relayed blocks"));
    /* So is an update after another block than the one applied last. */
    uint8_t other[32];
    memset(other, 1, sizeof other);
    it = item(&c, 6, 5, update, v);
    assert_int_equal(verify(cur, 5, other, &it, &res, why), CORIO_ERR_POLICY);
    /* A gateway at another height must ask for the missing ones. */
    assert_int_equal(verify(cur, 4, anchor, &it, &res, why), CORIO_ERR_STATE);
    /* A tree head signed by a key the gateway does not trust. */
    sign_head(&c, &W.org);
    it = item(&c, 6, 5, update, v);
    assert_int_equal(verify(cur, 5, anchor, &it, &res, why), CORIO_ERR_POLICY);
    free(cur);
}

static void a_refused_revocation_changes_nothing(void **state)
{
    (void)state;
    struct chain c = {.first = 6};
    struct blob t = revoke_tx(W.dev1_id);
    bool refused = true;
    block(&c, NULL, &t, 1, &refused);
    sign_head(&c, &W.node);
    char *cur = registry(5, false, W.dev1_key);
    struct corio_bytes v[8];
    struct corio_down_item it = item(&c, 6, 5, "", v);
    struct corio_relay_result res;
    char why[256];
    assert_int_equal(verify(cur, 5, NULL, &it, &res, why), CORIO_OK);
    assert_int_equal(res.transactions, 0);
    free(res.text);
    free(cur);
}

static void devices_appear_only_with_their_claim(void **state)
{
    (void)state;
    char *cur = malloc(512);
    snprintf(cur, 512, "height 9\norg %s Org\n", W.org_id);
    char update[512];
    snprintf(update, sizeof update, "device %s org=%s key=%s class=sensor model=m hw_rev=a\n",
             W.dev2_id, W.org_id, W.dev2_key);
    /* Without a claim in the blocks: refused. */
    struct chain c = {.first = 10};
    block(&c, NULL, NULL, 0, NULL);
    sign_head(&c, &W.node);
    struct corio_bytes v[8];
    struct corio_down_item it = item(&c, 10, 9, update, v);
    struct corio_relay_result res;
    char why[256];
    assert_int_equal(verify(cur, 9, NULL, &it, &res, why), CORIO_ERR_POLICY);
    assert_non_null(strstr(why, "without a claim"));
    /* With it: accepted; and an empty block after it (the head is one higher) is fine. */
    struct chain d = {.first = 10};
    struct blob t = register_tx(&W.dev2);
    block(&d, NULL, &t, 1, NULL);
    block(&d, NULL, NULL, 0, NULL);
    sign_head(&d, &W.node);
    it = item(&d, 10, 9, update, v);
    assert_int_equal(verify(cur, 9, NULL, &it, &res, why), CORIO_OK);
    assert_int_equal(res.height, 10);
    assert_memory_equal(res.anchor, d.hash[0], 32); /* the block at the update's height */
    assert_int_equal(res.sth.height, 11);
    free(res.text);
    /* The claim of another key does not do. */
    struct chain e = {.first = 10};
    t = register_tx(&W.dev1);
    block(&e, NULL, &t, 1, NULL);
    sign_head(&e, &W.node);
    it = item(&e, 10, 9, update, v);
    assert_int_equal(verify(cur, 9, NULL, &it, &res, why), CORIO_ERR_POLICY);
    free(cur);
}

static void keys_change_only_by_rotation_and_revocation_is_final(void **state)
{
    (void)state;
    char *cur = registry(5, false, W.dev1_key), update[512];
    snprintf(update, sizeof update, "device %s org=%s key=%s key_no=1 class=sensor\n", W.dev1_id,
             W.org_id, W.dev1b_key);
    struct chain c = {.first = 6};
    block(&c, NULL, NULL, 0, NULL);
    sign_head(&c, &W.node);
    struct corio_bytes v[8];
    struct corio_down_item it = item(&c, 6, 5, update, v);
    struct corio_relay_result res;
    char why[256];
    assert_int_equal(verify(cur, 5, NULL, &it, &res, why), CORIO_ERR_POLICY);
    assert_non_null(strstr(why, "rotation"));
    struct chain d = {.first = 6};
    struct blob t = rotate_tx(&W.dev1, W.dev1_id, &W.dev1b, 1);
    block(&d, NULL, &t, 1, NULL);
    sign_head(&d, &W.node);
    it = item(&d, 6, 5, update, v);
    assert_int_equal(verify(cur, 5, NULL, &it, &res, why), CORIO_OK);
    free(res.text);
    free(cur);
    /* A revoked device cannot come back. */
    cur = registry(5, true, W.dev1_key);
    snprintf(update, sizeof update, "device %s org=%s key=%s class=sensor revoked=no\n", W.dev1_id,
             W.org_id, W.dev1_key);
    it = item(&c, 6, 5, update, v);
    assert_int_equal(verify(cur, 5, NULL, &it, &res, why), CORIO_ERR_POLICY);
    assert_non_null(strstr(why, "comes back"));
    free(cur);
}

static void an_organisation_key_changes_only_by_its_rotation(void **state)
{
    (void)state;
    uint8_t pub[65];
    char orgkey[80], newkey[80];
    struct corio_key next;
    assert_int_equal(corio_key_public(&W.org, pub), CORIO_OK);
    assert_true(corio_didkey_format(pub, sizeof pub, orgkey, sizeof orgkey) > 0);
    assert_int_equal(corio_key_generate(ops, 0, 0, &next), CORIO_OK);
    assert_int_equal(corio_key_public(&next, pub), CORIO_OK);
    assert_true(corio_didkey_format(pub, sizeof pub, newkey, sizeof newkey) > 0);
    char cur[512], update[256];
    snprintf(cur, sizeof cur, "height 5\norg %s Org\norgkey %s key=%s key_no=0\n", W.org_id,
             W.org_id, orgkey);
    snprintf(update, sizeof update, "orgkey %s key=%s key_no=1\n", W.org_id, newkey);
    struct chain c = {.first = 6};
    block(&c, NULL, NULL, 0, NULL);
    sign_head(&c, &W.node);
    struct corio_bytes v[8];
    struct corio_down_item it = item(&c, 6, 5, update, v);
    struct corio_relay_result res;
    char why[256];
    assert_int_equal(verify(cur, 5, NULL, &it, &res, why), CORIO_ERR_POLICY);
    assert_non_null(strstr(why, "organisation"));
    struct chain d = {.first = 6};
    struct blob t = rotate_tx(&W.org, W.org_id, &next, 1);
    block(&d, NULL, &t, 1, NULL);
    sign_head(&d, &W.node);
    it = item(&d, 6, 5, update, v);
    assert_int_equal(verify(cur, 5, NULL, &it, &res, why), CORIO_OK);
    assert_non_null(strstr(res.text, newkey));
    free(res.text);
    corio_key_close(&next);
}

static void a_whole_registry_needs_only_its_block(void **state)
{
    (void)state;
    struct chain c = {.first = 20};
    block(&c, NULL, NULL, 0, NULL);
    block(&c, NULL, NULL, 0, NULL);
    sign_head(&c, &W.node);
    char *whole = registry(0, false, W.dev1_key);
    struct corio_bytes v[8];
    struct corio_down_item it = item(&c, 20, 0, strchr(whole, '\n') + 1, v);
    struct corio_relay_result res;
    char why[256];
    assert_int_equal(verify("", 0, NULL, &it, &res, why), CORIO_OK);
    assert_int_equal(res.height, 20);
    assert_memory_equal(res.anchor, c.hash[0], 32);
    assert_non_null(strstr(res.text, "height 20\n"));
    free(res.text);
    /* Blocks that do not reach the signed head are refused. */
    it.nblocks = 1;
    assert_int_equal(verify("", 0, NULL, &it, &res, why), CORIO_ERR_POLICY);
    /* And an update not above the height held. */
    it.nblocks = 2;
    assert_int_equal(verify(whole, 20, NULL, &it, &res, why), CORIO_ERR_STATE);
    free(whole);
}

static void lines_parse_apply_and_diff(void **state)
{
    (void)state;
    const char *a = "# comment\nheight 7\r\norg aaaaaaaaaaaaaaaaaaaaaaaa  Two  Words \n"
                    "device bbbbbbbbbbbbbbbbbbbbbbbb   org=aaaaaaaaaaaaaaaaaaaaaaaa # pinned\n"
                    "firmware sensor 00 1.0\n";
    struct corio_reglines *r, *s;
    uint64_t h;
    char why[128];
    assert_int_equal(corio_reglines_parse(a, strlen(a), &r, &h, why, sizeof why), CORIO_OK);
    assert_int_equal(h, 7);
    assert_int_equal(corio_reglines_count(r), 3);
    size_t n;
    char *t = corio_reglines_format(r, 8, &n);
    assert_string_equal(t, "height 8\n"
                           "device bbbbbbbbbbbbbbbbbbbbbbbb org=aaaaaaaaaaaaaaaaaaaaaaaa\n"
                           "firmware sensor 00 1.0\n"
                           "org aaaaaaaaaaaaaaaaaaaaaaaa Two  Words\n");
    free(t);
    const char *u = "- firmware sensor 00\norg cccccccccccccccccccccccc C\n"
                    "device bbbbbbbbbbbbbbbbbbbbbbbb org=cccccccccccccccccccccccc\n";
    assert_int_equal(corio_reglines_parse(a, strlen(a), &s, NULL, why, sizeof why), CORIO_OK);
    assert_int_equal(corio_reglines_apply(s, u, strlen(u), why, sizeof why), CORIO_OK);
    assert_int_equal(corio_reglines_count(s), 3);
    char *d = corio_reglines_diff(r, s, &n);
    assert_string_equal(d, "device bbbbbbbbbbbbbbbbbbbbbbbb org=cccccccccccccccccccccccc\n"
                           "- firmware sensor 00\n"
                           "org cccccccccccccccccccccccc C\n");
    /* Applying the diff to the first gives the second. */
    assert_int_equal(corio_reglines_apply(r, d, n, why, sizeof why), CORIO_OK);
    char *x = corio_reglines_format(r, 1, &n), *y = corio_reglines_format(s, 1, &n);
    assert_string_equal(x, y);
    free(x);
    free(y);
    free(d);
    d = corio_reglines_diff(r, s, &n);
    assert_int_equal(n, 0);
    free(d);
    corio_reglines_free(r);
    corio_reglines_free(s);
    /* Refusals. */
    assert_int_equal(corio_reglines_parse("thing x\n", 8, &r, &h, why, sizeof why),
                     CORIO_ERR_MALFORMED);
    assert_int_equal(corio_reglines_parse("org a A\norg a B\n", 16, &r, &h, why, sizeof why),
                     CORIO_ERR_MALFORMED);
    assert_int_equal(corio_reglines_parse("height x\n", 9, &r, &h, why, sizeof why),
                     CORIO_ERR_MALFORMED);
}

static void the_container_and_state_round_trip_signed(void **state)
{
    (void)state;
    uint8_t cmd[64], cfg[64];
    static const uint8_t cid[16] = {1};
    struct corio_cmd c = {cid, 16, 5000, 3, "blink", 5, NULL, 0};
    int cn = corio_cmd_encode(&c, cmd, sizeof cmd);
    struct corio_cfg_desired dc = {2, (const uint8_t *)"\xA0", 1};
    int fn = corio_cfg_desired_encode(&dc, cfg, sizeof cfg);
    assert_true(cn > 0 && fn > 0);
    struct corio_down_item items[3] = {
        {.kind = CORIO_DOWN_COMMAND, .payload = {cmd, (size_t)cn}},
        {.kind = CORIO_DOWN_CONFIG, .payload = {cfg, (size_t)fn}},
        {.kind = CORIO_DOWN_TIME, .time_ms = 1764500000000ull},
    };
    snprintf(items[0].device, 25, "%s", W.dev1_id);
    snprintf(items[1].device, 25, "%s", W.dev2_id);
    struct corio_down d = {.made_ms = 99, .items = items, .nitems = 3};
    snprintf(d.gateway, sizeof d.gateway, "%s", W.org_id);
    uint8_t buf[512];
    int64_t n = corio_down_encode(&d, buf, sizeof buf);
    assert_true(n > 0);
    uint8_t *wire;
    size_t wlen;
    assert_int_equal(corio_down_seal(&W.node, buf, (size_t)n, &wire, &wlen), CORIO_OK);
    uint8_t pub[65];
    assert_int_equal(corio_key_public(&W.node, pub), CORIO_OK);
    struct corio_down back;
    char why[128];
    assert_int_equal(corio_down_open(ops, wire, wlen, pub, sizeof pub, &back, why, sizeof why),
                     CORIO_OK);
    assert_int_equal(back.nitems, 3);
    assert_string_equal(back.items[0].device, W.dev1_id);
    assert_int_equal(back.items[1].kind, CORIO_DOWN_CONFIG);
    assert_int_equal(back.items[2].time_ms, 1764500000000ull);
    corio_down_free(&back);
    /* Another key, a flipped byte. */
    uint8_t other[65];
    assert_int_equal(corio_key_public(&W.org, other), CORIO_OK);
    assert_int_equal(corio_down_open(ops, wire, wlen, other, sizeof other, &back, why, sizeof why),
                     CORIO_ERR_BADSIG);
    wire[wlen / 2] ^= 1;
    assert_int_not_equal(corio_down_open(ops, wire, wlen, pub, sizeof pub, &back, why, sizeof why),
                         CORIO_OK);
    free(wire);
    /* An item whose command does not decode is refused by encoder and decoder. */
    items[0].payload.n = 3;
    assert_int_equal(corio_down_encode(&d, buf, sizeof buf), CORIO_ERR_INVAL);

    /* The state message. */
    struct corio_state_cid del = {.cid_len = 16};
    memcpy(del.cid, cid, 16);
    snprintf(del.device, 25, "%s", W.dev1_id);
    struct corio_gw_state s = {.made_ms = 5,
                               .registry_height = 12,
                               .want = 12,
                               .queued = 3,
                               .online = 2,
                               .delivered = &del,
                               .ndelivered = 1};
    snprintf(s.gateway, 25, "%s", W.dev2_id);
    n = corio_state_encode(&s, buf, sizeof buf);
    assert_true(n > 0);
    assert_int_equal(corio_state_seal(&W.dev2, W.dev2_id, 0, buf, (size_t)n, &wire, &wlen),
                     CORIO_OK);
    assert_int_equal(corio_key_public(&W.dev2, pub), CORIO_OK);
    struct corio_gw_state sb;
    assert_int_equal(corio_state_open(ops, wire, wlen, pub, 65, 0, &sb, why, sizeof why), CORIO_OK);
    assert_int_equal(sb.registry_height, 12);
    assert_int_equal(sb.ndelivered, 1);
    assert_memory_equal(sb.delivered[0].cid, cid, 16);
    corio_state_free(&sb);
    assert_int_equal(corio_state_open(ops, wire, wlen, pub, 65, 1, &sb, why, sizeof why),
                     CORIO_ERR_POLICY);
    free(wire);
    /* Signed by one gateway, naming another. */
    assert_int_equal(corio_state_seal(&W.dev2, W.dev1_id, 0, buf, (size_t)n, &wire, &wlen),
                     CORIO_OK);
    assert_int_equal(corio_state_open(ops, wire, wlen, pub, 65, 0, &sb, why, sizeof why),
                     CORIO_ERR_POLICY);
    free(wire);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_revocation_is_relayed_and_applied),
        cmocka_unit_test(a_refused_revocation_changes_nothing),
        cmocka_unit_test(devices_appear_only_with_their_claim),
        cmocka_unit_test(keys_change_only_by_rotation_and_revocation_is_final),
        cmocka_unit_test(an_organisation_key_changes_only_by_its_rotation),
        cmocka_unit_test(a_whole_registry_needs_only_its_block),
        cmocka_unit_test(lines_parse_apply_and_diff),
        cmocka_unit_test(the_container_and_state_round_trip_signed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
