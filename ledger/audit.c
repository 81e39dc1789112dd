/*
 * audit.c - honest nodes compare notes (docs/ledger.md, "Honest nodes").
 *
 * Raft survives crashes, not a dishonest or broken node. So every audit_interval this
 * thread fetches each peer's signed tree head over the HTTP API (GET
 * /api/v1/tree-head), checks that it is signed by a key certified by one of the
 * organisation CAs this node trusts, and compares it with this node's own log:
 *
 *   - a tree of the same size or smaller: the root of this node's first tree_size
 *     leaves must be the peer's root;
 *   - a larger tree: the peer must prove that its tree extends this node's (GET
 *     /api/v1/proof/consistency) against the two signed roots;
 *   - a height this node has reached: the block hash must be the same.
 *
 * A contradiction raises an alarm (an error log line, corio_ledger_fork_alarms_total,
 * corio_ledger_fork_detected, and the "alarms" of /api/v1/tree-head and /api/v1/status)
 * once per peer and kind. A peer that lags is not a fork; one that cannot be reached
 * or sends something unverifiable is counted and shown, not alarmed.
 */
#include "ledger_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "corio/encoding.h"
#include "corio/error.h"
#include "corio/p256.h"
#include "corio_buf.h"
#include "corio_log.h"
#include "corio_metrics.h"
#include "crypto_openssl.h"
#include "ledger_tls_transport.h"

#define FETCH_MAX (256u << 10)

static const char *const kind_names[] = {"root", "consistency", "block", "signature"};

void corio__alarm(struct corio_ledger *l, uint64_t peer, int kind, const char *fmt, ...)
{
    char detail[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&l->mu);
    bool known = false;
    for (size_t i = 0; i < l->nalarms; i++)
        known = known || (l->alarms[i].peer == peer && l->alarms[i].kind == kind_names[kind]);
    if (!known && l->nalarms < MAX_ALARMS) {
        struct alarm *a = &l->alarms[l->nalarms++];
        a->peer = peer;
        a->kind = kind_names[kind];
        snprintf(a->detail, sizeof a->detail, "%s", detail);
        a->at_ms = corio__now_ms();
    }
    if (!known) {
        l->st.fork_alarms++;
        for (size_t i = 0; i < l->st.npeers; i++)
            if (l->st.peers[i].id == peer)
                l->st.peers[i].alarm = true;
    }
    pthread_mutex_unlock(&l->mu);
    if (known)
        return;
    corio_counter_inc(l->m_alarm[kind]);
    corio_gauge_set(l->m_fork, 1);
    corio_logkv(CORIO_LOG_ERROR, "fork detected: a peer's signed tree head contradicts this log",
                "peer=%llu kind=%s detail=\"%s\"", (unsigned long long)peer, kind_names[kind],
                detail);
}

/* ---- fetching ---------------------------------------------------------------------------- */

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct corio_buf *b = arg;
    return corio_buf_add(b, p, size * n) == CORIO_OK ? size * n : 0;
}

/* GET url as JSON. Returns the object or NULL with the reason in err. */
static json_t *get_json(const char *url, char *err, size_t errlen)
{
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(err, errlen, "no curl handle");
        return NULL;
    }
    struct corio_buf body = CORIO_BUF_INIT(FETCH_MAX);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    json_t *j = NULL;
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "%s", curl_easy_strerror(rc));
    } else if (status != 200) {
        snprintf(err, errlen, "HTTP status %ld", status);
    } else {
        json_error_t je;
        j = json_loadb(corio_buf_str(&body), corio_buf_len(&body), 0, &je);
        if (!j || !json_is_object(j)) {
            snprintf(err, errlen, "not a JSON object");
            json_decref(j);
            j = NULL;
        }
    }
    corio_buf_free(&body);
    return j;
}

