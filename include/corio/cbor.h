/*
 * cbor.h - the one CBOR (RFC 8949) encoder and decoder of Corio.
 *
 * Devices and servers share this code for every CBOR format of the platform (SenML,
 * COSE, EAT, batches, ledger transactions). It allocates nothing and calls no OS:
 * the encoder writes into a caller buffer, the decoder reads a caller buffer in place.
 *
 * Encoder: corio_cbor_enc_init() over a buffer, then corio_cbor_put_*() calls. The
 * encoder keeps the first error it meets ("sticky"): every later call is a no-op that
 * returns that error, and corio_cbor_enc_finish() reports it, so a caller may write a
 * whole structure and check once. After an error the buffer's bytes are unspecified
 * (a wrap or map sort may be left unfinished) but nothing past its end is touched.
 * With a NULL buffer the encoder only counts bytes, so
 * one pass can size the buffer for a second. The encoder always writes the shortest
 * heads and floats and definite lengths (RFC 8949 §4.2.1); map keys are sorted by
 * corio_cbor_sort_map() after the map is written, so callers may write them in any
 * order.
 *
 * Decoder: corio_cbor_dec_init() over a buffer, then corio_cbor_next() pulls one item
 * head at a time (definite strings come with their content), or the typed
 * corio_cbor_expect_*() helpers consume one item of a given type. The decoder tracks
 * open containers itself, so it refuses every input that is not well-formed (RFC 8949
 * Appendix C) as soon as it reaches the offending byte, and limits nesting to
 * CORIO_CBOR_MAX_DEPTH.
 *
 * Validators: corio_cbor_wellformed() and corio_cbor_deterministic() check a whole
 * buffer holding exactly one item.
 *
 * Return values follow include/corio/error.h: CORIO_OK or a negative corio_err.
 * Across this module CORIO_ERR_MALFORMED means "not well-formed, or not the type asked
 * for", CORIO_ERR_UNSUPPORTED "well-formed but beyond this build" (too deep, or an
 * indefinite-length string where a typed getter needs one piece), CORIO_ERR_POLICY
 * "well-formed but breaks a deterministic-encoding rule", CORIO_ERR_NOSPACE "the
 * caller's buffer is too small", CORIO_ERR_INVAL "the call itself is wrong".
 * Pointer arguments must not be NULL unless a function says otherwise.
 */
#ifndef CORIO_CBOR_H
#define CORIO_CBOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "corio/config.h"
#include "corio/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The most containers (arrays, maps, tags, indefinite-length strings) the decoder
 * holds open at once; deeper input is refused with CORIO_ERR_UNSUPPORTED. Each level
 * costs sizeof(size_t) + 1 bytes in struct corio_cbor_dec. */
#ifndef CORIO_CBOR_MAX_DEPTH
#define CORIO_CBOR_MAX_DEPTH 16
#endif
#if CORIO_CBOR_MAX_DEPTH < 1 || CORIO_CBOR_MAX_DEPTH > 255
#error "CORIO_CBOR_MAX_DEPTH must be between 1 and 255"
#endif

/* Count reported by corio_cbor_expect_array/map for an indefinite-length container. */
#define CORIO_CBOR_INDEFINITE UINT64_MAX

/* Common tag numbers (IANA CBOR tags registry). */
#define CORIO_CBOR_TAG_DATETIME 0      /* text date/time */
#define CORIO_CBOR_TAG_EPOCH 1         /* epoch-based date/time */
#define CORIO_CBOR_TAG_UBIGNUM 2       /* unsigned bignum */
#define CORIO_CBOR_TAG_NBIGNUM 3       /* negative bignum */
#define CORIO_CBOR_TAG_CBOR 24         /* encoded CBOR data item */
#define CORIO_CBOR_TAG_COSE_SIGN1 18   /* COSE_Sign1 (RFC 9052) */
#define CORIO_CBOR_TAG_CWT 61          /* CBOR Web Token (RFC 8392) */

/* ------------------------------------------------------------------------------ */
/* Encoder                                                                        */
/* ------------------------------------------------------------------------------ */

