/*
 * outbox_layout.c - encoding and checking the outbox's on-flash structures (format
 * version 1, docs/sdk-outbox.md): sector headers, record headers, ack units. All
 * integers are little-endian; every check here is a bounds or CRC check on bytes
 * that may be anything.
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

/* Bytes the head keeps free beyond each message: room for two rotation notes (a cut
 * may tear the first), each after a reopen's guard and boot mark. */
uint32_t corio__ob_reserve(const struct corio_dev_outbox *ob)
{
    return 2u * (corio__ob_rec_size(ob, OB_ROT_LEN) + ob->unit + OB_GUARD);
}

uint32_t corio__ob_sector_addr(const struct corio_dev_outbox *ob, uint32_t sector)
{
    return sector * ob->flash.sector_size;
}

void corio__ob_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

uint32_t corio__ob_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint8_t unit_log2(uint32_t unit)
{
    uint8_t l = 0;
    while ((1u << l) < unit)
        l++;
    return l;
}

void corio__ob_encode_shdr(const struct corio_dev_outbox *ob, const struct ob_shdr *h,
                           uint8_t out[OB_SHDR_LEN])
{
    memset(out, 0, OB_SHDR_LEN);
    out[0] = OB_MAGIC0;
    out[1] = OB_MAGIC1;
    out[2] = OB_MAGIC2;
    out[3] = OB_MAGIC3;
    out[4] = CORIO_DEV_OUTBOX_FORMAT_VERSION;
    out[5] = unit_log2(ob->unit);
    out[6] = (uint8_t)OB_SHDR_LEN;
    out[7] = 0;
    corio__ob_put32(out + 8, ob->flash.sector_size);
    corio__ob_put32(out + 12, ob->flash.sector_count);
    corio__ob_put32(out + 16, h->epoch);
    corio__ob_put32(out + 20, h->ord);
    corio__ob_put32(out + 24, h->erase);
    corio__ob_put32(out + 28, h->base);
    corio__ob_put32(out + 32, h->drops);
    /* 36..43 reserved, zero */
    corio__ob_put32(out + 44, corio_crc32(0, out, 44));
}

enum ob_shdr_state corio__ob_read_shdr(const struct corio_dev_outbox *ob, uint32_t sector,
                                       struct ob_shdr *h)
{
    uint8_t b[OB_SHDR_LEN];
    if (ob->flash.read(ob->flash.ctx, corio__ob_sector_addr(ob, sector), b, sizeof b) != CORIO_OK)
        return OB_SHDR_BAD;
    if (corio__ob_is_erased(b, sizeof b))
        return OB_SHDR_BLANK;
    if (b[0] != OB_MAGIC0 || b[1] != OB_MAGIC1 || b[2] != OB_MAGIC2 || b[3] != OB_MAGIC3)
        return OB_SHDR_BAD;
    /* Magic and version sit at the same place in every version. */
    if (b[4] != CORIO_DEV_OUTBOX_FORMAT_VERSION)
        return OB_SHDR_FOREIGN;
    if (corio__ob_get32(b + 44) != corio_crc32(0, b, 44))
        return OB_SHDR_BAD;
    if (b[5] != unit_log2(ob->unit) || b[6] != OB_SHDR_LEN || b[7] != 0 ||
        corio__ob_get32(b + 8) != ob->flash.sector_size ||
        corio__ob_get32(b + 12) != ob->flash.sector_count || corio__ob_get32(b + 36) != 0 ||
        corio__ob_get32(b + 40) != 0)
        return OB_SHDR_FOREIGN;
    h->epoch = corio__ob_get32(b + 16);
    h->ord = corio__ob_get32(b + 20);
    h->erase = corio__ob_get32(b + 24);
    h->base = corio__ob_get32(b + 28);
    h->drops = corio__ob_get32(b + 32);
    if (h->epoch == 0 || h->epoch == OB_NONE || h->ord > OB_ORD_MAX || h->base == 0 ||
        h->base > CORIO_DEV_OUTBOX_SEQ_MAX)
        return OB_SHDR_BAD;
    return OB_SHDR_VALID;
}

void corio__ob_encode_rec(const struct ob_rec *r, uint8_t out[OB_RHDR_LEN])
{
    memset(out, 0, OB_RHDR_LEN);
    out[0] = r->kind;
    out[1] = r->type;
    out[2] = (uint8_t)r->len;
    out[3] = (uint8_t)(r->len >> 8);
    corio__ob_put32(out + 4, r->seq);
    out[8] = r->time_kind;
    /* 9..11 reserved, zero */
    corio__ob_put32(out + 12, r->boot);
    corio__ob_put32(out + 16, (uint32_t)r->time_ms);
    corio__ob_put32(out + 20, (uint32_t)(r->time_ms >> 32));
    corio__ob_put32(out + 24, r->pcrc);
    corio__ob_put32(out + 28, corio_crc32(0, out, 28));
}

bool corio__ob_parse_rec(const uint8_t in[OB_RHDR_LEN], struct ob_rec *r)
{
    if (in[0] != OB_KIND_MSG && in[0] != OB_KIND_ROT)
        return false;
    r->hcrc = corio__ob_get32(in + 28);
    if (r->hcrc != corio_crc32(0, in, 28))
        return false;
    if (in[9] != 0 || in[10] != 0 || in[11] != 0 || in[8] > CORIO_DEV_OUTBOX_TIME_UPTIME_MS)
        return false;
    r->kind = in[0];
    r->type = in[1];
    r->len = (uint16_t)(in[2] | in[3] << 8);
    r->seq = corio__ob_get32(in + 4);
    r->time_kind = in[8];
    r->boot = corio__ob_get32(in + 12);
    r->time_ms = (uint64_t)corio__ob_get32(in + 16) | (uint64_t)corio__ob_get32(in + 20) << 32;
    r->pcrc = corio__ob_get32(in + 24);
    if (r->kind == OB_KIND_MSG)
        return r->seq != 0 && r->seq <= CORIO_DEV_OUTBOX_SEQ_MAX;
    return r->len == OB_ROT_LEN && r->seq == 0 && r->type == 0 && r->time_kind == 0 &&
           r->boot == 0 && r->time_ms == 0;
}

bool corio__ob_is_erased(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0xFFu)
            return false;
    return true;
}

/* An ack unit is programmed to all zeros. Fewer than half its bits at zero reads
 * as not acknowledged, so noise errs towards a resend, never towards a loss. */
enum ob_ack corio__ob_classify_ack(const uint8_t *p, size_t n)
{
    size_t zeros = 0;
    for (size_t i = 0; i < n; i++)
        for (uint8_t b = (uint8_t)~p[i]; b; b &= (uint8_t)(b - 1u))
            zeros++;
    if (zeros == 0)
        return OB_ACK_NONE;
    return 2u * zeros >= 8u * n ? OB_ACK_DONE : OB_ACK_TORN;
}
