/*
 * crypto_psa.c - the PSA Crypto API backend of include/corio/crypto.h
 * (include/corio/crypto_psa.h): what devices sign and hash with.
 *
 * Only PSA calls appear here, so the file carries over from mbedTLS 2.28 to mbedTLS
 * 3.x, TF-M and secure elements; the one mbedTLS extension used, freeing the library,
 * is guarded. The ES256 rules (low S, range checks) live in sdk/src/crypto.c.
 */
#include "corio/crypto_psa.h"

#include <stddef.h>

#include <psa/crypto.h>

#include "corio/error.h"

/* corio_key.flags bit of ours: the key's policy is randomized ECDSA, not deterministic. */
#define FLAG_RANDOMIZED 0x10000u

#if defined(PSA_WANT_ALG_DETERMINISTIC_ECDSA)
#define SIGN_ALG      PSA_ALG_DETERMINISTIC_ECDSA(PSA_ALG_SHA_256)
#define SIGN_CAPS     CORIO_CRYPTO_CAP_DETERMINISTIC
#define NEW_KEY_FLAGS 0u
#else
#define SIGN_ALG      PSA_ALG_ECDSA(PSA_ALG_SHA_256)
#define SIGN_CAPS     0u
#define NEW_KEY_FLAGS FLAG_RANDOMIZED
#endif

#define KEY_TYPE PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1)

/* mbedTLS may encode an owner in key ids; other PSA implementations use the bare id. */
#if defined(MBEDTLS_PSA_CRYPTO_C)
typedef mbedtls_svc_key_id_t kid_t;
#define KID(id)      mbedtls_svc_key_id_make(0, (id))
#define KID_VALUE(k) MBEDTLS_SVC_KEY_ID_GET_KEY_ID(k)
#else
typedef psa_key_id_t kid_t;
#define KID(id)      ((psa_key_id_t)(id))
#define KID_VALUE(k) (k)
#endif

/* The hash state must fit the caller's struct corio_sha256 (C99 static assertions). */
struct align_probe {
    char c;
    psa_hash_operation_t op;
};
typedef char state_fits[sizeof(psa_hash_operation_t) <= CORIO_SHA256_STATE_SIZE ? 1 : -1];
typedef char state_aligned[offsetof(struct align_probe, op) <= 8 ? 1 : -1];

static int initialised;

/*
 * The PSA specification fixes its error codes, and those with a meaning of their own
 * lie in -133 (PSA_ERROR_NOT_PERMITTED) down to -153: one byte per code, the negated
 * corio_err, is smaller than a chain of compares. A code without an entry (0 here) and
 * any code outside the range is CORIO_ERR_CRYPTO.
 */
#define ERR_FIRST  PSA_ERROR_NOT_PERMITTED
#define ERR_AT(st) (ERR_FIRST - (st))
static const uint8_t err_map[21] = {
    [ERR_AT(PSA_ERROR_NOT_PERMITTED)] = -CORIO_ERR_POLICY,
    [ERR_AT(PSA_ERROR_NOT_SUPPORTED)] = -CORIO_ERR_UNSUPPORTED,
    [ERR_AT(PSA_ERROR_INVALID_ARGUMENT)] = -CORIO_ERR_INVAL,
    [ERR_AT(PSA_ERROR_INVALID_HANDLE)] = -CORIO_ERR_NOTFOUND,
    [ERR_AT(PSA_ERROR_BAD_STATE)] = -CORIO_ERR_STATE,
    [ERR_AT(PSA_ERROR_BUFFER_TOO_SMALL)] = -CORIO_ERR_NOSPACE,
    [ERR_AT(PSA_ERROR_ALREADY_EXISTS)] = -CORIO_ERR_STATE,
    [ERR_AT(PSA_ERROR_DOES_NOT_EXIST)] = -CORIO_ERR_NOTFOUND,
    [ERR_AT(PSA_ERROR_INSUFFICIENT_MEMORY)] = -CORIO_ERR_FULL,
    [ERR_AT(PSA_ERROR_INSUFFICIENT_STORAGE)] = -CORIO_ERR_FULL,
    [ERR_AT(PSA_ERROR_STORAGE_FAILURE)] = -CORIO_ERR_IO,
    [ERR_AT(PSA_ERROR_INVALID_SIGNATURE)] = -CORIO_ERR_BADSIG,
    [ERR_AT(PSA_ERROR_DATA_CORRUPT)] = -CORIO_ERR_IO,
    [ERR_AT(PSA_ERROR_DATA_INVALID)] = -CORIO_ERR_IO,
};

