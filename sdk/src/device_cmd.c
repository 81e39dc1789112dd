/*
 * device_cmd.c - the device's side of the downlink (include/corio/device.h): commands
 * from dn/cmd run by the application's handlers, desired configuration from dn/cfg
 * given to on_config, decommissioning, and the answers (up/res, up/cfg) appended to
 * the outbox, so that an answer survives a lost connection or a reboot like a pack.
 *
 * Delivery is at least once: the gateway and the cloud send a command again until its
 * result comes back. A ring of the last CORIO_DEVICE_CMD_RING correlation ids with their
 * answers makes a repeated delivery cheap and harmless: it is answered again from the
 * ring (a new outbox entry, the same status, error and result) and never runs twice.
 * The ring is RAM, so a reboot forgets it; docs/sdk-device.md says what that means.
 *
 * An answer takes the next outbox seq, which an open pack has already claimed for
 * itself (device_sample.c): while the application holds a pack open, dn/cmd and dn/cfg
 * are refused (PUBACK 0x80 under MQTT 5) and counted; the gateway delivers them again.
 * Answers are built in the msg buffer (idle whenever a callback runs: the publishing
 * loop reads entries into it only within one call); a handler's reported configuration
 * is written into the pack buffer, idle while no pack is open.
 */
#include <string.h>

#include "corio/cbor.h"
#include "device_int.h"

#define REASON_DEFERRED  0x80 /* unspecified error: take it again later */
#define REASON_MALFORMED 0x99 /* payload format invalid */

static const char decommission_name[] = "decommission";

/* Appends an answer of the given topic kind, built by the caller in d->msg[0..n),
 * whose identity names seq = d->next_seq. Returns CORIO_OK or the append's error. */
static int append_answer(struct corio_device *d, uint8_t type, size_t n, uint32_t *seq_out)
{
    uint64_t up = corio__dev_tick(d);
    struct corio_dev_outbox_meta m;
    memset(&m, 0, sizeof m);
    m.type = type;
    m.boot_count = d->store.boot;
    if (d->has_time) {
        m.time_kind = CORIO_DEV_OUTBOX_TIME_UNIX_MS;
        m.time_ms = d->time_base + up;
    } else {
        m.time_kind = CORIO_DEV_OUTBOX_TIME_UPTIME_MS;
        m.time_ms = up;
    }
    uint32_t want = d->next_seq, s;
    int rc = corio_dev_outbox_append(&d->ob, &m, d->msg, n, &s);
    if (rc != CORIO_OK) {
        struct corio_dev_outbox_stats os;
        if (corio_dev_outbox_stats(&d->ob, &os) == CORIO_OK)
            d->next_seq = os.last_seq + 1u; /* a failed append may have used a seq up */
        return rc;
    }
    d->next_seq = s + 1u;
    if (s != want) {
        /* As in corio_device_commit(): an entry whose payload names another seq never
         * leaves the device. */
        (void)corio_dev_outbox_ack(&d->ob, s);
        return CORIO_ERR_STATE;
    }
    if (seq_out)
        *seq_out = s;
    return CORIO_OK;
}

static bool seq_available(const struct corio_device *d)
{
    return d->next_seq != 0 && d->next_seq <= CORIO_DEV_OUTBOX_SEQ_MAX;
}

/* The largest answer this device can store and send. */
static size_t answer_cap(const struct corio_device *d)
{
    size_t cap = corio_dev_outbox_max_payload(&d->ob);
    return cap < d->msg_len ? cap : d->msg_len;
}

/* Answers a command from its slot: up/res with this message's outbox identity. */
static int answer_command(struct corio_device *d, const struct corio_device_cmd_slot *s,
                          uint32_t *seq_out)
{
    if (!seq_available(d))
        return CORIO_ERR_FULL;
    struct corio_cmd_result r;
    memset(&r, 0, sizeof r);
    r.has_id = true;
    r.epoch = d->epoch;
    r.seq = d->next_seq;
    r.cid = s->cid;
    r.cid_len = s->cid_len;
    r.status = s->status;
    r.err = s->err;
    r.res = s->res_len ? s->res : NULL;
    r.res_len = s->res_len;
    int n = corio_cmd_result_encode(&r, d->msg, answer_cap(d));
    if (n < 0)
        return n;
    return append_answer(d, CORIO_TOPIC_UP_RES, (size_t)n, seq_out);
}

