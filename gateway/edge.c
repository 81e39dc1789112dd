/*
 * edge.c - the rules engine inside corio-gateway (edge.h).
 */
#include "edge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "corio/error.h"
#include "corio_log.h"
#include "corio_registry.h"
#include "outbox.h"

#define REOPEN_CHECK_MS  1000
#define REGISTRY_CHECK_MS 1000
#define READ_ROWS        1000
#define READ_BYTES       ((size_t)4 << 20)
#define SUFFIX_MAX       64

struct event {
    char suffix[SUFFIX_MAX + 1];
    uint8_t *payload;
    size_t len;
    int mid; /* 0: not handed to the client (yet, or again after a reconnect) */
};

struct corio_edge {
    corio_rules *rules;
    char gateway[CORIO_EDGE_DEVICE_LEN + 1];
    char *outbox_path;
    char *registry_path;
    corio_local_client *local;

    corio_outbox *outbox;
    dev_t outbox_dev;
    ino_t outbox_ino;
    int64_t last_reopen_check_ms;
    int64_t cursor;

    struct corio_reg *reg;
    struct timespec reg_mtime;
    int64_t last_registry_check_ms;

    struct event events[CORIO_EDGE_EVENTS_MAX]; /* a ring, oldest at head */
    size_t head, count;

    struct corio_edge_stats st;
};

/* ---- the engine's callbacks -------------------------------------------------------- */

static void on_alert(void *ctx, const struct corio_rules_alert *a)
{
    /* The engine logs raises and clears and lists what is raised; nothing more to do. */
    (void)ctx;
    (void)a;
}

static int on_command(void *ctx, const char *device, const char *topic, const uint8_t *cbor,
                      size_t len)
{
    struct corio_edge *e = ctx;
    (void)device;
    if (!e->local)
        return -1;
    int mid = corio_local_client_publish(e->local, topic, cbor, len);
    if (mid <= 0)
        return -1;
    e->st.commands_published++;
    return 0;
}

static struct event *event_at(struct corio_edge *e, size_t i)
{
    return &e->events[(e->head + i) % CORIO_EDGE_EVENTS_MAX];
}

static void send_event(struct corio_edge *e, struct event *ev)
{
    if (!e->local || ev->mid)
        return;
    char topic[128];
    snprintf(topic, sizeof topic, "corio/v1/g/%s/up/%s", e->gateway, ev->suffix);
    int mid = corio_local_client_publish(e->local, topic, ev->payload, ev->len);
    if (mid > 0)
        ev->mid = mid;
}

static int on_event(void *ctx, const char *suffix, const uint8_t *payload, size_t len)
{
    struct corio_edge *e = ctx;
    if (strlen(suffix) > SUFFIX_MAX)
        return -1;
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return -1;
    memcpy(copy, payload, len);
    if (e->count == CORIO_EDGE_EVENTS_MAX) {
        struct event *old = event_at(e, 0);
        corio_logkv(CORIO_LOG_WARN, "rule event dropped: the queue is full", "suffix=%s queued=%d",
                    old->suffix, CORIO_EDGE_EVENTS_MAX);
        free(old->payload);
        e->head = (e->head + 1) % CORIO_EDGE_EVENTS_MAX;
        e->count--;
        e->st.events_dropped++;
    }
    struct event *ev = event_at(e, e->count++);
    snprintf(ev->suffix, sizeof ev->suffix, "%s", suffix);
    ev->payload = copy;
    ev->len = len;
    ev->mid = 0;
    send_event(e, ev);
    return 0;
}

static bool on_device_info(void *ctx, const char *device, struct corio_rules_devinfo *info)
{
    struct corio_edge *e = ctx;
    const struct corio_reg_device *d = e->reg ? corio_reg_device(e->reg, device) : NULL;
    if (!d)
        return false;
    info->cls = d->cls;
    info->groups = d->groups;
    return true;
}

/* ---- the registry ------------------------------------------------------------------ */