/* An encoder. Caller-owned; its fields are private (use the functions below). */
struct corio_cbor_enc {
    uint8_t *buf; /* caller's buffer, or NULL when only counting */
    size_t cap;   /* its size */
    size_t len;   /* bytes written (or counted) so far */
    int err;      /* first error met, CORIO_OK until then */
};

/* A byte string whose content is being encoded; see corio_cbor_put_bstr_begin. */
struct corio_cbor_wrap {
    size_t start; /* offset of the byte string's head */
};

/*
 * Starts encoding into buf[0..cap). The encoder borrows buf until the caller stops
 * using it; it writes nothing outside it. buf == NULL selects size-only mode: nothing
 * is written, cap is ignored, and lengths are counted as if the buffer were endless.
 */
void corio_cbor_enc_init(struct corio_cbor_enc *e, uint8_t *buf, size_t cap);

/* The number of bytes written (or counted) so far; after an error, the length before
 * the call that failed. */
size_t corio_cbor_enc_len(const struct corio_cbor_enc *e);

/* The sticky error: CORIO_OK, or the first error an encoding call met. */
int corio_cbor_enc_error(const struct corio_cbor_enc *e);

/*
 * Ends encoding. Returns the total length (>= 0), which is what was written to buf
 * (or what size-only mode counted), or the sticky error: CORIO_ERR_NOSPACE if the
 * buffer was too small at some point, or the error of a refused call
 * (CORIO_ERR_INVAL, or CORIO_ERR_POLICY / CORIO_ERR_UNSUPPORTED from a map sort). A length above INT_MAX is reported as CORIO_ERR_NOSPACE; use
 * corio_cbor_enc_len() for such sizes.
 */
int corio_cbor_enc_finish(const struct corio_cbor_enc *e);

/*
 * Item writers. Each appends one item (or one container head) in its shortest form
 * and returns the sticky error after the call: CORIO_OK, or CORIO_ERR_NOSPACE when the
 * item does not fit (nothing of it is written), or CORIO_ERR_INVAL for a NULL pointer
 * with a non-zero length, or an earlier error (nothing written).
 */
/* Writes the unsigned integer v (major type 0). */
int corio_cbor_put_uint(struct corio_cbor_enc *e, uint64_t v);
/* Writes the negative integer -1 - n (major type 1), so -2^64 .. -1 are reachable. */
int corio_cbor_put_negint(struct corio_cbor_enc *e, uint64_t n);
/* Writes v as major type 0 or 1. */
int corio_cbor_put_int(struct corio_cbor_enc *e, int64_t v);
/* Writes a byte string copied from p[0..n); p may be NULL when n == 0. */
int corio_cbor_put_bytes(struct corio_cbor_enc *e, const void *p, size_t n);
/* Writes a text string copied from s[0..n). The caller vouches that it is UTF-8. */
int corio_cbor_put_text(struct corio_cbor_enc *e, const char *s, size_t n);
/* Writes the NUL-terminated text string s (without the NUL). */
int corio_cbor_put_textz(struct corio_cbor_enc *e, const char *s);
/* Writes an array head for count items; the caller then writes exactly count items. */
int corio_cbor_put_array(struct corio_cbor_enc *e, uint64_t count);
/* Writes a map head for pairs key/value pairs; the caller then writes 2*pairs items,
 * key first. For deterministic output call corio_cbor_sort_map() after the last. */
int corio_cbor_put_map(struct corio_cbor_enc *e, uint64_t pairs);
/* Writes a tag head; the caller then writes the tagged item. */
int corio_cbor_put_tag(struct corio_cbor_enc *e, uint64_t tag);
/* Writes simple value v (0..23 or 32..255; 20..23 are false, true, null, undefined).
 * 24..31 are not simple values: CORIO_ERR_INVAL (sticky). */
int corio_cbor_put_simple(struct corio_cbor_enc *e, uint8_t v);
/* Writes false (0xf4) or true (0xf5). */
int corio_cbor_put_bool(struct corio_cbor_enc *e, bool v);
/* Writes null (0xf6). */
int corio_cbor_put_null(struct corio_cbor_enc *e);
/* Writes undefined (0xf7). */
int corio_cbor_put_undefined(struct corio_cbor_enc *e);
/* Writes v in the shortest of binary16, binary32, binary64 that keeps its exact value
 * (RFC 8949 §4.2.1), -0.0 and infinities included. Every NaN is written as 0xf97e00
 * (RFC 8949 §4.2.2): NaN sign and payload are not kept. */
