/*
 * ota_store.c - the OTA metadata store and image slots (include/corio/ota_store.h;
 * the format and its power-cut reasoning are in docs/sdk-ota-store.md).
 *
 * The metadata region is two halves. The active half starts with a header (magic,
 * format version, generation, CRC) and holds a log of records (anchor, counter, boot
 * state), each with a sequence number and a CRC. Two rules carry the safety:
 *
 *  - Nothing is ever appended to a half that this session did not write itself. The
 *    first change after an open (and any change after a failed write) goes into the
 *    other half: erased, then the whole state with the change folded in, read back,
 *    and only then the header, which makes it the active half. A cut anywhere before
 *    the header leaves the old half active and intact; a torn header never reads
 *    valid (CRC) until it may settle, and then the half it commits is complete. So a
 *    unit cut mid-program is never programmed again, and no half mixes two sessions.
 *  - The counter is the greatest counter record of the active half, and every new
 *    half starts with the counter as it stands: it can only go up.
 */
#include <string.h>

#include "corio/crc32.h"
#include "corio/ota_store.h"

#define HDR_MAGIC      0x41544F43u /* "COTA" as little-endian bytes */
#define FORMAT_VERSION 1u
#define HDR_LEN        16u /* magic, version, 3 zero bytes, generation, CRC */
#define REC_MAGIC      0xA5u
#define REC_HEAD       8u /* magic, kind, length (2), sequence (4) */
#define ANCHOR_HEAD    8u /* id, kind, 2 zero bytes, version (4) */
#define BOOT_LEN       8u /* state, active, trial, tries left, flags, 3 zero bytes */
#define ROLLBACK_LEN   4u
#define MAX_UNIT       32u

enum { K_ANCHOR = 1, K_ROLLBACK = 2, K_BOOT = 3 };

/* A change to the state: what one call asks for. */
struct change {
    uint8_t kind;
    uint8_t id, akind; /* K_ANCHOR */
    uint32_t version;
    const uint8_t *data;
    size_t len;
    uint32_t value;             /* K_ROLLBACK */
    struct corio_ota_boot boot; /* K_BOOT */
};

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t round_up(uint32_t n, uint32_t unit)
{
    return (n + unit - 1u) / unit * unit;
}

static uint32_t rec_size(const struct corio_ota_store *s, size_t len)
{
    return round_up(REC_HEAD + (uint32_t)len + 4u, s->unit);
}

static uint32_t base(const struct corio_ota_store *s, unsigned h)
{
    return h * s->half;
}

static int mread(const struct corio_ota_store *s, uint32_t addr, uint8_t *buf, size_t len)
{
    return s->lay.meta.read(s->lay.meta.ctx, addr, buf, len) == CORIO_OK ? CORIO_OK : CORIO_ERR_IO;
}

/* ---- records ---- */

/* Checks the record at addr, which must end by end: returns its size with its head in
 * head, CORIO_ERR_MALFORMED when there is no valid record there, CORIO_ERR_IO. */
static int rec_check(const struct corio_ota_store *s, uint32_t addr, uint32_t end,
                     uint8_t head[REC_HEAD])
{
    uint8_t buf[MAX_UNIT], crc_buf[4];
    if (end - addr < s->unit)
        return CORIO_ERR_MALFORMED;
    int rc = mread(s, addr, head, REC_HEAD);
    if (rc != CORIO_OK)
        return rc;
    uint32_t len = (uint32_t)head[2] | (uint32_t)head[3] << 8;
    uint32_t size = rec_size(s, len);
    if (head[0] != REC_MAGIC || size > end - addr)
        return CORIO_ERR_MALFORMED;
    uint32_t crc = corio_crc32(0, head, REC_HEAD);
    for (uint32_t off = 0; off < len;) {
        uint32_t n = len - off < MAX_UNIT ? len - off : MAX_UNIT;
        rc = mread(s, addr + REC_HEAD + off, buf, n);
        if (rc != CORIO_OK)
            return rc;
        crc = corio_crc32(crc, buf, n);
        off += n;
    }
    rc = mread(s, addr + REC_HEAD + len, crc_buf, sizeof crc_buf);
    if (rc != CORIO_OK)
        return rc;
    if (get32(crc_buf) != crc)
        return CORIO_ERR_MALFORMED;
    /* The zero padding too: a record is whole only when every unit of it is, or a
     * unit a cut left unreadable would fail its copy into the next half. */
    for (uint32_t off = REC_HEAD + len + 4u; off < size;) {
        uint32_t n = size - off < MAX_UNIT ? size - off : MAX_UNIT;
        rc = mread(s, addr + off, buf, n);
        if (rc != CORIO_OK)
            return rc;
        for (uint32_t i = 0; i < n; i++)
            if (buf[i])
                return CORIO_ERR_MALFORMED;
        off += n;
    }
    return (int)size;
}

