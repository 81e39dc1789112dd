/*
 * outbox_read.c - the outbox's readers: one entry by seq, iteration in seq order (all
 * entries, or only the unacknowledged ones for the resend path), and statistics.
 */
#include <string.h>

#include "outbox_int.h"

/* Fills *e from v and copies the payload when asked for. */
static int deliver(const struct corio_dev_outbox *ob, const struct ob_visit *v,
                   struct corio_dev_outbox_entry *e, uint8_t *buf, size_t cap)
{
    memset(e, 0, sizeof *e);
    e->epoch = ob->hd.epoch;
    e->seq = v->rec.w[OB_W_SEQ];
    e->acked = v->ack == OB_ACK_DONE;
    e->meta.type = (uint8_t)(v->rec.w[OB_W_HEAD] >> 8);
    e->meta.time_kind = (uint8_t)v->rec.w[OB_W_TKIND];
    e->meta.boot_count = v->rec.w[OB_W_BOOT];
    e->meta.time_ms = (uint64_t)v->rec.w[OB_W_THI] << 32 | v->rec.w[OB_W_TLO];
    e->len = v->rec.len;
    if (!buf)
        return CORIO_OK;
    if (cap < e->len)
        return CORIO_ERR_NOSPACE;
    /* Read twice, checked twice: a weak cell may read differently this time. */
    return corio__ob_payload(ob, v, buf) ? CORIO_OK : CORIO_ERR_IO;
}

int corio_dev_outbox_get(struct corio_dev_outbox *ob, uint32_t seq,
                         struct corio_dev_outbox_entry *e, uint8_t *buf, size_t cap)
{
    if (!ob || !e)
        return CORIO_ERR_INVAL;
    if (!ob->ready)
        return CORIO_ERR_STATE;
    struct ob_visit v;
    int ret = corio__ob_find(ob, seq, &v);
    if (ret != CORIO_OK)
        return ret;
    return deliver(ob, &v, e, buf, cap);
}

void corio_dev_outbox_iter_init(struct corio_dev_outbox_iter *it, uint32_t after)
{
    if (!it)
        return;
    it->after = after;
    it->ord = OB_NONE;
    it->pos = 0;
    it->last = 0;
}

int corio_dev_outbox_iter_next(struct corio_dev_outbox *ob, struct corio_dev_outbox_iter *it,
                               unsigned flags, struct corio_dev_outbox_entry *e, uint8_t *buf,
                               size_t cap)
{
    if (!ob || !it || !e)
        return CORIO_ERR_INVAL;
    if (!ob->ready)
        return CORIO_ERR_STATE;
    bool unacked = flags & CORIO_DEV_OUTBOX_UNACKED;
    /* Nothing below the hint is unacknowledged: start there. */
    bool from_hint = false;
    if (unacked && it->after < ob->unacked_hint) {
        if (it->after + 1u < ob->unacked_hint) {
            it->after = ob->unacked_hint - 1u;
            it->ord = OB_NONE;
        }
        from_hint = true;
    }
    /* (next_seq is 1..CORIO_DEV_OUTBOX_SEQ_MAX + 1) */
    if (it->after < ob->next_seq - 1u) {
        /* Where to start: where the iterator stopped if that sector is still in the
         * ring, else the sector whose window holds after + 1. */
        struct ob_scan sc = {.d = ob->hd.ord - it->ord};
        struct ob_shdr h;
        struct ob_visit v;
        if (corio__ob_member(ob, sc.d, &h)) { /* (not when it->ord is OB_NONE) */
            sc.pos = it->pos;
            sc.last = it->last;
        } else {
            sc.d = corio__ob_locate(ob, it->after + 1u);
        }
        while (corio__ob_walk(ob, &sc, &v)) {
            if (v.rec.kind != OB_KIND_MSG || v.rec.w[OB_W_SEQ] <= it->after ||
                (unacked && v.ack == OB_ACK_DONE))
                continue;
            int ret = deliver(ob, &v, e, buf, cap);
            if (ret == CORIO_ERR_NOSPACE)
                return ret;
            if (from_hint)
                ob->unacked_hint = v.rec.w[OB_W_SEQ];
            it->after = v.rec.w[OB_W_SEQ];
            it->ord = ob->hd.ord - sc.d;
            it->pos = v.end;
            it->last = v.rec.w[OB_W_SEQ];
            return ret;
        }
    }
    if (from_hint)
        ob->unacked_hint = ob->next_seq;
    return CORIO_ERR_NOTFOUND;
}

int corio_dev_outbox_stats(struct corio_dev_outbox *ob, struct corio_dev_outbox_stats *st)
{
    if (!ob || !st)
        return CORIO_ERR_INVAL;
    if (!ob->ready)
        return CORIO_ERR_STATE;
    memset(st, 0, sizeof *st);
    uint32_t ssz = ob->flash.sector_size, n = ob->flash.sector_count;
    uint32_t top = ssz - ob->reserve, usable = top - ob->shdr_size;
    st->epoch = ob->hd.epoch;
    st->last_seq = ob->next_seq - 1u;
    st->depth = ob->depth;
    st->entries = ob->entries;
    st->drops = ob->drops;
    st->corrupt = ob->corrupt;
    st->opened = (uint8_t)ob->opened;
    st->capacity_bytes = usable * n;
    st->free_bytes = (ob->pos <= top ? top - ob->pos : 0) + (n - corio__ob_span(ob)) * usable;

#if CORIO_DEV_OUTBOX_STATS_FLASH
    struct ob_shdr h;
    st->erase_min = UINT32_MAX;
    for (uint32_t i = 0; i < n; i++) {
        if (corio__ob_read_shdr(ob, i, &h) != OB_SHDR_VALID)
            continue;
        if (h.erase < st->erase_min)
            st->erase_min = h.erase;
        if (h.erase > st->erase_max)
            st->erase_max = h.erase;
    }
    if (st->erase_min > st->erase_max)
        st->erase_min = 0; /* no readable header */

    struct corio_dev_outbox_iter it;
    struct corio_dev_outbox_entry e;
    corio_dev_outbox_iter_init(&it, 0);
    if (corio_dev_outbox_iter_next(ob, &it, 0, &e, NULL, 0) == CORIO_OK)
        st->oldest_seq = e.seq;
#endif
    return CORIO_OK;
}
