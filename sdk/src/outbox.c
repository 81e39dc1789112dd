/*
 * outbox.c - the device outbox's writers: open (recover or format), append, ack, the
 * sector rotation that drops the oldest entries, and format.
 *
 * Every write follows one order so that a power cut at any byte leaves flash that
 * open understands (docs/sdk-outbox.md, "Power cuts"): a record's header and payload
 * are programmed and read back before its commit unit; a rotation seals the head
 * with a note, carrying the new drop count, before it erases the next sector; a
 * sector's header is programmed only right after its erase; after open nothing is
 * programmed next to a unit a cut may have left half-written.
 */
#include <string.h>

#include "corio/crc32.h"
#include "outbox_int.h"

static uint32_t rot_size(const struct corio_dev_outbox *ob)
{
    return corio__ob_rec_size(ob, OB_ROT_LEN);
}

static uint32_t reserve(const struct corio_dev_outbox *ob)
{
    return corio__ob_reserve(ob);
}

static void cache_clear(struct corio_dev_outbox *ob, uint32_t sector, bool all)
{
    uint32_t ssz = ob->flash.sector_size;
    for (unsigned i = 0; i < CORIO_DEV_OUTBOX_CACHE; i++)
        if (all || ob->cache[i].addr / ssz == sector)
            ob->cache[i].seq = 0;
}

/* Programs len bytes of the stream (hdr, then payload, then 0xFF) at addr, a chunk at
 * a time, and reads each chunk back. */
static int program_stream(struct corio_dev_outbox *ob, uint32_t addr, const uint8_t *hdr,
                          const uint8_t *payload, uint32_t plen, uint32_t total)
{
    uint8_t w[OB_CHUNK], r[OB_CHUNK];
    for (uint32_t off = 0; off < total;) {
        uint32_t n = total - off < OB_CHUNK ? total - off : OB_CHUNK;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t s = off + i;
            w[i] = s < OB_RHDR_LEN          ? hdr[s]
                   : s < OB_RHDR_LEN + plen ? payload[s - OB_RHDR_LEN]
                                            : 0xFFu;
        }
        if (ob->flash.program(ob->flash.ctx, addr + off, w, n) != CORIO_OK)
            return CORIO_ERR_IO;
        if (ob->flash.read(ob->flash.ctx, addr + off, r, n) != CORIO_OK || memcmp(w, r, n) != 0)
            return CORIO_ERR_IO;
        off += n;
    }
    return CORIO_OK;
}

/* Writes one record at the head's pos: header and payload, verify, commit unit,
 * verify. pos moves past the record first, so a failure never leaves pos on units
 * that were touched. */
static int write_rec(struct corio_dev_outbox *ob, struct ob_rec *rec, const uint8_t *payload,
                     uint32_t *addr_out)
{
    uint32_t u = ob->unit;
    if (ob->need_mark) {
        /* Always the same bytes: if a cut leaves this unit reading erased, the next
         * boot programs the very same value into it again, which no part minds. */
        uint8_t mk[32];
        uint32_t maddr = corio__ob_sector_addr(ob, ob->head) + ob->pos;
        memset(mk, 0, sizeof mk);
        mk[0] = OB_MARK;
        ob->pos += u;
        ob->need_mark = 0;
        /* Not read back: a mark that did not take is only garbage the scan skips. */
        if (ob->flash.program(ob->flash.ctx, maddr, mk, u) != CORIO_OK)
            return CORIO_ERR_IO;
    }
    uint32_t at = ob->pos;
    uint32_t addr = corio__ob_sector_addr(ob, ob->head) + at;
    uint32_t body = OB_RHDR_LEN + corio__ob_pad(ob, rec->len);
    uint8_t hdr[OB_RHDR_LEN];

    ob->pos = at + corio__ob_rec_size(ob, rec->len);
    rec->pcrc = corio_crc32(0, payload, rec->len);
    corio__ob_encode_rec(rec, hdr);
    uint32_t hcrc = corio__ob_get32(hdr + 28);

    int ret = program_stream(ob, addr, hdr, payload, rec->len, body);
    if (ret != CORIO_OK)
        return ret;
    uint8_t c[32], r[32];
    memset(c, 0, sizeof c);
    corio__ob_put32(c, ~hcrc);
    if (ob->flash.program(ob->flash.ctx, addr + body, c, u) != CORIO_OK)
        return CORIO_ERR_IO;
    if (ob->flash.read(ob->flash.ctx, addr + body, r, u) != CORIO_OK || memcmp(c, r, u) != 0)
        return CORIO_ERR_IO;
    if (addr_out)
        *addr_out = addr;
    return CORIO_OK;
}

