/*
 * fuzz_senml_cbor.c - libFuzzer target for the SenML-CBOR decoder
 * (include/corio/senml.h); the checks are in senml_roundtrip.h.
 */
#include "senml_roundtrip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    roundtrip(CORIO_FORMAT_CBOR, data, size);
    return 0;
}