/* Streams a record into program units. */
struct recw {
    const struct corio_ota_store *s;
    uint32_t addr; /* where the next unit goes */
    uint32_t fill;
    uint32_t crc;
    int err;
    uint8_t buf[MAX_UNIT];
};

static void rw_put(struct recw *w, const uint8_t *p, size_t n)
{
    w->crc = corio_crc32(w->crc, p, n);
    while (n && w->err == CORIO_OK) {
        uint32_t k = w->s->unit - w->fill;
        if (k > n)
            k = (uint32_t)n;
        memcpy(w->buf + w->fill, p, k);
        w->fill += k;
        p += k;
        n -= k;
        if (w->fill == w->s->unit) {
            const struct corio_flash *f = &w->s->lay.meta;
            if (f->program(f->ctx, w->addr, w->buf, w->fill) != CORIO_OK)
                w->err = CORIO_ERR_IO;
            w->addr += w->fill;
            w->fill = 0;
        }
    }
}

/* The CRC, zero padding to a whole unit, and the last program. */
static int rw_end(struct recw *w)
{
    uint8_t crc[4], zero[MAX_UNIT] = {0};
    put32(crc, w->crc);
    rw_put(w, crc, sizeof crc);
    if (w->fill)
        rw_put(w, zero, w->s->unit - w->fill);
    return w->err;
}

/* Writes the record for change c with sequence seq at addr, then reads it back.
 * An anchor whose data is NULL with a length is copied from src (a record of the
 * active half) instead. */
static int write_change(const struct corio_ota_store *s, uint32_t addr, const struct change *c,
                        uint32_t seq)
{
    uint8_t head[REC_HEAD], body[ANCHOR_HEAD];
    size_t len;
    struct recw w = {s, addr, 0, 0, CORIO_OK, {0}};
    if (c->kind == K_ANCHOR)
        len = ANCHOR_HEAD + c->len;
    else if (c->kind == K_ROLLBACK)
        len = ROLLBACK_LEN;
    else
        len = BOOT_LEN;
    head[0] = REC_MAGIC;
    head[1] = c->kind;
    head[2] = (uint8_t)len;
    head[3] = (uint8_t)(len >> 8);
    put32(head + 4, seq);
    rw_put(&w, head, sizeof head);
    memset(body, 0, sizeof body);
    if (c->kind == K_ANCHOR) {
        body[0] = c->id;
        body[1] = c->akind;
        put32(body + 4, c->version);
        rw_put(&w, body, ANCHOR_HEAD);
        if (c->len)
            rw_put(&w, c->data, c->len);
    } else if (c->kind == K_ROLLBACK) {
        put32(body, c->value);
        rw_put(&w, body, ROLLBACK_LEN);
    } else {
        body[0] = c->boot.state;
        body[1] = c->boot.active;
        body[2] = c->boot.trial;
        body[3] = c->boot.tries_left;
        body[4] = c->boot.reverted ? 1u : 0u;
        rw_put(&w, body, BOOT_LEN);
    }
    int rc = rw_end(&w);
    if (rc != CORIO_OK)
        return rc;
    rc = rec_check(s, addr, addr + rec_size(s, len), head);
    return rc == (int)rec_size(s, len) ? CORIO_OK : CORIO_ERR_IO;
}

/* Copies the record of size bytes at from (active half) to to, unit by unit, then
 * checks the copy. */
static int copy_record(const struct corio_ota_store *s, uint32_t from, uint32_t to, uint32_t size)
{
    uint8_t buf[MAX_UNIT], head[REC_HEAD];
    const struct corio_flash *f = &s->lay.meta;
    for (uint32_t off = 0; off < size; off += s->unit) {
        if (mread(s, from + off, buf, s->unit) != CORIO_OK ||
            f->program(f->ctx, to + off, buf, s->unit) != CORIO_OK)
            return CORIO_ERR_IO;
    }
    return rec_check(s, to, to + size, head) == (int)size ? CORIO_OK : CORIO_ERR_IO;
}

