/*
 * device.c - the device layer (include/corio/device.h): a boot (counter store,
 * outbox, client), single-step authentication with a fresh token per connection
 * attempt or MQTT 5 enhanced authentication (corio-eat-v1: a token over the gateway's
 * nonce and the rotation chain), quarantine and claims, the publishing loop over the
 * outbox, the heartbeat and time from dn/time. Recording values is in
 * device_sample.c, the counter store in device_store.c, commands and configuration in
 * device_cmd.c.
 *
 * Publishing. The outbox owns messages; the client holds at most max_inflight of them
 * at once, each under token = seq. The loop walks the outbox's unacknowledged entries
 * in seq order with an iterator and publishes each one that is not in flight already.
 * A PUBACK acknowledges the entry on flash. A lost connection leaves the tokens in the
 * client, which sends them again after the next CONNACK, reading them back through
 * resend(). A PUBLISH refused with a failure reason code leaves the client: the entry
 * stays unacknowledged, publishing pauses for the backoff, and the loop starts again
 * from the oldest unacknowledged entry. A full gateway refuses by disconnecting (DESIGN.md
 * §1); the client's reconnect backoff then spaces the attempts.
 *
 * Quarantine (docs/onboarding.md). A gateway that does not find the device in its
 * registry admits it to corio/v1/q/{id}/ only and says so in the CONNACK's
 * authentication data. The device then publishes nothing of its own (its packs wait in
 * the outbox; the gateway would refuse them), subscribes to its claim topic instead of
 * its downlink, and answers a claim request with a token over H(secret ‖ claimant)
 * only when it computes the same nonce from its own secret. Once claimed, the gateway
 * disconnects it, and the next connection is admitted.
 */
#include <string.h>

#include "corio/cbor.h"
#include "corio/eat.h"
#include "corio/eat_auth.h"
#include "corio/encoding.h"
#include "corio/heartbeat.h"
#include "device_int.h"

#define MIN_BUFFER 64u
/* A heartbeat the client could not take now is tried again after this long. */
#define HB_RETRY_MS 200u

/* ---- time ---- */

/* Brings the uptime up to date with the port's clock (which may wrap). */
uint64_t corio__dev_tick(struct corio_device *d)
{
    uint32_t t = d->clk.now_ms(d->clk.ctx);
    d->uptime_ms += (uint32_t)(t - d->last_clock);
    d->last_clock = t;
    return d->uptime_ms;
}

static uint32_t now32(struct corio_device *d)
{
    return d->clk.now_ms(d->clk.ctx);
}

int corio_device_set_time(struct corio_device *d, uint64_t unix_ms)
{
    if (!d || unix_ms < (uint64_t)CORIO_SENML_RELATIVE_LIMIT * 1000u)
        return CORIO_ERR_INVAL;
    uint64_t up = corio__dev_tick(d);
    if (unix_ms < up)
        return CORIO_ERR_INVAL;
    d->time_base = unix_ms - up;
    d->has_time = true;
    return CORIO_OK;
}

int corio_device_time_encode(uint64_t unix_ms, uint8_t *buf, size_t cap)
{
    struct corio_cbor_enc e;
    if (!buf)
        return CORIO_ERR_INVAL;
    corio_cbor_enc_init(&e, buf, cap);
    corio_cbor_put_map(&e, 2);
    corio_cbor_put_uint(&e, 1);
    corio_cbor_put_uint(&e, 1);
    corio_cbor_put_uint(&e, 2);
    corio_cbor_put_uint(&e, unix_ms);
    int rc = corio_cbor_enc_finish(&e);
    return rc < 0 ? rc : (int)corio_cbor_enc_len(&e);
}

int corio_device_time_decode(const uint8_t *msg, size_t len, uint64_t *unix_ms)
{
    if ((!msg && len) || !unix_ms)
        return CORIO_ERR_INVAL;
    uint64_t v[3] = {0, 0, 0};
    unsigned seen;
    int rc = corio__dev_uint_map(msg, len, v, 2, &seen);
    if (rc != CORIO_OK)
        return rc;
    if (!(seen & (1u << 2)))
        return CORIO_ERR_MALFORMED;
    *unix_ms = v[2];
    return CORIO_OK;
}

/* ---- tokens ---- */

/* The claims every token of this device carries; the caller adds aud and a nonce or a
 * counter. */
static void base_claims(const struct corio_device *d, struct corio_eat_claims *c)
{
    memset(c, 0, sizeof *c);
    c->issuer = d->did;
    c->issuer.has_key = false;
    c->key_number = d->key_number;
    c->has_bootcount = true;
    c->bootcount = d->store.boot;
    c->assurance = d->assurance;
    if (d->fw_digest) {
        c->has_firmware = true;
        memcpy(c->fw_digest, d->fw_digest, CORIO_SHA256_LEN);
        c->fw_version = d->fw_version;
        c->fw_version_len = strlen(d->fw_version);
        c->fw_name = d->fw_name;
        c->fw_name_len = d->fw_name ? strlen(d->fw_name) : 0;
    }
}

/* ---- single-step authentication ---- */