static struct corio_device_cmd_slot *ring_find(struct corio_device *d, const uint8_t *cid, size_t n)
{
    for (size_t i = 0; i < CORIO_DEVICE_CMD_RING; i++) {
        struct corio_device_cmd_slot *s = &d->ring[i];
        if (s->cid_len == n && memcmp(s->cid, cid, n) == 0)
            return s;
    }
    return NULL;
}

static bool name_is(const struct corio_cmd *c, const char *name)
{
    size_t n = strlen(name);
    return c->name_len == n && memcmp(c->name, name, n) == 0;
}

static const struct corio_device_command *handler_for(const struct corio_device *d,
                                                      const struct corio_cmd *c)
{
    for (size_t i = 0; i < d->ncommands; i++)
        if (d->commands[i].name && name_is(c, d->commands[i].name))
            return &d->commands[i];
    return NULL;
}

/* Runs the command (or decides not to) and records the outcome in s. Returns true for
 * an accepted decommission. */
static bool execute(struct corio_device *d, const struct corio_cmd *c,
                    struct corio_device_cmd_slot *s)
{
    s->status = CORIO_CMD_DONE;
    s->err = CORIO_OK;
    s->res_len = 0;
    if (d->has_time && d->time_base + corio__dev_tick(d) > c->exp_ms) {
        s->status = CORIO_CMD_EXPIRED;
        return false;
    }
    if (name_is(c, decommission_name)) {
        if (!d->cb.on_decommission) {
            s->status = CORIO_CMD_UNKNOWN;
            return false;
        }
        return true;
    }
    const struct corio_device_command *h = handler_for(d, c);
    if (!h || !h->run) {
        s->status = CORIO_CMD_UNKNOWN;
        return false;
    }
    struct corio_cbor_enc e;
    corio_cbor_enc_init(&e, s->res, sizeof s->res);
    int rc = h->run(d->app, c, &e);
    size_t n = corio_cbor_enc_len(&e);
    if (rc != CORIO_OK) {
        s->status = CORIO_CMD_FAILED;
        s->err = rc < 0 ? (int32_t)rc : CORIO_ERR_INVAL;
    } else if (corio_cbor_enc_error(&e) != CORIO_OK ||
               (n && corio_cbor_wellformed(s->res, n) != CORIO_OK)) {
        /* A result that does not fit, or is not one item, is not sent half. */
        s->status = CORIO_CMD_FAILED;
        s->err = corio_cbor_enc_error(&e) != CORIO_OK ? corio_cbor_enc_error(&e) : CORIO_ERR_INVAL;
    } else {
        s->res_len = (uint8_t)n;
    }
    if (s->status != CORIO_CMD_DONE)
        s->res_len = 0;
    return false;
}

uint8_t corio__dev_command(struct corio_device *d, const uint8_t *payload, size_t len)
{
    if (d->pack_open) {
        d->st.deferred++;
        return REASON_DEFERRED;
    }
    struct corio_cmd c;
    if (corio_cmd_decode(payload, len, &c) != CORIO_OK) {
        d->st.malformed++;
        return REASON_MALFORMED;
    }
    struct corio_device_cmd_slot *s = ring_find(d, c.cid, c.cid_len);
    if (s) {
        d->st.duplicates++;
        if (answer_command(d, s, NULL) != CORIO_OK) {
            d->st.unanswered++;
            return REASON_DEFERRED;
        }
        corio__dev_pump(d);
        return 0;
    }
    /* The oldest slot makes room; it is filled before anything runs, so a handler that
     * calls back into the device never finds the ring half-written. */
    s = &d->ring[d->ring_next];
    d->ring_next = (uint8_t)((d->ring_next + 1u) % CORIO_DEVICE_CMD_RING);
    memset(s, 0, sizeof *s);
    memcpy(s->cid, c.cid, c.cid_len);
    s->cid_len = (uint8_t)c.cid_len;
    bool decommission = execute(d, &c, s);
    d->st.commands++;
    uint32_t seq = 0;
    int rc = answer_command(d, s, &seq);
    if (rc != CORIO_OK)
        d->st.unanswered++;
    if (decommission && rc == CORIO_OK) {
        /* The answer is on flash: now the keys go, and this connection is the last. */
        d->decommissioned = true;
        d->decom_seq = seq;
        d->cb.on_decommission(d->app);
    } else if (decommission) {
        /* Not answered: forget it, so that the next delivery tries again. */
        memset(s, 0, sizeof *s);
    }
    if (rc != CORIO_OK)
        return REASON_DEFERRED;
    corio__dev_pump(d);
    return 0;
}

