/*
 * json.h - the SDK's small JSON (RFC 8259) pull tokenizer, number conversions and
 * writer.
 *
 * SenML-JSON and the heartbeat are built on it, and any other SDK code that must read
 * or write JSON without a heap may use it. The Linux programs use jansson for general
 * JSON; they use this module where the SDK's codecs are the contract (SenML).
 *
 * Tokenizer: corio_json_init() over a caller buffer, then corio_json_next() pulls one
 * token at a time: object and array begin and end, keys, strings, numbers, literals.
 * It is strict: exactly one JSON text (any value at the top, RFC 8259 §2) with only
 * whitespace (space, tab, LF, CR) around it; strings must be valid UTF-8 with no
 * unescaped control characters, escapes are the RFC's eight plus \uXXXX, and \u
 * escapes of surrogates must come as a high-low pair; numbers follow the RFC's grammar
 * exactly (no leading zeros, no '+', no bare '.', no NaN or Infinity); no byte order
 * mark; no trailing commas; no comments. Nesting is limited to CORIO_JSON_MAX_DEPTH
 * arrays and objects. Nothing recurses and nothing allocates, so hostile input costs
 * neither stack nor heap. Tokens point into the input: strings are handed out raw
 * (escapes unresolved, already validated) and resolved on demand by
 * corio_json_unescape(), corio_json_string_eq() or the byte iterator
 * corio_json_str_next().
 *
 * Numbers: corio_json_number() converts a number token to the nearest double
 * (correctly rounded, ties to even, like strtod in the C locale but without locale,
 * heap or errno); corio_json_uint64() and corio_json_int64() convert integer tokens
 * exactly. corio_json_fmt_double() writes the shortest text that reads back as the same
 * double, in the layout of ECMAScript's Number::toString (so the same text as
 * JavaScript's JSON.stringify), except that -0 is written "-0".
 *
 * Writer: struct corio_json_w appends to a caller buffer with a sticky error, like
 * the CBOR encoder. The caller writes the punctuation; the writer escapes strings and
 * formats numbers.
 *
 * Return values follow include/corio/error.h. Across this module CORIO_ERR_MALFORMED
 * means "not JSON (or not the kind of token asked for)", CORIO_ERR_UNSUPPORTED "valid
 * JSON beyond this build's limits" (nesting deeper than CORIO_JSON_MAX_DEPTH, a number
 * too large for the type asked for), CORIO_ERR_NOSPACE "the caller's buffer is too
 * small", CORIO_ERR_NOTFOUND "nothing left". Pointer arguments must not be NULL unless a
 * function says otherwise.
 */
#ifndef CORIO_JSON_H
#define CORIO_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "corio/cbor.h"
#include "corio/config.h"
#include "corio/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The most arrays and objects open at once; deeper input is refused with
 * CORIO_ERR_UNSUPPORTED. Each 8 levels cost one byte in struct corio_json. */
#ifndef CORIO_JSON_MAX_DEPTH
#define CORIO_JSON_MAX_DEPTH 32
#endif
#if CORIO_JSON_MAX_DEPTH < 1 || CORIO_JSON_MAX_DEPTH > 1024
#error "CORIO_JSON_MAX_DEPTH must be between 1 and 1024"
#endif

/* Bytes corio_json_fmt_double() may write, its NUL included
 * ("-0.0000012345678901234567" is the longest). */
#define CORIO_JSON_DOUBLE_MAX 26
/* Bytes corio_json_fmt_uint64()/int64() may write, NUL included. */
#define CORIO_JSON_INT_MAX 21
/* The most fraction digits corio_json_w_decimal() writes after a point; a smaller
 * exponent is written as one ("5e-30"). */
#define CORIO_JSON_DECIMAL_POINT_MAX 20

/* ------------------------------------------------------------------------------ */
/* Tokenizer                                                                      */
/* ------------------------------------------------------------------------------ */

enum corio_json_type {
    CORIO_JSON_OBJECT = 1, /* '{' */
    CORIO_JSON_OBJECT_END, /* '}' */
    CORIO_JSON_ARRAY,      /* '[' */
    CORIO_JSON_ARRAY_END,  /* ']' */
    CORIO_JSON_KEY,        /* an object member's name (its ':' is consumed with it) */
    CORIO_JSON_STRING,     /* a string value */
    CORIO_JSON_NUMBER,     /* a number; .ptr/.len hold its text */
    CORIO_JSON_TRUE,
    CORIO_JSON_FALSE,
    CORIO_JSON_NULL,
};

