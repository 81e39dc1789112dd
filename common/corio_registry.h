/*
 * corio_registry.h - the registry of organisations, gateways, devices and approved
 * firmware, as the gateway plugin and corio-cloud read it (docs/registry.md).
 *
 * Until the ledger relays registry blocks, the registry is a text file of `kind id
 * key=value …` lines with a height; a reader applies a file only when its height is
 * above the one it holds, so updates apply in ledger-height order. Parsing is strict and
 * every error names the file and line.
 */
#ifndef CORIO_REGISTRY_H
#define CORIO_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "corio/p256.h"

#define CORIO_REG_ID_CHARS 24
#define CORIO_REG_TEXT_MAX 64

enum corio_reg_auth {
    CORIO_REG_AUTH_SINGLE = 1, /* username = DID, password = EAT with a counter */
    CORIO_REG_AUTH_EAT = 2,    /* MQTT 5 enhanced authentication corio-eat-v1 only */
};

struct corio_reg_org {
    char id[CORIO_REG_ID_CHARS + 1];
    char name[CORIO_REG_TEXT_MAX + 1];
    bool has_key;                    /* an `orgkey` line gave its current key */
    uint8_t key[CORIO_P256_PUB_LEN]; /* uncompressed: the endorser of its devices' rotations */
    uint32_t key_number;
};

struct corio_reg_gateway {
    char id[CORIO_REG_ID_CHARS + 1];
    char org[CORIO_REG_ID_CHARS + 1];
    uint8_t key[CORIO_P256_PUB_LEN]; /* the current key, uncompressed */
    uint32_t key_number;
};

struct corio_reg_device {
    char id[CORIO_REG_ID_CHARS + 1];
    char org[CORIO_REG_ID_CHARS + 1];
    char gateway[CORIO_REG_ID_CHARS + 1]; /* "" when not pinned to a gateway */
    char cls[CORIO_REG_TEXT_MAX + 1];     /* device class: the unit of firmware rights */
    char model[CORIO_REG_TEXT_MAX + 1];
    char hw_rev[CORIO_REG_TEXT_MAX + 1];
    char groups[CORIO_REG_TEXT_MAX + 1]; /* comma-separated group names */
    bool has_key;                    /* the registry knows its current key */
    uint8_t key[CORIO_P256_PUB_LEN]; /* the current key, uncompressed */
    uint32_t key_number;
    enum corio_reg_auth auth;
    uint8_t assurance; /* CORIO_EAT_REPORTED (1) or CORIO_EAT_ATTESTED (2) */
    bool revoked;
};

struct corio_reg_firmware {
    char cls[CORIO_REG_TEXT_MAX + 1];
    uint8_t digest[32];
    char version[CORIO_REG_TEXT_MAX + 1];
};

struct corio_reg {
    uint64_t height;
    struct corio_reg_org *orgs;
    size_t norgs;
    struct corio_reg_gateway *gateways;
    size_t ngateways;
    struct corio_reg_device *devices; /* sorted by id */
    size_t ndevices;
    struct corio_reg_firmware *firmware;
    size_t nfirmware;
};

/*
 * Parses a registry file. On CORIO_OK *out is a new registry (free it with
 * corio_reg_free). On error returns CORIO_ERR_NOTFOUND / CORIO_ERR_IO (the file)
 * or CORIO_ERR_MALFORMED, with "<path>:<line>: <what>" in err.
 */
int corio_reg_load(const char *path, struct corio_reg **out, char *err,
                        size_t errlen);

/* The same from text in memory; name is used in error messages. */
int corio_reg_parse(const char *name, const char *text, size_t len,
                         struct corio_reg **out, char *err, size_t errlen);

void corio_reg_free(struct corio_reg *r);

/* Lookups; NULL when absent. */
const struct corio_reg_device *corio_reg_device(const struct corio_reg *r,
                                                     const char *id);
const struct corio_reg_org *corio_reg_org(const struct corio_reg *r, const char *id);
const struct corio_reg_gateway *corio_reg_gateway(const struct corio_reg *r,
                                                       const char *id);

/* True when the registry lists approved firmware for the class (a firmware policy). */
bool corio_reg_has_firmware(const struct corio_reg *r, const char *cls);

/* True when the registry lists no firmware for the class (no policy), or lists digest. */
bool corio_reg_firmware_ok(const struct corio_reg *r, const char *cls,
                                const uint8_t digest[32]);

#endif /* CORIO_REGISTRY_H */
