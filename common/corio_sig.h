/*
 * corio_sig.h - stop signals for a daemon's event loop.
 *
 * corio_sig_init installs handlers for SIGTERM and SIGINT that set a flag and make an
 * eventfd readable, so a loop blocked in poll()/epoll_wait() on corio_sig_fd() wakes at
 * once; the handlers do nothing else (only async-signal-safe work). SIGPIPE is ignored,
 * so a peer closing a socket shows as EPIPE from write() rather than killing the daemon.
 * The state is process-wide, as signal dispositions are.
 */
#ifndef CORIO_SIG_H
#define CORIO_SIG_H

#include <stdbool.h>

/*
 * Installs the handlers and creates the wake-up descriptor; calling it again is a no-op.
 * Returns CORIO_OK or CORIO_ERR_IO (eventfd or sigaction failed; errno tells why).
 */
int corio_sig_init(void);

/* A descriptor that becomes readable (and stays so) once a stop was requested; -1 before
 * corio_sig_init. For poll sets; do not read or close it. */
int corio_sig_fd(void);

/* True once SIGTERM or SIGINT arrived or corio_sig_request_stop was called. */
bool corio_sig_stop_requested(void);

/* The signal that requested the stop (SIGTERM, SIGINT), 0 for none or a programmatic stop. */
int corio_sig_last(void);

/* Requests a stop from the program itself (a fatal error in a worker, a test).
 * Async-signal-safe and thread-safe. */
void corio_sig_request_stop(void);

/*
 * Waits up to timeout_ms (-1: forever) for a stop request. Returns true when a stop was
 * requested, false when the time ran out. For daemons whose loop has nothing else to
 * wait on.
 */
bool corio_sig_wait(int timeout_ms);

/* Forgets a stop request, so a test can raise the signal again. */
void corio_sig_reset(void);

#endif /* CORIO_SIG_H */
