/*
 * plugin_stats.c - the plugin's counters file (plugin_stats.h, docs/formats.md).
 */
#include "plugin_stats.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "corio/error.h"

#define FIELD(name) {#name, offsetof(struct corio_plugin_stats, name)}

static const struct {
    const char *key;
    size_t off;
} fields[] = {
    FIELD(pid),           FIELD(wall_ms),        FIELD(started_ms),      FIELD(epoch),
    FIELD(clean_start),   FIELD(stored),         FIELD(stored_bytes),    FIELD(refused),
    FIELD(dropped),       FIELD(rows),           FIELD(bytes),           FIELD(max_bytes),
    FIELD(oldest_ms),     FIELD(last_id),        FIELD(deleted),         FIELD(syncs),
    FIELD(sync_failures), FIELD(last_sync_ms),   FIELD(sync_ms),         FIELD(auth_accepted),
    FIELD(auth_refused),  FIELD(acl_denied),     FIELD(devices_online),  FIELD(resend_pending),
    FIELD(resend_requests),
};

#define NFIELDS (sizeof fields / sizeof fields[0])

int corio_plugin_stats_write(const char *path, const struct corio_plugin_stats *st)
{
    char tmp[4096], buf[2048];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return CORIO_ERR_INVAL;
    size_t n = (size_t)snprintf(buf, sizeof buf, "corio-plugin-stats %d\n",
                                CORIO_PLUGIN_STATS_VERSION);
    for (size_t i = 0; i < NFIELDS && n < sizeof buf; i++) {
        uint64_t v;
        memcpy(&v, (const char *)st + fields[i].off, sizeof v);
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s %" PRIu64 "\n", fields[i].key, v);
    }
    if (n >= sizeof buf)
        return CORIO_ERR_NOSPACE;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return CORIO_ERR_IO;
    bool ok = write(fd, buf, n) == (ssize_t)n;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return CORIO_ERR_IO;
    }
    return CORIO_OK;
}

/* An unsigned decimal of at most 20 digits that fits 64 bits. */
static bool parse_u64(const char *s, size_t n, uint64_t *out)
{
    if (n == 0 || n > 20)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

int corio_plugin_stats_parse(const char *text, size_t len, struct corio_plugin_stats *st)
{
    memset(st, 0, sizeof *st);
    if (!text || len > CORIO_PLUGIN_STATS_MAX)
        return CORIO_ERR_MALFORMED;
    static const char head[] = "corio-plugin-stats ";
    const char *nl = memchr(text, '\n', len);
    if (!nl || (size_t)(nl - text) < sizeof head - 1 || memcmp(text, head, sizeof head - 1) != 0)
        return CORIO_ERR_MALFORMED;
    uint64_t version;
    if (!parse_u64(text + sizeof head - 1, (size_t)(nl - text) - (sizeof head - 1), &version))
        return CORIO_ERR_MALFORMED;
    if (version != CORIO_PLUGIN_STATS_VERSION)
        return CORIO_ERR_VERSION;
    const char *p = nl + 1, *end = text + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            return CORIO_ERR_MALFORMED; /* every line ends with a newline: a cut file */
        const char *sp = memchr(p, ' ', (size_t)(eol - p));
        uint64_t v;
        if (!sp || sp == p || !parse_u64(sp + 1, (size_t)(eol - sp - 1), &v))
            return CORIO_ERR_MALFORMED;
        size_t klen = (size_t)(sp - p);
        for (size_t i = 0; i < NFIELDS; i++)
            if (strlen(fields[i].key) == klen && memcmp(fields[i].key, p, klen) == 0)
                memcpy((char *)st + fields[i].off, &v, sizeof v);
        p = eol + 1;
    }
    return CORIO_OK;
}

int corio_plugin_stats_read(const char *path, struct corio_plugin_stats *st)
{
    memset(st, 0, sizeof *st);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? CORIO_ERR_NOTFOUND : CORIO_ERR_IO;
    char buf[CORIO_PLUGIN_STATS_MAX + 1];
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    if (n < 0)
        return CORIO_ERR_IO;
    return corio_plugin_stats_parse(buf, (size_t)n, st);
}
