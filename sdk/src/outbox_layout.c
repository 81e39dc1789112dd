/*
 * outbox_layout.c - the outbox's on-flash layout (format version 1,
 * docs/sdk-outbox.md) shared by its writers (outbox.c) and readers (outbox_scan.c,
 * outbox_read.c): record sizes, little-endian words, and sector headers, built and
 * checked from one description. Every check here is a bounds or CRC check on bytes
 * that may be anything. Record headers are encoded where they are written and
 * checked where they are scanned.
 */
#include <string.h>

#include "corio/crc32.h"
#include "outbox_int.h"

uint32_t corio__ob_pad(const struct corio_dev_outbox *ob, uint32_t len)
{
    return (len + ob->unit - 1u) & ~(ob->unit - 1u);
}

uint32_t corio__ob_rec_size(const struct corio_dev_outbox *ob, uint32_t len)
{
    /* header, payload padded to a unit, commit unit, ack unit */
    return OB_RHDR_LEN + corio__ob_pad(ob, len) + 2u * ob->unit;
}

uint32_t corio__ob_sector_addr(const struct corio_dev_outbox *ob, uint32_t sector)
{
    return sector * ob->flash.sector_size;
}

uint32_t corio__ob_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

bool corio__ob_read(const struct corio_dev_outbox *ob, uint32_t addr, uint8_t *buf, uint32_t n)
{
    return ob->flash.read(ob->flash.ctx, addr, buf, n) == CORIO_OK;
}

/* Headers are little-endian 32-bit words, read whole. */
void corio__ob_words_get(uint32_t *w, const uint8_t *b, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        w[i] = corio__ob_get32(b + 4 * i);
}

/* Sector header words 0..10 for h; word 11 is the CRC of bytes 0..43. */
#define SHDR_WORDS 12u
void corio__ob_shdr_words(const struct corio_dev_outbox *ob, const struct ob_shdr *h,
                          uint32_t w[SHDR_WORDS])
{
    uint32_t l = 0;
    while ((1u << l) < ob->unit)
        l++;
    w[0] = OB_MAGIC0 | OB_MAGIC1 << 8 | OB_MAGIC2 << 16 | (uint32_t)OB_MAGIC3 << 24;
    w[1] = CORIO_DEV_OUTBOX_FORMAT_VERSION | l << 8 | OB_SHDR_LEN << 16; /* byte 7 zero */
    w[2] = ob->flash.sector_size;
    w[3] = ob->flash.sector_count;
    w[4] = h->epoch;
    w[5] = h->ord;
    w[6] = h->erase;
    w[7] = h->base;
    w[8] = h->drops;
    w[9] = 0; /* reserved */
    w[10] = 0;
}

enum ob_shdr_state corio__ob_read_shdr(const struct corio_dev_outbox *ob, uint32_t sector,
                                       struct ob_shdr *h)
{
    uint8_t b[OB_SHDR_LEN];
    uint32_t w[SHDR_WORDS], t[SHDR_WORDS];
    if (!corio__ob_read(ob, corio__ob_sector_addr(ob, sector), b, sizeof b))
        return OB_SHDR_BAD;
    if (corio__ob_is_fill(b, sizeof b, 0xFFu))
        return OB_SHDR_BLANK;
    corio__ob_words_get(w, b, SHDR_WORDS);
    h->epoch = w[4];
    h->ord = w[5];
    h->erase = w[6];
    h->base = w[7];
    h->drops = w[8];
    /* What this outbox would write with these fields. */
    corio__ob_shdr_words(ob, h, t);
    if (w[0] != t[0])
        return OB_SHDR_BAD;
    /* Magic and version sit at the same place in every version. */
    if (b[4] != CORIO_DEV_OUTBOX_FORMAT_VERSION)
        return OB_SHDR_FOREIGN;
    if (w[11] != corio_crc32(0, b, 44))
        return OB_SHDR_BAD;
    if (memcmp(w, t, 44) != 0) /* geometry or reserved fields */
        return OB_SHDR_FOREIGN;
    /* epoch not 0 or OB_NONE, base 1..CORIO_DEV_OUTBOX_SEQ_MAX */
    if (h->epoch + 1u < 2u || h->ord > OB_ORD_MAX || h->base - 1u >= CORIO_DEV_OUTBOX_SEQ_MAX)
        return OB_SHDR_BAD;
    return OB_SHDR_VALID;
}

bool corio__ob_is_fill(const uint8_t *p, uint32_t n, uint8_t fill)
{
    for (uint32_t i = 0; i < n; i++)
        if (p[i] != fill)
            return false;
    return true;
}
