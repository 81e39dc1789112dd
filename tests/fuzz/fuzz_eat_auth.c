/*
 * fuzz_eat_auth.c - libFuzzer target for the corio-eat-v1 messages
 * (sdk/src/eat_auth.c) and what a gateway does with an answer before it trusts it.
 *
 * The first byte chooses what the rest is:
 *   0     a device's answer [1, EAT, chain]: decoded; when it decodes, its views must lie
 *         inside the input and encode back to the same bytes, and the EAT is decoded and
 *         the chain verified for the EAT's issuer under a fixed organisation, as the
 *         plugin does (eat_auth.c in gateway/plugin);
 *   1     the broker's result [1, status]: decoded, and re-encoded to the same bytes;
 *   2     a claim request [1, claimant, nonce]: the same;
 *   else  a quarantine topic suffix (NUL-terminated copy): the topic it makes must start
 *         with the prefix and fit its buffer.
 * Refusals must be documented codes.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "corio/did.h"
#include "corio/eat.h"
#include "corio/eat_auth.h"
#include "corio/error.h"
#include "corio/rotation.h"
#include "crypto_openssl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool documented(int rc)
{
    return rc == CORIO_ERR_MALFORMED || rc == CORIO_ERR_VERSION || rc == CORIO_ERR_POLICY ||
           rc == CORIO_ERR_UNSUPPORTED || rc == CORIO_ERR_BADSIG || rc == CORIO_ERR_INVAL;
}

static bool inside(const uint8_t *p, size_t n, const uint8_t *buf, size_t len)
{
    return p >= buf && n <= len && (size_t)(p - buf) <= len - n;
}

static void answer(const uint8_t *buf, size_t len)
{
    struct corio_eat_auth a;
    int rc = corio_eat_auth_decode(buf, len, &a);
    if (rc != CORIO_OK) {
        if (!documented(rc))
            abort();
        return;
    }
    if (!inside(a.eat, a.eat_len, buf, len) || !inside(a.chain, a.chain_len, buf, len) ||
        a.eat_len == 0 || a.chain_len == 0 || a.eat_len > CORIO_EAT_MAX_SIZE)
        abort();
    static uint8_t again[CORIO_EAT_AUTH_MAX];
    int n = corio_eat_auth_encode(a.eat, a.eat_len, a.chain, a.chain_len, again, sizeof again);
    if (n < 0 || (size_t)n != len || memcmp(again, buf, len) != 0)
        abort();
    /* What the plugin does next, before any key is trusted. */
    struct corio_eat_claims c;
    rc = corio_eat_decode(a.eat, a.eat_len, &c);
    if (rc != CORIO_OK) {
        if (!documented(rc))
            abort();
        return;
    }
    struct corio_did subject = c.issuer;
    subject.has_key = false;
    static const uint8_t org_pub[65] = {0x04, 1}; /* no valid point: no link can verify */
    struct corio_rotation_signer s = {.pub = org_pub, .pub_len = sizeof org_pub};
    memset(s.did.id, 0x11, sizeof s.did.id);
    s.did.has_key = true;
    struct corio_rotation_trust t = {.signers = &s, .count = 1, .threshold = 1};
    memcpy(t.org, s.did.id, sizeof t.org);
    struct corio_rotation_result r;
    const char *why = NULL;
    rc = corio_rotation_chain_verify(&corio_crypto_openssl_ops, &subject, a.chain, a.chain_len, &t,
                                     &r, &why);
    if (rc == CORIO_OK) {
        if (r.links != 0 || r.key_number != 0)
            abort(); /* nothing the fixed organisation could have endorsed */
    } else if (!documented(rc) || !why) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t *buf = data + 1;
    size_t len = size - 1;
    switch (data[0]) {
    case 0:
        answer(buf, len);
        break;
    case 1: {
        enum corio_eat_auth_status s;
        int rc = corio_eat_auth_result_decode(buf, len, &s);
        if (rc == CORIO_OK) {
            uint8_t again[8];
            int n = corio_eat_auth_result_encode(s, again, sizeof again);
            if (n < 0 || (size_t)n != len || memcmp(again, buf, len) != 0)
                abort();
        } else if (!documented(rc)) {
            abort();
        }
        break;
    }
    case 2: {
        struct corio_claim_request r;
        int rc = corio_claim_request_decode(buf, len, &r);
        if (rc == CORIO_OK) {
            uint8_t again[64];
            int n = corio_claim_request_encode(&r, again, sizeof again);
            if (n < 0 || (size_t)n != len || memcmp(again, buf, len) != 0)
                abort();
        } else if (!documented(rc)) {
            abort();
        }
        break;
    }
    default: {
        char suffix[64], topic[CORIO_QUARANTINE_TOPIC_MAX];
        size_t n = len < sizeof suffix - 1 ? len : sizeof suffix - 1;
        memcpy(suffix, buf, n);
        suffix[n] = '\0';
        int rc = corio_quarantine_topic("abcdefghijklmnopqrstuvwx", suffix, topic, sizeof topic);
        if (rc >= 0 && ((size_t)rc >= sizeof topic || strlen(topic) != (size_t)rc ||
                        strncmp(topic, CORIO_QUARANTINE_PREFIX, 11) != 0))
            abort();
        if (rc < 0 && rc != CORIO_ERR_INVAL && rc != CORIO_ERR_NOSPACE)
            abort();
        break;
    }
    }
    return 0;
}