int corio_crypto_psa_err(int32_t status)
{
    if (status == PSA_SUCCESS)
        return CORIO_OK;
    uint32_t at = (uint32_t)ERR_FIRST - (uint32_t)status; /* wraps: no signed overflow */
    if (at < sizeof err_map && err_map[at])
        return -(int)err_map[at];
    return CORIO_ERR_CRYPTO;
}

int corio_crypto_psa_init(void)
{
    if (initialised)
        return CORIO_OK;
    psa_status_t st = psa_crypto_init();
    if (st != PSA_SUCCESS)
        return st == PSA_ERROR_STORAGE_FAILURE ? CORIO_ERR_IO : CORIO_ERR_CRYPTO;
    initialised = 1;
    return CORIO_OK;
}

void corio_crypto_psa_deinit(void)
{
    if (!initialised)
        return;
#if defined(MBEDTLS_PSA_CRYPTO_C)
    mbedtls_psa_crypto_free();
#endif
    initialised = 0;
}

static int psa_random(uint8_t *out, size_t len)
{
    if (!initialised)
        return CORIO_ERR_STATE;
    return psa_generate_random(out, len) == PSA_SUCCESS ? CORIO_OK : CORIO_ERR_CRYPTO;
}

static int psa_sha256(const uint8_t *data, size_t len, uint8_t out[CORIO_SHA256_LEN])
{
    if (!initialised)
        return CORIO_ERR_STATE;
    size_t n = 0;
    psa_status_t st = psa_hash_compute(PSA_ALG_SHA_256, data, len, out, CORIO_SHA256_LEN, &n);
    if (st != PSA_SUCCESS || n != CORIO_SHA256_LEN)
        return CORIO_ERR_CRYPTO;
    return CORIO_OK;
}

static int psa_sha256_start(void *state)
{
    if (!initialised)
        return CORIO_ERR_STATE;
    psa_hash_operation_t *op = state;
    /* corio_sha256_start() hands over the state zeroed, and all-bits-zero is one of the
     * initial values the PSA specification allows. */
    psa_status_t st = psa_hash_setup(op, PSA_ALG_SHA_256);
    if (st != PSA_SUCCESS) {
        psa_hash_abort(op);
        return CORIO_ERR_CRYPTO;
    }
    return CORIO_OK;
}

static int psa_sha256_update(void *state, const uint8_t *data, size_t len)
{
    return psa_hash_update(state, data, len) == PSA_SUCCESS ? CORIO_OK : CORIO_ERR_CRYPTO;
}

static int psa_sha256_finish(void *state, uint8_t out[CORIO_SHA256_LEN])
{
    size_t n = 0;
    psa_status_t st = psa_hash_finish(state, out, CORIO_SHA256_LEN, &n);
    /* After a failure PSA wants an abort; after success it is harmless. */
    psa_hash_abort(state);
    return st == PSA_SUCCESS && n == CORIO_SHA256_LEN ? CORIO_OK : CORIO_ERR_CRYPTO;
}

static void psa_sha256_abort(void *state)
{
    psa_hash_abort(state);
}

static int id_ok(uint32_t id)
{
    return id == 0 ||
           (CORIO_CRYPTO_PSA_PERSISTENT && id >= PSA_KEY_ID_USER_MIN && id <= PSA_KEY_ID_USER_MAX);
}

/* Makes a volatile key (id 0) or a persistent one of type with the ES256 policy and
 * usage: imports data[0..len) or, when data is NULL (CORIO_CRYPTO_PSA_GENERATE only),
 * generates it. */
static psa_status_t new_key(psa_key_type_t type, psa_key_usage_t usage, uint32_t id,
                            const uint8_t *data, size_t len, kid_t *kid)
{
    psa_key_attributes_t a = PSA_KEY_ATTRIBUTES_INIT;
    psa_set_key_type(&a, type);
    psa_set_key_bits(&a, 256);
    psa_set_key_usage_flags(&a, usage);
    psa_set_key_algorithm(&a, SIGN_ALG);
    if (CORIO_CRYPTO_PSA_PERSISTENT && id != 0)
        psa_set_key_id(&a, KID(id)); /* makes the key persistent */
    *kid = KID(0);
    psa_status_t st = CORIO_CRYPTO_PSA_GENERATE && !data ? psa_generate_key(&a, kid)
                                                         : psa_import_key(&a, data, len, kid);
    psa_reset_key_attributes(&a);
    return st;
}

