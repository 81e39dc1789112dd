/*
 * bus_nats.c - batches from a NATS JetStream stream, acks back to MQTT (bus_nats.h).
 *
 * The stream and the durable pull consumer are made by whichever instance finds them
 * missing (an operator may also make them, with other limits: an existing stream is
 * used as it is). Setup is lazy and repeated: the servers may be down at start, and a
 * stream or consumer may be lost; fetch keeps trying, and says "not yet" meanwhile.
 */
#include "bus_nats.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>

#include "corio/error.h"
#include "corio_log.h"

#define MAX_SERVERS 16
#define JS_WAIT_MS  5000
#define PUB_WAIT_MS 3000

struct corio_bus_nats {
    struct corio_bus_nats_opts o;
    char *url, *tls_ca, *tls_cert, *tls_key, *stream, *consumer, *live; /* owned copies */
    char *servers[MAX_SERVERS];
    int nservers;
    natsOptions *nopts;
    natsConnection *nc;
    jsCtx *js;
    natsSubscription *sub;  /* NULL until the stream and consumer are set up */
    /* Core NATS subscriptions beside the stream's: live events and gateway status. */
    struct core_sub {
        struct corio_bus_nats *b;
        natsSubscription *s;
        bool done; /* its last callback has returned */
    } live_sub, status_sub;
    /* libnats calls back from its own thread, also after natsConnection_Close; the
     * closed callback is its last, and free waits for it. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool closed;
};

static char *dup_or_null(const char *s, bool *oom)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *oom = true;
    return d;
}

static void sleep_ms(int ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- connection events (libnats's threads) ------------------------------------------- */

static void on_connected(natsConnection *nc, void *arg)
{
    struct corio_bus_nats *b = arg;
    char url[256] = "";
    natsConnection_GetConnectedUrl(nc, url, sizeof url);
    corio_logkv(CORIO_LOG_INFO, "connected to NATS", "url=%s", url);
    if (b->o.on_connection)
        b->o.on_connection(b->o.arg, true);
}

static void on_disconnected(natsConnection *nc, void *arg)
{
    (void)nc;
    struct corio_bus_nats *b = arg;
    corio_log(CORIO_LOG_WARN, "lost NATS; reconnecting");
    if (b->o.on_connection)
        b->o.on_connection(b->o.arg, false);
}

static void on_closed(natsConnection *nc, void *arg)
{
    (void)nc;
    struct corio_bus_nats *b = arg;
    pthread_mutex_lock(&b->lock);
    b->closed = true;
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
}

static void on_async_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *arg)
{
    (void)nc;
    (void)sub;
    (void)arg;
    corio_logkv(CORIO_LOG_WARN, "NATS error", "error=%s", natsStatus_GetText(err));
}

static void on_core_msg(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *arg)
{
    (void)nc;
    (void)sub;
    struct core_sub *cs = arg;
    struct corio_bus_nats *b = cs->b;
    const uint8_t *data = (const uint8_t *)natsMsg_GetData(m);
    size_t len = (size_t)natsMsg_GetDataLength(m);
    if (cs == &b->live_sub)
        b->o.on_live(b->o.arg, data, len);
    else
        b->o.on_status(b->o.arg, natsMsg_GetSubject(m), data, len);
    natsMsg_Destroy(m);
}

static void on_core_complete(void *arg)
{
    struct core_sub *cs = arg;
    pthread_mutex_lock(&cs->b->lock);
    cs->done = true;
    pthread_cond_broadcast(&cs->b->cond);
    pthread_mutex_unlock(&cs->b->lock);
}

/* Subscribes cs to subject; made even when not yet connected: libnats sends it once it
 * is. */
static int core_subscribe(struct corio_bus_nats *b, struct core_sub *cs, const char *subject,
                          char *err, size_t errlen)
{
    cs->b = b;
    natsStatus s = natsConnection_Subscribe(&cs->s, b->nc, subject, on_core_msg, cs);
    if (s == NATS_OK)
        s = natsSubscription_SetOnCompleteCB(cs->s, on_core_complete, cs);
    if (s != NATS_OK) {
        snprintf(err, errlen, "NATS: cannot subscribe to %s: %s", subject, natsStatus_GetText(s));
        return CORIO_ERR_IO;
    }
    return CORIO_OK;
}

