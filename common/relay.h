/*
 * relay.h - registry updates relayed from the ledger over the downlink (docs/registry.md,
 * "Relay from the ledger"): the line model of the registry file that the cloud diffs
 * and the gateway patches, and the gateway's checks of an update against the ledger's
 * blocks and signed tree head.
 *
 * The registry file is a set of entries, each one line, keyed by its kind and id
 * ("org <id>", "orgkey <id>", "gateway <id>", "device <id>", "firmware <class> <sha256>"). An
 * update is a text of lines: a registry line sets its entry, "- <key>" removes one. The cloud
 * computes it between two exports of the ledger's registry; the gateway applies it to
 * the file it holds, at the base height the update names.
 *
 * What a gateway can check offline (relay_verify): that a ledger node it trusts signed
 * the tree head; that the blocks hash-chain up to it and follow on from the last block
 * it applied; and that the update agrees with the registry transactions in those blocks
 * (no device appears without its claim, no revocation is left out or undone, no key
 * changes without its rotation, no device changes owner without its transfer, no
 * organisation's key changes without its rotation). What it cannot check: entries that votes change
 * rather than transactions (organisations, approved firmware) and, in a whole-registry update (base
 * 0), anything but the height.
 */
#ifndef CORIO_COMMON_RELAY_H
#define CORIO_COMMON_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "corio/crypto.h"
#include "down.h"

/* ---- the line model ---- */

struct corio_reglines;

/* Parses registry text (LF or CRLF lines) into its entries (comments and blank lines
 * dropped) and its height (0 when the text has no "height" line). Lines are checked only
 * for a known kind, a key and no control characters but tabs; corio_reg_parse
 * (corio_registry.h) checks the rest. Returns CORIO_OK, CORIO_ERR_MALFORMED (an unknown
 * kind, a missing key, a key twice, a control character) with the line in why, or
 * CORIO_ERR_NOSPACE. */
int corio_reglines_parse(const char *text, size_t len, struct corio_reglines **out,
                         uint64_t *height, char *why, size_t whylen);
void corio_reglines_free(struct corio_reglines *r);

/* Applies an update (set and "- <key>" lines). Returns CORIO_OK, CORIO_ERR_MALFORMED or
 * CORIO_ERR_NOSPACE; r may be half-updated after an error (parse again). */
int corio_reglines_apply(struct corio_reglines *r, const char *update, size_t len, char *why,
                         size_t whylen);

/* The registry text: "height <height>" and the entries in key order. malloc'd, NUL
 * terminated, length in *len; NULL when memory ran out. */
char *corio_reglines_format(const struct corio_reglines *r, uint64_t height, size_t *len);

/* The update that turns `from` into `to` (from NULL: every entry of to). malloc'd
 * (possibly empty); NULL when memory ran out. */
char *corio_reglines_diff(const struct corio_reglines *from, const struct corio_reglines *to,
                          size_t *len);

/* Entries held. */
size_t corio_reglines_count(const struct corio_reglines *r);

/* ---- signed tree heads and blocks ---- */

/* A ledger signed tree head (docs/ledger.md), as a gateway reads it. */
struct corio_relay_sth {
    uint64_t tree_size, height, timestamp_ms, node;
    uint8_t root[32], block_hash[32], state_hash[32];
    uint8_t signer[33]; /* the compressed key that signed it */
};

/* Verifies a signed tree head (COSE_Sign1, kid = the signer's compressed point) and
 * that its signer is one of keys[0..nkeys). Returns CORIO_OK, CORIO_ERR_MALFORMED,
 * CORIO_ERR_POLICY (a signer not trusted), CORIO_ERR_BADSIG, CORIO_ERR_VERSION. */
int corio_relay_sth_verify(const struct corio_crypto_ops *ops, const uint8_t *sth, size_t len,
                           const uint8_t (*keys)[33], size_t nkeys, struct corio_relay_sth *out);

/* ---- the gateway's check ---- */

/* What a verified update gives the gateway. */
struct corio_relay_result {
    char *text; /* the new registry file, malloc'd ("height <n>" first) */
    size_t len;
    uint64_t height;    /* its height */
    uint8_t anchor[32]; /* the hash of the block at height: the next update follows it */
    struct corio_relay_sth sth;
    size_t transactions; /* registry transactions checked against the update */
};

/*
 * Checks a registry item (down.h) for a gateway whose registry file is cur[0..cur_len)
 * at cur_height, whose last applied block hashes to anchor (NULL: unknown, e.g. a file
 * provisioned by hand; the first update's chain is then taken as given), trusting the
 * tree-head keys keys[0..nkeys). On CORIO_OK res holds the new file (free res->text).
 * Returns:
 *   CORIO_ERR_STATE      the update does not start at cur_height (and is not a whole
 *                        registry): heights are missing; ask for them
 *   CORIO_ERR_BADSIG / CORIO_ERR_POLICY (tree head: an untrusted or bad signature)
 *   CORIO_ERR_POLICY     the blocks do not chain to the tree head or to the anchor, or
 *                        the update disagrees with their transactions
 *   CORIO_ERR_MALFORMED  a block, tree head or update that does not parse
 *   CORIO_ERR_NOSPACE
 * with the reason in why.
 */
int corio_relay_verify(const struct corio_crypto_ops *ops, const uint8_t (*keys)[33], size_t nkeys,
                       const char *cur, size_t cur_len, uint64_t cur_height, const uint8_t *anchor,
                       const struct corio_down_item *it, struct corio_relay_result *res, char *why,
                       size_t whylen);

/* Decodes a ledger block's height, previous hash and hash (SHA-256 of its bytes).
 * Returns CORIO_OK or CORIO_ERR_MALFORMED. */
int corio_relay_block_head(const struct corio_crypto_ops *ops, const uint8_t *block, size_t len,
                           uint64_t *height, uint8_t prev[32], uint8_t hash[32]);

#endif /* CORIO_COMMON_RELAY_H */
