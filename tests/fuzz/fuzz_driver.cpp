// A small deterministic driver for the fuzz targets, so they build with GCC and run in ctest
// (under ASan and UBSan in CI). It runs the target's seeds, then --runs mutations of them drawn
// from --seed; given file arguments it runs just those (to repeat a saved failure). On abort or
// crash the input being run is written to fuzz-failure-<pid>.bin in the working directory; with
// --keep-current each input is written to fuzz-current.bin before it runs (for a hang or a kill).
// With clang, link a target with -fsanitize=fuzzer instead of this file for coverage guidance.
#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <string>
#include <string_view>

#include "fuzz_target.h"

namespace {

std::string g_current;  // the input being run, saved by the signal handler
bool g_keep_current = false;

void saveCurrentInput(int sig) {
  char name[64];
  const int len =
      std::snprintf(name, sizeof name, "fuzz-failure-%d.bin", static_cast<int>(getpid()));
  const int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) {
    (void)!write(fd, g_current.data(), g_current.size());
    close(fd);
    (void)!write(2, "input saved to ", 15);
    (void)!write(2, name, static_cast<size_t>(len));
    (void)!write(2, "\n", 1);
  }
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

void run(const std::string& input) {
  g_current = input;
  if (g_keep_current) std::ofstream("fuzz-current.bin", std::ios::binary) << input;
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

// Byte-level mutations of the kind that break parsers: an overwritten byte, an inserted
// delimiter or keyword, a deleted or repeated run, a piece of another seed, a cut.
class Mutator {
 public:
  Mutator(std::vector<std::string> seeds, uint32_t seed) : seeds_(std::move(seeds)), rng_(seed) {}

  std::string next() {
    std::string s = seeds_[pick(seeds_.size())];
    const size_t edits = 1 + pick(4);
    for (size_t i = 0; i < edits; ++i) edit(s);
    return s;
  }

 private:
  size_t pick(size_t n) {
    return n == 0 ? 0 : std::uniform_int_distribution<size_t>(0, n - 1)(rng_);
  }

  void edit(std::string& s) {
    static const std::string_view kTokens[] = {
        "\r\n",
        "\n",
        "\r",
        " ",
        "\t",
        std::string_view("\0", 1),
        ":",
        ",",
        ";",
        "0",
        "-",
        "\xff",
        "#",
        "\r\n\r\n",
        "chunked",
        "Content-Length: 5\r\n",
        "Transfer-Encoding: chunked\r\n",
        "ffffffffffffffff",
        "HTTP/1.1",
        "[",
        "]",
        "{",
        "}",
        "'",
        "\"",
        "*",
        "&a",
        "!!",
        "- ",
        "~",
    };
    const size_t at = pick(s.size() + 1);
    switch (pick(6)) {
      case 0:
        if (!s.empty()) s[at == s.size() ? at - 1 : at] = static_cast<char>(pick(256));
        break;
      case 1:
        s.insert(at, kTokens[pick(std::size(kTokens))]);
        break;
      case 2:
        s.erase(at, 1 + pick(8));
        break;
      case 3:
        s.insert(at, s.substr(at, 1 + pick(40)));
        break;
      case 4: {
        const std::string& other = seeds_[pick(seeds_.size())];
        const size_t from = pick(other.size() + 1);
        s.insert(at, other.substr(from, 1 + pick(64)));
        break;
      }
      default:
        s.resize(at);
        break;
    }
  }

  std::vector<std::string> seeds_;
  std::mt19937 rng_;
};

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGABRT, saveCurrentInput);
  std::signal(SIGSEGV, saveCurrentInput);
  long runs = 10000;
  uint32_t seed = 1;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.rfind("--runs=", 0) == 0) {
      runs = std::stol(std::string(arg.substr(7)));
    } else if (arg == "--keep-current") {
      g_keep_current = true;
    } else if (arg.rfind("--seed=", 0) == 0) {
      seed = static_cast<uint32_t>(std::stoul(std::string(arg.substr(7))));
    } else {
      files.emplace_back(arg);
    }
  }
  if (!files.empty()) {
    for (const auto& f : files) {
      std::ifstream in(f, std::ios::binary);
      run(std::string(std::istreambuf_iterator<char>(in), {}));
    }
    std::cout << files.size() << " inputs ok\n";
    return 0;
  }
  std::vector<std::string> seeds = fuzzSeeds();
  for (const auto& s : seeds) run(s);
  Mutator mutator(seeds, seed);
  for (long i = 0; i < runs; ++i) run(mutator.next());
  std::cout << seeds.size() << " seeds and " << runs << " mutations (seed " << seed << ") ok\n";
  return 0;
}
