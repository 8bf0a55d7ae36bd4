#include "tests/support/vectors.h"

#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>

namespace rl::test {

Bytes hex(std::string_view s) {
  auto nib = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  Bytes out;
  std::string clean;
  for (char c : s)
    if (c != ' ' && c != '\n' && c != ':') clean.push_back(c);
  if (clean.size() % 2 != 0) {
    ADD_FAILURE() << "odd-length hex: " << s;
    return out;
  }
  for (size_t i = 0; i < clean.size(); i += 2) {
    const int hi = nib(clean[i]), lo = nib(clean[i + 1]);
    if (hi < 0 || lo < 0) {
      ADD_FAILURE() << "bad hex: " << s;
      return {};
    }
    out.push_back(static_cast<uint8_t>(hi << 4 | lo));
  }
  return out;
}

std::string to_hex(const uint8_t* p, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s.push_back(d[p[i] >> 4]);
    s.push_back(d[p[i] & 15]);
  }
  return s;
}

std::filesystem::path shared_dir() {
  if (const char* env = std::getenv("RL_SHARED_DIR"); env && *env) return env;
  return RL_SHARED_DIR;
}

static std::optional<nlohmann::json> load(const std::filesystem::path& p) {
  std::ifstream in(p);
  if (!in) return std::nullopt;
  return nlohmann::json::parse(in);
}

std::optional<nlohmann::json> load_vectors(std::string_view name) {
  return load(shared_dir() / "vectors" / name);
}

std::optional<nlohmann::json> load_wycheproof(std::string_view name) {
  return load(shared_dir() / "vectors" / "wycheproof" / name);
}

Bytes random_bytes(size_t n, uint64_t seed) {
  Bytes b(n);
  uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b[i] = static_cast<uint8_t>(x >> 24);
  }
  return b;
}

}  // namespace rl::test
