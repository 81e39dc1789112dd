/*
 * presence.c - which devices are connected to this gateway.
 *
 * Mosquitto 2.0 gives plugins no connect event, and a retained last will races with
 * session takeover (the new connection authenticates before the old one is closed). So
 * presence is a counter per device: +1 when a connection of the device authenticates,
 * −1 when that same connection (by its struct mosquitto pointer) disconnects. A device
 * is online while its counter is above zero; each change between offline and online is
 * written into the outbox as a "presence" record, so it reaches the cloud in order with
 * the device's messages.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>

#include "corio/error.h"
#include "devtable.h"
#include "plugin_int.h"

struct conn_slot {
    const struct mosquitto *client; /* NULL: empty; TOMBSTONE: deleted */
    char device[CORIO_SHORT_ID_LEN + 1];
};

struct device_slot {
    char device[CORIO_SHORT_ID_LEN + 1]; /* "" when empty; never deleted */
    uint32_t connections;
};

struct corio_presence_table {
    struct conn_slot *conns;
    size_t conn_cap, conn_used; /* used counts tombstones too */
    struct corio_devtable devices; /* of struct device_slot */
    uint64_t online; /* devices with connections > 0 */
};

static const struct mosquitto *const TOMBSTONE = (const struct mosquitto *)1;

static size_t hash_ptr(const void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x;
}

static int grow_conns(struct corio_presence_table *t)
{
    size_t cap = t->conn_cap ? t->conn_cap * 2 : 256;
    struct conn_slot *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return CORIO_ERR_NOSPACE;
    size_t used = 0;
    for (size_t i = 0; i < t->conn_cap; i++) {
        const struct conn_slot *s = &t->conns[i];
        if (!s->client || s->client == TOMBSTONE)
            continue;
        size_t j = hash_ptr(s->client) & (cap - 1);
        while (slots[j].client)
            j = (j + 1) & (cap - 1);
        slots[j] = *s;
        used++;
    }
    free(t->conns);
    t->conns = slots;
    t->conn_cap = cap;
    t->conn_used = used;
    return CORIO_OK;
}

static struct device_slot *device_slot(struct corio_presence_table *t, const char *device)
{
    bool added;
    return corio_devtable_get(&t->devices, device, &added);
}

static void record(struct corio_plugin *p, const char *device, bool online, uint32_t count)
{
    char payload[96];
    int n = snprintf(payload, sizeof payload, "{\"online\":%s,\"connections\":%" PRIu32 "}",
                     online ? "true" : "false", count);
    if (corio__store(p, device, "presence", 0, 0, payload, (size_t)n) != CORIO_OK)
        mosquitto_log_printf(MOSQ_LOG_WARNING, "corio: presence of %s (%s) not recorded",
                             device, online ? "online" : "offline");
}

void corio__presence_connected(struct corio_plugin *p, const struct mosquitto *client,
                               const char *device)
{
    struct corio_presence_table *t = p->presence;
    if ((t->conn_used + 1) * 10 > t->conn_cap * 7 && grow_conns(t) != CORIO_OK)
        goto nomem;
    size_t j = hash_ptr(client) & (t->conn_cap - 1);
    size_t free_slot = SIZE_MAX;
    while (t->conns[j].client) {
        if (t->conns[j].client == client)
            return; /* re-authentication of a counted connection */
        if (t->conns[j].client == TOMBSTONE && free_slot == SIZE_MAX)
            free_slot = j;
        j = (j + 1) & (t->conn_cap - 1);
    }
    struct device_slot *d = device_slot(t, device);
    if (!d)
        goto nomem;
    if (free_slot == SIZE_MAX) {
        free_slot = j;
        t->conn_used++;
    }
    t->conns[free_slot].client = client;
    snprintf(t->conns[free_slot].device, sizeof t->conns[free_slot].device, "%s", device);
    if (d->connections++ == 0) {
        t->online++;
        record(p, device, true, d->connections);
    }
    return;
nomem:
    mosquitto_log_printf(MOSQ_LOG_ERR, "corio: out of memory tracking presence of %s", device);
}

static int on_disconnect(int event, void *event_data, void *userdata)
{
    (void)event;
    struct corio_plugin *p = userdata;
    struct mosquitto_evt_disconnect *ev = event_data;
    struct corio_presence_table *t = p->presence;
    if (!t->conn_cap)
        return MOSQ_ERR_SUCCESS;
    size_t j = hash_ptr(ev->client) & (t->conn_cap - 1);
    while (t->conns[j].client && t->conns[j].client != ev->client)
        j = (j + 1) & (t->conn_cap - 1);
    if (t->conns[j].client != ev->client)
        return MOSQ_ERR_SUCCESS; /* never authenticated: not counted */
    struct device_slot *d = device_slot(t, t->conns[j].device);
    t->conns[j].client = TOMBSTONE;
    if (d && d->connections > 0 && --d->connections == 0) {
        t->online--;
        record(p, d->device, false, 0);
    }
    return MOSQ_ERR_SUCCESS;
}

uint64_t corio__presence_online(const struct corio_plugin *p)
{
    return p->presence ? p->presence->online : 0;
}

int corio__presence_init(struct corio_plugin *p)
{
    p->presence = calloc(1, sizeof *p->presence);
    if (!p->presence)
        return CORIO_ERR_NOSPACE;
    corio_devtable_init(&p->presence->devices, sizeof(struct device_slot),
                        CORIO_SHORT_ID_LEN + 1);
    return CORIO_OK;
}

int corio__presence_register(struct corio_plugin *p)
{
    return mosquitto_callback_register(p->id, MOSQ_EVT_DISCONNECT, on_disconnect, NULL, p);
}

void corio__presence_unregister(struct corio_plugin *p)
{
    mosquitto_callback_unregister(p->id, MOSQ_EVT_DISCONNECT, on_disconnect, NULL);
}

void corio__presence_cleanup(struct corio_plugin *p)
{
    if (!p->presence)
        return;
    free(p->presence->conns);
    corio_devtable_free(&p->presence->devices);
    free(p->presence);
    p->presence = NULL;
}
