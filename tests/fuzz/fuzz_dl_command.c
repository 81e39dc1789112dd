/*
 * fuzz_dl_command.c - libFuzzer target for the command decoder (corio_cmd_decode,
 * include/corio/downlink.h), which a device runs on whatever arrives on dn/cmd and the
 * gateway on every command the cloud relays. Views must lie inside the input; a
 * command that decodes must encode again to one that decodes to the same fields.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "corio/downlink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

static int inside(const void *p, size_t n, const uint8_t *data, size_t size)
{
    const uint8_t *q = p;
    return n == 0 || (q >= data && n <= size && q - data <= (long)(size - n));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct corio_cmd c, back;
    int rc = corio_cmd_decode(data, size, &c);
    if (rc != CORIO_OK) {
        CHECK(rc == CORIO_ERR_MALFORMED || rc == CORIO_ERR_VERSION);
        return 0;
    }
    CHECK(inside(c.cid, c.cid_len, data, size) && c.cid_len >= 1 && c.cid_len <= CORIO_CMD_CID_MAX);
    CHECK(inside(c.name, c.name_len, data, size) && corio_cmd_name_ok(c.name, c.name_len));
    CHECK(inside(c.args, c.args_len, data, size));
    CHECK(c.seq >= 1);
    int n = corio_cmd_encode(&c, NULL, 0);
    CHECK(n > 0);
    uint8_t *out = malloc((size_t)n);
    CHECK(out);
    CHECK(corio_cmd_encode(&c, out, (size_t)n) == n);
    CHECK(corio_cmd_decode(out, (size_t)n, &back) == CORIO_OK);
    CHECK(back.cid_len == c.cid_len && memcmp(back.cid, c.cid, c.cid_len) == 0);
    CHECK(back.name_len == c.name_len && memcmp(back.name, c.name, c.name_len) == 0);
    CHECK(back.args_len == c.args_len &&
          (!c.args_len || memcmp(back.args, c.args, c.args_len) == 0));
    CHECK(back.exp_ms == c.exp_ms && back.seq == c.seq);
    free(out);
    return 0;
}
