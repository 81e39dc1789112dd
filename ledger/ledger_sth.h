/*
 * ledger_sth.h - signed tree heads: what a ledger node asserts about its log at one height,
 * signed so that two contradicting heads are evidence of a fork.
 *
 * A signed tree head is a COSE_Sign1 (RFC 9052, ES256, tag 18, include/corio/cose.h)
 * whose protected header names the signing key by kid = its 33-byte compressed point,
 * and whose payload is the deterministic CBOR map
 *
 *   {1: 1 (version), 2: tree_size, 3: root, 4: height, 5: block_hash, 6: state_hash,
 *    7: timestamp_ms, 8: node}
 *
 * root is the RFC 9162 root of the first tree_size transactions, block_hash the hash of
 * the block at height (32 zero bytes at height 0), state_hash the application's state
 * after it, timestamp_ms that block's timestamp, node the id of the signing node. Every
 * field but node is the same on every honest node at that height, so the payloads of
 * two honest nodes differ only there.
 *
 * The signature proves which key signed; whether that key belongs to a member node is
 * the verifier's decision (a pinned key, the node's certificate from its organisation's
 * CA, or the ledger's own registry). Like merkle.c, this file has no daemon
 * dependencies: `corio ledger verify` links it.
 */
#ifndef CORIO_LEDGER_STH_H
#define CORIO_LEDGER_STH_H

#include <stddef.h>
#include <stdint.h>

#include "corio/crypto.h"

#define CORIO_STH_VERSION 1
#define CORIO_STH_MAX     400 /* bytes of a signed tree head, at most */

struct corio_sth {
    uint64_t tree_size;
    uint8_t root[32];
    uint64_t height;
    uint8_t block_hash[32];
    uint8_t state_hash[32];
    uint64_t timestamp_ms;
    uint64_t node;
};

/* The payload of s into out[0..cap) (out NULL: count). Returns the length or
 * CORIO_ERR_NOSPACE. */
int corio_sth_payload_encode(const struct corio_sth *s, uint8_t *out, size_t cap);

/* Decodes a payload strictly (deterministic CBOR, exactly the keys above, 32-byte
 * hashes). Returns CORIO_OK, CORIO_ERR_MALFORMED, CORIO_ERR_POLICY (not deterministic)
 * or CORIO_ERR_VERSION. */
int corio_sth_payload_decode(const uint8_t *buf, size_t len, struct corio_sth *s);

/*
 * Signs s with key into a COSE_Sign1 in out[0..cap) (CORIO_STH_MAX suffices). Returns
 * the length, CORIO_ERR_NOSPACE, or the signing errors of corio_cose_sign1_sign().
 */
int corio_sth_sign(const struct corio_sth *s, const struct corio_key *key, uint8_t *out,
                   size_t cap);

/*
 * Decodes a signed tree head and checks its signature with the key its kid names
 * (ops: any crypto backend). When expect is not NULL the kid must be that key
 * (33-byte compressed point). On success fills *s and, when signer is not NULL, the
 * signer's compressed key. Returns CORIO_OK; CORIO_ERR_MALFORMED (not a COSE_Sign1,
 * detached, no kid or a kid that is not a P-256 point, a bad payload);
 * CORIO_ERR_POLICY (another key than expect); CORIO_ERR_BADSIG; CORIO_ERR_VERSION.
 */
int corio_sth_verify(const struct corio_crypto_ops *ops, const uint8_t *msg, size_t len,
                     const uint8_t *expect, struct corio_sth *s,
                     uint8_t signer[CORIO_P256_PUB_COMPRESSED]);

#endif /* CORIO_LEDGER_STH_H */