/* Waits up to 10 s for *flag under b->lock; returns it. */
static bool wait_flag(struct corio_bus_nats *b, const bool *flag)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&b->lock);
    while (!*flag && pthread_cond_timedwait(&b->cond, &b->lock, &until) == 0) {
    }
    bool v = *flag;
    pthread_mutex_unlock(&b->lock);
    return v;
}

/* ---- setup --------------------------------------------------------------------------- */

static void forget_sub(struct corio_bus_nats *b)
{
    if (b->sub) {
        natsSubscription_Destroy(b->sub);
        b->sub = NULL;
    }
}

static int nats_fail(const char *what, natsStatus s, jsErrCode jerr)
{
    corio_logkv(CORIO_LOG_WARN, "NATS JetStream setup failed",
                "step=%s error=%s jetstream_error=%d", what, natsStatus_GetText(s), (int)jerr);
    return CORIO_ERR_CLOSED;
}

/* Makes the stream and the consumer when missing, and binds the pull subscription. */
static int setup(struct corio_bus_nats *b)
{
    jsErrCode jerr = 0;
    jsStreamInfo *si = NULL;
    natsStatus s = js_GetStreamInfo(&si, b->js, b->stream, NULL, &jerr);
    if (s == NATS_OK) {
        jsStreamInfo_Destroy(si);
    } else if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr) {
        const char *subjects[] = {CORIO_BUS_BATCH_SUBJECTS};
        jsStreamConfig cfg;
        jsStreamConfig_Init(&cfg);
        cfg.Name = b->stream;
        cfg.Subjects = subjects;
        cfg.SubjectsLen = 1;
        /* A batch is work for one instance, kept until acknowledged; when the stream is
         * full new batches are refused, and their gateways send them again. */
        cfg.Retention = js_WorkQueuePolicy;
        cfg.Storage = js_FileStorage;
        cfg.Discard = js_DiscardNew;
        cfg.MaxBytes = b->o.max_bytes > 0 ? b->o.max_bytes : -1;
        cfg.Replicas = b->o.replicas > 0 ? b->o.replicas : 1;
        jerr = 0;
        s = js_AddStream(&si, b->js, &cfg, NULL, &jerr);
        if (s == NATS_OK) {
            jsStreamInfo_Destroy(si);
            corio_logkv(CORIO_LOG_INFO, "made the JetStream stream",
                        "stream=%s subjects=%s replicas=%d", b->stream, CORIO_BUS_BATCH_SUBJECTS,
                        (int)cfg.Replicas);
        } else if (jerr != JSStreamNameExistErr) {
            return nats_fail("add stream", s, jerr);
        }
    } else {
        return nats_fail("stream info", s, jerr);
    }

    jsConsumerInfo *ci = NULL;
    jerr = 0;
    s = js_GetConsumerInfo(&ci, b->js, b->stream, b->consumer, NULL, &jerr);
    if (s == NATS_OK) {
        jsConsumerInfo_Destroy(ci);
    } else if (s == NATS_NOT_FOUND || jerr == JSConsumerNotFoundErr) {
        jsConsumerConfig cc;
        jsConsumerConfig_Init(&cc);
        cc.Durable = b->consumer;
        cc.AckPolicy = js_AckExplicit;
        cc.DeliverPolicy = js_DeliverAll;
        cc.AckWait = (b->o.ack_wait_ms > 0 ? b->o.ack_wait_ms : 30000) * 1000000LL;
        cc.MaxDeliver = -1; /* a database outage must not use up a batch's chances */
        cc.MaxAckPending = 4096;
        cc.FilterSubject = CORIO_BUS_BATCH_SUBJECTS;
        jerr = 0;
        s = js_AddConsumer(&ci, b->js, b->stream, &cc, NULL, &jerr);
        if (s == NATS_OK) {
            jsConsumerInfo_Destroy(ci);
            corio_logkv(CORIO_LOG_INFO, "made the JetStream consumer", "stream=%s consumer=%s",
                        b->stream, b->consumer);
        } else if (jerr != JSConsumerNameExistErr && jerr != JSConsumerExistingActiveErr) {
            return nats_fail("add consumer", s, jerr);
        }
    } else {
        return nats_fail("consumer info", s, jerr);
    }

    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = b->stream;
    so.Consumer = b->consumer;
    so.ManualAck = true;
    jerr = 0;
    s = js_PullSubscribe(&b->sub, b->js, CORIO_BUS_BATCH_SUBJECTS, b->consumer, NULL, &so, &jerr);
    if (s != NATS_OK) {
        b->sub = NULL;
        return nats_fail("pull subscribe", s, jerr);
    }
    corio_logkv(CORIO_LOG_INFO, "consuming batches", "stream=%s consumer=%s", b->stream,
                b->consumer);
    return CORIO_OK;
}

