/*
 * forwarder.c - the gateway's window of signed batches (forwarder.h).
 *
 * Batches tile the id space: each one covers (previous last, its last], so the
 * watermark can advance batch by batch without knowing which ids exist. The sealed
 * bytes of a batch stay in memory while it is in flight, and a resend repeats them
 * exactly; the window bounds that memory.
 */
#include "forwarder.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "batch.h"
#include "corio/error.h"
#include "outbox.h"

#define REOPEN_CHECK_MS 1000
#define MAX_ACK_RANGES 64

struct inflight {
    uint64_t first, last;
    size_t messages;
    uint8_t *wire;
    size_t wire_len;
    bool acked;
    bool need_send;
    int64_t sent_ms;
    int64_t timeout_ms;
};

struct corio_forwarder {
    char *outbox_path;
    char *watermark_path;
    char gateway[CORIO_SHORT_ID_CHARS + 1];
    int window;
    int batch_max_messages;
    size_t batch_max_bytes;
    int64_t ack_timeout_ms;
    int64_t watermark_interval_ms;
    struct corio_forwarder_uplink uplink;

    corio_outbox *outbox;
    dev_t outbox_dev;
    ino_t outbox_ino;
    int64_t last_reopen_check_ms;

    int64_t watermark;
    int64_t written_watermark;
    int64_t last_watermark_write_ms;
    int64_t sent_through;

    struct inflight *win; /* a ring of `window` entries */
    int head, count;

    struct corio_forwarder_stats st;
};

static int fail(char *err, size_t errlen, int code, const char *what)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", what);
    return code;
}

static int64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

int corio_forwarder_new(const struct corio_forwarder_options *o, corio_forwarder **out,
                        char *err, size_t errlen)
{
    *out = NULL;
    if (!o->outbox_path || !o->gateway || strlen(o->gateway) != CORIO_SHORT_ID_CHARS ||
        !o->uplink.publish || !o->uplink.seal)
        return fail(err, errlen, CORIO_ERR_INVAL,
                    "the forwarder needs an outbox path, a gateway id and an uplink");
    corio_forwarder *fw = calloc(1, sizeof *fw);
    if (!fw)
        return fail(err, errlen, CORIO_ERR_NOSPACE, "out of memory");
    fw->window = o->window > 0 ? o->window : 8;
    fw->batch_max_messages = o->batch_max_messages > 0 ? o->batch_max_messages : 500;
    fw->batch_max_bytes = o->batch_max_bytes > 0 ? o->batch_max_bytes : 256 * 1024;
    fw->ack_timeout_ms = o->ack_timeout_ms > 0 ? o->ack_timeout_ms : 10000;
    fw->watermark_interval_ms = o->watermark_interval_ms > 0 ? o->watermark_interval_ms : 100;
    fw->uplink = o->uplink;
    snprintf(fw->gateway, sizeof fw->gateway, "%s", o->gateway);
    fw->outbox_path = strdup(o->outbox_path);
    if (o->watermark_path)
        fw->watermark_path = strdup(o->watermark_path);
    else if (fw->outbox_path && asprintf(&fw->watermark_path, "%s.watermark", o->outbox_path) < 0)
        fw->watermark_path = NULL;
    fw->win = calloc((size_t)fw->window, sizeof *fw->win);
    if (!fw->outbox_path || !fw->watermark_path || !fw->win) {
        corio_forwarder_free(fw);
        return fail(err, errlen, CORIO_ERR_NOSPACE, "out of memory");
    }
    fw->written_watermark = -1;
    *out = fw;
    return CORIO_OK;
}

static struct inflight *slot(corio_forwarder *fw, int i)
{
    return &fw->win[(fw->head + i) % fw->window];
}

static void clear_window(corio_forwarder *fw)
{
    for (int i = 0; i < fw->count; i++) {
        free(slot(fw, i)->wire);
        memset(slot(fw, i), 0, sizeof(struct inflight));
    }
    fw->head = fw->count = 0;
}

static void write_watermark(corio_forwarder *fw, int64_t now_ms, bool force)
{
    if (!fw->outbox || fw->watermark == fw->written_watermark)
        return;
    if (!force && now_ms - fw->last_watermark_write_ms < fw->watermark_interval_ms)
        return;
    if (corio_watermark_write(fw->watermark_path, fw->st.epoch, fw->watermark) == CORIO_OK) {
        fw->written_watermark = fw->watermark;
        fw->last_watermark_write_ms = now_ms;
    }
}

void corio_forwarder_free(corio_forwarder *fw)
{
    if (!fw)
        return;
    write_watermark(fw, 0, true);
    if (fw->win)
        clear_window(fw);
    corio_outbox_close(fw->outbox);
    free(fw->win);
    free(fw->outbox_path);
    free(fw->watermark_path);
    free(fw);
}

