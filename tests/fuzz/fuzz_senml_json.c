/*
 * fuzz_senml_json.c - libFuzzer target for the SenML-JSON decoder
 * (include/corio/senml.h); the checks are in senml_roundtrip.h.
 */
#include "senml_roundtrip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    roundtrip(CORIO_FORMAT_JSON, data, size);
    return 0;
}
