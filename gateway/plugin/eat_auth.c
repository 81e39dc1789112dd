/*
 * eat_auth.c - MQTT 5 enhanced authentication "corio-eat-v1" in the gateway's broker
 * (DESIGN.md §3; the exchange and its messages: include/corio/eat_auth.h and
 * docs/edge-auth.md).
 *
 * MOSQ_EVT_EXT_AUTH_START (CONNECT, or AUTH 0x19 to re-authenticate): the client id must
 * be a short id; a fresh 32-byte nonce is remembered for this connection and sent in
 * AUTH 0x18. MOSQ_EVT_EXT_AUTH_CONTINUE: the device's answer [1, EAT, chain]. The nonce
 * is taken out first, whatever follows, so it answers one attempt only; nonces are
 * never reused because each comes from the CSPRNG and lives only in its connection's
 * entry, so a token is bound to (DID, nonce) and to that connection. Then:
 *
 *   - the EAT's issuer must be the client id (Mosquitto takes sessions over by client
 *     id: anything else would let one device hijack another's session);
 *   - the key number must not be below the highest this gateway has accepted for the
 *     DID (the state file), nor below the registry's: an old key after a rotation;
 *   - the key: the registry's when the token is signed by its current key; else the
 *     presented chain, verified offline up to the token's key number, with the owner
 *     organisation's key from the registry (orgkey) as the endorser; for a device the
 *     registry does not list, key 0 only (the chain's inception key, which hashes to the
 *     DID) and only while the registry is younger than registry_max_age;
 *   - the token: ES256 (low S), audience = this gateway, nonce = the one issued, firmware
 *     claims present and approved when the device's class lists firmware, assurance not
 *     above the registry record.
 *
 * Success answers with the result [1, status]: admitted (a registered device: its own
 * topics, presence recorded) or quarantined (the quarantine space only, nothing stored;
 * docs/onboarding.md). The DID is then marked as AUTH-capable in the state file, so
 * single-step is refused for it from then on.
 *
 * What Mosquitto 2.0 lets a plugin answer: MOSQ_ERR_AUTH becomes CONNACK 0x87 (Not
 * authorized) and MOSQ_ERR_NOT_SUPPORTED CONNACK 0x8C (Bad authentication method);
 * other errors close the connection without a CONNACK; nothing else can be chosen. A
 * refused re-authentication is answered by Mosquitto 2.0 with a CONNACK 0x87 on the
 * live connection (a protocol error on its part) and the connection is closed. Every
 * refusal is logged with its reason.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#include "corio/did.h"
#include "corio/eat.h"
#include "corio/eat_auth.h"
#include "corio/error.h"
#include "corio/rotation.h"
#include "corio_registry.h"
#include "crypto_openssl.h"
#include "plugin_int.h"

/* A nonce not answered within this time is dropped: the client's connect timeout is
 * far shorter. */
#define NONCE_TTL_MS 60000
/* Authentications in progress at once; beyond it new ones are refused. */
#define MAX_PENDING 65536

