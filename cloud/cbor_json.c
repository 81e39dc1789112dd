/*
 * cbor_json.c - JSON <-> CBOR for what the API takes and shows of device-bound payloads
 * (downlink_int.h): commands' arguments, results, configuration. The API speaks JSON,
 * devices CBOR (DESIGN.md §1: an MCU has no JSON parser).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corio/cbor.h"
#include "corio/encoding.h"
#include "corio/error.h"
#include "downlink_int.h"

static int put(struct corio_cbor_enc *e, const json_t *j, int depth, char *why, size_t whylen)
{
    if (depth > CORIO_DL_JSON_DEPTH) {
        snprintf(why, whylen, "nested deeper than %d", CORIO_DL_JSON_DEPTH);
        return CORIO_ERR_INVAL;
    }
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        size_t start = corio_cbor_enc_len(e);
        const char *k;
        json_t *v;
        corio_cbor_put_map(e, json_object_size(j));
        json_object_foreach((json_t *)j, k, v)
        {
            corio_cbor_put_textz(e, k);
            int rc = put(e, v, depth + 1, why, whylen);
            if (rc != CORIO_OK)
                return rc;
        }
        return corio_cbor_sort_map(e, start);
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *v;
        corio_cbor_put_array(e, json_array_size(j));
        json_array_foreach(j, i, v)
        {
            int rc = put(e, v, depth + 1, why, whylen);
            if (rc != CORIO_OK)
                return rc;
        }
        return CORIO_OK;
    }
    case JSON_STRING:
        return corio_cbor_put_text(e, json_string_value(j), json_string_length(j));
    case JSON_INTEGER:
        return corio_cbor_put_int(e, json_integer_value(j));
    case JSON_REAL: {
        double d = json_real_value(j);
        if (!isfinite(d)) {
            snprintf(why, whylen, "a number that is not finite");
            return CORIO_ERR_INVAL;
        }
        return corio_cbor_put_double(e, d);
    }
    case JSON_TRUE:
        return corio_cbor_put_bool(e, true);
    case JSON_FALSE:
        return corio_cbor_put_bool(e, false);
    case JSON_NULL:
        return corio_cbor_put_null(e);
    }
    return CORIO_ERR_INVAL;
}

int corio__json_to_cbor(const json_t *j, uint8_t **out, size_t *len, char *why, size_t whylen)
{
    *out = NULL;
    uint8_t *buf = malloc(CORIO_DL_CBOR_MAX);
    if (!buf) {
        snprintf(why, whylen, "out of memory");
        return CORIO_ERR_NOSPACE;
    }
    struct corio_cbor_enc e;
    corio_cbor_enc_init(&e, buf, CORIO_DL_CBOR_MAX);
    int rc = put(&e, j, 0, why, whylen);
    if (rc == CORIO_OK)
        rc = corio_cbor_enc_finish(&e);
    if (rc < 0) {
        if (rc == CORIO_ERR_NOSPACE)
            snprintf(why, whylen, "larger than %d bytes as CBOR", CORIO_DL_CBOR_MAX);
        else if (rc != CORIO_ERR_INVAL || !why[0])
            snprintf(why, whylen, "cannot be encoded (%s)", corio_strerror(rc));
        free(buf);
        return CORIO_ERR_INVAL;
    }
    *out = buf;
    *len = corio_cbor_enc_len(&e);
    return CORIO_OK;
}

static json_t *item(struct corio_cbor_dec *d, int depth)
{
    struct corio_cbor_item it;
    if (depth > CORIO_CBOR_MAX_DEPTH || corio_cbor_next(d, &it) != CORIO_OK)
        return NULL;
    switch (it.type) {
    case CORIO_CBOR_UINT:
        return it.u <= INT64_MAX ? json_integer((json_int_t)it.u) : json_real((double)it.u);
    case CORIO_CBOR_NEGINT:
        return it.u <= INT64_MAX ? json_integer(-1 - (json_int_t)it.u)
                                 : json_real(-1.0 - (double)it.u);
    case CORIO_CBOR_TEXT:
        if (it.indefinite)
            return NULL;
        return json_stringn((const char *)it.ptr, it.len); /* NULL when not UTF-8 */
    case CORIO_CBOR_BYTES: {
        if (it.indefinite)
            return NULL;
        size_t cap = CORIO_BASE64URL_ENCODED_LEN(it.len) + 1;
        char *s = malloc(cap);
        int n = s ? corio_base64url_encode(it.ptr, it.len, s, cap) : -1;
        json_t *j = n >= 0 ? json_stringn(s, (size_t)n) : NULL;
        free(s);
        return j;
    }
    case CORIO_CBOR_ARRAY: {
        if (it.indefinite)
            return NULL;
        json_t *a = json_array();
        for (uint64_t i = 0; a && i < it.u; i++) {
            json_t *v = item(d, depth + 1);
            if (!v || json_array_append_new(a, v) != 0) {
                json_decref(a);
                return NULL;
            }
        }
        return a;
    }
    case CORIO_CBOR_MAP: {
        if (it.indefinite)
            return NULL;
        json_t *o = json_object();
        for (uint64_t i = 0; o && i < it.u; i++) {
            json_t *k = item(d, depth + 1);
            json_t *v = k ? item(d, depth + 1) : NULL;
            char *ks = NULL;
            const char *key = NULL;
            if (k && json_is_string(k))
                key = json_string_value(k);
            else if (k)
                key = ks = json_dumps(k, JSON_ENCODE_ANY | JSON_COMPACT);
            bool ok = v && key && json_object_set_new(o, key, v) == 0;
            if (!ok)
                json_decref(v);
            free(ks);
            json_decref(k);
            if (!ok) {
                json_decref(o);
                return NULL;
            }
        }
        return o;
    }
    case CORIO_CBOR_TAG:
        return item(d, depth + 1);
    case CORIO_CBOR_FLOAT:
        return isfinite(it.f) ? json_real(it.f) : json_null();
    case CORIO_CBOR_TRUE:
        return json_true();
    case CORIO_CBOR_FALSE:
        return json_false();
    default:
        return json_null();
    }
}

json_t *corio__cbor_to_json(const uint8_t *p, size_t n)
{
    if (!p || !n || corio_cbor_wellformed(p, n) != CORIO_OK)
        return NULL;
    struct corio_cbor_dec d;
    corio_cbor_dec_init(&d, p, n);
    return item(&d, 0);
}