/* Makes the token for the next connection attempt: a counter never handed out before,
 * persisted before the token exists. Without one the attempt goes without a password
 * (and is refused), so an old token is never replayed. */
static void make_login(struct corio_device *d)
{
    uint16_t ulen = (uint16_t)strlen(d->did_text);
    uint64_t counter;
    int n = corio__dev_store_take(&d->store, CORIO_DEVICE_COUNTER_BLOCK, &counter);
    if (n == CORIO_OK) {
        struct corio_eat_claims c;
        base_claims(d, &c);
        c.aud = d->gateway;
        c.aud_len = CORIO_SHORT_ID_LEN;
        c.has_counter = true;
        c.counter = counter;
        n = corio_eat_make(d->key, &c, d->eat, sizeof d->eat);
        if (n > 0)
            n = corio_base64url_encode(d->eat, (size_t)n, d->cred.password,
                                       sizeof d->cred.password);
        if (n > 0 &&
            corio_mqtt_set_login(&d->mqtt, d->did_text, ulen, (const uint8_t *)d->cred.password,
                                 (uint16_t)n) == CORIO_OK) {
            d->st.counter = counter;
            return;
        }
    }
    d->st.login_errors++;
    (void)corio_mqtt_set_login(&d->mqtt, d->did_text, ulen, NULL, 0);
}

/* ---- enhanced authentication (corio-eat-v1) and claims ---- */

/* Makes an answer [1, token, chain] in d->cred.answer: a token for aud over nonce, and
 * the chain to the current key (chain0: the one-key chain of key 0, for claims).
 * Returns its length or an error. */
static int make_answer(struct corio_device *d, const char *aud, size_t aud_len,
                       const uint8_t *nonce, size_t nonce_len, bool chain0)
{
    struct corio_eat_claims c;
    base_claims(d, &c);
    c.aud = aud;
    c.aud_len = aud_len;
    c.nonce = nonce;
    c.nonce_len = nonce_len;
    int n = corio_eat_make(d->key, &c, d->eat, sizeof d->eat);
    if (n < 0)
        return n;
    const uint8_t *chain = chain0 || d->key_number == 0 ? d->chain0 : d->chain;
    size_t chain_len = chain0 || d->key_number == 0 ? d->chain0_len : d->chain_len;
    return corio_eat_auth_encode(d->eat, (size_t)n, chain, chain_len, d->cred.answer,
                                 sizeof d->cred.answer);
}

/* The subscriptions follow the admission status: the downlink when admitted, the claim
 * topic when quarantined. A change that the client cannot take now (an unsubscribe of
 * the same filter still in flight) is tried again from corio_device_process(). */
static void follow_status(struct corio_device *d)
{
    int rc = CORIO_OK;
    uint16_t qlen = (uint16_t)strlen(d->qsub);
    for (size_t i = 0; i < 3 && d->subs[i][0]; i++) {
        uint16_t n = (uint16_t)strlen(d->subs[i]);
        int r = d->quarantined
                    ? corio_mqtt_unsubscribe(&d->mqtt, d->subs[i], n)
                    : corio_mqtt_subscribe(&d->mqtt, d->subs[i], n, CORIO_MQTT_SUB_QOS(1));
        if (r == CORIO_ERR_AGAIN)
            rc = r;
    }
    int r = d->quarantined ? corio_mqtt_subscribe(&d->mqtt, d->qsub, qlen, CORIO_MQTT_SUB_QOS(1))
                           : corio_mqtt_unsubscribe(&d->mqtt, d->qsub, qlen);
    if (r == CORIO_ERR_AGAIN)
        rc = r;
    d->subs_due = rc == CORIO_ERR_AGAIN;
}

