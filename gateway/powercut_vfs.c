/*
 * powercut_vfs.c - the power-cut VFS for tests (powercut_vfs.h).
 *
 * Journal layout ("<file>-unsynced"), host byte order (it never leaves the machine):
 *   header: "CORIOPC1" (8 bytes), synced size (int64)
 *   record: offset (int64), length (uint32), the length bytes the file held there
 * A record is appended before the write it protects, so a process killed between the
 * two leaves a record of bytes that were never changed: restoring them is harmless. A
 * record cut short at the end of the journal (the process died inside the append) is
 * ignored for the same reason.
 *
 * Several connections, in this process or others, may write the same file: the journal
 * is a file, found by its name, and a connection notices that another one synced (and
 * so deleted the journal) because its descriptor then points at an unlinked file.
 */
#include "powercut_vfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "corio/error.h"

#define MAGIC "CORIOPC1"
#define HEADER_LEN 16
#define RECORD_HEAD 12
#define TRACKED (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL | SQLITE_OPEN_MAIN_JOURNAL)

struct pc_file {
    sqlite3_file base;
    sqlite3_file *real; /* the underlying file, in the space after this struct */
    char *journal;      /* "<path>-unsynced", NULL when not tracked */
    int fd;             /* the journal, -1 when not open */
    int64_t synced;     /* the file's size at its last sync (valid while fd >= 0) */
};

static sqlite3_vfs pc_vfs;
static sqlite3_vfs *base_vfs;

/* ---- the journal ------------------------------------------------------------------ */

static int write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static void journal_close(struct pc_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
}

/* Makes sure f's journal is open and current; creates it (with the file's size as the
 * synced size) at the first change after a sync. */
static int journal_open(struct pc_file *f)
{
    struct stat sb;
    if (f->fd >= 0 && fstat(f->fd, &sb) == 0 && sb.st_nlink > 0)
        return SQLITE_OK;
    journal_close(f); /* another connection synced the file: start a fresh journal */
    sqlite3_int64 size;
    if (f->real->pMethods->xFileSize(f->real, &size) != SQLITE_OK)
        return SQLITE_IOERR_FSTAT;
    int fd = open(f->journal, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
        uint8_t head[HEADER_LEN];
        int64_t synced = size;
        memcpy(head, MAGIC, 8);
        memcpy(head + 8, &synced, 8);
        if (write_all(fd, head, sizeof head) != 0) {
            close(fd);
            unlink(f->journal);
            return SQLITE_IOERR_WRITE;
        }
        f->fd = fd;
        f->synced = synced;
        return SQLITE_OK;
    }
    if (errno != EEXIST)
        return SQLITE_IOERR_WRITE;
    /* Left by an earlier connection or process: those writes are still unsynced. */
    fd = open(f->journal, O_RDWR | O_APPEND | O_CLOEXEC);
    uint8_t head[HEADER_LEN];
    ssize_t got = fd >= 0 ? pread(fd, head, sizeof head, 0) : -1;
    if (got >= 0 && got < (ssize_t)sizeof head) {
        /* Its creator died before writing the header, so before any change: none to keep. */
        close(fd);
        return unlink(f->journal) == 0 ? journal_open(f) : SQLITE_IOERR_DELETE;
    }
    if (got != (ssize_t)sizeof head || memcmp(head, MAGIC, 8) != 0) {
        if (fd >= 0)
            close(fd);
        return SQLITE_IOERR_READ;
    }
    memcpy(&f->synced, head + 8, 8);
    f->fd = fd;
    return SQLITE_OK;
}

