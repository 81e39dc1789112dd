/*
 * mbedtls_heap.c - the static pool mbedTLS allocates from in the footprint example
 * (MBEDTLS_MEMORY_BUFFER_ALLOC_C; main.c hands it over at boot). Kept in a file of its
 * own so that make footprint counts it with mbedTLS's RAM, not the SDK's.
 */
#include "fp_app.h"

unsigned char fp_mbedtls_heap[FP_MBEDTLS_HEAP];
