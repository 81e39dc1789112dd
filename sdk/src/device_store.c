/*
 * device_store.c - the device's counter store: its boot count and the monotonic
 * counter of single-step authentication (docs/eat-profile.md §6), kept in two flash
 * sectors ahead of the outbox, and the flash windows that split the application's
 * region between the two.
 *
 * The store is a log of 32-byte records, each holding the boot count and a counter
 * limit: every counter below the limit may have been used. Both only grow, so a reader
 * takes the greatest of each over every valid record, and a record that a power cut
 * tore, or that only settles later, can only lead to skipping counters, never to
 * handing one out twice. Counters are reserved a block at a time (one write per block
 * and one per boot); a reboot continues from the limit, skipping what the previous
 * boot reserved and did not use. The format and the power-cut argument are in
 * docs/sdk-device.md.
 */
#include <string.h>

#include "corio/crc32.h"
#include "device_int.h"

static const uint8_t magic[4] = {0x43, 0x43, 0x54, 0x52}; /* "CCTR" */

/* ---- flash windows ---- */

static int win_check(const struct corio_device_flash_view *v, uint32_t addr, size_t len)
{
    return addr <= v->size && len <= v->size - addr ? CORIO_OK : CORIO_ERR_INVAL;
}

static int win_read(void *ctx, uint32_t addr, uint8_t *buf, size_t len)
{
    const struct corio_device_flash_view *v = ctx;
    int rc = win_check(v, addr, len);
    return rc != CORIO_OK ? rc : v->base->read(v->base->ctx, v->offset + addr, buf, len);
}

static int win_program(void *ctx, uint32_t addr, const uint8_t *buf, size_t len)
{
    const struct corio_device_flash_view *v = ctx;
    int rc = win_check(v, addr, len);
    return rc != CORIO_OK ? rc : v->base->program(v->base->ctx, v->offset + addr, buf, len);
}

static int win_erase(void *ctx, uint32_t sector)
{
    const struct corio_device_flash_view *v = ctx;
    if (sector >= v->size / v->base->sector_size)
        return CORIO_ERR_INVAL;
    return v->base->erase(v->base->ctx, v->offset / v->base->sector_size + sector);
}

void corio__dev_flash_window(struct corio_flash *out, struct corio_device_flash_view *view,
                             const struct corio_flash *base, uint32_t first, uint32_t count)
{
    view->base = base;
    view->offset = first * base->sector_size;
    view->size = count * base->sector_size;
    memset(out, 0, sizeof *out);
    out->ctx = view;
    out->sector_size = base->sector_size;
    out->sector_count = count;
    out->prog_size = base->prog_size;
    out->flags = base->flags;
    out->read = win_read;
    out->program = win_program;
    out->erase = win_erase;
}

/* ---- records ---- */

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Record: magic, version, 3 zero bytes, boot (u32), 4 zero bytes, limit (u64), 4 zero
 * bytes, CRC-32 of bytes 0..27. Little-endian. */
static void rec_encode(uint8_t r[DEV_STORE_SLOT], uint32_t boot, uint64_t limit)
{
    memset(r, 0, DEV_STORE_SLOT);
    memcpy(r, magic, 4);
    r[4] = DEV_STORE_VERSION;
    put32(r + 8, boot);
    put32(r + 16, (uint32_t)limit);
    put32(r + 20, (uint32_t)(limit >> 32));
    put32(r + 28, corio_crc32(0, r, 28));
}

static bool rec_decode(const uint8_t r[DEV_STORE_SLOT], uint32_t *boot, uint64_t *limit)
{
    static const uint8_t zero[4] = {0, 0, 0, 0};
    if (memcmp(r, magic, 4) != 0 || r[4] != DEV_STORE_VERSION || memcmp(r + 5, zero, 3) != 0 ||
        memcmp(r + 12, zero, 4) != 0 || memcmp(r + 24, zero, 4) != 0 ||
        get32(r + 28) != corio_crc32(0, r, 28))
        return false;
    *boot = get32(r + 8);
    *limit = (uint64_t)get32(r + 20) << 32 | get32(r + 16);
    return *limit >= 1;
}

static bool erased(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0xFF)
            return false;
    return true;
}

/* Writes one record at the next slot of the current sector, or, when that sector is
 * full (or `fresh`: nothing valid anywhere), erases the other sector (the current one,
 * when fresh) and starts it. The slot counts as used whatever happens, so a failed
 * write is never programmed over. */
