/*
 * cmd_org.c - `corio org`: the genesis of a ledger from a JSON file, members (people)
 * added and removed by their organisation, and organisations admitted, changed and
 * removed by vote (membership proposals). Transactions as in cli_tx.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "cli_tx.h"
#include "corio/cbor.h"
#include "corio/error.h"

#define HELP_OUT(o)                                                                                \
    do {                                                                                           \
        if ((o).help) {                                                                            \
            cli_command_help(stdout);                                                              \
            return CLI_OK;                                                                         \
        }                                                                                          \
    } while (0)

/* One organisation map from JSON (genesis) or from options (admission, update). */
static int org_from_json(json_t *j, struct corio_tx_org *o, uint8_t *members, size_t cap)
{
    memset(o, 0, sizeof *o);
    json_t *v;
    if ((v = json_object_get(j, "key"))) {
        if (!json_is_string(v) || cli_pub33(json_string_value(v), o->key) != CLI_OK)
            return CLI_INPUT;
        o->has_key = true;
    }
    if ((v = json_object_get(j, "name")) && json_is_string(v)) {
        o->name = json_string_value(v);
        o->name_len = strlen(o->name);
        o->has_name = true;
    }
    if ((v = json_object_get(j, "address")) && json_is_string(v)) {
        o->address = json_string_value(v);
        o->address_len = strlen(o->address);
        o->has_address = true;
    }
    if ((v = json_object_get(j, "api")) && json_is_string(v)) {
        o->api = json_string_value(v);
        o->api_len = strlen(o->api);
        o->has_api = true;
    }
    if ((v = json_object_get(j, "node")) && json_is_integer(v)) {
        o->node = (uint64_t)json_integer_value(v);
        o->has_node = true;
    }
    if ((v = json_object_get(j, "weight")) && json_is_integer(v)) {
        o->weight = (uint64_t)json_integer_value(v);
        o->has_weight = true;
    }
    if ((v = json_object_get(j, "threshold")) && json_is_integer(v)) {
        o->threshold = (uint64_t)json_integer_value(v);
        o->has_threshold = true;
    }
    v = json_object_get(j, "approver");
    o->has_approver = true; /* founders approve releases unless they say otherwise */
    o->approver = !v || json_is_true(v);
    json_t *ms = json_object_get(j, "members");
    if (json_is_array(ms) && json_array_size(ms) > 0) {
        size_t n = json_array_size(ms);
        uint8_t(*keys)[CORIO_TX_KEY_LEN] = calloc(n, CORIO_TX_KEY_LEN);
        uint64_t *w = calloc(n, sizeof *w);
        int rc = keys && w ? CLI_OK : CLI_FAIL;
        for (size_t i = 0; rc == CLI_OK && i < n; i++) {
            json_t *m = json_array_get(ms, i);
            const char *k = json_string_value(json_object_get(m, "key"));
            json_t *mw = json_object_get(m, "weight");
            w[i] = json_is_integer(mw) ? (uint64_t)json_integer_value(mw) : 1;
            rc = k ? cli_pub33(k, keys[i]) : CLI_INPUT;
        }
        int len = rc == CLI_OK ? corio_tx_members_encode((const uint8_t(*)[CORIO_TX_KEY_LEN])keys,
                                                         w, n, members, cap)
                               : -1;
        free(keys);
        free(w);
        if (len < 0)
            return rc == CLI_OK ? CLI_INPUT : rc;
        o->members = members;
        o->members_len = (size_t)len;
        o->has_members = true;
    }
    return CLI_OK;
}

/*
 * The genesis file (JSON):
 *   {"name": "...", "params": {"vote.quorum": 50, ...},
 *    "orgs": [{"key": "did:key:zDn...", "name": "...", "node": 1,
 *              "address": "host:port", "api": "http://host:port", "weight": 1,
 *              "threshold": 1, "approver": true,
 *              "members": [{"key": "did:key:...", "weight": 1}]}]}
 */