/* ---- the state ---- */

static void defaults(struct corio_ota_store *s)
{
    s->rollback = 0;
    memset(&s->boot, 0, sizeof s->boot);
    s->boot.state = CORIO_OTA_CONFIRMED;
    s->boot.active = CORIO_OTA_SLOT_A;
    memset(s->anchors, 0, sizeof s->anchors);
}

/* The change c applied to the state in RAM; addr is its record's offset in the
 * active half. */
static void apply(struct corio_ota_store *s, const struct change *c, uint32_t addr)
{
    if (c->kind == K_ANCHOR) {
        s->anchors[c->id].addr = addr;
        s->anchors[c->id].version = c->version;
        s->anchors[c->id].len = (uint16_t)c->len;
        s->anchors[c->id].kind = c->akind;
    } else if (c->kind == K_ROLLBACK) {
        if (c->value > s->rollback)
            s->rollback = c->value;
    } else {
        s->boot = c->boot;
    }
}

/* Reads a record's payload into a change (anchor data stays on flash). */
static int parse(const struct corio_ota_store *s, uint32_t addr, const uint8_t head[REC_HEAD],
                 struct change *c)
{
    uint8_t body[ANCHOR_HEAD];
    uint32_t len = (uint32_t)head[2] | (uint32_t)head[3] << 8;
    memset(c, 0, sizeof *c);
    c->kind = head[1];
    if (c->kind == K_ANCHOR) {
        if (len < ANCHOR_HEAD || len - ANCHOR_HEAD > CORIO_OTA_ANCHOR_MAX ||
            mread(s, addr + REC_HEAD, body, ANCHOR_HEAD) != CORIO_OK ||
            body[0] >= CORIO_OTA_MAX_ANCHORS)
            return CORIO_ERR_MALFORMED;
        c->id = body[0];
        c->akind = body[1];
        c->version = get32(body + 4);
        c->len = len - ANCHOR_HEAD;
    } else if (c->kind == K_ROLLBACK || c->kind == K_BOOT) {
        uint32_t want = c->kind == K_ROLLBACK ? ROLLBACK_LEN : BOOT_LEN;
        if (len != want || mread(s, addr + REC_HEAD, body, want) != CORIO_OK)
            return CORIO_ERR_MALFORMED;
        c->value = get32(body);
        c->boot.state = body[0];
        c->boot.active = body[1];
        c->boot.trial = body[2];
        c->boot.tries_left = body[3];
        c->boot.reverted = body[4] & 1u;
        if (c->kind == K_BOOT &&
            ((c->boot.state != CORIO_OTA_CONFIRMED && c->boot.state != CORIO_OTA_TRYING) ||
             c->boot.active > 1 || c->boot.trial > 1))
            return CORIO_ERR_MALFORMED;
    } else {
        return CORIO_ERR_UNSUPPORTED; /* a later format's record: skipped */
    }
    return CORIO_OK;
}

/* The generation of half h, or 0 when it has no valid header. */
static uint32_t header_gen(const struct corio_ota_store *s, unsigned h)
{
    uint8_t hd[HDR_LEN];
    if (mread(s, base(s, h), hd, sizeof hd) != CORIO_OK || get32(hd) != HDR_MAGIC ||
        hd[4] != FORMAT_VERSION || hd[5] || hd[6] || hd[7] ||
        get32(hd + 12) != corio_crc32(0, hd, 12))
        return 0;
    return get32(hd + 8);
}

/* Loads the state from the active half's records, up to the first that is not valid
 * (the end of the log, or a record a cut left torn). */
