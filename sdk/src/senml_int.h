/*
 * senml_int.h - what the SenML encoder and decoder files share, not part of the
 * public API: the labels, the format-independent "raw" record that the JSON and
 * CBOR readers fill and the resolver checks, and base64url.
 */
#ifndef CORIO_SENML_INT_H
#define CORIO_SENML_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "corio/json.h"
#include "corio/senml.h"

/* The labels a record may carry; bit i of senml_raw.has is label i. In the bytewise
 * order of their CBOR keys (RFC 8949 §4.2.1): the integer labels 0..8, then -1..-6,
 * then the text labels, shorter first; so the encoder writes CBOR maps in label
 * order. */
enum senml_label {
    L_N,    /* 0 */
    L_U,    /* 1 */
    L_V,    /* 2 */
    L_VS,   /* 3 */
    L_VB,   /* 4 */
    L_S,    /* 5 */
    L_T,    /* 6 */
    L_UT,   /* 7 */
    L_VD,   /* 8 */
    L_BVER, /* -1 */
    L_BN,   /* -2 */
    L_BT,   /* -3 */
    L_BU,   /* -4 */
    L_BV,   /* -5 */
    L_BS,   /* -6 */
    L_EP,   /* "ep" */
    L_SEQ,  /* "seq" */
    L_UPT,  /* "upt" */
    L_BOOT, /* "boot" */
    L_COUNT
};

#define HAS(raw, l) (((raw)->has >> (l)) & 1u)

/* JSON text label and CBOR integer label of each label (extension labels have no
 * integer label: they are text in CBOR too). */
struct senml_label_info {
    char text[5]; /* the longest label, "bver", in place: no pointer per label */
    int8_t cbor;  /* INT8_MIN when the label is text in CBOR */
};
extern const struct senml_label_info corio__senml_labels[L_COUNT];

/* One record's fields as read, before resolution. */
struct senml_raw {
    uint32_t has;
    struct corio_senml_str bn, bu, n, u, vs;
    struct corio_senml_str vd_text; /* JSON: base64url text */
    const uint8_t *vd;              /* CBOR: the bytes */
    size_t vd_len;
    double bt, bv, bs, v, s, t, ut;
    bool vb;
    uint64_t bver, ep, seq, boot, upt;
};

/* Reads one record object (the next token must open it) into *raw. Returns CORIO_OK
 * or an error as listed in senml.h. */
int corio__senml_json_record(struct corio_json *j, struct senml_raw *raw);

/* Reads one record map (the next item must be its head) into *raw. */
int corio__senml_cbor_record(struct corio_cbor_dec *c, struct senml_raw *raw);

/* The encoders' output (struct corio_senml_out in senml.h): the SenML encoder and the
 * heartbeat write JSON and CBOR through these, so one walk serves both formats. Each
 * call is a no-op after the first error, which corio__out_error() reports. */
void corio__out_init(struct corio_senml_out *o, bool json, uint8_t *buf, size_t cap);
int corio__out_error(const struct corio_senml_out *o);
/* The length written, or the sticky error (as corio_cbor_enc_finish). */
int corio__out_finish(const struct corio_senml_out *o);
/* Appends p[0..n) as they are: punctuation, or CBOR the caller has encoded. */
void corio__out_raw(struct corio_senml_out *o, const void *p, size_t n);
/* Appends a map key: in JSON ,"text": (without the comma when first); in CBOR the
 * integer label, or the text when label is CORIO__TEXT_LABEL. text: at most 12 bytes. */
#define CORIO__TEXT_LABEL INT8_MIN
void corio__out_key(struct corio_senml_out *o, const char *text, int label, bool first);
/* Appends an unsigned integer. */
void corio__out_uint(struct corio_senml_out *o, uint64_t u);

/* base64url (RFC 4648 §5) without padding. */
#define CORIO__B64URL_LEN(n) (((n) / 3) * 4 + ((n) % 3 ? (n) % 3 + 1 : 0))

/* Writes p[0..n) as a quoted base64url JSON string. Returns the writer's sticky
 * error. */
int corio__b64url_put(struct corio_json_w *w, const uint8_t *p, size_t n);

/* Decodes the base64url text s (JSON escapes resolved first) into out[0..cap).
 * Strict: alphabet A-Z a-z 0-9 - _ only, no padding, no length of 1 mod 4, zero
 * unused bits. Returns the byte count, CORIO_ERR_MALFORMED or CORIO_ERR_NOSPACE. */
int corio__b64url_decode(const struct corio_senml_str *s, uint8_t *out, size_t cap);

#endif /* CORIO_SENML_INT_H */
