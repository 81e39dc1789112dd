/*
 * outbox_scan.c - reading the outbox back: which sectors form the ring, which records
 * in a sector are readable, and finding a record by seq.
 *
 * Nothing here trusts the flash. A scan moves forward by a whole record only when
 * the record's header and commit mark are both intact (both were written by one
 * append, so the length they agree on is real); anything else moves it by one unit.
 * Every loop is bounded by the sector size over the unit, or by the sector count.
 */
#include <string.h>

#include "corio/crc32.h"
#include "outbox_int.h"

enum ob_at {
    OB_AT_ERASED,  /* the unit reads erased */
    OB_AT_MARK,    /* a boot mark */
    OB_AT_GARBAGE, /* not a record header, or unreadable */
    OB_AT_TORN,    /* an intact header without its commit mark (a cut append) */
    OB_AT_DAMAGED, /* committed, but the payload does not match its CRC */
    OB_AT_OK,
};

static uint32_t min32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

static bool commit_ok(const struct corio_dev_outbox *ob, uint32_t addr, uint32_t hcrc)
{
    uint8_t b[32];
    if (ob->flash.read(ob->flash.ctx, addr, b, ob->unit) != CORIO_OK)
        return false;
    if (corio__ob_get32(b) != ~hcrc)
        return false;
    for (uint32_t i = 4; i < ob->unit; i++)
        if (b[i] != 0)
            return false;
    return true;
}

static bool payload_ok(const struct corio_dev_outbox *ob, uint32_t addr, uint32_t len,
                       uint32_t pcrc, uint8_t *keep, size_t keep_len)
{
    uint8_t b[OB_CHUNK];
    uint32_t crc = 0;
    for (uint32_t off = 0; off < len;) {
        uint32_t n = min32(OB_CHUNK, len - off);
        if (ob->flash.read(ob->flash.ctx, addr + off, b, n) != CORIO_OK)
            return false;
        crc = corio_crc32(crc, b, n);
        if (off < keep_len)
            memcpy(keep + off, b, min32(n, (uint32_t)keep_len - off));
        off += n;
    }
    return crc == pcrc;
}

/* Examines the unit at pos of sector; for an intact record fills *v. */
static enum ob_at rec_at(const struct corio_dev_outbox *ob, uint32_t sector, uint32_t pos,
                         struct ob_visit *v, bool *hdr_ok)
{
    uint32_t ssz = ob->flash.sector_size;
    uint32_t base = corio__ob_sector_addr(ob, sector);
    uint8_t hb[OB_RHDR_LEN];
    uint32_t n = min32(OB_RHDR_LEN, ssz - pos);

    *hdr_ok = false;
    if (ob->flash.read(ob->flash.ctx, base + pos, hb, n) != CORIO_OK)
        return OB_AT_GARBAGE;
    if (corio__ob_is_erased(hb, ob->unit))
        return OB_AT_ERASED;
    if (hb[0] == OB_MARK) {
        uint32_t i = 1;
        while (i < ob->unit && hb[i] == 0)
            i++;
        if (i == ob->unit)
            return OB_AT_MARK;
    }
    if (n < OB_RHDR_LEN || !corio__ob_parse_rec(hb, &v->rec))
        return OB_AT_GARBAGE;
    uint32_t size = corio__ob_rec_size(ob, v->rec.len);
    if (size > ssz - pos)
        return OB_AT_GARBAGE;
    *hdr_ok = true;
    uint32_t pad = corio__ob_pad(ob, v->rec.len);
    if (!commit_ok(ob, base + pos + OB_RHDR_LEN + pad, v->rec.hcrc))
        return OB_AT_TORN;
    v->sector = sector;
    v->pos = pos;
    v->end = pos + size;
    uint8_t rot[OB_ROT_LEN];
    bool is_rot = v->rec.kind == OB_KIND_ROT;
    if (!payload_ok(ob, base + pos + OB_RHDR_LEN, v->rec.len, v->rec.pcrc, rot,
                    is_rot ? sizeof rot : 0))
        return OB_AT_DAMAGED;
    if (is_rot) {
        for (int i = 0; i < 4; i++)
            v->rot[i] = corio__ob_get32(rot + 4 * i);
        v->ack = OB_ACK_NONE;
    } else {
        uint8_t ab[32];
        if (ob->flash.read(ob->flash.ctx, base + v->end - ob->unit, ab, ob->unit) != CORIO_OK)
            v->ack = OB_ACK_TORN; /* unreadable: resend rather than lose */
        else
            v->ack = (uint8_t)corio__ob_classify_ack(ab, ob->unit);
    }
    return OB_AT_OK;
}