/* Fills key after the PSA key id was created. */
static void key_fill(struct corio_key *key, kid_t kid, uint32_t id, unsigned flags)
{
    key->id = KID_VALUE(kid);
    key->obj = NULL;
    key->flags =
        (flags & CORIO_KEY_EXPORTABLE) | (id != 0 ? CORIO_KEY_PERSISTENT : 0u) | NEW_KEY_FLAGS;
}

/* Generates a key (priv NULL) or imports the scalar priv: the same attributes and the
 * same bookkeeping either way. */
static int make_key(uint32_t id, unsigned flags, const uint8_t *priv, struct corio_key *key)
{
    if (!initialised)
        return CORIO_ERR_STATE;
    if (!id_ok(id))
        return CORIO_ERR_INVAL;
    psa_key_usage_t usage = PSA_KEY_USAGE_SIGN_HASH | PSA_KEY_USAGE_VERIFY_HASH;
    if (flags & CORIO_KEY_EXPORTABLE)
        usage |= PSA_KEY_USAGE_EXPORT;
    kid_t kid;
    /* PSA's import format of an ECC private key is exactly the big-endian scalar. */
    psa_status_t st = new_key(KEY_TYPE, usage, id, priv, CORIO_P256_SCALAR_LEN, &kid);
    if (st != PSA_SUCCESS)
        return corio_crypto_psa_err(st);
    key_fill(key, kid, id, flags);
    return CORIO_OK;
}

static int psa_key_generate(uint32_t id, unsigned flags, struct corio_key *key)
{
    if (!CORIO_CRYPTO_PSA_GENERATE)
        return CORIO_ERR_UNSUPPORTED;
    return make_key(id, flags, NULL, key);
}

static int psa_key_import(uint32_t id, unsigned flags, const uint8_t priv[CORIO_P256_SCALAR_LEN],
                          struct corio_key *key)
{
    return make_key(id, flags, priv, key);
}

#if CORIO_CRYPTO_PSA_PERSISTENT
static int psa_key_open(uint32_t id, struct corio_key *key)
{
    if (!initialised)
        return CORIO_ERR_STATE;
    if (!id_ok(id))
        return CORIO_ERR_INVAL;
    kid_t kid = KID(id);
    psa_key_attributes_t a = PSA_KEY_ATTRIBUTES_INIT;
    psa_status_t st = psa_get_key_attributes(kid, &a);
    if (st != PSA_SUCCESS)
        return corio_crypto_psa_err(st);
    psa_algorithm_t alg = psa_get_key_algorithm(&a);
    psa_key_usage_t usage = psa_get_key_usage_flags(&a);
    int usable = psa_get_key_type(&a) == KEY_TYPE && psa_get_key_bits(&a) == 256 &&
                 (usage & PSA_KEY_USAGE_SIGN_HASH) && PSA_ALG_IS_ECDSA(alg) &&
                 (PSA_ALG_SIGN_GET_HASH(alg) == PSA_ALG_SHA_256 ||
                  PSA_ALG_SIGN_GET_HASH(alg) == PSA_ALG_ANY_HASH);
    psa_reset_key_attributes(&a);
    if (!usable) {
        /* Reading the attributes loaded the key into a slot; give it back. */
        psa_purge_key(kid);
        return CORIO_ERR_UNSUPPORTED;
    }
    key->id = id;
    key->obj = NULL;
    key->flags = CORIO_KEY_PERSISTENT |
                 ((usage & PSA_KEY_USAGE_EXPORT) ? CORIO_KEY_EXPORTABLE : 0u) |
                 (PSA_ALG_IS_DETERMINISTIC_ECDSA(alg) ? 0u : FLAG_RANDOMIZED);
    return CORIO_OK;
}
#else
#define psa_key_open NULL /* corio_key_open() refuses without CORIO_CRYPTO_CAP_PERSISTENT */
#endif

static kid_t kid_of(const struct corio_key *key)
{
    return KID(key->id);
}

/* The result of a PSA call that writes exactly want bytes and said it wrote n. */
static int sized(psa_status_t st, size_t n, size_t want)
{
    if (st != PSA_SUCCESS)
        return corio_crypto_psa_err(st);
    return n == want ? CORIO_OK : CORIO_ERR_CRYPTO;
}