/* A base64url string field into a malloc'd buffer. */
static uint8_t *b64_field(json_t *j, const char *name, size_t *len)
{
    const char *s = json_string_value(json_object_get(j, name));
    if (!s)
        return NULL;
    size_t n = strlen(s);
    uint8_t *buf = malloc(CORIO_BASE64URL_DECODED_LEN(n) + 1);
    if (!buf)
        return NULL;
    int m = corio_base64url_decode(s, n, buf, CORIO_BASE64URL_DECODED_LEN(n) + 1);
    if (m < 0) {
        free(buf);
        return NULL;
    }
    *len = (size_t)m;
    return buf;
}

static int hex32(const char *s, uint8_t out[32])
{
    if (!s || strlen(s) != 64)
        return -1;
    for (int i = 0; i < 32; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (uint8_t)v;
    }
    return 0;
}

/* ---- trust ------------------------------------------------------------------------------ */

/* Whether cert (DER) chains to a trusted CA, holds the key signer names and, with
 * tls_verify_ids, names node id. */
static bool cert_vouches(struct corio_ledger *l, const uint8_t *der, size_t len,
                         const uint8_t signer[CORIO_P256_PUB_COMPRESSED], uint64_t id, char *err,
                         size_t errlen)
{
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    if (!x || p != der + len) {
        X509_free(x);
        snprintf(err, errlen, "the certificate does not parse");
        return false;
    }
    bool ok = false;
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    if (ctx && X509_STORE_CTX_init(ctx, l->trust, x, NULL) == 1) {
        if (X509_verify_cert(ctx) == 1)
            ok = true;
        else
            snprintf(err, errlen, "the certificate is not from a trusted CA: %s",
                     X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    }
    X509_STORE_CTX_free(ctx);
    if (ok) {
        uint8_t want[CORIO_P256_PUB_LEN], have[CORIO_P256_PUB_LEN + 1];
        size_t n = 0;
        EVP_PKEY *pk = X509_get0_pubkey(x);
        ok = pk &&
             EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, have,
                                             sizeof have, &n) == 1 &&
             corio_p256_point_parse(have, n, have) == CORIO_OK &&
             corio_p256_point_parse(signer, CORIO_P256_PUB_COMPRESSED, want) == CORIO_OK &&
             memcmp(want, have, CORIO_P256_PUB_LEN) == 0;
        if (!ok)
            snprintf(err, errlen, "the tree head is not signed by the certificate's key");
    }
    if (ok && l->o.tls_verify_ids && !corio_tls_cert_names_node(x, id)) {
        ok = false;
        snprintf(err, errlen, "the certificate does not name node %llu", (unsigned long long)id);
    }
    X509_free(x);
    ERR_clear_error();
    return ok;
}

/* ---- checking one peer ------------------------------------------------------------------- */

enum { PEER_OK, PEER_UNREACHABLE, PEER_INVALID };

static void set_view(struct corio_ledger *l, const struct corio_ledger_member *m, int result,
                     const struct corio_sth *s, const char *error)
{
    corio_counter_inc(l->m_peer[result]);
    pthread_mutex_lock(&l->mu);
    struct corio_ledger_peer_view *v = NULL;
    for (size_t i = 0; i < l->st.npeers && !v; i++)
        if (l->st.peers[i].id == m->id)
            v = &l->st.peers[i];
    if (!v && l->st.npeers < CORIO_LEDGER_MAX_PEERS) {
        v = &l->st.peers[l->st.npeers++];
        memset(v, 0, sizeof *v);
        v->id = m->id;
    }
    if (v) {
        snprintf(v->api, sizeof v->api, "%s", m->api);
        snprintf(v->error, sizeof v->error, "%s", error ? error : "");
        if (s) {
            v->seen = true;
            v->tree_size = s->tree_size;
            v->height = s->height;
            v->checked_ms = corio__now_ms();
        }
        for (size_t i = 0; i < l->nalarms; i++)
            v->alarm = v->alarm || l->alarms[i].peer == m->id;
    }
    pthread_mutex_unlock(&l->mu);
}