static int auth(void *user, enum corio_mqtt_auth_step step, const uint8_t *in, size_t in_len,
                const uint8_t **out, size_t *out_len)
{
    struct corio_device *d = user;
    *out = NULL;
    *out_len = 0;
    if (step == CORIO_MQTT_AUTH_START)
        return CORIO_OK; /* the gateway speaks first: its nonce */
    if (step == CORIO_MQTT_AUTH_CONTINUE) {
        int n = in_len == CORIO_EAT_AUTH_NONCE_LEN
                    ? make_answer(d, d->gateway, CORIO_SHORT_ID_LEN, in, in_len, false)
                    : CORIO_ERR_MALFORMED;
        if (n < 0) {
            d->st.login_errors++;
            return n;
        }
        *out = d->cred.answer;
        *out_len = (size_t)n;
        return CORIO_OK;
    }
    /* Accepted: admitted, or quarantined when the gateway says so. */
    enum corio_eat_auth_status status = CORIO_EAT_AUTH_ADMITTED;
    if (in_len && corio_eat_auth_result_decode(in, in_len, &status) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    bool quarantined = status == CORIO_EAT_AUTH_QUARANTINED;
    /* A re-authentication that changes nothing leaves the subscriptions alone: sending
     * SUBSCRIBE again for a live filter is wasted, and Mosquitto 2.0.11 leaks the
     * duplicate's entry. */
    bool again = d->connected && quarantined == d->quarantined;
    d->quarantined = quarantined;
    if (!again)
        follow_status(d);
    return CORIO_OK;
}

/* A claim request on the claim topic: answered with a token over the nonce when the
 * device computes the same nonce from its secret and still holds key 0 (the ledger
 * registers a device by its key 0); anything else is refused without an answer. */
static void on_claim(struct corio_device *d, const uint8_t *payload, size_t len)
{
    struct corio_claim_request r;
    uint8_t expect[CORIO_SHA256_LEN];
    char aud[CORIO_SHORT_ID_LEN + 1];
    if (!d->claim_secret || d->key_number != 0 ||
        corio_claim_request_decode(payload, len, &r) != CORIO_OK ||
        corio_claim_nonce(d->key->ops, d->claim_secret, d->claim_secret_len, r.claimant, expect) !=
            CORIO_OK ||
        corio_did_id_format(r.claimant, aud, sizeof aud) < 0) {
        d->st.claims_refused++;
        return;
    }
    uint8_t diff = 0; /* constant time: the nonce is a secret's hash */
    for (size_t i = 0; i < sizeof expect; i++)
        diff = (uint8_t)(diff | (expect[i] ^ r.nonce[i]));
    if (diff != 0) {
        d->st.claims_refused++;
        return;
    }
    int n = make_answer(d, aud, CORIO_SHORT_ID_LEN, r.nonce, sizeof r.nonce, true);
    int t = corio_quarantine_topic(d->id, CORIO_QUARANTINE_CLAIM_UP, d->topic, sizeof d->topic);
    if (n < 0 || t < 0) {
        d->st.claims_refused++;
        return;
    }
    struct corio_mqtt_publish m;
    memset(&m, 0, sizeof m);
    m.topic = d->topic;
    m.topic_len = (uint16_t)t;
    m.payload = d->cred.answer;
    m.payload_len = (size_t)n;
    /* QoS 0: the claimant asks again until an answer comes. */
    if (corio_mqtt_publish(&d->mqtt, &m, 0) == CORIO_OK)
        d->st.claims++;
    else
        d->st.claims_refused++;
}

/* ---- the in-flight set ---- */

static int inflight_find(const struct corio_device *d, uint32_t seq)
{
    for (int i = 0; i < d->n_inflight; i++)
        if (d->inflight[i] == seq)
            return i;
    return -1;
}

/* Removes seq from the in-flight set; returns whether it was a replay. The last entry
 * moves into its place, with its replay bit. */
static bool inflight_remove(struct corio_device *d, uint32_t seq)
{
    int i = inflight_find(d, seq);
    if (i < 0)
        return false;
    unsigned last = --d->n_inflight;
    uint32_t bit = (uint32_t)1u << (unsigned)i, last_bit = (uint32_t)1u << last;
    bool replay = (d->inflight_replay & bit) != 0;
    bool last_replay = (d->inflight_replay & last_bit) != 0;
    d->inflight[i] = d->inflight[last];
    d->inflight_replay &= ~(bit | last_bit);
    if (last_replay && (unsigned)i != last)
        d->inflight_replay |= bit;
    return replay;
}

/* ---- publishing ---- */

/* The topic of an outbox entry, by the topic kind stored as its type. */
static int entry_topic(struct corio_device *d, uint8_t type)
{
    if (type != CORIO_TOPIC_UP_JSON && type != CORIO_TOPIC_UP_CBOR && type != CORIO_TOPIC_UP_EVT &&
        type != CORIO_TOPIC_UP_RES && type != CORIO_TOPIC_UP_CFG)
        return CORIO_ERR_UNSUPPORTED;
    return corio_topic_build((enum corio_topic_kind)type, d->id, d->topic, sizeof d->topic);
}

/* Publishes an outbox entry (token = seq) on its topic. Returns the client's answer, or
 * CORIO_ERR_UNSUPPORTED for an entry of no known topic. */
static int publish_entry(struct corio_device *d, const struct corio_dev_outbox_entry *e)
{
    int n = entry_topic(d, e->meta.type);
    if (n < 0)
        return CORIO_ERR_UNSUPPORTED;
    struct corio_mqtt_publish m;
    memset(&m, 0, sizeof m);
    m.topic = d->topic;
    m.topic_len = (uint16_t)n;
    m.qos = 1;
    m.payload = d->msg;
    m.payload_len = e->len;
    return corio_mqtt_publish(&d->mqtt, &m, e->seq);
}

/* A gateway's resend request (dn/resend): acknowledged entries from its seq on are
 * published again (unacknowledged ones are the normal loop's). Returns false while the
 * client cannot take more, true when the request is done or the window is full. */
static bool replay(struct corio_device *d)
{
    while (d->replaying && d->n_inflight < d->max_inflight) {
        struct corio_dev_outbox_iter at = d->replay_it;
        struct corio_dev_outbox_entry e;
        int rc = corio_dev_outbox_iter_next(&d->ob, &d->replay_it, 0, &e, d->msg, d->msg_len);
        if (rc == CORIO_ERR_NOSPACE) {
            corio_dev_outbox_iter_init(&d->replay_it, e.seq);
            continue;
        }
        if (rc == CORIO_ERR_IO)
            continue; /* damaged on flash; the iterator moved past it */
        if (rc != CORIO_OK) {
            d->replaying = false; /* the end of the outbox (or it failed): done */
            break;
        }
        if (!e.acked || inflight_find(d, e.seq) >= 0)
            continue;
        rc = publish_entry(d, &e);
        if (rc == CORIO_OK) {
            d->inflight_replay |= (uint32_t)1u << d->n_inflight;
            d->inflight[d->n_inflight++] = e.seq;
            d->st.replayed++;
        } else if (rc == CORIO_ERR_AGAIN || rc == CORIO_ERR_FULL || rc == CORIO_ERR_STATE) {
            d->replay_it = at;
            return false;
        }
    }
    return true;
}

/* Entries a refusal left behind are reached by rewinding to the oldest unacknowledged
 * one; those still in flight are skipped, so nothing is in the client twice. */
void corio__dev_pump(struct corio_device *d)
{
    if (!d->connected || d->quarantined)
        return;
    if (d->holding) {
        if ((int32_t)(now32(d) - d->hold_until) < 0)
            return;
        d->holding = false;
    }
    if (d->rewind) {
        corio_dev_outbox_iter_init(&d->it, 0);
        d->rewind = false;
    }
    if (d->replaying && !replay(d))
        return;
    while (d->n_inflight < d->max_inflight) {
        struct corio_dev_outbox_iter at = d->it;
        struct corio_dev_outbox_entry e;
        int rc = corio_dev_outbox_iter_next(&d->ob, &d->it, CORIO_DEV_OUTBOX_UNACKED, &e, d->msg,
                                            d->msg_len);
        if (rc == CORIO_ERR_NOTFOUND)
            return;
        if (rc == CORIO_ERR_NOSPACE) {
            /* Larger than msg: it can never be read back whole. Step over it. */
            corio_dev_outbox_iter_init(&d->it, e.seq);
            d->st.skipped++;
            continue;
        }
        if (rc == CORIO_ERR_IO) {
            d->st.skipped++; /* damaged on flash; the iterator moved past it */
            continue;
        }
        if (rc != CORIO_OK)
            return;
        if (inflight_find(d, e.seq) >= 0)
            continue;
        rc = publish_entry(d, &e);
        if (rc == CORIO_ERR_UNSUPPORTED) {
            d->st.skipped++;
            continue;
        }
        if (rc == CORIO_OK) {
            d->inflight[d->n_inflight++] = e.seq;
            d->st.published++;
        } else if (rc == CORIO_ERR_AGAIN || rc == CORIO_ERR_FULL || rc == CORIO_ERR_STATE) {
            d->it = at; /* this one again, when the client can take it */
            return;
        } else {
            d->st.skipped++; /* too large for this broker or buffer; next connection */
        }
    }
}

static void heartbeat(struct corio_device *d)
{
    if (!d->connected || !d->heartbeat_ms || d->quarantined)
        return;
    uint64_t up = corio__dev_tick(d);
    if (!d->hb_due && up < d->next_hb)
        return;
    struct corio_dev_outbox_stats os;
    if (corio_dev_outbox_stats(&d->ob, &os) != CORIO_OK)
        return;
    struct corio_heartbeat hb = {up / 1000u,  d->store.boot, os.epoch,
                                 os.last_seq, os.depth,      os.drops};
    uint8_t buf[CORIO_HEARTBEAT_MAX];
    int n = corio_heartbeat_encode((enum corio_format)d->format, &hb, buf, sizeof buf);
    int t = corio_topic_build(CORIO_TOPIC_UP_HB, d->id, d->topic, sizeof d->topic);
    if (n > 0 && t > 0) {
        struct corio_mqtt_publish m;
        memset(&m, 0, sizeof m);
        m.topic = d->topic;
        m.topic_len = (uint16_t)t;
        m.payload = buf;
        m.payload_len = (size_t)n;
        n = corio_mqtt_publish(&d->mqtt, &m, 0);
        if (n == CORIO_ERR_AGAIN) {
            /* tx is full, or resends go first: soon again, without spinning */
            d->hb_due = false;
            d->next_hb = up + HB_RETRY_MS;
            return;
        }
        if (n == CORIO_OK)
            d->st.heartbeats++;
    }
    d->hb_due = false;
    d->next_hb = up + d->heartbeat_ms;
}

/* ---- the client's callbacks ---- */

static void on_connect(void *user, const struct corio_mqtt_connack *ack)
{
    struct corio_device *d = user;
    (void)ack;
    d->connected = true;
    d->rewind = true;
    d->hb_due = true;
    d->st.connects++;
    if (d->cb.on_link)
        d->cb.on_link(d->app, true, CORIO_OK);
}

static void on_disconnect(void *user, int err, uint8_t reason)
{
    struct corio_device *d = user;
    (void)reason;
    d->connected = false;
    d->reauth_due = false; /* the next connection presents the current key anyway */
    if (err == CORIO_OK) {
        d->started = false; /* corio_device_stop() completed */
    } else if (d->decommissioned) {
        /* No key to log in with any more: stop here rather than retry for ever. */
        (void)corio_mqtt_disconnect(&d->mqtt, 0);
        d->started = false;
    } else {
        d->st.link_errors++;
        if (d->auth_mode == CORIO_DEVICE_AUTH_SINGLE)
            make_login(d); /* for the client's next attempt */
    }
    if (d->cb.on_link)
        d->cb.on_link(d->app, false, err);
}

static uint8_t on_message(void *user, const struct corio_mqtt_publish *msg)
{
    struct corio_device *d = user;
    struct corio_topic t;
    if (msg->topic_len == strlen(d->qsub) && memcmp(msg->topic, d->qsub, msg->topic_len) == 0) {
        if (d->quarantined)
            on_claim(d, msg->payload, msg->payload_len);
        return 0;
    }
    if (corio_topic_parse(msg->topic, msg->topic_len, &t) != CORIO_OK ||
        memcmp(t.id, d->id, CORIO_SHORT_ID_LEN) != 0 || !corio_topic_is_device(t.kind))
        return 0;
    if (t.kind == CORIO_TOPIC_DN_RESEND) {
        uint64_t epoch, from;
        if (corio_device_resend_decode(msg->payload, msg->payload_len, &epoch, &from) != CORIO_OK)
            return 0x99; /* Payload format invalid */
        /* Another epoch than ours: the gateway holds nothing of this one, so all of it. */
        uint32_t after = epoch == d->epoch && from <= CORIO_DEV_OUTBOX_SEQ_MAX
                             ? (uint32_t)(from - 1u)
                             : 0u;
        corio_dev_outbox_iter_init(&d->replay_it, after);
        d->replaying = true;
        d->st.resend_requests++;
        return 0;
    }
    if (t.kind == CORIO_TOPIC_DN_TIME) {
        uint64_t ms;
        if (d->no_time)
            return 0;
        if (corio_device_time_decode(msg->payload, msg->payload_len, &ms) != CORIO_OK ||
            corio_device_set_time(d, ms) != CORIO_OK)
            return 0x99; /* Payload format invalid */
        if (d->cb.on_time)
            d->cb.on_time(d->app, ms);
        return 0;
    }
    if (t.kind == CORIO_TOPIC_DN_CMD)
        return corio__dev_command(d, msg->payload, msg->payload_len);
    if (t.kind == CORIO_TOPIC_DN_CFG)
        return corio__dev_config(d, msg->payload, msg->payload_len);
    if (t.kind == CORIO_TOPIC_DN_OTA && d->cb.on_downlink)
        d->cb.on_downlink(d->app, t.kind, msg->payload, msg->payload_len);
    return 0;
}

static void on_publish_done(void *user, uint64_t token, int result, uint8_t reason)
{
    struct corio_device *d = user;
    uint32_t seq = (uint32_t)token;
    (void)reason;
    bool replayed = inflight_remove(d, seq);
    if (result == CORIO_OK) {
        if (corio_dev_outbox_ack(&d->ob, seq) == CORIO_OK && !replayed)
            d->st.acked++;
        d->refusals = 0;
        corio__dev_answer_acked(d, seq);
        return;
    }
    if (result == CORIO_ERR_NOTFOUND)
        return; /* the ring dropped it; counted in drops */
    if (result == CORIO_ERR_REFUSED) {
        /* The gateway refused it with a reason code: keep it and wait before trying
         * again, longer after each refusal in a row. */
        uint8_t r[4] = {0, 0, 0, 0};
        (void)d->rnd.fill(d->rnd.ctx, r, sizeof r);
        uint32_t rv = (uint32_t)r[0] << 24 | (uint32_t)r[1] << 16 | (uint32_t)r[2] << 8 | r[3];
        d->st.refused++;
        if (d->refusals < UINT32_MAX)
            d->refusals++;
        d->hold_until = now32(d) + corio_mqtt_backoff_delay(&d->backoff, d->refusals, rv);
        d->holding = true;
    } else if (result != CORIO_ERR_CLOSED) {
        d->st.skipped++; /* could not be read back or sent again as it is */
    }
    d->rewind = true;
}

static int resend(void *user, uint64_t token, struct corio_mqtt_publish *msg)
{
    struct corio_device *d = user;
    struct corio_dev_outbox_entry e;
    int rc = corio_dev_outbox_get(&d->ob, (uint32_t)token, &e, d->msg, d->msg_len);
    if (rc != CORIO_OK)
        return rc;
    int n = entry_topic(d, e.meta.type);
    if (n < 0)
        return n;
    msg->topic = d->topic;
    msg->topic_len = (uint16_t)n;
    msg->payload = d->msg;
    msg->payload_len = e.len;
    d->st.resent++;
    return CORIO_OK;
}

static const struct corio_mqtt_callbacks client_callbacks = {
    .on_connect = on_connect,
    .on_disconnect = on_disconnect,
    .on_message = on_message,
    .on_publish_done = on_publish_done,
    .resend = resend,
    .auth = auth,
};

/* ---- setup ---- */

void corio_device_config_init(struct corio_device_config *cfg)
{
    if (!cfg)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->format = CORIO_FORMAT_CBOR;
    cfg->heartbeat_ms = CORIO_DEVICE_HEARTBEAT_MS;
    cfg->max_inflight = CORIO_MQTT_MAX_INFLIGHT;
    cfg->mqtt_version = CORIO_MQTT_V5;
    cfg->keepalive_s = 60;
    cfg->connect_timeout_ms = 10000;
    cfg->backoff.initial_ms = 1000;
    cfg->backoff.max_ms = 60000;
    cfg->backoff.jitter_pct = 50;
    cfg->backoff.reset_after_ms = 60000;
}

static bool config_ok(const struct corio_device_config *c)
{
    if (!c->key || !c->key->ops || !c->gateway_id || !c->transport || !c->clock ||
        !c->clock->now_ms || !c->random || !c->random->fill || !c->flash || !c->flash->read ||
        !c->flash->program || !c->flash->erase)
        return false;
    if (!c->tx || !c->rx || !c->pack || !c->msg || c->tx_len < MIN_BUFFER ||
        c->rx_len < MIN_BUFFER || c->pack_len < MIN_BUFFER || c->msg_len < MIN_BUFFER)
        return false;
    if (strlen(c->gateway_id) != CORIO_SHORT_ID_LEN ||
        !corio_short_id_valid(c->gateway_id, CORIO_SHORT_ID_LEN))
        return false;
    if (c->device_id && (strlen(c->device_id) != CORIO_SHORT_ID_LEN ||
                         !corio_short_id_valid(c->device_id, CORIO_SHORT_ID_LEN)))
        return false;
    if (c->format != CORIO_FORMAT_JSON && c->format != CORIO_FORMAT_CBOR)
        return false;
    if (c->max_inflight < 1 || c->max_inflight > CORIO_MQTT_MAX_INFLIGHT)
        return false;
    if (c->assurance > 2 || (!c->fw_digest != !c->fw_version))
        return false;
    if (c->auth != CORIO_DEVICE_AUTH_SINGLE && c->auth != CORIO_DEVICE_AUTH_EAT)
        return false;
    if (c->auth == CORIO_DEVICE_AUTH_EAT) {
        if (c->mqtt_version != CORIO_MQTT_V5 || (c->key_number > 0 && !c->chain) ||
            (c->chain &&
             (c->chain_len == 0 ||
              CORIO_EAT_AUTH_SIZE(CORIO_DEVICE_EAT_MAX, c->chain_len) > CORIO_DEVICE_AUTH_MAX)))
            return false;
    }
    if (c->claim_secret &&
        (strlen(c->claim_secret) < 1 || strlen(c->claim_secret) > CORIO_CLAIM_SECRET_MAX))
        return false;
    if (c->fw_version && (strlen(c->fw_version) < 1 || strlen(c->fw_version) > 32))
        return false;
    if (c->ncommands && !c->commands)
        return false;
    for (size_t i = 0; i < c->ncommands; i++)
        if (!c->commands[i].name || !c->commands[i].run ||
            !corio_cmd_name_ok(c->commands[i].name, strlen(c->commands[i].name)))
            return false;
    const struct corio_flash *f = c->flash;
    /* The store's two sectors, and at least two for the outbox. */
    if (f->sector_count < CORIO_DEVICE_STORE_SECTORS + 2 || f->sector_size < 4 * DEV_STORE_SLOT ||
        f->sector_size % DEV_STORE_SLOT != 0)
        return false;
    return true;
}

/* The device's identity: its short id (given, or from the key), DID and base name. */
static int identity(struct corio_device *d, const struct corio_device_config *cfg)
{
    if (cfg->device_id) {
        int rc = corio_did_id_parse(cfg->device_id, CORIO_SHORT_ID_LEN, d->did.id);
        if (rc != CORIO_OK)
            return rc;
    } else {
        uint8_t pub[CORIO_P256_PUB_LEN];
        int rc = corio_key_public(cfg->key, pub);
        if (rc == CORIO_OK)
            rc = corio_did_from_key(cfg->key->ops, pub, sizeof pub, &d->did);
        if (rc != CORIO_OK)
            return rc;
    }
    d->did.has_key = false;
    if (cfg->key_number == 0) {
        /* The one-key chain: the gateway learns key 0 from it, and with it the DID. */
        uint8_t pub[CORIO_P256_PUB_LEN];
        int rc = corio_key_public(cfg->key, pub);
        if (rc == CORIO_OK)
            rc = corio_rotation_chain_start(pub, sizeof pub, d->chain0, sizeof d->chain0);
        if (rc < 0)
            return rc;
        d->chain0_len = (size_t)rc;
    }
    if (corio_did_id_format(d->did.id, d->id, sizeof d->id) < 0 ||
        corio_did_format(&d->did, d->did_text, sizeof d->did_text) < 0)
        return CORIO_ERR_INVAL;
    memcpy(d->bn, "urn:corio:", 10);
    memcpy(d->bn + 10, d->id, CORIO_SHORT_ID_LEN);
    d->bn[10 + CORIO_SHORT_ID_LEN] = ':';
    d->bn[11 + CORIO_SHORT_ID_LEN] = '\0';
    return CORIO_OK;
}

/* The downlink filters: dn/# , or without time the three other dn topics. */
static int subscriptions(struct corio_device *d)
{
    static const enum corio_topic_kind kinds[] = {CORIO_TOPIC_DN_CMD, CORIO_TOPIC_DN_CFG,
                                                  CORIO_TOPIC_DN_OTA};
    if (!d->no_time) {
        /* corio/v1/d/<id>/dn/cmd, cut after "dn/", then "#". */
        int n = corio_topic_build(CORIO_TOPIC_DN_CMD, d->id, d->subs[0], sizeof d->subs[0]);
        if (n < 3)
            return CORIO_ERR_INVAL;
        d->subs[0][n - 3] = '#';
        d->subs[0][n - 2] = '\0';
        return corio_mqtt_subscribe(&d->mqtt, d->subs[0], (uint16_t)(n - 2), CORIO_MQTT_SUB_QOS(1));
    }
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        int n = corio_topic_build(kinds[i], d->id, d->subs[i], sizeof d->subs[i]);
        if (n < 0)
            return n;
        n = corio_mqtt_subscribe(&d->mqtt, d->subs[i], (uint16_t)n, CORIO_MQTT_SUB_QOS(1));
        if (n != CORIO_OK)
            return n;
    }
    return CORIO_OK;
}

