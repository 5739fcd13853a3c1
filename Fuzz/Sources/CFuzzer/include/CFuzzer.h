// libFuzzer's driver, called from each target's main (SwiftPM gives every executable its own `main`,
// so libFuzzer's is not used): https://llvm.org/docs/LibFuzzer.html#using-libfuzzer-as-a-library
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*UserCb)(const uint8_t *Data, size_t Size));