static int store_write(struct corio_device_store *s, uint32_t boot, uint64_t limit, bool fresh)
{
    uint32_t slots = s->flash.sector_size / DEV_STORE_SLOT;
    if (fresh || s->pos >= slots) {
        uint32_t target = fresh ? s->sector : 1u - s->sector;
        if (s->flash.erase(s->flash.ctx, target) != CORIO_OK)
            return CORIO_ERR_IO;
        s->sector = target;
        s->pos = 0;
    }
    uint8_t rec[DEV_STORE_SLOT], back[DEV_STORE_SLOT];
    rec_encode(rec, boot, limit);
    uint32_t addr = s->sector * s->flash.sector_size + s->pos * DEV_STORE_SLOT;
    s->pos++;
    if (s->flash.program(s->flash.ctx, addr, rec, sizeof rec) != CORIO_OK ||
        s->flash.read(s->flash.ctx, addr, back, sizeof back) != CORIO_OK ||
        memcmp(rec, back, sizeof rec) != 0)
        return CORIO_ERR_IO;
    return CORIO_OK;
}

int corio__dev_store_open(struct corio_device_store *s, const struct corio_flash *flash,
                          uint32_t block)
{
    if (!s || !flash || !flash->read || !flash->program || !flash->erase || block == 0)
        return CORIO_ERR_INVAL;
    uint32_t p = flash->prog_size;
    if (flash->sector_count != CORIO_DEVICE_STORE_SECTORS || p == 0 || p > DEV_STORE_SLOT ||
        (p & (p - 1)) != 0 || flash->sector_size % DEV_STORE_SLOT != 0 ||
        flash->sector_size < 4 * DEV_STORE_SLOT)
        return CORIO_ERR_INVAL;
    memset(s, 0, sizeof *s);
    s->flash = *flash;

    uint32_t slots = flash->sector_size / DEV_STORE_SLOT;
    uint32_t last[CORIO_DEVICE_STORE_SECTORS]; /* one past the last slot not erased */
    bool found = false, written = false;
    uint32_t boot = 0, best = 0, best_boot = 0;
    uint64_t limit = 1, best_limit = 0;
    for (uint32_t sec = 0; sec < CORIO_DEVICE_STORE_SECTORS; sec++) {
        last[sec] = 0;
        for (uint32_t i = 0; i < slots; i++) {
            uint8_t r[DEV_STORE_SLOT];
            uint32_t b;
            uint64_t l;
            int rc =
                flash->read(flash->ctx, sec * flash->sector_size + i * DEV_STORE_SLOT, r, sizeof r);
            if (rc == CORIO_OK && erased(r, sizeof r))
                continue;
            last[sec] = i + 1;
            written = true;
            if (rc != CORIO_OK || !rec_decode(r, &b, &l))
                continue;
            /* The sector to continue is the one holding the highest limit: keeping it
             * is what matters, as a rollover erases the other one. */
            if (!found || l > best_limit || (l == best_limit && b > best_boot)) {
                best = sec;
                best_limit = l;
                best_boot = b;
            }
            if (!found || b > boot)
                boot = b;
            if (!found || l > limit)
                limit = l;
            found = true;
        }
    }
    bool fresh = !found;
    if (found) {
        s->opened = CORIO_DEVICE_STORE_RECOVERED;
        s->sector = best;
        /* One slot of guard: a cut may have left the slot after the last one that
         * reads written half-programmed yet reading erased. */
        s->pos = last[best] + 1;
    } else {
        s->opened = written ? CORIO_DEVICE_STORE_CORRUPT : CORIO_DEVICE_STORE_BLANK;
        s->sector = 0;
    }
    if (limit > UINT64_MAX - block)
        return CORIO_ERR_FULL;
    if (boot < UINT32_MAX)
        boot++;
    int rc = store_write(s, boot, limit + block, fresh);
    if (rc != CORIO_OK)
        return rc;
    s->boot = boot;
    s->next = limit;
    s->limit = limit + block;
    return CORIO_OK;
}

int corio__dev_store_take(struct corio_device_store *s, uint32_t block, uint64_t *counter)
{
    if (!s || !counter || block == 0)
        return CORIO_ERR_INVAL;
    if (s->next >= s->limit) {
        if (s->limit > UINT64_MAX - block)
            return CORIO_ERR_FULL;
        int rc = store_write(s, s->boot, s->limit + block, false);
        if (rc != CORIO_OK)
            return rc;
        s->limit += block;
    }
    *counter = s->next++;
    return CORIO_OK;
}
