/*
 * seqtrack.c - each device's durable prefix (seqtrack.h): a table of devices
 * (devtable.h), each with its prefix and a bitmap of the seqs seen above it.
 */
#include "seqtrack.h"

#include <stdlib.h>
#include <string.h>

#include "corio/error.h"
#include "devtable.h"

#define NAME_MAX_LEN 64
#define WORDS (CORIO_SEQTRACK_WINDOW / 64)

struct track {
    char device[NAME_MAX_LEN + 1]; /* "" when the slot is free */
    uint64_t epoch;
    uint64_t prefix;        /* every seq up to this has been stored */
    uint64_t above[WORDS];  /* bit i: seq prefix + 1 + i has been stored */
    bool dirty;
};

struct corio_seqtrack {
    struct corio_devtable tracks; /* of struct track */
    size_t *dirty;                /* slot indexes of dirty tracks */
    size_t ndirty, dirty_cap;
};

corio_seqtrack *corio_seqtrack_new(void)
{
    corio_seqtrack *t = calloc(1, sizeof *t);
    if (t)
        corio_devtable_init(&t->tracks, sizeof(struct track), NAME_MAX_LEN + 1);
    return t;
}

void corio_seqtrack_free(corio_seqtrack *t)
{
    if (!t)
        return;
    corio_devtable_free(&t->tracks);
    free(t->dirty);
    free(t);
}

size_t corio_seqtrack_count(const corio_seqtrack *t)
{
    return t->tracks.count;
}

/* The device's track, added (with prefix 0) when new; NULL when out of memory. */
static struct track *track_of(corio_seqtrack *t, const char *device, bool *added)
{
    /* The dirty list can hold every track, so marking one never allocates; it is sized
     * before the table grows, for the table's next size. */
    size_t want = t->tracks.cap ? t->tracks.cap * 2 : 256;
    if ((t->tracks.count + 1) * 10 > t->tracks.cap * 7 && t->dirty_cap < want) {
        size_t *d = realloc(t->dirty, want * sizeof *d);
        if (!d)
            return NULL;
        t->dirty = d;
        t->dirty_cap = want;
    }
    size_t cap = t->tracks.cap;
    struct track *tr = corio_devtable_get(&t->tracks, device, added);
    if (tr && t->tracks.cap != cap) {
        /* Slot indexes moved: list the dirty tracks again. */
        t->ndirty = 0;
        for (size_t k = 0; k < t->tracks.cap; k++) {
            const struct track *o = corio_devtable_at(&t->tracks, k);
            if (o && o->dirty)
                t->dirty[t->ndirty++] = k;
        }
    }
    return tr;
}

static void mark_dirty(corio_seqtrack *t, struct track *tr)
{
    if (tr->dirty)
        return;
    tr->dirty = true;
    t->dirty[t->ndirty++] = corio_devtable_index(&t->tracks, tr);
}

int corio_seqtrack_load(corio_seqtrack *t, const char *device, uint64_t epoch, uint64_t seq)
{
    bool added;
    struct track *tr = track_of(t, device, &added);
    if (!tr)
        return CORIO_ERR_NOSPACE;
    tr->epoch = epoch;
    tr->prefix = seq;
    memset(tr->above, 0, sizeof tr->above);
    return CORIO_OK;
}

/* Moves the window up by n seqs (n < CORIO_SEQTRACK_WINDOW): bit i becomes bit i - n. */
static void shift(struct track *tr, unsigned n)
{
    unsigned words = n / 64, bits = n % 64;
    for (unsigned i = 0; i < WORDS; i++) {
        uint64_t lo = i + words < WORDS ? tr->above[i + words] : 0;
        uint64_t hi = i + words + 1 < WORDS ? tr->above[i + words + 1] : 0;
        tr->above[i] = bits ? (lo >> bits) | (hi << (64 - bits)) : lo;
    }
}

int corio_seqtrack_note(corio_seqtrack *t, const char *device, uint64_t epoch, uint64_t seq)
{
    if (!device || seq == 0 || epoch > INT64_MAX || seq > INT64_MAX)
        return CORIO_ERR_INVAL;
    bool added;
    struct track *tr = track_of(t, device, &added);
    if (!tr)
        return CORIO_ERR_NOSPACE;
    if (added || tr->epoch != epoch) {
        tr->epoch = epoch;
        tr->prefix = seq - 1;
        memset(tr->above, 0, sizeof tr->above);
        mark_dirty(t, tr);
    }
    if (seq <= tr->prefix)
        return CORIO_OK; /* sent again */
    uint64_t off = seq - tr->prefix - 1;
    if (off >= CORIO_SEQTRACK_WINDOW) {
        /* Far above: the holes below the window are older than any device keeps. */
        uint64_t up = off - (CORIO_SEQTRACK_WINDOW - 1);
        if (up >= CORIO_SEQTRACK_WINDOW)
            memset(tr->above, 0, sizeof tr->above);
        else
            shift(tr, (unsigned)up);
        tr->prefix += up;
        off = CORIO_SEQTRACK_WINDOW - 1;
        mark_dirty(t, tr);
    }
    tr->above[off / 64] |= (uint64_t)1 << (off % 64);
    unsigned run = 0;
    while (run < CORIO_SEQTRACK_WINDOW && (tr->above[run / 64] >> (run % 64) & 1))
        run++;
    if (run) {
        if (run == CORIO_SEQTRACK_WINDOW)
            memset(tr->above, 0, sizeof tr->above);
        else
            shift(tr, run);
        tr->prefix += run;
        mark_dirty(t, tr);
    }
    return CORIO_OK;
}

bool corio_seqtrack_get(const corio_seqtrack *t, const char *device, uint64_t *epoch,
                        uint64_t *seq)
{
    const struct track *tr = device ? corio_devtable_find(&t->tracks, device) : NULL;
    if (!tr)
        return false;
    *epoch = tr->epoch;
    *seq = tr->prefix;
    return true;
}

int corio_seqtrack_write(corio_seqtrack *t, corio_outbox *ob)
{
    if (!t->ndirty)
        return CORIO_OK;
    struct corio_outbox_seq *v = malloc(t->ndirty * sizeof *v);
    if (!v)
        return CORIO_ERR_NOSPACE;
    for (size_t i = 0; i < t->ndirty; i++) {
        const struct track *tr = corio_devtable_at(&t->tracks, t->dirty[i]);
        v[i] = (struct corio_outbox_seq){tr->device, tr->epoch, tr->prefix};
    }
    int rc = corio_outbox_put_seqs(ob, v, t->ndirty);
    free(v);
    if (rc != CORIO_OK)
        return rc;
    for (size_t i = 0; i < t->ndirty; i++)
        ((struct track *)corio_devtable_at(&t->tracks, t->dirty[i]))->dirty = false;
    t->ndirty = 0;
    return CORIO_OK;
}
