/*
 * tx.h - the ledger's transactions (DESIGN.md §6; docs/ledger-contracts.md describes
 * them for people): what a client signs, what every node decodes and re-verifies.
 *
 * A transaction is a tagged COSE_Sign (RFC 9052 §4.1, tag 98) whose embedded payload is
 * the unsigned body, a map in deterministic CBOR (RFC 8949 §4.2.1):
 *
 *   body = {1: 1 (format version), 2: type, 3: nonce (16 random bytes),
 *           4: expires (the last ledger height at which it may be applied),
 *           5: ledger (the genesis transaction's id, 32 bytes; absent in the genesis),
 *           6: args (a map whose keys are small unsigned integers; per type, below)}
 *
 * Every signature is ES256 with protected header {1: -7, 4: kid}, kid the UTF-8 text
 * "did:corio:<id>#<n>" (key n of the signer), and the external AAD
 * "corio-tx-v1:" + the type's name ("corio-tx-v1:device.register"), so a signature
 * made for one type of transaction, or for a rotation statement, cannot pass for
 * another. The transaction's id is SHA-256 of the body: signatures are malleable
 * (they can be re-made, added or stripped), the body is not.
 *
 * Replay: the nonce makes every body unique and the id is remembered once the
 * transaction is accepted, until its expiry height has passed; an expired transaction
 * is refused, so the remembered set stays bounded. A nonce rather than a per-signer
 * counter because transactions with several signers are assembled offline by
 * several organisations, and a counter would make each signer's unrelated
 * transactions wait on one another.
 *
 * Arguments are decoded strictly through per-type structs below: deterministic CBOR,
 * exactly the keys listed (unknown keys are refused), fixed sizes for ids (15 bytes),
 * keys (33 bytes, compressed P-256) and hashes (32 bytes), text limits. Decoded views
 * point into the caller's buffer. Nothing here touches SQLite: the `corio` command line
 * and the fuzz target link it alone.
 *
 * Errors: CORIO_ERR_MALFORMED (not this format), CORIO_ERR_POLICY (well-formed CBOR
 * that is not deterministic, a rule of the format), CORIO_ERR_VERSION (another body
 * version), CORIO_ERR_UNSUPPORTED (an unknown type), CORIO_ERR_NOSPACE (output buffer),
 * CORIO_ERR_INVAL (the call is wrong), and the COSE and crypto codes.
 */
#ifndef CORIO_LEDGER_TX_H
#define CORIO_LEDGER_TX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "corio/cose.h"
#include "corio/crypto.h"
#include "corio/did.h"

#define CORIO_TX_VERSION    1
#define CORIO_TX_NONCE_LEN  16
#define CORIO_TX_ID_LEN     32
#define CORIO_TX_KEY_LEN    33 /* a compressed P-256 point */
#define CORIO_TX_AAD_PREFIX "corio-tx-v1:"
#define CORIO_TX_AAD_MAX    40
#define CORIO_TX_MAX_SIGS   CORIO_COSE_MAX_SIGNATURES
#define CORIO_TX_MAX        (64u * 1024u) /* bytes of a whole transaction */
#define CORIO_TX_TEXT_MAX   4096          /* the longest text argument (a decision) */

enum corio_tx_type {
    CORIO_TX_GENESIS = 1,
    CORIO_TX_MEMBER_ADD = 10,
    CORIO_TX_MEMBER_REMOVE = 11,
    CORIO_TX_DID_ROTATE = 20,
    CORIO_TX_DEVICE_REGISTER = 30,
    CORIO_TX_DEVICE_TRANSFER = 31,
    CORIO_TX_DEVICE_REVOKE = 32,
    CORIO_TX_PROPOSAL = 40,
    CORIO_TX_VOTE = 41,
    CORIO_TX_RELEASE_PROPOSE = 50,
    CORIO_TX_RELEASE_APPROVE = 51,
};

