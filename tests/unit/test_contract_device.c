/*
 * test_contract_device.c - the device registry: the claim (the organisation's signature
 * and the device's EAT for that organisation), gateways and pinning, transfer only with
 * both organisations' signatures, revocation, and every refusal.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_contract_util.h"

struct world {
    struct t_ledger l;
    struct t_id a, b, d, g;
};

static void world_open(struct world *w, const char *name)
{
    t_ledger_open(&w->l, name, NULL);
    t_id_new(&w->a);
    t_id_new(&w->b);
    t_id_new(&w->d);
    t_id_new(&w->g);
    t_found(&w->l, SIGNERS(&w->a, &w->b), NULL, NULL, 0);
}

static void world_close(struct world *w)
{
    t_check_state(&w->l);
    t_ledger_close(&w->l);
    t_id_free(&w->a);
    t_id_free(&w->b);
    t_id_free(&w->d);
    t_id_free(&w->g);
}

static struct t_tx reg(struct world *w, struct t_id *org, const char *aud, size_t nonce_len,
                       uint8_t token_assurance, struct t_id *signer, const struct t_id *gw)
{
    uint8_t eat[1024];
    size_t el = t_eat(&w->d, aud, nonce_len, token_assurance, eat, sizeof eat);
    struct t_args a = t_register_args(org, &w->d, CORIO_DEVICE_KIND_DEVICE, eat, el, gw);
    return t_make(&w->l, CORIO_TX_DEVICE_REGISTER, a.buf, a.len, T_TTL, &signer, 1);
}

static void claim(void **state)
{
    (void)state;
    struct world w;
    world_open(&w, "claim");
    struct t_ledger *l = &w.l;
    /* The claiming organisation signs; the token names it as audience, carries a 32-byte
     * nonce, is the device's own (key 0), and does not claim more assurance than the
     * record, nor less. */
    REFUSE(l, reg(&w, &w.a, w.a.short_id, 32, 1, &w.b, NULL), "not signed for");
    REFUSE(l, reg(&w, &w.a, w.b.short_id, 32, 1, &w.a, NULL), "the EAT is refused");
    REFUSE(l, reg(&w, &w.a, w.a.short_id, 16, 1, &w.a, NULL), "32-byte claim nonce");
    REFUSE(l, reg(&w, &w.a, w.a.short_id, 32, 2, &w.a, NULL), "the EAT is refused");
    /* A token by another device for this registration. */
    uint8_t eat[1024];
    size_t el = t_eat(&w.g, w.a.short_id, 32, 1, eat, sizeof eat);
    struct t_args a = t_register_args(&w.a, &w.d, CORIO_DEVICE_KIND_DEVICE, eat, el, NULL);
    REFUSE(l, t_make(l, CORIO_TX_DEVICE_REGISTER, a.buf, a.len, T_TTL, SIGNERS(&w.a)),
           "not signed by key 0 of");
    /* A token whose signature was tampered with. */
    el = t_eat(&w.d, w.a.short_id, 32, 1, eat, sizeof eat);
    eat[el - 3] ^= 1;
    a = t_register_args(&w.a, &w.d, CORIO_DEVICE_KIND_DEVICE, eat, el, NULL);
    REFUSE(l, t_make(l, CORIO_TX_DEVICE_REGISTER, a.buf, a.len, T_TTL, SIGNERS(&w.a)),
           "does not verify");
    /* A record of assurance 2 with a device that reports 1. */
    el = t_eat(&w.d, w.a.short_id, 32, 1, eat, sizeof eat);
    struct corio_tx_device_register r;
    a = t_register_args(&w.a, &w.d, CORIO_DEVICE_KIND_DEVICE, eat, el, NULL);
    assert_int_equal(corio_tx_device_register_decode(a.buf, a.len, &r), CORIO_OK);
    r.assurance = 2;
    struct t_args a2;
    a2.len = (size_t)corio_tx_device_register_encode(&r, a2.buf, sizeof a2.buf);
    REFUSE(l, t_make(l, CORIO_TX_DEVICE_REGISTER, a2.buf, a2.len, T_TTL, SIGNERS(&w.a)),
           "reports assurance 1, the record says 2");

    ACCEPT(l, reg(&w, &w.a, w.a.short_id, 32, 1, &w.a, NULL));
    REFUSE(l, reg(&w, &w.a, w.a.short_id, 32, 1, &w.a, NULL), "already registered");
    REFUSE(l, reg(&w, &w.b, w.b.short_id, 32, 1, &w.b, NULL), "already registered");
    assert_int_equal(t_int(l, "SELECT count(*) FROM ctr_device WHERE kind = 3 AND auth = 2"), 1);
    world_close(&w);
}

