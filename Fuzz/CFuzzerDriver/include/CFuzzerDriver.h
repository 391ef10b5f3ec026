#ifndef CFUZZERDRIVER_H
#define CFUZZERDRIVER_H
#include <stddef.h>
#include <stdint.h>

/// libFuzzer's entry point for programs that keep their own main (libclang_rt.fuzzer_no_main, LLVM >= 11).
/// Defined only in fuzz builds (scripts/fuzz.sh links libFuzzer); normal builds never reference it.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