void corio__ob_scan(const struct corio_dev_outbox *ob, struct ob_scan *sc, ob_visit_fn fn,
                    void *ctx)
{
    uint32_t ssz = ob->flash.sector_size, u = ob->unit;
    uint32_t p = sc->pos;
    bool in_bad = false;

    if (p < ob->shdr_size)
        p = ob->shdr_size;
    p = (p + u - 1u) & ~(u - 1u);
    if (sc->dirty_end < ob->shdr_size)
        sc->dirty_end = ob->shdr_size;

    while (p < ssz && ssz - p >= u) {
        struct ob_visit v;
        bool hdr_ok;
        enum ob_at at = rec_at(ob, sc->sector, p, &v, &hdr_ok);
        if (at == OB_AT_ERASED) {
            in_bad = false;
            p += u;
            continue;
        }
        if (sc->dirty_end < p + u)
            sc->dirty_end = p + u;
        if (at == OB_AT_MARK) {
            in_bad = false;
            p += u;
            continue;
        }
        if (hdr_ok) {
            if (v.rec.kind == OB_KIND_MSG && v.rec.seq >= sc->lo && v.rec.seq > sc->max_seq)
                sc->max_seq = v.rec.seq;
            if (v.rec.kind == OB_KIND_ROT)
                sc->sealed = true;
            /* Even uncommitted, the record claims its whole extent: its commit unit
             * may have been in flight and read committed later, and then its ack
             * unit must still be erased, not part of the next record. */
            uint32_t end = p + corio__ob_rec_size(ob, v.rec.len);
            if (sc->dirty_end < end)
                sc->dirty_end = end;
        }
        if (at == OB_AT_OK || at == OB_AT_DAMAGED) {
            uint32_t end = p + corio__ob_rec_size(ob, v.rec.len);
            in_bad = false;
            bool readable = at == OB_AT_OK;
            if (readable && v.rec.kind == OB_KIND_MSG)
                readable = v.rec.seq >= sc->lo && v.rec.seq < sc->hi && v.rec.seq > sc->last;
            if (!readable) {
                sc->corrupt++;
            } else {
                if (v.rec.kind == OB_KIND_MSG)
                    sc->last = v.rec.seq;
                if (fn && fn(ctx, &v)) {
                    sc->pos = end;
                    return;
                }
            }
            p = end;
            continue;
        }
        if (!in_bad)
            sc->corrupt++;
        in_bad = true;
        p += u;
    }
    sc->pos = ssz;
}

uint32_t corio__ob_sector_at(const struct corio_dev_outbox *ob, uint32_t d)
{
    uint32_t n = ob->flash.sector_count;
    return (ob->head + n - d % n) % n;
}

uint32_t corio__ob_span(const struct corio_dev_outbox *ob)
{
    return ob->head_ord - ob->oldest_ord + 1u;
}

bool corio__ob_member(const struct corio_dev_outbox *ob, uint32_t d, struct ob_shdr *h)
{
    if (d >= corio__ob_span(ob))
        return false;
    if (corio__ob_read_shdr(ob, corio__ob_sector_at(ob, d), h) != OB_SHDR_VALID)
        return false;
    return h->epoch == ob->epoch && h->ord == ob->head_ord - d;
}

