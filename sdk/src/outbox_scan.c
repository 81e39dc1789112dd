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
    /* From here on the record header is intact. */
    OB_AT_TORN,    /* an intact header without its commit mark (a cut append) */
    OB_AT_DAMAGED, /* committed, but the payload does not match its CRC */
    OB_AT_OK,
};

/* Reads the payload of the record v (its CRC checked) through a chunk on the stack,
 * or into out when that is not NULL (v->rec.len bytes). */
bool corio__ob_payload(const struct corio_dev_outbox *ob, const struct ob_visit *v, uint8_t *out)
{
    uint8_t b[OB_CHUNK];
    uint32_t addr = corio__ob_sector_addr(ob, v->sector) + v->pos + OB_RHDR_LEN;
    uint32_t len = v->rec.len, crc = 0;
    for (uint32_t off = 0; off < len;) {
        uint32_t n = len - off < OB_CHUNK ? len - off : OB_CHUNK;
        uint8_t *p = out ? out + off : b;
        if (!corio__ob_read(ob, addr + off, p, n))
            return false;
        crc = corio_crc32(crc, p, n);
        off += n;
    }
    return crc == v->rec.w[OB_W_PCRC];
}

/* An ack unit is programmed to all zeros. Fewer than half its bits at zero reads
 * as not acknowledged, so noise errs towards a resend, never towards a loss. */
static enum ob_ack classify_ack(const uint8_t *p, size_t n)
{
    size_t zeros = 0;
    for (size_t i = 0; i < n; i++)
        for (uint8_t b = (uint8_t)~p[i]; b; b &= (uint8_t)(b - 1u))
            zeros++;
    if (zeros == 0)
        return OB_ACK_NONE;
    return 2u * zeros >= 8u * n ? OB_ACK_DONE : OB_ACK_TORN;
}

/* A record header: the kinds this version knows, CRC right, reserved bytes zero, and
 * the fields each kind allows. */
static bool parse_rec(const uint8_t in[OB_RHDR_LEN], struct ob_rec *r)
{
    uint32_t *w = r->w;
    corio__ob_words_get(w, in, OB_RHDR_WORDS);
    r->kind = in[0];
    r->len = w[OB_W_HEAD] >> 16;
    if ((r->kind != OB_KIND_MSG && r->kind != OB_KIND_ROT) ||
        w[OB_W_HCRC] != corio_crc32(0, in, 28) ||
        w[OB_W_TKIND] > CORIO_DEV_OUTBOX_TIME_UPTIME_MS) /* also: the reserved bytes are zero */
        return false;
    if (r->kind == OB_KIND_MSG) /* seq 1..CORIO_DEV_OUTBOX_SEQ_MAX */
        return w[OB_W_SEQ] - 1u < CORIO_DEV_OUTBOX_SEQ_MAX;
    /* a rotation note: length 16, every other field zero */
    return w[OB_W_HEAD] == (OB_KIND_ROT | OB_ROT_LEN << 16) &&
           (w[OB_W_SEQ] | w[OB_W_TKIND] | w[OB_W_BOOT] | w[OB_W_TLO] | w[OB_W_THI]) == 0;
}

/* Whether the unit at b is the four bytes of first (little-endian), then zeros: how
 * boot marks and commit units are written. */
static bool unit_is(const uint8_t *b, uint32_t u, uint32_t first)
{
    return corio__ob_get32(b) == first && corio__ob_is_fill(b + 4, u - 4u, 0);
}

/* Examines the unit at pos of sector; from OB_AT_TORN on v->rec is the header and
 * v->sector, pos and end its place, for OB_AT_OK all of *v is filled. */
static enum ob_at rec_at(const struct corio_dev_outbox *ob, uint32_t sector, uint32_t pos,
                         struct ob_visit *v)
{
    uint32_t ssz = ob->flash.sector_size, u = ob->unit;
    uint32_t addr = corio__ob_sector_addr(ob, sector) + pos;
    uint8_t hb[OB_RHDR_LEN];
    uint32_t n = ssz - pos < OB_RHDR_LEN ? ssz - pos : OB_RHDR_LEN;

    if (!corio__ob_read(ob, addr, hb, n))
        return OB_AT_GARBAGE;
    if (corio__ob_is_fill(hb, u, 0xFFu))
        return OB_AT_ERASED;
    if (unit_is(hb, u, OB_MARK))
        return OB_AT_MARK;
    if (n < OB_RHDR_LEN || !parse_rec(hb, &v->rec))
        return OB_AT_GARBAGE;
    uint32_t size = corio__ob_rec_size(ob, v->rec.len);
    if (size > ssz - pos)
        return OB_AT_GARBAGE;
    v->sector = sector;
    v->pos = pos;
    v->end = pos + size;
    /* The commit unit is the only one of its value: ~hcrc, then zeros. */
    if (!corio__ob_read(ob, addr + size - 2u * u, hb, u) || !unit_is(hb, u, ~v->rec.w[OB_W_HCRC]))
        return OB_AT_TORN;
    bool is_rot = v->rec.kind == OB_KIND_ROT;
    if (!corio__ob_payload(ob, v, is_rot ? hb : NULL))
        return OB_AT_DAMAGED;
    v->ack = OB_ACK_NONE;
    if (is_rot) {
        corio__ob_words_get(v->rot, hb, 4);
    } else if (!corio__ob_read(ob, addr + size - u, hb, u)) {
        v->ack = OB_ACK_TORN; /* unreadable: resend rather than lose */
    } else {
        v->ack = classify_ack(hb, u);
    }
    return OB_AT_OK;
}

static void grow(uint32_t *x, uint32_t v)
{
    if (*x < v)
        *x = v;
}

