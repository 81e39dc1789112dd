/* corio_sig.c - stop signals through an eventfd (corio_sig.h). */
#include "corio_sig.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "corio/error.h"

static volatile sig_atomic_t g_stop;
static volatile sig_atomic_t g_signo;
static int g_fd = -1;
static pthread_mutex_t g_init_lock = PTHREAD_MUTEX_INITIALIZER;

/* Async-signal-safe: a flag, and one write(2) to the eventfd, with errno preserved. */
static void wake(void)
{
    g_stop = 1;
    if (g_fd >= 0) {
        int saved = errno;
        uint64_t one = 1;
        ssize_t w = write(g_fd, &one, sizeof one);
        (void)w; /* EAGAIN means the counter is already non-zero: readable anyway */
        errno = saved;
    }
}

static void on_signal(int signo)
{
    g_signo = signo;
    wake();
}

int corio_sig_init(void)
{
    int rc = CORIO_OK;
    pthread_mutex_lock(&g_init_lock);
    if (g_fd < 0) {
        int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        struct sigaction sa = {0}, ign = {0};
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESTART;
        ign.sa_handler = SIG_IGN;
        sigemptyset(&ign.sa_mask);
        if (fd < 0) {
            rc = CORIO_ERR_IO;
        } else {
            g_fd = fd;
            if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0 ||
                sigaction(SIGPIPE, &ign, NULL) != 0)
                rc = CORIO_ERR_IO;
            else if (g_stop)
                wake(); /* a stop requested before init must still wake the loop */
        }
    }
    pthread_mutex_unlock(&g_init_lock);
    return rc;
}

int corio_sig_fd(void)
{
    return g_fd;
}

bool corio_sig_stop_requested(void)
{
    return g_stop != 0;
}

int corio_sig_last(void)
{
    return g_signo;
}

void corio_sig_request_stop(void)
{
    wake();
}

bool corio_sig_wait(int timeout_ms)
{
    if (g_stop)
        return true;
    if (g_fd < 0)
        return false;
    struct pollfd p = {.fd = g_fd, .events = POLLIN};
    int n;
    do
        n = poll(&p, 1, timeout_ms);
    while (n < 0 && errno == EINTR && !g_stop);
    return g_stop != 0;
}

void corio_sig_reset(void)
{
    uint64_t v;
    g_stop = 0;
    g_signo = 0;
    if (g_fd >= 0)
        while (read(g_fd, &v, sizeof v) == (ssize_t)sizeof v)
            ;
}
