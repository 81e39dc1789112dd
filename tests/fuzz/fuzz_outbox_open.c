/*
 * fuzz_outbox_open.c - the device outbox opening an arbitrary flash image.
 *
 * Input: byte 0 picks a geometry (sector size, count, program unit), byte 1 holds
 * flags (bit 0: the part may reprogram units; bit 1: try CORIO_DEV_OUTBOX_NO_FORMAT
 * first), the rest is the flash image (short images are padded with erased bytes).
 * The target opens the image, reads everything back (iteration, lookups, stats) and
 * checks that the results agree; then appends and acks on it, reopens, and checks
 * that the new message is there under a seq above everything seen before. Every
 * write goes through the NOR simulator, which aborts if the outbox programs over
 * data it did not erase, so a hostile image cannot make the outbox corrupt flash.
 *
 * Built with -DFUZZ_OUTBOX_SEEDS it is instead a program that writes the seed corpus
 * (real images: blank, fresh, wrapped, torn by power cuts, foreign, garbage) into
 * the directory named on its command line.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corio/outbox.h"

#define SIM_VIOLATION(msg) (fprintf(stderr, "outbox broke a flash rule: %s\n", msg), abort())
#include "../unit/test_outbox_sim.h"

static const struct {
    uint32_t ssz, n, prog;
} geometries[] = {
    {512, 4, 8}, {384, 4, 1}, {512, 3, 4}, {768, 3, 16}, {1024, 2, 32}, {384, 6, 2},
};
#define NGEOM (sizeof geometries / sizeof *geometries)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Reads everything back; returns the greatest seq seen (0: none). */
static uint32_t read_all(struct corio_dev_outbox *ob)
{
    struct corio_dev_outbox_stats st;
    struct corio_dev_outbox_iter it;
    struct corio_dev_outbox_entry e, g;
    static uint8_t buf[1024];
    CHECK(corio_dev_outbox_stats(ob, &st) == CORIO_OK);
    uint32_t prev = 0, count = 0, unacked = 0;
    corio_dev_outbox_iter_init(&it, 0);
    for (;;) {
        int ret = corio_dev_outbox_iter_next(ob, &it, 0, &e, buf, sizeof buf);
        if (ret == CORIO_ERR_NOTFOUND)
            break;
        CHECK(ret == CORIO_OK || ret == CORIO_ERR_IO);
        CHECK(e.seq > prev && e.seq <= st.last_seq);
        CHECK(e.epoch == st.epoch);
        prev = e.seq;
        count++;
        unacked += !e.acked;
        CHECK(corio_dev_outbox_get(ob, e.seq, &g, NULL, 0) == CORIO_OK);
        CHECK(g.len == e.len && g.acked == e.acked && g.seq == e.seq);
        CHECK(count <= 100000);
    }
    CHECK(count == st.entries);
    CHECK(unacked == st.depth);
    uint32_t n_un = 0;
    corio_dev_outbox_iter_init(&it, 0);
    while (corio_dev_outbox_iter_next(ob, &it, CORIO_DEV_OUTBOX_UNACKED, &e, NULL, 0) == CORIO_OK) {
        CHECK(!e.acked);
        n_un++;
        CHECK(n_un <= unacked);
    }
    CHECK(n_un == unacked);
    return prev;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint32_t gi = data[0] % NGEOM;
    uint32_t flags = (data[1] & 1u) ? CORIO_FLASH_F_REPROGRAM : 0;
    struct sim s;
    sim_init(&s, geometries[gi].ssz, geometries[gi].n, geometries[gi].prog, flags);
    size_t img = size - 2 < s.size ? size - 2 : s.size;
    memcpy(s.mem, data + 2, img);
    sim_mark_written(&s);

    struct corio_flash f;
    struct corio_dev_outbox ob;
    struct corio_dev_outbox_stats st;
    sim_port(&s, &f);
    if (data[1] & 2u) {
        struct corio_dev_outbox_config ro = {.fresh_epoch = 7, .flags = CORIO_DEV_OUTBOX_NO_FORMAT};
        int ret = corio_dev_outbox_open(&ob, &f, &ro);
        CHECK(ret == CORIO_OK || ret == CORIO_ERR_NOTFOUND || ret == CORIO_ERR_VERSION ||
              ret == CORIO_ERR_MALFORMED);
        CHECK(s.programmed == 0 && s.erases == 0); /* inspecting writes nothing */
    }
    struct corio_dev_outbox_config cfg = {.fresh_epoch = 7};
    CHECK(corio_dev_outbox_open(&ob, &f, &cfg) == CORIO_OK);
    CHECK(corio_dev_outbox_stats(&ob, &st) == CORIO_OK);
    uint32_t top = read_all(&ob);
    uint32_t epoch = st.epoch;

    /* Use it: a new message must get a seq above everything readable, and stay. */
    static const uint8_t msg[] = "[{\"n\":\"t\",\"v\":1}]";
    struct corio_dev_outbox_meta m = {.type = 1};
    uint32_t seq = 0;
    int ret = corio_dev_outbox_append(&ob, &m, msg, sizeof msg - 1, &seq);
    CHECK(ret == CORIO_OK || ret == CORIO_ERR_FULL);
    if (ret == CORIO_OK) {
        CHECK(seq > top);
        CHECK(corio_dev_outbox_ack(&ob, seq) == CORIO_OK);
        uint32_t seq2 = 0;
        CHECK(corio_dev_outbox_append(&ob, &m, msg, 3, &seq2) == CORIO_OK);
        CHECK(seq2 > seq);
        if (top)
            (void)corio_dev_outbox_ack(&ob, top);
        CHECK(corio_dev_outbox_open(&ob, &f, &cfg) == CORIO_OK);
        CHECK(corio_dev_outbox_stats(&ob, &st) == CORIO_OK);
        CHECK(st.opened == CORIO_DEV_OUTBOX_RECOVERED && st.epoch == epoch);
        CHECK(st.last_seq >= seq2);
        struct corio_dev_outbox_entry e;
        uint8_t buf[sizeof msg];
        CHECK(corio_dev_outbox_get(&ob, seq, &e, buf, sizeof buf) == CORIO_OK);
        CHECK(e.acked && e.len == sizeof msg - 1 && memcmp(buf, msg, e.len) == 0);
        CHECK(corio_dev_outbox_get(&ob, seq2, &e, buf, sizeof buf) == CORIO_OK);
        CHECK(!e.acked && e.len == 3);
        CHECK(read_all(&ob) == seq2);
    }
    sim_free(&s);
    return 0;
}

