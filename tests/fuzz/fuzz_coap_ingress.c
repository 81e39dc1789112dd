/*
 * fuzz_coap_ingress.c - what CoAP ingress (gateway/coap_ingress.c) decides from a
 * peer's bytes before libcoap's resources take over: Block1 reassembly with its cap,
 * the device id in a Uri-Path, and the downlink topics it relays.
 *
 * The input is a script. Byte 0 picks the cap (64..16384 bytes), byte 1 the number of
 * steps (at most 64); then each step is an 8-byte header and its data: [flags][num hi][num
 * lo][szx][size1 hi][size1 lo][len hi] [len lo], flags bit 0 Block1 present, bit 1 more, bit 2
 * Size1 present, bit 3 the second resource, bit 4 clear the transfer first. Beyond "no crash":
 * nothing held exceeds the cap, every body handed out equals the concatenation of the blocks
 * accepted for it (a model kept here), a refused block ends its transfer, and a whole body in one
 * message leaves another resource's transfer as it was. What follows the steps, taken as text, goes
 * to the path and topic parsers: an accepted id is 24 base32 characters from the input at the right
 * place.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coap_ingress.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool base32(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '2' && s[i] <= '7')))
            return false;
    return true;
}

static void parsers(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return;
    memcpy(text, data, size);
    text[size] = '\0';
    char id[25];
    if (corio__coap_path_device(text, size, id)) {
        if (size < 26 || text[0] != 'd' || text[1] != '/' || memcmp(id, text + 2, 24) || id[24] ||
            !base32(id, 24) || (size > 26 && text[26] != '/'))
            abort();
    }
    int index = -1;
    if (corio__coap_dn_topic(text, id, &index)) {
        static const char *const suffix[] = {"cmd", "cfg", "ota", "time"};
        if (index < 0 || index > 3 || strncmp(text, "corio/v1/d/", 11) ||
            memcmp(id, text + 11, 24) || !base32(id, 24) || strncmp(text + 35, "/dn/", 4) ||
            strcmp(text + 39, suffix[index]))
            abort();
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t max = (size_t)64 << (data[0] % 9); /* 64 .. 16384 */
    int nsteps = data[1] > 64 ? 64 : data[1];
    const uint8_t *p = data + 2, *end = data + size;
    struct corio__coap_block1 b;
    memset(&b, 0, sizeof b);
    static uint8_t model[16384];
    size_t model_len = 0;
    const void *model_owner = NULL;
    static const int owners[2];
    for (int step = 0; step < nsteps && end - p >= 8; step++) {
        uint8_t flags = p[0];
        struct corio__coap_block1_in in;
        memset(&in, 0, sizeof in);
        in.has_block = flags & 1;
        in.more = (flags >> 1) & 1;
        in.has_size1 = (flags >> 2) & 1;
        in.num = (uint32_t)p[1] << 8 | p[2];
        in.szx = p[3] & 7;
        in.size1 = (uint32_t)p[4] << 8 | p[5];
        size_t len = (size_t)p[6] << 8 | p[7];
        p += 8;
        if (len > (size_t)(end - p))
            len = (size_t)(end - p);
        in.data = p;
        in.len = len;
        p += len;
        const void *owner = &owners[(flags >> 3) & 1];
        if (flags & 16) {
            corio__coap_block1_clear(&b);
            model_owner = NULL;
            model_len = 0;
        }

        const uint8_t *body;
        size_t body_len;
        int rc = corio__coap_block1_feed(&b, owner, max, &in, &body, &body_len);
        if (b.len > max || b.len > b.cap)
            abort();
        /* A single-message body (no Block1) ends only a transfer to its own resource. */
        bool single = !in.has_block;
        if (single && (rc == CORIO__B1_DONE || rc == CORIO__B1_TOO_LARGE)) {
            if (rc == CORIO__B1_DONE && (body != in.data || body_len != in.len || body_len > max))
                abort();
            if (model_owner == owner) {
                model_owner = NULL;
                model_len = 0;
            }
            if (b.owner != model_owner || b.len != model_len ||
                (model_len && memcmp(b.buf, model, model_len)))
                abort();
            continue;
        }
        switch (rc) {
        case CORIO__B1_DONE:
            if (single || body_len > max || (body_len && !body))
                abort();
            if (in.num > 0) {
                /* The end of a transfer: the model's blocks plus this one. */
                if (model_owner != owner || model_len + len != body_len ||
                    memcmp(body, model, model_len) || memcmp(body + model_len, in.data, len))
                    abort();
            } else if (body != in.data || body_len != in.len || in.more) {
                abort();
            }
            if (b.owner)
                abort();
            model_owner = NULL;
            model_len = 0;
            break;
        case CORIO__B1_CONTINUE:
            if (single || !in.more || b.owner != owner)
                abort();
            if (in.num == 0) {
                model_len = 0;
                model_owner = owner;
            }
            if (model_owner != owner || model_len + len > sizeof model)
                abort();
            memcpy(model + model_len, in.data, len);
            model_len += len;
            if (b.len != model_len || memcmp(b.buf, model, model_len))
                abort();
            break;
        case CORIO__B1_INCOMPLETE:
        case CORIO__B1_TOO_LARGE:
        case CORIO__B1_NOMEM:
            /* A refused block ends the transfer. */
            if (single || b.owner || b.buf || b.len)
                abort();
            model_owner = NULL;
            model_len = 0;
            break;
        case CORIO__B1_BAD:
            /* A malformed block is refused before it touches the transfer. */
            if (single || b.owner != model_owner || b.len != model_len)
                abort();
            break;
        default:
            abort();
        }
    }
    corio__coap_block1_clear(&b);
    parsers(p, (size_t)(end - p));
    return 0;
}
