/*
 * tx_args.c - the per-type arguments of transactions (tx.h): one table of fields per
 * map (key, type, limits, where it lives in the C struct) and one strict decoder and
 * one encoder that walk a table, so that every map is read and written by the same
 * rules and a new field is one line.
 */
#include <stddef.h>
#include <string.h>

#include "corio/cbor.h"
#include "corio/error.h"
#include "tx.h"

enum kind {
    K_UINT,  /* uint64_t, min..max */
    K_BOOL,  /* bool */
    K_ID,    /* uint8_t[15] */
    K_KEY,   /* uint8_t[33] */
    K_HASH,  /* uint8_t[32] */
    K_TEXT,  /* const char * + size_t: UTF-8, min..max bytes, no control characters */
    K_NAME,  /* const char * + size_t: corio_tx_name_ok() */
    K_BYTES, /* const uint8_t * + size_t: 1..max bytes */
    K_ARRAY, /* const uint8_t * + size_t: one encoded array, 1..max items */
    K_MAP,   /* const uint8_t * + size_t: one encoded map */
};

#define NONE 0xffff

struct field {
    uint8_t key;
    uint8_t kind;
    bool required;
    uint64_t min, max;
    uint16_t off;     /* the value */
    uint16_t off_len; /* its length (text, bytes, items), or NONE */
    uint16_t off_has; /* its presence flag, or NONE */
};

#define F(k, kd, req, mn, mx, st, fld) {k, kd, req, mn, mx, offsetof(st, fld), NONE, NONE}
#define FL(k, kd, req, mn, mx, st, fld, len)                                                       \
    {k, kd, req, mn, mx, offsetof(st, fld), offsetof(st, len), NONE}
#define FO(k, kd, mn, mx, st, fld, has) {k, kd, false, mn, mx, offsetof(st, fld), NONE, offsetof(st, has)}
#define FOL(k, kd, mn, mx, st, fld, len, has)                                                      \
    {k, kd, false, mn, mx, offsetof(st, fld), offsetof(st, len), offsetof(st, has)}
#define U64MAX UINT64_MAX

bool corio_tx_name_ok(const char *s, size_t n)
{
    if (!s || n == 0 || n > CORIO_TX_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '+'))
            return false;
    }
    return true;
}

/* No control characters (the registry file and JSON views print text as it is). */
static bool text_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

#define AT(base, off, type) ((type *)((uint8_t *)(base) + (off)))
typedef const char *cstr;
typedef const uint8_t *cbytes;
#define CAT(base, off, type) ((const type *)((const uint8_t *)(base) + (off)))

/* Reads one value of field f into the struct at base. */
static int get_value(struct corio_cbor_dec *d, const struct field *f, void *base)
{
    const uint8_t *p;
    const char *s;
    size_t n;
    uint64_t v;
    struct corio_cbor_item it;
    switch (f->kind) {
    case K_UINT:
        if (corio_cbor_expect_uint(d, &v) || v < f->min || v > f->max)
            return CORIO_ERR_MALFORMED;
        *AT(base, f->off, uint64_t) = v;
        return CORIO_OK;
    case K_BOOL:
        return corio_cbor_expect_bool(d, AT(base, f->off, bool)) ? CORIO_ERR_MALFORMED : CORIO_OK;
    case K_ID:
    case K_KEY:
    case K_HASH:
        n = f->kind == K_ID ? CORIO_DID_ID_LEN : f->kind == K_KEY ? CORIO_TX_KEY_LEN : 32;
        if (corio_cbor_expect_bytes(d, &p, &n) != CORIO_OK)
            return CORIO_ERR_MALFORMED;
        if (n != (f->kind == K_ID ? CORIO_DID_ID_LEN : f->kind == K_KEY ? CORIO_TX_KEY_LEN : 32))
            return CORIO_ERR_MALFORMED;
        memcpy(AT(base, f->off, uint8_t), p, n);
        return CORIO_OK;
    case K_TEXT:
    case K_NAME:
        if (corio_cbor_expect_text(d, &s, &n) != CORIO_OK)
            return CORIO_ERR_MALFORMED;
        if (f->kind == K_NAME ? !corio_tx_name_ok(s, n)
                              : (n < f->min || n > f->max || !text_ok(s, n)))
            return CORIO_ERR_MALFORMED;
        *AT(base, f->off, const char *) = s;
        *AT(base, f->off_len, size_t) = n;
        return CORIO_OK;
    case K_BYTES:
        if (corio_cbor_expect_bytes(d, &p, &n) != CORIO_OK || n < 1 || n > f->max)
            return CORIO_ERR_MALFORMED;
        *AT(base, f->off, const uint8_t *) = p;
        *AT(base, f->off_len, size_t) = n;
        return CORIO_OK;
    case K_ARRAY:
    case K_MAP: {
        size_t start = corio_cbor_dec_offset(d);
        if (corio_cbor_peek(d, &it) != CORIO_OK ||
            it.type != (f->kind == K_ARRAY ? CORIO_CBOR_ARRAY : CORIO_CBOR_MAP) ||
            (f->kind == K_ARRAY && (it.u < f->min || it.u > f->max)) ||
            corio_cbor_skip(d) != CORIO_OK)
            return CORIO_ERR_MALFORMED;
        *AT(base, f->off, const uint8_t *) = d->buf + start;
        *AT(base, f->off_len, size_t) = corio_cbor_dec_offset(d) - start;
        return CORIO_OK;
    }
    }
    return CORIO_ERR_MALFORMED;
}