/* Opens the outbox when it appears, and again when it was recreated (a new epoch). */
static int ensure_outbox(corio_forwarder *fw, int64_t now_ms)
{
    struct stat sb;
    if (fw->outbox) {
        if (now_ms - fw->last_reopen_check_ms < REOPEN_CHECK_MS)
            return CORIO_OK;
        fw->last_reopen_check_ms = now_ms;
        if (stat(fw->outbox_path, &sb) == 0 && sb.st_dev == fw->outbox_dev &&
            sb.st_ino == fw->outbox_ino)
            return CORIO_OK;
        write_watermark(fw, now_ms, true);
        corio_outbox_close(fw->outbox);
        fw->outbox = NULL;
        clear_window(fw);
    }
    if (stat(fw->outbox_path, &sb) != 0)
        return CORIO_ERR_AGAIN;
    struct corio_outbox_options oo = {.path = fw->outbox_path, .read_only = true};
    char err[256];
    if (corio_outbox_open(&oo, &fw->outbox, err, sizeof err) != CORIO_OK)
        return CORIO_ERR_AGAIN; /* the plugin may be creating it right now */
    fw->outbox_dev = sb.st_dev;
    fw->outbox_ino = sb.st_ino;
    fw->last_reopen_check_ms = now_ms;
    fw->st.reopens++;

    uint64_t epoch = corio_outbox_epoch(fw->outbox), wm_epoch;
    int64_t wm;
    fw->st.epoch = epoch;
    if (corio_watermark_read(fw->watermark_path, &wm_epoch, &wm) == CORIO_OK && wm_epoch == epoch)
        fw->watermark = wm;
    else
        fw->watermark = 0; /* a new outbox: everything in it is still to be sent */
    fw->written_watermark = fw->watermark;
    fw->sent_through = fw->watermark;
    return CORIO_OK;
}

/* Rows collected for one batch: strings and payloads copied into one arena, since the
 * outbox's row pointers live only for the callback. Offsets become pointers at the end. */
struct collect {
    struct corio_batch_msg *msgs;
    size_t n, cap;
    uint8_t *arena;
    size_t used, arena_cap;
    bool failed;
};

static size_t arena_put(struct collect *c, const void *p, size_t n)
{
    if (c->used + n > c->arena_cap) {
        size_t cap = c->arena_cap ? c->arena_cap : 4096;
        while (cap < c->used + n)
            cap *= 2;
        uint8_t *grown = realloc(c->arena, cap);
        if (!grown) {
            c->failed = true;
            return 0;
        }
        c->arena = grown;
        c->arena_cap = cap;
    }
    size_t at = c->used;
    if (n)
        memcpy(c->arena + at, p, n);
    c->used += n;
    return at;
}

static int collect_row(const struct corio_outbox_row *row, void *arg)
{
    struct collect *c = arg;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        struct corio_batch_msg *grown = realloc(c->msgs, cap * sizeof *grown);
        if (!grown) {
            c->failed = true;
            return 1;
        }
        c->msgs = grown;
        c->cap = cap;
    }
    struct corio_batch_msg *m = &c->msgs[c->n++];
    m->id = (uint64_t)row->id;
    m->device_len = strlen(row->device);
    m->suffix_len = strlen(row->suffix);
    m->recv_ms = row->recv_ms;
    m->payload_len = row->payload_len;
    /* Offsets for now, stored in the pointer fields' place via uintptr_t. */
    m->device = (const char *)(uintptr_t)arena_put(c, row->device, m->device_len);
    m->suffix = (const char *)(uintptr_t)arena_put(c, row->suffix, m->suffix_len);
    m->payload = (const uint8_t *)(uintptr_t)arena_put(c, row->payload, row->payload_len);
    return c->failed ? 1 : 0;
}

static void resolve_offsets(struct collect *c)
{
    for (size_t i = 0; i < c->n; i++) {
        struct corio_batch_msg *m = &c->msgs[i];
        m->device = (const char *)(c->arena + (uintptr_t)m->device);
        m->suffix = (const char *)(c->arena + (uintptr_t)m->suffix);
        m->payload = c->arena + (uintptr_t)m->payload;
    }
}

/* Reads the next rows and makes them a sealed batch at the end of the window. Returns 1
 * when a batch was made, 0 when there was nothing to send, or a negative corio_err. */