/* One token as corio_json_next() reports it. */
struct corio_json_tok {
    enum corio_json_type type;
    const char *ptr; /* KEY, STRING: the content between the quotes, escapes unresolved;
                      * NUMBER: the number's text; others: the token's first byte */
    size_t len;      /* bytes at ptr */
    bool escaped;    /* KEY, STRING: the content holds at least one backslash escape */
    unsigned depth;  /* containers enclosing the token; a container's begin and end
                      * tokens carry the depth of the container itself */
    size_t offset;   /* offset of the token's first byte (a string's opening quote) */
};

/* A tokenizer. Caller-owned; its fields are private. It may be copied to save and
 * restore a position. */
struct corio_json {
    const char *buf;
    size_t len;
    size_t pos;
    unsigned depth;
    uint8_t state;
    uint8_t stack[(CORIO_JSON_MAX_DEPTH + 7) / 8]; /* per open container: 1 = object */
};

/* Starts tokenizing buf[0..len). The tokenizer borrows buf, which must stay unchanged
 * while the tokenizer and any token it returned are in use. buf may be NULL when
 * len == 0 (which is refused as empty input by the first corio_json_next()). */
void corio_json_init(struct corio_json *j, const char *buf, size_t len);

/*
 * Reads the next token into *t and moves past it. After the top-level value is
 * complete, returns CORIO_ERR_NOTFOUND if only whitespace remains and
 * CORIO_ERR_MALFORMED if anything else does. Returns CORIO_OK; CORIO_ERR_MALFORMED
 * for input that is not JSON here (truncated, bad syntax, bad escape, bad UTF-8, lone
 * surrogate, a control character in a string); CORIO_ERR_UNSUPPORTED for an array or
 * object deeper than CORIO_JSON_MAX_DEPTH. On error neither *j nor *t changes.
 */
int corio_json_next(struct corio_json *j, struct corio_json_tok *t);

/* Like corio_json_next() without moving: *j is unchanged either way. */
int corio_json_peek(const struct corio_json *j, struct corio_json_tok *t);

/* Skips the next value whole (an array or object with all its content). Returns
 * CORIO_OK, CORIO_ERR_MALFORMED (also when the next token is not the start of a
 * value: a key or the end of a container) or CORIO_ERR_UNSUPPORTED; on error *j is
 * unchanged. */
int corio_json_skip(struct corio_json *j);

/* CORIO_OK if the top-level value is complete and nothing but whitespace follows it,
 * else CORIO_ERR_MALFORMED. */
int corio_json_finish(const struct corio_json *j);

/* The offset of the next unread byte (after an error: where the bad token starts, or
 * close to it). */
size_t corio_json_offset(const struct corio_json *j);

/* ------------------------------------------------------------------------------ */
/* Strings                                                                        */
/* ------------------------------------------------------------------------------ */

/*
 * Writes the unescaped content of a KEY or STRING token (UTF-8; \u0000 gives a NUL
 * byte) into out[0..cap) followed by a NUL. out may be NULL with cap 0 to count only.
 * Returns the content's length (without the NUL), CORIO_ERR_NOSPACE if out cannot hold
 * it and the NUL (out's contents are then unspecified), CORIO_ERR_INVAL if t is not a
 * KEY or STRING, or if the length exceeds INT_MAX.
 */
int corio_json_unescape(const struct corio_json_tok *t, char *out, size_t cap);

/* Whether the unescaped content of a KEY or STRING token equals s[0..n) byte for
 * byte; false for other tokens. */
bool corio_json_string_eq(const struct corio_json_tok *t, const char *s, size_t n);

/* An iterator over the unescaped bytes of a KEY or STRING token. Fields private. */
struct corio_json_str {
    const char *p;
    const char *end;
    uint8_t pend[4];
    uint8_t npend;
    uint8_t ipend;
};

/* Starts iterating over t's content; t must be a KEY or STRING token from
 * corio_json_next() (its content is then known to be valid), and its input must stay
 * unchanged while iterating. */
void corio_json_str_begin(struct corio_json_str *s, const struct corio_json_tok *t);

/* The next unescaped byte (0..255), or -1 at the end. */
int corio_json_str_next(struct corio_json_str *s);

/* ------------------------------------------------------------------------------ */
/* Numbers                                                                        */
/* ------------------------------------------------------------------------------ */

/*
 * Converts a NUMBER token to the nearest double, ties to even (exact for every input,
 * however many digits). Values below the smallest subnormal become (signed) zero.
 * Returns CORIO_OK, CORIO_ERR_UNSUPPORTED if the value's magnitude rounds beyond the
 * largest double (*v unchanged), CORIO_ERR_INVAL if t is not a NUMBER.
 * Uses about 900 bytes of stack for inputs that the fast path (at most 15 significant
 * digits and a small exponent) does not cover.
 */
int corio_json_number(const struct corio_json_tok *t, double *v);

