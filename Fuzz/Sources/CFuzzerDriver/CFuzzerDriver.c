// Nothing to compile: the header declares libFuzzer's LLVMFuzzerRunDriver (in the toolchain's
// libclang_rt.fuzzer, linked by -sanitize=fuzzer).
#include "CFuzzerDriver.h"
