/*
 * live_share.h - the live events of one corio-cloud instance, for the others.
 *
 * Several instances ingest one NATS JetStream stream, each batch in one of them; a
 * dashboard's live stream is open on one instance only. So each instance publishes the
 * events of the batches it committed on a core NATS subject of its organisation, and
 * broadcasts what the others publish there to its own streams (docs/scale-out.md).
 *
 * A shared message is text, one line per field:
 *
 *     corio-live-1 <instance>\n
 *     <event>\n<data>\n          (once per event)
 *
 * <instance> names the sender (16 hexadecimal digits, random per process), so that an
 * instance skips its own messages; <event> is 1 to 31 characters of a-z and '_';
 * <data> is the event's compact JSON: no control characters, so no line breaks.
 * A message is checked whole before any of its events is delivered.
 */
#ifndef CORIO_CLOUD_LIVE_SHARE_H
#define CORIO_CLOUD_LIVE_SHARE_H

#include <stddef.h>
#include <stdint.h>

#include "ingest.h"

#define CORIO_LIVE_MAGIC        "corio-live-1"
#define CORIO_LIVE_INSTANCE_LEN 16
#define CORIO_LIVE_EVENT_MAX    31
#define CORIO_LIVE_DATA_MAX     65536
/* Below nats-server's default max_payload (1 MiB) with room for the headers. */
#define CORIO_LIVE_MSG_MAX (512 * 1024)

/* Writes a new random instance name (CORIO_LIVE_INSTANCE_LEN hex digits and a NUL). */
void corio_live_instance_new(char out[CORIO_LIVE_INSTANCE_LEN + 1]);

/* Called with each packed message (len <= the max given to corio_live_pack); returns
 * CORIO_OK or an error, which ends the packing. */
typedef int (*corio_live_send_fn)(void *arg, const char *msg, size_t len);

/*
 * Packs the n events into messages of at most max bytes (0: CORIO_LIVE_MSG_MAX) from
 * instance, calling send for each. An event that cannot be shared (a name or data
 * outside the format, or too large for one message) is left out and counted in
 * *skipped. Returns the number of events handed to send, or send's error, or
 * CORIO_ERR_NOSPACE / CORIO_ERR_INVAL.
 */
int corio_live_pack(const char *instance, const struct corio_event *ev, size_t n, size_t max,
                    corio_live_send_fn send, void *arg, size_t *skipped);

/* Called with each event of a message; both strings are NUL-terminated and live until
 * the callback returns. */
typedef void (*corio_live_deliver_fn)(void *arg, const char *event, const char *data);

/*
 * Checks a message from the subject and delivers its events, unless it came from self
 * (an instance name). Returns the number delivered (0 also for one's own message), or
 * CORIO_ERR_MALFORMED with why (nothing delivered), or CORIO_ERR_NOSPACE.
 */
int corio_live_unpack(const char *self, const uint8_t *msg, size_t len,
                      corio_live_deliver_fn deliver, void *arg, char *why, size_t whylen);

#endif /* CORIO_CLOUD_LIVE_SHARE_H */
