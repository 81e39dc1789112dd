/*
 * fuzz_ota_store.c - the OTA store (ota_store.h) opening an arbitrary metadata region.
 *
 * Input: byte 0 picks a geometry (sector size, sector count, program unit), the rest is
 * the metadata region's image (short images are padded with erased bytes). The target
 * opens it (which must write nothing), reads the whole state back and checks it is
 * consistent (a boot state that names real slots, anchors within their limits that read
 * back as listed); then raises the counter, runs a trial and puts an anchor, reopens and
 * checks each change that returned CORIO_OK is there and the counter never went down.
 * Every write goes through the NOR simulator, which aborts on a program over data that
 * was not erased or outside the region, so a hostile image cannot make the store
 * corrupt flash or overrun a half.
 *
 * Built with -DFUZZ_OTA_SEEDS it is instead a program that writes the seed corpus (real
 * regions: blank, fresh, after many changes, cut by a power failure, damaged) into the
 * directory named on its command line.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corio/ota_store.h"

#define SIM_VIOLATION(msg) (fprintf(stderr, "ota store broke a flash rule: %s\n", msg), abort())
#include "../unit/test_outbox_sim.h"

static const struct {
    uint32_t ssz, n, prog;
} geometries[] = {
    {256, 2, 8}, {256, 4, 16}, {512, 2, 1}, {512, 2, 32}, {1024, 2, 4}, {128, 6, 2},
};
#define NGEOM (sizeof geometries / sizeof *geometries)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

struct rig {
    struct sim meta, a, b;
    struct corio_ota_layout lay;
    struct corio_ota_store s;
};

static void rig_init(struct rig *r, uint32_t gi)
{
    memset(r, 0, sizeof *r);
    sim_init(&r->meta, geometries[gi].ssz, geometries[gi].n, geometries[gi].prog, 0);
    sim_init(&r->a, 256, 2, 8, 0);
    sim_init(&r->b, 256, 2, 8, 0);
    sim_port(&r->meta, &r->lay.meta);
    sim_port(&r->a, &r->lay.slot[0]);
    sim_port(&r->b, &r->lay.slot[1]);
}

static void rig_free(struct rig *r)
{
    sim_free(&r->meta);
    sim_free(&r->a);
    sim_free(&r->b);
}

/* Reads the whole state and checks it; anchor versions into versions[]. */
static void read_all(const struct corio_ota_store *s, uint32_t versions[CORIO_OTA_MAX_ANCHORS],
                     int present[CORIO_OTA_MAX_ANCHORS])
{
    static uint8_t buf[CORIO_OTA_ANCHOR_MAX];
    struct corio_ota_boot b;
    CHECK(corio_ota_boot_get(s, &b) == CORIO_OK);
    CHECK(b.state == CORIO_OTA_CONFIRMED || b.state == CORIO_OTA_TRYING);
    CHECK(b.active <= CORIO_OTA_SLOT_B && b.trial <= CORIO_OTA_SLOT_B);
    for (uint8_t id = 0; id < CORIO_OTA_MAX_ANCHORS; id++) {
        struct corio_ota_anchor_info info;
        memset(&info, 0, sizeof info);
        int n = corio_ota_anchor_get(s, id, &info, buf, sizeof buf);
        present[id] = n >= 0;
        versions[id] = info.version;
        CHECK(n == CORIO_ERR_NOTFOUND || n == CORIO_ERR_IO || n >= 1);
        if (n >= 1) {
            CHECK((size_t)n == info.len && info.len <= CORIO_OTA_ANCHOR_MAX);
            int again = corio_ota_anchor_get(s, id, NULL, buf, sizeof buf);
            CHECK(again == n);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct rig r;
    rig_init(&r, data[0] % NGEOM);
    size_t img = size - 1 < r.meta.size ? size - 1 : r.meta.size;
    memcpy(r.meta.mem, data + 1, img);
    sim_mark_written(&r.meta);

    CHECK(corio_ota_open(&r.s, &r.lay) == CORIO_OK);
    CHECK(r.meta.programmed == 0 && r.meta.erases == 0); /* opening writes nothing */
    uint32_t versions[CORIO_OTA_MAX_ANCHORS];
    int present[CORIO_OTA_MAX_ANCHORS];
    read_all(&r.s, versions, present);
    uint32_t counter = corio_ota_rollback(&r.s);

    /* Changes, each of which must hold after a reopen when it returned CORIO_OK. */
    uint32_t raised = counter;
    if (counter < UINT32_MAX) {
        int rc = corio_ota_rollback_raise(&r.s, counter + 1);
        CHECK(rc == CORIO_OK || rc == CORIO_ERR_NOSPACE);
        if (rc == CORIO_OK)
            raised = counter + 1;
    }
    CHECK(corio_ota_rollback(&r.s) == raised);
    struct corio_ota_boot b;
    CHECK(corio_ota_boot_get(&r.s, &b) == CORIO_OK);
    uint8_t slot;
    int rc = corio_ota_boot_select(&r.s, &slot);
    CHECK(rc == CORIO_OK || rc == CORIO_ERR_NOSPACE);
    CHECK(slot <= CORIO_OTA_SLOT_B);
    rc = corio_ota_boot_confirm(&r.s);
    CHECK(rc == CORIO_OK || rc == CORIO_ERR_NOSPACE);
    bool confirmed = rc == CORIO_OK;
    static const uint8_t key[65] = {4, 1, 2, 3};
    uint32_t v = versions[1] < UINT32_MAX ? versions[1] + 1 : UINT32_MAX;
    rc = corio_ota_anchor_put(&r.s, 1, CORIO_OTA_ANCHOR_ES256, v, key, sizeof key);
    CHECK(rc == CORIO_OK || rc == CORIO_ERR_NOSPACE || rc == CORIO_ERR_POLICY);
    bool put = rc == CORIO_OK;

    CHECK(corio_ota_open(&r.s, &r.lay) == CORIO_OK);
    CHECK(corio_ota_rollback(&r.s) >= raised);
    CHECK(corio_ota_boot_get(&r.s, &b) == CORIO_OK);
    if (confirmed)
        CHECK(b.state == CORIO_OTA_CONFIRMED);
    if (put) {
        uint8_t back[sizeof key];
        struct corio_ota_anchor_info info;
        CHECK(corio_ota_anchor_get(&r.s, 1, &info, back, sizeof back) == (int)sizeof key);
        CHECK(info.version == v && memcmp(back, key, sizeof key) == 0);
    }
    read_all(&r.s, versions, present);
    rig_free(&r);
    return 0;
}

#ifdef FUZZ_OTA_SEEDS
static void save(const char *dir, const char *name, uint32_t gi, const struct sim *s)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s-g%u", dir, name, (unsigned)gi);
    FILE *fp = fopen(path, "wb");
    if (!fp) {
        perror(path);
        exit(1);
    }
    uint8_t hdr = (uint8_t)gi;
    uint32_t len = s->size;
    while (len > 0 && s->mem[len - 1] == 0xFF)
        len--; /* trailing erased bytes are implied */
    fwrite(&hdr, 1, 1, fp);
    fwrite(s->mem, 1, len, fp);
    fclose(fp);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s <corpus-dir>\n", argv[0]);
        return 2;
    }
    static const uint8_t key[65] = {4, 9, 9, 9};
    static const uint8_t ca[40] = {0x30, 0x26};
    for (uint32_t gi = 0; gi < NGEOM; gi++) {
        struct rig r;
        uint8_t slot;
        rig_init(&r, gi);
        save(argv[1], "blank", gi, &r.meta);
        corio_ota_open(&r.s, &r.lay);
        corio_ota_rollback_raise(&r.s, 3);
        corio_ota_anchor_put(&r.s, 0, CORIO_OTA_ANCHOR_ES256, 1, key, sizeof key);
        save(argv[1], "fresh", gi, &r.meta);
        for (uint32_t i = 0; i < 12; i++) {
            corio_ota_open(&r.s, &r.lay); /* a reboot: the next change swaps halves */
            corio_ota_boot_try(&r.s, (uint8_t)(1 - (i & 1)), 2);
            corio_ota_boot_select(&r.s, &slot);
            corio_ota_anchor_put(&r.s, 1, CORIO_OTA_ANCHOR_X509, i + 1, ca, sizeof ca);
            if (i % 3)
                corio_ota_boot_confirm(&r.s);
            corio_ota_rollback_raise(&r.s, 4 + i);
        }
        save(argv[1], "busy", gi, &r.meta);
        corio_ota_open(&r.s, &r.lay);
        r.meta.budget = 37; /* a power cut in the middle of a change */
        r.meta.cut_mode = SIM_CUT_GARBAGE;
        corio_ota_rollback_raise(&r.s, 100);
        sim_power_on(&r.meta);
        save(argv[1], "cut", gi, &r.meta);
        r.meta.mem[r.meta.size / 2 + 5] ^= 0x40; /* damage */
        save(argv[1], "damaged", gi, &r.meta);
        rig_free(&r);
    }
    return 0;
}
#endif
