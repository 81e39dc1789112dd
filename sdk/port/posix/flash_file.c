/*
 * flash_file.c - the POSIX port's flash: a file with NOR semantics (erase to 0xFF,
 * programming only clears bits, optionally each unit once per erase), which checks
 * every program against those rules so that storage bugs surface on a PC rather than
 * on a board (include/corio/port_posix_flash.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "corio/port_posix_flash.h"

static uint64_t total_size(const struct corio_posix_flash *f)
{
    return (uint64_t)f->sector_size * f->sector_count;
}

static int pread_all(int fd, uint8_t *buf, size_t len, off_t off)
{
    while (len > 0) {
        ssize_t n = pread(fd, buf, len, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return CORIO_ERR_IO;
        buf += n;
        len -= (size_t)n;
        off += n;
    }
    return CORIO_OK;
}

static int pwrite_all(int fd, const uint8_t *buf, size_t len, off_t off)
{
    while (len > 0) {
        ssize_t n = pwrite(fd, buf, len, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return CORIO_ERR_IO;
        buf += n;
        len -= (size_t)n;
        off += n;
    }
    return CORIO_OK;
}

static int in_range(const struct corio_posix_flash *f, uint32_t addr, size_t len)
{
    return f->fd >= 0 && (uint64_t)addr + len <= total_size(f);
}

static int ff_read(void *ctx, uint32_t addr, uint8_t *buf, size_t len)
{
    struct corio_posix_flash *f = ctx;
    if (!buf || !in_range(f, addr, len))
        return CORIO_ERR_INVAL;
    return pread_all(f->fd, buf, len, (off_t)addr);
}

/* A write against the flash rules: the caller's bug. */
static int violation(struct corio_posix_flash *f, const char *what, uint32_t addr)
{
    if (f->options & CORIO_POSIX_FLASH_NO_ABORT) {
        f->violations++;
        return CORIO_ERR_STATE;
    }
    fprintf(stderr, "corio posix flash: %s at address 0x%08x\n", what, (unsigned)addr);
    abort();
}

static int ff_program(void *ctx, uint32_t addr, const uint8_t *buf, size_t len)
{
    struct corio_posix_flash *f = ctx;
    uint8_t old[256];
    if (!buf || len == 0 || !in_range(f, addr, len) || addr % f->prog_size || len % f->prog_size)
        return CORIO_ERR_INVAL;
    /* Check everything first, so that a refused program changes nothing. */
    for (size_t off = 0; off < len; off += sizeof old) {
        size_t n = len - off < sizeof old ? len - off : sizeof old;
        if (pread_all(f->fd, old, n, (off_t)(addr + off)) != CORIO_OK)
            return CORIO_ERR_IO;
        for (size_t i = 0; i < n; i++)
            if (buf[off + i] & (uint8_t)~old[i])
                return violation(f, "program would set bits (write over data without erase)",
                                 (uint32_t)(addr + off + i));
    }
    if (!(f->options & CORIO_POSIX_FLASH_REPROGRAM))
        for (size_t u = 0; u < len / f->prog_size; u++)
            if (f->written[addr / f->prog_size + u])
                return violation(f, "unit programmed twice without erase",
                                 (uint32_t)(addr + u * f->prog_size));
    if (pwrite_all(f->fd, buf, len, (off_t)addr) != CORIO_OK)
        return CORIO_ERR_IO;
    for (size_t u = 0; u < len / f->prog_size; u++)
        f->written[addr / f->prog_size + u] = 1;
    if ((f->options & CORIO_POSIX_FLASH_SYNC) && fdatasync(f->fd) != 0)
        return CORIO_ERR_IO;
    return CORIO_OK;
}

static int ff_erase(void *ctx, uint32_t sector)
{
    struct corio_posix_flash *f = ctx;
    uint8_t ff[256];
    if (f->fd < 0 || sector >= f->sector_count)
        return CORIO_ERR_INVAL;
    memset(ff, 0xFF, sizeof ff);
    uint32_t base = sector * f->sector_size;
    for (uint32_t off = 0; off < f->sector_size; off += (uint32_t)sizeof ff) {
        size_t n = f->sector_size - off < sizeof ff ? f->sector_size - off : sizeof ff;
        if (pwrite_all(f->fd, ff, n, (off_t)(base + off)) != CORIO_OK)
            return CORIO_ERR_IO;
    }
    memset(f->written + base / f->prog_size, 0, f->sector_size / f->prog_size);
    if ((f->options & CORIO_POSIX_FLASH_SYNC) && fdatasync(f->fd) != 0)
        return CORIO_ERR_IO;
    return CORIO_OK;
}

int corio_posix_flash_open(struct corio_posix_flash *f, const char *path, uint32_t sector_size,
                           uint32_t sector_count, uint32_t prog_size, unsigned options)
{
    if (!f)
        return CORIO_ERR_INVAL;
    memset(f, 0, sizeof *f);
    f->fd = -1;
    if (!path || prog_size == 0 || prog_size > 32 || (prog_size & (prog_size - 1u)) ||
        sector_count == 0 || sector_size == 0 || sector_size % prog_size)
        return CORIO_ERR_INVAL;
    f->sector_size = sector_size;
    f->sector_count = sector_count;
    f->prog_size = prog_size;
    f->options = options;
    uint64_t total = total_size(f);
    if (total > UINT32_MAX)
        return CORIO_ERR_INVAL;

    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return CORIO_ERR_IO;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return CORIO_ERR_IO;
    }
    f->fd = fd;
    uint8_t buf[256];
    int ret = CORIO_OK;
    if (st.st_size == 0) {
        memset(buf, 0xFF, sizeof buf);
        for (uint64_t off = 0; off < total && ret == CORIO_OK; off += sizeof buf)
            ret = pwrite_all(fd, buf, total - off < sizeof buf ? (size_t)(total - off) : sizeof buf,
                             (off_t)off);
        if (ret == CORIO_OK && fsync(fd) != 0)
            ret = CORIO_ERR_IO;
    } else if ((uint64_t)st.st_size != total) {
        ret = CORIO_ERR_INVAL;
    }
    if (ret == CORIO_OK) {
        f->written = calloc((size_t)(total / prog_size), 1);
        if (!f->written)
            ret = CORIO_ERR_NOSPACE;
    }
    /* Units already holding data count as programmed. */
    for (uint64_t off = 0; ret == CORIO_OK && off < total; off += sizeof buf) {
        size_t n = total - off < sizeof buf ? (size_t)(total - off) : sizeof buf;
        ret = pread_all(fd, buf, n, (off_t)off);
        for (size_t i = 0; ret == CORIO_OK && i < n; i++)
            if (buf[i] != 0xFF)
                f->written[(off + i) / prog_size] = 1;
    }
    if (ret != CORIO_OK)
        corio_posix_flash_close(f);
    return ret;
}

void corio_posix_flash_close(struct corio_posix_flash *f)
{
    if (!f)
        return;
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    free(f->written);
    f->written = NULL;
}

void corio_posix_flash_port(struct corio_posix_flash *f, struct corio_flash *out)
{
    memset(out, 0, sizeof *out);
    out->ctx = f;
    out->sector_size = f->sector_size;
    out->sector_count = f->sector_count;
    out->prog_size = f->prog_size;
    out->flags = (f->options & CORIO_POSIX_FLASH_REPROGRAM) ? CORIO_FLASH_F_REPROGRAM : 0;
    out->read = ff_read;
    out->program = ff_program;
    out->erase = ff_erase;
}
