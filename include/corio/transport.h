/*
 * transport.h - what a port gives the SDK's protocol clients: a byte-stream transport
 * (MQTT), a datagram transport (CoAP), a monotonic millisecond clock and a random
 * source.
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

/* An unreliable datagram transport to one peer (UDP, DTLS over UDP, a modem's UDP
 * socket). Each send is one whole datagram and each receive gives one whole datagram;
 * datagrams may be lost, duplicated or reordered, which the protocol client handles.
 * Like the stream transport it is opened and closed many times over its life: once per
 * association (for DTLS, per session). */
struct corio_datagram {
    void *ctx; /* passed to every function; owned by the port */

    /* Opens the association with the peer the port was configured with, or continues
     * an opening already in progress (a DTLS handshake: the caller calls again often
     * enough for the port's retransmission timers). Returns CORIO_OK when open,
     * CORIO_ERR_AGAIN while still in progress (nothing is sent before CORIO_OK), or a
     * negative error when this attempt failed (CORIO_ERR_IO, CORIO_ERR_NOTFOUND,
     * CORIO_ERR_BADSIG, CORIO_ERR_CRYPTO, ...); close is called after a failure too. */
    int (*open)(void *ctx);

    /* Sends buf[0 .. len) (len > 0) as one datagram. Returns len when it was handed to
     * the network (delivery is never known), 0 when it cannot be sent now (would block;
     * nothing was sent, the caller tries again later), CORIO_ERR_NOSPACE when it is too
     * large for the transport (nothing was sent; the association stays usable), or
     * another negative error after which the association is unusable (CORIO_ERR_IO,
     * CORIO_ERR_CLOSED). */
    int (*send)(void *ctx, const uint8_t *buf, size_t len);

    /* Receives one datagram into buf (cap > 0 bytes). Returns its length (1..cap), 0 when
     * none is available now (empty datagrams are dropped), CORIO_ERR_NOSPACE when one
     * longer than cap arrived (it was dropped; the association stays usable; call
     * again), or another negative error after which the association is unusable
     * (CORIO_ERR_CLOSED when the peer closed it, as a DTLS close_notify does;
     * CORIO_ERR_IO). */
    int (*recv)(void *ctx, uint8_t *buf, size_t cap);

    /* Closes the association (or the attempt). Safe to call when nothing is open. */
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