int corio_cbor_put_double(struct corio_cbor_enc *e, double v);
/* The same for a float (every float is exactly a double). */
int corio_cbor_put_float(struct corio_cbor_enc *e, float v);

/*
 * Appends p[0..n) as already-encoded CBOR, unchecked: the caller vouches that it is
 * whole items (check untrusted bytes with corio_cbor_wellformed first). p may be NULL
 * when n == 0. Returns the sticky error.
 */
int corio_cbor_put_raw(struct corio_cbor_enc *e, const void *p, size_t n);

/*
 * Reserve-then-fill: writes the head of an n-byte byte string and reserves its n
 * content bytes (zeroed), for the caller to fill through *content before the buffer
 * is used. *content is NULL in size-only mode and on error. Returns the sticky error.
 */
int corio_cbor_put_bytes_reserve(struct corio_cbor_enc *e, size_t n, uint8_t **content);

/*
 * Encode-into-a-byte-string (bstr-wrapped CBOR, as COSE's protected headers and
 * payloads need): put_bstr_begin() opens a byte string; every item written until the
 * matching put_bstr_end() becomes its content; end writes the shortest head, moving
 * the content by up to 8 bytes, so the buffer needs no more room than the final
 * result. Wraps nest (end them innermost first). After end, the whole byte string
 * item is buf[w->start .. corio_cbor_enc_len(e)). Both return the sticky error; end
 * returns CORIO_ERR_INVAL (sticky) if w does not match an open wrap.
 */
int corio_cbor_put_bstr_begin(struct corio_cbor_enc *e, struct corio_cbor_wrap *w);
int corio_cbor_put_bstr_end(struct corio_cbor_enc *e, const struct corio_cbor_wrap *w);

/*
 * Sorts, in place, the key/value pairs of the map whose head was written at offset
 * map_start and which is the last thing written (it ends at corio_cbor_enc_len(e)),
 * into the bytewise order of the keys' encodings (RFC 8949 §4.2.1). Sort inner maps
 * before the outer ones that hold them. Uses no memory beyond the stack; time is
 * linear for pairs already in order and at worst quadratic in the number of pairs
 * times the map's size. In size-only mode it does nothing. Returns the sticky error:
 * CORIO_ERR_POLICY if two keys are equal (duplicates), CORIO_ERR_INVAL if the bytes
 * from map_start are not exactly one well-formed definite-length map,
 * CORIO_ERR_UNSUPPORTED if it nests deeper than CORIO_CBOR_MAX_DEPTH. Any of these
 * becomes sticky.
 */
int corio_cbor_sort_map(struct corio_cbor_enc *e, size_t map_start);

/*
 * The same on a caller buffer: map[0..len) must be exactly one well-formed
 * definite-length map, whose pairs are sorted in place. Returns CORIO_OK,
 * CORIO_ERR_POLICY (duplicate keys; the order of pairs is then unspecified but the
 * bytes are still the same map), CORIO_ERR_INVAL (not exactly one definite map) or
 * CORIO_ERR_UNSUPPORTED (too deep).
 */
int corio_cbor_map_sort(uint8_t *map, size_t len);

/* ------------------------------------------------------------------------------ */
/* Decoder                                                                        */
/* ------------------------------------------------------------------------------ */

/* What an item is. */
enum corio_cbor_type {
    CORIO_CBOR_UINT,      /* major type 0; the value is .u */
    CORIO_CBOR_NEGINT,    /* major type 1; the value is -1 - .u */
    CORIO_CBOR_BYTES,     /* major type 2 */
    CORIO_CBOR_TEXT,      /* major type 3 (not checked for UTF-8 here) */
    CORIO_CBOR_ARRAY,     /* major type 4; .u items follow */
    CORIO_CBOR_MAP,       /* major type 5; .u pairs (2 * .u items) follow */
    CORIO_CBOR_TAG,       /* major type 6; tag number .u, the tagged item follows */
    CORIO_CBOR_SIMPLE,    /* major type 7, a simple value other than the four below: .u */
    CORIO_CBOR_FALSE,     /* 0xf4 */
    CORIO_CBOR_TRUE,      /* 0xf5 */
    CORIO_CBOR_NULL,      /* 0xf6 */
    CORIO_CBOR_UNDEFINED, /* 0xf7 */
    CORIO_CBOR_FLOAT,     /* binary16/32/64: value .f, encoded width .float_size */
    CORIO_CBOR_BREAK,     /* 0xff, the end of an indefinite-length item */
};

