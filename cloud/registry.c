/*
 * registry.c - the registry file of corio-cloud (cloud.h): which organisations,
 * gateways (with their keys) and devices exist, until the ledger says so.
 *
 * The file is parsed by the parser the gateway plugin uses too (common/corio_registry.c,
 * docs/registry.md), then applied in one transaction or not at all, so a typo never
 * leaves half a registry behind. Entries are upserts: removing a line does not remove a
 * record (revocation belongs to the ledger).
 */
#include <stdio.h>
#include <string.h>

#include "cloud.h"
#include "cloud_int.h"
#include "corio/error.h"
#include "corio/eat.h"
#include "corio_registry.h"

static int store_err(const char *name, char *err, size_t errlen, const char *what, int rc)
{
    snprintf(err, errlen, "%s: the database refused %s (%s)", name, what, corio_strerror(rc));
    return CORIO_ERR_IO;
}

/* Writes every entry of a parsed registry into the store, in the caller's transaction. */
static int apply(struct corio_store *s, const struct corio_reg *r, const char *name, char *err,
                 size_t errlen)
{
    int rc;
    for (size_t i = 0; i < r->norgs; i++)
        if ((rc = corio_store_put_org(s, r->orgs[i].id, r->orgs[i].name)) < 0)
            return store_err(name, err, errlen, r->orgs[i].id, rc);
    for (size_t i = 0; i < r->ngateways; i++) {
        const struct corio_reg_gateway *rg = &r->gateways[i];
        struct corio_gateway_rec g = {.pubkey_len = sizeof rg->key, .key_no = rg->key_number};
        snprintf(g.id, sizeof g.id, "%s", rg->id);
        snprintf(g.org, sizeof g.org, "%s", rg->org);
        memcpy(g.pubkey, rg->key, sizeof rg->key);
        if ((rc = corio_store_put_gateway(s, &g)) < 0)
            return store_err(name, err, errlen, rg->id, rc);
    }
    for (size_t i = 0; i < r->ndevices; i++) {
        const struct corio_reg_device *rd = &r->devices[i];
        struct corio_device_rec d = {
            .id = rd->id, .org = rd->org, .gateway = rd->gateway, .cls = rd->cls,
            .model = rd->model, .hw_rev = rd->hw_rev, .groups = rd->groups,
            .assurance = rd->assurance == CORIO_EAT_ATTESTED ? "attested" : "reported"};
        if ((rc = corio_store_put_device(s, &d)) < 0)
            return store_err(name, err, errlen, rd->id, rc);
    }
    return CORIO_OK;
}

static int apply_in_transaction(struct corio_store *s, struct corio_reg *r, const char *name,
                                char *err, size_t errlen)
{
    if (corio_store_begin(s) != CORIO_OK) {
        snprintf(err, errlen, "%s: the database cannot begin a transaction", name);
        corio_reg_free(r);
        return CORIO_ERR_IO;
    }
    int rc = apply(s, r, name, err, errlen);
    corio_reg_free(r);
    if (rc != CORIO_OK) {
        corio_store_rollback(s);
        return rc;
    }
    if (corio_store_commit(s) != CORIO_OK) {
        snprintf(err, errlen, "%s: the database cannot commit", name);
        return CORIO_ERR_IO;
    }
    return CORIO_OK;
}

int corio_cloud_registry_load_buf(struct corio_store *s, const char *name, const char *text,
                                  size_t len, char *err, size_t errlen)
{
    struct corio_reg *r;
    int rc = corio_reg_parse(name, text, len, &r, err, errlen);
    return rc != CORIO_OK ? rc : apply_in_transaction(s, r, name, err, errlen);
}

int corio_cloud_registry_load(struct corio_store *s, const char *path, char *err, size_t errlen)
{
    struct corio_reg *r;
    int rc = corio_reg_load(path, &r, err, errlen);
    if (rc == CORIO_ERR_NOTFOUND)
        rc = CORIO_ERR_IO;
    return rc != CORIO_OK ? rc : apply_in_transaction(s, r, path, err, errlen);
}
