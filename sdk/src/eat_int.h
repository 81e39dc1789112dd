/*
 * eat_int.h - what the EAT files of sdk/src share (not public): decoding a token into
 * its COSE_Sign1 and claims with a reason for every refusal.
 */
#ifndef CORIO_EAT_INT_H
#define CORIO_EAT_INT_H

#include "corio/cose.h"
#include "corio/eat.h"

/*
 * corio_eat_decode() with the COSE_Sign1 kept for verification and a short static
 * reason in *why (not NULL) on failure.
 */
int corio__eat_decode(const uint8_t *tok, size_t len, struct corio_cose_sign1 *m,
                      struct corio_eat_claims *c, const char **why);

#endif /* CORIO_EAT_INT_H */