/* Saves the bytes of [off, off + len) that existed at the last sync, before they change. */
static int journal_save(struct pc_file *f, int64_t off, int64_t len)
{
    int rc = journal_open(f);
    if (rc != SQLITE_OK)
        return rc;
    if (off >= f->synced || len <= 0)
        return SQLITE_OK; /* new bytes: the cut truncates them away */
    if (off + len > f->synced)
        len = f->synced - off;
    uint8_t *rec = malloc(RECORD_HEAD + (size_t)len);
    if (!rec)
        return SQLITE_IOERR_NOMEM;
    uint32_t n = (uint32_t)len;
    memcpy(rec, &off, 8);
    memcpy(rec + 8, &n, 4);
    /* A short read (the file shrank since the sync) reads zeros: the truncate that
     * shrank it saved the real bytes in an earlier record, which the cut applies last. */
    rc = f->real->pMethods->xRead(f->real, rec + RECORD_HEAD, (int)len, off);
    if (rc == SQLITE_IOERR_SHORT_READ)
        rc = SQLITE_OK;
    if (rc == SQLITE_OK && write_all(f->fd, rec, RECORD_HEAD + (size_t)len) != 0)
        rc = SQLITE_IOERR_WRITE;
    free(rec);
    return rc;
}

/* ---- the file methods ------------------------------------------------------------- */

static int pc_close(sqlite3_file *file)
{
    struct pc_file *f = (struct pc_file *)file;
    int rc = f->real->pMethods ? f->real->pMethods->xClose(f->real) : SQLITE_OK;
    journal_close(f);
    sqlite3_free(f->journal);
    f->journal = NULL;
    return rc;
}

static int pc_read(sqlite3_file *file, void *buf, int amt, sqlite3_int64 off)
{
    struct pc_file *f = (struct pc_file *)file;
    return f->real->pMethods->xRead(f->real, buf, amt, off);
}

static int pc_write(sqlite3_file *file, const void *buf, int amt, sqlite3_int64 off)
{
    struct pc_file *f = (struct pc_file *)file;
    if (f->journal) {
        int rc = journal_save(f, off, amt);
        if (rc != SQLITE_OK)
            return rc;
    }
    return f->real->pMethods->xWrite(f->real, buf, amt, off);
}

static int pc_truncate(sqlite3_file *file, sqlite3_int64 size)
{
    struct pc_file *f = (struct pc_file *)file;
    if (f->journal) {
        sqlite3_int64 cur;
        int rc = f->real->pMethods->xFileSize(f->real, &cur);
        if (rc == SQLITE_OK && size < cur)
            rc = journal_save(f, size, cur - size);
        else if (rc == SQLITE_OK)
            rc = journal_open(f);
        if (rc != SQLITE_OK)
            return rc;
    }
    return f->real->pMethods->xTruncate(f->real, size);
}

static int pc_sync(sqlite3_file *file, int flags)
{
    struct pc_file *f = (struct pc_file *)file;
    int rc = f->real->pMethods->xSync(f->real, flags);
    if (rc == SQLITE_OK && f->journal) {
        journal_close(f);
        if (unlink(f->journal) != 0 && errno != ENOENT)
            return SQLITE_IOERR_DELETE;
    }
    return rc;
}

static int pc_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
    struct pc_file *f = (struct pc_file *)file;
    return f->real->pMethods->xFileSize(f->real, size);
}

static int pc_lock(sqlite3_file *file, int lock)
{
    struct pc_file *f = (struct pc_file *)file;
    return f->real->pMethods->xLock(f->real, lock);
}

static int pc_unlock(sqlite3_file *file, int lock)
{
    struct pc_file *f = (struct pc_file *)file;
    return f->real->pMethods->xUnlock(f->real, lock);
}

static int pc_check_reserved(sqlite3_file *file, int *out)
{
    struct pc_file *f = (struct pc_file *)file;
    return f->real->pMethods->xCheckReservedLock(f->real, out);
}

static int pc_file_control(sqlite3_file *file, int op, void *arg)
{
    struct pc_file *f = (struct pc_file *)file;
    if (op == SQLITE_FCNTL_VFSNAME) {
        *(char **)arg = sqlite3_mprintf("%s", CORIO_POWERCUT_VFS);
        return SQLITE_OK;
    }
    return f->real->pMethods->xFileControl(f->real, op, arg);
}

static int pc_sector_size(sqlite3_file *file)
{
    struct pc_file *f = (struct pc_file *)file;
    return f->real->pMethods->xSectorSize(f->real);
}

