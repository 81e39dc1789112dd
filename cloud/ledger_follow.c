/*
 * ledger_follow.c - corio-cloud follows a corio-ledger (downlink_int.h; docs/downlink.md,
 * "Registry relay"): every poll it reads the node's registry export
 * (GET /api/v1/contracts/registry) and signed tree head (GET /api/v1/tree-head), keeps
 * the blocks from a bounded window below the head (GET /api/v1/blocks/{h}?format=cbor),
 * stores the export whenever its entries change, loads it into the cloud's own registry
 * (organisations, gateways and their keys, devices), and tells the sender.
 *
 * The export is read before the tree head, so the head is at or above the export's
 * height and the blocks between them chain the export's height to a signed head. The
 * cloud does not judge the ledger: the gateways check what they can (relay.h).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cloud.h"
#include "corio/encoding.h"
#include "corio/error.h"
#include "corio_log.h"
#include "corio_registry.h"
#include "crypto_openssl.h"
#include "downlink_int.h"
#include "relay.h"

#define MAX_EXPORT (32u << 20)
#define MAX_BLOCK  (8u << 20)
#define MAX_HEAD   (64u << 10)

struct corio__ledger_follow {
    struct corio__ledger_follow_opts o;
    char *url, *org;
    CURL *curl;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stopping, started;
    struct corio__ledger_view view;
    struct corio__ledger_follow_stats st;
    struct corio_reglines *last; /* the entries of the latest stored export */
    int64_t last_stored_ms;      /* when an export was stored last */
    uint64_t blocks_from;        /* blocks below this are not wanted */
};

static void bump(struct corio__ledger_follow *f, uint64_t *counter)
{
    pthread_mutex_lock(&f->lock);
    (*counter)++;
    pthread_mutex_unlock(&f->lock);
}

/* ---- HTTP ------------------------------------------------------------------------- */

struct body {
    char *p;
    size_t n, cap, max;
    bool over;
};

static size_t on_data(char *data, size_t size, size_t nmemb, void *arg)
{
    struct body *b = arg;
    size_t n = size * nmemb;
    if (b->n + n > b->max) {
        b->over = true;
        return 0;
    }
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return 0;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
    b->p[b->n] = '\0';
    return n;
}