/* Erases sector and programs its header; verified. */
static int start_sector(struct corio_dev_outbox *ob, uint32_t sector, const struct ob_shdr *h)
{
    uint8_t b[OB_SHDR_LEN], w[OB_CHUNK];
    if (ob->flash.erase(ob->flash.ctx, sector) != CORIO_OK)
        return CORIO_ERR_IO;
    corio__ob_encode_shdr(ob, h, b);
    /* The header's last unit may hold padding: program it from one stream. */
    uint32_t addr = corio__ob_sector_addr(ob, sector);
    for (uint32_t off = 0; off < ob->shdr_size;) {
        uint32_t n = ob->shdr_size - off < OB_CHUNK ? ob->shdr_size - off : OB_CHUNK;
        for (uint32_t i = 0; i < n; i++)
            w[i] = off + i < OB_SHDR_LEN ? b[off + i] : 0xFFu;
        if (ob->flash.program(ob->flash.ctx, addr + off, w, n) != CORIO_OK)
            return CORIO_ERR_IO;
        off += n;
    }
    struct ob_shdr back;
    if (corio__ob_read_shdr(ob, sector, &back) != OB_SHDR_VALID || back.epoch != h->epoch ||
        back.ord != h->ord || back.base != h->base || back.drops != h->drops ||
        back.erase != h->erase)
        return CORIO_ERR_IO;
    return CORIO_OK;
}

/* Visitor: the last rotation note of a sector. */
struct note_ctx {
    bool found;
    uint32_t rot[4];
};

static int note_visit(void *ctx, const struct ob_visit *v)
{
    struct note_ctx *n = ctx;
    if (v->rec.kind == OB_KIND_ROT) {
        n->found = true;
        memcpy(n->rot, v->rot, sizeof n->rot);
    }
    return 0;
}

/* Visitor: counts readable and unacknowledged messages. */
struct count_ctx {
    uint32_t entries, unacked, oldest, min_unacked;
};

static int count_visit(void *ctx, const struct ob_visit *v)
{
    struct count_ctx *c = ctx;
    if (v->rec.kind != OB_KIND_MSG)
        return 0;
    c->entries++;
    if (c->oldest == 0)
        c->oldest = v->rec.seq;
    if (v->ack != OB_ACK_DONE) {
        c->unacked++;
        if (c->min_unacked == 0)
            c->min_unacked = v->rec.seq;
    }
    return 0;
}

/* Seals the head for a move to sector t and decides t's drop: unless the head holds
 * a note for t already, writes one with the drop count once t is gone. From the
 * note on, t's entries count as dropped, at open too, whether or not the erase that
 * follows completes. *drops gets the count; the head takes no more messages. */
static int seal_head(struct corio_dev_outbox *ob, uint32_t t, uint32_t drops_after, uint32_t *drops,
                     uint32_t *t_erase_noted)
{
    struct ob_scan sc = {.sector = ob->head, .lo = ob->head_base, .hi = ob->next_seq};
    struct note_ctx note = {0};
    corio__ob_scan(ob, &sc, note_visit, &note);
    *t_erase_noted = OB_NONE;
    if (note.found && note.rot[0] == t) {
        *drops = note.rot[3] > drops_after ? note.rot[3] : drops_after;
        *t_erase_noted = note.rot[2];
        ob->sealed = 1;
        return CORIO_OK;
    }
    *drops = drops_after;
    if (ob->pos <= ob->flash.sector_size &&
        ob->flash.sector_size - ob->pos >= rot_size(ob) + (ob->need_mark ? ob->unit : 0u)) {
        struct ob_shdr th;
        uint8_t p[OB_ROT_LEN];
        bool tv = corio__ob_read_shdr(ob, t, &th) == OB_SHDR_VALID;
        corio__ob_put32(p, t);
        corio__ob_put32(p + 4, tv ? th.ord : OB_NONE);
        corio__ob_put32(p + 8, tv ? th.erase : ob->head_erase);
        corio__ob_put32(p + 12, drops_after);
        struct ob_rec r = {.kind = OB_KIND_ROT, .len = OB_ROT_LEN};
        ob->sealed = 1; /* from its first byte on, whether or not it completes */
        int ret = write_rec(ob, &r, p, NULL);
        if (ret != CORIO_OK)
            return ret; /* pos moved on: the next attempt writes further along */
    }
    /* Without room for a note there is no room for a message either (reserve()), so
     * the head is sealed all the same; only the drop count then rides on the new
     * header alone. */
    ob->sealed = 1;
    return CORIO_OK;
}