static int pc_device_chars(sqlite3_file *file)
{
    struct pc_file *f = (struct pc_file *)file;
    /* Never claim power-safe overwrite or atomic writes: the journal is what is safe. */
    return f->real->pMethods->xDeviceCharacteristics(f->real) &
           ~(SQLITE_IOCAP_POWERSAFE_OVERWRITE | SQLITE_IOCAP_SEQUENTIAL |
             SQLITE_IOCAP_SAFE_APPEND | SQLITE_IOCAP_ATOMIC | SQLITE_IOCAP_BATCH_ATOMIC);
}

static int pc_shm_map(sqlite3_file *file, int pg, int pgsz, int extend, void volatile **out)
{
    struct pc_file *f = (struct pc_file *)file;
    return f->real->pMethods->xShmMap(f->real, pg, pgsz, extend, out);
}

static int pc_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
    struct pc_file *f = (struct pc_file *)file;
    return f->real->pMethods->xShmLock(f->real, offset, n, flags);
}

static void pc_shm_barrier(sqlite3_file *file)
{
    struct pc_file *f = (struct pc_file *)file;
    f->real->pMethods->xShmBarrier(f->real);
}

static int pc_shm_unmap(sqlite3_file *file, int delete_flag)
{
    struct pc_file *f = (struct pc_file *)file;
    return f->real->pMethods->xShmUnmap(f->real, delete_flag);
}

/* Memory-mapped reads would bypass nothing (writes still come through xWrite), but
 * refusing them keeps every access on the paths above. */
static int pc_fetch(sqlite3_file *file, sqlite3_int64 off, int amt, void **out)
{
    (void)file;
    (void)off;
    (void)amt;
    *out = NULL;
    return SQLITE_OK;
}

static int pc_unfetch(sqlite3_file *file, sqlite3_int64 off, void *p)
{
    (void)file;
    (void)off;
    (void)p;
    return SQLITE_OK;
}

static const sqlite3_io_methods pc_methods = {
    .iVersion = 3,
    .xClose = pc_close,
    .xRead = pc_read,
    .xWrite = pc_write,
    .xTruncate = pc_truncate,
    .xSync = pc_sync,
    .xFileSize = pc_file_size,
    .xLock = pc_lock,
    .xUnlock = pc_unlock,
    .xCheckReservedLock = pc_check_reserved,
    .xFileControl = pc_file_control,
    .xSectorSize = pc_sector_size,
    .xDeviceCharacteristics = pc_device_chars,
    .xShmMap = pc_shm_map,
    .xShmLock = pc_shm_lock,
    .xShmBarrier = pc_shm_barrier,
    .xShmUnmap = pc_shm_unmap,
    .xFetch = pc_fetch,
    .xUnfetch = pc_unfetch,
};

/* ---- the VFS ---------------------------------------------------------------------- */

static int pc_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *file, int flags,
                   int *out_flags)
{
    (void)vfs;
    struct pc_file *f = (struct pc_file *)file;
    memset(f, 0, sizeof *f);
    f->fd = -1;
    f->real = (sqlite3_file *)(f + 1);
    if (name && (flags & TRACKED)) {
        f->journal = sqlite3_mprintf("%s" CORIO_POWERCUT_SUFFIX, name);
        if (!f->journal)
            return SQLITE_NOMEM;
    }
    int rc = base_vfs->xOpen(base_vfs, name, f->real, flags, out_flags);
    if (rc != SQLITE_OK || !f->real->pMethods || f->real->pMethods->iVersion < 3) {
        if (rc == SQLITE_OK) {
            f->real->pMethods->xClose(f->real); /* a VFS without shared memory: not ours */
            rc = SQLITE_CANTOPEN;
        }
        sqlite3_free(f->journal);
        f->journal = NULL;
        f->base.pMethods = NULL;
        return rc;
    }
    f->base.pMethods = &pc_methods;
    return SQLITE_OK;
}

static int pc_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    (void)vfs;
    int rc = base_vfs->xDelete(base_vfs, name, sync_dir);
    if (rc == SQLITE_OK || rc == SQLITE_IOERR_DELETE_NOENT) {
        char *j = sqlite3_mprintf("%s" CORIO_POWERCUT_SUFFIX, name);
        if (j)
            unlink(j);
        sqlite3_free(j);
    }
    return rc;
}

static int pc_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    (void)vfs;
    return base_vfs->xAccess(base_vfs, name, flags, out);
}

