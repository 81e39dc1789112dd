/*
 * test_outbox_sim.h - a NOR flash simulator for the outbox tests and fuzzer, with
 * power cuts.
 *
 * It enforces what real parts enforce, and fails the test (SIM_VIOLATION) when the
 * code under test breaks a rule: programming may only clear bits; without
 * CORIO_FLASH_F_REPROGRAM a unit is programmed once per erase; accesses stay inside
 * the region and programs are aligned.
 *
 * Power cuts: sim.budget is the number of bytes that may still be programmed; the
 * program call that crosses it programs up to the cut and leaves the unit in flight
 * as cut_mode says, then the power is off (every call fails with CORIO_ERR_IO) until
 * sim_power_on(). sim.erase_budget does the same for erases: the erase in flight
 * leaves the sector untouched, or part erased (see sim_erase).
 *
 * The includer defines SIM_VIOLATION(msg) (cmocka's fail_msg, or abort in a fuzzer).
 */
#ifndef TEST_OUTBOX_SIM_H
#define TEST_OUTBOX_SIM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corio/flash.h"

enum sim_cut {
    SIM_CUT_CLEAN,   /* the rest of the unit in flight keeps its old content */
    SIM_CUT_GARBAGE, /* the rest of the unit gets random bits cleared */
    SIM_CUT_WEAK,    /* the rest reads erased now, and its intended value after
                        sim_settle(): a cell charged too little to read as programmed */
    SIM_CUT_ECC,     /* the whole unit fails to read (ECC error) until erased */
};

struct sim {
    uint8_t *mem;
    uint8_t *written; /* per program unit */
    uint32_t sector_size, sector_count, prog, flags, size;
    long budget;       /* bytes that may be programmed before the cut; < 0: no cut */
    long erase_budget; /* erases that may complete before the cut; < 0: no cut */
    int cut_mode;
    bool dead;
    uint32_t rng;
    /* a weak unit (SIM_CUT_WEAK) */
    bool weak;
    uint32_t weak_addr;
    uint8_t weak_val[32];
    uint8_t weak_mask[32]; /* bytes of the unit still pending */
    /* the unit in flight at the cut and what was being programmed into it: programming
     * it again with exactly that value is allowed (it only adds charge to the same
     * cells), anything else is not */
    bool cut_valid;
    uint32_t cut_addr;
    uint8_t cut_val[32];
    /* worn cells: programming reports success but these bits of this byte stay 1 */
    bool stuck;
    uint32_t stuck_addr;
    uint8_t stuck_bits;
    /* an unreadable unit (SIM_CUT_ECC) */
    bool ecc;
    uint32_t ecc_addr;
    /* counters */
    uint64_t programmed; /* bytes */
    uint64_t erases;
    uint32_t *sector_erases;
    bool trace; /* print every program and erase to stderr (debugging a failure) */
};

static inline uint32_t sim_rand(struct sim *s)
{
    /* xorshift32: deterministic, so every run of a test sees the same flash */
    uint32_t x = s->rng ? s->rng : 0x9E3779B9u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    s->rng = x;
    return x;
}

static inline void sim_init(struct sim *s, uint32_t sector_size, uint32_t sector_count,
                            uint32_t prog, uint32_t flags)
{
    memset(s, 0, sizeof *s);
    s->sector_size = sector_size;
    s->sector_count = sector_count;
    s->prog = prog;
    s->flags = flags;
    s->size = sector_size * sector_count;
    s->mem = malloc(s->size);
    s->written = calloc(s->size / prog, 1);
    s->sector_erases = calloc(sector_count, sizeof *s->sector_erases);
    if (!s->mem || !s->written || !s->sector_erases)
        abort();
    memset(s->mem, 0xFF, s->size);
    s->budget = -1;
    s->erase_budget = -1;
    s->rng = 12345;
}

static inline void sim_free(struct sim *s)
{
    free(s->mem);
    free(s->written);
    free(s->sector_erases);
    memset(s, 0, sizeof *s);
}

/* Marks units holding data as programmed (after loading an arbitrary image). */
static inline void sim_mark_written(struct sim *s)
{
    for (uint32_t i = 0; i < s->size; i++)
        if (s->mem[i] != 0xFF)
            s->written[i / s->prog] = 1;
}

static inline void sim_power_on(struct sim *s)
{
    s->dead = false;
    s->budget = -1;
    s->erase_budget = -1;
}

/* The weak unit settles to what was being programmed into it. */
static inline void sim_settle(struct sim *s)
{
    if (!s->weak)
        return;
    for (uint32_t i = 0; i < s->prog; i++)
        if (s->weak_mask[i])
            s->mem[s->weak_addr + i] &= s->weak_val[i];
    s->weak = false;
}

static inline int sim_read(void *ctx, uint32_t addr, uint8_t *buf, size_t len)
{
    struct sim *s = ctx;
    if (!buf || (uint64_t)addr + len > s->size) {
        SIM_VIOLATION("read out of range");
        return CORIO_ERR_INVAL;
    }
    if (s->dead)
        return CORIO_ERR_IO;
    if (s->ecc && addr < s->ecc_addr + s->prog && s->ecc_addr < addr + len)
        return CORIO_ERR_IO;
    memcpy(buf, s->mem + addr, len);
    return CORIO_OK;
}

