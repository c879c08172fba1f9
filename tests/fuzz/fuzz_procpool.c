/* fuzz_procpool.c - the libFuzzer program for harness_procpool.h (make fuzz). */
#include "harness_procpool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_procpool_one(data, size);
}
