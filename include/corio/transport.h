/*
 * transport.h - what a port gives the SDK's protocol clients: a byte-stream transport,
 * a monotonic millisecond clock and a random source.
 *
 * Each is a small struct of function pointers and a context pointer the port owns, so a
 * board adds files under sdk/port/<board>/ and never touches the clients. The clients
 * never block on their own: every call here must return promptly, either because the
 * port's I/O is non-blocking or because it is bounded by a short timeout the port
 * chooses (the POSIX port, sdk/port/posix, is non-blocking after connect).
 */
#ifndef CORIO_TRANSPORT_H
#define CORIO_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "corio/config.h"
#include "corio/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A reliable, ordered byte stream (TCP, TLS over TCP, a modem's socket). A transport
 * is opened and closed many times over its life: once per connection attempt. */
struct corio_transport {
    void *ctx; /* passed to every function; owned by the port */

    /* Opens a connection to the peer the port was configured with, or continues an
     * opening already in progress. Returns CORIO_OK when connected, CORIO_ERR_AGAIN
     * while still in progress (the caller calls again later; nothing is sent before
     * CORIO_OK), or a negative error (CORIO_ERR_IO, CORIO_ERR_TIMEOUT,
     * CORIO_ERR_REFUSED, ...) when this attempt failed; close is called after a
     * failure too. */
    int (*open)(void *ctx);

    /* Sends up to len (> 0) bytes from buf. Returns the number of bytes accepted
     * (1..len), 0 when none can be accepted now (would block, or the port's short
     * timeout passed), or a negative error: CORIO_ERR_CLOSED when the peer closed,
     * CORIO_ERR_IO for anything else. After an error the connection is unusable. */
    int (*send)(void *ctx, const uint8_t *buf, size_t len);

    /* Receives up to len (> 0) bytes into buf. Returns the number of bytes received
     * (1..len), 0 when none are available now, CORIO_ERR_CLOSED when the peer closed
     * the stream in order, or another negative error (CORIO_ERR_IO). */
    int (*recv)(void *ctx, uint8_t *buf, size_t len);

    /* Closes the connection (or the attempt). Safe to call when nothing is open. */
    void (*close)(void *ctx);
};

/* A monotonic clock. */
struct corio_clock {
    void *ctx;
    /* Milliseconds since an arbitrary origin; never goes backwards and may wrap at
     * 2^32 (clients compare times by unsigned difference, so a wrap is harmless for
     * intervals under 24 days). */
    uint32_t (*now_ms)(void *ctx);
};

/* A random source for timing jitter and identifiers (not for keys: those come from the
 * crypto backend). */
struct corio_random {
    void *ctx;
    /* Fills buf with len random bytes. Returns CORIO_OK or a negative error. */
    int (*fill)(void *ctx, uint8_t *buf, size_t len);
};

#ifdef __cplusplus
}
#endif
#endif /* CORIO_TRANSPORT_H */