/* The type's name ("device.register"), or NULL for an unknown type. */
const char *corio_tx_type_name(unsigned type);
/* The type of a name, or 0. */
unsigned corio_tx_type_by_name(const char *name);

/* The external AAD of the type's signatures, NUL-terminated into out[0..cap)
 * (CORIO_TX_AAD_MAX suffices). Returns its length, CORIO_ERR_UNSUPPORTED or
 * CORIO_ERR_NOSPACE. */
int corio_tx_aad(unsigned type, char *out, size_t cap);

/* ---- the body ------------------------------------------------------------------------ */

struct corio_tx_body {
    unsigned version; /* CORIO_TX_VERSION */
    unsigned type;    /* enum corio_tx_type */
    uint8_t nonce[CORIO_TX_NONCE_LEN];
    uint64_t expires;
    bool has_ledger; /* false only for the genesis */
    uint8_t ledger[CORIO_TX_ID_LEN];
    const uint8_t *args; /* the encoded args map */
    size_t args_len;
};

/* Encodes b (version is written as CORIO_TX_VERSION) into out[0..cap) (out NULL:
 * count). args must be one deterministic map. Returns the length, CORIO_ERR_NOSPACE,
 * CORIO_ERR_INVAL. */
int corio_tx_body_encode(const struct corio_tx_body *b, uint8_t *out, size_t cap);

/* Decodes a body strictly (the rules at the top). The args map is checked to be a
 * deterministic map, not decoded. Returns CORIO_OK or an error listed at the top. */
int corio_tx_body_decode(const uint8_t *buf, size_t len, struct corio_tx_body *b);

/* ---- the signed transaction ---------------------------------------------------------- */

/* A decoded transaction: pointers into the caller's message. */
struct corio_tx {
    struct corio_cose_sign cose;
    struct corio_tx_body body;
    const uint8_t *body_raw; /* the payload: what the id hashes */
    size_t body_len;
    size_t nsig;
    struct corio_did signer[CORIO_TX_MAX_SIGS]; /* each signature's kid, has_key set */
};

/*
 * Makes a transaction from an encoded body with one signature by key, which is key
 * number signer->key of signer (signer->has_key must be set), into out[0..cap)
 * (out NULL: count). Returns the length, the errors of corio_tx_body_decode() for a
 * bad body, CORIO_ERR_INVAL, CORIO_ERR_NOSPACE or signing errors.
 */
int corio_tx_sign(const struct corio_key *key, const struct corio_did *signer, const uint8_t *body,
                  size_t body_len, uint8_t *out, size_t cap);

/* Adds a signature to the transaction tx[0..len) into out[0..cap) (no overlap).
 * Refuses a signer that already signed (CORIO_ERR_POLICY). Returns the new length or
 * an error of corio_tx_decode(), corio_cose_sign_add(). */
int corio_tx_add_signature(const struct corio_key *key, const struct corio_did *signer,
                           const uint8_t *tx, size_t len, uint8_t *out, size_t cap);

/*
 * Decodes tx[0..len) without checking signatures: a tagged COSE_Sign with an embedded
 * payload, at most CORIO_TX_MAX bytes, a valid body of a known type, every kid a
 * did:corio key reference, no identity signing twice. Returns CORIO_OK or an error
 * listed at the top.
 */
int corio_tx_decode(const uint8_t *tx, size_t len, struct corio_tx *t);

/* Verifies signature i of a decoded transaction against pub (33 or 65 bytes) with the
 * type's AAD. Returns CORIO_OK, CORIO_ERR_BADSIG (also for a high S), or the errors of
 * corio_cose_sign_verify(). */
int corio_tx_verify(const struct corio_crypto_ops *ops, const struct corio_tx *t, size_t i,
                    const uint8_t *pub, size_t pub_len);

/* The index of the signature by the identity id (15 bytes), or -1. */
int corio_tx_signed_by(const struct corio_tx *t, const uint8_t id[CORIO_DID_ID_LEN]);