static void gateways_and_pinning(void **state)
{
    (void)state;
    struct world w;
    world_open(&w, "pin");
    struct t_ledger *l = &w.l;
    struct t_id other;
    t_id_new(&other);
    t_register(l, &w.a, &w.g, CORIO_DEVICE_KIND_GATEWAY);
    t_register(l, &w.a, &other, CORIO_DEVICE_KIND_DEVICE);
    REFUSE(l, reg(&w, &w.a, w.a.short_id, 32, 1, &w.a, &other), "is not a gateway");
    ACCEPT(l, reg(&w, &w.a, w.a.short_id, 32, 1, &w.a, &w.g));
    assert_int_equal(t_int(l, "SELECT count(*) FROM ctr_device WHERE gateway IS NOT NULL"), 1);
    /* Revoking the gateway unpins its devices. */
    struct corio_tx_device_ref rv = {0};
    memcpy(rv.device, w.g.did.id, CORIO_DID_ID_LEN);
    struct t_args a;
    a.len = (size_t)corio_tx_device_ref_encode(CORIO_TX_DEVICE_REVOKE, &rv, a.buf, sizeof a.buf);
    ACCEPT(l, t_make(l, CORIO_TX_DEVICE_REVOKE, a.buf, a.len, T_TTL, SIGNERS(&w.a)));
    assert_int_equal(t_int(l, "SELECT count(*) FROM ctr_device WHERE gateway IS NOT NULL"), 0);
    t_id_free(&other);
    world_close(&w);
}

static struct t_args transfer_args(const struct t_id *dev, const struct t_id *from,
                                   const struct t_id *to)
{
    struct corio_tx_device_ref t = {.has_from = true, .has_to = true};
    memcpy(t.device, dev->did.id, CORIO_DID_ID_LEN);
    memcpy(t.from, from->did.id, CORIO_DID_ID_LEN);
    memcpy(t.to, to->did.id, CORIO_DID_ID_LEN);
    struct t_args a;
    a.len = (size_t)corio_tx_device_ref_encode(CORIO_TX_DEVICE_TRANSFER, &t, a.buf, sizeof a.buf);
    return a;
}

static void transfer_and_revoke(void **state)
{
    (void)state;
    struct world w;
    world_open(&w, "transfer");
    struct t_ledger *l = &w.l;
    t_register(l, &w.a, &w.d, CORIO_DEVICE_KIND_DEVICE);
    struct t_args t = transfer_args(&w.d, &w.a, &w.b);
    /* Both organisations sign: each alone is refused. */
    REFUSE(l, t_make(l, CORIO_TX_DEVICE_TRANSFER, t.buf, t.len, T_TTL, SIGNERS(&w.a)),
           "not signed for");
    REFUSE(l, t_make(l, CORIO_TX_DEVICE_TRANSFER, t.buf, t.len, T_TTL, SIGNERS(&w.b)),
           "not signed for");
    struct t_args wrong = transfer_args(&w.d, &w.b, &w.a);
    REFUSE(l, t_make(l, CORIO_TX_DEVICE_TRANSFER, wrong.buf, wrong.len, T_TTL, SIGNERS(&w.a, &w.b)),
           "does not belong to");
    struct t_args self = transfer_args(&w.d, &w.a, &w.a);
    REFUSE(l, t_make(l, CORIO_TX_DEVICE_TRANSFER, self.buf, self.len, T_TTL, SIGNERS(&w.a)),
           "goes to another organisation");
    ACCEPT(l, t_make(l, CORIO_TX_DEVICE_TRANSFER, t.buf, t.len, T_TTL, SIGNERS(&w.a, &w.b)));
    assert_int_equal(t_int(l, "SELECT count(*) FROM ctr_device d JOIN ctr_org o ON o.id = d.org"
                              " WHERE o.node = 2"),
                     1);

    /* Revoke: only the owner, once; then nothing more happens to the device. */
    struct corio_tx_device_ref rv = {0};
    memcpy(rv.device, w.d.did.id, CORIO_DID_ID_LEN);
    struct t_args r;
    r.len = (size_t)corio_tx_device_ref_encode(CORIO_TX_DEVICE_REVOKE, &rv, r.buf, sizeof r.buf);
    REFUSE(l, t_make(l, CORIO_TX_DEVICE_REVOKE, r.buf, r.len, T_TTL, SIGNERS(&w.a)),
           "not signed for");
    ACCEPT(l, t_make(l, CORIO_TX_DEVICE_REVOKE, r.buf, r.len, T_TTL, SIGNERS(&w.b)));
    REFUSE(l, t_make(l, CORIO_TX_DEVICE_REVOKE, r.buf, r.len, T_TTL, SIGNERS(&w.b)), "is revoked");
    struct t_args back = transfer_args(&w.d, &w.b, &w.a);
    REFUSE(l, t_make(l, CORIO_TX_DEVICE_TRANSFER, back.buf, back.len, T_TTL, SIGNERS(&w.a, &w.b)),
           "is revoked");
    /* The revoked device's own key signs nothing any more. */
    REFUSE(l, t_make(l, CORIO_TX_DEVICE_REVOKE, r.buf, r.len, T_TTL, SIGNERS(&w.d)),
           "is deactivated");
    world_close(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(claim),
        H_TEST(gateways_and_pinning),
        H_TEST(transfer_and_revoke),
    };
    return h_done(cmocka_run_group_tests(tests, NULL, NULL));
}
