/*
 * devtable.h - a table of fixed-size records keyed by device id, for the gateway's
 * per-device state (the plugin's resend requests, the durable-prefix tracker): open
 * addressing with linear probing, FNV-1a over the id, grown to keep it under 70 %
 * full. Each record starts with its key, a NUL-terminated char array of key_cap
 * bytes; an empty key marks a free slot. Records move when the table grows, so a
 * pointer or index into it is good only until the next corio_devtable_get() that adds.
 */
#ifndef CORIO_GATEWAY_DEVTABLE_H
#define CORIO_GATEWAY_DEVTABLE_H

#include <stdbool.h>
#include <stddef.h>

struct corio_devtable {
    unsigned char *slots; /* cap records of record_size bytes */
    size_t record_size, key_cap;
    size_t cap, count;
};

/* An empty table of records of record_size bytes whose first key_cap bytes are the
 * key (record_size >= key_cap). Allocates nothing yet. */
void corio_devtable_init(struct corio_devtable *t, size_t record_size, size_t key_cap);

/* Frees the records; the table is empty again. */
void corio_devtable_free(struct corio_devtable *t);

/* The record of device, or NULL. */
void *corio_devtable_find(const struct corio_devtable *t, const char *device);

/* The record of device; a new one (zeroed but for its key, *added true) when it had
 * none. NULL when the id does not fit the key or memory ran out. */
void *corio_devtable_get(struct corio_devtable *t, const char *device, bool *added);

/* Slot i (0 <= i < cap): its record, or NULL when the slot is free. */
void *corio_devtable_at(const struct corio_devtable *t, size_t i);

/* The slot index of a record of t. */
size_t corio_devtable_index(const struct corio_devtable *t, const void *record);

#endif /* CORIO_GATEWAY_DEVTABLE_H */