/*
 * The transaction's id: SHA-256 of the body for anything that decodes as a COSE_Sign
 * with an embedded payload; for other bytes, SHA-256 of "corio-tx-undecodable" and the
 * bytes (so junk never shares an id with a real body). Succeeds for any input.
 * Returns CORIO_OK or CORIO_ERR_CRYPTO.
 */
int corio_tx_id(const uint8_t *tx, size_t len, uint8_t id[CORIO_TX_ID_LEN]);

/* ---- arguments, per type --------------------------------------------------------------
 * Text is UTF-8, not NUL-terminated. "name" text (classes, models, hardware revisions,
 * versions, parameter and contract names) is 1..64 bytes of [A-Za-z0-9._+-], so it can
 * sit in the registry file (docs/registry.md) as it is. */

#define CORIO_TX_NAME_MAX    64
#define CORIO_TX_ORGNAME_MAX 64 /* the registry file's limit */
#define CORIO_TX_URL_MAX     255

/* An organisation as genesis founds it and a membership proposal admits or changes
 * it: {1: key, 2: name, 3: weight, 4: threshold, 5: approver, 6: node id, 7: address
 * ("host:port"), 8: api ("http://host:port"), 9: members [[key, weight], ...]}. Every
 * field is optional to the codec; the contracts say which a use needs. */
struct corio_tx_org {
    bool has_key, has_name, has_weight, has_threshold, has_approver, has_node, has_address,
        has_api, has_members;
    uint8_t key[CORIO_TX_KEY_LEN]; /* the inception key: key 0 of its DID */
    const char *name;
    size_t name_len;
    uint64_t weight;    /* its weight in ledger votes, >= 1 */
    uint64_t threshold; /* the weight of its signers its own decisions need, >= 1 */
    bool approver;      /* counts among the n of k-of-n release approvals */
    uint64_t node;      /* the consensus id of its ledger node, >= 1 */
    const char *address;
    size_t address_len;
    const char *api;
    size_t api_len;
    const uint8_t *members; /* the encoded array; walk with corio_tx_member_next() */
    size_t members_len;
};

/* Decodes an org map (out zeroed first) / encodes one (out NULL: count). members, when
 * present, is an encoded array of [key, weight] pairs (corio_tx_members_encode). */
int corio_tx_org_decode(const uint8_t *buf, size_t len, struct corio_tx_org *o);
int corio_tx_org_encode(const struct corio_tx_org *o, uint8_t *out, size_t cap);
/* Encodes n [key, weight] pairs as an array. */
int corio_tx_members_encode(const uint8_t (*keys)[CORIO_TX_KEY_LEN], const uint64_t *weights,
                            size_t n, uint8_t *out, size_t cap);

/* Walks an array of [key (33 bytes), weight >= 1] pairs (or of org maps, below). Start
 * with *pos = 0 (nothing read yet); returns 1 with an item, 0 at the end, or
 * CORIO_ERR_MALFORMED. */
int corio_tx_member_next(const uint8_t *arr, size_t len, size_t *pos,
                         uint8_t key[CORIO_TX_KEY_LEN], uint64_t *weight);
int corio_tx_item_next(const uint8_t *arr, size_t len, size_t *pos, const uint8_t **item,
                       size_t *item_len);

/* genesis: {1: [org, ...] (1..CORIO_TX_MAX_ORGS), 2: {name: uint, ...} parameters,
 * 3: ledger name}. Each founding organisation signs with its key 0. */
#define CORIO_TX_MAX_ORGS 64
struct corio_tx_genesis {
    const uint8_t *orgs; /* the encoded array of org maps: corio_tx_item_next() */
    size_t orgs_len;
    bool has_params;
    const uint8_t *params; /* the encoded map: corio_tx_param_next() */
    size_t params_len;
    const char *name;
    size_t name_len;
};

/* Walks a {name: uint} map in deterministic order. Returns 1, 0 at the end, or
 * CORIO_ERR_MALFORMED. */
