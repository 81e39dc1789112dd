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


static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* Headers are little-endian 32-bit words, written whole. */
static void words_put(uint8_t *b, const uint32_t *w, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        put32(b + 4 * i, w[i]);
}

/* Programs n bytes of src then fill up to total at addr, a chunk at a time, and
 * reads each chunk back. */
static int program_stream(struct corio_dev_outbox *ob, uint32_t addr, const uint8_t *src,
                          uint32_t n, uint32_t total, uint8_t fill)
{
    uint8_t w[OB_CHUNK], r[OB_CHUNK];
    for (uint32_t off = 0; off < total; off += OB_CHUNK) {
        uint32_t k = total - off < OB_CHUNK ? total - off : OB_CHUNK;
        for (uint32_t i = 0; i < k; i++)
            w[i] = off + i < n ? src[off + i] : fill;
        if (ob->flash.program(ob->flash.ctx, addr + off, w, k) != CORIO_OK ||
            !corio__ob_read(ob, addr + off, r, k) || memcmp(w, r, k) != 0)
            return CORIO_ERR_IO;
    }
    return CORIO_OK;
}

/* Fills in word 7, the header's CRC, and writes the header. */
static void encode_rec(uint32_t w[OB_RHDR_WORDS], uint8_t out[OB_RHDR_LEN])
{
    words_put(out, w, OB_W_HCRC);
    w[OB_W_HCRC] = corio_crc32(0, out, 28);
    put32(out + 28, w[OB_W_HCRC]);
}

/* Writes one record at the head's pos: header (words 0..5 of w; the CRCs are filled
 * in here) and payload, verify, commit unit (~hcrc, then zeros), verify. pos moves
 * past the record first, so a failure never leaves pos on units that were touched. */
static int write_rec(struct corio_dev_outbox *ob, uint32_t w[OB_RHDR_WORDS],
                     const uint8_t *payload, uint32_t *addr_out)
{
    static const uint8_t mark = OB_MARK;
    uint32_t u = ob->unit, len = w[OB_W_HEAD] >> 16;
    uint32_t addr = corio__ob_sector_addr(ob, ob->head) + ob->pos;
    uint32_t body = OB_RHDR_LEN + corio__ob_pad(ob, len);
    uint8_t hdr[OB_RHDR_LEN];

    if (ob->need_mark) {
        /* Always the same bytes: if a cut leaves this unit reading erased, the next
         * boot programs the very same value into it again, which no part minds. */
        ob->pos += u;
        ob->need_mark = 0;
        if (program_stream(ob, addr, &mark, 1, u, 0) != CORIO_OK)
            return CORIO_ERR_IO;
        addr += u;
    }
    *addr_out = addr;
    ob->pos += body + 2u * u; /* corio__ob_rec_size() */
    w[OB_W_PCRC] = corio_crc32(0, payload, len);
    encode_rec(w, hdr);
    if (program_stream(ob, addr, hdr, OB_RHDR_LEN, OB_RHDR_LEN, 0xFFu) != CORIO_OK ||
        program_stream(ob, addr + OB_RHDR_LEN, payload, len, body - OB_RHDR_LEN, 0xFFu) !=
            CORIO_OK)
        return CORIO_ERR_IO;
    put32(hdr, ~w[OB_W_HCRC]);
    return program_stream(ob, addr + body, hdr, 4, u, 0);
}

/* Sector header h as bytes: words 0..10, then the CRC of bytes 0..43. */
static void encode_shdr(const struct corio_dev_outbox *ob, const struct ob_shdr *h,
                        uint8_t out[OB_SHDR_LEN])
{
    uint32_t w[12];
    corio__ob_shdr_words(ob, h, w);
    words_put(out, w, 11u);
    put32(out + 44, corio_crc32(0, out, 44));
}

