// Fuzz target: the config loader on arbitrary text. Properties: nothing crashes, a refusal always
// says why, every error points inside the text it was given, and no error comes from an
// exception the loader did not expect ("cannot load: ..."), which would mean a check is missing.
// Seeds: conf/weir.yaml and every YAML example in the docs.
#include <fstream>
#include <iterator>
#include <string>

#include "config/config.h"
#include "fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const auto result = weir::config::loadString(text, "fuzz.yaml");
  FUZZ_CHECK(result.ok() || !result.errors.empty(), "refused without an error");
  int lines = 1;
  for (char c : text) lines += c == '\n';
  for (const auto& e : result.errors) {
    FUZZ_CHECK(!e.message.empty(), "an error without a message");
    FUZZ_CHECK(e.pos.line >= 0 && e.pos.line <= lines + 1, "an error past the end of the text");
    FUZZ_CHECK(e.pos.line == 0 || e.pos.col >= 1, "an error at column 0");
    FUZZ_CHECK(e.message.rfind("cannot load:", 0) != 0, "an unexpected exception in the loader");
  }
  return 0;
}

std::vector<std::string> fuzzSeeds() {
  auto read = [](const std::string& path) {
    std::ifstream in(std::string(WEIR_SOURCE_DIR) + "/" + path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  std::vector<std::string> seeds{read("conf/weir.yaml")};
  for (const char* doc : {"README.md", "docs/configuration.md", "docs/health.md",
                          "docs/operations.md", "docs/routing.md", "docs/tls.md"}) {
    const std::string md = read(doc);
    for (size_t at = md.find("```yaml\n"); at != std::string::npos; at = md.find("```yaml\n", at)) {
      at += 8;
      const size_t end = md.find("```", at);
      if (end == std::string::npos) break;
      seeds.push_back(md.substr(at, end - at));
      at = end + 3;
    }
  }
  return seeds;
}
