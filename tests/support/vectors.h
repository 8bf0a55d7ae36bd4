// Test support: hex, the shared vectors folder, JSON loading.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace rl::test {

using Bytes = std::vector<uint8_t>;

Bytes hex(std::string_view s);  // aborts the test on bad hex
std::string to_hex(const uint8_t* p, size_t n);
inline std::string to_hex(const Bytes& b) { return to_hex(b.data(), b.size()); }

// ../shared beside the checkout (RL_SHARED_DIR overrides).
std::filesystem::path shared_dir();
// Loads ../shared/vectors/<name>; nullopt when missing.
std::optional<nlohmann::json> load_vectors(std::string_view name);
// Loads ../shared/vectors/wycheproof/<name>; nullopt when missing.
std::optional<nlohmann::json> load_wycheproof(std::string_view name);

// Deterministic pseudo-random bytes for round trips and differential tests.
Bytes random_bytes(size_t n, uint64_t seed);

}  // namespace rl::test

// Skips the current test with a message saying where the file was expected.
#define RL_SKIP_IF_MISSING(opt, what)                                                   \
  if (!(opt)) {                                                                         \
    GTEST_SKIP() << what << " not found under " << rl::test::shared_dir().string()      \
                 << "/vectors (set RL_SHARED_DIR to the shared folder)";                 \
  }
