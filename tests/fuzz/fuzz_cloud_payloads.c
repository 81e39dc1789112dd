/* fuzz_cloud_payloads.c - corio-cloud's payload decoders on arbitrary bytes: SenML in
 * JSON and CBOR (over the SDK's decoder, with the cloud's own checks), heartbeats (JSON
 * and CBOR), presence records. The first byte picks the decoder, so one
 * corpus covers them all. A decoded pack must hold only valid metric names, times in
 * range and finite numbers. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cloud_int.h"
#include "corio/error.h"
#include "corio/senml.h"

#define DEV "dddddddddddddddddddddddd"

static void senml(enum corio__cloud_senml_format fmt, const uint8_t *data, size_t size)
{
    struct corio__cloud_senml_pack p;
    char why[200];
    if (corio__cloud_senml_decode(fmt, data, size, DEV, 1764500000000LL, &p, why, sizeof why) !=
        CORIO_OK) {
        if (p.n != 0 || p.recs)
            abort(); /* all or nothing */
        return;
    }
    /* Zero records is valid: a pack of base and extension fields only (RFC 8428 §5.1.7). */
    if (p.n > CORIO_SENML_MAX_RECORDS || (p.n == 0) != (p.recs == NULL))
        abort();
    for (size_t i = 0; i < p.n; i++) {
        const struct corio__cloud_senml_rec *r = &p.recs[i];
        size_t nl = strlen(r->name);
        if (nl == 0 || nl > CORIO_METRIC_MAX || !corio__cloud_senml_name_ok(r->name, nl) ||
            strncmp(r->name, "urn:corio:", 10) == 0 || r->t_ms < 0 ||
            (r->value.kind == CORIO_VALUE_NUM && !isfinite(r->value.num)) ||
            r->value.len > CORIO_SENML_MAX_STR || strlen(r->unit) > CORIO_UNIT_MAX)
            abort();
    }
    if (p.has_seq && (p.seq < 1 || p.epoch < 0))
        abort();
    corio__cloud_senml_pack_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t which = data[0] % 4;
    data++;
    size--;
    char why[200];
    switch (which) {
    case 0:
        senml(CORIO__CLOUD_SENML_JSON, data, size);
        break;
    case 1: {
        struct corio__cloud_heartbeat hb;
        if (corio__cloud_heartbeat_decode(data, size, &hb, why, sizeof why) == CORIO_OK &&
            (hb.pending > hb.last || hb.epoch < 0 || hb.pending < 0 || hb.drops < 0))
            abort();
        break;
    }
    case 2: {
        bool online;
        corio__cloud_presence_decode(data, size, &online, why, sizeof why);
        break;
    }
    default:
        senml(CORIO__CLOUD_SENML_CBOR, data, size);
        break;
    }
    return 0;
}