int corio_device_init(struct corio_device *d, const struct corio_device_config *cfg)
{
    if (!d || !cfg || !config_ok(cfg))
        return CORIO_ERR_INVAL;
    memset(d, 0, sizeof *d);
    d->clk = *cfg->clock;
    d->rnd = *cfg->random;
    if (cfg->callbacks)
        d->cb = *cfg->callbacks;
    d->app = cfg->app;
    d->key = cfg->key;
    d->key_number = cfg->key_number;
    memcpy(d->gateway, cfg->gateway_id, CORIO_SHORT_ID_LEN);
    d->assurance = cfg->assurance ? cfg->assurance : CORIO_EAT_REPORTED;
    d->fw_digest = cfg->fw_digest;
    d->fw_version = cfg->fw_version;
    d->fw_name = cfg->fw_name;
    d->auth_mode = (uint8_t)cfg->auth;
    d->chain = cfg->chain;
    d->chain_len = cfg->chain ? cfg->chain_len : 0;
    d->claim_secret = cfg->claim_secret;
    d->claim_secret_len = cfg->claim_secret ? strlen(cfg->claim_secret) : 0;
    d->pack = cfg->pack;
    d->pack_len = cfg->pack_len;
    d->msg = cfg->msg;
    d->msg_len = cfg->msg_len;
    d->format = (uint8_t)cfg->format;
    d->no_time = cfg->no_time;
    d->max_inflight = cfg->max_inflight;
    d->heartbeat_ms = cfg->heartbeat_ms;
    d->backoff = cfg->backoff;
    d->commands = cfg->commands;
    d->ncommands = cfg->ncommands;
    d->last_clock = d->clk.now_ms(d->clk.ctx);

    int rc = identity(d, cfg);
    if (rc != CORIO_OK)
        return rc;

    /* The region: the counter store first, the outbox after it. */
    d->flash = *cfg->flash;
    struct corio_flash store_flash, outbox_flash;
    corio__dev_flash_window(&store_flash, &d->store_view, &d->flash, 0, CORIO_DEVICE_STORE_SECTORS);
    corio__dev_flash_window(&outbox_flash, &d->outbox_view, &d->flash, CORIO_DEVICE_STORE_SECTORS,
                            d->flash.sector_count - CORIO_DEVICE_STORE_SECTORS);
    rc = corio__dev_store_open(&d->store, &store_flash, CORIO_DEVICE_COUNTER_BLOCK);
    if (rc != CORIO_OK)
        return rc;

    uint8_t r[4];
    rc = d->rnd.fill(d->rnd.ctx, r, sizeof r);
    if (rc != CORIO_OK)
        return rc;
    struct corio_dev_outbox_config oc;
    memset(&oc, 0, sizeof oc);
    oc.fresh_epoch = (uint32_t)r[0] << 24 | (uint32_t)r[1] << 16 | (uint32_t)r[2] << 8 | r[3];
    rc = corio_dev_outbox_open(&d->ob, &outbox_flash, &oc);
    if (rc != CORIO_OK)
        return rc;
    struct corio_dev_outbox_stats os;
    rc = corio_dev_outbox_stats(&d->ob, &os);
    if (rc != CORIO_OK)
        return rc;
    d->epoch = os.epoch;
    d->next_seq = os.last_seq + 1u;
    d->st.outbox = os.opened;
    d->st.store = d->store.opened;
    corio_dev_outbox_iter_init(&d->it, 0);

    struct corio_mqtt_config mc;
    corio_mqtt_config_init(&mc);
    mc.version = cfg->mqtt_version;
    mc.client_id = d->id;
    mc.client_id_len = CORIO_SHORT_ID_LEN;
    mc.keepalive_s = cfg->keepalive_s;
    mc.connect_timeout_ms = cfg->connect_timeout_ms;
    mc.backoff = cfg->backoff;
    if (cfg->auth == CORIO_DEVICE_AUTH_EAT) {
        mc.auth_method = CORIO_EAT_AUTH_METHOD;
        mc.auth_method_len = (uint16_t)(sizeof CORIO_EAT_AUTH_METHOD - 1);
    }
    rc = corio_mqtt_init(&d->mqtt, &mc, cfg->transport, cfg->clock, cfg->random, cfg->tx,
                         cfg->tx_len, cfg->rx, cfg->rx_len, &client_callbacks, d);
    if (rc != CORIO_OK)
        return rc;
    rc = corio_quarantine_topic(d->id, CORIO_QUARANTINE_CLAIM_DN, d->qsub, sizeof d->qsub);
    if (rc < 0)
        return rc;
    return subscriptions(d);
}

