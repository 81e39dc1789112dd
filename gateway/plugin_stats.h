/*
 * plugin_stats.h - the plugin's counters, for corio-gateway's /metrics and state.
 *
 * The plugin runs inside Mosquitto, a process corio-gateway does not share memory
 * with; it writes its counters once a second to a small text file beside the outbox
 * (replaced atomically: write, rename), and corio-gateway reads it. Format
 * (docs/formats.md): the line "corio-plugin-stats 1", then "<key> <unsigned integer>"
 * lines in any order; unknown keys are skipped, so later versions may add some.
 */
#ifndef CORIO_GATEWAY_PLUGIN_STATS_H
#define CORIO_GATEWAY_PLUGIN_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CORIO_PLUGIN_STATS_VERSION 1
/* Largest stats file a reader takes. */
#define CORIO_PLUGIN_STATS_MAX 8192

struct corio_plugin_stats {
    uint64_t pid;             /* the broker's */
    uint64_t wall_ms;         /* when written */
    uint64_t started_ms;      /* when the plugin started (wall clock) */
    uint64_t epoch;           /* the outbox's */
    uint64_t clean_start;     /* 1: the previous writer closed the outbox; 0: a crash or cut */
    uint64_t stored;          /* messages committed (devices' and the gateway's own) */
    uint64_t stored_bytes;    /* their payload bytes */
    uint64_t refused;         /* messages refused (full or a write failed): not PUBACKed */
    uint64_t dropped;         /* droppable messages dropped (counted policy) */
    uint64_t rows;            /* outbox depth */
    uint64_t bytes;           /* accounted bytes in the outbox */
    uint64_t max_bytes;       /* the cap */
    uint64_t oldest_ms;       /* receive time of the oldest row; 0 when empty */
    uint64_t last_id;         /* highest id handed out */
    uint64_t deleted;         /* rows deleted after the cloud's ack */
    uint64_t syncs;           /* WAL fsyncs */
    uint64_t sync_failures;
    uint64_t last_sync_ms;    /* wall clock of the last successful WAL fsync */
    uint64_t sync_ms;         /* the fsync interval: the power-cut window */
    uint64_t auth_accepted;
    uint64_t auth_refused;
    uint64_t acl_denied;
    uint64_t devices_online;  /* devices with a connection now */
    uint64_t resend_pending;  /* devices still to be asked to resend (after a cut) */
    uint64_t resend_requests; /* resend requests published */
};

/* Writes st to path (through path.tmp and a rename). Returns CORIO_OK or CORIO_ERR_IO. */
int corio_plugin_stats_write(const char *path, const struct corio_plugin_stats *st);

/* Parses text[0..len) (hostile: any bytes) into *st (zeroed first). Returns CORIO_OK,
 * CORIO_ERR_MALFORMED (no version line, a line without "<key> <number>", a number out
 * of range, over CORIO_PLUGIN_STATS_MAX bytes) or CORIO_ERR_VERSION. */
int corio_plugin_stats_parse(const char *text, size_t len, struct corio_plugin_stats *st);

/* Reads and parses the file: as corio_plugin_stats_parse, or CORIO_ERR_NOTFOUND when
 * there is none (the broker has not started yet), CORIO_ERR_IO. */
int corio_plugin_stats_read(const char *path, struct corio_plugin_stats *st);

#endif /* CORIO_GATEWAY_PLUGIN_STATS_H */