uint32_t corio__ob_window_hi(const struct corio_dev_outbox *ob, uint32_t d)
{
    struct ob_shdr h;
    while (d > 0) {
        d--;
        if (corio__ob_member(ob, d, &h))
            return h.base;
    }
    return ob->next_seq;
}

bool corio__ob_locate(const struct corio_dev_outbox *ob, uint32_t seq, uint32_t *d,
                      struct ob_shdr *h, uint32_t *hi)
{
    uint32_t span = corio__ob_span(ob), up = ob->next_seq;
    for (uint32_t i = 0; i < span; i++) {
        if (!corio__ob_member(ob, i, h))
            continue;
        if (h->base <= seq) {
            *d = i;
            *hi = up;
            return true;
        }
        up = h->base;
    }
    return false;
}

struct find_ctx {
    uint32_t seq;
    bool found;
    struct ob_visit *v;
};

static int find_visit(void *ctx, const struct ob_visit *v)
{
    struct find_ctx *f = ctx;
    if (v->rec.kind != OB_KIND_MSG)
        return 0;
    if (v->rec.seq == f->seq) {
        *f->v = *v;
        f->found = true;
        return 1;
    }
    return v->rec.seq > f->seq;
}

void corio__ob_cache_put(struct corio_dev_outbox *ob, uint32_t seq, uint32_t addr)
{
    for (unsigned i = 0; i < CORIO_DEV_OUTBOX_CACHE; i++)
        if (ob->cache[i].seq == seq) {
            ob->cache[i].addr = addr;
            return;
        }
    ob->cache[ob->cache_next].seq = seq;
    ob->cache[ob->cache_next].addr = addr;
    ob->cache_next = (uint8_t)((ob->cache_next + 1u) % CORIO_DEV_OUTBOX_CACHE);
}

int corio__ob_find(struct corio_dev_outbox *ob, uint32_t seq, struct ob_visit *v)
{
    uint32_t ssz = ob->flash.sector_size;
    if (seq == 0 || seq >= ob->next_seq)
        return CORIO_ERR_NOTFOUND;

    for (unsigned i = 0; i < CORIO_DEV_OUTBOX_CACHE; i++) {
        if (ob->cache[i].seq != seq)
            continue;
        bool hdr_ok;
        uint32_t a = ob->cache[i].addr;
        if (rec_at(ob, a / ssz, a % ssz, v, &hdr_ok) == OB_AT_OK && v->rec.kind == OB_KIND_MSG &&
            v->rec.seq == seq)
            return CORIO_OK;
        ob->cache[i].seq = 0;
    }

    uint32_t d, hi;
    struct ob_shdr h;
    if (!corio__ob_locate(ob, seq, &d, &h, &hi))
        return CORIO_ERR_NOTFOUND;
    struct ob_scan sc = {.sector = corio__ob_sector_at(ob, d), .lo = h.base, .hi = hi};
    struct find_ctx f = {.seq = seq, .v = v};
    corio__ob_scan(ob, &sc, find_visit, &f);
    if (!f.found)
        return CORIO_ERR_NOTFOUND;
    corio__ob_cache_put(ob, seq, corio__ob_sector_addr(ob, v->sector) + v->pos);
    return CORIO_OK;
}

int corio__ob_read_payload(const struct corio_dev_outbox *ob, const struct ob_visit *v,
                           uint8_t *buf)
{
    uint32_t addr = corio__ob_sector_addr(ob, v->sector) + v->pos + OB_RHDR_LEN;
    if (v->rec.len == 0)
        return CORIO_OK;
    if (ob->flash.read(ob->flash.ctx, addr, buf, v->rec.len) != CORIO_OK)
        return CORIO_ERR_IO;
    /* Read twice, checked twice: a weak cell may read differently this time. */
    if (corio_crc32(0, buf, v->rec.len) != v->rec.pcrc)
        return CORIO_ERR_IO;
    return CORIO_OK;
}