static void load(struct corio_ota_store *s)
{
    uint32_t seqs[CORIO_OTA_MAX_ANCHORS] = {0}, boot_seq = 0, max_seq = 0;
    bool has_boot = false;
    uint32_t b = base(s, s->active), pos = s->unit;
    while (pos < s->half) {
        uint8_t head[REC_HEAD];
        struct change c;
        int size = rec_check(s, b + pos, b + s->half, head);
        if (size < 0)
            break;
        uint32_t seq = get32(head + 4);
        if (seq > max_seq)
            max_seq = seq;
        if (parse(s, b + pos, head, &c) == CORIO_OK) {
            if (c.kind == K_ANCHOR && (!s->anchors[c.id].addr || seq >= seqs[c.id])) {
                seqs[c.id] = seq;
                apply(s, &c, pos);
            } else if (c.kind == K_ROLLBACK) {
                apply(s, &c, pos);
            } else if (c.kind == K_BOOT && (!has_boot || seq >= boot_seq)) {
                has_boot = true;
                boot_seq = seq;
                apply(s, &c, pos);
            }
        }
        pos += (uint32_t)size;
    }
    s->pos = pos;
    s->next_seq = max_seq + 1u;
}

/* True when the whole metadata region reads erased. */
static bool region_blank(const struct corio_ota_store *s)
{
    uint8_t buf[MAX_UNIT];
    for (uint32_t a = 0; a < 2u * s->half; a += MAX_UNIT) {
        if (mread(s, a, buf, MAX_UNIT) != CORIO_OK)
            return false;
        for (unsigned i = 0; i < MAX_UNIT; i++)
            if (buf[i] != 0xFF)
                return false;
    }
    return true;
}

static bool port_ok(const struct corio_flash *f)
{
    return f->read && f->program && f->erase && f->sector_size && f->sector_count &&
           (f->prog_size == 1 || f->prog_size == 2 || f->prog_size == 4 || f->prog_size == 8 ||
            f->prog_size == 16 || f->prog_size == 32) &&
           f->sector_size % f->prog_size == 0 &&
           (uint64_t)f->sector_size * f->sector_count <= 0x7FFFFFFFu; /* lengths fit an int */
}

int corio_ota_open(struct corio_ota_store *s, const struct corio_ota_layout *layout)
{
    if (!s || !layout || !port_ok(&layout->meta) || !port_ok(&layout->slot[0]) ||
        !port_ok(&layout->slot[1]))
        return CORIO_ERR_INVAL;
    uint32_t unit = layout->meta.prog_size > 16 ? layout->meta.prog_size : 16u;
    if (layout->meta.sector_count < 2 || layout->meta.sector_count % 2 ||
        layout->meta.sector_size % unit || layout->meta.sector_size % MAX_UNIT)
        return CORIO_ERR_INVAL;
    memset(s, 0, sizeof *s);
    s->lay = *layout;
    s->unit = unit;
    s->half = layout->meta.sector_count / 2u * layout->meta.sector_size;
    if (s->half < unit + rec_size(s, ROLLBACK_LEN) + rec_size(s, BOOT_LEN))
        return CORIO_ERR_INVAL; /* not even the empty state fits */
    defaults(s);
    uint32_t g0 = header_gen(s, 0), g1 = header_gen(s, 1);
    if (g0 == 0 && g1 == 0) {
        s->opened = region_blank(s) ? CORIO_OTA_BLANK : CORIO_OTA_CORRUPT;
        s->next_seq = 1;
        return CORIO_OK;
    }
    s->active = g1 > g0 ? 1u : 0u;
    s->gen = g1 > g0 ? g1 : g0;
    s->valid = true;
    s->opened = CORIO_OTA_OPENED;
    load(s);
    return CORIO_OK;
}

/* ---- writing ---- */

/* Bytes the whole state takes in a half with change c folded in (header included). */
static uint32_t state_size(const struct corio_ota_store *s, const struct change *c)
{
    uint32_t n = s->unit + rec_size(s, ROLLBACK_LEN) + rec_size(s, BOOT_LEN);
    for (uint8_t i = 0; i < CORIO_OTA_MAX_ANCHORS; i++) {
        if (c->kind == K_ANCHOR && c->id == i)
            n += rec_size(s, ANCHOR_HEAD + c->len);
        else if (s->anchors[i].addr)
            n += rec_size(s, ANCHOR_HEAD + s->anchors[i].len);
    }
    return n;
}