static void check_peer(struct corio_ledger *l, const struct corio_ledger_member *m)
{
    char url[CORIO_LEDGER_ADDRESS_MAX + 128], err[160] = "";
    snprintf(url, sizeof url, "%s/api/v1/tree-head", m->api);
    json_t *j = get_json(url, err, sizeof err);
    if (!j) {
        set_view(l, m, PEER_UNREACHABLE, NULL, err);
        return;
    }
    size_t sth_len = 0, cert_len = 0;
    uint8_t *sth = b64_field(j, "sth", &sth_len), *cert = b64_field(j, "cert", &cert_len);
    json_decref(j);
    struct corio_sth s;
    uint8_t signer[CORIO_P256_PUB_COMPRESSED];
    int rc = sth ? corio_sth_verify(&corio_crypto_openssl_ops, sth, sth_len, NULL, &s, signer)
                 : CORIO_ERR_MALFORMED;
    free(sth);
    if (rc == CORIO_ERR_BADSIG) {
        free(cert);
        corio__alarm(l, m->id, ALARM_SIGNATURE, "the signed tree head's signature does not verify");
        set_view(l, m, PEER_INVALID, NULL, "bad signature");
        return;
    }
    if (rc != CORIO_OK) {
        free(cert);
        set_view(l, m, PEER_INVALID, NULL, "the signed tree head does not decode");
        return;
    }
    bool trusted = true;
    if (l->trust) {
        trusted = cert && cert_vouches(l, cert, cert_len, signer, m->id, err, sizeof err);
        if (!cert)
            snprintf(err, sizeof err, "no certificate for the signing key");
    }
    free(cert);
    if (!trusted || s.node != m->id) {
        if (trusted)
            snprintf(err, sizeof err, "the tree head is signed for node %llu",
                     (unsigned long long)s.node);
        corio_logkv(CORIO_LOG_WARN, "a peer's tree head is not from a trusted key",
                    "peer=%llu why=\"%s\"", (unsigned long long)m->id, err);
        set_view(l, m, PEER_INVALID, &s, err);
        return;
    }

    /* Compare with this node's log. */
    sqlite3 *db = corio__reader_get(l);
    if (!db) {
        set_view(l, m, PEER_INVALID, &s, "cannot read the local database");
        return;
    }
    struct corio_store_head mine;
    rc = corio__read_head(db, &mine);
    char a[65], b[65];
    if (rc == CORIO_OK && s.tree_size <= mine.tree_size) {
        uint8_t root[32];
        rc = corio__read_root(db, s.tree_size, root);
        if (rc == CORIO_OK && memcmp(root, s.root, 32) != 0) {
            corio__hex(root, 32, a);
            corio__hex(s.root, 32, b);
            corio__alarm(l, m->id, ALARM_ROOT,
                         "at tree size %llu this node's root is %s, the peer signed %s",
                         (unsigned long long)s.tree_size, a, b);
        }
    } else if (rc == CORIO_OK && mine.tree_size > 0) {
        snprintf(url, sizeof url, "%s/api/v1/proof/consistency?first=%llu&second=%llu", m->api,
                 (unsigned long long)mine.tree_size, (unsigned long long)s.tree_size);
        json_t *p = get_json(url, err, sizeof err);
        json_t *arr = p ? json_object_get(p, "proof") : NULL;
        if (!json_is_array(arr)) {
            json_decref(p);
            corio__reader_put(l, db);
            set_view(l, m, PEER_UNREACHABLE, &s, p ? "no proof in the answer" : err);
            return;
        }
        size_t n = json_array_size(arr);
        corio_merkle_hash proof[CORIO_MERKLE_MAX_PROOF];
        bool parsed = n <= CORIO_MERKLE_MAX_PROOF;
        for (size_t i = 0; parsed && i < n; i++)
            parsed = hex32(json_string_value(json_array_get(arr, i)), proof[i]) == 0;
        json_decref(p);
        int v = parsed ? corio_merkle_verify_consistency(mine.tree_size, s.tree_size, mine.root,
                                                         s.root, proof, n)
                       : CORIO_ERR_MALFORMED;
        if (v != CORIO_OK)
            corio__alarm(l, m->id, ALARM_CONSISTENCY,
                         "the peer's tree of %llu leaves does not extend this node's %llu (%s)",
                         (unsigned long long)s.tree_size, (unsigned long long)mine.tree_size,
                         corio_strerror(v));
    }
    if (rc == CORIO_OK && s.height > 0 && s.height <= mine.height) {
        uint8_t hash[32];
        if (corio__read_block_hash(db, s.height, hash) == CORIO_OK &&
            memcmp(hash, s.block_hash, 32) != 0) {
            corio__hex(hash, 32, a);
            corio__hex(s.block_hash, 32, b);
            corio__alarm(l, m->id, ALARM_BLOCK, "block %llu is %s here, %s at the peer",
                         (unsigned long long)s.height, a, b);
        }
    }
    corio__reader_put(l, db);
    set_view(l, m, rc == CORIO_OK ? PEER_OK : PEER_INVALID, &s,
             rc == CORIO_OK ? NULL : "cannot read the local database");
}

