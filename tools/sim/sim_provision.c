/*
 * sim_provision.c - `corio sim provision`: makes the simulated devices' identities and
 * flash in a state directory, what a factory writes into a device beside its key (a
 * claim secret, the gateway's TLS trust anchor and the OTA trust anchor:
 * docs/onboarding.md), their lines for the registry file (docs/registry.md) so that a
 * gateway admits them, and their claim lines (the text of the QR code printed with each
 * device) so that an owner can claim them instead.
 *
 * The provisioning record <id>.prov (mode 0600), one "name value" per line:
 *     corio-provisioning 1
 *     did did:corio:<id>
 *     secret <26 characters of base32: 16 random bytes>
 *     gateway-ca <id>.ca.pem        (when given; the PEM is copied beside it)
 *     ota-anchor did:key:zDn...     (when given)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "corio/did.h"
#include "corio/eat_auth.h"
#include "corio/encoding.h"
#include "corio/port_posix_flash.h"
#include "corio/topic.h"
#include "crypto_openssl.h"
#include "sim.h"

/* Writes text to path, created with mode 0600 (never replacing a file). */
static int write_new(const char *path, const char *text, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    bool ok = write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    return ok ? 0 : -1;
}

/* The provisioning record of device id (see the top). */
static int write_record(const char *dir, const char *id, const struct sim_prov_opts *po,
                        char secret[CORIO_CLAIM_SECRET_MAX + 1])
{
    uint8_t raw[16];
    if (corio_crypto_openssl_ops.random(raw, sizeof raw) != CORIO_OK ||
        corio_base32_encode(raw, sizeof raw, secret, CORIO_CLAIM_SECRET_MAX + 1) < 0) {
        cli_error("no randomness for the claim secret");
        return CLI_FAIL;
    }
    char path[4096], ca[4096], text[8192];
    int n = snprintf(text, sizeof text, "corio-provisioning 1\ndid did:corio:%s\nsecret %s\n", id,
                     secret);
    if (po && po->gateway_ca) {
        size_t len;
        uint8_t *pem;
        if (cli_read_file(po->gateway_ca, 1 << 20, &pem, &len) != CLI_OK)
            return CLI_INPUT;
        snprintf(ca, sizeof ca, "%s/%s.ca.pem", dir, id);
        int rc = write_new(ca, (const char *)pem, len);
        free(pem);
        if (rc != 0) {
            cli_error("%s: cannot write: %s", ca, strerror(errno));
            return CLI_FAIL;
        }
        n += snprintf(text + n, sizeof text - (size_t)n, "gateway-ca %s.ca.pem\n", id);
    }
    if (po && po->ota_anchor)
        n += snprintf(text + n, sizeof text - (size_t)n, "ota-anchor %s\n", po->ota_anchor);
    snprintf(path, sizeof path, "%s/%s.prov", dir, id);
    if (n < 0 || (size_t)n >= sizeof text || write_new(path, text, (size_t)n) != 0) {
        cli_error("%s: cannot write: %s", path, strerror(errno));
        return CLI_FAIL;
    }
    return CLI_OK;
}

int sim_prov_secret(const char *dir, const char *id, char *secret, size_t cap)
{
    char path[4096], line[512];
    snprintf(path, sizeof path, "%s/%s.prov", dir, id);
    FILE *f = fopen(path, "re");
    if (!f)
        return CORIO_ERR_NOTFOUND;
    int rc = CORIO_ERR_NOTFOUND;
    bool header = fgets(line, sizeof line, f) && strcmp(line, "corio-provisioning 1\n") == 0;
    while (header && rc == CORIO_ERR_NOTFOUND && fgets(line, sizeof line, f)) {
        if (strncmp(line, "secret ", 7) != 0)
            continue;
        size_t n = strcspn(line + 7, "\n");
        if (n < 1 || n > CORIO_CLAIM_SECRET_MAX || n >= cap) {
            rc = CORIO_ERR_MALFORMED;
            break;
        }
        memcpy(secret, line + 7, n);
        secret[n] = '\0';
        rc = CORIO_OK;
    }
    fclose(f);
    return header ? rc : CORIO_ERR_MALFORMED;
}

/* One device: a key written to a temporary name, then named after its id. */
static int provision_one(const char *dir, const char *org, FILE *out,
                         const struct sim_prov_opts *po)
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
    char secret[CORIO_CLAIM_SECRET_MAX + 1];
    rc = write_record(dir, id, po, secret);
    if (rc != CLI_OK)
        return rc;
    if (po && po->claims && fprintf(po->claims, "did:corio:%s %s\n", id, secret) < 0) {
        cli_error("cannot write the claim lines");
        return CLI_FAIL;
    }
    if (fprintf(out, "device %s org=%s key=%s class=sim-sensor model=sim-1\n", id, org, didkey) <
        0) {
        cli_error("cannot write the registry lines");
        return CLI_FAIL;
    }
    return CLI_OK;
}

int sim_provision(const char *dir, int n, const char *org, FILE *out,
                  const struct sim_prov_opts *po)
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
        int rc = provision_one(dir, org, out, po);
        if (rc != CLI_OK)
            return rc;
    }
    if (fflush(out) != 0 || (po && po->claims && fflush(po->claims) != 0)) {
        cli_error("cannot write the registry or claim lines");
        return CLI_FAIL;
    }
    return CLI_OK;
}
