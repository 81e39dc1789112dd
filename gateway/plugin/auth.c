/*
 * auth.c - who may connect to the gateway broker, and what each may do.
 *
 * Single-step authentication (DESIGN.md §3), for clients that cannot answer an MQTT 5
 * AUTH challenge: the client id is the device's short id, the username its DID, and the
 * password an EAT (base64url) addressed to this gateway (aud) with a monotonic counter
 * above the last one this gateway accepted from that DID. The key that signed it must be
 * the device's current key in the registry. The counters live in a small SQLite file of
 * the plugin's, so a restart does not reopen a replay window.
 *
 * Rights: a device publishes only under corio/v1/d/{id}/up/ and subscribes only under
 * corio/v1/d/{id}/dn/. The registry is re-read when its file changes and applied only
 * when its height is above the one held; a device revoked by a new registry is
 * disconnected at once.
 *
 * The service login: the gateway's own programs (corio-gateway's CoAP ingress, later
 * local rules) log in on the loopback listener as the gateway itself. Client id = the
 * gateway's short id, or "<short id>.<role>" for a second local program; username = the
 * gateway's DID; password = an EAT signed by the gateway's current key (its registry
 * entry `gateway <id> ... key= key_no=`) with aud = the gateway's id and a counter above
 * the last one accepted for that DID. The service may publish under corio/v1/d/+/up/ (on
 * behalf of CoAP devices: the message is stored as the device's, and its up/presence as
 * the device's presence record) and corio/v1/d/+/dn/, and subscribe to both. No device
 * can hold those rights: the gateway's id is never a device's, and the service client
 * ids are accepted only with the gateway's key from a loopback address.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include <sqlite3.h>

#include "corio/did.h"
#include "corio/eat.h"
#include "corio/encoding.h"
#include "corio/error.h"
#include "corio_registry.h"
#include "crypto_openssl.h"
#include "plugin_int.h"

struct corio_auth {
    char *registry_path;
    struct corio_reg *reg;
    struct timespec registry_mtime;
    char *state_path;
    sqlite3 *state;
    sqlite3_stmt *get_counter;
    sqlite3_stmt *put_counter;
};

static void refuse_log(const char *client, const char *why)
{
    mosquitto_log_printf(MOSQ_LOG_NOTICE, "corio: refused %s: %s", client ? client : "(no id)",
                         why);
}

/* Loads the registry when its file changed; applies it only when its height is higher. */
static void registry_refresh(struct corio_plugin *p, bool first)
{
    struct corio_auth *a = p->auth;
    struct stat sb;
    if (stat(a->registry_path, &sb) != 0) {
        if (first)
            mosquitto_log_printf(MOSQ_LOG_WARNING, "corio: registry %s: %s; no device can "
                                 "connect until it exists", a->registry_path, strerror(errno));
        return;
    }
    if (!first && sb.st_mtim.tv_sec == a->registry_mtime.tv_sec &&
        sb.st_mtim.tv_nsec == a->registry_mtime.tv_nsec)
        return;
    a->registry_mtime = sb.st_mtim;
    struct corio_reg *next;
    char err[512];
    if (corio_reg_load(a->registry_path, &next, err, sizeof err) != CORIO_OK) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "corio: registry not applied: %s", err);
        return;
    }
    if (a->reg && next->height <= a->reg->height) {
        if (next->height < a->reg->height)
            mosquitto_log_printf(MOSQ_LOG_WARNING, "corio: registry height %" PRIu64
                                 " is below the applied %" PRIu64 ": ignored",
                                 next->height, a->reg->height);
        corio_reg_free(next);
        return;
    }
    struct corio_reg *old = a->reg;
    a->reg = next;
    mosquitto_log_printf(MOSQ_LOG_INFO, "corio: registry height %" PRIu64 " applied: %zu devices",
                         next->height, next->ndevices);
    /* A revoked device that is connected is disconnected at once. */
    for (size_t i = 0; i < next->ndevices; i++) {
        const struct corio_reg_device *d = &next->devices[i];
        if (!d->revoked)
            continue;
        const struct corio_reg_device *was = old ? corio_reg_device(old, d->id) : NULL;
        if (old && (!was || !was->revoked)) {
            mosquitto_kick_client_by_clientid(d->id, false);
            mosquitto_log_printf(MOSQ_LOG_NOTICE, "corio: %s revoked: disconnected", d->id);
        }
    }
    corio_reg_free(old);
}