/*
 * Converts a NUMBER token written as an integer (no fraction, no exponent) exactly.
 * Returns CORIO_OK; CORIO_ERR_MALFORMED if the token has a fraction or an exponent
 * (uint64: or a minus sign, "-0" included); CORIO_ERR_UNSUPPORTED if the value is out of
 * the type's range; CORIO_ERR_INVAL if t is not a NUMBER. *v is unchanged on error.
 */
int corio_json_uint64(const struct corio_json_tok *t, uint64_t *v);
int corio_json_int64(const struct corio_json_tok *t, int64_t *v);

/*
 * Converts the decimal mantissa * 10^exp10 (negated when neg) to the nearest double,
 * exactly as corio_json_number() would for the same value. For decimal fractions
 * (CBOR tag 4) and other decimal sources. Returns CORIO_OK or CORIO_ERR_UNSUPPORTED
 * (beyond the largest double).
 */
int corio_json_decimal_to_double(bool neg, uint64_t mantissa, int64_t exp10, double *v);

/*
 * Writes the shortest decimal text that reads back (by corio_json_number or any
 * correct strtod) as exactly v, followed by a NUL, into out (at least
 * CORIO_JSON_DOUBLE_MAX bytes). Among the shortest digit strings it picks the closest
 * to v. Layout as ECMAScript's Number::toString: plain digits when the decimal exponent
 * n (v = 0.d1d2... * 10^n) is in -6 < n <= 21 ("21.5", "1276020076.001", "0.000001"),
 * else exponential with a lower-case 'e' and a sign ("1e+21", "5e-324",
 * "1.5e-7"); -0 is "-0". Returns the length (without the NUL), or CORIO_ERR_INVAL for
 * NaN and infinities (JSON has no such numbers). Uses about 800 bytes of stack for
 * values that are not integers below 2^53.
 */
int corio_json_fmt_double(double v, char *out);

/* Writes v in decimal followed by a NUL into out (at least CORIO_JSON_INT_MAX bytes);
 * returns the length. */
int corio_json_fmt_uint64(uint64_t v, char *out);
int corio_json_fmt_int64(int64_t v, char *out);

/* ------------------------------------------------------------------------------ */
/* Writer                                                                         */
/* ------------------------------------------------------------------------------ */

/* A writer over a caller buffer, with a sticky error. Caller-owned; fields private. */
struct corio_json_w {
    struct corio_cbor_enc out; /* the bytes, kept (and appended) as the CBOR encoder
                                * keeps its own: one buffer writer for both formats */
};

/* Starts writing into buf[0..cap). buf == NULL only counts bytes (cap ignored). The
 * writer never NUL-terminates and never writes outside buf. */
void corio_json_w_init(struct corio_json_w *w, uint8_t *buf, size_t cap);

/* The length written (or counted) so far; after an error, the length before the call
 * that failed. */
size_t corio_json_w_len(const struct corio_json_w *w);

/* The total length, or the sticky error: CORIO_ERR_NOSPACE when something did not fit,
 * CORIO_ERR_INVAL from a refused call. A length above INT_MAX is CORIO_ERR_NOSPACE. */
int corio_json_w_finish(const struct corio_json_w *w);

/* Each appends to the output and returns the sticky error after the call; an item
 * that does not fit is not written at all (CORIO_ERR_NOSPACE). */
/* Raw bytes s[0..n), unchecked (punctuation, or text the caller vouches for); s may be
 * NULL when n == 0, else CORIO_ERR_INVAL (sticky). */
int corio_json_w_raw(struct corio_json_w *w, const char *s, size_t n);
/* A quoted string from s[0..n), escaping '"', '\\' and control characters (as \n, \t,
 * ... or \u00XX); CORIO_ERR_INVAL (sticky) if s is not valid UTF-8. s may be NULL when
 * n == 0. */
int corio_json_w_string(struct corio_json_w *w, const char *s, size_t n);
/* v as corio_json_fmt_double() writes it; CORIO_ERR_INVAL (sticky) for NaN/inf. */
int corio_json_w_double(struct corio_json_w *w, double v);
int corio_json_w_uint64(struct corio_json_w *w, uint64_t v);
int corio_json_w_int64(struct corio_json_w *w, int64_t v);
/* The decimal number m * 10^e, exactly and without floating point (for devices that
 * keep values as scaled integers): with a point when -CORIO_JSON_DECIMAL_POINT_MAX <=
 * e < 0 ("21.5", "-0.0042", "0.50" for m 50, e -2), else the digits of m and, when e
 * is not 0, an exponent ("215", "215e3", "215e-40"). The text reads back (by
 * corio_json_number()) as the double nearest to m * 10^e. e may be any int; the
 * text is at most 32 bytes. */
int corio_json_w_decimal(struct corio_json_w *w, int64_t m, int e);
/* true or false. */
int corio_json_w_bool(struct corio_json_w *w, bool v);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_JSON_H */
