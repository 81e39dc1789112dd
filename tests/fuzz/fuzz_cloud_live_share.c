/* fuzz_cloud_live_share.c - the live messages corio-cloud instances share over NATS
 * (live_share.h) on arbitrary bytes. What is accepted must re-pack to the same events. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "corio/error.h"
#include "live_share.h"

struct evs {
    struct corio_event ev[4096];
    size_t n;
};

static void keep(void *arg, const char *event, const char *data)
{
    struct evs *e = arg;
    if (e->n >= 4096)
        abort(); /* a message this small cannot hold more */
    /* Names are kept static by the caller's contract; a copy stands in here. */
    e->ev[e->n].type = strdup(event);
    e->ev[e->n].data = strdup(data);
    e->n++;
}

static int count(void *arg, const char *msg, size_t len)
{
    (void)msg;
    if (len > CORIO_LIVE_MSG_MAX)
        abort();
    (*(int *)arg)++;
    return CORIO_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct evs e;
    e.n = 0;
    char why[128];
    int n = corio_live_unpack("0123456789abcdef", data, size, keep, &e, why, sizeof why);
    if (n < 0 && e.n != 0)
        abort(); /* refused means nothing delivered */
    if (n >= 0 && (size_t)n != e.n)
        abort();
    if (n > 0) {
        int msgs = 0;
        size_t skipped = 0;
        if (corio_live_pack("fedcba9876543210", e.ev, e.n, 0, count, &msgs, &skipped) != n ||
            skipped != 0)
            abort(); /* every accepted event can be shared again */
    }
    for (size_t i = 0; i < e.n; i++) {
        free((void *)e.ev[i].type);
        free(e.ev[i].data);
    }
    return 0;
}
