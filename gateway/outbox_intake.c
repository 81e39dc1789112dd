/*
 * outbox_intake.c - encoding and parsing of the outbox's intake log records
 * (outbox_intake.h). The log is read back only after a crash, from a file that may hold
 * anything a torn write or a stray tool left: every length is checked against what is
 * there before it is used.
 */
#include "outbox_intake.h"

#include <string.h>

#include <zlib.h>

#include "corio/error.h"
#include "outbox.h"

/* CRC-32 (IEEE 802.3, as corio_crc32() in corio/crc32.h, which it equals) by zlib, which
 * takes several bytes a step: every message the broker acknowledges is checksummed
 * here, and the SDK's small-table version, made for microcontrollers, cost the broker's
 * thread 5 %. */
static uint32_t record_crc(const uint8_t *p, size_t len)
{
    return (uint32_t)crc32_z(0, p, len);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Names are stored as SQLite text: any bytes but NUL. */
static int text_ok(const char *s, size_t n)
{
    return n == 0 || memchr(s, 0, n) == NULL;
}

size_t corio__intake_rec_size(size_t device_len, size_t suffix_len, size_t payload_len)
{
    return CORIO_INTAKE_REC_HEAD + CORIO_INTAKE_BODY_FIXED + device_len + suffix_len + payload_len;
}

size_t corio__intake_encode(const struct corio_intake_rec *r, uint8_t *out, size_t cap)
{
    if (r->id <= 0 || r->device_len > CORIO_INTAKE_MAX_NAME ||
        r->suffix_len > CORIO_INTAKE_MAX_NAME || r->payload_len >= UINT32_MAX || r->cls < 0 ||
        r->cls > CORIO_OUTBOX_CLASS_DROPPABLE || r->dev_epoch > INT64_MAX ||
        r->dev_seq > INT64_MAX || !text_ok(r->device, r->device_len) ||
        !text_ok(r->suffix, r->suffix_len))
        return 0;
    size_t body = CORIO_INTAKE_BODY_FIXED + r->device_len + r->suffix_len + r->payload_len;
    if (body > UINT32_MAX || cap < CORIO_INTAKE_REC_HEAD + body)
        return 0;
    uint8_t *b = out + CORIO_INTAKE_REC_HEAD;
    put_u64(b, (uint64_t)r->id);
    put_u64(b + 8, (uint64_t)r->recv_ms);
    put_u64(b + 16, r->dev_epoch);
    put_u64(b + 24, r->dev_seq);
    b[32] = (uint8_t)r->cls;
    b[33] = (uint8_t)r->device_len;
    b[34] = (uint8_t)r->suffix_len;
    b[35] = 0;
    put_u32(b + 36, (uint32_t)r->payload_len);
    uint8_t *p = b + CORIO_INTAKE_BODY_FIXED;
    if (r->device_len)
        memcpy(p, r->device, r->device_len);
    p += r->device_len;
    if (r->suffix_len)
        memcpy(p, r->suffix, r->suffix_len);
    p += r->suffix_len;
    if (r->payload_len)
        memcpy(p, r->payload, r->payload_len);
    put_u32(out, (uint32_t)body);
    put_u32(out + 4, record_crc(b, body));
    return CORIO_INTAKE_REC_HEAD + body;
}

void corio__intake_header(uint64_t epoch, uint8_t out[CORIO_INTAKE_HEADER])
{
    memcpy(out, CORIO_INTAKE_MAGIC, 8);
    put_u64(out + 8, epoch);
}

int corio__intake_header_ok(const uint8_t *buf, size_t len, uint64_t epoch)
{
    return len >= CORIO_INTAKE_HEADER && memcmp(buf, CORIO_INTAKE_MAGIC, 8) == 0 &&
           get_u64(buf + 8) == epoch;
}

int corio__intake_parse(const uint8_t *buf, size_t len, bool check_crc,
                        int (*fn)(const struct corio_intake_rec *r, void *arg), void *arg,
                        size_t *used)
{
    size_t at = 0;
    int n = 0;
    while (len - at >= CORIO_INTAKE_REC_HEAD + CORIO_INTAKE_BODY_FIXED) {
        const uint8_t *h = buf + at, *b = h + CORIO_INTAKE_REC_HEAD;
        size_t body = get_u32(h);
        if (body < CORIO_INTAKE_BODY_FIXED || body > len - at - CORIO_INTAKE_REC_HEAD ||
            (check_crc && record_crc(b, body) != get_u32(h + 4)))
            break;
        struct corio_intake_rec r = {
            .id = (int64_t)get_u64(b),
            .recv_ms = (int64_t)get_u64(b + 8),
            .dev_epoch = get_u64(b + 16),
            .dev_seq = get_u64(b + 24),
            .cls = b[32],
            .device_len = b[33],
            .suffix_len = b[34],
            .payload_len = get_u32(b + 36),
        };
        if (r.id <= 0 || r.cls > CORIO_OUTBOX_CLASS_DROPPABLE || r.dev_epoch > INT64_MAX ||
            r.dev_seq > INT64_MAX || b[35] != 0 ||
            CORIO_INTAKE_BODY_FIXED + r.device_len + r.suffix_len + r.payload_len != body)
            break;
        r.device = (const char *)b + CORIO_INTAKE_BODY_FIXED;
        r.suffix = r.device + r.device_len;
        r.payload = (const uint8_t *)r.suffix + r.suffix_len;
        if (!text_ok(r.device, r.device_len) || !text_ok(r.suffix, r.suffix_len))
            break;
        at += CORIO_INTAKE_REC_HEAD + body;
        n++;
        if (fn(&r, arg) != 0)
            break;
    }
    if (used)
        *used = at;
    return n;
}