/* One item head as corio_cbor_next() reports it. */
struct corio_cbor_item {
    enum corio_cbor_type type;
    uint8_t major;          /* major type 0..7 */
    bool indefinite;        /* strings, arrays, maps opened with additional info 31 */
    uint8_t float_size;     /* 2, 4 or 8 for floats, else 0 */
    unsigned depth;         /* containers enclosing this item (0 at top level); for a
                             * break, the depth of the item it closes */
    size_t offset;          /* offset of the item's head in the input */
    uint64_t u;             /* the head's argument: integer, length, count, tag, simple */
    const uint8_t *ptr;     /* definite strings: content, inside the decoder's input */
    size_t len;             /* definite strings: content length (== .u) */
    double f;               /* floats: the value */
};

/* A decoder. Caller-owned (32 + 9 * CORIO_CBOR_MAX_DEPTH bytes on 64-bit, 16 + 5 *
 * CORIO_CBOR_MAX_DEPTH on 32-bit); its fields are private. It may be copied to save
 * and restore a position. */
struct corio_cbor_dec {
    const uint8_t *buf;
    size_t len;
    size_t pos;
    unsigned depth;
    size_t left[CORIO_CBOR_MAX_DEPTH];  /* per open container: items left, or seen */
    uint8_t kind[CORIO_CBOR_MAX_DEPTH]; /* per open container: what it is */
};

/* Starts decoding buf[0..len). The decoder borrows buf, which must stay unchanged
 * while the decoder and any pointer it returned are in use. buf may be NULL when
 * len == 0. */
void corio_cbor_dec_init(struct corio_cbor_dec *d, const uint8_t *buf, size_t len);

/*
 * Reads the next item head into *it and moves past it. Definite strings are consumed
 * whole (it->ptr, it->len point into the input). For arrays, maps and tags only the
 * head is consumed: the next calls return their content. An indefinite-length
 * string is returned as a head with it->indefinite, then its chunks (definite strings
 * of the same type), then a CORIO_CBOR_BREAK. Several top-level items in a row (an
 * RFC 8742 sequence) are read one after the other.
 * Returns CORIO_OK; CORIO_ERR_MALFORMED if the input is not well-formed here
 * (truncated, reserved additional information, misplaced break, bad chunk, a count
 * larger than the remaining input could hold, or nothing left to read);
 * CORIO_ERR_UNSUPPORTED if the item would open a container deeper than
 * CORIO_CBOR_MAX_DEPTH. On error neither *d nor *it changes.
 */
int corio_cbor_next(struct corio_cbor_dec *d, struct corio_cbor_item *it);

/* Like corio_cbor_next() without moving: *d is unchanged either way. */
int corio_cbor_peek(const struct corio_cbor_dec *d, struct corio_cbor_item *it);

/* Skips the next item whole: nested content, tagged item, chunks and break included,
 * checking that all of it is well-formed. Returns CORIO_OK, CORIO_ERR_MALFORMED (also
 * when the next thing is a break: a break is not an item) or CORIO_ERR_UNSUPPORTED;
 * on error *d is unchanged. */
int corio_cbor_skip(struct corio_cbor_dec *d);

/* True if the next byte is a break (0xff): the end of an indefinite-length container
 * the caller is iterating. Consume it with corio_cbor_expect_break(). */
bool corio_cbor_at_break(const struct corio_cbor_dec *d);

/* The offset of the next unread byte. */
size_t corio_cbor_dec_offset(const struct corio_cbor_dec *d);

/* The number of containers open at the current position. */
unsigned corio_cbor_dec_depth(const struct corio_cbor_dec *d);

