/*
 * senml_roundtrip.h - the body shared by fuzz_senml_json.c and fuzz_senml_cbor.c.
 *
 * Decodes hostile input through the real entry points and checks what comes out:
 * records and their strings lie inside the buffers they should, names follow RFC
 * 8428 §4.5.1, numbers are finite, errors stick. Every pack that decodes is then
 * written again as resolved records, in both encodings, by the encoder, and must
 * decode to the same records: what the decoder accepts, the encoder can say, and
 * the two agree on its meaning.
 */
#ifndef FUZZ_SENML_ROUNDTRIP_H
#define FUZZ_SENML_ROUNDTRIP_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "corio/senml.h"

#define CHECK(c)     \
    do {             \
        if (!(c))    \
            abort(); \
    } while (0)

#define MAX_KEEP 64 /* records compared in the round trip */

struct kept {
    char name[CORIO_SENML_MAX_NAME + 1];
    char *unit; /* NUL-terminated copies */
    size_t unit_len;
    struct corio_senml_record r; /* its pointers are replaced by the copies below */
    uint8_t *val;
};

static bool inside(const void *p, size_t n, const void *base, size_t len)
{
    const uint8_t *b = base, *q = p;
    return q >= b && n <= len && (size_t)(q - b) <= len - n;
}

static bool same(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

/* Decodes msg; keeps up to MAX_KEEP records in keep[]. Returns the record count, or
 * the error. */
static int decode_keep(enum corio_format fmt, const uint8_t *msg, size_t len,
                       struct kept *keep, struct corio_senml_ext *ext, bool *all_kept)
{
    char buf[300];
    struct corio_senml_dec d;
    struct corio_senml_record r;
    int rc = corio_senml_dec_init(&d, fmt, msg, len, buf, sizeof buf);
    int n = 0;
    *all_kept = true;
    if (rc != CORIO_OK) {
        CHECK(rc < 0);
        CHECK(corio_senml_dec_next(&d, &r) == rc);
        return rc;
    }
    *ext = *corio_senml_dec_ext(&d);
    CHECK(corio_senml_dec_version(&d) >= 1 && corio_senml_dec_version(&d) <= 10);
    uint32_t last = 0;
    while ((rc = corio_senml_dec_next(&d, &r)) == 1) {
        CHECK(n == 0 || r.index > last);
        last = r.index;
        CHECK(r.name == buf && r.name_len < sizeof buf && r.name[r.name_len] == '\0');
        CHECK(corio_senml_name_valid(r.name, r.name_len));
        CHECK(r.name_len <= CORIO_SENML_MAX_NAME);
        CHECK(inside(r.unit, r.unit_len, msg, len) || inside(r.unit, r.unit_len, buf, sizeof buf) ||
              r.unit_len == 0);
        CHECK(r.time - r.time == 0.0);
        CHECK(r.time_relative == (r.time < CORIO_SENML_RELATIVE_LIMIT));
        CHECK(!r.has_sum || r.sum - r.sum == 0.0);
        CHECK(!r.has_ut || r.ut - r.ut == 0.0);
        CHECK(r.type != CORIO_SENML_NONE || r.has_sum);
        const void *vp = NULL;
        size_t vn = 0;
        switch (r.type) {
        case CORIO_SENML_NUMBER:
            CHECK(r.v - r.v == 0.0);
            break;
        case CORIO_SENML_STRING:
            vp = r.vs;
            vn = r.vs_len;
            CHECK(inside(vp, vn, msg, len) || inside(vp, vn, buf, sizeof buf));
            break;
        case CORIO_SENML_DATA:
            vp = r.vd;
            vn = r.vd_len;
            CHECK(vn == 0 || inside(vp, vn, msg, len) || inside(vp, vn, buf, sizeof buf));
            break;
        default:
            break;
        }
        if (n < MAX_KEEP) {
            struct kept *k = &keep[n];
            memcpy(k->name, r.name, r.name_len + 1);
            k->unit = malloc(r.unit_len + 1);
            CHECK(k->unit);
            if (r.unit_len)
                memcpy(k->unit, r.unit, r.unit_len);
            k->unit[r.unit_len] = '\0';
            k->unit_len = r.unit_len;
            k->val = malloc(vn ? vn : 1);
            CHECK(k->val);
            if (vn)
                memcpy(k->val, vp, vn);
            k->r = r;
            n++;
        } else
            *all_kept = false;
    }
    if (rc < 0) {
        CHECK(corio_senml_dec_next(&d, &r) == rc); /* sticky */
        for (int i = 0; i < n; i++) {
            free(keep[i].unit);
            free(keep[i].val);
        }
        return rc;
    }
    CHECK(rc == 0);
    CHECK(corio_senml_dec_next(&d, &r) == 0);
    return n;
}

static void free_kept(struct kept *keep, int n)
{
    for (int i = 0; i < n; i++) {
        free(keep[i].unit);
        free(keep[i].val);
    }
}

/* Writes keep[0..n) as resolved records; returns the length or an error. */
static int encode_kept(enum corio_format fmt, const struct kept *keep, int n,
                       const struct corio_senml_ext *ext, uint8_t *out, size_t cap)
{
    struct corio_senml_enc e;
    corio_senml_enc_init(&e, fmt, out, cap);
    corio_senml_enc_ext(&e, ext);
    for (int i = 0; i < n; i++) {
        const struct kept *k = &keep[i];
        struct corio_senml_fields f;
        memset(&f, 0, sizeof f);
        f.n = k->name;
        f.u = k->unit_len ? k->unit : NULL;
        f.type = k->r.type;
        f.v = k->r.v;
        f.vb = k->r.vb;
        f.vs = (const char *)k->val;
        f.vs_len = k->r.vs_len;
        f.vd = k->val;
        f.vd_len = k->r.vd_len;
        f.has = CORIO_SENML_HAS_T;
        f.t = k->r.time;
        if (k->r.has_sum) {
            f.has |= CORIO_SENML_HAS_S;
            f.s = k->r.sum;
        }
        if (k->r.has_ut) {
            f.has |= CORIO_SENML_HAS_UT;
            f.ut = k->r.ut;
        }
        corio_senml_enc_add(&e, &f);
    }
    return corio_senml_enc_finish(&e);
}

static void roundtrip(enum corio_format fmt, const uint8_t *data, size_t size)
{
    static struct kept a[MAX_KEEP], b[MAX_KEEP];
    struct corio_senml_ext ext, ext2;
    bool all;
    int n = decode_keep(fmt, data, size, a, &ext, &all);
    if (n < 0)
        return;
    /* A pack of only base records has nothing to say again; a unit holding a NUL
     * cannot pass through the encoder's NUL-terminated strings. */
    bool encodable = n > 0 && all;
    for (int i = 0; i < n && encodable; i++)
        if (strlen(a[i].unit) != a[i].unit_len)
            encodable = false;
    static const enum corio_format fmts[] = {CORIO_FORMAT_JSON, CORIO_FORMAT_CBOR};
    for (size_t f = 0; encodable && f < 2; f++) {
        int len = encode_kept(fmts[f], a, n, &ext, NULL, 0);
        CHECK(len > 0);
        uint8_t *out = malloc((size_t)len);
        CHECK(out);
        CHECK(encode_kept(fmts[f], a, n, &ext, out, (size_t)len) == len);
        if (fmts[f] == CORIO_FORMAT_CBOR)
            CHECK(corio_cbor_deterministic(out, (size_t)len) == CORIO_OK);
        bool all2;
        int m = decode_keep(fmts[f], out, (size_t)len, b, &ext2, &all2);
        CHECK(m == n);
        CHECK(memcmp(&ext, &ext2, sizeof ext) == 0);
        for (int i = 0; i < n; i++) {
            const struct corio_senml_record *x = &a[i].r, *y = &b[i].r;
            CHECK(strcmp(a[i].name, b[i].name) == 0);
            CHECK(a[i].unit_len == b[i].unit_len &&
                  memcmp(a[i].unit, b[i].unit, a[i].unit_len) == 0);
            CHECK(x->type == y->type);
            CHECK(same(x->v, y->v) && x->vb == y->vb);
            CHECK(x->vs_len == y->vs_len && x->vd_len == y->vd_len);
            size_t vn = x->type == CORIO_SENML_STRING ? x->vs_len
                        : x->type == CORIO_SENML_DATA ? x->vd_len
                                                      : 0;
            CHECK(memcmp(a[i].val, b[i].val, vn) == 0);
            CHECK(x->has_sum == y->has_sum && (!x->has_sum || same(x->sum, y->sum)));
            CHECK(same(x->time, y->time) && x->time_relative == y->time_relative);
            CHECK(x->has_ut == y->has_ut && (!x->has_ut || same(x->ut, y->ut)));
        }
        free_kept(b, m);
        free(out);
    }
    free_kept(a, n);
}

#endif /* FUZZ_SENML_ROUNDTRIP_H */
