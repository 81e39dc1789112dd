/*
 * api.h - corio-cloud's HTTP API (docs/api.md) and the dashboard's files, as routes on
 * common/'s HTTP server.
 *
 * Routes: GET /api/v1/devices, /api/v1/devices/{id}, /api/v1/devices/{id}/series,
 * /api/v1/devices/{id}/gaps, /api/v1/stats, /api/v1/stream (Server-Sent Events),
 * /healthz, and the built dashboard: / (index.html) and /assets/{file}. /metrics is the
 * HTTP server's own. Every query answers for one organisation, the cloud's.
 *
 * The API reads through its own store connection (a reader; SQLite's WAL lets it read
 * while ingest writes) and serialises its use, since handlers run on several threads.
 */
#ifndef CORIO_CLOUD_API_H
#define CORIO_CLOUD_API_H

#include <stdint.h>

#include "corio_http.h"
#include "store.h"

/* Most raw points or buckets one series answer holds (docs/api.md). */
#define CORIO_API_MAX_POINTS 10000

struct corio_api_opts {
    struct corio_store *store; /* the API's own connection; the API does not close it */
    const char *org;           /* the organisation this cloud answers for */
    const char *web_root;      /* directory with index.html and assets/; NULL: none */
    int64_t (*now_ms)(void);   /* wall clock for defaults; NULL: the system clock */
};

struct corio_api;

/* Returns CORIO_OK and *out, CORIO_ERR_INVAL or CORIO_ERR_NOSPACE. */
int corio_api_new(const struct corio_api_opts *o, struct corio_api **out);

/* Adds the routes to http (before corio_http_start). Returns CORIO_OK or as
 * corio_http_route. */
int corio_api_routes(struct corio_api *a, struct corio_http *http);

void corio_api_free(struct corio_api *a);

/* The Content-Type served for a file name, by its extension. */
const char *corio_api_content_type(const char *name);

#endif /* CORIO_CLOUD_API_H */