/* GETs url+path; on CORIO_OK *out (NUL-terminated, malloc'd) holds a 200's body. */
static int get(struct corio__ledger_follow *f, const char *path, size_t max, char **out,
               size_t *len)
{
    char url[1024];
    *out = NULL;
    if ((size_t)snprintf(url, sizeof url, "%s%s", f->url, path) >= sizeof url)
        return CORIO_ERR_INVAL;
    struct body b = {.max = max};
    curl_easy_reset(f->curl);
    curl_easy_setopt(f->curl, CURLOPT_URL, url);
    curl_easy_setopt(f->curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(f->curl, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(f->curl, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(f->curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(f->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(f->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode rc = curl_easy_perform(f->curl);
    long status = 0;
    curl_easy_getinfo(f->curl, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK || status != 200 || b.over) {
        free(b.p);
        return rc == CURLE_OK && status == 404 ? CORIO_ERR_NOTFOUND : CORIO_ERR_IO;
    }
    if (!b.p && !(b.p = calloc(1, 1)))
        return CORIO_ERR_NOSPACE;
    *out = b.p;
    *len = b.n;
    return CORIO_OK;
}

/* ---- one poll ---------------------------------------------------------------------- */

/* The tree head: its height and its COSE_Sign1 (base64url in the JSON). */
static int head(struct corio__ledger_follow *f, uint64_t *height, uint8_t *sth, size_t *sth_len)
{
    char *text;
    size_t len;
    int rc = get(f, "/api/v1/tree-head", MAX_HEAD, &text, &len);
    if (rc != CORIO_OK)
        return rc;
    json_t *j = json_loadb(text, len, 0, NULL);
    free(text);
    json_t *h = json_object_get(j, "height"), *s = json_object_get(j, "sth");
    rc = CORIO_ERR_MALFORMED;
    if (json_is_integer(h) && json_integer_value(h) >= 0 && json_is_string(s)) {
        int n = corio_base64url_decode(json_string_value(s), json_string_length(s), sth, 512);
        if (n > 0) {
            *height = (uint64_t)json_integer_value(h);
            *sth_len = (size_t)n;
            rc = CORIO_OK;
        }
    }
    json_decref(j);
    return rc;
}

static int fetch_block(struct corio__ledger_follow *f, uint64_t h)
{
    uint8_t *have;
    size_t hl;
    if (corio_dl_block_get(f->o.dl, h, &have, &hl) == CORIO_OK) {
        free(have);
        return CORIO_OK;
    }
    char path[64], *data;
    size_t len;
    snprintf(path, sizeof path, "/api/v1/blocks/%" PRIu64 "?format=cbor", h);
    int rc = get(f, path, MAX_BLOCK, &data, &len);
    if (rc != CORIO_OK)
        return rc;
    uint64_t bh;
    uint8_t prev[32], hash[32];
    rc = corio_relay_block_head(&corio_crypto_openssl_ops, (const uint8_t *)data, len, &bh, prev,
                                hash);
    if (rc == CORIO_OK && bh != h)
        rc = CORIO_ERR_MALFORMED;
    if (rc == CORIO_OK)
        rc = corio_dl_block_put(f->o.dl, h, (const uint8_t *)data, len);
    free(data);
    if (rc == CORIO_OK)
        bump(f, &f->st.blocks);
    return rc;
}

static int lowest_gw(const struct corio_dl_gw *g, void *arg)
{
    uint64_t *low = arg;
    if (g->has_state && g->height < *low)
        *low = g->height;
    return 0;
}

/* Exports below every gateway's height are no longer a base for an update. */
static void prune_exports(struct corio__ledger_follow *f)
{
    uint64_t low = UINT64_MAX;
    if (corio_dl_gw_list(f->o.dl, lowest_gw, &low) == CORIO_OK)
        corio_dl_export_prune(f->o.dl, low);
}

static void poll_once(struct corio__ledger_follow *f, int64_t now_ms)
{
    bump(f, &f->st.polls);
    char *text = NULL, why[160] = "";
    size_t len;
    uint64_t eh = 0, th = 0;
    uint8_t sth[512];
    size_t sth_len = 0;
    struct corio_reglines *lines = NULL;
    int rc = get(f, "/api/v1/contracts/registry", MAX_EXPORT, &text, &len);
    if (rc == CORIO_OK)
        rc = corio_reglines_parse(text, len, &lines, &eh, why, sizeof why);
    if (rc == CORIO_OK)
        rc = head(f, &th, sth, &sth_len);
    if (rc == CORIO_OK && th < eh)
        rc = CORIO_ERR_STATE; /* a node that answered out of order: try again */
    /* The blocks from the window's start (or the export's height, if lower) to the head. */
    uint64_t low = th > f->o.max_blocks ? th - f->o.max_blocks + 1 : 1;
    if (eh && eh < low)
        low = eh;
    for (uint64_t h = low; rc == CORIO_OK && h <= th && th > 0; h++)
        rc = fetch_block(f, h);
    if (rc != CORIO_OK) {
        bump(f, &f->st.failures);
        if (f->st.failures == 1 || f->st.failures % 60 == 0)
            corio_logkv(CORIO_LOG_WARN, "cannot follow the ledger", "url=%s error=%s why=%s",
                        f->url, corio_strerror(rc), why);
        corio_reglines_free(lines);
        free(text);
        return;
    }
    corio_dl_block_prune(f->o.dl, low);
    bool changed = !f->last;
    if (f->last) {
        size_t dl;
        char *diff = corio_reglines_diff(f->last, lines, &dl);
        changed = !diff || dl > 0;
        free(diff);
    }
    bool stored = false;
    bool refresh = !changed && f->o.refresh_ms > 0 &&
                   now_ms - f->last_stored_ms >= f->o.refresh_ms && eh > f->view.export_height;
    if (refresh && corio_dl_export_put(f->o.dl, eh, text, len, now_ms) == CORIO_OK) {
        /* The same entries at a newer height: gateways move on with the ledger. */
        stored = true;
        f->last_stored_ms = now_ms;
        prune_exports(f);
    }
    if (changed) {
        char err[256];
        if (f->o.writer && corio_cloud_registry_load_buf(f->o.writer, "ledger registry", text, len,
                                                         err, sizeof err) != CORIO_OK)
            corio_logkv(CORIO_LOG_ERROR, "the ledger's registry does not load", "error=%s", err);
        if (corio_dl_export_put(f->o.dl, eh, text, len, now_ms) == CORIO_OK) {
            stored = true;
            f->last_stored_ms = now_ms;
            bump(f, &f->st.exports);
            prune_exports(f);
            corio_reglines_free(f->last);
            f->last = lines;
            lines = NULL;
            corio_logkv(CORIO_LOG_INFO, "registry export from the ledger",
                        "height=%" PRIu64 " entries=%zu head=%" PRIu64, eh,
                        corio_reglines_count(f->last), th);
        }
        /* The organisation's gateways get relays once they report their height. */
        struct corio_reg *reg;
        if (corio_reg_parse("ledger registry", text, len, &reg, err, sizeof err) == CORIO_OK) {
            for (size_t i = 0; i < reg->ngateways; i++)
                if (strcmp(reg->gateways[i].org, f->org) == 0)
                    corio_dl_gw_touch(f->o.dl, f->org, reg->gateways[i].id);
            corio_reg_free(reg);
        }
    }
    corio_reglines_free(lines);
    free(text);
    pthread_mutex_lock(&f->lock);
    bool news = stored || th != f->view.head_height || !f->view.ready;
    if (stored)
        f->view.export_height = eh;
    f->view.head_height = th;
    memcpy(f->view.sth, sth, sth_len);
    f->view.sth_len = sth_len;
    f->view.low = low;
    f->view.ready = f->view.export_height > 0;
    f->st.head_height = th;
    pthread_mutex_unlock(&f->lock);
    if (news && f->o.changed)
        f->o.changed(f->o.ctx);
}

static void *follow_main(void *arg)
{
    struct corio__ledger_follow *f = arg;
    pthread_mutex_lock(&f->lock);
    while (!f->stopping) {
        pthread_mutex_unlock(&f->lock);
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        poll_once(f, (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000);
        pthread_mutex_lock(&f->lock);
        if (f->stopping)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += f->o.poll_ms / 1000;
        ts.tv_nsec += (f->o.poll_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&f->cond, &f->lock, &ts);
    }
    pthread_mutex_unlock(&f->lock);
    return NULL;
}

int corio__ledger_follow_start(const struct corio__ledger_follow_opts *o,
                               struct corio__ledger_follow **out, char *err, size_t errlen)
{
    *out = NULL;
    struct corio__ledger_follow *f = calloc(1, sizeof *f);
    if (!f) {
        snprintf(err, errlen, "out of memory");
        return CORIO_ERR_NOSPACE;
    }
    f->o = *o;
    size_t ul = strlen(o->url);
    f->url = strdup(o->url);
    f->org = strdup(o->org);
    while (f->url && ul && f->url[ul - 1] == '/')
        f->url[--ul] = '\0';
    curl_global_init(CURL_GLOBAL_DEFAULT);
    f->curl = curl_easy_init();
    pthread_mutex_init(&f->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&f->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (!f->url || !f->org || !f->curl) {
        snprintf(err, errlen, "out of memory");
        corio__ledger_follow_stop(f);
        return CORIO_ERR_NOSPACE;
    }
    /* The export held from before (a restart) is what changes are judged against. */
    uint64_t got;
    char *text;
    size_t len;
    if (corio_dl_export_get(o->dl, 0, &got, &text, &len) == CORIO_OK) {
        char why[64];
        uint64_t h;
        if (corio_reglines_parse(text, len, &f->last, &h, why, sizeof why) == CORIO_OK)
            f->view.export_height = got;
        free(text);
    }
    if (pthread_create(&f->thread, NULL, follow_main, f) != 0) {
        snprintf(err, errlen, "cannot start the ledger follower");
        corio__ledger_follow_stop(f);
        return CORIO_ERR_IO;
    }
    f->started = true;
    *out = f;
    return CORIO_OK;
}

void corio__ledger_follow_stop(struct corio__ledger_follow *f)
{
    if (!f)
        return;
    if (f->started) {
        pthread_mutex_lock(&f->lock);
        f->stopping = true;
        pthread_cond_signal(&f->cond);
        pthread_mutex_unlock(&f->lock);
        pthread_join(f->thread, NULL);
    }
    if (f->curl)
        curl_easy_cleanup(f->curl);
    curl_global_cleanup();
    corio_reglines_free(f->last);
    pthread_cond_destroy(&f->cond);
    pthread_mutex_destroy(&f->lock);
    free(f->url);
    free(f->org);
    free(f);
}

void corio__ledger_follow_view(struct corio__ledger_follow *f, struct corio__ledger_view *v)
{
    pthread_mutex_lock(&f->lock);
    *v = f->view;
    pthread_mutex_unlock(&f->lock);
}

void corio__ledger_follow_stats(struct corio__ledger_follow *f,
                                struct corio__ledger_follow_stats *st)
{
    pthread_mutex_lock(&f->lock);
    *st = f->st;
    pthread_mutex_unlock(&f->lock);
}
