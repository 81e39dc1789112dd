/*
 * error.h - the one error type of libcorio, the device SDK.
 *
 * Every SDK function that can fail returns an int: CORIO_OK (0) or a negative
 * corio_err value. Functions that produce a length return it as a non-negative
 * int and failures as a negative one. The Linux libraries in common/ reuse these
 * codes so that an error crossing from codec to daemon keeps its meaning.
 */
#ifndef CORIO_ERROR_H
#define CORIO_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

enum corio_err {
    CORIO_OK = 0,
    CORIO_ERR_INVAL = -1,       /* an argument is out of range or NULL */
    CORIO_ERR_NOSPACE = -2,     /* a caller-supplied buffer or table is too small */
    CORIO_ERR_MALFORMED = -3,   /* input does not parse as the format it claims */
    CORIO_ERR_UNSUPPORTED = -4, /* valid input that this build does not handle */
    CORIO_ERR_CRYPTO = -5,      /* the crypto backend failed */
    CORIO_ERR_BADSIG = -6,      /* a signature does not verify, or has a high S */
    CORIO_ERR_IO = -7,          /* the transport or flash port failed */
    CORIO_ERR_TIMEOUT = -8,     /* a deadline passed */
    CORIO_ERR_AGAIN = -9,       /* nothing to do now; call again later */
    CORIO_ERR_CLOSED = -10,     /* the peer closed the connection */
    CORIO_ERR_REFUSED = -11,    /* the peer refused (a failure reason code) */
    CORIO_ERR_FULL = -12,       /* a queue or store is full */
    CORIO_ERR_NOTFOUND = -13,   /* no such key, entry or item */
    CORIO_ERR_STATE = -14,      /* the call is not valid in the current state */
    CORIO_ERR_POLICY = -15,     /* well-formed but refused by a rule (expired, replayed, wrong audience) */
    CORIO_ERR_VERSION = -16,    /* a format version this build does not know */
};

/* A short, static, English description of err; never NULL. */
const char *corio_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif /* CORIO_ERROR_H */
