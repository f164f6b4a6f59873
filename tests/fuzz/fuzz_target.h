// What every fuzz target in tests/fuzz/ defines: libFuzzer's entry point, and the inputs the
// project's own driver (fuzz_driver.cpp) starts from and mutates. Single-threaded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

/// Starting inputs for the driver (a libFuzzer build uses its own corpus instead).
std::vector<std::string> fuzzSeeds();

/// A property of the target failed: say which, then abort so the driver saves the input.
#define FUZZ_CHECK(cond, what)                                           \
  do {                                                                   \
    if (!(cond)) {                                                       \
      std::fprintf(stderr, "fuzz check failed: %s (%s)\n", what, #cond); \
      std::abort();                                                      \
    }                                                                    \
  } while (0)