static inline int sim_program(void *ctx, uint32_t addr, const uint8_t *buf, size_t len)
{
    struct sim *s = ctx;
    if (!buf || len == 0 || (uint64_t)addr + len > s->size || addr % s->prog || len % s->prog) {
        SIM_VIOLATION("program out of range or misaligned");
        return CORIO_ERR_INVAL;
    }
    if (s->trace)
        fprintf(stderr, "  program %u+%u budget %ld%s\n", (unsigned)addr, (unsigned)len, s->budget,
                s->dead ? " (power off)" : "");
    if (s->dead)
        return CORIO_ERR_IO;
    for (size_t i = 0; i < len; i++)
        if (buf[i] & (uint8_t)~s->mem[addr + i]) {
            SIM_VIOLATION("program sets bits: write over data without an erase");
            return CORIO_ERR_STATE;
        }
    if (!(s->flags & CORIO_FLASH_F_REPROGRAM))
        for (size_t u = 0; u < len; u += s->prog)
            if (s->written[(addr + u) / s->prog] && !(s->cut_valid && addr + u == s->cut_addr &&
                                                      memcmp(buf + u, s->cut_val, s->prog) == 0)) {
                SIM_VIOLATION("unit programmed twice on a program-once part");
                return CORIO_ERR_STATE;
            }
    for (size_t u = 0; u < len; u += s->prog) {
        uint32_t a = (uint32_t)(addr + u);
        s->written[a / s->prog] = 1;
        if (s->budget >= 0 && (uint64_t)s->budget < s->prog) {
            /* the cut falls inside this unit */
            uint32_t done = (uint32_t)s->budget;
            s->cut_valid = true;
            s->cut_addr = a;
            memcpy(s->cut_val, buf + u, s->prog);
            for (uint32_t i = 0; i < done; i++)
                s->mem[a + i] &= buf[u + i];
            switch (s->cut_mode) {
            case SIM_CUT_GARBAGE:
                for (uint32_t i = done; i < s->prog; i++)
                    s->mem[a + i] &= (uint8_t)(sim_rand(s) | buf[u + i]);
                break;
            case SIM_CUT_WEAK:
                s->weak = true;
                s->weak_addr = a;
                memset(s->weak_mask, 0, sizeof s->weak_mask);
                for (uint32_t i = done; i < s->prog; i++) {
                    s->weak_val[i] = buf[u + i];
                    s->weak_mask[i] = 1;
                }
                break;
            case SIM_CUT_ECC:
                s->ecc = true;
                s->ecc_addr = a;
                break;
            default:
                break;
            }
            s->programmed += done;
            s->budget = 0;
            s->dead = true;
            return CORIO_ERR_IO;
        }
        for (uint32_t i = 0; i < s->prog; i++) {
            s->mem[a + i] &= buf[u + i];
            if (s->stuck && a + i == s->stuck_addr)
                s->mem[a + i] |= s->stuck_bits;
        }
        s->programmed += s->prog;
        if (s->budget >= 0)
            s->budget -= (long)s->prog;
    }
    return CORIO_OK;
}

static inline int sim_erase(void *ctx, uint32_t sector)
{
    struct sim *s = ctx;
    if (sector >= s->sector_count) {
        SIM_VIOLATION("erase out of range");
        return CORIO_ERR_INVAL;
    }
    if (s->trace)
        fprintf(stderr, "  erase %u%s\n", (unsigned)sector, s->dead ? " (power off)" : "");
    if (s->dead)
        return CORIO_ERR_IO;
    uint32_t base = sector * s->sector_size;
    s->sector_erases[sector]++;
    s->erases++;
    if (s->erase_budget == 0) {
        /* what a cut erase leaves, by cut_mode: nothing erased yet, a random half, the
         * first half, or the second half (the header intact, records gone) */
        uint32_t half = s->sector_size / 2u;
        for (uint32_t i = 0; i < s->sector_size; i++)
            if ((s->cut_mode == SIM_CUT_GARBAGE && (sim_rand(s) & 1u)) ||
                (s->cut_mode == SIM_CUT_WEAK && i < half) ||
                (s->cut_mode == SIM_CUT_ECC && i >= half))
                s->mem[base + i] = 0xFF;
        /* a partly erased unit may be programmed again only after a full erase */
        s->dead = true;
        return CORIO_ERR_IO;
    }
    if (s->erase_budget > 0)
        s->erase_budget--;
    memset(s->mem + base, 0xFF, s->sector_size);
    memset(s->written + base / s->prog, 0, s->sector_size / s->prog);
    if (s->weak && s->weak_addr / s->sector_size == sector)
        s->weak = false;
    if (s->ecc && s->ecc_addr / s->sector_size == sector)
        s->ecc = false;
    if (s->cut_valid && s->cut_addr / s->sector_size == sector)
        s->cut_valid = false;
    return CORIO_OK;
}

static inline void sim_port(struct sim *s, struct corio_flash *f)
{
    memset(f, 0, sizeof *f);
    f->ctx = s;
    f->sector_size = s->sector_size;
    f->sector_count = s->sector_count;
    f->prog_size = s->prog;
    f->flags = s->flags;
    f->read = sim_read;
    f->program = sim_program;
    f->erase = sim_erase;
}

#endif /* TEST_OUTBOX_SIM_H */
