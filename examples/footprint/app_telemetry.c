/*
 * app_telemetry.c - the footprint example's measurements and heartbeat: a temperature
 * as a SenML pack (RFC 8428) in JSON or CBOR, whichever the device is configured for
 * (a command switches it, so both encoders are in the image), its value the exact
 * decimal the sensor gives (milli-degrees: no floating point), stamped with the outbox's
 * (epoch, seq) and the boot count and uptime (DESIGN.md §4); and the heartbeat on up/hb.
 * Before the SenML module lands the pack is written with the CBOR encoder directly.
 */
#include <string.h>

#include "board.h"
#include "corio/cbor.h"
#include "fp_app.h"

#if FP_HAVE_SENML
#include "corio/senml.h"
#endif
#if FP_HAVE_HEARTBEAT
#include "corio/heartbeat.h"
#endif

uint8_t fp_format_json;
uint32_t fp_boot_count;

static void figures(uint32_t *epoch, uint32_t *last_seq, uint32_t *depth, uint32_t *drops)
{
#if FP_HAVE_OUTBOX
    fp_outbox_figures(epoch, last_seq, depth, drops);
#else
    *epoch = *last_seq = *depth = *drops = 0;
#endif
}

int fp_telemetry_sample(uint32_t now_ms)
{
    static uint8_t buf[FP_PAYLOAD_MAX];
    uint32_t epoch, last_seq, depth, drops;
    int32_t milli_c;
    int n;

    if (board_read_temperature(&milli_c) != 0)
        return CORIO_ERR_IO;
    figures(&epoch, &last_seq, &depth, &drops);
#if FP_HAVE_SENML
    {
        struct corio_senml_enc e;
        struct corio_senml_ext x; /* every field is set below */
        struct corio_senml_fields r = {0};
        char bn[32];

        corio_senml_enc_init(&e, fp_format_json ? CORIO_FORMAT_JSON : CORIO_FORMAT_CBOR, buf,
                             sizeof buf);
        x.has_seq = epoch != 0;
        x.ep = epoch;
        x.seq = last_seq + 1u; /* the outbox gives the next append this number */
        x.has_boot = true;
        x.boot = fp_boot_count;
        x.upt = now_ms;
        (void)corio_senml_enc_ext(&e, &x);
        memcpy(bn, fp_short_id(), 24);
        memcpy(bn + 24, ":", 2);
        r.bn = bn;
        r.n = "temp";
        r.u = "Cel";
        /* Milli-degrees as they are: the decimal milli_c * 10^-3, no floating point. */
        r.type = CORIO_SENML_NUMBER;
        r.has = CORIO_SENML_HAS_VDEC;
        r.vdec.m = milli_c;
        r.vdec.e = -3;
        (void)corio_senml_enc_add(&e, &r);
        n = corio_senml_enc_finish(&e);
    }
#else
    {
        /* [{-2: "<id>:", 0: "temp", 1: "Cel", 2: value, "seq": seq}], CBOR labels of
         * RFC 8428 §6 */
        struct corio_cbor_enc e;
        char bn[26];

        memcpy(bn, fp_short_id(), 24);
        bn[24] = ':';
        corio_cbor_enc_init(&e, buf, sizeof buf);
        corio_cbor_put_array(&e, 1);
        corio_cbor_put_map(&e, 5);
        corio_cbor_put_int(&e, -2);
        corio_cbor_put_text(&e, bn, 25);
        corio_cbor_put_int(&e, 0);
        corio_cbor_put_textz(&e, "temp");
        corio_cbor_put_int(&e, 1);
        corio_cbor_put_textz(&e, "Cel");
        corio_cbor_put_int(&e, 2);
        corio_cbor_put_tag(&e, 4); /* the decimal fraction milli_c * 10^-3 */
        corio_cbor_put_array(&e, 2);
        corio_cbor_put_int(&e, -3);
        corio_cbor_put_int(&e, milli_c);
        corio_cbor_put_textz(&e, "seq");
        corio_cbor_put_uint(&e, last_seq + 1u);
        n = corio_cbor_enc_finish(&e);
    }
#endif
    if (n < 0)
        return n;
    return fp_send(fp_format_json ? FP_UP_JSON : FP_UP_CBOR, buf, (size_t)n, now_ms);
}

int fp_heartbeat(uint32_t now_ms)
{
    static uint8_t buf[96];
    uint32_t epoch, last_seq, depth, drops;
    int n;

    figures(&epoch, &last_seq, &depth, &drops);
#if FP_HAVE_HEARTBEAT
    {
        struct corio_heartbeat hb;

        hb.uptime_s = now_ms / 1000u;
        hb.boot = fp_boot_count;
        hb.epoch = epoch;
        hb.last_seq = last_seq;
        hb.pending = depth;
        hb.drops = drops;
        n = corio_heartbeat_encode(CORIO_FORMAT_CBOR, &hb, buf, sizeof buf);
    }
#else
    {
        struct corio_cbor_enc e;

        corio_cbor_enc_init(&e, buf, sizeof buf);
        corio_cbor_put_map(&e, 6);
        corio_cbor_put_textz(&e, "up");
        corio_cbor_put_uint(&e, now_ms / 1000u);
        corio_cbor_put_textz(&e, "bc");
        corio_cbor_put_uint(&e, fp_boot_count);
        corio_cbor_put_textz(&e, "ep");
        corio_cbor_put_uint(&e, epoch);
        corio_cbor_put_textz(&e, "last");
        corio_cbor_put_uint(&e, last_seq);
        corio_cbor_put_textz(&e, "pending");
        corio_cbor_put_uint(&e, depth);
        corio_cbor_put_textz(&e, "drops");
        corio_cbor_put_uint(&e, drops);
        n = corio_cbor_enc_finish(&e);
    }
#endif
    if (n < 0)
        return n;
    return fp_send(FP_UP_HB, buf, (size_t)n, now_ms);
}