/* Writes the whole state with c folded in into the other half, and makes it active. */
static int compact(struct corio_ota_store *s, const struct change *c)
{
    /* A half read from a damaged or foreign region may hold anchors that leave no room
     * for the counter and boot records a new half starts with. */
    if (state_size(s, c) > s->half)
        return CORIO_ERR_NOSPACE;
    unsigned t = s->valid ? 1u - s->active : 0u;
    uint32_t b = base(s, t), pos = s->unit, seq = s->next_seq;
    uint32_t addr[CORIO_OTA_MAX_ANCHORS];
    const struct corio_flash *f = &s->lay.meta;
    uint32_t per = f->sector_count / 2u;
    s->fresh = false;
    for (uint32_t i = 0; i < per; i++)
        if (f->erase(f->ctx, t * per + i) != CORIO_OK)
            return CORIO_ERR_IO;
    struct change r;
    memset(&r, 0, sizeof r);
    r.kind = K_ROLLBACK;
    r.value = c->kind == K_ROLLBACK && c->value > s->rollback ? c->value : s->rollback;
    int rc = write_change(s, b + pos, &r, seq++);
    pos += rec_size(s, ROLLBACK_LEN);
    if (rc == CORIO_OK) {
        r.kind = K_BOOT;
        r.boot = c->kind == K_BOOT ? c->boot : s->boot;
        rc = write_change(s, b + pos, &r, seq++);
        pos += rec_size(s, BOOT_LEN);
    }
    for (uint8_t i = 0; i < CORIO_OTA_MAX_ANCHORS && rc == CORIO_OK; i++) {
        addr[i] = 0;
        if (c->kind == K_ANCHOR && c->id == i) {
            addr[i] = pos;
            rc = write_change(s, b + pos, c, seq++);
            pos += rec_size(s, ANCHOR_HEAD + c->len);
        } else if (s->anchors[i].addr) {
            uint32_t size = rec_size(s, ANCHOR_HEAD + s->anchors[i].len);
            addr[i] = pos;
            rc = copy_record(s, base(s, s->active) + s->anchors[i].addr, b + pos, size);
            pos += size;
        }
    }
    if (rc != CORIO_OK)
        return rc;
    /* The header last: it makes this half the state. */
    uint8_t hd[MAX_UNIT];
    memset(hd, 0, sizeof hd);
    put32(hd, HDR_MAGIC);
    hd[4] = FORMAT_VERSION;
    put32(hd + 8, s->gen + 1u);
    put32(hd + 12, corio_crc32(0, hd, 12));
    if (f->program(f->ctx, b, hd, s->unit) != CORIO_OK || header_gen(s, t) != s->gen + 1u)
        return CORIO_ERR_IO;
    s->active = (uint8_t)t;
    s->gen++;
    s->valid = true;
    s->fresh = true;
    s->pos = pos;
    s->next_seq = seq;
    if (c->kind == K_ROLLBACK)
        apply(s, c, 0);
    else if (c->kind == K_BOOT)
        s->boot = c->boot;
    for (uint8_t i = 0; i < CORIO_OTA_MAX_ANCHORS; i++)
        s->anchors[i].addr = addr[i];
    if (c->kind == K_ANCHOR)
        apply(s, c, addr[c->id]);
    return CORIO_OK;
}

/* Records change c: appended to the active half when this session wrote it and it
 * has room, else folded into a new half. */
static int commit(struct corio_ota_store *s, const struct change *c)
{
    size_t len = c->kind == K_ANCHOR     ? ANCHOR_HEAD + c->len
                 : c->kind == K_ROLLBACK ? ROLLBACK_LEN
                                         : BOOT_LEN;
    uint32_t size = rec_size(s, len);
    if (s->fresh && size <= s->half - s->pos) {
        uint32_t at = s->pos;
        int rc = write_change(s, base(s, s->active) + at, c, s->next_seq);
        if (rc != CORIO_OK) {
            s->fresh = false; /* never program after a failed write: next time, a new half */
            return rc;
        }
        s->pos += size;
        s->next_seq++;
        apply(s, c, at);
        return CORIO_OK;
    }
    return compact(s, c);
}

/* ---- trust anchors ---- */