/* ---- the interface ------------------------------------------------------------------- */

int corio_bus_nats_new(const struct corio_bus_nats_opts *o, struct corio_bus_nats **out, char *err,
                       size_t errlen)
{
    if (!o || !o->url || !o->stream || !o->consumer || !out) {
        snprintf(err, errlen, "NATS: a URL, a stream and a consumer are needed");
        return CORIO_ERR_INVAL;
    }
    if ((o->tls_cert != NULL) != (o->tls_key != NULL) || ((o->tls_cert) && !o->tls_ca)) {
        snprintf(err, errlen, "NATS: a client certificate needs its key and a CA");
        return CORIO_ERR_INVAL;
    }
    *out = NULL;
    struct corio_bus_nats *b = calloc(1, sizeof *b);
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return CORIO_ERR_NOSPACE;
    }
    bool oom = false;
    b->o = *o;
    pthread_mutex_init(&b->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b->cond, &ca);
    pthread_condattr_destroy(&ca);
    b->url = dup_or_null(o->url, &oom);
    b->tls_ca = dup_or_null(o->tls_ca, &oom);
    b->tls_cert = dup_or_null(o->tls_cert, &oom);
    b->tls_key = dup_or_null(o->tls_key, &oom);
    b->stream = dup_or_null(o->stream, &oom);
    b->consumer = dup_or_null(o->consumer, &oom);
    b->live = o->on_live ? dup_or_null(o->live_subject, &oom) : NULL;
    int rc = CORIO_ERR_NOSPACE;
    if (oom) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    /* The server list. */
    for (char *p = b->url, *save = NULL; b->nservers < MAX_SERVERS;) {
        char *tok = strtok_r(p, ", ", &save);
        p = NULL;
        if (!tok)
            break;
        b->servers[b->nservers++] = tok;
    }
    rc = CORIO_ERR_INVAL;
    if (b->nservers == 0) {
        snprintf(err, errlen, "NATS: no server URL");
        goto fail;
    }
    rc = CORIO_ERR_IO;
    natsStatus s = natsOptions_Create(&b->nopts);
    if (s == NATS_OK)
        s = natsOptions_SetServers(b->nopts, (const char **)b->servers, b->nservers);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(b->nopts, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(b->nopts, 250);
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(b->nopts, 2000);
    /* A server that stops answering is noticed within a few seconds. */
    if (s == NATS_OK)
        s = natsOptions_SetPingInterval(b->nopts, 2000);
    if (s == NATS_OK)
        s = natsOptions_SetMaxPingsOut(b->nopts, 3);
    if (s == NATS_OK)
        s = natsOptions_SetRetryOnFailedConnect(b->nopts, true, on_connected, b);
    if (s == NATS_OK)
        s = natsOptions_SetDisconnectedCB(b->nopts, on_disconnected, b);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectedCB(b->nopts, on_connected, b);
    if (s == NATS_OK)
        s = natsOptions_SetClosedCB(b->nopts, on_closed, b);
    if (s == NATS_OK)
        s = natsOptions_SetErrorHandler(b->nopts, on_async_error, b);
    if (s == NATS_OK && b->tls_ca) {
        s = natsOptions_SetSecure(b->nopts, true);
        if (s == NATS_OK)
            s = natsOptions_LoadCATrustedCertificates(b->nopts, b->tls_ca);
        if (s == NATS_OK && b->tls_cert)
            s = natsOptions_LoadCertificatesChain(b->nopts, b->tls_cert, b->tls_key);
    }
    if (s != NATS_OK) {
        snprintf(err, errlen, "NATS options refused: %s", nats_GetLastError(NULL));
        goto fail;
    }
    s = natsConnection_Connect(&b->nc, b->nopts);
    if (s != NATS_OK && s != NATS_NOT_YET_CONNECTED) {
        snprintf(err, errlen, "NATS: %s", nats_GetLastError(NULL));
        goto fail;
    }
    if (s == NATS_OK)
        on_connected(b->nc, b);
    else
        corio_logkv(CORIO_LOG_WARN, "NATS not reachable yet; retrying", "url=%s", o->url);
    if ((b->live && core_subscribe(b, &b->live_sub, b->live, err, errlen) != CORIO_OK) ||
        (o->on_status &&
         core_subscribe(b, &b->status_sub, CORIO_BUS_STATUS_SUBJECTS, err, errlen) != CORIO_OK))
        goto fail;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = JS_WAIT_MS;
    if ((s = natsConnection_JetStream(&b->js, b->nc, &jo)) != NATS_OK) {
        snprintf(err, errlen, "NATS JetStream: %s", natsStatus_GetText(s));
        goto fail;
    }
    *out = b;
    return CORIO_OK;
fail:
    corio_bus_nats_free(b);
    return rc;
}

