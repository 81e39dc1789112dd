/*
 * cbor_sort.c - sorts an encoded map's pairs in place into RFC 8949 §4.2.1 order
 * (bytewise order of the keys' encodings) and refuses duplicate keys, so encoders
 * may write keys in whatever order their data comes in.
 *
 * Without heap there is no index of pairs to sort, so this is an insertion sort on
 * the bytes themselves: each pair that is smaller than the largest sorted key is
 * moved to its place by rotating the bytes in between (three reversals). Pairs that
 * already come in order cost one comparison each.
 */
#include <string.h>

#include "corio/cbor.h"

static int bytes_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c != 0)
        return c;
    return an < bn ? -1 : an > bn ? 1 : 0;
}

/* The length of the item at p[0..n), which the caller has already validated. */
static int item_len(const uint8_t *p, size_t n, size_t *len)
{
    struct corio_cbor_dec d;
    corio_cbor_dec_init(&d, p, n);
    int rc = corio_cbor_skip(&d);
    if (rc != CORIO_OK)
        return rc;
    *len = corio_cbor_dec_offset(&d);
    return CORIO_OK;
}

static void reverse(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n / 2; i++) {
        uint8_t t = p[i];
        p[i] = p[n - 1 - i];
        p[n - 1 - i] = t;
    }
}

/* Turns p[0..a) p[a..n) into p[a..n) p[0..a). */
static void rotate(uint8_t *p, size_t a, size_t n)
{
    reverse(p, a);
    reverse(p + a, n - a);
    reverse(p, n);
}

int corio_cbor_map_sort(uint8_t *map, size_t len)
{
    struct corio_cbor_dec d;
    struct corio_cbor_item it;
    int rc = corio_cbor_wellformed(map, len);
    if (rc == CORIO_ERR_UNSUPPORTED)
        return rc;
    if (rc != CORIO_OK)
        return CORIO_ERR_INVAL;
    corio_cbor_dec_init(&d, map, len);
    rc = corio_cbor_next(&d, &it);
    if (rc != CORIO_OK)
        return CORIO_ERR_INVAL;
    if (it.type != CORIO_CBOR_MAP || it.indefinite)
        return CORIO_ERR_INVAL;

    size_t first = corio_cbor_dec_offset(&d); /* where pairs start */
    size_t sorted_end = first;                /* pairs before this are in order */
    size_t last_key = 0, last_key_len = 0;    /* the largest key so far */

    for (uint64_t i = 0; i < it.u; i++) {
        size_t a = sorted_end, klen, vlen;
        if ((rc = item_len(map + a, len - a, &klen)) != CORIO_OK ||
            (rc = item_len(map + a + klen, len - a - klen, &vlen)) != CORIO_OK)
            return rc;
        size_t b = a + klen + vlen;
        int c = i == 0 ? -1 : bytes_cmp(map + last_key, last_key_len, map + a, klen);
        if (c == 0)
            return CORIO_ERR_POLICY;
        if (c < 0) {
            last_key = a;
            last_key_len = klen;
        } else {
            /* Find the first sorted pair whose key is larger, and move this one there. */
            size_t pos = first;
            while (pos < a) {
                size_t kl, vl;
                if ((rc = item_len(map + pos, len - pos, &kl)) != CORIO_OK ||
                    (rc = item_len(map + pos + kl, len - pos - kl, &vl)) != CORIO_OK)
                    return rc;
                c = bytes_cmp(map + pos, kl, map + a, klen);
                if (c == 0)
                    return CORIO_ERR_POLICY;
                if (c > 0)
                    break;
                pos += kl + vl;
            }
            rotate(map + pos, a - pos, b - pos);
            last_key += b - a; /* the largest key moved up by the inserted pair */
        }
        sorted_end = b;
    }
    return CORIO_OK;
}

int corio_cbor_sort_map(struct corio_cbor_enc *e, size_t map_start)
{
    if (e->err != CORIO_OK || !e->buf)
        return e->err;
    int rc = map_start < e->len ? corio_cbor_map_sort(e->buf + map_start, e->len - map_start)
                                : CORIO_ERR_INVAL;
    if (rc != CORIO_OK)
        e->err = rc;
    return e->err;
}