#ifdef FUZZ_OUTBOX_SEEDS
/* The seed corpus: real images in every geometry, written as fuzz inputs. */
static void save(const char *dir, const char *name, uint32_t gi, uint8_t fl, const struct sim *s)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s-g%u", dir, name, (unsigned)gi);
    FILE *fp = fopen(path, "wb");
    if (!fp) {
        perror(path);
        exit(1);
    }
    uint8_t hdr[2] = {(uint8_t)gi, fl};
    /* trailing erased bytes are implied */
    uint32_t len = s->size;
    while (len > 0 && s->mem[len - 1] == 0xFF)
        len--;
    fwrite(hdr, 1, 2, fp);
    fwrite(s->mem, 1, len, fp);
    fclose(fp);
}

static void fill(struct corio_dev_outbox *ob, uint32_t from, uint32_t count)
{
    uint8_t buf[64];
    for (uint32_t i = from; i < from + count; i++) {
        struct corio_dev_outbox_meta m = {.type = (uint8_t)(i % 4u),
                                          .time_kind = (uint8_t)(i % 3u),
                                          .boot_count = i / 7u,
                                          .time_ms = 1764500000000ull + i};
        size_t len = (i * 13u) % 48u;
        for (size_t k = 0; k < len; k++)
            buf[k] = (uint8_t)(i + k);
        uint32_t seq;
        if (corio_dev_outbox_append(ob, &m, buf, len, &seq) != CORIO_OK)
            return;
        if (i % 3u)
            (void)corio_dev_outbox_ack(ob, seq);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s <corpus-dir>\n", argv[0]);
        return 2;
    }
    for (uint32_t gi = 0; gi < NGEOM; gi++) {
        uint32_t fl = gi % 2u ? CORIO_FLASH_F_REPROGRAM : 0;
        struct sim s;
        struct corio_flash f;
        struct corio_dev_outbox ob;
        struct corio_dev_outbox_config cfg = {.fresh_epoch = 0x51EED};
        sim_init(&s, geometries[gi].ssz, geometries[gi].n, geometries[gi].prog, fl);
        sim_port(&s, &f);
        save(argv[1], "blank", gi, (uint8_t)(fl ? 1 : 0), &s);
        corio_dev_outbox_open(&ob, &f, &cfg);
        fill(&ob, 0, 5);
        save(argv[1], "fresh", gi, (uint8_t)(fl ? 1 : 0), &s);
        fill(&ob, 5, 60); /* wraps: drops, notes, several sectors */
        save(argv[1], "wrapped", gi, (uint8_t)(fl ? 3 : 2), &s);
        corio_dev_outbox_open(&ob, &f, &cfg); /* a reboot: guard and boot mark */
        fill(&ob, 65, 3);
        s.budget = 41; /* a power cut in the middle of an append */
        s.cut_mode = SIM_CUT_GARBAGE;
        fill(&ob, 68, 1);
        sim_power_on(&s);
        save(argv[1], "torn", gi, (uint8_t)(fl ? 1 : 0), &s);
        corio_dev_outbox_open(&ob, &f, &cfg);
        s.erase_budget = 0; /* a cut erasing the oldest sector, the header left */
        s.cut_mode = SIM_CUT_ECC;
        fill(&ob, 69, 40);
        sim_power_on(&s);
        s.ecc = false;
        save(argv[1], "rotation-cut", gi, (uint8_t)(fl ? 1 : 0), &s);
        /* another format version */
        s.mem[4] = 0;
        save(argv[1], "foreign", gi, 0, &s);
        sim_free(&s);
    }
    return 0;
}
#endif