void corio_bus_nats_free(struct corio_bus_nats *b)
{
    if (!b)
        return;
    forget_sub(b);
    /* Their callbacks use what the caller frees after this: wait until they are over. */
    struct core_sub *subs[] = {&b->live_sub, &b->status_sub};
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        if (subs[i]->s &&
            (natsSubscription_Unsubscribe(subs[i]->s) != NATS_OK || !wait_flag(b, &subs[i]->done))) {
            corio_log(CORIO_LOG_ERROR, "NATS subscription did not end; not freeing it");
            return;
        }
    }
    if (b->nc) {
        /* Acks are sent without waiting for the server: let them go out first (a lost
         * one means a redelivery, which deduplication absorbs). */
        natsConnection_FlushTimeout(b->nc, 1000);
        natsConnection_Close(b->nc);
        if (!wait_flag(b, &b->closed)) {
            /* Callbacks may still come: leak rather than free what they use. */
            corio_log(CORIO_LOG_ERROR, "NATS connection did not close; not freeing it");
            return;
        }
    }
    natsSubscription_Destroy(b->live_sub.s);
    natsSubscription_Destroy(b->status_sub.s);
    jsCtx_Destroy(b->js);
    natsConnection_Destroy(b->nc);
    natsOptions_Destroy(b->nopts);
    free(b->url);
    free(b->tls_ca);
    free(b->tls_cert);
    free(b->tls_key);
    free(b->stream);
    free(b->consumer);
    free(b->live);
    pthread_cond_destroy(&b->cond);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

int corio_bus_nats_publish_live(struct corio_bus_nats *b, const char *msg, size_t len)
{
    if (!b || !msg || len > INT32_MAX)
        return CORIO_ERR_INVAL;
    if (!b->live)
        return CORIO_ERR_STATE;
    if (!corio_bus_nats_connected(b))
        return CORIO_ERR_CLOSED;
    natsStatus s = natsConnection_Publish(b->nc, b->live, msg, (int)len);
    return s == NATS_OK ? CORIO_OK : CORIO_ERR_CLOSED;
}

bool corio_bus_nats_connected(struct corio_bus_nats *b)
{
    return b && b->nc && natsConnection_Status(b->nc) == NATS_CONN_STATUS_CONNECTED;
}

bool corio_bus_subject_to_topic(const char *subject, char *topic, size_t cap)
{
    if (!subject || !*subject || !topic || cap == 0)
        return false;
    size_t n = strnlen(subject, cap);
    if (n >= cap)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)subject[i];
        if (c <= ' ' || c == 0x7f || c == '*' || c == '>' || c == '+' || c == '#')
            return false;
        topic[i] = c == '.' ? '/' : (char)c;
    }
    topic[n] = 0;
    return true;
}