static int org_genesis(int argc, char **argv)
{
    struct cli_opts o;
    int rc = cli_opts_parse(argc, argv, &o);
    if (rc != CLI_OK)
        return rc;
    HELP_OUT(o);
    const char *file = cli_need(&o, "file");
    if (!file)
        return CLI_USAGE;
    json_error_t e;
    json_t *j = json_load_file(file, 0, &e);
    if (!j) {
        cli_error("%s:%d: %s", file, e.line, e.text);
        return CLI_INPUT;
    }
    uint8_t *orgs = malloc(65536), *mem = malloc(16384), *args = malloc(CORIO_TX_MAX);
    uint8_t params[2048];
    struct corio_cbor_enc enc;
    json_t *arr = json_object_get(j, "orgs"), *ps = json_object_get(j, "params");
    const char *name = json_string_value(json_object_get(j, "name"));
    rc = orgs && mem && args ? CLI_OK : CLI_FAIL;
    if (rc == CLI_OK && (!json_is_array(arr) || !name)) {
        cli_error("%s: needs \"name\" and \"orgs\"", file);
        rc = CLI_INPUT;
    }
    corio_cbor_enc_init(&enc, orgs, 65536);
    corio_cbor_put_array(&enc, rc == CLI_OK ? json_array_size(arr) : 0);
    for (size_t i = 0; rc == CLI_OK && i < json_array_size(arr); i++) {
        struct corio_tx_org org;
        uint8_t one[4096];
        rc = org_from_json(json_array_get(arr, i), &org, mem, 16384);
        int n = rc == CLI_OK ? corio_tx_org_encode(&org, one, sizeof one) : -1;
        if (n < 0 && rc == CLI_OK)
            rc = CLI_INPUT;
        if (rc == CLI_OK)
            corio_cbor_put_raw(&enc, one, (size_t)n);
        else
            cli_error("%s: organisation %zu is not valid", file, i + 1);
    }
    int ol = corio_cbor_enc_finish(&enc);
    struct corio_cbor_enc pe;
    corio_cbor_enc_init(&pe, params, sizeof params);
    corio_cbor_put_map(&pe, json_is_object(ps) ? json_object_size(ps) : 0);
    const char *k;
    json_t *v;
    if (json_is_object(ps))
        json_object_foreach(ps, k, v)
        {
            corio_cbor_put_textz(&pe, k);
            corio_cbor_put_uint(&pe, (uint64_t)json_integer_value(v));
        }
    corio_cbor_sort_map(&pe, 0);
    int pl = corio_cbor_enc_finish(&pe);
    if (rc == CLI_OK) {
        struct corio_tx_genesis g = {.orgs = orgs,
                                     .orgs_len = (size_t)ol,
                                     .has_params = pl > 1,
                                     .params = params,
                                     .params_len = (size_t)pl,
                                     .name = name,
                                     .name_len = strlen(name)};
        int al = ol > 0 && pl > 0 ? corio_tx_genesis_encode(&g, args, CORIO_TX_MAX) : -1;
        const char *why = "";
        if (al < 0 || corio_tx_args_check(CORIO_TX_GENESIS, args, (size_t)al, &why) != CORIO_OK) {
            cli_error("%s: not a valid genesis %s", file, why);
            rc = CLI_INPUT;
        } else {
            rc = cli_tx_make(&o, CORIO_TX_GENESIS, args, (size_t)al);
        }
    }
    json_decref(j);
    free(orgs);
    free(mem);
    free(args);
    return rc;
}

static int org_member(int argc, char **argv, unsigned type)
{
    struct cli_opts o;
    int rc = cli_opts_parse(argc, argv, &o);
    if (rc != CLI_OK)
        return rc;
    HELP_OUT(o);
    struct corio_tx_member m = {0};
    const char *org = cli_need(&o, "org");
    if (!org || cli_id(org, m.org) != CLI_OK)
        return CLI_USAGE;
    if (type == CORIO_TX_MEMBER_ADD) {
        const char *k = cli_need(&o, "member-key"), *w = cli_opt(&o, "weight");
        if (!k || (rc = cli_pub33(k, m.key)) != CLI_OK)
            return k ? rc : CLI_USAGE;
        m.has_key = m.has_weight = true;
        m.weight = 1;
        if (w && cli_u64("--weight", w, &m.weight) != CLI_OK)
            return CLI_USAGE;
    } else {
        const char *p = cli_need(&o, "member");
        if (!p || cli_id(p, m.person) != CLI_OK)
            return CLI_USAGE;
        m.has_person = true;
    }
    uint8_t args[512];
    int n = corio_tx_member_encode(type, &m, args, sizeof args);
    return n > 0 ? cli_tx_make(&o, type, args, (size_t)n) : CLI_FAIL;
}

static int org_member_add(int argc, char **argv)
{
    return org_member(argc, argv, CORIO_TX_MEMBER_ADD);
}

static int org_member_remove(int argc, char **argv)
{
    return org_member(argc, argv, CORIO_TX_MEMBER_REMOVE);
}

