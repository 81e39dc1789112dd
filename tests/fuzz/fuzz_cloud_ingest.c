/* fuzz_cloud_ingest.c - corio-cloud's ingest (cloud/ingest.c) on hostile batches, into a
 * real store (SQLite in memory): every message's device, topic suffix and payload come
 * from the input, so SenML, heartbeats and presence records of any shape, foreign,
 * unregistered and malformed devices, repeated identities and odd suffixes all reach
 * the phases of one batch (decode, messages, samples, sequence accounting). A batch
 * must be committed with every message stored, known or rejected - never a crash, and
 * never a database error (which would have it retried for ever).
 *
 * Input: messages one after the other, each [device selector, suffix selector, length
 * (2 bytes, little endian), payload]; at most 32. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "cloud.h"
#include "corio/error.h"
#include "ingest.h"
#include "store.h"

#define ORG     "oooooooooooooooooooooooo"
#define ORG2    "pppppppppppppppppppppppp"
#define GW      "gggggggggggggggggggggggg"
#define DEV     "dddddddddddddddddddddddd"
#define FOREIGN "ffffffffffffffffffffffff"

static struct corio_store *store;
static struct corio_ingest *ingest;
static unsigned runs;
static uint64_t epoch;

static void reset(void)
{
    corio_ingest_free(ingest);
    corio_store_close(store);
    char err[200];
    if (corio_store_open_sqlite(":memory:", &store, err, sizeof err) != CORIO_OK)
        abort();
    struct corio_gateway_rec g = {.id = GW, .org = ORG};
    struct corio_device_rec d = {.id = DEV, .org = ORG, .gateway = GW};
    struct corio_device_rec f = {.id = FOREIGN, .org = ORG2};
    if (corio_store_put_org(store, ORG, "one") != CORIO_OK ||
        corio_store_put_org(store, ORG2, "two") != CORIO_OK ||
        corio_store_put_gateway(store, &g) != CORIO_OK ||
        corio_store_put_device(store, &d) != CORIO_OK ||
        corio_store_put_device(store, &f) != CORIO_OK)
        abort();
    struct corio_ingest_opts o = {.store = store, .verifier = corio_cloud_cose_verifier};
    if (corio_ingest_new(&o, &ingest) != CORIO_OK)
        abort();
}

static const char *const devices[] = {DEV, DEV,        DEV, FOREIGN, "uuuuuuuuuuuuuuuuuuuuuuuu",
                                      "",  "NOT-AN-ID"};
static const char *const suffixes[] = {"up/json",  "up/json", "up/cbor", "up/cbor", "up/hb",
                                       "presence", "up/evt",  "down/x",  "",        "up/\xff"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!store || ++runs % 5000 == 0)
        reset();
    struct corio_batch_msg m[32];
    size_t n = 0, at = 0;
    while (n < 32 && at + 4 <= size) {
        const char *dev = devices[data[at] % (sizeof devices / sizeof devices[0])];
        const char *suffix = suffixes[data[at + 1] % (sizeof suffixes / sizeof suffixes[0])];
        size_t len = (size_t)data[at + 2] | (size_t)data[at + 3] << 8;
        at += 4;
        if (len > size - at)
            len = size - at;
        m[n] = (struct corio_batch_msg){.id = n + 1,
                                        .device = dev,
                                        .device_len = strlen(dev),
                                        .suffix = suffix,
                                        .suffix_len = strlen(suffix),
                                        .recv_ms = 1764500000000LL + (int64_t)n,
                                        .payload = data + at,
                                        .payload_len = len};
        at += len;
        n++;
    }
    /* A new gateway epoch each run: the gateway identities never repeat, the device
     * identities (ep, seq) inside the payloads may. */
    struct corio_batch b = {.version = CORIO_BATCH_VERSION,
                            .epoch = ++epoch,
                            .first = 1,
                            .last = n ? n : 1,
                            .made_ms = 1764500000000LL,
                            .count = n,
                            .msgs = m};
    snprintf(b.gateway, sizeof b.gateway, "%s", GW);
    struct corio_ingest_result res;
    int rc = corio_ingest_decoded(ingest, &b, 1764500000000LL, &res);
    if (rc != CORIO_OK)
        abort(); /* only memory could fail here, and the fuzzer has plenty */
    if (res.messages != (int64_t)n || res.stored + res.duplicates + res.rejected != res.messages ||
        res.ack_len == 0 || res.samples < 0)
        abort();
    corio_ingest_result_free(&res);
    return 0;
}