int corio_tx_param_next(const uint8_t *map, size_t len, size_t *pos, const char **name,
                        size_t *name_len, uint64_t *value);

/* member.add: {1: org id, 2: the person's key 0, 3: weight}; member.remove: {1: org
 * id, 2: person id}. */
struct corio_tx_member {
    uint8_t org[CORIO_DID_ID_LEN];
    bool has_key;
    uint8_t key[CORIO_TX_KEY_LEN];
    bool has_person;
    uint8_t person[CORIO_DID_ID_LEN];
    bool has_weight;
    uint64_t weight;
};

/* did.rotate: {1: a rotation link (include/corio/rotation.h)}. */
struct corio_tx_rotate {
    const uint8_t *link;
    size_t link_len;
};

enum corio_device_kind { CORIO_DEVICE_KIND_DEVICE = 1, CORIO_DEVICE_KIND_GATEWAY = 2 };
enum corio_device_auth { CORIO_DEVICE_AUTH_SINGLE = 1, CORIO_DEVICE_AUTH_EAT = 2 };

/* device.register (the claim): {1: org id, 2: the device's key 0, 3: kind, 4: class,
 * 5: model, 6: hardware revision, 7: auth mode, 8: assurance (1 reported, 2
 * attestation), 9: the device's EAT, 10: gateway id (optional)}. */
struct corio_tx_device_register {
    uint8_t org[CORIO_DID_ID_LEN];
    uint8_t key[CORIO_TX_KEY_LEN];
    uint64_t kind, auth, assurance;
    const char *class_, *model, *hw;
    size_t class_len, model_len, hw_len;
    const uint8_t *eat;
    size_t eat_len;
    bool has_gateway;
    uint8_t gateway[CORIO_DID_ID_LEN];
};

/* device.transfer: {1: device id, 2: from org, 3: to org}; device.revoke: {1: device
 * id}. */
struct corio_tx_device_ref {
    uint8_t device[CORIO_DID_ID_LEN];
    bool has_from, has_to;
    uint8_t from[CORIO_DID_ID_LEN], to[CORIO_DID_ID_LEN];
};

enum corio_proposal_kind {
    CORIO_PROPOSAL_MEMBERSHIP = 1,
    CORIO_PROPOSAL_RIGHTS = 2,
    CORIO_PROPOSAL_PARAMETER = 3,
    CORIO_PROPOSAL_VERSION = 4,
    CORIO_PROPOSAL_DECISION = 5,
};
enum corio_membership_action {
    CORIO_MEMBERSHIP_ADMIT = 1,
    CORIO_MEMBERSHIP_REMOVE = 2,
    CORIO_MEMBERSHIP_UPDATE = 3,
};

/* proposal: {1: proposing org id, 2: kind, 3: period in heights (optional), 4: the
 * kind's payload map}. Payloads:
 *   membership {1: action, 2: org id (remove, update), 3: org map (admit, update)}
 *   rights     {1: org id, 2: device class, 3: grant (true) or withdraw (false)}
 *   parameter  {1: name, 2: value}
 *   version    {1: contract name, 2: version, 3: activation height}
 *   decision   {1: title (1..200 bytes), 2: text (0..CORIO_TX_TEXT_MAX bytes)} */
struct corio_tx_proposal {
    uint8_t org[CORIO_DID_ID_LEN];
    uint64_t kind;
    bool has_period;
    uint64_t period;
    const uint8_t *payload;
    size_t payload_len;
};

struct corio_tx_proposal_payload {
    /* membership */
    uint64_t action;
    bool has_target;
    uint8_t target[CORIO_DID_ID_LEN];
    bool has_org;
    const uint8_t *org; /* the org map */
    size_t org_len;
    /* rights */
    uint8_t right_org[CORIO_DID_ID_LEN];
    const char *class_;
    size_t class_len;
    bool grant;
    /* parameter, version */
    const char *name;
    size_t name_len;
    uint64_t value;  /* parameter value, or version number */
    uint64_t height; /* version: activation height */
    /* decision */
    const char *title, *text;
    size_t title_len, text_len;
};