static void registry_refresh(struct corio_edge *e, int64_t now_ms, bool first)
{
    if (!e->registry_path ||
        (!first && now_ms - e->last_registry_check_ms < REGISTRY_CHECK_MS))
        return;
    e->last_registry_check_ms = now_ms;
    struct stat sb;
    if (stat(e->registry_path, &sb) != 0)
        return;
    if (!first && sb.st_mtim.tv_sec == e->reg_mtime.tv_sec &&
        sb.st_mtim.tv_nsec == e->reg_mtime.tv_nsec)
        return;
    e->reg_mtime = sb.st_mtim;
    struct corio_reg *next;
    char err[512];
    if (corio_reg_load(e->registry_path, &next, err, sizeof err) != CORIO_OK) {
        corio_logkv(CORIO_LOG_WARN, "rules: registry not reloaded", "error=%s", err);
        return;
    }
    if (e->reg && next->height < e->reg->height) {
        corio_reg_free(next);
        return;
    }
    corio_reg_free(e->reg);
    e->reg = next;
}

/* ---- the outbox cursor ------------------------------------------------------------- */

static void close_outbox(struct corio_edge *e)
{
    corio_outbox_close(e->outbox);
    e->outbox = NULL;
}

/* Opens the outbox when it appears; reopens it when it was recreated (a new epoch: the
 * cursor starts at its beginning, since everything in it is new). */
static bool ensure_outbox(struct corio_edge *e, int64_t now_ms)
{
    struct stat sb;
    bool recreated = false;
    if (e->outbox) {
        if (now_ms - e->last_reopen_check_ms < REOPEN_CHECK_MS)
            return true;
        e->last_reopen_check_ms = now_ms;
        if (stat(e->outbox_path, &sb) == 0 && sb.st_dev == e->outbox_dev &&
            sb.st_ino == e->outbox_ino)
            return true;
        close_outbox(e);
        recreated = true;
    }
    if (stat(e->outbox_path, &sb) != 0)
        return false;
    struct corio_outbox_options oo = {.path = e->outbox_path, .read_only = true};
    char err[256];
    if (corio_outbox_open(&oo, &e->outbox, err, sizeof err) != CORIO_OK)
        return false;
    e->outbox_dev = sb.st_dev;
    e->outbox_ino = sb.st_ino;
    e->last_reopen_check_ms = now_ms;
    if (recreated) {
        e->cursor = 0;
    } else if (e->cursor == 0) {
        struct corio_outbox_stats os;
        if (corio_outbox_stats(e->outbox, &os) == CORIO_OK)
            e->cursor = os.last_id; /* rules judge what arrives from now on */
    }
    return true;
}

static int feed_row(const struct corio_outbox_row *row, void *arg)
{
    struct corio_edge *e = arg;
    e->st.rows_read++;
    e->cursor = row->id;
    if (!row->device[0])
        return 0; /* the gateway's own record */
    enum corio_format fmt;
    if (strcmp(row->suffix, "up/json") == 0)
        fmt = CORIO_FORMAT_JSON;
    else if (strcmp(row->suffix, "up/cbor") == 0)
        fmt = CORIO_FORMAT_CBOR;
    else
        return 0;
    /* A pack the engine refuses is counted there (packs_refused). */
    corio_rules_feed_senml(e->rules, row->device, fmt, row->payload, row->payload_len,
                           row->recv_ms);
    return 0;
}

static void read_outbox(struct corio_edge *e, int64_t now_ms)
{
    if (!ensure_outbox(e, now_ms))
        return;
    for (;;) {
        int n = corio_outbox_read(e->outbox, e->cursor, READ_ROWS, READ_BYTES, feed_row, e);
        if (n < READ_ROWS)
            break; /* read everything (or failed: tried again at the next step) */
    }
}

/* ---- the public part --------------------------------------------------------------- */