/* Seals the head for a move to sector t (the next one) and takes t out of the ring:
 * if t was the ring's oldest sector, its unacknowledged entries become drops. */
static int leave_ring(struct corio_dev_outbox *ob, uint32_t t, uint32_t *drops,
                      uint32_t *t_erase_noted)
{
    uint32_t n = ob->flash.sector_count;
    struct ob_shdr th;
    struct count_ctx cnt = {0};
    bool member = corio__ob_member(ob, n - 1u, &th);
    if (member) {
        struct ob_scan sc = {.sector = t, .lo = th.base, .hi = corio__ob_window_hi(ob, n - 1u)};
        corio__ob_scan(ob, &sc, count_visit, &cnt);
    }
    uint32_t drops_after = ob->drops + cnt.unacked;
    if (drops_after < ob->drops)
        drops_after = UINT32_MAX;
    int ret = seal_head(ob, t, drops_after, drops, t_erase_noted);
    if (ret != CORIO_OK)
        return ret;
    cache_clear(ob, t, false);
    ob->drops = *drops;
    if (member) {
        ob->entries -= cnt.entries < ob->entries ? cnt.entries : ob->entries;
        ob->depth -= cnt.unacked < ob->depth ? cnt.unacked : ob->depth;
        ob->oldest_ord = th.ord + 1u;
    }
    return CORIO_OK;
}

/* Moves the head to the next sector, erasing it; if that sector was the oldest of the
 * ring, its unacknowledged entries are counted as drops. */
static int rotate(struct corio_dev_outbox *ob)
{
    uint32_t n = ob->flash.sector_count;
    uint32_t t = (ob->head + 1u) % n;
    struct ob_shdr th;

    if (ob->head_ord >= OB_ORD_MAX)
        return CORIO_ERR_FULL;
    uint32_t drops, t_erase_noted;
    int ret = leave_ring(ob, t, &drops, &t_erase_noted);
    if (ret != CORIO_OK)
        return ret;

    enum ob_shdr_state st = corio__ob_read_shdr(ob, t, &th);
    uint32_t erase = st == OB_SHDR_VALID        ? th.erase + 1u
                     : t_erase_noted != OB_NONE ? t_erase_noted + 1u
                                                : ob->head_erase;
    struct ob_shdr h = {.epoch = ob->epoch,
                        .ord = ob->head_ord + 1u,
                        .erase = erase,
                        .base = ob->next_seq,
                        .drops = drops};
    ret = start_sector(ob, t, &h);
    if (ret != CORIO_OK)
        return ret;

    ob->head = t;
    ob->head_ord = h.ord;
    ob->head_base = h.base;
    ob->head_erase = h.erase;
    ob->pos = ob->shdr_size;
    ob->need_mark = 0;
    ob->sealed = 0;
    if (ob->head_ord - ob->oldest_ord >= n)
        ob->oldest_ord = ob->head_ord - (n - 1u);
    return CORIO_OK;
}

static bool epoch_in_use(const struct corio_dev_outbox *ob, uint32_t e)
{
    struct ob_shdr h;
    for (uint32_t i = 0; i < ob->flash.sector_count; i++)
        if (corio__ob_read_shdr(ob, i, &h) == OB_SHDR_VALID && h.epoch == e)
            return true;
    return false;
}

static uint32_t pick_epoch(const struct corio_dev_outbox *ob, uint32_t e)
{
    /* Each pass either succeeds or moves past an epoch some sector holds; there are
     * at most sector_count of those. */
    for (uint32_t pass = 0; pass <= ob->flash.sector_count; pass++) {
        if (e == 0 || e == OB_NONE)
            e = 1;
        if (!(ob->ready && e == ob->epoch) && !epoch_in_use(ob, e))
            break;
        e++;
    }
    return e == 0 || e == OB_NONE ? 1 : e;
}