/* Encodes and appends an up/cfg answer. */
static int report(struct corio_device *d, uint64_t version, uint8_t status, int32_t err,
                  const uint8_t *cfg, size_t cfg_len)
{
    if (!seq_available(d))
        return CORIO_ERR_FULL;
    struct corio_cfg_reported r;
    memset(&r, 0, sizeof r);
    r.has_id = true;
    r.epoch = d->epoch;
    r.seq = d->next_seq;
    r.version = version;
    r.status = status;
    r.err = err;
    r.cfg = cfg_len ? cfg : NULL;
    r.cfg_len = cfg_len;
    int n = corio_cfg_reported_encode(&r, d->msg, answer_cap(d));
    if (n < 0)
        return n == CORIO_ERR_INVAL ? CORIO_ERR_INVAL : CORIO_ERR_NOSPACE;
    int rc = append_answer(d, CORIO_TOPIC_UP_CFG, (size_t)n, NULL);
    if (rc == CORIO_OK)
        corio__dev_pump(d);
    return rc;
}

uint8_t corio__dev_config(struct corio_device *d, const uint8_t *payload, size_t len)
{
    if (d->pack_open) {
        d->st.deferred++;
        return REASON_DEFERRED;
    }
    struct corio_cfg_desired c;
    if (corio_cfg_desired_decode(payload, len, &c) != CORIO_OK) {
        d->st.malformed++;
        return REASON_MALFORMED;
    }
    if (d->cfg_taken && c.version < d->cfg_version)
        return 0; /* an old one, delivered late */
    uint8_t status = CORIO_CFG_APPLIED;
    int32_t err = CORIO_OK;
    const uint8_t *cfg = c.cfg;
    size_t cfg_len = c.cfg_len;
    if (!d->cb.on_config) {
        status = CORIO_CFG_REFUSED;
        err = CORIO_ERR_UNSUPPORTED;
    } else {
        struct corio_cbor_enc e;
        corio_cbor_enc_init(&e, d->pack, d->pack_len);
        int rc = d->cb.on_config(d->app, c.version, c.cfg, c.cfg_len, &e);
        size_t n = corio_cbor_enc_len(&e);
        if (rc != CORIO_OK) {
            status = CORIO_CFG_REFUSED;
            err = rc < 0 ? (int32_t)rc : CORIO_ERR_INVAL;
        }
        if (n && corio_cbor_enc_error(&e) == CORIO_OK &&
            corio_cbor_wellformed(d->pack, n) == CORIO_OK && (d->pack[0] >> 5) == 5) {
            cfg = d->pack;
            cfg_len = n;
        } else if (status == CORIO_CFG_REFUSED) {
            cfg = NULL;
            cfg_len = 0;
        }
    }
    d->cfg_taken = true;
    d->cfg_version = c.version;
    d->st.configs++;
    int rc = report(d, c.version, status, err, cfg, cfg_len);
    if (rc == CORIO_ERR_NOSPACE && cfg_len) {
        /* Too large to report whole: say what was decided, without the map. */
        rc = report(d, c.version, status, err, NULL, 0);
    }
    if (rc != CORIO_OK) {
        d->st.unanswered++;
        return REASON_DEFERRED;
    }
    return 0;
}

int corio_device_report_config(struct corio_device *d, const uint8_t *cfg, size_t len)
{
    if (!d || !cfg || !len || corio_cbor_wellformed(cfg, len) != CORIO_OK || (cfg[0] >> 5) != 5)
        return CORIO_ERR_INVAL;
    if (d->pack_open)
        return CORIO_ERR_STATE;
    return report(d, d->cfg_taken ? d->cfg_version : 0, CORIO_CFG_APPLIED, CORIO_OK, cfg, len);
}

void corio__dev_answer_acked(struct corio_device *d, uint32_t seq)
{
    if (d->decommissioned && seq == d->decom_seq && d->started)
        (void)corio_mqtt_disconnect(&d->mqtt, 0);
}