int corio_bus_nats_fetch(struct corio_bus_nats *b, struct corio_bus_msg *msgs, int max,
                         int timeout_ms)
{
    if (!b || !msgs || max < 1)
        return CORIO_ERR_INVAL;
    if (!b->sub) {
        if (!corio_bus_nats_connected(b) || setup(b) != CORIO_OK) {
            sleep_ms(timeout_ms);
            return CORIO_ERR_CLOSED;
        }
    }
    natsMsgList list = {0};
    jsErrCode jerr = 0;
    natsStatus s = natsSubscription_Fetch(&list, b->sub, max, timeout_ms, &jerr);
    if (s == NATS_TIMEOUT)
        return 0;
    if (s != NATS_OK) {
        corio_logkv(CORIO_LOG_DEBUG, "NATS fetch failed", "error=%s jetstream_error=%d",
                    natsStatus_GetText(s), (int)jerr);
        /* The consumer or stream is gone, or the subscription broke: set up again. */
        if (s == NATS_NOT_FOUND || s == NATS_INVALID_SUBSCRIPTION || s == NATS_CONNECTION_CLOSED ||
            jerr == JSConsumerNotFoundErr || jerr == JSStreamNotFoundErr)
            forget_sub(b);
        /* Not connected: libnats may answer at once; do not spin. */
        sleep_ms(timeout_ms < 200 ? timeout_ms : 200);
        return CORIO_ERR_CLOSED;
    }
    int n = 0;
    for (int i = 0; i < list.Count; i++) {
        natsMsg *m = list.Msgs[i];
        list.Msgs[i] = NULL;
        struct corio_bus_msg *out = &msgs[n++];
        memset(out, 0, sizeof *out);
        out->priv = m;
        if (!corio_bus_subject_to_topic(natsMsg_GetSubject(m), out->topic, sizeof out->topic))
            out->topic[0] = 0;
        out->data = (const uint8_t *)natsMsg_GetData(m);
        out->len = (size_t)natsMsg_GetDataLength(m);
        out->deliveries = 1;
        jsMsgMetaData *meta = NULL;
        if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
            out->deliveries = meta->NumDelivered;
            jsMsgMetaData_Destroy(meta);
        }
    }
    natsMsgList_Destroy(&list);
    return n;
}

int corio_bus_nats_settle(struct corio_bus_nats *b, struct corio_bus_msg *m,
                          enum corio_bus_outcome outcome, int64_t delay_ms)
{
    (void)b;
    natsMsg *nm = m->priv;
    if (!nm)
        return CORIO_ERR_INVAL;
    natsStatus s;
    switch (outcome) {
    case CORIO_BUS_DONE:
        s = natsMsg_Ack(nm, NULL);
        break;
    case CORIO_BUS_NEVER:
        s = natsMsg_Term(nm, NULL);
        break;
    default:
        s = natsMsg_NakWithDelay(nm, delay_ms > 0 ? delay_ms : 0, NULL);
        break;
    }
    natsMsg_Destroy(nm);
    m->priv = NULL;
    return s == NATS_OK ? CORIO_OK : CORIO_ERR_IO;
}

int corio_bus_nats_publish_ack(struct corio_bus_nats *b, const char *gateway, const uint8_t *ack,
                               size_t len)
{
    if (!b || !gateway || !ack || len == 0 || strlen(gateway) > 64)
        return CORIO_ERR_INVAL;
    if (!corio_bus_nats_connected(b))
        return CORIO_ERR_CLOSED;
    char subject[128];
    snprintf(subject, sizeof subject, "corio.v1.g.%s.ack", gateway);
    /* Marked as an MQTT QoS 1 publish: nats-server then leaves QoS 1 subscriptions to
     * the copy below instead of delivering this one to them a second time, at QoS 0. */
    natsMsg *m = NULL;
    natsStatus s = natsMsg_Create(&m, subject, NULL, (const char *)ack, (int)len);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(m, CORIO_BUS_MQTT_HEADER, "1");
    if (s == NATS_OK)
        s = natsConnection_PublishMsg(b->nc, m);
    natsMsg_Destroy(m);
    if (s != NATS_OK)
        return CORIO_ERR_CLOSED;
    /* What nats-server itself does with an MQTT QoS 1 publish: store it in $MQTT_msgs,
     * where every QoS 1 subscription has a durable consumer. */
    snprintf(subject, sizeof subject, CORIO_BUS_MQTT_QOS1_PREFIX "corio.v1.g.%s.ack", gateway);
    m = NULL;
    s = natsMsg_Create(&m, subject, NULL, (const char *)ack, (int)len);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(m, CORIO_BUS_MQTT_HEADER, "1");
    jsPubAck *pa = NULL;
    jsErrCode jerr = 0;
    if (s == NATS_OK) {
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MaxWait = PUB_WAIT_MS;
        s = js_PublishMsg(&pa, b->js, m, &po, &jerr);
    }
    natsMsg_Destroy(m);
    jsPubAck_Destroy(pa);
    if (s != NATS_OK) {
        corio_logkv(CORIO_LOG_DEBUG, "ack not stored for MQTT QoS 1", "gateway=%s error=%s",
                    gateway, natsStatus_GetText(s));
        return CORIO_ERR_IO;
    }
    return CORIO_OK;
}
