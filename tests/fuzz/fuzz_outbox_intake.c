/*
 * fuzz_outbox_intake.c - libFuzzer target for the parser of the outbox's intake log
 * (corio__intake_parse, gateway/outbox_intake.h), which the plugin runs at start on a
 * file a crash, a torn write or a stray tool may have left in any state.
 *
 * Input: the records of a log (the header excluded). Every record the parser passes on
 * lies inside the input and encodes back to exactly the bytes it was read from; the
 * bytes it reports used are the sum of those records; a parse without the CRC check
 * passes on at least as many records.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "outbox_intake.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

struct walk {
    const uint8_t *data;
    size_t size, at;
};

static int check_one(const struct corio_intake_rec *r, void *arg)
{
    struct walk *w = arg;
    const uint8_t *end = w->data + w->size;
    CHECK((const uint8_t *)r->device >= w->data && (const uint8_t *)r->device <= end);
    CHECK(r->payload + r->payload_len <= end);
    size_t n = corio__intake_rec_size(r->device_len, r->suffix_len, r->payload_len);
    CHECK(w->at + n <= w->size);
    uint8_t *back = malloc(n);
    CHECK(back);
    CHECK(corio__intake_encode(r, back, n) == n);
    CHECK(memcmp(back, w->data + w->at, n) == 0);
    free(back);
    w->at += n;
    return 0;
}

static int count_one(const struct corio_intake_rec *r, void *arg)
{
    (void)r;
    (*(int *)arg)++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct walk w = {data, size, 0};
    size_t used = 0;
    int n = corio__intake_parse(data, size, true, check_one, &w, &used);
    CHECK(n >= 0 && used == w.at && used <= size);
    int unchecked = 0;
    size_t used2 = 0;
    corio__intake_parse(data, size, false, count_one, &unchecked, &used2);
    CHECK(unchecked >= n && used2 >= used);
    return 0;
}