static int make_batch(corio_forwarder *fw)
{
    struct collect c = {0};
    int n = corio_outbox_read(fw->outbox, fw->sent_through, fw->batch_max_messages,
                              fw->batch_max_bytes, collect_row, &c);
    int rc = 0;
    uint8_t *payload = NULL;
    if (n < 0 || c.failed) {
        rc = n < 0 ? n : CORIO_ERR_NOSPACE;
        goto done;
    }
    if (n == 0)
        goto done;
    resolve_offsets(&c);
    struct corio_batch b = {.version = CORIO_BATCH_VERSION, .epoch = fw->st.epoch,
                            .first = (uint64_t)fw->sent_through + 1,
                            .last = c.msgs[c.n - 1].id, .made_ms = wall_ms(), .count = c.n,
                            .msgs = c.msgs};
    memcpy(b.gateway, fw->gateway, sizeof b.gateway);
    int64_t len = corio_batch_encode(&b, NULL, 0);
    if (len < 0 || !(payload = malloc((size_t)len)) ||
        corio_batch_encode(&b, payload, (size_t)len) != len) {
        rc = len < 0 ? (int)len : CORIO_ERR_NOSPACE;
        goto done;
    }
    struct inflight *e = slot(fw, fw->count);
    memset(e, 0, sizeof *e);
    if (fw->uplink.seal(fw->uplink.ctx, payload, (size_t)len, &e->wire, &e->wire_len) != 0) {
        rc = CORIO_ERR_CRYPTO;
        goto done;
    }
    e->first = b.first;
    e->last = b.last;
    e->messages = c.n;
    e->need_send = true;
    e->timeout_ms = fw->ack_timeout_ms;
    fw->count++;
    fw->sent_through = (int64_t)b.last;
    rc = 1;
done:
    free(payload);
    free(c.msgs);
    free(c.arena);
    return rc;
}

/* Sends what is due. Returns the number sent, or -1 when the uplink refused (down). */
static int send_due(corio_forwarder *fw, int64_t now_ms)
{
    int sent = 0;
    for (int i = 0; i < fw->count; i++) {
        struct inflight *e = slot(fw, i);
        if (e->acked)
            continue;
        bool first_send = e->sent_ms == 0 && e->need_send;
        bool timed_out = !e->need_send && now_ms - e->sent_ms >= e->timeout_ms;
        if (!e->need_send && !timed_out)
            continue;
        if (fw->uplink.publish(fw->uplink.ctx, e->wire, e->wire_len) != 0) {
            e->need_send = true;
            return -1;
        }
        if (first_send) {
            fw->st.batches_sent++;
        } else {
            fw->st.batches_resent++;
            if (timed_out && e->timeout_ms < fw->ack_timeout_ms * 16)
                e->timeout_ms *= 2;
        }
        e->need_send = false;
        e->sent_ms = now_ms;
        sent++;
    }
    return sent;
}

int corio_forwarder_step(corio_forwarder *fw, int64_t now_ms)
{
    if (now_ms <= 0)
        now_ms = 1; /* sent_ms == 0 means "never sent" */
    int rc = ensure_outbox(fw, now_ms);
    if (rc == CORIO_ERR_AGAIN)
        return 0;
    if (rc != CORIO_OK)
        return rc;
    int sent = send_due(fw, now_ms);
    if (sent < 0)
        sent = 0; /* uplink down: keep what is in flight, make nothing new */
    else {
        while (fw->count < fw->window) {
            int made = make_batch(fw);
            if (made < 0) {
                write_watermark(fw, now_ms, false);
                return made;
            }
            if (made == 0)
                break;
            int more = send_due(fw, now_ms);
            if (more < 0)
                break;
            sent += more;
        }
    }
    write_watermark(fw, now_ms, false);
    return sent;
}

void corio_forwarder_uplink_up(corio_forwarder *fw)
{
    for (int i = 0; i < fw->count; i++)
        if (!slot(fw, i)->acked)
            slot(fw, i)->need_send = true;
}

int corio_forwarder_on_ack(corio_forwarder *fw, const uint8_t *ack, size_t len, int64_t now_ms)
{
    struct corio_ack_range ranges[MAX_ACK_RANGES];
    uint64_t epoch;
    int n = corio_ack_decode(ack, len, &epoch, ranges, MAX_ACK_RANGES);
    if (n < 0) {
        fw->st.acks_malformed++;
        return n;
    }
    if (!fw->outbox || epoch != fw->st.epoch) {
        fw->st.acks_ignored++;
        return CORIO_OK;
    }
    bool matched = false;
    for (int r = 0; r < n; r++) {
        for (int i = 0; i < fw->count; i++) {
            struct inflight *e = slot(fw, i);
            if (e->acked || e->first < ranges[r].first || e->last > ranges[r].last)
                continue;
            e->acked = true;
            matched = true;
            fw->st.batches_acked++;
            fw->st.messages_acked += e->messages;
        }
    }
    if (!matched)
        fw->st.acks_ignored++;
    while (fw->count > 0 && slot(fw, 0)->acked) {
        struct inflight *e = slot(fw, 0);
        fw->watermark = (int64_t)e->last;
        free(e->wire);
        memset(e, 0, sizeof *e);
        fw->head = (fw->head + 1) % fw->window;
        fw->count--;
    }
    write_watermark(fw, now_ms, false);
    return CORIO_OK;
}

void corio_forwarder_stats(const corio_forwarder *fw, struct corio_forwarder_stats *st)
{
    *st = fw->st;
    st->watermark = fw->watermark;
    st->sent_through = fw->sent_through;
    st->inflight = fw->count;
}