struct corio_eat_pending {
    const struct mosquitto *client; /* the connection (compared, never dereferenced) */
    char id[CORIO_SHORT_ID_LEN + 1];
    uint8_t nonce[CORIO_EAT_AUTH_NONCE_LEN];
    int64_t issued_ms;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pending_remove(struct corio_auth *a, size_t i)
{
    a->pending[i] = a->pending[--a->npending];
}

static struct corio_eat_pending *pending_find(struct corio_auth *a, const struct mosquitto *client)
{
    for (size_t i = 0; i < a->npending; i++)
        if (a->pending[i].client == client)
            return &a->pending[i];
    return NULL;
}

/* The entry for a new nonce of client: its old one is replaced (a re-authentication, or
 * a connection object the broker reused). NULL when the table is full. */
static struct corio_eat_pending *pending_new(struct corio_auth *a, const struct mosquitto *client)
{
    struct corio_eat_pending *e = pending_find(a, client);
    if (e)
        return e;
    if (a->npending == MAX_PENDING)
        return NULL;
    if (a->npending == a->cap_pending) {
        size_t cap = a->cap_pending ? a->cap_pending * 2 : 64;
        struct corio_eat_pending *g = realloc(a->pending, cap * sizeof *g);
        if (!g)
            return NULL;
        a->pending = g;
        a->cap_pending = cap;
    }
    e = &a->pending[a->npending++];
    memset(e, 0, sizeof *e);
    e->client = client;
    return e;
}

void corio__eat_auth_tick(struct corio_plugin *p)
{
    struct corio_auth *a = p->auth;
    int64_t now = now_ms();
    for (size_t i = 0; i < a->npending;) {
        if (now - a->pending[i].issued_ms > NONCE_TTL_MS)
            pending_remove(a, i);
        else
            i++;
    }
}

/* What a START is refused for, before any nonce is spent on it; NULL when it may go on. */
static const char *check_start(struct corio_plugin *p, const char *client)
{
    struct corio_auth *a = p->auth;
    if (!client || !corio__valid_short_id(client, strlen(client)))
        return "the client id is not a short id";
    if (corio__service_client(p, client))
        return "the gateway's service logs in with single-step only";
    if (!a->reg)
        return "no registry loaded";
    const struct corio_reg_device *dev = corio_reg_device(a->reg, client);
    if (dev && dev->revoked)
        return "revoked";
    return NULL;
}

static int on_start(int event, void *event_data, void *userdata)
{
    (void)event;
    struct corio_plugin *p = userdata;
    struct mosquitto_evt_extended_auth *ev = event_data;
    const char *client = mosquitto_client_id(ev->client);
    if (!ev->auth_method || strcmp(ev->auth_method, CORIO_EAT_AUTH_METHOD) != 0) {
        char why[96];
        snprintf(why, sizeof why, "unknown authentication method '%.40s'",
                 ev->auth_method ? ev->auth_method : "");
        corio__refused(p, client, "enhanced", why);
        return MOSQ_ERR_NOT_SUPPORTED; /* CONNACK 0x8C */
    }
    const char *why = check_start(p, client);
    struct corio_eat_pending *e = why ? NULL : pending_new(p->auth, ev->client);
    if (!why && !e)
        why = "too many authentications in progress";
    uint8_t *out = why ? NULL : mosquitto_malloc(CORIO_EAT_AUTH_NONCE_LEN);
    if (!why && !out)
        why = "out of memory";
    if (!why && corio_crypto_openssl_ops.random(e->nonce, sizeof e->nonce) != CORIO_OK)
        why = "no random nonce";
    if (why) {
        if (e)
            pending_remove(p->auth, (size_t)(e - p->auth->pending));
        mosquitto_free(out);
        corio__refused(p, client, "corio-eat-v1", why);
        return MOSQ_ERR_AUTH; /* CONNACK 0x87 */
    }
    snprintf(e->id, sizeof e->id, "%s", client);
    e->issued_ms = now_ms();
    memcpy(out, e->nonce, CORIO_EAT_AUTH_NONCE_LEN);
    ev->data_out = out;
    ev->data_out_len = CORIO_EAT_AUTH_NONCE_LEN;
    return MOSQ_ERR_AUTH_CONTINUE;
}

/* The reason a rotation chain was refused, for the log. */
static const char *chain_reason(const char *why, char *buf, size_t cap)
{
    snprintf(buf, cap, "rotation chain refused: %s", why ? why : "does not verify");
    return buf;
}

/*
 * Judges an answer of client `id` to nonce. Returns NULL when accepted (with *status),
 * else the reason. buf holds reasons made up here.
 */
static const char *check_answer(struct corio_plugin *p, const char *id,
                                const uint8_t nonce[CORIO_EAT_AUTH_NONCE_LEN], const uint8_t *data,
                                size_t len, enum corio_eat_auth_status *status, char *buf,
                                size_t cap)
{
    struct corio_auth *a = p->auth;
    if (len > CORIO_EAT_AUTH_MAX) {
        snprintf(buf, cap, "AUTH data of %zu bytes (at most %d)", len, CORIO_EAT_AUTH_MAX);
        return buf;
    }
    struct corio_eat_auth ans;
    int rc = corio_eat_auth_decode(data, len, &ans);
    if (rc == CORIO_ERR_VERSION)
        return "AUTH data of an unknown version";
    if (rc == CORIO_ERR_POLICY)
        return "AUTH data: the EAT is too large";
    if (rc != CORIO_OK)
        return "AUTH data is not a corio-eat-v1 answer [1, EAT, chain]";
    struct corio_eat_claims claims;
    if (corio_eat_decode(ans.eat, ans.eat_len, &claims) != CORIO_OK)
        return "the EAT does not decode (not a Corio EAT)";
    char iss[CORIO_SHORT_ID_LEN + 1];
    if (corio_did_id_format(claims.issuer.id, iss, sizeof iss) < 0 || strcmp(iss, id) != 0)
        return "the EAT's issuer is not the client id";
    if (!a->reg)
        return "no registry loaded";
    const struct corio_reg_device *dev = corio_reg_device(a->reg, id);
    if (dev && dev->revoked)
        return "revoked";

    char did[CORIO_DID_BUF];
    snprintf(did, sizeof did, CORIO_DID_PREFIX "%s", id);
    struct corio_seen seen;
    corio__auth_seen(a, did, &seen);
    if (claims.key_number < seen.key_no) {
        snprintf(buf, cap, "key number %" PRIu32 " goes backwards: key %" PRIu32 " was seen",
                 claims.key_number, seen.key_no);
        return buf;
    }

    /* Resolve the key of the token's key number. */
    struct corio_did subject = claims.issuer;
    subject.has_key = false;
    struct corio_rotation_result chain;
    const uint8_t *pub = NULL;
    const char *why = NULL;
    if (dev && dev->has_key && claims.key_number < dev->key_number) {
        snprintf(buf, cap,
                 "signed by key %" PRIu32 ", an old key after a rotation (the "
                 "registry's is key %" PRIu32 ")",
                 claims.key_number, dev->key_number);
        return buf;
    }
    if (dev && dev->has_key && claims.key_number == dev->key_number) {
        pub = dev->key; /* the registry's word; the chain is not needed */
    } else if (dev) {
        /* A key the registry does not know yet: the chain, endorsed by the owner. */
        const struct corio_reg_org *org = corio_reg_org(a->reg, dev->org);
        if (!org || !org->has_key) {
            snprintf(buf, cap,
                     "key %" PRIu32 " is not the registry's, and the registry holds no "
                     "key of organisation %s to check the rotation chain",
                     claims.key_number, dev->org);
            return buf;
        }
        struct corio_rotation_signer signer = {.pub = org->key, .pub_len = sizeof org->key};
        if (corio_did_id_parse(org->id, CORIO_SHORT_ID_LEN, signer.did.id) != CORIO_OK)
            return "the registry's organisation id does not parse";
        signer.did.has_key = true;
        signer.did.key = org->key_number;
        struct corio_rotation_trust trust = {.signers = &signer, .count = 1, .threshold = 1};
        memcpy(trust.org, signer.did.id, sizeof trust.org);
        if (corio_rotation_chain_verify(&corio_crypto_openssl_ops, &subject, ans.chain,
                                        ans.chain_len, &trust, &chain, &why) != CORIO_OK)
            return chain_reason(why, buf, cap);
        if (chain.key_number != claims.key_number) {
            snprintf(buf, cap,
                     "the rotation chain leads to key %" PRIu32 ", the EAT is signed by "
                     "key %" PRIu32,
                     chain.key_number, claims.key_number);
            return buf;
        }
        pub = chain.pub;
    } else {
        /* Not in the registry: key 0 from the chain's inception key, while the registry
         * is fresh enough to say the device is new rather than revoked or rotated. */
        if (claims.key_number != 0)
            return "not registered, and only key 0 is accepted without the registry";
        int64_t age = corio__registry_age_s(a);
        if (age > a->registry_max_age_s) {
            snprintf(buf, cap,
                     "not registered, and the registry is %" PRId64 " s old (key 0 "
                     "without the registry needs one younger than %" PRId64 " s)",
                     age, a->registry_max_age_s);
            return buf;
        }
        /* No endorser is trusted: a chain with any link is refused. */
        struct corio_rotation_trust trust = {.signers = NULL, .count = 0, .threshold = 1};
        if (corio_rotation_chain_verify(&corio_crypto_openssl_ops, &subject, ans.chain,
                                        ans.chain_len, &trust, &chain, &why) != CORIO_OK)
            return chain_reason(why, buf, cap);
        pub = chain.pub;
    }

    bool firmware_policy = dev && corio_reg_has_firmware(a->reg, dev->cls);
    struct corio_eat_expect expect = {.aud = p->gateway,
                                      .aud_len = strlen(p->gateway),
                                      .nonce = nonce,
                                      .nonce_len = CORIO_EAT_AUTH_NONCE_LEN,
                                      .require_firmware = firmware_policy,
                                      .registered_assurance =
                                          dev ? dev->assurance : CORIO_EAT_REPORTED};
    why = NULL;
    if (corio_eat_verify(&corio_crypto_openssl_ops, ans.eat, ans.eat_len, pub, CORIO_P256_PUB_LEN,
                         &expect, &claims, &why) != CORIO_OK)
        return why ? why : "the EAT does not verify";
    if (firmware_policy && !corio_reg_firmware_ok(a->reg, dev->cls, claims.fw_digest))
        return "firmware not approved for its class";
    if (corio__auth_remember_eat(a, did, claims.key_number) != CORIO_OK)
        return "cannot record the key number";
    *status = dev ? CORIO_EAT_AUTH_ADMITTED : CORIO_EAT_AUTH_QUARANTINED;
    return NULL;
}

static int on_continue(int event, void *event_data, void *userdata)
{
    (void)event;
    struct corio_plugin *p = userdata;
    struct corio_auth *a = p->auth;
    struct mosquitto_evt_extended_auth *ev = event_data; /* auth_method is NULL here */
    const char *client = mosquitto_client_id(ev->client);
    struct corio_eat_pending *e = pending_find(a, ev->client);
    if (!e || !client || strcmp(e->id, client) != 0) {
        if (e)
            pending_remove(a, (size_t)(e - a->pending));
        corio__refused(p, client, "corio-eat-v1", "no nonce was issued to this connection");
        return MOSQ_ERR_AUTH;
    }
    /* The nonce answers this attempt only, whatever its outcome. */
    uint8_t nonce[CORIO_EAT_AUTH_NONCE_LEN];
    memcpy(nonce, e->nonce, sizeof nonce);
    pending_remove(a, (size_t)(e - a->pending));

    enum corio_eat_auth_status status = CORIO_EAT_AUTH_ADMITTED;
    char buf[256];
    const char *why =
        check_answer(p, client, nonce, ev->data_in, ev->data_in_len, &status, buf, sizeof buf);
    uint8_t *out = NULL;
    int n = 0;
    if (!why) {
        out = mosquitto_malloc(8);
        n = out ? corio_eat_auth_result_encode(status, out, 8) : CORIO_ERR_NOSPACE;
        if (n < 0)
            why = "out of memory";
    }
    if (why) {
        mosquitto_free(out);
        corio__refused(p, client, "corio-eat-v1", why);
        return MOSQ_ERR_AUTH;
    }
    p->auth_accepted++;
    if (status == CORIO_EAT_AUTH_ADMITTED) {
        corio__presence_connected(p, ev->client, client);
    } else {
        mosquitto_log_printf(MOSQ_LOG_NOTICE,
                             "corio: %s is not registered: admitted to "
                             "quarantine (corio/v1/q/%s/)",
                             client, client);
    }
    ev->data_out = out;
    ev->data_out_len = (uint16_t)n;
    return MOSQ_ERR_SUCCESS;
}

/* A connection that ends forgets its nonce. */
static int on_disconnect(int event, void *event_data, void *userdata)
{
    (void)event;
    struct corio_plugin *p = userdata;
    struct mosquitto_evt_disconnect *ev = event_data;
    struct corio_eat_pending *e = pending_find(p->auth, ev->client);
    if (e)
        pending_remove(p->auth, (size_t)(e - p->auth->pending));
    return MOSQ_ERR_SUCCESS;
}

int corio__eat_auth_register(struct corio_plugin *p)
{
    int rc = mosquitto_callback_register(p->id, MOSQ_EVT_EXT_AUTH_START, on_start,
                                         CORIO_EAT_AUTH_METHOD, p);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_callback_register(p->id, MOSQ_EVT_EXT_AUTH_CONTINUE, on_continue,
                                         CORIO_EAT_AUTH_METHOD, p);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_callback_register(p->id, MOSQ_EVT_DISCONNECT, on_disconnect, NULL, p);
    return rc;
}

void corio__eat_auth_unregister(struct corio_plugin *p)
{
    mosquitto_callback_unregister(p->id, MOSQ_EVT_EXT_AUTH_START, on_start, NULL);
    mosquitto_callback_unregister(p->id, MOSQ_EVT_EXT_AUTH_CONTINUE, on_continue, NULL);
    mosquitto_callback_unregister(p->id, MOSQ_EVT_DISCONNECT, on_disconnect, NULL);
}

void corio__eat_auth_cleanup(struct corio_plugin *p)
{
    if (!p->auth)
        return;
    free(p->auth->pending);
    p->auth->pending = NULL;
    p->auth->npending = p->auth->cap_pending = 0;
}