/* Decodes p->payload under p->kind. */
int corio_tx_payload_decode(uint64_t kind, const uint8_t *buf, size_t len,
                            struct corio_tx_proposal_payload *out);
int corio_tx_payload_encode(uint64_t kind, const struct corio_tx_proposal_payload *in,
                            uint8_t *out, size_t cap);

enum corio_vote_choice { CORIO_VOTE_YES = 1, CORIO_VOTE_NO = 2, CORIO_VOTE_ABSTAIN = 3 };

/* vote: {1: proposal id, 2: voting org id, 3: choice}. */
struct corio_tx_vote {
    uint8_t proposal[CORIO_TX_ID_LEN];
    uint8_t org[CORIO_DID_ID_LEN];
    uint64_t choice;
};

/* release.propose: {1: org id, 2: device class, 3: manifest digest (32 bytes),
 * 4: version}; release.approve: {1: release id (the propose transaction's id), 2: org
 * id}. */
struct corio_tx_release {
    uint8_t org[CORIO_DID_ID_LEN];
    const char *class_;
    size_t class_len;
    uint8_t digest[CORIO_TX_ID_LEN];
    const char *version;
    size_t version_len;
    uint8_t release[CORIO_TX_ID_LEN];
};

/* Decoders: args[0..len) of the type into the struct (zeroed first). Encoders write
 * the args map into out[0..cap) (out NULL: count) and return its length. */
int corio_tx_genesis_decode(const uint8_t *args, size_t len, struct corio_tx_genesis *g);
int corio_tx_genesis_encode(const struct corio_tx_genesis *g, uint8_t *out, size_t cap);
int corio_tx_member_decode(unsigned type, const uint8_t *args, size_t len,
                           struct corio_tx_member *m);
int corio_tx_member_encode(unsigned type, const struct corio_tx_member *m, uint8_t *out,
                           size_t cap);
int corio_tx_rotate_decode(const uint8_t *args, size_t len, struct corio_tx_rotate *r);
int corio_tx_rotate_encode(const struct corio_tx_rotate *r, uint8_t *out, size_t cap);
int corio_tx_device_register_decode(const uint8_t *args, size_t len,
                                    struct corio_tx_device_register *d);
int corio_tx_device_register_encode(const struct corio_tx_device_register *d, uint8_t *out,
                                    size_t cap);
int corio_tx_device_ref_decode(unsigned type, const uint8_t *args, size_t len,
                               struct corio_tx_device_ref *d);
int corio_tx_device_ref_encode(unsigned type, const struct corio_tx_device_ref *d,
                               uint8_t *out, size_t cap);
int corio_tx_proposal_decode(const uint8_t *args, size_t len, struct corio_tx_proposal *p);
int corio_tx_proposal_encode(const struct corio_tx_proposal *p, uint8_t *out, size_t cap);
int corio_tx_vote_decode(const uint8_t *args, size_t len, struct corio_tx_vote *v);
int corio_tx_vote_encode(const struct corio_tx_vote *v, uint8_t *out, size_t cap);
int corio_tx_release_decode(unsigned type, const uint8_t *args, size_t len,
                            struct corio_tx_release *r);
int corio_tx_release_encode(unsigned type, const struct corio_tx_release *r, uint8_t *out,
                            size_t cap);

/* Decodes the args of any type strictly (nested organisations, members, parameters
 * and payloads included): what check does before anything else. Returns CORIO_OK or
 * CORIO_ERR_MALFORMED with a short static reason in *why. */
int corio_tx_args_check(unsigned type, const uint8_t *args, size_t len, const char **why);

/* True for 1..CORIO_TX_NAME_MAX bytes of [A-Za-z0-9._+-]. */
bool corio_tx_name_ok(const char *s, size_t n);

#endif /* CORIO_LEDGER_TX_H */
