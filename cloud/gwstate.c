/*
 * gwstate.c - the gateways' latest status documents (gwstate.h).
 */
#include "gwstate.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "corio/error.h"
#include "store.h"

struct entry {
    char id[CORIO_ID_LEN + 1];
    int64_t received_ms;
    int64_t t_ms;  /* the document's own time, 0 when it has none */
    json_t *state;
};

struct corio_gwstate {
    pthread_mutex_t lock;
    struct entry *e; /* sorted by id */
    size_t n, cap;
};

int corio_gwstate_new(struct corio_gwstate **out)
{
    struct corio_gwstate *g = calloc(1, sizeof *g);
    if (!g)
        return CORIO_ERR_NOSPACE;
    pthread_mutex_init(&g->lock, NULL);
    *out = g;
    return CORIO_OK;
}

void corio_gwstate_free(struct corio_gwstate *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->n; i++)
        json_decref(g->e[i].state);
    free(g->e);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

static int bad(char *why, size_t whylen, int rc, const char *what)
{
    if (why && whylen)
        snprintf(why, whylen, "%s", what);
    return rc;
}

/* The index of id, or where it would go (*found false). */
static size_t find(const struct corio_gwstate *g, const char *id, bool *found)
{
    size_t lo = 0, hi = g->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(g->e[mid].id, id);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

int corio_gwstate_put(struct corio_gwstate *g, const char *gateway, const uint8_t *payload,
                      size_t len, int64_t now_ms, char *why, size_t whylen)
{
    if (!gateway || !corio_store_valid_id(gateway, strlen(gateway)) || (!payload && len))
        return bad(why, whylen, CORIO_ERR_INVAL, "not a gateway id");
    if (len > CORIO_GWSTATE_MAX_BYTES)
        return bad(why, whylen, CORIO_ERR_MALFORMED, "status larger than 16 KiB");
    json_error_t jerr;
    json_t *j = json_loadb((const char *)payload, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j)
        return bad(why, whylen, CORIO_ERR_MALFORMED, "status is not JSON");
    int rc = CORIO_ERR_MALFORMED;
    const char *what = "status is not a JSON object";
    if (!json_is_object(j))
        goto fail;
    json_t *v = json_object_get(j, "v"), *gw = json_object_get(j, "gateway"),
           *status = json_object_get(j, "status"), *t = json_object_get(j, "t");
    what = "status without an integer 'v'";
    if (!json_is_integer(v))
        goto fail;
    if (json_integer_value(v) != 1) {
        rc = CORIO_ERR_VERSION;
        what = "status of another version";
        goto fail;
    }
    what = "status of another gateway";
    if (!json_is_string(gw) || strcmp(json_string_value(gw), gateway) != 0)
        goto fail;
    what = "status without a short string 'status'";
    if (!json_is_string(status) || json_string_length(status) > 32 ||
        json_string_length(status) == 0)
        goto fail;
    what = "status with a 't' that is not a time";
    if (t && (!json_is_integer(t) || json_integer_value(t) < 0))
        goto fail;
    int64_t t_ms = t ? (int64_t)json_integer_value(t) : 0;

    pthread_mutex_lock(&g->lock);
    bool found;
    size_t i = find(g, gateway, &found);
    if (found) {
        /* A retained document redelivered after a newer one (or a will after a
         * reconnect's status) must not win: the newer "t" stays. A will has no "t". */
        if (t_ms && g->e[i].t_ms > t_ms) {
            pthread_mutex_unlock(&g->lock);
            json_decref(j);
            return CORIO_OK;
        }
        json_decref(g->e[i].state);
    } else {
        if (g->n >= CORIO_GWSTATE_MAX_GATEWAYS) {
            pthread_mutex_unlock(&g->lock);
            json_decref(j);
            return bad(why, whylen, CORIO_ERR_FULL, "too many gateways");
        }
        if (g->n == g->cap) {
            size_t cap = g->cap ? g->cap * 2 : 16;
            struct entry *e = realloc(g->e, cap * sizeof *e);
            if (!e) {
                pthread_mutex_unlock(&g->lock);
                json_decref(j);
                return bad(why, whylen, CORIO_ERR_NOSPACE, "out of memory");
            }
            g->e = e;
            g->cap = cap;
        }
        memmove(&g->e[i + 1], &g->e[i], (g->n - i) * sizeof *g->e);
        g->n++;
        snprintf(g->e[i].id, sizeof g->e[i].id, "%s", gateway);
    }
    g->e[i].state = j;
    g->e[i].received_ms = now_ms;
    g->e[i].t_ms = t_ms;
    pthread_mutex_unlock(&g->lock);
    return CORIO_OK;
fail:
    json_decref(j);
    return bad(why, whylen, rc, what);
}

size_t corio_gwstate_count(struct corio_gwstate *g)
{
    pthread_mutex_lock(&g->lock);
    size_t n = g->n;
    pthread_mutex_unlock(&g->lock);
    return n;
}

static int h_gateways(struct corio_http_req *r, void *arg)
{
    struct corio_gwstate *g = arg;
    json_t *list = json_array();
    if (!list)
        return corio_http_reply_error(r, 500, "out of memory");
    pthread_mutex_lock(&g->lock);
    for (size_t i = 0; i < g->n; i++) {
        json_t *e = json_pack("{s:s, s:I, s:O}", "id", g->e[i].id, "received_ms",
                              (json_int_t)g->e[i].received_ms, "status", g->e[i].state);
        if (!e || json_array_append_new(list, e) != 0) {
            pthread_mutex_unlock(&g->lock);
            json_decref(list);
            return corio_http_reply_error(r, 500, "out of memory");
        }
    }
    pthread_mutex_unlock(&g->lock);
    json_t *body = json_pack("{s:o}", "gateways", list);
    if (!body)
        return corio_http_reply_error(r, 500, "out of memory");
    return corio_http_reply_json(r, 200, body);
}

int corio_gwstate_route(struct corio_gwstate *g, struct corio_http *http)
{
    return corio_http_route(http, "GET", "/api/v1/gateways/status", h_gateways, g);
}