int corio_device_set_key(struct corio_device *d, const struct corio_key *key, uint32_t key_number,
                         const uint8_t *chain, size_t chain_len)
{
    if (!d || !key || !key->ops || key_number < d->key_number)
        return CORIO_ERR_INVAL;
    if (d->auth_mode == CORIO_DEVICE_AUTH_EAT &&
        ((key_number > 0 && (!chain || chain_len == 0)) ||
         (chain && CORIO_EAT_AUTH_SIZE(CORIO_DEVICE_EAT_MAX, chain_len) > CORIO_DEVICE_AUTH_MAX)))
        return CORIO_ERR_INVAL;
    d->key = key;
    d->key_number = key_number;
    d->chain = chain;
    d->chain_len = chain ? chain_len : 0;
    if (d->auth_mode == CORIO_DEVICE_AUTH_SINGLE) {
        if (d->started && !d->connected)
            make_login(d); /* the attempt under way or next uses the new key */
        return CORIO_OK;
    }
    if (d->connected && corio_mqtt_reauthenticate(&d->mqtt) != CORIO_OK)
        d->reauth_due = true; /* one is in flight, or tx is full: again from process */
    return CORIO_OK;
}

int corio_device_start(struct corio_device *d)
{
    if (!d)
        return CORIO_ERR_INVAL;
    if (d->started || d->decommissioned || corio_mqtt_state(&d->mqtt) != CORIO_MQTT_STOPPED)
        return CORIO_ERR_STATE;
    if (d->auth_mode == CORIO_DEVICE_AUTH_SINGLE)
        make_login(d);
    int rc = corio_mqtt_connect(&d->mqtt);
    if (rc == CORIO_OK)
        d->started = true;
    return rc;
}