/* Decodes the map buf[0..len) into base (zeroed first) under the table fs[0..n). */
static int decode_map(const struct field *fs, size_t nf, const uint8_t *buf, size_t len,
                      void *base, size_t size)
{
    if (!base || (!buf && len))
        return CORIO_ERR_INVAL;
    memset(base, 0, size);
    if (corio_cbor_deterministic(buf, len) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    struct corio_cbor_dec d;
    corio_cbor_dec_init(&d, buf, len);
    uint64_t pairs;
    if (corio_cbor_expect_map(&d, &pairs) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    bool seen[32] = {false};
    for (uint64_t i = 0; i < pairs; i++) {
        uint64_t key;
        if (corio_cbor_expect_uint(&d, &key) != CORIO_OK)
            return CORIO_ERR_MALFORMED;
        const struct field *f = NULL;
        for (size_t j = 0; j < nf; j++)
            if (fs[j].key == key) {
                f = &fs[j];
                seen[j] = true;
            }
        if (!f) /* unknown arguments are refused: a newer client needs a newer contract */
            return CORIO_ERR_MALFORMED;
        if (get_value(&d, f, base) != CORIO_OK)
            return CORIO_ERR_MALFORMED;
        if (f->off_has != NONE)
            *AT(base, f->off_has, bool) = true;
    }
    for (size_t j = 0; j < nf; j++)
        if (fs[j].required && !seen[j])
            return CORIO_ERR_MALFORMED;
    return corio_cbor_dec_finish(&d) == CORIO_OK ? CORIO_OK : CORIO_ERR_MALFORMED;
}

static bool present(const struct field *f, const void *base)
{
    return f->off_has == NONE || *CAT(base, f->off_has, bool);
}

/* Encodes base under fs (keys ascending, all below 24, so table order is the
 * deterministic order). */
static int encode_map(const struct field *fs, size_t nf, const void *base, uint8_t *out,
                      size_t cap)
{
    if (!base)
        return CORIO_ERR_INVAL;
    struct corio_cbor_enc e;
    corio_cbor_enc_init(&e, out, out ? cap : 0);
    uint64_t pairs = 0;
    for (size_t j = 0; j < nf; j++)
        pairs += present(&fs[j], base);
    corio_cbor_put_map(&e, pairs);
    for (size_t j = 0; j < nf; j++) {
        const struct field *f = &fs[j];
        if (!present(f, base))
            continue;
        corio_cbor_put_uint(&e, f->key);
        switch (f->kind) {
        case K_UINT:
            corio_cbor_put_uint(&e, *CAT(base, f->off, uint64_t));
            break;
        case K_BOOL:
            corio_cbor_put_bool(&e, *CAT(base, f->off, bool));
            break;
        case K_ID:
            corio_cbor_put_bytes(&e, CAT(base, f->off, uint8_t), CORIO_DID_ID_LEN);
            break;
        case K_KEY:
            corio_cbor_put_bytes(&e, CAT(base, f->off, uint8_t), CORIO_TX_KEY_LEN);
            break;
        case K_HASH:
            corio_cbor_put_bytes(&e, CAT(base, f->off, uint8_t), 32);
            break;
        case K_TEXT:
        case K_NAME:
            corio_cbor_put_text(&e, *CAT(base, f->off, cstr),
                                *CAT(base, f->off_len, size_t));
            break;
        case K_BYTES:
            corio_cbor_put_bytes(&e, *CAT(base, f->off, cbytes),
                                 *CAT(base, f->off_len, size_t));
            break;
        case K_ARRAY:
        case K_MAP:
            corio_cbor_put_raw(&e, *CAT(base, f->off, cbytes),
                               *CAT(base, f->off_len, size_t));
            break;
        }
    }
    int n = corio_cbor_enc_finish(&e);
    if (n == CORIO_ERR_NOSPACE && !out)
        n = (int)corio_cbor_enc_len(&e);
    return n;
}

#define N(t) (sizeof(t) / sizeof(t)[0])

/* ---- organisations, members, parameters -------------------------------------------- */

#define S struct corio_tx_org
static const struct field org_fields[] = {
    FO(1, K_KEY, 0, 0, S, key, has_key),
    FOL(2, K_TEXT, 1, CORIO_TX_ORGNAME_MAX, S, name, name_len, has_name),
    FO(3, K_UINT, 1, 1000000, S, weight, has_weight),
    FO(4, K_UINT, 1, 1000000, S, threshold, has_threshold),
    FO(5, K_BOOL, 0, 0, S, approver, has_approver),
    FO(6, K_UINT, 1, U64MAX, S, node, has_node),
    FOL(7, K_TEXT, 1, CORIO_TX_URL_MAX, S, address, address_len, has_address),
    FOL(8, K_TEXT, 0, CORIO_TX_URL_MAX, S, api, api_len, has_api),
    FOL(9, K_ARRAY, 0, 256, S, members, members_len, has_members),
};
#undef S

int corio_tx_item_next(const uint8_t *arr, size_t len, size_t *pos, const uint8_t **item,
                       size_t *item_len)
{
    if (!arr || !pos || !item || !item_len)
        return CORIO_ERR_INVAL;
    struct corio_cbor_dec d;
    corio_cbor_dec_init(&d, arr, len);
    uint64_t count;
    if (corio_cbor_expect_array(&d, &count) != CORIO_OK || count == CORIO_CBOR_INDEFINITE)
        return CORIO_ERR_MALFORMED;
    /* *pos is 0 before the first item, else the offset after the last one read. */
    if (*pos == 0)
        *pos = corio_cbor_dec_offset(&d);
    if (*pos > len)
        return CORIO_ERR_MALFORMED;
    if (*pos == len)
        return 0;
    corio_cbor_dec_init(&d, arr + *pos, len - *pos);
    if (corio_cbor_skip(&d) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    *item = arr + *pos;
    *item_len = corio_cbor_dec_offset(&d);
    *pos += *item_len;
    return 1;
}

int corio_tx_member_next(const uint8_t *arr, size_t len, size_t *pos,
                         uint8_t key[CORIO_TX_KEY_LEN], uint64_t *weight)
{
    const uint8_t *item;
    size_t n;
    int rc = corio_tx_item_next(arr, len, pos, &item, &n);
    if (rc <= 0)
        return rc;
    struct corio_cbor_dec d;
    corio_cbor_dec_init(&d, item, n);
    uint64_t count;
    const uint8_t *k;
    size_t kl;
    if (corio_cbor_expect_array(&d, &count) || count != 2 || corio_cbor_expect_bytes(&d, &k, &kl) ||
        kl != CORIO_TX_KEY_LEN || corio_cbor_expect_uint(&d, weight) || *weight < 1 ||
        *weight > 1000000 || corio_cbor_dec_finish(&d))
        return CORIO_ERR_MALFORMED;
    memcpy(key, k, kl);
    return 1;
}

int corio_tx_members_encode(const uint8_t (*keys)[CORIO_TX_KEY_LEN], const uint64_t *weights,
                            size_t n, uint8_t *out, size_t cap)
{
    struct corio_cbor_enc e;
    corio_cbor_enc_init(&e, out, out ? cap : 0);
    corio_cbor_put_array(&e, n);
    for (size_t i = 0; i < n; i++) {
        corio_cbor_put_array(&e, 2);
        corio_cbor_put_bytes(&e, keys[i], CORIO_TX_KEY_LEN);
        corio_cbor_put_uint(&e, weights[i]);
    }
    int r = corio_cbor_enc_finish(&e);
    if (r == CORIO_ERR_NOSPACE && !out)
        r = (int)corio_cbor_enc_len(&e);
    return r;
}

int corio_tx_org_decode(const uint8_t *buf, size_t len, struct corio_tx_org *o)
{
    int rc = decode_map(org_fields, N(org_fields), buf, len, o, sizeof *o);
    if (rc != CORIO_OK || !o->has_members)
        return rc;
    size_t pos = 0;
    uint8_t key[CORIO_TX_KEY_LEN];
    uint64_t w;
    while ((rc = corio_tx_member_next(o->members, o->members_len, &pos, key, &w)) == 1)
        ;
    return rc;
}

int corio_tx_org_encode(const struct corio_tx_org *o, uint8_t *out, size_t cap)
{
    return encode_map(org_fields, N(org_fields), o, out, cap);
}

int corio_tx_param_next(const uint8_t *map, size_t len, size_t *pos, const char **name,
                        size_t *name_len, uint64_t *value)
{
    if (!map || !pos || !name || !name_len || !value)
        return CORIO_ERR_INVAL;
    struct corio_cbor_dec d;
    corio_cbor_dec_init(&d, map, len);
    uint64_t pairs;
    if (corio_cbor_expect_map(&d, &pairs) != CORIO_OK || pairs == CORIO_CBOR_INDEFINITE)
        return CORIO_ERR_MALFORMED;
    if (*pos == 0)
        *pos = corio_cbor_dec_offset(&d);
    if (*pos > len)
        return CORIO_ERR_MALFORMED;
    if (*pos == len)
        return 0;
    corio_cbor_dec_init(&d, map + *pos, len - *pos);
    if (corio_cbor_expect_text(&d, name, name_len) || !corio_tx_name_ok(*name, *name_len) ||
        corio_cbor_expect_uint(&d, value))
        return CORIO_ERR_MALFORMED;
    *pos += corio_cbor_dec_offset(&d);
    return 1;
}

/* ---- per type ---------------------------------------------------------------------------- */

#define S struct corio_tx_genesis
static const struct field genesis_fields[] = {
    FL(1, K_ARRAY, true, 1, CORIO_TX_MAX_ORGS, S, orgs, orgs_len),
    FOL(2, K_MAP, 0, 0, S, params, params_len, has_params),
    FL(3, K_TEXT, true, 1, CORIO_TX_ORGNAME_MAX, S, name, name_len),
};
#undef S

int corio_tx_genesis_decode(const uint8_t *args, size_t len, struct corio_tx_genesis *g)
{
    int rc = decode_map(genesis_fields, N(genesis_fields), args, len, g, sizeof *g);
    if (rc != CORIO_OK)
        return rc;
    size_t pos = 0, n;
    const uint8_t *item;
    struct corio_tx_org o;
    while ((rc = corio_tx_item_next(g->orgs, g->orgs_len, &pos, &item, &n)) == 1)
        if (corio_tx_org_decode(item, n, &o) != CORIO_OK)
            return CORIO_ERR_MALFORMED;
    if (rc < 0 || !g->has_params)
        return rc < 0 ? rc : CORIO_OK;
    const char *name;
    uint64_t v;
    pos = 0;
    while ((rc = corio_tx_param_next(g->params, g->params_len, &pos, &name, &n, &v)) == 1)
        ;
    return rc;
}

int corio_tx_genesis_encode(const struct corio_tx_genesis *g, uint8_t *out, size_t cap)
{
    return encode_map(genesis_fields, N(genesis_fields), g, out, cap);
}

#define S struct corio_tx_member
static const struct field member_add_fields[] = {
    F(1, K_ID, true, 0, 0, S, org),
    FO(2, K_KEY, 0, 0, S, key, has_key),
    FO(3, K_UINT, 1, 1000000, S, weight, has_weight),
};
static const struct field member_remove_fields[] = {
    F(1, K_ID, true, 0, 0, S, org),
    FO(2, K_ID, 0, 0, S, person, has_person),
};
#undef S

int corio_tx_member_decode(unsigned type, const uint8_t *args, size_t len,
                           struct corio_tx_member *m)
{
    int rc;
    if (type == CORIO_TX_MEMBER_ADD) {
        rc = decode_map(member_add_fields, N(member_add_fields), args, len, m, sizeof *m);
        return rc == CORIO_OK && (!m->has_key || !m->has_weight) ? CORIO_ERR_MALFORMED : rc;
    }
    if (type == CORIO_TX_MEMBER_REMOVE) {
        rc = decode_map(member_remove_fields, N(member_remove_fields), args, len, m, sizeof *m);
        return rc == CORIO_OK && !m->has_person ? CORIO_ERR_MALFORMED : rc;
    }
    return CORIO_ERR_INVAL;
}

int corio_tx_member_encode(unsigned type, const struct corio_tx_member *m, uint8_t *out,
                           size_t cap)
{
    if (type == CORIO_TX_MEMBER_ADD)
        return encode_map(member_add_fields, N(member_add_fields), m, out, cap);
    if (type == CORIO_TX_MEMBER_REMOVE)
        return encode_map(member_remove_fields, N(member_remove_fields), m, out, cap);
    return CORIO_ERR_INVAL;
}

#define S struct corio_tx_rotate
static const struct field rotate_fields[] = {
    FL(1, K_BYTES, true, 1, 4096, S, link, link_len),
};
#undef S

int corio_tx_rotate_decode(const uint8_t *args, size_t len, struct corio_tx_rotate *r)
{
    return decode_map(rotate_fields, N(rotate_fields), args, len, r, sizeof *r);
}

int corio_tx_rotate_encode(const struct corio_tx_rotate *r, uint8_t *out, size_t cap)
{
    return encode_map(rotate_fields, N(rotate_fields), r, out, cap);
}

#define S struct corio_tx_device_register
static const struct field register_fields[] = {
    F(1, K_ID, true, 0, 0, S, org),
    F(2, K_KEY, true, 0, 0, S, key),
    F(3, K_UINT, true, 1, 2, S, kind),
    FL(4, K_NAME, true, 0, 0, S, class_, class_len),
    FL(5, K_NAME, true, 0, 0, S, model, model_len),
    FL(6, K_NAME, true, 0, 0, S, hw, hw_len),
    F(7, K_UINT, true, 1, 2, S, auth),
    F(8, K_UINT, true, 1, 2, S, assurance),
    FL(9, K_BYTES, true, 1, 1024, S, eat, eat_len),
    FO(10, K_ID, 0, 0, S, gateway, has_gateway),
};
#undef S

int corio_tx_device_register_decode(const uint8_t *args, size_t len,
                                    struct corio_tx_device_register *d)
{
    return decode_map(register_fields, N(register_fields), args, len, d, sizeof *d);
}

int corio_tx_device_register_encode(const struct corio_tx_device_register *d, uint8_t *out,
                                    size_t cap)
{
    return encode_map(register_fields, N(register_fields), d, out, cap);
}

#define S struct corio_tx_device_ref
static const struct field transfer_fields[] = {
    F(1, K_ID, true, 0, 0, S, device),
    FO(2, K_ID, 0, 0, S, from, has_from),
    FO(3, K_ID, 0, 0, S, to, has_to),
};
static const struct field revoke_fields[] = {
    F(1, K_ID, true, 0, 0, S, device),
};
#undef S

int corio_tx_device_ref_decode(unsigned type, const uint8_t *args, size_t len,
                               struct corio_tx_device_ref *d)
{
    int rc;
    if (type == CORIO_TX_DEVICE_TRANSFER) {
        rc = decode_map(transfer_fields, N(transfer_fields), args, len, d, sizeof *d);
        return rc == CORIO_OK && (!d->has_from || !d->has_to) ? CORIO_ERR_MALFORMED : rc;
    }
    if (type == CORIO_TX_DEVICE_REVOKE)
        return decode_map(revoke_fields, N(revoke_fields), args, len, d, sizeof *d);
    return CORIO_ERR_INVAL;
}

int corio_tx_device_ref_encode(unsigned type, const struct corio_tx_device_ref *d, uint8_t *out,
                               size_t cap)
{
    if (type == CORIO_TX_DEVICE_TRANSFER)
        return encode_map(transfer_fields, N(transfer_fields), d, out, cap);
    if (type == CORIO_TX_DEVICE_REVOKE)
        return encode_map(revoke_fields, N(revoke_fields), d, out, cap);
    return CORIO_ERR_INVAL;
}

#define S struct corio_tx_proposal
static const struct field proposal_fields[] = {
    F(1, K_ID, true, 0, 0, S, org),
    F(2, K_UINT, true, 1, 5, S, kind),
    FO(3, K_UINT, 1, U64MAX, S, period, has_period),
    FL(4, K_MAP, true, 0, 0, S, payload, payload_len),
};
#undef S

#define S struct corio_tx_proposal_payload
static const struct field membership_fields[] = {
    F(1, K_UINT, true, 1, 3, S, action),
    FO(2, K_ID, 0, 0, S, target, has_target),
    FOL(3, K_MAP, 0, 0, S, org, org_len, has_org),
};
static const struct field rights_fields[] = {
    F(1, K_ID, true, 0, 0, S, right_org),
    FL(2, K_NAME, true, 0, 0, S, class_, class_len),
    F(3, K_BOOL, true, 0, 0, S, grant),
};
static const struct field parameter_fields[] = {
    FL(1, K_NAME, true, 0, 0, S, name, name_len),
    F(2, K_UINT, true, 0, U64MAX, S, value),
};
static const struct field version_fields[] = {
    FL(1, K_NAME, true, 0, 0, S, name, name_len),
    F(2, K_UINT, true, 1, 1000000, S, value),
    F(3, K_UINT, true, 1, U64MAX, S, height),
};
static const struct field decision_fields[] = {
    FL(1, K_TEXT, true, 1, 200, S, title, title_len),
    FL(2, K_TEXT, true, 0, CORIO_TX_TEXT_MAX, S, text, text_len),
};
#undef S

static const struct {
    const struct field *f;
    size_t n;
} payloads[] = {
    [CORIO_PROPOSAL_MEMBERSHIP] = {membership_fields, N(membership_fields)},
    [CORIO_PROPOSAL_RIGHTS] = {rights_fields, N(rights_fields)},
    [CORIO_PROPOSAL_PARAMETER] = {parameter_fields, N(parameter_fields)},
    [CORIO_PROPOSAL_VERSION] = {version_fields, N(version_fields)},
    [CORIO_PROPOSAL_DECISION] = {decision_fields, N(decision_fields)},
};

int corio_tx_payload_decode(uint64_t kind, const uint8_t *buf, size_t len,
                            struct corio_tx_proposal_payload *out)
{
    if (kind < 1 || kind >= N(payloads))
        return CORIO_ERR_MALFORMED;
    int rc = decode_map(payloads[kind].f, payloads[kind].n, buf, len, out, sizeof *out);
    if (rc != CORIO_OK || kind != CORIO_PROPOSAL_MEMBERSHIP)
        return rc;
    /* admit names a new organisation (its map, with a key); remove an existing one;
     * update both (the map without a key: what changes). */
    struct corio_tx_org o;
    bool want_target = out->action != CORIO_MEMBERSHIP_ADMIT;
    bool want_org = out->action != CORIO_MEMBERSHIP_REMOVE;
    if (out->has_target != want_target || out->has_org != want_org)
        return CORIO_ERR_MALFORMED;
    if (want_org && (corio_tx_org_decode(out->org, out->org_len, &o) != CORIO_OK ||
                     o.has_key != (out->action == CORIO_MEMBERSHIP_ADMIT)))
        return CORIO_ERR_MALFORMED;
    return CORIO_OK;
}

int corio_tx_payload_encode(uint64_t kind, const struct corio_tx_proposal_payload *in,
                            uint8_t *out, size_t cap)
{
    if (kind < 1 || kind >= N(payloads))
        return CORIO_ERR_INVAL;
    return encode_map(payloads[kind].f, payloads[kind].n, in, out, cap);
}

int corio_tx_proposal_decode(const uint8_t *args, size_t len, struct corio_tx_proposal *p)
{
    int rc = decode_map(proposal_fields, N(proposal_fields), args, len, p, sizeof *p);
    if (rc != CORIO_OK)
        return rc;
    struct corio_tx_proposal_payload pl;
    return corio_tx_payload_decode(p->kind, p->payload, p->payload_len, &pl);
}

int corio_tx_proposal_encode(const struct corio_tx_proposal *p, uint8_t *out, size_t cap)
{
    return encode_map(proposal_fields, N(proposal_fields), p, out, cap);
}

#define S struct corio_tx_vote
static const struct field vote_fields[] = {
    F(1, K_HASH, true, 0, 0, S, proposal),
    F(2, K_ID, true, 0, 0, S, org),
    F(3, K_UINT, true, 1, 3, S, choice),
};
#undef S

int corio_tx_vote_decode(const uint8_t *args, size_t len, struct corio_tx_vote *v)
{
    return decode_map(vote_fields, N(vote_fields), args, len, v, sizeof *v);
}

int corio_tx_vote_encode(const struct corio_tx_vote *v, uint8_t *out, size_t cap)
{
    return encode_map(vote_fields, N(vote_fields), v, out, cap);
}

#define S struct corio_tx_release
static const struct field release_propose_fields[] = {
    F(1, K_ID, true, 0, 0, S, org),
    FL(2, K_NAME, true, 0, 0, S, class_, class_len),
    F(3, K_HASH, true, 0, 0, S, digest),
    FL(4, K_NAME, true, 0, 0, S, version, version_len),
};
static const struct field release_approve_fields[] = {
    F(1, K_HASH, true, 0, 0, S, release),
    F(2, K_ID, true, 0, 0, S, org),
};
#undef S

int corio_tx_release_decode(unsigned type, const uint8_t *args, size_t len,
                            struct corio_tx_release *r)
{
    if (type == CORIO_TX_RELEASE_PROPOSE)
        return decode_map(release_propose_fields, N(release_propose_fields), args, len, r,
                          sizeof *r);
    if (type == CORIO_TX_RELEASE_APPROVE)
        return decode_map(release_approve_fields, N(release_approve_fields), args, len, r,
                          sizeof *r);
    return CORIO_ERR_INVAL;
}

int corio_tx_release_encode(unsigned type, const struct corio_tx_release *r, uint8_t *out,
                            size_t cap)
{
    if (type == CORIO_TX_RELEASE_PROPOSE)
        return encode_map(release_propose_fields, N(release_propose_fields), r, out, cap);
    if (type == CORIO_TX_RELEASE_APPROVE)
        return encode_map(release_approve_fields, N(release_approve_fields), r, out, cap);
    return CORIO_ERR_INVAL;
}

int corio_tx_args_check(unsigned type, const uint8_t *args, size_t len, const char **why)
{
    union {
        struct corio_tx_genesis g;
        struct corio_tx_member m;
        struct corio_tx_rotate r;
        struct corio_tx_device_register dr;
        struct corio_tx_device_ref d;
        struct corio_tx_proposal p;
        struct corio_tx_vote v;
        struct corio_tx_release rl;
    } u;
    int rc = CORIO_ERR_MALFORMED;
    const char *w = "unknown transaction type";
    switch (type) {
    case CORIO_TX_GENESIS:
        rc = corio_tx_genesis_decode(args, len, &u.g);
        w = "malformed genesis arguments";
        break;
    case CORIO_TX_MEMBER_ADD:
    case CORIO_TX_MEMBER_REMOVE:
        rc = corio_tx_member_decode(type, args, len, &u.m);
        w = "malformed member arguments";
        break;
    case CORIO_TX_DID_ROTATE:
        rc = corio_tx_rotate_decode(args, len, &u.r);
        w = "malformed rotation arguments";
        break;
    case CORIO_TX_DEVICE_REGISTER:
        rc = corio_tx_device_register_decode(args, len, &u.dr);
        w = "malformed device registration arguments";
        break;
    case CORIO_TX_DEVICE_TRANSFER:
    case CORIO_TX_DEVICE_REVOKE:
        rc = corio_tx_device_ref_decode(type, args, len, &u.d);
        w = "malformed device arguments";
        break;
    case CORIO_TX_PROPOSAL:
        rc = corio_tx_proposal_decode(args, len, &u.p);
        w = "malformed proposal arguments";
        break;
    case CORIO_TX_VOTE:
        rc = corio_tx_vote_decode(args, len, &u.v);
        w = "malformed vote arguments";
        break;
    case CORIO_TX_RELEASE_PROPOSE:
    case CORIO_TX_RELEASE_APPROVE:
        rc = corio_tx_release_decode(type, args, len, &u.rl);
        w = "malformed release arguments";
        break;
    }
    if (rc != CORIO_OK) {
        if (why)
            *why = w;
        return CORIO_ERR_MALFORMED;
    }
    return CORIO_OK;
}
