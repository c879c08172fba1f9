/* fuzz_api.c - the libFuzzer program for harness_api.h (make fuzz). */
#include "harness_api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_api_one(data, size);
}