/* ---- the thread -------------------------------------------------------------------------- */

static void *audit_main(void *arg)
{
    struct corio_ledger *l = arg;
    for (;;) {
        struct corio_ledger_member peers[CORIO_LEDGER_MAX_PEERS];
        size_t n = 0;
        pthread_mutex_lock(&l->mu);
        if (!l->audit_running) {
            pthread_mutex_unlock(&l->mu);
            break;
        }
        if (l->st.nexpected >= 0) {
            for (int i = 0; i < l->st.nexpected; i++)
                peers[n++] = l->st.expected[i];
        } else {
            for (size_t i = 0; i < l->o.nmembers; i++)
                peers[n++] = l->members[i];
        }
        pthread_mutex_unlock(&l->mu);
        for (size_t i = 0; i < n; i++)
            if (peers[i].id != l->o.node_id && peers[i].api[0])
                check_peer(l, &peers[i]);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += l->o.audit_interval_ms / 1000;
        until.tv_nsec += (long)(l->o.audit_interval_ms % 1000) * 1000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_mutex_lock(&l->mu);
        if (l->audit_running)
            pthread_cond_timedwait(&l->audit_cv, &l->mu, &until);
        pthread_mutex_unlock(&l->mu);
    }
    return NULL;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

int corio__audit_start(struct corio_ledger *l, char *err, size_t errlen)
{
    pthread_once(&curl_once, curl_init);
    if (l->o.ntls_ca) {
        X509_STORE *store = X509_STORE_new();
        if (!store)
            return CORIO_ERR_NOSPACE;
        for (size_t i = 0; i < l->o.ntls_ca; i++)
            if (X509_STORE_load_file(store, l->o.tls_ca[i]) != 1) {
                snprintf(err, errlen, "%s: cannot load the CA certificates", l->o.tls_ca[i]);
                X509_STORE_free(store);
                ERR_clear_error();
                return CORIO_ERR_IO;
            }
        X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
        l->trust = store;
    }
    l->audit_running = true;
    if (pthread_create(&l->audit_thread, NULL, audit_main, l) != 0) {
        l->audit_running = false;
        snprintf(err, errlen, "cannot start the auditor");
        return CORIO_ERR_IO;
    }
    return CORIO_OK;
}

void corio__audit_stop(struct corio_ledger *l)
{
    pthread_mutex_lock(&l->mu);
    bool running = l->audit_running;
    l->audit_running = false;
    pthread_cond_broadcast(&l->audit_cv);
    pthread_mutex_unlock(&l->mu);
    if (running)
        pthread_join(l->audit_thread, NULL);
    if (l->trust) {
        X509_STORE_free(l->trust);
        l->trust = NULL;
    }
}