/* psa_export_key() and psa_export_public_key() take the same arguments. */
typedef psa_status_t (*export_fn)(kid_t kid, uint8_t *data, size_t size, size_t *len);

/* Exports exactly len bytes of key with fn. */
static int export_key(const struct corio_key *key, export_fn fn, uint8_t *out, size_t len)
{
    if (!initialised)
        return CORIO_ERR_STATE;
    size_t n = 0;
    psa_status_t st = fn(kid_of(key), out, len, &n);
    return sized(st, n, len);
}

static int psa_key_export(const struct corio_key *key, uint8_t priv[CORIO_P256_SCALAR_LEN])
{
    if (!CORIO_CRYPTO_PSA_GENERATE)
        return CORIO_ERR_UNSUPPORTED;
    return export_key(key, psa_export_key, priv, CORIO_P256_SCALAR_LEN);
}

static int psa_key_public(const struct corio_key *key, uint8_t pub[CORIO_P256_PUB_LEN])
{
    return export_key(key, psa_export_public_key, pub, CORIO_P256_PUB_LEN);
}

static int psa_sign(const struct corio_key *key, const uint8_t hash[CORIO_SHA256_LEN],
                    uint8_t sig[CORIO_P256_SIG_LEN])
{
    if (!initialised)
        return CORIO_ERR_STATE;
    psa_algorithm_t alg = (key->flags & FLAG_RANDOMIZED)
                              ? PSA_ALG_ECDSA(PSA_ALG_SHA_256)
                              : PSA_ALG_DETERMINISTIC_ECDSA(PSA_ALG_SHA_256);
    size_t n = 0;
    psa_status_t st =
        psa_sign_hash(kid_of(key), alg, hash, CORIO_SHA256_LEN, sig, CORIO_P256_SIG_LEN, &n);
    return sized(st, n, CORIO_P256_SIG_LEN);
}

static int psa_verify(const uint8_t pub[CORIO_P256_PUB_LEN], const uint8_t hash[CORIO_SHA256_LEN],
                      const uint8_t sig[CORIO_P256_SIG_LEN])
{
    if (!initialised)
        return CORIO_ERR_STATE;
    kid_t kid;
    psa_status_t st = new_key(PSA_KEY_TYPE_ECC_PUBLIC_KEY(PSA_ECC_FAMILY_SECP_R1),
                              PSA_KEY_USAGE_VERIFY_HASH, 0, pub, CORIO_P256_PUB_LEN, &kid);
    if (st != PSA_SUCCESS)
        return st == PSA_ERROR_INVALID_ARGUMENT ? CORIO_ERR_MALFORMED : corio_crypto_psa_err(st);
    st = psa_verify_hash(kid, SIGN_ALG, hash, CORIO_SHA256_LEN, sig, CORIO_P256_SIG_LEN);
    psa_destroy_key(kid);
    return corio_crypto_psa_err(st);
}

static void psa_key_close(struct corio_key *key)
{
    if (!initialised)
        return;
    if (CORIO_CRYPTO_PSA_PERSISTENT && (key->flags & CORIO_KEY_PERSISTENT))
        psa_purge_key(kid_of(key)); /* drops the copy in memory; storage keeps it */
    else
        psa_destroy_key(kid_of(key)); /* a volatile key cannot be reopened */
}

static int psa_key_destroy(struct corio_key *key)
{
    if (!initialised)
        return CORIO_ERR_STATE;
    return corio_crypto_psa_err(psa_destroy_key(kid_of(key)));
}

const struct corio_crypto_ops corio_crypto_psa_ops = {
    .name = "psa",
    .caps = SIGN_CAPS | (CORIO_CRYPTO_PSA_PERSISTENT ? CORIO_CRYPTO_CAP_PERSISTENT : 0u),
    .random = psa_random,
    .sha256 = psa_sha256,
    .sha256_start = psa_sha256_start,
    .sha256_update = psa_sha256_update,
    .sha256_finish = psa_sha256_finish,
    .sha256_abort = psa_sha256_abort,
    .key_generate = psa_key_generate,
    .key_import = psa_key_import,
    .key_open = psa_key_open,
    .key_export = psa_key_export,
    .key_public = psa_key_public,
    .sign_hash = psa_sign,
    .verify_hash = psa_verify,
    .key_close = psa_key_close,
    .key_destroy = psa_key_destroy,
};