bool corio__ob_next(const struct corio_dev_outbox *ob, struct ob_scan *sc, struct ob_visit *v)
{
    uint32_t ssz = ob->flash.sector_size, u = ob->unit;
    uint32_t p = sc->pos;

    if (p < ob->shdr_size)
        p = ob->shdr_size;
    p = corio__ob_pad(ob, p);
    grow(&sc->dirty_end, ob->shdr_size);

    /* ssz is a multiple of u and p stays aligned: a unit always fits. */
    while (p < ssz) {
        enum ob_at at = rec_at(ob, sc->sector, p, v);
        uint32_t next = p + u;
        bool bad = false;
        if (at != OB_AT_ERASED) {
            if (at >= OB_AT_TORN) {
                bool msg = v->rec.kind == OB_KIND_MSG;
                if (msg && v->rec.w[OB_W_SEQ] >= sc->lo)
                    grow(&sc->max_seq, v->rec.w[OB_W_SEQ]);
                if (!msg)
                    sc->sealed = true;
                /* Even uncommitted, the record claims its whole extent: its commit
                 * unit may have been in flight and read committed later, and then
                 * its ack unit must still be erased, not part of the next record. */
                next = v->end;
            }
            grow(&sc->dirty_end, next);
            if (at >= OB_AT_DAMAGED) {
                bool readable = at == OB_AT_OK;
                if (readable && v->rec.kind == OB_KIND_MSG)
                    readable =
                        v->rec.w[OB_W_SEQ] >= sc->lo && v->rec.w[OB_W_SEQ] < sc->hi && v->rec.w[OB_W_SEQ] > sc->last;
                if (readable) {
                    if (v->rec.kind == OB_KIND_MSG)
                        sc->last = v->rec.w[OB_W_SEQ];
                    sc->pos = next;
                    sc->in_bad = false;
                    return true;
                }
                sc->corrupt++;
            } else if (at != OB_AT_MARK) {
                /* garbage, or torn: the scan moves by one unit */
                next = p + u;
                bad = true;
                if (!sc->in_bad)
                    sc->corrupt++;
            }
        }
        sc->in_bad = bad;
        p = next;
    }
    sc->pos = ssz;
    return false;
}

uint32_t corio__ob_sector_at(const struct corio_dev_outbox *ob, uint32_t d)
{
    uint32_t n = ob->flash.sector_count;
    return (ob->head + n - d % n) % n;
}

uint32_t corio__ob_span(const struct corio_dev_outbox *ob)
{
    return ob->hd.ord - ob->oldest_ord + 1u;
}

bool corio__ob_member(const struct corio_dev_outbox *ob, uint32_t d, struct ob_shdr *h)
{
    if (d >= corio__ob_span(ob))
        return false;
    if (corio__ob_read_shdr(ob, corio__ob_sector_at(ob, d), h) != OB_SHDR_VALID)
        return false;
    return h->epoch == ob->hd.epoch && h->ord == ob->hd.ord - d;
}

/* Sets sc up for ring sector d: its seq window is from its base up to the base of
 * the next newer member (the next seq for the newest). False when d is no member. */
static bool window(const struct corio_dev_outbox *ob, uint32_t d, struct ob_scan *sc)
{
    struct ob_shdr h;
    sc->hi = ob->next_seq;
    for (uint32_t i = 0; i <= d; i++) {
        if (!corio__ob_member(ob, i, &h))
            continue;
        if (i == d) {
            sc->sector = corio__ob_sector_at(ob, d);
            sc->lo = h.base;
            return true;
        }
        sc->hi = h.base;
    }
    return false;
}

bool corio__ob_walk(const struct corio_dev_outbox *ob, struct ob_scan *sc, struct ob_visit *v)
{
    for (;;) {
        if (!sc->set)
            sc->set = window(ob, sc->d, sc);
        if (sc->set && corio__ob_next(ob, sc, v))
            return true;
        if (sc->one || sc->d == 0)
            return false;
        sc->d--;
        sc->set = false;
        sc->pos = 0;
        sc->last = 0;
        sc->in_bad = false;
    }
}

uint32_t corio__ob_locate(const struct corio_dev_outbox *ob, uint32_t seq)
{
    struct ob_shdr h;
    uint32_t span = corio__ob_span(ob);
    uint32_t i = 0;
    while (i < span - 1u && !(corio__ob_member(ob, i, &h) && h.base <= seq))
        i++;
    return i;
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
    ob->cache_next = (ob->cache_next + 1u) % CORIO_DEV_OUTBOX_CACHE;
}

int corio__ob_find(struct corio_dev_outbox *ob, uint32_t seq, struct ob_visit *v)
{
    uint32_t ssz = ob->flash.sector_size;
    if (seq == 0 || seq >= ob->next_seq)
        return CORIO_ERR_NOTFOUND;

    for (unsigned i = 0; i < CORIO_DEV_OUTBOX_CACHE; i++) {
        if (ob->cache[i].seq != seq)
            continue;
        uint32_t a = ob->cache[i].addr;
        if (rec_at(ob, a / ssz, a % ssz, v) == OB_AT_OK && v->rec.kind == OB_KIND_MSG &&
            v->rec.w[OB_W_SEQ] == seq)
            return CORIO_OK;
        ob->cache[i].seq = 0;
    }

    struct ob_scan sc = {.d = corio__ob_locate(ob, seq), .one = true};
    do {
        if (!corio__ob_walk(ob, &sc, v))
            return CORIO_ERR_NOTFOUND;
    } while (v->rec.kind != OB_KIND_MSG || v->rec.w[OB_W_SEQ] < seq);
    if (v->rec.w[OB_W_SEQ] != seq)
        return CORIO_ERR_NOTFOUND;
    corio__ob_cache_put(ob, seq, corio__ob_sector_addr(ob, v->sector) + v->pos);
    return CORIO_OK;
}