int corio_ota_anchor_put(struct corio_ota_store *s, uint8_t id, uint8_t kind, uint32_t version,
                         const uint8_t *data, size_t len)
{
    if (!s || id >= CORIO_OTA_MAX_ANCHORS || kind < CORIO_OTA_ANCHOR_ES256 ||
        kind > CORIO_OTA_ANCHOR_RAW || len > CORIO_OTA_ANCHOR_MAX || (len && !data))
        return CORIO_ERR_INVAL;
    if (s->anchors[id].addr && version <= s->anchors[id].version)
        return CORIO_ERR_POLICY;
    struct change c;
    memset(&c, 0, sizeof c);
    c.kind = K_ANCHOR;
    c.id = id;
    c.akind = kind;
    c.version = version;
    c.data = data;
    c.len = len;
    if (state_size(s, &c) > s->half)
        return CORIO_ERR_NOSPACE;
    return commit(s, &c);
}

int corio_ota_anchor_get(const struct corio_ota_store *s, uint8_t id,
                         struct corio_ota_anchor_info *info, uint8_t *buf, size_t cap)
{
    if (!s || id >= CORIO_OTA_MAX_ANCHORS || (!buf && cap))
        return CORIO_ERR_INVAL;
    if (!s->anchors[id].addr || !s->anchors[id].len)
        return CORIO_ERR_NOTFOUND;
    if (info) {
        info->kind = s->anchors[id].kind;
        info->version = s->anchors[id].version;
        info->len = s->anchors[id].len;
    }
    if (cap < s->anchors[id].len)
        return CORIO_ERR_NOSPACE;
    uint8_t head[REC_HEAD];
    uint32_t b = base(s, s->active), at = b + s->anchors[id].addr;
    if (rec_check(s, at, b + s->half, head) < 0 ||
        mread(s, at + REC_HEAD + ANCHOR_HEAD, buf, s->anchors[id].len) != CORIO_OK)
        return CORIO_ERR_IO;
    return (int)s->anchors[id].len;
}

/* ---- the anti-rollback counter ---- */

uint32_t corio_ota_rollback(const struct corio_ota_store *s)
{
    return s ? s->rollback : 0;
}

int corio_ota_rollback_raise(struct corio_ota_store *s, uint32_t value)
{
    if (!s)
        return CORIO_ERR_INVAL;
    if (value < s->rollback)
        return CORIO_ERR_POLICY;
    if (value == s->rollback)
        return CORIO_OK;
    struct change c;
    memset(&c, 0, sizeof c);
    c.kind = K_ROLLBACK;
    c.value = value;
    return commit(s, &c);
}

/* ---- the boot state ---- */

int corio_ota_boot_get(const struct corio_ota_store *s, struct corio_ota_boot *b)
{
    if (!s || !b)
        return CORIO_ERR_INVAL;
    *b = s->boot;
    return CORIO_OK;
}

static int set_boot(struct corio_ota_store *s, const struct corio_ota_boot *b)
{
    struct change c;
    memset(&c, 0, sizeof c);
    c.kind = K_BOOT;
    c.boot = *b;
    return commit(s, &c);
}

int corio_ota_boot_try(struct corio_ota_store *s, uint8_t slot, uint8_t tries)
{
    if (!s || slot > CORIO_OTA_SLOT_B || tries == 0)
        return CORIO_ERR_INVAL;
    if (s->boot.state != CORIO_OTA_CONFIRMED)
        return CORIO_ERR_STATE;
    if (slot == s->boot.active)
        return CORIO_ERR_INVAL;
    struct corio_ota_boot b = {CORIO_OTA_TRYING, s->boot.active, slot, tries, false};
    return set_boot(s, &b);
}

int corio_ota_boot_confirm(struct corio_ota_store *s)
{
    if (!s)
        return CORIO_ERR_INVAL;
    if (s->boot.state == CORIO_OTA_CONFIRMED)
        return CORIO_OK;
    struct corio_ota_boot b = {CORIO_OTA_CONFIRMED, s->boot.trial, 0, 0, false};
    return set_boot(s, &b);
}

int corio_ota_boot_select(struct corio_ota_store *s, uint8_t *slot)
{
    if (!s || !slot)
        return CORIO_ERR_INVAL;
    *slot = s->boot.active;
    if (s->boot.state == CORIO_OTA_CONFIRMED)
        return CORIO_OK;
    struct corio_ota_boot b = s->boot;
    if (b.tries_left > 0) {
        b.tries_left--;
        int rc = set_boot(s, &b);
        if (rc == CORIO_OK)
            *slot = b.trial;
        return rc;
    }
    /* Every try is spent and the trial never confirmed: back to what worked. */
    b.state = CORIO_OTA_CONFIRMED;
    b.trial = 0;
    b.reverted = true;
    return set_boot(s, &b);
}