/* A new epoch in sector t with ordinal ord. */
static int format_at(struct corio_dev_outbox *ob, uint32_t t, uint32_t ord, uint32_t epoch,
                     uint8_t reason)
{
    struct ob_shdr th;
    /* An unknown count is taken from the neighbour (round robin wears them alike). */
    uint32_t erase = corio__ob_read_shdr(ob, t, &th) == OB_SHDR_VALID ? th.erase + 1u
                     : ob->ready                                      ? ob->head_erase
                                                                      : 1u;
    struct ob_shdr h = {.epoch = epoch, .ord = ord, .erase = erase, .base = 1, .drops = 0};
    ob->ready = 0;
    int ret = start_sector(ob, t, &h);
    if (ret != CORIO_OK)
        return ret;
    cache_clear(ob, 0, true);
    ob->epoch = epoch;
    ob->head = t;
    ob->head_ord = ord;
    ob->oldest_ord = ord;
    ob->head_base = 1;
    ob->head_erase = erase;
    ob->next_seq = 1;
    ob->pos = ob->shdr_size;
    ob->need_mark = 0;
    ob->sealed = 0;
    ob->drops = 0;
    ob->depth = 0;
    ob->entries = 0;
    ob->unacked_hint = 1;
    ob->opened = reason;
    ob->ready = 1;
    return CORIO_OK;
}

int corio_dev_outbox_format(struct corio_dev_outbox *ob, uint32_t fresh_epoch)
{
    if (!ob)
        return CORIO_ERR_INVAL;
    if (!ob->ready)
        return CORIO_ERR_STATE;
    uint32_t n = ob->flash.sector_count;
    uint32_t epoch = pick_epoch(ob, fresh_epoch);
    uint32_t t = (ob->head + 1u) % n;
    if (ob->head_ord < OB_ORD_MAX) {
        /* Seal the old head first: nothing more may join the old epoch even if the
         * new sector's header is torn and only appears later. */
        uint32_t drops, noted;
        int ret = leave_ring(ob, t, &drops, &noted);
        if (ret != CORIO_OK)
            return ret;
        return format_at(ob, t, ob->head_ord + 1u, epoch, CORIO_DEV_OUTBOX_FORMATTED_REQUESTED);
    }
    /* Ordinals exhausted: wipe every sector, the head last, so that a cut part-way
     * leaves the newest sequence numbers readable until the very end. */
    ob->ready = 0;
    for (uint32_t i = 1; i <= n; i++)
        if (ob->flash.erase(ob->flash.ctx, (ob->head + i) % n) != CORIO_OK)
            return CORIO_ERR_IO;
    return format_at(ob, 0, 0, epoch, CORIO_DEV_OUTBOX_FORMATTED_REQUESTED);
}

static bool region_erased(const struct corio_dev_outbox *ob)
{
    uint8_t b[OB_CHUNK];
    uint32_t total = ob->flash.sector_size * ob->flash.sector_count;
    for (uint32_t off = 0; off < total; off += OB_CHUNK) {
        uint32_t len = total - off < OB_CHUNK ? total - off : OB_CHUNK;
        if (ob->flash.read(ob->flash.ctx, off, b, len) != CORIO_OK || !corio__ob_is_erased(b, len))
            return false;
    }
    return true;
}

static bool geometry_ok(const struct corio_flash *f)
{
    uint32_t p = f->prog_size;
    if (!f->read || !f->program || !f->erase)
        return false;
    if (p == 0 || p > 32 || (p & (p - 1u)) != 0)
        return false;
    if (f->sector_count < 2 || f->sector_size == 0 || f->sector_size % (p < 4 ? 4 : p) != 0)
        return false;
    if ((uint64_t)f->sector_size * f->sector_count > UINT32_MAX)
        return false;
    return true;
}