static int pc_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    (void)vfs;
    return base_vfs->xFullPathname(base_vfs, name, n, out);
}

static void *pc_dlopen(sqlite3_vfs *vfs, const char *name)
{
    (void)vfs;
    return base_vfs->xDlOpen(base_vfs, name);
}

static void pc_dlerror(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    base_vfs->xDlError(base_vfs, n, out);
}

static void (*pc_dlsym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
    (void)vfs;
    return base_vfs->xDlSym(base_vfs, h, sym);
}

static void pc_dlclose(sqlite3_vfs *vfs, void *h)
{
    (void)vfs;
    base_vfs->xDlClose(base_vfs, h);
}

static int pc_randomness(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return base_vfs->xRandomness(base_vfs, n, out);
}

static int pc_sleep(sqlite3_vfs *vfs, int us)
{
    (void)vfs;
    return base_vfs->xSleep(base_vfs, us);
}

static int pc_current_time(sqlite3_vfs *vfs, double *out)
{
    (void)vfs;
    return base_vfs->xCurrentTime(base_vfs, out);
}

static int pc_last_error(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return base_vfs->xGetLastError ? base_vfs->xGetLastError(base_vfs, n, out) : 0;
}

static int pc_current_time64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
    (void)vfs;
    if (base_vfs->iVersion >= 2 && base_vfs->xCurrentTimeInt64)
        return base_vfs->xCurrentTimeInt64(base_vfs, out);
    double d;
    int rc = base_vfs->xCurrentTime(base_vfs, &d);
    *out = (sqlite3_int64)(d * 86400000.0);
    return rc;
}

int corio_powercut_vfs_register(void)
{
    if (sqlite3_vfs_find(CORIO_POWERCUT_VFS))
        return CORIO_OK;
    if (sqlite3_initialize() != SQLITE_OK || !(base_vfs = sqlite3_vfs_find(NULL)))
        return CORIO_ERR_IO;
    pc_vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)sizeof(struct pc_file) + base_vfs->szOsFile,
        .mxPathname = base_vfs->mxPathname,
        .zName = CORIO_POWERCUT_VFS,
        .xOpen = pc_open,
        .xDelete = pc_delete,
        .xAccess = pc_access,
        .xFullPathname = pc_full_pathname,
        .xDlOpen = pc_dlopen,
        .xDlError = pc_dlerror,
        .xDlSym = pc_dlsym,
        .xDlClose = pc_dlclose,
        .xRandomness = pc_randomness,
        .xSleep = pc_sleep,
        .xCurrentTime = pc_current_time,
        .xGetLastError = pc_last_error,
        .xCurrentTimeInt64 = pc_current_time64,
    };
    return sqlite3_vfs_register(&pc_vfs, 0) == SQLITE_OK ? CORIO_OK : CORIO_ERR_IO;
}

/* ---- the cut ---------------------------------------------------------------------- */

/* Reads a whole journal into memory. CORIO_ERR_NOTFOUND when there is none, or when
 * its header is incomplete: the process died creating it, before any change it was to
 * protect (so it is removed). */
static int read_journal(const char *path, uint8_t **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? CORIO_ERR_NOTFOUND : CORIO_ERR_IO;
    struct stat sb;
    uint8_t *buf = NULL;
    int rc = CORIO_ERR_IO;
    if (fstat(fd, &sb) != 0)
        goto done;
    if (sb.st_size < HEADER_LEN) {
        rc = unlink(path) == 0 ? CORIO_ERR_NOTFOUND : CORIO_ERR_IO;
        goto done;
    }
    buf = malloc((size_t)sb.st_size);
    if (!buf || pread(fd, buf, (size_t)sb.st_size, 0) != sb.st_size)
        goto done;
    rc = memcmp(buf, MAGIC, 8) == 0 ? CORIO_OK : CORIO_ERR_MALFORMED;
done:
    close(fd);
    if (rc != CORIO_OK) {
        free(buf);
        return rc;
    }
    *out = buf;
    *len = (size_t)sb.st_size;
    return CORIO_OK;
}

