/*
 * rv32_random.c - the port's random source over the part's true random generator.
 *
 * The repetition test is the cheapest health check that catches the failure that
 * matters on a microcontroller: a generator whose clock stopped or whose seed logic
 * failed keeps returning the same word. It is NIST SP 800-90B's repetition count test
 * with a cutoff of two on 32-bit samples.
 */
#include "port_rv32.h"

#include <string.h>

static int fill(void *ctx, uint8_t *buf, size_t len)
{
    struct corio_rv32_random *r = ctx;

    if (buf == NULL && len > 0)
        return CORIO_ERR_INVAL;
    while (len > 0) {
        uint32_t w;
        size_t n = len < sizeof w ? len : sizeof w;
        int err = r->trng.read_word(r->trng.ctx, &w);

        if (err < 0)
            return err;
        if (r->primed && w == r->last)
            return CORIO_ERR_IO;
        r->last = w;
        r->primed = 1;
        memcpy(buf, &w, n);
        buf += n;
        len -= n;
    }
    return CORIO_OK;
}

int corio_rv32_random_init(struct corio_rv32_random *r, const struct corio_rv32_trng *trng,
                          struct corio_random *rnd)
{
    if (r == NULL || trng == NULL || trng->read_word == NULL || rnd == NULL)
        return CORIO_ERR_INVAL;
    r->trng = *trng;
    r->last = 0;
    r->primed = 0;
    rnd->ctx = r;
    rnd->fill = fill;
    return CORIO_OK;
}
