/* error.c - descriptions of libcorio's error codes (include/corio/error.h). */
#include "corio/error.h"

const char *corio_strerror(int err)
{
    switch (err) {
    case CORIO_OK: return "success";
    case CORIO_ERR_INVAL: return "invalid argument";
    case CORIO_ERR_NOSPACE: return "buffer too small";
    case CORIO_ERR_MALFORMED: return "malformed input";
    case CORIO_ERR_UNSUPPORTED: return "unsupported";
    case CORIO_ERR_CRYPTO: return "crypto backend failure";
    case CORIO_ERR_BADSIG: return "bad signature";
    case CORIO_ERR_IO: return "I/O error";
    case CORIO_ERR_TIMEOUT: return "timed out";
    case CORIO_ERR_AGAIN: return "try again";
    case CORIO_ERR_CLOSED: return "connection closed";
    case CORIO_ERR_REFUSED: return "refused by peer";
    case CORIO_ERR_FULL: return "full";
    case CORIO_ERR_NOTFOUND: return "not found";
    case CORIO_ERR_STATE: return "invalid in this state";
    case CORIO_ERR_POLICY: return "refused by policy";
    case CORIO_ERR_VERSION: return "unknown format version";
    default: return "unknown error";
    }
}