/* ---- the image slots ---- */

int corio_ota_write_begin(struct corio_ota_store *s, struct corio_ota_writer *w, uint8_t slot)
{
    if (!s || !w || slot > CORIO_OTA_SLOT_B)
        return CORIO_ERR_INVAL;
    if (s->boot.state != CORIO_OTA_CONFIRMED || slot == s->boot.active)
        return CORIO_ERR_STATE;
    const struct corio_flash *f = &s->lay.slot[slot];
    memset(w, 0, sizeof *w); /* a writer whose erase failed takes no writes */
    for (uint32_t i = 0; i < f->sector_count; i++)
        if (f->erase(f->ctx, i) != CORIO_OK)
            return CORIO_ERR_IO;
    w->s = s;
    w->slot = slot;
    return CORIO_OK;
}

int corio_ota_write(struct corio_ota_writer *w, const uint8_t *data, size_t len)
{
    if (!w || !w->s || (len && !data))
        return CORIO_ERR_INVAL;
    const struct corio_flash *f = &w->s->lay.slot[w->slot];
    if (len > (uint64_t)f->sector_size * f->sector_count - w->off - w->fill)
        return CORIO_ERR_NOSPACE;
    while (len) {
        uint32_t k = f->prog_size - w->fill;
        if (k > len)
            k = (uint32_t)len;
        memcpy(w->buf + w->fill, data, k);
        w->fill += k;
        data += k;
        len -= k;
        if (w->fill == f->prog_size) {
            if (f->program(f->ctx, w->off, w->buf, w->fill) != CORIO_OK)
                return CORIO_ERR_IO;
            w->off += w->fill;
            w->fill = 0;
        }
    }
    return CORIO_OK;
}

int corio_ota_write_end(struct corio_ota_writer *w)
{
    if (!w || !w->s)
        return CORIO_ERR_INVAL;
    const struct corio_flash *f = &w->s->lay.slot[w->slot];
    uint32_t total = w->off + w->fill;
    if (w->fill) {
        memset(w->buf + w->fill, 0xFF, f->prog_size - w->fill);
        if (f->program(f->ctx, w->off, w->buf, f->prog_size) != CORIO_OK)
            return CORIO_ERR_IO;
        w->off += f->prog_size;
        w->fill = 0;
    }
    return (int)total;
}

int corio_ota_slot_read(const struct corio_ota_store *s, uint8_t slot, uint32_t off, uint8_t *buf,
                        size_t len)
{
    if (!s || slot > CORIO_OTA_SLOT_B || (len && !buf))
        return CORIO_ERR_INVAL;
    const struct corio_flash *f = &s->lay.slot[slot];
    uint64_t size = (uint64_t)f->sector_size * f->sector_count;
    if (off > size || len > size - off)
        return CORIO_ERR_INVAL;
    if (len == 0)
        return CORIO_OK;
    return f->read(f->ctx, off, buf, len) == CORIO_OK ? CORIO_OK : CORIO_ERR_IO;
}

int corio_ota_slot_hash(const struct corio_ota_store *s, uint8_t slot, uint32_t len,
                        const struct corio_crypto_ops *ops, uint8_t digest[CORIO_SHA256_LEN])
{
    uint8_t buf[64];
    struct corio_sha256 h;
    if (!s || !ops || !digest || slot > CORIO_OTA_SLOT_B)
        return CORIO_ERR_INVAL;
    const struct corio_flash *f = &s->lay.slot[slot];
    if (len > (uint64_t)f->sector_size * f->sector_count)
        return CORIO_ERR_INVAL;
    memset(&h, 0, sizeof h); /* idle */
    int rc = corio_sha256_start(&h, ops);
    for (uint32_t off = 0; off < len && rc == CORIO_OK;) {
        uint32_t n = len - off < sizeof buf ? len - off : (uint32_t)sizeof buf;
        rc = corio_ota_slot_read(s, slot, off, buf, n);
        if (rc == CORIO_OK)
            rc = corio_sha256_update(&h, buf, n);
        off += n;
    }
    if (rc != CORIO_OK) {
        corio_sha256_abort(&h);
        return rc;
    }
    return corio_sha256_finish(&h, digest);
}