/* A membership proposal: admit, remove or update. */
static int org_membership(int argc, char **argv, uint64_t action)
{
    struct cli_opts o;
    int rc = cli_opts_parse(argc, argv, &o);
    if (rc != CLI_OK)
        return rc;
    HELP_OUT(o);
    struct corio_tx_proposal p = {.kind = CORIO_PROPOSAL_MEMBERSHIP};
    struct corio_tx_proposal_payload pl = {.action = action};
    const char *org = cli_need(&o, "org"), *period = cli_opt(&o, "period");
    if (!org || cli_id(org, p.org) != CLI_OK)
        return CLI_USAGE;
    if (period && (cli_u64("--period", period, &p.period) != CLI_OK || !(p.has_period = true)))
        return CLI_USAGE;
    if (action != CORIO_MEMBERSHIP_ADMIT) {
        const char *t = cli_need(&o, "target");
        if (!t || cli_id(t, pl.target) != CLI_OK)
            return CLI_USAGE;
        pl.has_target = true;
    }
    uint8_t om[1024];
    if (action != CORIO_MEMBERSHIP_REMOVE) {
        json_t *j = json_object();
        static const char *const text[] = {"new-key", "name", "address", "api"};
        /* The node's id is --node-id: --node is the URL a transaction is submitted to. */
        static const char *const num[] = {"node-id", "weight", "threshold"};
        for (size_t i = 0; i < 4; i++)
            if (cli_opt(&o, text[i]) && (action == CORIO_MEMBERSHIP_ADMIT || i > 0))
                json_object_set_new(j, i ? text[i] : "key", json_string(cli_opt(&o, text[i])));
        for (size_t i = 0; i < 3; i++) {
            uint64_t v;
            const char *s = cli_opt(&o, num[i]);
            if (s && cli_u64(num[i], s, &v) != CLI_OK) {
                json_decref(j);
                return CLI_USAGE;
            }
            if (s)
                json_object_set_new(j, i ? num[i] : "node", json_integer((json_int_t)v));
        }
        const char *ap = cli_opt(&o, "approver");
        json_object_set_new(j, "approver", json_boolean(ap && !strcmp(ap, "yes")));
        struct corio_tx_org org_map;
        rc = org_from_json(j, &org_map, NULL, 0);
        if (!cli_opt(&o, "approver") && action == CORIO_MEMBERSHIP_UPDATE)
            org_map.has_approver = false;
        int n = rc == CLI_OK ? corio_tx_org_encode(&org_map, om, sizeof om) : -1;
        json_decref(j);
        if (n < 0)
            return rc == CLI_OK ? CLI_USAGE : rc;
        pl.org = om;
        pl.org_len = (size_t)n;
        pl.has_org = true;
    }
    uint8_t payload[2048], args[4096];
    int pn = corio_tx_payload_encode(CORIO_PROPOSAL_MEMBERSHIP, &pl, payload, sizeof payload);
    p.payload = payload;
    p.payload_len = pn > 0 ? (size_t)pn : 0;
    int n = pn > 0 ? corio_tx_proposal_encode(&p, args, sizeof args) : -1;
    const char *why = "";
    if (n < 0 || corio_tx_args_check(CORIO_TX_PROPOSAL, args, (size_t)n, &why) != CORIO_OK)
        return cli_usage_error("not a valid membership proposal (%s)", why);
    return cli_tx_make(&o, CORIO_TX_PROPOSAL, args, (size_t)n);
}

static int org_admit(int argc, char **argv)
{
    return org_membership(argc, argv, CORIO_MEMBERSHIP_ADMIT);
}

static int org_remove(int argc, char **argv)
{
    return org_membership(argc, argv, CORIO_MEMBERSHIP_REMOVE);
}

static int org_update(int argc, char **argv)
{
    return org_membership(argc, argv, CORIO_MEMBERSHIP_UPDATE);
}

static const struct cli_command commands[] = {
    {"genesis", "--file GENESIS.json --key FILE --expires HEIGHT [--out FILE]",
     "make the genesis transaction; every founding organisation signs it (corio ledger sign)",
     "  --file FILE  {\"name\", \"params\": {name: value}, \"orgs\": [{\"key\", \"name\",\n"
     "               \"node\", \"address\", \"api\", \"weight\", \"threshold\", \"approver\",\n"
     "               \"members\": [{\"key\", \"weight\"}]}]}\n" CLI_TX_HELP,
     org_genesis},
    {"member-add", "--org ID --member-key KEY [--weight W] ...",
     "add a person to an organisation (the person signs too, with its key 0)", CLI_TX_HELP,
     org_member_add},
    {"member-remove", "--org ID --member ID ...", "remove a person from an organisation",
     CLI_TX_HELP, org_member_remove},
    {"admit",
     "--org ID --new-key KEY --name N --node-id N --address HOST:PORT [--api URL]"
     " [--weight W] [--threshold T] [--approver yes|no] [--period H] ...",
     "propose admitting an organisation (the newcomer signs too, with its key 0)",
     "  --org ID        the proposing organisation\n"
     "  --new-key KEY   the new organisation's inception key (did:key, zDn..., PEM)\n" CLI_TX_HELP,
     org_admit},
    {"remove", "--org ID --target ID [--period H] ...", "propose removing an organisation",
     CLI_TX_HELP, org_remove},
    {"update",
     "--org ID --target ID [--name N] [--weight W] [--threshold T] [--approver yes|no]"
     " [--node-id N --address A] [--api URL] ...",
     "propose changing an organisation", CLI_TX_HELP, org_update},
};

const struct cli_group cli_group_org = {"org", "organisations and members on the ledger", commands,
                                        sizeof commands / sizeof commands[0]};