/* The offsets of a journal's complete records, newest last; returns how many. */
static size_t index_records(const uint8_t *j, size_t len, size_t *at, size_t cap)
{
    size_t n = 0, off = HEADER_LEN;
    while (off + RECORD_HEAD <= len) {
        uint32_t rlen;
        memcpy(&rlen, j + off + 8, 4);
        if (rlen > len - off - RECORD_HEAD)
            break; /* cut short: its write never happened */
        if (at && n < cap)
            at[n] = off;
        n++;
        off += RECORD_HEAD + rlen;
    }
    return n;
}

/* Restores one file; returns the bytes thrown away or put back, or an error. */
static int64_t restore(const char *file)
{
    char journal[4096];
    if ((size_t)snprintf(journal, sizeof journal, "%s" CORIO_POWERCUT_SUFFIX, file) >=
        sizeof journal)
        return CORIO_ERR_INVAL;
    uint8_t *j;
    size_t len;
    int rc = read_journal(journal, &j, &len);
    if (rc == CORIO_ERR_NOTFOUND)
        return 0;
    if (rc != CORIO_OK)
        return rc;
    int64_t synced, touched = 0;
    memcpy(&synced, j + 8, 8);
    size_t n = index_records(j, len, NULL, 0);
    size_t *at = n ? calloc(n, sizeof *at) : NULL;
    int fd = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    struct stat sb;
    rc = CORIO_ERR_IO;
    if (synced < 0 || (n && !at) || fd < 0 || fstat(fd, &sb) != 0)
        goto done;
    index_records(j, len, at, n);
    for (size_t i = n; i-- > 0;) {
        int64_t off;
        uint32_t rlen;
        memcpy(&off, j + at[i], 8);
        memcpy(&rlen, j + at[i] + 8, 4);
        if (off < 0 || pwrite(fd, j + at[i] + RECORD_HEAD, rlen, off) != (ssize_t)rlen)
            goto done;
        touched += rlen;
    }
    if (sb.st_size > synced)
        touched += sb.st_size - synced;
    if (ftruncate(fd, synced) != 0 || fsync(fd) != 0)
        goto done;
    rc = CORIO_OK;
done:
    if (fd >= 0)
        close(fd);
    free(at);
    free(j);
    if (rc != CORIO_OK)
        return rc;
    return unlink(journal) == 0 ? touched : CORIO_ERR_IO;
}

int64_t corio_powercut_apply(const char *db_path)
{
    static const char *const suffixes[] = {"", "-wal", "-journal", "-intake"};
    int64_t total = 0;
    char path[4096];
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        if ((size_t)snprintf(path, sizeof path, "%s%s", db_path, suffixes[i]) >= sizeof path)
            return CORIO_ERR_INVAL;
        int64_t n = restore(path);
        if (n < 0)
            return n;
        total += n;
    }
    snprintf(path, sizeof path, "%s-shm", db_path);
    if (unlink(path) != 0 && errno != ENOENT)
        return CORIO_ERR_IO;
    return total;
}

int64_t corio_powercut_pending(const char *db_path)
{
    static const char *const suffixes[] = {"", "-wal", "-journal", "-intake"};
    int64_t total = 0;
    char path[4096], journal[4096];
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        if ((size_t)snprintf(path, sizeof path, "%s%s", db_path, suffixes[i]) >= sizeof path ||
            (size_t)snprintf(journal, sizeof journal, "%s" CORIO_POWERCUT_SUFFIX, path) >=
                sizeof journal)
            return CORIO_ERR_INVAL;
        uint8_t *j;
        size_t len;
        int rc = read_journal(journal, &j, &len);
        if (rc == CORIO_ERR_NOTFOUND)
            continue;
        if (rc != CORIO_OK)
            return rc;
        int64_t synced;
        memcpy(&synced, j + 8, 8);
        size_t n = index_records(j, len, NULL, 0);
        size_t off = HEADER_LEN;
        for (size_t r = 0; r < n; r++) {
            uint32_t rlen;
            memcpy(&rlen, j + off + 8, 4);
            total += rlen;
            off += RECORD_HEAD + rlen;
        }
        free(j);
        struct stat sb;
        if (stat(path, &sb) == 0 && sb.st_size > synced)
            total += sb.st_size - synced;
    }
    return total;
}
