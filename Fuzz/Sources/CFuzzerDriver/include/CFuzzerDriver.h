// libFuzzer's driver, for a Swift executable whose main SwiftPM provides: the executable's
// main calls it instead of linking libFuzzer's own main.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*UserCb)(const uint8_t *Data, size_t Size));