/* Erases sector t and programs its header h (verified); t becomes the head. */
static int start_sector(struct corio_dev_outbox *ob, uint32_t t, const struct ob_shdr *h)
{
    uint8_t b[OB_SHDR_LEN];
    if (ob->flash.erase(ob->flash.ctx, t) != CORIO_OK)
        return CORIO_ERR_IO;
    encode_shdr(ob, h, b);
    /* The header's last unit may hold padding: program it from one stream. */
    int ret = program_stream(ob, corio__ob_sector_addr(ob, t), b, OB_SHDR_LEN, ob->shdr_size, 0xFFu);
    if (ret != CORIO_OK)
        return ret;
    ob->head = t;
    ob->hd = *h;
    ob->pos = ob->shdr_size;
    ob->need_mark = 0;
    ob->sealed = 0;
    return CORIO_OK;
}

/* Scans the head from its start; rot gets its last rotation note's words, if any.
 * Returns whether there is one and it is for the next sector. */
static bool head_note(const struct corio_dev_outbox *ob, struct ob_scan *sc, uint32_t rot[4])
{
    struct ob_visit v;
    bool found = false;
    sc->sector = ob->head;
    sc->lo = ob->hd.base;
    sc->hi = OB_NONE;
    while (corio__ob_next(ob, sc, &v))
        if (v.rec.kind == OB_KIND_ROT) {
            found = true;
            memcpy(rot, v.rot, sizeof v.rot);
        }
    return found && rot[0] == corio__ob_sector_at(ob, ob->flash.sector_count - 1u);
}

/* Readable and unacknowledged messages of a walk. */
struct count {
    uint32_t entries, unacked, min_unacked;
};

static void count(const struct corio_dev_outbox *ob, struct ob_scan *sc, struct count *c)
{
    struct ob_visit v;
    while (corio__ob_walk(ob, sc, &v)) {
        if (v.rec.kind != OB_KIND_MSG)
            continue;
        c->entries++;
        if (v.ack != OB_ACK_DONE) {
            c->unacked++;
            if (c->min_unacked == 0)
                c->min_unacked = v.rec.w[OB_W_SEQ];
        }
    }
}

/* Seals the head for a move to sector t (the next one) and takes t out of the ring:
 * if t was the ring's oldest sector, its unacknowledged entries become drops. Unless
 * the head holds a note for t already, writes one with the drop count once t is
 * gone. From the note on, t's entries count as dropped, at open too, whether or not
 * the erase that follows completes. *t_erase gets t's erase count once erased. */
static int leave_ring(struct corio_dev_outbox *ob, uint32_t *t_erase)
{
    uint32_t n = ob->flash.sector_count;
    uint32_t t = corio__ob_sector_at(ob, n - 1u);
    struct ob_shdr th;
    struct count cnt = {0};
    struct ob_scan sc = {.d = n - 1u, .one = true};
    count(ob, &sc, &cnt);
    bool member = sc.set; /* t is in the ring */
    uint32_t drops = ob->drops + cnt.unacked;
    if (drops < ob->drops)
        drops = UINT32_MAX;
    /* t's erase count: from its header, else from a note, else the head's (round
     * robin wears them alike) */
    bool tv = corio__ob_read_shdr(ob, t, &th) == OB_SHDR_VALID;
    *t_erase = tv ? th.erase + 1u : ob->hd.erase;

    uint32_t rot[4];
    struct ob_scan hs = {0};
    if (head_note(ob, &hs, rot)) {
        if (rot[3] > drops)
            drops = rot[3];
        if (!tv)
            *t_erase = rot[2] + 1u;
    } else if (ob->flash.sector_size - ob->pos >=
               corio__ob_rec_size(ob, OB_ROT_LEN) + (ob->need_mark ? ob->unit : 0u)) {
        uint8_t p[OB_ROT_LEN];
        uint32_t addr;
        uint32_t w[OB_RHDR_WORDS] = {OB_KIND_ROT | OB_ROT_LEN << 16};
        rot[0] = t;
        rot[1] = tv ? th.ord : OB_NONE;
        rot[2] = tv ? th.erase : ob->hd.erase;
        rot[3] = drops;
        words_put(p, rot, 4);
        ob->sealed = 1; /* from its first byte on, whether or not it completes */
        int ret = write_rec(ob, w, p, &addr);
        if (ret != CORIO_OK)
            return ret; /* pos moved on: the next attempt writes further along */
    }
    /* Without room for a note there is no room for a message either (reserve), so
     * the head is sealed all the same; only the drop count then rides on the new
     * header alone. */
    ob->sealed = 1;
    for (unsigned i = 0; i < CORIO_DEV_OUTBOX_CACHE; i++)
        if (ob->cache[i].addr / ob->flash.sector_size == t)
            ob->cache[i].seq = 0;
    ob->drops = drops;
    if (member) {
        ob->entries -= cnt.entries < ob->entries ? cnt.entries : ob->entries;
        ob->depth -= cnt.unacked < ob->depth ? cnt.unacked : ob->depth;
        ob->oldest_ord = ob->hd.ord - n + 2u; /* t's ordinal + 1 */
    }
    return CORIO_OK;
}

