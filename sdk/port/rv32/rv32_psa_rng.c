/*
 * rv32_psa_rng.c - the board's random generator behind mbedTLS's PSA core.
 *
 * Built with MBEDTLS_PSA_CRYPTO_EXTERNAL_RNG, mbedTLS takes its randomness from this
 * one hook instead of running its own entropy collector and DRBG: a part with a true
 * random generator needs neither, and saves their flash. Only this file of the port
 * needs mbedTLS's headers; a board without PSA leaves it out.
 */
#include "port_rv32.h"

#include <psa/crypto.h>

static const struct corio_random *psa_rnd;

void corio_rv32_psa_random(const struct corio_random *rnd)
{
    psa_rnd = rnd;
}

psa_status_t mbedtls_psa_external_get_random(mbedtls_psa_external_random_context_t *context,
                                             uint8_t *output, size_t output_size,
                                             size_t *output_length)
{
    (void)context;
    *output_length = 0;
    if (psa_rnd == NULL || psa_rnd->fill(psa_rnd->ctx, output, output_size) != CORIO_OK)
        return PSA_ERROR_INSUFFICIENT_ENTROPY;
    *output_length = output_size;
    return PSA_SUCCESS;
}
