/* http.c - a small HTTP client for tests over libcurl (harness.h, "HTTP"). */
#include "harness_int.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

/* Bodies past this size are an error: a test never needs more. */
#define H_HTTP_MAX_BODY (64u << 20)

struct body {
    char *data;
    size_t len, cap;
    bool too_big;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct body *b = userdata;
    size_t n = size * nmemb;
    if (b->len + n + 1 > H_HTTP_MAX_BODY) {
        b->too_big = true;
        return 0;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->data = h__xrealloc(b->data, cap);
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = 0;
    return n;
}

static void global_cleanup(void *arg)
{
    (void)arg;
    curl_global_cleanup();
}

static void global_init(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    h__defer_run(global_cleanup, NULL);
}

int h__http(const struct h_http_req *req, struct h_http_resp *resp)
{
    memset(resp, 0, sizeof *resp);
    if (!req || !req->url)
        return CORIO_ERR_INVAL;
    h__init();
    global_init();
    CURL *c = curl_easy_init();
    if (!c)
        return CORIO_ERR_IO;
    struct body b = {0};
    struct curl_slist *hdrs = NULL;
    for (int i = 0; req->headers && req->headers[i]; i++)
        hdrs = curl_slist_append(hdrs, req->headers[i]);
    int timeout = h_ms(req->timeout_ms ? req->timeout_ms : 10000);
    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    if (hdrs)
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    if (req->body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->len);
    }
    if (req->method)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
    if (req->cafile)
        curl_easy_setopt(c, CURLOPT_CAINFO, req->cafile);
    if (req->certfile)
        curl_easy_setopt(c, CURLOPT_SSLCERT, req->certfile);
    if (req->keyfile)
        curl_easy_setopt(c, CURLOPT_SSLKEY, req->keyfile);
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);

    int rc = CORIO_OK;
    if (cc == CURLE_OK) {
        resp->status = status;
    } else if (cc == CURLE_COULDNT_CONNECT) {
        rc = CORIO_ERR_REFUSED;
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        rc = CORIO_ERR_TIMEOUT;
    } else {
        rc = CORIO_ERR_IO;
        if (b.too_big)
            h__msg("%s: body larger than %u bytes", req->url, H_HTTP_MAX_BODY);
    }
    if (!b.data)
        b.data = h__xcalloc(1, 1);
    resp->body = b.data;
    resp->len = b.len;
    return rc;
}

int h_http(const struct h_http_req *req, struct h_http_resp *resp)
{
    int rc = h__http(req, resp);
    if (resp->body)
        h__scoped(resp->body);
    else
        resp->body = h__sstrdup("");
    return rc;
}

int h_http_get(const char *url, struct h_http_resp *resp)
{
    struct h_http_req q = {.url = url};
    return h_http(&q, resp);
}

int h_http_post(const char *url, const char *content_type, const void *body, size_t len,
                struct h_http_resp *resp)
{
    char *ct =
        h__xasprintf("Content-Type: %s", content_type ? content_type : "application/octet-stream");
    const char *hdrs[] = {ct, NULL};
    struct h_http_req q = {
        .method = "POST", .url = url, .headers = hdrs, .body = body ? body : "", .len = len};
    int rc = h_http(&q, resp);
    free(ct);
    return rc;
}