/* Moves the head to the next sector, erasing it; if that sector was the oldest of the
 * ring, its unacknowledged entries are counted as drops. */
static int rotate(struct corio_dev_outbox *ob)
{
    uint32_t n = ob->flash.sector_count;

    if (ob->hd.ord >= OB_ORD_MAX)
        return CORIO_ERR_FULL;
    uint32_t erase;
    int ret = leave_ring(ob, &erase);
    if (ret != CORIO_OK)
        return ret;
    struct ob_shdr h = {ob->hd.epoch, ob->hd.ord + 1u, erase, ob->next_seq, ob->drops};
    ret = start_sector(ob, (ob->head + 1u) % n, &h);
    if (ret != CORIO_OK)
        return ret;
    if (ob->hd.ord - ob->oldest_ord >= n)
        ob->oldest_ord = ob->hd.ord - (n - 1u);
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
        if (!(ob->ready && e == ob->hd.epoch) && !epoch_in_use(ob, e))
            break;
        e++;
    }
    return e == 0 || e == OB_NONE ? 1 : e;
}

/* A new epoch in sector t with ordinal ord. */
static int format_at(struct corio_dev_outbox *ob, uint32_t t, uint32_t ord, uint32_t epoch,
                     uint32_t reason)
{
    struct ob_shdr th;
    /* An unknown count is taken from the neighbour (round robin wears them alike). */
    uint32_t erase = corio__ob_read_shdr(ob, t, &th) == OB_SHDR_VALID ? th.erase + 1u
                     : ob->ready                                      ? ob->hd.erase
                                                                      : 1u;
    struct ob_shdr h = {epoch, ord, erase, 1, 0};
    ob->ready = 0;
    int ret = start_sector(ob, t, &h);
    if (ret != CORIO_OK)
        return ret;
    memset(ob->cache, 0, sizeof ob->cache);
    ob->oldest_ord = ord;
    ob->next_seq = 1;
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
    if (ob->hd.ord < OB_ORD_MAX) {
        /* Seal the old head first: nothing more may join the old epoch even if the
         * new sector's header is torn and only appears later. */
        uint32_t erase;
        int ret = leave_ring(ob, &erase);
        if (ret != CORIO_OK)
            return ret;
        return format_at(ob, (ob->head + 1u) % n, ob->hd.ord + 1u, epoch,
                         CORIO_DEV_OUTBOX_FORMATTED_REQUESTED);
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
        if (!corio__ob_read(ob, off, b, len) || !corio__ob_is_fill(b, len, 0xFFu))
            return false;
    }
    return true;
}