/* CORIO_OK if every byte was read and no container is open, CORIO_ERR_MALFORMED if
 * input is left over or a container is unfinished. */
int corio_cbor_dec_finish(const struct corio_cbor_dec *d);

/*
 * Typed getters. Each consumes one item of the named type and stores its value; on
 * any error nothing is consumed and the outputs are unchanged. They return CORIO_OK;
 * CORIO_ERR_MALFORMED if the next item is of another type (or out of the stated
 * range, or not well-formed); CORIO_ERR_UNSUPPORTED for the depth limit, or (strings)
 * an indefinite-length string, which these getters do not join: read those with
 * corio_cbor_next().
 */
/* Major type 0. */
int corio_cbor_expect_uint(struct corio_cbor_dec *d, uint64_t *v);
/* Major type 0 or 1 whose value fits int64_t. */
int corio_cbor_expect_int(struct corio_cbor_dec *d, int64_t *v);
/* A definite byte string; *p points into the input. */
int corio_cbor_expect_bytes(struct corio_cbor_dec *d, const uint8_t **p, size_t *n);
/* A definite text string that is valid UTF-8 (else CORIO_ERR_MALFORMED); *s points
 * into the input and is not NUL-terminated. */
int corio_cbor_expect_text(struct corio_cbor_dec *d, const char **s, size_t *n);
/* An array head: *count items follow, or CORIO_CBOR_INDEFINITE for an
 * indefinite-length array (iterate while !corio_cbor_at_break(), then
 * corio_cbor_expect_break()). */
int corio_cbor_expect_array(struct corio_cbor_dec *d, uint64_t *count);
/* A map head: *pairs key/value pairs follow, or CORIO_CBOR_INDEFINITE as above. */
int corio_cbor_expect_map(struct corio_cbor_dec *d, uint64_t *pairs);
/* A tag head: *tag is its number; the tagged item follows. */
int corio_cbor_expect_tag(struct corio_cbor_dec *d, uint64_t *tag);
/* false or true. */
int corio_cbor_expect_bool(struct corio_cbor_dec *d, bool *v);
/* null. */
int corio_cbor_expect_null(struct corio_cbor_dec *d);
/* Any simple value (major type 7 except floats and break): *v is its number, 20..23
 * for false, true, null, undefined. */
int corio_cbor_expect_simple(struct corio_cbor_dec *d, uint8_t *v);
/* A binary16/32/64 float. */
int corio_cbor_expect_float(struct corio_cbor_dec *d, double *v);
/* A float or an integer (major 0/1, converted to the nearest double). */
int corio_cbor_expect_number(struct corio_cbor_dec *d, double *v);
/* The break that ends an indefinite-length container. */
int corio_cbor_expect_break(struct corio_cbor_dec *d);

/* ------------------------------------------------------------------------------ */
/* Validators                                                                     */
/* ------------------------------------------------------------------------------ */

/*
 * Checks that buf[0..len) is exactly one well-formed item (RFC 8949 Appendix C):
 * indefinite lengths are accepted. Returns CORIO_OK, CORIO_ERR_MALFORMED (not
 * well-formed, empty, or trailing bytes) or CORIO_ERR_UNSUPPORTED (nested deeper than
 * CORIO_CBOR_MAX_DEPTH).
 */
int corio_cbor_wellformed(const uint8_t *buf, size_t len);

/*
 * Checks that buf[0..len) is exactly one well-formed item in core deterministic
 * encoding (RFC 8949 §4.2.1): every head's argument in its shortest form, no
 * indefinite lengths, every float in the shortest width that keeps its value and
 * every NaN as 0xf97e00, map keys in strictly increasing bytewise order of their
 * encodings (so no duplicates). This is exactly what this module's encoder produces,
 * so decoding such input and encoding it again gives the same bytes. Text is not
 * checked for UTF-8 here (corio_cbor_expect_text does). Returns CORIO_OK,
 * CORIO_ERR_MALFORMED, CORIO_ERR_UNSUPPORTED as corio_cbor_wellformed(), or
 * CORIO_ERR_POLICY if well-formed but not deterministic.
 */
int corio_cbor_deterministic(const uint8_t *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_CBOR_H */