int corio_edge_new(const struct corio_edge_options *o, corio_edge **out, char *err,
                   size_t errlen)
{
    *out = NULL;
    if (!o->rules_path || !o->outbox_path || !o->gateway ||
        strlen(o->gateway) != CORIO_EDGE_DEVICE_LEN) {
        snprintf(err, errlen, "rules need a rules file, the outbox and the gateway id");
        return CORIO_ERR_INVAL;
    }
    struct corio_edge *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return CORIO_ERR_NOSPACE;
    }
    snprintf(e->gateway, sizeof e->gateway, "%s", o->gateway);
    e->local = o->local;
    e->outbox_path = strdup(o->outbox_path);
    e->registry_path = o->registry_path ? strdup(o->registry_path) : NULL;
    if (!e->outbox_path || (o->registry_path && !e->registry_path)) {
        snprintf(err, errlen, "out of memory");
        corio_edge_free(e);
        return CORIO_ERR_NOSPACE;
    }
    struct corio_rules_conf *conf;
    int rc = corio_rules_conf_load(o->rules_path, &conf, err, errlen);
    if (rc != CORIO_OK) {
        corio_edge_free(e);
        return rc;
    }
    struct corio_rules_options ro = {
        .now_ms = o->now_ms,
        .seq_start = (uint64_t)o->now_ms,
        .ops = {.alert = on_alert, .command = on_command, .event = on_event,
                .device_info = on_device_info, .ctx = e}};
    if (getrandom(ro.nonce, sizeof ro.nonce, 0) != (ssize_t)sizeof ro.nonce ||
        getrandom(ro.hash_key, sizeof ro.hash_key, 0) != (ssize_t)sizeof ro.hash_key) {
        snprintf(err, errlen, "getrandom failed");
        corio_rules_conf_free(conf);
        corio_edge_free(e);
        return CORIO_ERR_IO;
    }
    registry_refresh(e, o->now_ms, true);
    rc = corio_rules_new(conf, &ro, &e->rules, err, errlen); /* owns conf from here */
    if (rc != CORIO_OK) {
        corio_edge_free(e);
        return rc;
    }
    ensure_outbox(e, o->now_ms);
    *out = e;
    return CORIO_OK;
}

void corio_edge_free(corio_edge *e)
{
    if (!e)
        return;
    corio_rules_free(e->rules);
    for (size_t i = 0; i < e->count; i++)
        free(event_at(e, i)->payload);
    close_outbox(e);
    corio_reg_free(e->reg);
    free(e->outbox_path);
    free(e->registry_path);
    free(e);
}

void corio_edge_step(corio_edge *e, int64_t now_ms)
{
    registry_refresh(e, now_ms, false);
    read_outbox(e, now_ms);
    corio_rules_tick(e->rules, now_ms);
    for (size_t i = 0; i < e->count; i++)
        send_event(e, event_at(e, i));
}

void corio_edge_local_up(corio_edge *e)
{
    for (size_t i = 0; i < e->count; i++)
        send_event(e, event_at(e, i));
}

void corio_edge_local_down(corio_edge *e)
{
    /* What was in flight on that connection is gone with it: send it again. */
    for (size_t i = 0; i < e->count; i++)
        event_at(e, i)->mid = 0;
}

bool corio_edge_puback(corio_edge *e, int mid)
{
    for (size_t i = 0; i < e->count; i++) {
        struct event *ev = event_at(e, i);
        if (ev->mid != mid)
            continue;
        free(ev->payload);
        /* Close the gap: later events move one place towards the head. */
        for (size_t j = i; j + 1 < e->count; j++)
            *event_at(e, j) = *event_at(e, j + 1);
        e->count--;
        e->st.events_stored++;
        return true;
    }
    return false;
}

void corio_edge_stats(const corio_edge *e, struct corio_edge_stats *st)
{
    *st = e->st;
    corio_rules_stats(e->rules, &st->rules);
    st->cursor = e->cursor;
    st->events_queued = e->count;
}
