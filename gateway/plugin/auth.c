/*
 * auth.c - who may connect to the gateway broker, and what each may do.
 *
 * MQTT 5 enhanced authentication (corio-eat-v1) is eat_auth.c; this file holds what both
 * ways of logging in share (the registry, the state file) and the rest.
 *
 * Single-step authentication (DESIGN.md §3), for clients that cannot answer an MQTT 5
 * AUTH challenge: the client id is the device's short id, the username its DID, and the
 * password an EAT (base64url) addressed to this gateway (aud) with a monotonic counter
 * above the last one this gateway accepted from that DID. The key that signed it must be
 * the device's current key in the registry. The counters live in a small SQLite file of
 * the plugin's, so a restart does not reopen a replay window. A DID that has logged in
 * with corio-eat-v1 once, or that the registry lists as auth=eat, is refused
 * single-step: it can answer the challenge, and a token without a nonce could be one
 * it made earlier.
 *
 * Rights: a registered device publishes only under corio/v1/d/{id}/up/ and subscribes
 * only under corio/v1/d/{id}/dn/; a device the registry does not list (admitted to
 * quarantine by eat_auth.c) only under corio/v1/q/{id}/up/ and corio/v1/q/{id}/dn/;
 * a revoked one nothing. The registry is re-read when its file changes and applied only
 * when its height is above the one held; a device whose standing changes with a new
 * height (revoked, newly registered, removed, a newer key) is disconnected at once,
 * so that its next login is judged by the new registry.
 *
 * The service login: the gateway's own programs (corio-gateway's CoAP ingress and
 * local rules) log in on the loopback listener as the gateway itself. Client id = the
 * gateway's short id, or "<short id>.<role>" for a second local program; username = the
 * gateway's DID; password = an EAT signed by the gateway's current key (its registry
 * entry `gateway <id> ... key= key_no=`) with aud = the gateway's id and a counter above
 * the last one accepted for that DID. The service may publish under corio/v1/d/+/up/ (on
 * behalf of CoAP devices: the message is stored as the device's, and its up/presence as
 * the device's presence record) and corio/v1/d/+/dn/, and subscribe to both; it may also
 * publish the gateway's own records on corio/v1/g/<gateway>/up/<suffix>, which the
 * plugin stores with device '' and that suffix (local rules' events); in the quarantine
 * space it may publish under corio/v1/q/+/dn/ and read corio/v1/q/+/up/ (claims,
 * docs/onboarding.md). No device
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

void corio__refused(struct corio_plugin *p, const char *client, const char *how, const char *why)
{
    p->auth_refused++;
    mosquitto_log_printf(MOSQ_LOG_NOTICE, "corio: refused %s (%s): %s", client ? client : "(no id)",
                         how, why);
}

int64_t corio__registry_age_s(const struct corio_auth *a)
{
    if (!a->reg)
        return INT64_MAX;
    int64_t now = corio__wall_ms() / 1000;
    return now > a->registry_applied_s ? now - a->registry_applied_s : 0;
}

/* Disconnects a device whose standing changed with a new registry, so that its next
 * login is judged by it. */
static void kick(const char *id, const char *why)
{
    mosquitto_kick_client_by_clientid(id, false);
    mosquitto_log_printf(MOSQ_LOG_NOTICE, "corio: %s %s: disconnected if connected", id, why);
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
    int64_t now = corio__wall_ms() / 1000;
    a->registry_applied_s = sb.st_mtim.tv_sec < now ? (int64_t)sb.st_mtim.tv_sec : now;
    mosquitto_log_printf(MOSQ_LOG_INFO, "corio: registry height %" PRIu64 " applied: %zu devices",
                         next->height, next->ndevices);
    if (!old)
        return; /* the first registry: nobody could log in before it */
    /* A device whose standing changed is disconnected at once: revoked; newly listed (a
     * claimed device leaves quarantine by logging in again); a newer key (whoever holds
     * the old one must go). */
    for (size_t i = 0; i < next->ndevices; i++) {
        const struct corio_reg_device *d = &next->devices[i];
        const struct corio_reg_device *was = corio_reg_device(old, d->id);
        if (d->revoked) {
            if (!was || !was->revoked)
                kick(d->id, "revoked");
        } else if (!was) {
            kick(d->id, "registered (leaves quarantine)");
        } else if (d->key_number > was->key_number) {
            kick(d->id, "rotated to a newer key");
        }
    }
    for (size_t i = 0; i < old->ndevices; i++)
        if (!corio_reg_device(next, old->devices[i].id))
            kick(old->devices[i].id, "no longer in the registry");
    corio_reg_free(old);
}

