/*
 * posix_sys.c - the POSIX port's clock (CLOCK_MONOTONIC) and random source
 * (/dev/urandom), in transport.h's shapes.
 */
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "corio/port_posix.h"

static uint32_t posix_now_ms(void *ctx)
{
    struct timespec ts;
    (void)ctx;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    /* Truncation to 32 bits is the interface's wrap-around. */
    return (uint32_t)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
}

static int posix_fill(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return CORIO_ERR_IO;
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close(fd);
            return CORIO_ERR_IO;
        }
        got += (size_t)n;
    }
    close(fd);
    return CORIO_OK;
}

void corio_posix_clock(struct corio_clock *out)
{
    if (!out)
        return;
    out->ctx = NULL;
    out->now_ms = posix_now_ms;
}

void corio_posix_random(struct corio_random *out)
{
    if (!out)
        return;
    out->ctx = NULL;
    out->fill = posix_fill;
}
