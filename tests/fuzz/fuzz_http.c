/* fuzz_http.c - the libFuzzer program for harness_http.h (make fuzz). */
#include "harness_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_http_one(data, size);
}
