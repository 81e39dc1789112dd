/* fuzz_cloud_payloads.c - corio-cloud's payload decoders on arbitrary bytes: SenML JSON,
 * heartbeats (JSON and CBOR), presence records, base64url. The first byte picks the
 * decoder so one corpus covers them all. A decoded pack must hold only valid names,
 * times in range and finite numbers. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cloud_int.h"
#include "corio/error.h"

#define DEV "dddddddddddddddddddddddd"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t which = data[0] % 4;
    data++;
    size--;
    char why[200];
    switch (which) {
    case 0: {
        struct corio__senml_pack p;
        if (corio__senml_decode(CORIO__SENML_JSON, data, size, DEV, 1764500000000LL, &p, why,
                                sizeof why) == CORIO_OK) {
            if (p.n == 0 || p.n > CORIO_SENML_MAX_RECORDS)
                abort();
            for (size_t i = 0; i < p.n; i++) {
                const struct corio__senml_rec *r = &p.recs[i];
                if (!corio__senml_name_ok(r->name, strlen(r->name)) || r->t_ms < 0 ||
                    (r->value.kind == CORIO_VALUE_NUM && !isfinite(r->value.num)) ||
                    r->value.len > CORIO_SENML_MAX_STR)
                    abort();
            }
            if (p.has_seq && (p.seq < 1 || p.epoch < 0))
                abort();
            corio__senml_pack_free(&p);
        }
        break;
    }
    case 1: {
        struct corio__heartbeat hb;
        if (corio__heartbeat_decode(data, size, &hb, why, sizeof why) == CORIO_OK &&
            (hb.pending > hb.last || hb.epoch < 0 || hb.pending < 0 || hb.drops < 0))
            abort();
        break;
    }
    case 2: {
        bool online;
        corio__presence_decode(data, size, &online, why, sizeof why);
        break;
    }
    default: {
        uint8_t out[256];
        int n = corio__b64url_decode((const char *)data, size, out, sizeof out);
        if (n > 0) {
            char back[400];
            size_t m = corio__b64url_encode(out, (size_t)n, back);
            /* Canonical input without padding round-trips exactly. */
            if (!memchr(data, '=', size) && (m != size || memcmp(back, data, size)))
                abort();
        }
        break;
    }
    }
    return 0;
}