static int open_state(struct corio_auth *a)
{
    if (sqlite3_open_v2(a->state_path, &a->state,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK)
        return CORIO_ERR_IO;
    sqlite3_busy_timeout(a->state, 5000);
    if (sqlite3_exec(a->state,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                     "CREATE TABLE IF NOT EXISTS counters(did TEXT PRIMARY KEY,"
                     " counter INTEGER NOT NULL, key_no INTEGER NOT NULL) STRICT;",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(a->state, "SELECT counter, key_no FROM counters WHERE did = ?1", -1,
                           &a->get_counter, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(a->state,
                           "INSERT INTO counters(did, counter, key_no) VALUES (?1, ?2, ?3) "
                           "ON CONFLICT(did) DO UPDATE SET counter = excluded.counter, "
                           "key_no = excluded.key_no",
                           -1, &a->put_counter, NULL) != SQLITE_OK)
        return CORIO_ERR_IO;
    return CORIO_OK;
}

static void last_seen(struct corio_auth *a, const char *did, uint64_t *counter, uint32_t *key_no)
{
    *counter = 0;
    *key_no = 0;
    sqlite3_bind_text(a->get_counter, 1, did, -1, SQLITE_STATIC);
    if (sqlite3_step(a->get_counter) == SQLITE_ROW) {
        *counter = (uint64_t)sqlite3_column_int64(a->get_counter, 0);
        *key_no = (uint32_t)sqlite3_column_int64(a->get_counter, 1);
    }
    sqlite3_reset(a->get_counter);
}

static int remember(struct corio_auth *a, const char *did, uint64_t counter, uint32_t key_no)
{
    sqlite3_bind_text(a->put_counter, 1, did, -1, SQLITE_STATIC);
    sqlite3_bind_int64(a->put_counter, 2, (sqlite3_int64)counter);
    sqlite3_bind_int64(a->put_counter, 3, key_no);
    int rc = sqlite3_step(a->put_counter);
    sqlite3_reset(a->put_counter);
    return rc == SQLITE_DONE ? CORIO_OK : CORIO_ERR_IO;
}

/* Decodes a single-step password (base64url of an EAT) into tok; NULL or the reason. */
static const char *password_token(const char *password, uint8_t tok[CORIO_EAT_MAX_SIZE], int *n,
                                  struct corio_eat_claims *claims)
{
    size_t plen = strlen(password);
    if (plen > CORIO_BASE64URL_ENCODED_LEN(CORIO_EAT_MAX_SIZE))
        return "password larger than an EAT";
    *n = corio_base64url_decode(password, plen, tok, CORIO_EAT_MAX_SIZE);
    if (*n <= 0)
        return "the password is not base64url";
    if (corio_eat_decode(tok, (size_t)*n, claims) != CORIO_OK)
        return "the password is not a Corio EAT";
    return NULL;
}

/* Whether client is one of the gateway's service client ids: "<gateway>" or
 * "<gateway>.<role>" with a role of 1 to 32 characters of [a-z0-9_-]. */
static bool service_client(const struct corio_plugin *p, const char *client)
{
    if (!client || strncmp(client, p->gateway, CORIO_SHORT_ID_LEN) != 0)
        return false;
    const char *r = client + CORIO_SHORT_ID_LEN;
    if (*r == '\0')
        return true;
    if (*r++ != '.')
        return false;
    size_t n = strlen(r);
    if (n < 1 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((r[i] >= 'a' && r[i] <= 'z') || (r[i] >= '0' && r[i] <= '9') || r[i] == '_' ||
              r[i] == '-'))
            return false;
    return true;
}

static bool loopback(const char *address)
{
    return address && (strncmp(address, "127.", 4) == 0 || strcmp(address, "::1") == 0 ||
                       strncmp(address, "::ffff:127.", 11) == 0);
}

/* Checks a service login (see the top); returns NULL when accepted, else the reason. */
static const char *check_service(struct corio_plugin *p, const struct mosquitto *client,
                                 const char *username, const char *password)
{
    struct corio_auth *a = p->auth;
    if (!loopback(mosquitto_client_address(client)))
        return "the gateway's service identity is accepted from loopback only";
    if (!username || !password)
        return "no username (DID) or password (EAT)";
    char did[CORIO_DID_BUF];
    snprintf(did, sizeof did, CORIO_DID_PREFIX "%s", p->gateway);
    if (strcmp(username, did) != 0)
        return "the username is not the gateway's DID";
    if (!a->reg)
        return "no registry loaded";
    const struct corio_reg_gateway *gw = corio_reg_gateway(a->reg, p->gateway);
    if (!gw)
        return "the gateway is not in the registry";
    uint8_t tok[CORIO_EAT_MAX_SIZE];
    int n;
    struct corio_eat_claims claims;
    const char *why = password_token(password, tok, &n, &claims);
    if (why)
        return why;
    uint64_t last_counter;
    uint32_t last_key;
    last_seen(a, did, &last_counter, &last_key);
    if (claims.key_number < last_key || claims.key_number < gw->key_number)
        return "signed by an old key (after a rotation)";
    if (claims.key_number != gw->key_number)
        return "signed by a key the registry does not know yet";
    if (!claims.has_counter)
        return "no counter";
    struct corio_eat_expect expect = {
        .aud = p->gateway, .aud_len = strlen(p->gateway), .nonce = NULL,
        .last_counter = last_counter, .require_firmware = false,
        .registered_assurance = CORIO_EAT_REPORTED};
    if (corio_eat_verify(&corio_crypto_openssl_ops, tok, (size_t)n, gw->key, sizeof gw->key,
                         &expect, &claims, &why) != CORIO_OK)
        return why ? why : "the EAT does not verify";
    if (remember(a, did, claims.counter, claims.key_number) != CORIO_OK)
        return "cannot record the counter";
    return NULL;
}

/* Checks a single-step login; returns NULL when accepted, else the reason. */
static const char *check_single_step(struct corio_plugin *p, const char *client,
                                     const char *username, const char *password)
{
    struct corio_auth *a = p->auth;
    if (!client || !corio__valid_short_id(client, strlen(client)))
        return "the client id is not a short id";
    if (!username || !password)
        return "no username (DID) or password (EAT)";
    char did[CORIO_DID_BUF];
    snprintf(did, sizeof did, CORIO_DID_PREFIX "%s", client);
    if (strcmp(username, did) != 0)
        return "the username is not the DID of the client id";
    if (!a->reg)
        return "no registry loaded";
    const struct corio_reg_device *dev = corio_reg_device(a->reg, client);
    if (!dev)
        return "not registered";
    if (dev->revoked)
        return "revoked";
    if (dev->auth == CORIO_REG_AUTH_EAT)
        return "registered as AUTH-capable: single-step refused";
    if (!dev->has_key)
        return "the registry holds no key for it";

    uint8_t tok[CORIO_EAT_MAX_SIZE];
    int n;
    struct corio_eat_claims claims;
    const char *bad = password_token(password, tok, &n, &claims);
    if (bad)
        return bad;
    uint64_t last_counter;
    uint32_t last_key;
    last_seen(a, did, &last_counter, &last_key);
    if (claims.key_number < last_key || claims.key_number < dev->key_number)
        return "signed by an old key (after a rotation)";
    if (claims.key_number != dev->key_number)
        return "signed by a key the registry does not know yet";

    /* A class with released firmware listed must prove what it runs. */
    bool firmware_policy = corio_reg_has_firmware(a->reg, dev->cls);
    struct corio_eat_expect expect = {
        .aud = p->gateway, .aud_len = strlen(p->gateway), .nonce = NULL,
        .last_counter = last_counter, .require_firmware = firmware_policy,
        .registered_assurance = dev->assurance};
    const char *why = NULL;
    if (corio_eat_verify(&corio_crypto_openssl_ops, tok, (size_t)n, dev->key, sizeof dev->key,
                         &expect, &claims, &why) != CORIO_OK)
        return why ? why : "the EAT does not verify";
    if (firmware_policy && !corio_reg_firmware_ok(a->reg, dev->cls, claims.fw_digest))
        return "firmware not approved for its class";
    if (remember(a, did, claims.counter, claims.key_number) != CORIO_OK)
        return "cannot record the counter";
    return NULL;
}

static int on_basic_auth(int event, void *event_data, void *userdata)
{
    (void)event;
    struct corio_plugin *p = userdata;
    struct mosquitto_evt_basic_auth *ev = event_data;
    const char *client = mosquitto_client_id(ev->client);
    bool service = service_client(p, client);
    const char *why = service ? check_service(p, ev->client, ev->username, ev->password)
                              : check_single_step(p, client, ev->username, ev->password);
    if (why) {
        p->auth_refused++;
        refuse_log(client, why);
        return MOSQ_ERR_AUTH;
    }
    p->auth_accepted++;
    if (service)
        mosquitto_log_printf(MOSQ_LOG_INFO, "corio: %s logged in as the gateway's service", client);
    else
        corio__presence_connected(p, ev->client, client);
    return MOSQ_ERR_SUCCESS;
}

/* True when topic (a name or a filter) lies under corio/v1/d/<id>/<dir>/. */
static bool under(const char *topic, const char *id, const char *dir)
{
    char prefix[64];
    int n = snprintf(prefix, sizeof prefix, "corio/v1/d/%s/%s/", id, dir);
    return strncmp(topic, prefix, (size_t)n) == 0 && topic[n] != '\0';
}

/* True when topic lies in a device's up/ or dn/ space: corio/v1/d/<id>/<up|dn>/<rest>,
 * where a filter may name every device with '+'. */
static bool device_space(const char *topic, bool filter)
{
    static const char prefix[] = "corio/v1/d/";
    if (strncmp(topic, prefix, sizeof prefix - 1) != 0)
        return false;
    const char *id = topic + sizeof prefix - 1;
    const char *slash = strchr(id, '/');
    if (!slash)
        return false;
    size_t n = (size_t)(slash - id);
    if (!(corio__valid_short_id(id, n) || (filter && n == 1 && id[0] == '+')))
        return false;
    return (strncmp(slash, "/up/", 4) == 0 || strncmp(slash, "/dn/", 4) == 0) &&
           slash[4] != '\0';
}

/* The service's rights: every device's up/ and dn/, nothing else. */
static bool service_may(int access, const char *topic)
{
    switch (access) {
    case MOSQ_ACL_WRITE:
    case MOSQ_ACL_READ:
        return device_space(topic, false);
    case MOSQ_ACL_SUBSCRIBE:
        return device_space(topic, true);
    case MOSQ_ACL_UNSUBSCRIBE:
        return true;
    }
    return false;
}

const char *corio__service_suffix(struct corio_plugin *p, const struct mosquitto *client,
                                  const char *suffix)
{
    if (strcmp(suffix, "up/presence") == 0 && service_client(p, mosquitto_client_id(client)))
        return "presence";
    return suffix;
}

static int on_acl_check(int event, void *event_data, void *userdata)
{
    (void)event;
    struct corio_plugin *p = userdata;
    struct mosquitto_evt_acl_check *ev = event_data;
    const char *client = mosquitto_client_id(ev->client);
    if (service_client(p, client)) {
        if (service_may(ev->access, ev->topic))
            return MOSQ_ERR_SUCCESS;
        p->acl_denied++;
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "corio: denied the service %s %s on %s", client,
                             ev->access == MOSQ_ACL_WRITE ? "publish" : "subscribe", ev->topic);
        return MOSQ_ERR_ACL_DENIED;
    }
    if (!client || !corio__valid_short_id(client, strlen(client)))
        return MOSQ_ERR_ACL_DENIED;
    switch (ev->access) {
    case MOSQ_ACL_WRITE:
        if (under(ev->topic, client, "up"))
            return MOSQ_ERR_SUCCESS;
        break;
    case MOSQ_ACL_SUBSCRIBE:
    case MOSQ_ACL_READ:
        if (under(ev->topic, client, "dn"))
            return MOSQ_ERR_SUCCESS;
        break;
    case MOSQ_ACL_UNSUBSCRIBE:
        return MOSQ_ERR_SUCCESS;
    }
    p->acl_denied++;
    mosquitto_log_printf(MOSQ_LOG_NOTICE, "corio: denied %s %s on %s", client,
                         ev->access == MOSQ_ACL_WRITE ? "publish" : "subscribe", ev->topic);
    return MOSQ_ERR_ACL_DENIED;
}

void corio__auth_tick(struct corio_plugin *p)
{
    registry_refresh(p, false);
}

int corio__auth_init(struct corio_plugin *p, const char *registry, const char *state)
{
    struct corio_auth *a = calloc(1, sizeof *a);
    if (!a)
        return CORIO_ERR_NOSPACE;
    p->auth = a;
    a->registry_path = strdup(registry);
    a->state_path = strdup(state);
    if (!a->registry_path || !a->state_path)
        return CORIO_ERR_NOSPACE;
    if (open_state(a) != CORIO_OK) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "corio: %s: %s", state,
                             a->state ? sqlite3_errmsg(a->state) : "cannot open");
        return CORIO_ERR_IO;
    }
    registry_refresh(p, true);
    return CORIO_OK;
}

int corio__auth_register(struct corio_plugin *p)
{
    int rc = mosquitto_callback_register(p->id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL, p);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_callback_register(p->id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL, p);
    return rc;
}

void corio__auth_unregister(struct corio_plugin *p)
{
    mosquitto_callback_unregister(p->id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL);
    mosquitto_callback_unregister(p->id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL);
}

void corio__auth_cleanup(struct corio_plugin *p)
{
    struct corio_auth *a = p->auth;
    if (!a)
        return;
    sqlite3_finalize(a->get_counter);
    sqlite3_finalize(a->put_counter);
    sqlite3_close(a->state);
    corio_reg_free(a->reg);
    free(a->registry_path);
    free(a->state_path);
    free(a);
    p->auth = NULL;
}