int corio_dev_outbox_open(struct corio_dev_outbox *ob, const struct corio_flash *flash,
                          const struct corio_dev_outbox_config *cfg)
{
    if (!ob || !flash)
        return CORIO_ERR_INVAL;
    memset(ob, 0, sizeof *ob);
    if (!geometry_ok(flash))
        return CORIO_ERR_INVAL;
    ob->flash = *flash;
    ob->unit = flash->prog_size < 4 ? 4 : flash->prog_size;
    ob->shdr_size = corio__ob_pad(ob, OB_SHDR_LEN);
    uint32_t ssz = flash->sector_size, n = flash->sector_count;
    if (ssz < ob->shdr_size + reserve(ob) + corio__ob_rec_size(ob, 1))
        return CORIO_ERR_INVAL;
    uint32_t fresh = cfg ? cfg->fresh_epoch : 1;
    uint32_t flags = cfg ? cfg->flags : 0;

    /* 1. The newest valid sector header is the head. */
    struct ob_shdr h, best = {0};
    bool found = false, foreign = false, blank = true;
    for (uint32_t i = 0; i < n; i++) {
        switch (corio__ob_read_shdr(ob, i, &h)) {
        case OB_SHDR_VALID:
            if (!found || h.ord > best.ord) {
                best = h;
                ob->head = i;
            }
            found = true;
            blank = false;
            break;
        case OB_SHDR_FOREIGN:
            foreign = true;
            blank = false;
            break;
        case OB_SHDR_BAD:
            blank = false;
            break;
        case OB_SHDR_BLANK:
            break;
        }
    }
    if (!found) {
        uint8_t why = foreign                      ? CORIO_DEV_OUTBOX_FORMATTED_FOREIGN
                      : blank && region_erased(ob) ? CORIO_DEV_OUTBOX_FORMATTED_BLANK
                                                   : CORIO_DEV_OUTBOX_FORMATTED_CORRUPT;
        if (flags & CORIO_DEV_OUTBOX_NO_FORMAT)
            return why == CORIO_DEV_OUTBOX_FORMATTED_FOREIGN ? CORIO_ERR_VERSION
                   : why == CORIO_DEV_OUTBOX_FORMATTED_BLANK ? CORIO_ERR_NOTFOUND
                                                             : CORIO_ERR_MALFORMED;
        return format_at(ob, 0, 0, pick_epoch(ob, fresh), why);
    }
    ob->epoch = best.epoch;
    ob->head_ord = best.ord;
    ob->head_base = best.base;
    ob->head_erase = best.erase;
    ob->drops = best.drops;
    ob->oldest_ord = best.ord;

    /* 2. Walk back from the head while sectors continue the ring: same epoch, the
     * ordinal their position implies, no higher base than a newer sector. A sector
     * that is unreadable is skipped; one that contradicts ends the ring. */
    uint32_t minbase = best.base;
    for (uint32_t d = 1; d < n; d++) {
        enum ob_shdr_state st = corio__ob_read_shdr(ob, corio__ob_sector_at(ob, d), &h);
        if (st != OB_SHDR_VALID)
            continue;
        if (h.epoch != ob->epoch || h.ord != ob->head_ord - d || h.base > minbase)
            break;
        ob->oldest_ord = h.ord;
        minbase = h.base;
    }

    /* 3. The head: where appends resume, the next seq, and whether a rotation
     * out of it had begun. */
    struct ob_scan hs = {
        .sector = ob->head, .lo = ob->head_base, .hi = CORIO_DEV_OUTBOX_SEQ_MAX + 1u};
    struct note_ctx note = {0};
    corio__ob_scan(ob, &hs, note_visit, &note);
    /* Sequence numbers: past every intact message header in the head, committed or
     * torn, and never below the head's base. */
    ob->next_seq = hs.max_seq >= ob->head_base ? hs.max_seq + 1u : ob->head_base;
    /* Appends resume past anything written, and a guard: a cut may have left a unit
     * half-programmed though it reads erased; it must never be programmed with
     * other bytes. The first write of this boot starts with a boot mark. */
    ob->pos = hs.dirty_end + OB_GUARD;
    ob->need_mark = 1;
    ob->sealed = hs.sealed;
    if (ob->pos > ssz)
        ob->pos = ssz;
    /* A note in the head decided that the next sector is dropped, with its count. */
    if (note.found && note.rot[0] == corio__ob_sector_at(ob, n - 1u)) {
        if (note.rot[3] > ob->drops)
            ob->drops = note.rot[3];
        if (corio__ob_member(ob, n - 1u, &h))
            ob->oldest_ord = h.ord + 1u;
    }

    /* 4. Count every readable entry, oldest first. */
    struct count_ctx cnt = {0};
    for (uint32_t d = corio__ob_span(ob); d-- > 0;) {
        if (!corio__ob_member(ob, d, &h))
            continue;
        struct ob_scan sc = {
            .sector = corio__ob_sector_at(ob, d), .lo = h.base, .hi = corio__ob_window_hi(ob, d)};
        corio__ob_scan(ob, &sc, count_visit, &cnt);
        ob->corrupt += sc.corrupt;
    }
    ob->entries = cnt.entries;
    ob->depth = cnt.unacked;
    ob->unacked_hint = cnt.min_unacked ? cnt.min_unacked : ob->next_seq;
    ob->opened = CORIO_DEV_OUTBOX_RECOVERED;
    ob->ready = 1;
    return CORIO_OK;
}

