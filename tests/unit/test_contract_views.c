/*
 * test_contract_views.c - the API views of the contracts' state (ledger/api_views.c):
 * JSON of organisations, members, identities with key history, devices, proposals with
 * tallies, releases; W3C DID Resolution of did:corio with a Multikey verification
 * method; and the registry export, which the registry parser the gateway and the cloud
 * use (common/corio_registry.c) must read back to the same devices, keys and firmware.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>

#include "api_views.h"
#include "corio_registry.h"
#include "test_contract_util.h"

static json_t *get(struct t_ledger *l, const char *path, unsigned status)
{
    struct corio_ledger_view v;
    int rc = corio_ledger_view_route(t_db(l), path, &v);
    if (rc != 1)
        fail_msg("%s: %d", path, rc);
    if (v.status != status)
        fail_msg("%s: status %u, expected %u: %s", path, v.status, status, v.body);
    json_error_t e;
    json_t *j = json_loads(v.body, 0, &e);
    free(v.body);
    assert_non_null(j);
    return j;
}

static void views(void **state)
{
    (void)state;
    struct t_ledger l;
    struct t_id a, b, p, d, g;
    t_ledger_open(&l, "views", NULL);
    t_id_new(&a);
    t_id_new(&b);
    t_id_new(&p);
    t_id_new(&d);
    t_id_new(&g);
    struct corio_ledger_view v;
    assert_int_equal(corio_ledger_view_route(t_db(&l), "/api/v1/contracts/registry", &v), 1);
    assert_int_equal(v.status, 404);
    free(v.body);
    t_found(&l, SIGNERS(&a, &b), NULL, NULL, 0);
    struct t_args m = t_member_args(CORIO_TX_MEMBER_ADD, &a, &p, 2);
    ACCEPT(&l, t_make(&l, CORIO_TX_MEMBER_ADD, m.buf, m.len, T_TTL, SIGNERS(&a, &p)));
    t_register(&l, &a, &g, CORIO_DEVICE_KIND_GATEWAY);
    t_register(&l, &a, &d, CORIO_DEVICE_KIND_DEVICE);
    struct corio_tx_proposal_payload grant = {.class_ = "sensor", .class_len = 6, .grant = true};
    memcpy(grant.right_org, a.did.id, CORIO_DID_ID_LEN);
    uint8_t pid[32];
    assert_int_equal(t_pass(&l, &a, CORIO_PROPOSAL_RIGHTS, &grant, SIGNERS(&a, &b), pid),
                     CTR_PASSED);
    struct corio_tx_release r = {.class_ = "sensor", .class_len = 6, .version = "1.4.2",
                                 .version_len = 5};
    memcpy(r.org, a.did.id, CORIO_DID_ID_LEN);
    memset(r.digest, 0x3f, 32);
    struct t_args ra;
    ra.len = (size_t)corio_tx_release_encode(CORIO_TX_RELEASE_PROPOSE, &r, ra.buf, sizeof ra.buf);
    ACCEPT(&l, t_make(&l, CORIO_TX_RELEASE_PROPOSE, ra.buf, ra.len, T_TTL, SIGNERS(&a)));

    json_t *j = get(&l, "/api/v1/contracts/orgs", 200);
    assert_int_equal(json_array_size(j), 2);
    char did[CORIO_DID_BUF];
    corio__ctr_did_str(a.did.id, did);
    assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "did")), did);
    assert_true(json_is_true(json_object_get(json_array_get(j, 0), "approver")));
    json_decref(j);
    j = get(&l, h_strf("/api/v1/contracts/orgs/%s/members", a.short_id), 200);
    assert_int_equal(json_array_size(j), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(j, 0), "weight")), 2);
    json_decref(j);
    j = get(&l, h_strf("/api/v1/contracts/orgs/%s/devices", a.short_id), 200);
    assert_int_equal(json_array_size(j), 2);
    json_decref(j);
    j = get(&l, h_strf("/api/v1/contracts/devices/%s", d.short_id), 200);
    assert_string_equal(json_string_value(json_object_get(j, "kind")), "device");
    assert_string_equal(json_string_value(json_object_get(j, "auth")), "eat");
    assert_string_equal(json_string_value(json_object_get(j, "class")), "sensor");
    json_decref(j);
    j = get(&l, h_strf("/api/v1/contracts/identities/%s", p.short_id), 200);
    assert_string_equal(json_string_value(json_object_get(j, "kind")), "person");
    assert_int_equal(json_array_size(json_object_get(j, "keys")), 1);
    json_decref(j);
    j = get(&l, "/api/v1/contracts/proposals", 200);
    json_t *prop = json_array_get(j, 0);
    assert_string_equal(json_string_value(json_object_get(prop, "status")), "passed");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(prop, "tally"), "yes")), 2);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(prop, "payload"), "class")), "sensor");
    assert_int_equal(json_array_size(json_object_get(prop, "votes")), 2);
    json_decref(j);
    j = get(&l, "/api/v1/contracts/releases", 200);
    assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "status")),
                        "approved");
    json_decref(j);
    j = get(&l, "/api/v1/contracts/params", 200);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "params"), "release.k")),
                     1);
    json_decref(j);
    json_decref(get(&l, "/api/v1/contracts/identities/nope", 400));
    json_decref(get(&l, "/api/v1/contracts/proposals/00", 400));
    json_decref(get(&l, "/api/v1/contracts/nothing", 404));
    assert_int_equal(corio_ledger_view_route(t_db(&l), "/api/v1/status", &v), 0);

    /* DID Resolution: the current key as a Multikey, the organisation as controller. */
    corio__ctr_did_str(d.did.id, did);
    j = get(&l, h_strf("/1.0/identifiers/%s", did), 200);
    json_t *doc = json_object_get(j, "didDocument");
    assert_string_equal(json_string_value(json_object_get(doc, "id")), did);
    json_t *vm = json_array_get(json_object_get(doc, "verificationMethod"), 0);
    assert_string_equal(json_string_value(json_object_get(vm, "type")), "Multikey");
    assert_string_equal(json_string_value(json_object_get(vm, "id")), h_strf("%s#0", did));
    char mk[CORIO_MULTIKEY_LEN + 1];
    assert_int_equal(corio_multikey_format(d.key0, 33, mk, sizeof mk), CORIO_MULTIKEY_LEN);
    assert_string_equal(json_string_value(json_object_get(vm, "publicKeyMultibase")), mk);
    corio__ctr_did_str(a.did.id, did);
    assert_string_equal(json_string_value(json_object_get(doc, "controller")), did);
    assert_false(json_is_true(json_object_get(json_object_get(j, "didDocumentMetadata"),
                                              "deactivated")));
    json_decref(j);
    j = get(&l, "/1.0/identifiers/did:corio:aaaaaaaaaaaaaaaaaaaaaaaa", 404);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(j, "didResolutionMetadata"), "error")),
                        "notFound");
    json_decref(j);
    json_decref(get(&l, "/1.0/identifiers/did:example:123", 400));

    /* The registry export reads back with the gateway's and the cloud's parser. */
    char *text;
    size_t len;
    assert_int_equal(corio_ledger_registry_export(t_db(&l), &text, &len), CORIO_OK);
    struct corio_reg *reg;
    char err[256];
    if (corio_reg_parse("ledger", text, len, &reg, err, sizeof err) != CORIO_OK)
        fail_msg("%s\n%s", err, text);
    assert_int_equal(reg->height, t_height(&l));
    assert_int_equal(reg->norgs, 2);
    assert_int_equal(reg->ngateways, 1);
    const struct corio_reg_device *rd = corio_reg_device(reg, d.short_id);
    assert_non_null(rd);
    assert_string_equal(rd->org, a.short_id);
    assert_int_equal(rd->auth, CORIO_REG_AUTH_EAT);
    assert_false(rd->revoked);
    uint8_t full[65];
    assert_int_equal(corio_didkey_parse(h_strf("did:key:%s", mk), 8 + CORIO_MULTIKEY_LEN, full),
                     CORIO_OK);
    assert_memory_equal(rd->key, full, 65);
    uint8_t digest[32];
    memset(digest, 0x3f, 32);
    assert_true(corio_reg_firmware_ok(reg, "sensor", digest));
    corio_reg_free(reg);
    free(text);
    t_ledger_close(&l);
    t_id_free(&a);
    t_id_free(&b);
    t_id_free(&p);
    t_id_free(&d);
    t_id_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(views),
    };
    return h_done(cmocka_run_group_tests(tests, NULL, NULL));
}