int corio_device_stop(struct corio_device *d)
{
    if (!d)
        return CORIO_ERR_INVAL;
    if (!d->started)
        return CORIO_ERR_STATE;
    return corio_mqtt_disconnect(&d->mqtt, 0);
}

int corio_device_process(struct corio_device *d)
{
    if (!d)
        return CORIO_ERR_INVAL;
    corio__dev_tick(d);
    (void)corio_mqtt_process(&d->mqtt);
    if (d->connected && d->subs_due)
        follow_status(d);
    if (d->connected && d->reauth_due && corio_mqtt_reauthenticate(&d->mqtt) == CORIO_OK)
        d->reauth_due = false;
    heartbeat(d);
    corio__dev_pump(d);
    return CORIO_OK;
}

uint32_t corio_device_poll_ms(struct corio_device *d)
{
    if (!d)
        return UINT32_MAX;
    uint32_t w = corio_mqtt_poll_ms(&d->mqtt);
    if (!d->connected)
        return w;
    uint64_t up = corio__dev_tick(d);
    if (d->heartbeat_ms) {
        uint64_t left = d->hb_due || up >= d->next_hb ? 0 : d->next_hb - up;
        if (left < w)
            w = (uint32_t)left;
    }
    if (d->holding) {
        int32_t left = (int32_t)(d->hold_until - now32(d));
        uint32_t l = left < 0 ? 0u : (uint32_t)left;
        if (l < w)
            w = l;
    }
    return w;
}

bool corio_device_want_write(const struct corio_device *d)
{
    return d && corio_mqtt_want_write(&d->mqtt);
}

int corio_device_stats(struct corio_device *d, struct corio_device_stats *st)
{
    if (!d || !st)
        return CORIO_ERR_INVAL;
    struct corio_dev_outbox_stats os;
    int rc = corio_dev_outbox_stats(&d->ob, &os);
    if (rc != CORIO_OK)
        return rc;
    *st = d->st;
    st->connected = d->connected;
    st->quarantined = d->connected && d->quarantined;
    st->has_time = d->has_time;
    st->boot_count = d->store.boot;
    st->uptime_ms = corio__dev_tick(d);
    st->unix_ms = d->has_time ? d->time_base + st->uptime_ms : 0;
    st->epoch = os.epoch;
    st->last_seq = os.last_seq;
    st->pending = os.depth;
    st->drops = os.drops;
    st->inflight = d->n_inflight;
    return CORIO_OK;
}

const char *corio_device_id(const struct corio_device *d)
{
    return d ? d->id : NULL;
}

const char *corio_device_did(const struct corio_device *d)
{
    return d ? d->did_text : NULL;
}