/* The state file, schema version 1: per DID the highest single-step counter, the highest
 * key number and whether it used corio-eat-v1 (version 0 lacked the last column). */
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
                     NULL, NULL, NULL) != SQLITE_OK)
        return CORIO_ERR_IO;
    sqlite3_stmt *v;
    int version = -1;
    if (sqlite3_prepare_v2(a->state, "PRAGMA user_version", -1, &v, NULL) == SQLITE_OK &&
        sqlite3_step(v) == SQLITE_ROW)
        version = sqlite3_column_int(v, 0);
    sqlite3_finalize(v);
    if (version < 0)
        return CORIO_ERR_IO;
    if (version < 1 &&
        sqlite3_exec(a->state,
                     "BEGIN; ALTER TABLE counters ADD COLUMN eat INTEGER NOT NULL DEFAULT 0;"
                     " PRAGMA user_version = 1; COMMIT;",
                     NULL, NULL, NULL) != SQLITE_OK) {
        sqlite3_exec(a->state, "ROLLBACK", NULL, NULL, NULL);
        return CORIO_ERR_IO;
    }
    if (sqlite3_prepare_v2(a->state, "SELECT counter, key_no, eat FROM counters WHERE did = ?1", -1,
                           &a->get_counter, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(a->state,
                           "INSERT INTO counters(did, counter, key_no) VALUES (?1, ?2, ?3) "
                           "ON CONFLICT(did) DO UPDATE SET counter = excluded.counter, "
                           "key_no = excluded.key_no",
                           -1, &a->put_counter, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(a->state,
                           "INSERT INTO counters(did, counter, key_no, eat) VALUES (?1, 0, ?2, 1) "
                           "ON CONFLICT(did) DO UPDATE SET key_no = max(key_no, excluded.key_no), "
                           "eat = 1",
                           -1, &a->put_eat, NULL) != SQLITE_OK)
        return CORIO_ERR_IO;
    return CORIO_OK;
}

void corio__auth_seen(struct corio_auth *a, const char *did, struct corio_seen *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_bind_text(a->get_counter, 1, did, -1, SQLITE_STATIC);
    if (sqlite3_step(a->get_counter) == SQLITE_ROW) {
        out->counter = (uint64_t)sqlite3_column_int64(a->get_counter, 0);
        out->key_no = (uint32_t)sqlite3_column_int64(a->get_counter, 1);
        out->eat = sqlite3_column_int(a->get_counter, 2) != 0;
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

int corio__auth_remember_eat(struct corio_auth *a, const char *did, uint32_t key_no)
{
    sqlite3_bind_text(a->put_eat, 1, did, -1, SQLITE_STATIC);
    sqlite3_bind_int64(a->put_eat, 2, key_no);
    int rc = sqlite3_step(a->put_eat);
    sqlite3_reset(a->put_eat);
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
bool corio__service_client(const struct corio_plugin *p, const char *client)
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
    struct corio_seen seen;
    corio__auth_seen(a, did, &seen);
    if (claims.key_number < seen.key_no || claims.key_number < gw->key_number)
        return "signed by an old key (after a rotation)";
    if (claims.key_number != gw->key_number)
        return "signed by a key the registry does not know yet";
    if (!claims.has_counter)
        return "no counter";
    struct corio_eat_expect expect = {.aud = p->gateway,
                                      .aud_len = strlen(p->gateway),
                                      .nonce = NULL,
                                      .last_counter = seen.counter,
                                      .require_firmware = false,
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
    struct corio_seen seen;
    corio__auth_seen(a, did, &seen);
    if (seen.eat)
        return "has logged in with corio-eat-v1 before: single-step refused";
    if (claims.key_number < seen.key_no || claims.key_number < dev->key_number)
        return "signed by an old key (after a rotation)";
    if (claims.key_number != dev->key_number)
        return "signed by a key the registry does not know yet";

    /* A class with released firmware listed must prove what it runs. */
    bool firmware_policy = corio_reg_has_firmware(a->reg, dev->cls);
    struct corio_eat_expect expect = {.aud = p->gateway,
                                      .aud_len = strlen(p->gateway),
                                      .nonce = NULL,
                                      .last_counter = seen.counter,
                                      .require_firmware = firmware_policy,
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
    bool service = corio__service_client(p, client);
    const char *why = service ? check_service(p, ev->client, ev->username, ev->password)
                              : check_single_step(p, client, ev->username, ev->password);
    if (why) {
        corio__refused(p, client, service ? "service login" : "single-step", why);
        return MOSQ_ERR_AUTH;
    }
    p->auth_accepted++;
    if (service)
        mosquitto_log_printf(MOSQ_LOG_INFO, "corio: %s logged in as the gateway's service", client);
    else
        corio__presence_connected(p, ev->client, client);
    return MOSQ_ERR_SUCCESS;
}

/* True when topic (a name or a filter) lies under corio/v1/<space>/<id>/<dir>/, space "d"
 * (a registered device's) or "q" (quarantine). */
static bool under(const char *topic, const char *space, const char *id, const char *dir)
{
    char prefix[64];
    int n = snprintf(prefix, sizeof prefix, "corio/v1/%s/%s/%s/", space, id, dir);
    return strncmp(topic, prefix, (size_t)n) == 0 && topic[n] != '\0';
}

/* True when topic lies in a device's space: corio/v1/<space>/<id>/<dir>/<rest>, where a
 * filter may name every device with '+'; dir NULL allows up/ and dn/. */
static bool device_space(const char *topic, char space, const char *dir, bool filter)
{
    char prefix[16];
    int pn = snprintf(prefix, sizeof prefix, "corio/v1/%c/", space);
    if (strncmp(topic, prefix, (size_t)pn) != 0)
        return false;
    const char *id = topic + pn;
    const char *slash = strchr(id, '/');
    if (!slash)
        return false;
    size_t n = (size_t)(slash - id);
    if (!(corio__valid_short_id(id, n) || (filter && n == 1 && id[0] == '+')))
        return false;
    bool up = strncmp(slash, "/up/", 4) == 0, dn = strncmp(slash, "/dn/", 4) == 0;
    if (dir ? !(strcmp(dir, "up") == 0 ? up : dn) : !(up || dn))
        return false;
    return slash[4] != '\0';
}

/* True when topic is corio/v1/g/<this gateway>/up/<suffix>: the gateway's own records. */
static bool gateway_up(const struct corio_plugin *p, const char *topic)
{
    char prefix[64];
    int n = snprintf(prefix, sizeof prefix, "corio/v1/g/%s/up/", p->gateway);
    return strncmp(topic, prefix, (size_t)n) == 0 && topic[n] != '\0';
}

/* The service's rights: every device's up/ and dn/; publishing the gateway's own
 * records; in quarantine, publishing claims to dn/ and reading answers from up/.
 * Nothing else. */
static bool service_may(const struct corio_plugin *p, int access, const char *topic)
{
    switch (access) {
    case MOSQ_ACL_WRITE:
        return device_space(topic, 'd', NULL, false) || device_space(topic, 'q', "dn", false) ||
               gateway_up(p, topic);
    case MOSQ_ACL_READ:
        return device_space(topic, 'd', NULL, false) || device_space(topic, 'q', "up", false);
    case MOSQ_ACL_SUBSCRIBE:
        return device_space(topic, 'd', NULL, true) || device_space(topic, 'q', "up", true);
    case MOSQ_ACL_UNSUBSCRIBE:
        return true;
    }
    return false;
}

const char *corio__service_suffix(struct corio_plugin *p, const struct mosquitto *client,
                                  const char *suffix)
{
    if (strcmp(suffix, "up/presence") == 0 && corio__service_client(p, mosquitto_client_id(client)))
        return "presence";
    return suffix;
}

bool corio__is_service(const struct corio_plugin *p, const struct mosquitto *client)
{
    return corio__service_client(p, mosquitto_client_id(client));
}

static int on_acl_check(int event, void *event_data, void *userdata)
{
    (void)event;
    struct corio_plugin *p = userdata;
    struct mosquitto_evt_acl_check *ev = event_data;
    const char *client = mosquitto_client_id(ev->client);
    if (corio__service_client(p, client)) {
        if (service_may(p, ev->access, ev->topic))
            return MOSQ_ERR_SUCCESS;
        p->acl_denied++;
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "corio: denied the service %s %s on %s", client,
                             ev->access == MOSQ_ACL_WRITE ? "publish" : "subscribe", ev->topic);
        return MOSQ_ERR_ACL_DENIED;
    }
    if (!client || !corio__valid_short_id(client, strlen(client)))
        return MOSQ_ERR_ACL_DENIED;
    /* The registry decides the space: a device it lists has its own topics, one it does
     * not list was admitted to quarantine (only corio-eat-v1 admits such a device), a
     * revoked one has nothing. A change of standing disconnects the device
     * (registry_refresh), so a connection never outlives the rights it logged in with. */
    const struct corio_reg_device *dev =
        p->auth->reg ? corio_reg_device(p->auth->reg, client) : NULL;
    const char *space = dev ? "d" : "q";
    if (!dev || !dev->revoked) {
        switch (ev->access) {
        case MOSQ_ACL_WRITE:
            if (under(ev->topic, space, client, "up"))
                return MOSQ_ERR_SUCCESS;
            break;
        case MOSQ_ACL_SUBSCRIBE:
        case MOSQ_ACL_READ:
            if (under(ev->topic, space, client, "dn"))
                return MOSQ_ERR_SUCCESS;
            break;
        case MOSQ_ACL_UNSUBSCRIBE:
            return MOSQ_ERR_SUCCESS;
        }
    }
    p->acl_denied++;
    mosquitto_log_printf(MOSQ_LOG_NOTICE, "corio: denied %s%s %s on %s", client,
                         !dev           ? " (quarantined)"
                         : dev->revoked ? " (revoked)"
                                        : "",
                         ev->access == MOSQ_ACL_WRITE ? "publish" : "subscribe", ev->topic);
    return MOSQ_ERR_ACL_DENIED;
}

void corio__auth_tick(struct corio_plugin *p)
{
    registry_refresh(p, false);
    corio__eat_auth_tick(p);
}

int corio__auth_init(struct corio_plugin *p, const char *registry, const char *state,
                     int64_t registry_max_age_s)
{
    struct corio_auth *a = calloc(1, sizeof *a);
    if (!a)
        return CORIO_ERR_NOSPACE;
    p->auth = a;
    a->registry_max_age_s = registry_max_age_s;
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
    if (rc == MOSQ_ERR_SUCCESS)
        rc = corio__eat_auth_register(p);
    return rc;
}

void corio__auth_unregister(struct corio_plugin *p)
{
    mosquitto_callback_unregister(p->id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL);
    mosquitto_callback_unregister(p->id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL);
    corio__eat_auth_unregister(p);
}

void corio__auth_cleanup(struct corio_plugin *p)
{
    struct corio_auth *a = p->auth;
    if (!a)
        return;
    corio__eat_auth_cleanup(p);
    sqlite3_finalize(a->get_counter);
    sqlite3_finalize(a->put_counter);
    sqlite3_finalize(a->put_eat);
    sqlite3_close(a->state);
    corio_reg_free(a->reg);
    free(a->registry_path);
    free(a->state_path);
    free(a);
    p->auth = NULL;
}
