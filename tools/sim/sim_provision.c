/*
 * sim_provision.c - `corio sim provision`: makes the simulated devices' identities and
 * flash in a state directory, and their lines for the registry file (docs/registry.md)
 * so that a gateway admits them.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "corio/did.h"
#include "corio/port_posix_flash.h"
#include "corio/topic.h"
#include "crypto_openssl.h"
#include "sim.h"

/* One device: a key written to a temporary name, then named after its id. */
static int provision_one(const char *dir, const char *org, FILE *out)
{
    struct corio_key key;
    uint8_t pub[CORIO_P256_PUB_LEN];
    struct corio_did did;
    char id[CORIO_SHORT_ID_LEN + 1], didkey[CORIO_DIDKEY_BUF], path[4096], flash_path[4096];
    int rc = corio_key_generate(&corio_crypto_openssl_ops, 0, CORIO_KEY_EXPORTABLE, &key);
    if (rc == CORIO_OK)
        rc = corio_key_public(&key, pub);
    if (rc == CORIO_OK)
        rc = corio_did_from_key(&corio_crypto_openssl_ops, pub, sizeof pub, &did);
    if (rc == CORIO_OK && corio_did_id_format(did.id, id, sizeof id) < 0)
        rc = CORIO_ERR_INVAL;
    if (rc == CORIO_OK && corio_didkey_format(pub, sizeof pub, didkey, sizeof didkey) < 0)
        rc = CORIO_ERR_INVAL;
    if (rc != CORIO_OK) {
        corio_key_close(&key);
        cli_error("cannot make a key: %s", corio_strerror(rc));
        return CLI_FAIL;
    }
    snprintf(path, sizeof path, "%s/%s.pem", dir, id);
    snprintf(flash_path, sizeof flash_path, "%s/%s.flash", dir, id);
    rc = corio_openssl_key_write_pem(&key, path);
    corio_key_close(&key);
    if (rc != CORIO_OK) {
        cli_error("%s: cannot write the key: %s", path, corio_strerror(rc));
        return CLI_FAIL;
    }
    /* An erased flash file, as a new board's. */
    struct corio_posix_flash f;
    rc = corio_posix_flash_open(&f, flash_path, SIM_SECTOR_SIZE, SIM_SECTORS, SIM_PROG_SIZE, 0);
    if (rc != CORIO_OK) {
        cli_error("%s: cannot create the flash file: %s", flash_path, corio_strerror(rc));
        return CLI_FAIL;
    }
    corio_posix_flash_close(&f);
    if (fprintf(out, "device %s org=%s key=%s class=sim-sensor model=sim-1\n", id, org, didkey) <
        0) {
        cli_error("cannot write the registry lines");
        return CLI_FAIL;
    }
    return CLI_OK;
}

int sim_provision(const char *dir, int n, const char *org, FILE *out)
{
    if (!corio_short_id_valid(org, strlen(org))) {
        cli_error("--org: '%s' is not a short id (24 characters of a-z and 2-7)", org);
        return CLI_USAGE;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        cli_error("%s: cannot create the directory: %s", dir, strerror(errno));
        return CLI_FAIL;
    }
    for (int i = 0; i < n; i++) {
        int rc = provision_one(dir, org, out);
        if (rc != CLI_OK)
            return rc;
    }
    if (fflush(out) != 0) {
        cli_error("cannot write the registry lines");
        return CLI_FAIL;
    }
    return CLI_OK;
}
