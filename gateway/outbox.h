/*
 * outbox.h - the gateway outbox: every message a device published, committed to SQLite
 * before the broker acknowledges it, kept until the cloud acknowledges its commit.
 *
 * One process writes (the Mosquitto plugin, DESIGN.md §1): it appends and deletes
 * acknowledged ranges. Readers (the forwarder, tests, tools) open the same file
 * read-only and see committed rows through SQLite's WAL. The schema and the watermark
 * file are described in docs/formats.md.
 *
 * Durability: the writer runs WAL with synchronous=NORMAL, so a commit survives the
 * death of any process; corio_outbox_sync() fsyncs the WAL, and the writer calls it on
 * a timer, which bounds what a power cut can take to one sync interval.
 */
#ifndef CORIO_GATEWAY_OUTBOX_H
#define CORIO_GATEWAY_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#define CORIO_OUTBOX_FORMAT 1

/* Priority classes. Classes below CORIO_OUTBOX_CLASS_DROPPABLE are never dropped: when
 * the outbox is full they are refused, and the device keeps them. */
enum corio_outbox_class {
    CORIO_OUTBOX_CLASS_TELEMETRY = 0, /* SenML, heartbeats, results, presence */
    CORIO_OUTBOX_CLASS_EVENT = 1,     /* events and alerts */
    CORIO_OUTBOX_CLASS_DROPPABLE = 2, /* logs and debug: dropped first, counted */
};

struct corio_outbox_options {
    const char *path;       /* the SQLite file; created when absent */
    const char *gateway;    /* this gateway's short id, recorded in a new file */
    int64_t max_bytes;      /* cap on stored payload bytes plus per-row overhead */
    bool read_only;         /* a reader: never creates, writes or deletes */
    const char *vfs;        /* SQLite VFS name, NULL for the default (tests use a dropping VFS) */
};

/* One stored message as a reader sees it; pointers are valid until the next read call. */
struct corio_outbox_row {
    int64_t id;
    const char *device;
    const char *suffix;
    int64_t recv_ms;
    int cls;
    const uint8_t *payload;
    size_t payload_len;
};

struct corio_outbox_stats {
    int64_t rows;      /* rows stored */
    int64_t bytes;     /* accounted bytes stored (payloads plus per-row overhead) */
    int64_t oldest_ms; /* receive time of the oldest row, 0 when empty */
    int64_t last_id;   /* highest id ever assigned in this epoch */
};

typedef struct corio_outbox corio_outbox;

/*
 * Opens (and for a writer, creates or migrates) the outbox at opts->path. On failure
 * returns a negative corio_err and writes a one-line reason into err.
 */
int corio_outbox_open(const struct corio_outbox_options *opts, corio_outbox **out, char *err,
                      size_t errlen);

void corio_outbox_close(corio_outbox *ob);

/* The outbox epoch: a random 63-bit number chosen when the file was created. */
uint64_t corio_outbox_epoch(const corio_outbox *ob);

/*
 * Appends one message and commits it. Returns CORIO_OK and the new id in *id_out;
 * CORIO_ERR_FULL when the cap is reached (nothing stored, the caller refuses the
 * message); CORIO_ERR_IO when SQLite failed (nothing stored).
 * A message of class CORIO_OUTBOX_CLASS_DROPPABLE is refused with CORIO_ERR_FULL
 * already at 90 % of the cap, so that it never takes room from telemetry.
 */
int corio_outbox_append(corio_outbox *ob, const char *device, const char *suffix,
                        int64_t recv_ms, int cls, const void *payload, size_t len,
                        int64_t *id_out);

/*
 * Deletes every row with id <= through, when epoch is this outbox's epoch; a watermark
 * from another epoch is ignored (returns CORIO_ERR_POLICY). Returns the number of rows
 * deleted, or a negative corio_err.
 */
int64_t corio_outbox_delete_through(corio_outbox *ob, uint64_t epoch, int64_t through);

/*
 * Reads up to max_rows rows with id > after, in id order, stopping before max_bytes of
 * payload would be exceeded (at least one row is returned when one exists). Calls fn
 * for each; fn returns 0 to continue. Returns the number of rows passed to fn, or a
 * negative corio_err.
 */
int corio_outbox_read(corio_outbox *ob, int64_t after, int max_rows, size_t max_bytes,
                      int (*fn)(const struct corio_outbox_row *row, void *arg), void *arg);

int corio_outbox_stats(corio_outbox *ob, struct corio_outbox_stats *st);

/* Forces the WAL to stable storage (fdatasync). Returns CORIO_OK or CORIO_ERR_IO. */
int corio_outbox_sync(corio_outbox *ob);

/* The bytes a row is accounted for: its payload plus a fixed per-row overhead. */
int64_t corio_outbox_row_cost(size_t payload_len);

/*
 * The watermark file beside the outbox (docs/formats.md): the forwarder writes it after
 * each application ack, the plugin reads it on its tick. Both return CORIO_OK, or
 * CORIO_ERR_NOTFOUND when no watermark exists yet, or CORIO_ERR_MALFORMED.
 */
int corio_watermark_write(const char *path, uint64_t epoch, int64_t id);
int corio_watermark_read(const char *path, uint64_t *epoch, int64_t *id);

#endif /* CORIO_GATEWAY_OUTBOX_H */