static bool geometry_ok(const struct corio_flash *f)
{
    uint32_t p = f->prog_size;
    return f->read && f->program && f->erase && p - 1u < 32u && (p & (p - 1u)) == 0 &&
           f->sector_count >= 2 && f->sector_size != 0 && f->sector_size % (p < 4 ? 4 : p) == 0 &&
           f->sector_count <= UINT32_MAX / f->sector_size; /* the region under 4 GiB */
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
    /* Room for two rotation notes (a cut may tear the first), each after a reopen's
     * guard and boot mark. */
    ob->reserve = 2u * (corio__ob_rec_size(ob, OB_ROT_LEN) + ob->unit + OB_GUARD);
    if (ssz < ob->shdr_size + ob->reserve + corio__ob_rec_size(ob, 1))
        return CORIO_ERR_INVAL;

    /* 1. The newest valid sector header is the head. */
    struct ob_shdr h;
    bool foreign = false, blank = true;
    for (uint32_t i = 0; i < n; i++) {
        enum ob_shdr_state st = corio__ob_read_shdr(ob, i, &h);
        /* a valid header's epoch is not 0: hd.epoch 0 means none found yet */
        if (st == OB_SHDR_VALID && (ob->hd.epoch == 0 || h.ord > ob->hd.ord)) {
            ob->hd = h;
            ob->head = i;
        }
        foreign |= st == OB_SHDR_FOREIGN;
        blank &= st == OB_SHDR_BLANK;
    }
    if (ob->hd.epoch == 0) {
        /* indexed by the reason less CORIO_DEV_OUTBOX_FORMATTED_BLANK */
        static const int8_t refusal[] = {CORIO_ERR_NOTFOUND, CORIO_ERR_MALFORMED,
                                         CORIO_ERR_VERSION};
        uint32_t why = foreign                      ? CORIO_DEV_OUTBOX_FORMATTED_FOREIGN
                      : blank && region_erased(ob) ? CORIO_DEV_OUTBOX_FORMATTED_BLANK
                                                   : CORIO_DEV_OUTBOX_FORMATTED_CORRUPT;
        if (cfg && (cfg->flags & CORIO_DEV_OUTBOX_NO_FORMAT))
            return refusal[why - CORIO_DEV_OUTBOX_FORMATTED_BLANK];
        return format_at(ob, 0, 0, pick_epoch(ob, cfg ? cfg->fresh_epoch : 1u), why);
    }
    ob->drops = ob->hd.drops;
    ob->oldest_ord = ob->hd.ord;

    /* 2. Walk back from the head while sectors continue the ring: same epoch, the
     * ordinal their position implies, no higher base than a newer sector. A sector
     * that is unreadable is skipped; one that contradicts ends the ring. */
    uint32_t minbase = ob->hd.base;
    for (uint32_t d = 1; d < n; d++) {
        if (corio__ob_read_shdr(ob, corio__ob_sector_at(ob, d), &h) != OB_SHDR_VALID)
            continue;
        if (h.epoch != ob->hd.epoch || h.ord != ob->hd.ord - d || h.base > minbase)
            break;
        ob->oldest_ord = h.ord;
        minbase = h.base;
    }

    /* 3. The head: where appends resume, the next seq, and whether a rotation
     * out of it had begun. */
    struct ob_scan hs = {0};
    uint32_t rot[4];
    bool noted = head_note(ob, &hs, rot);
    /* Sequence numbers: past every intact message header in the head, committed or
     * torn, and never below the head's base. */
    ob->next_seq = hs.max_seq >= ob->hd.base ? hs.max_seq + 1u : ob->hd.base;
    /* Appends resume past anything written, and a guard: a cut may have left a unit
     * half-programmed though it reads erased; it must never be programmed with
     * other bytes. The first write of this boot starts with a boot mark. */
    ob->pos = hs.dirty_end + OB_GUARD;
    ob->need_mark = 1;
    ob->sealed = hs.sealed;
    if (ob->pos > ssz)
        ob->pos = ssz;
    /* A note in the head decided that the next sector is dropped, with its count. */
    if (noted) {
        if (rot[3] > ob->drops)
            ob->drops = rot[3];
        if (corio__ob_member(ob, n - 1u, &h))
            ob->oldest_ord = h.ord + 1u;
    }

    /* 4. Count every readable entry, oldest first. */
    struct count cnt = {0};
    struct ob_scan sc = {.d = corio__ob_span(ob) - 1u};
    count(ob, &sc, &cnt);
    ob->corrupt = sc.corrupt;
    ob->entries = cnt.entries;
    ob->depth = cnt.unacked;
    ob->unacked_hint = cnt.min_unacked ? cnt.min_unacked : ob->next_seq;
    ob->ready = 1; /* opened: CORIO_DEV_OUTBOX_RECOVERED (0) */
    return CORIO_OK;
}