size_t corio_dev_outbox_max_payload(const struct corio_dev_outbox *ob)
{
    if (!ob || !ob->ready)
        return 0;
    uint32_t room =
        ob->flash.sector_size - ob->shdr_size - reserve(ob) - OB_RHDR_LEN - 2u * ob->unit;
    return room > 0xFFFFu ? 0xFFFFu : room;
}

int corio_dev_outbox_append(struct corio_dev_outbox *ob, const struct corio_dev_outbox_meta *meta,
                            const uint8_t *payload, size_t len, uint32_t *seq)
{
    if (!ob || !meta || (!payload && len))
        return CORIO_ERR_INVAL;
    if (!ob->ready)
        return CORIO_ERR_STATE;
    if (meta->time_kind > CORIO_DEV_OUTBOX_TIME_UPTIME_MS)
        return CORIO_ERR_INVAL;
    if (len > corio_dev_outbox_max_payload(ob))
        return CORIO_ERR_NOSPACE;
    if (ob->next_seq > CORIO_DEV_OUTBOX_SEQ_MAX)
        return CORIO_ERR_FULL;
    uint32_t ssz = ob->flash.sector_size;
    uint32_t need =
        corio__ob_rec_size(ob, (uint32_t)len) + reserve(ob) + (ob->need_mark ? ob->unit : 0u);
    if (ob->sealed || ob->pos > ssz || ssz - ob->pos < need) {
        int ret = rotate(ob);
        if (ret != CORIO_OK)
            return ret;
    }
    struct ob_rec r = {.kind = OB_KIND_MSG,
                       .type = meta->type,
                       .len = (uint16_t)len,
                       .seq = ob->next_seq++,
                       .time_kind = meta->time_kind,
                       .boot = meta->boot_count,
                       .time_ms = meta->time_ms};
    uint32_t addr;
    int ret = write_rec(ob, &r, payload, &addr);
    if (ret != CORIO_OK)
        return ret;
    corio__ob_cache_put(ob, r.seq, addr);
    ob->entries++;
    ob->depth++;
    if (seq)
        *seq = r.seq;
    return CORIO_OK;
}

int corio_dev_outbox_ack(struct corio_dev_outbox *ob, uint32_t seq)
{
    if (!ob)
        return CORIO_ERR_INVAL;
    if (!ob->ready)
        return CORIO_ERR_STATE;
    struct ob_visit v;
    int ret = corio__ob_find(ob, seq, &v);
    if (ret != CORIO_OK)
        return ret;
    if (v.ack == OB_ACK_DONE)
        return CORIO_OK;
    /* A unit a cut left half-programmed is written again only where the part allows
     * it; elsewhere the entry stays unacknowledged and is resent. */
    if (v.ack == OB_ACK_TORN && !(ob->flash.flags & CORIO_FLASH_F_REPROGRAM))
        return CORIO_ERR_IO;
    uint32_t u = ob->unit;
    uint32_t addr = corio__ob_sector_addr(ob, v.sector) + v.end - u;
    uint8_t z[32], r[32];
    memset(z, 0, sizeof z);
    if (ob->flash.program(ob->flash.ctx, addr, z, u) != CORIO_OK)
        return CORIO_ERR_IO;
    if (ob->flash.read(ob->flash.ctx, addr, r, u) != CORIO_OK ||
        corio__ob_classify_ack(r, u) != OB_ACK_DONE)
        return CORIO_ERR_IO;
    if (ob->depth)
        ob->depth--;
    if (seq == ob->unacked_hint)
        ob->unacked_hint = seq + 1u;
    return CORIO_OK;
}
