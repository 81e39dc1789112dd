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
 * a timer, which bounds what a power cut can take to one sync interval. What a cut took
 * is found again from what stayed: each row keeps its device's (epoch, seq), the
 * highest of each device that left the outbox is kept in a table, and ids are reserved
 * durably ahead of use, so they are never handed out twice (docs/telemetry.md).
 *
 * With an intake log (opts.intake, the plugin's default) an append is one write to a
 * file beside the database, "<path>-intake" (outbox_intake.h), which survives the death
 * of any process as a commit does, and the rows reach the table in one transaction per
 * corio_outbox_flush() (the plugin flushes on every tick of the broker's loop, so right
 * after the messages of each loop pass). Readers see rows once they are flushed. The
 * next writer's open moves into the table whatever a crash left in the log. A sync
 * flushes first, so the power-cut bound is the same.
 */
#ifndef CORIO_GATEWAY_OUTBOX_H
#define CORIO_GATEWAY_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#define CORIO_OUTBOX_FORMAT 2

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
    bool checkpointer;      /* only checkpoints the WAL (corio_outbox_checkpoint): never
                               creates, and writes no row; the file must exist */
    const char *vfs;        /* SQLite VFS name, NULL for the default (tests use a dropping VFS) */
    bool intake;            /* a writer: appends go through the intake log (above); a
                               reader: corio_outbox_read() also returns the log's records
                               the table does not have yet, i.e. everything a crash now
                               would leave (tests, tools) */
};

/* The writer checkpoints the WAL itself only past this many pages (SQLite's default is
 * 1000): checkpoints (two fsyncs and a copy) belong off the broker's thread, in
 * corio-gateway's checkpointer (corio_outbox_checkpoint), which runs every second. */
#define CORIO_OUTBOX_AUTOCHECKPOINT 16384

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
 * Appends one message and commits it (to the intake log, with one). Returns CORIO_OK
 * and the new id in *id_out; CORIO_ERR_FULL when the cap is reached (nothing stored,
 * the caller refuses the message); CORIO_ERR_IO when SQLite or the log failed (nothing
 * stored).
 * A message of class CORIO_OUTBOX_CLASS_DROPPABLE is refused with CORIO_ERR_FULL
 * already at 90 % of the cap, so that it never takes room from telemetry.
 */
int corio_outbox_append(corio_outbox *ob, const char *device, const char *suffix,
                        int64_t recv_ms, int cls, const void *payload, size_t len,
                        int64_t *id_out);

/*
 * The same, with the device's identity of the message (its outbox epoch and seq, from
 * the SenML pack; dev_seq 0: none), kept with the row for corio_outbox_device_seqs().
 * Every block of ids starts with a WAL fsync that reserves it (docs/formats.md), so
 * once in a few thousand appends this call also syncs.
 */
int corio_outbox_append_seq(corio_outbox *ob, const char *device, const char *suffix,
                            int64_t recv_ms, int cls, uint64_t dev_epoch, uint64_t dev_seq,
                            const void *payload, size_t len, int64_t *id_out);

/*
 * A writer with an intake log: moves every pending append into the table, in one
 * transaction. Returns CORIO_OK (also when nothing is pending or there is no log), or
 * CORIO_ERR_IO: nothing moved; the rows stay pending and in the log, and the next flush
 * tries again (past 64 MiB pending, appends fail with CORIO_ERR_IO). Every call below
 * that reads or deletes rows, and corio_outbox_sync(), flushes first.
 */
int corio_outbox_flush(corio_outbox *ob);

/* A writer with an intake log: the appends not yet flushed into the table. */
int corio_outbox_pending(const corio_outbox *ob);

/* A writer with an intake log: the rows its open found in the log (a crash left them
 * there) and moved into the table. */
int64_t corio_outbox_recovered(const corio_outbox *ob);

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

/* Forces the WAL to stable storage (xSync of SQLite's own WAL file, so a VFS under it
 * sees it), after a flush. Returns CORIO_OK or CORIO_ERR_IO. */
int corio_outbox_sync(corio_outbox *ob);

/*
 * A checkpointer (opts.checkpointer): copies what the WAL holds into the database file
 * without waiting for readers or the writer (a passive checkpoint: fsyncs of the WAL and
 * of the database), so that the writer's commits stay cheap. *wal_frames and *copied
 * (may be NULL) tell the WAL's size and how much of it is in the database now. Returns
 * CORIO_OK or CORIO_ERR_IO.
 */
int corio_outbox_checkpoint(corio_outbox *ob, int *wal_frames, int *copied);

/* A writer: whether the previous writer closed the file cleanly. False after a crash or
 * a power cut: then what the last sync interval held may be gone (and ids skipped
 * ahead past every id that could have been handed out). */
bool corio_outbox_was_clean(const corio_outbox *ob);

/* A writer's running counts, without touching the file: rows, accounted bytes, the
 * highest id handed out. Any pointer may be NULL. */
void corio_outbox_counts(const corio_outbox *ob, int64_t *rows, int64_t *bytes, int64_t *last_id);

/* The receive time of the oldest row (the lowest id), 0 when empty. Cheap (one index
 * step). Returns CORIO_OK or CORIO_ERR_IO. */
int corio_outbox_oldest(corio_outbox *ob, int64_t *recv_ms);

/*
 * What the outbox holds durably of each device's messages: calls fn for each device's
 * highest identity among the rows that left the outbox, then for every row that carries
 * one, oldest first (so a later call for a device is newer: a new epoch replaces the
 * old, the same epoch keeps the highest seq). After a power cut, the messages of a
 * device above what this yields were lost here. Returns the number of calls, or
 * CORIO_ERR_IO. Reads the whole outbox: meant for a start after an unclean end.
 */
int corio_outbox_device_seqs(corio_outbox *ob,
                             void (*fn)(void *arg, const char *device, uint64_t epoch,
                                        uint64_t seq),
                             void *arg);

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
