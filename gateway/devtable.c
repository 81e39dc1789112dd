/*
 * devtable.c - the table of per-device records (devtable.h).
 */
#include "devtable.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    while (*s)
        h = (h ^ (uint8_t)*s++) * 1099511628211ULL;
    return (size_t)h;
}

void corio_devtable_init(struct corio_devtable *t, size_t record_size, size_t key_cap)
{
    *t = (struct corio_devtable){.record_size = record_size, .key_cap = key_cap};
}

void corio_devtable_free(struct corio_devtable *t)
{
    free(t->slots);
    corio_devtable_init(t, t->record_size, t->key_cap);
}

void *corio_devtable_at(const struct corio_devtable *t, size_t i)
{
    unsigned char *r = t->slots + i * t->record_size;
    return r[0] ? r : NULL;
}

size_t corio_devtable_index(const struct corio_devtable *t, const void *record)
{
    return (size_t)((const unsigned char *)record - t->slots) / t->record_size;
}

/* The slot of device in slots[0..cap): its record's, or the free one where it goes. */
static size_t probe(const unsigned char *slots, size_t cap, size_t size, const char *device)
{
    size_t j = hash(device) & (cap - 1);
    while (slots[j * size] && strcmp((const char *)slots + j * size, device) != 0)
        j = (j + 1) & (cap - 1);
    return j;
}

void *corio_devtable_find(const struct corio_devtable *t, const char *device)
{
    if (!t->cap)
        return NULL;
    size_t j = probe(t->slots, t->cap, t->record_size, device);
    return corio_devtable_at(t, j);
}

static bool grow(struct corio_devtable *t)
{
    size_t cap = t->cap ? t->cap * 2 : 256, size = t->record_size;
    unsigned char *slots = calloc(cap, size);
    if (!slots)
        return false;
    for (size_t i = 0; i < t->cap; i++) {
        const unsigned char *r = t->slots + i * size;
        if (r[0])
            memcpy(slots + probe(slots, cap, size, (const char *)r) * size, r, size);
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return true;
}

void *corio_devtable_get(struct corio_devtable *t, const char *device, bool *added)
{
    *added = false;
    size_t len = strlen(device);
    if (len == 0 || len >= t->key_cap)
        return NULL;
    void *r = corio_devtable_find(t, device);
    if (r)
        return r;
    if ((t->count + 1) * 10 > t->cap * 7 && !grow(t))
        return NULL;
    unsigned char *slot = t->slots + probe(t->slots, t->cap, t->record_size, device) * t->record_size;
    memset(slot, 0, t->record_size);
    memcpy(slot, device, len + 1);
    t->count++;
    *added = true;
    return slot;
}