/* The largest payload: a record alone in a sector with the reserve. */
static uint32_t max_len(const struct corio_dev_outbox *ob)
{
    uint32_t room =
        ob->flash.sector_size - ob->shdr_size - ob->reserve - OB_RHDR_LEN - 2u * ob->unit;
    return room > 0xFFFFu ? 0xFFFFu : room;
}

size_t corio_dev_outbox_max_payload(const struct corio_dev_outbox *ob)
{
    return ob && ob->ready ? max_len(ob) : 0;
}

int corio_dev_outbox_append(struct corio_dev_outbox *ob, const struct corio_dev_outbox_meta *meta,
                            const uint8_t *payload, size_t len, uint32_t *seq)
{
    if (!ob || !meta || (!payload && len) || meta->time_kind > CORIO_DEV_OUTBOX_TIME_UPTIME_MS)
        return CORIO_ERR_INVAL;
    if (!ob->ready)
        return CORIO_ERR_STATE;
    if (len > max_len(ob))
        return CORIO_ERR_NOSPACE;
    if (ob->next_seq > CORIO_DEV_OUTBOX_SEQ_MAX)
        return CORIO_ERR_FULL;
    uint32_t ssz = ob->flash.sector_size;
    uint32_t need = corio__ob_rec_size(ob, (uint32_t)len) + ob->reserve +
                    (ob->need_mark ? ob->unit : 0u);
    int ret;
    /* pos never passes the sector's end: open clamps it, and every write was first
     * checked to fit */
    if (ob->sealed || ssz - ob->pos < need) {
        ret = rotate(ob);
        if (ret != CORIO_OK)
            return ret;
    }
    uint32_t s = ob->next_seq++, addr;
    uint32_t w[OB_RHDR_WORDS] = {OB_KIND_MSG | (uint32_t)meta->type << 8 | (uint32_t)len << 16,
                                 s,
                                 meta->time_kind,
                                 meta->boot_count,
                                 (uint32_t)meta->time_ms,
                                 (uint32_t)(meta->time_ms >> 32)};
    ret = write_rec(ob, w, payload, &addr);
    if (ret != CORIO_OK)
        return ret;
    corio__ob_cache_put(ob, s, addr);
    ob->entries++;
    ob->depth++;
    if (seq)
        *seq = s;
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
    if (ret != CORIO_OK || v.ack == OB_ACK_DONE)
        return ret;
    /* A unit a cut left half-programmed is written again only where the part allows
     * it; elsewhere the entry stays unacknowledged and is resent. */
    if (v.ack == OB_ACK_TORN && !(ob->flash.flags & CORIO_FLASH_F_REPROGRAM))
        return CORIO_ERR_IO;
    /* The ack unit to zeros, read back exactly. */
    ret = program_stream(ob, corio__ob_sector_addr(ob, v.sector) + v.end - ob->unit, NULL, 0,
                         ob->unit, 0);
    if (ret != CORIO_OK)
        return ret;
    if (ob->depth)
        ob->depth--;
    if (seq == ob->unacked_hint)
        ob->unacked_hint = seq + 1u;
    return CORIO_OK;
}
