// Small shared types of the replay tool: addresses, directions, protocols, diagnostics.
#pragma once
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rl::replay {

using Bytes = std::vector<uint8_t>;
using ByteSpan = std::span<const uint8_t>;

struct IpAddr {
  uint8_t family = 0;  // 4 or 6; 0 = unset
  uint8_t b[16] = {};  // IPv4 in the first 4 bytes
  bool operator==(const IpAddr& o) const;
  bool operator<(const IpAddr& o) const;
};
std::string to_string(const IpAddr& a);
bool parse_ip(std::string_view s, IpAddr& out);  // dotted quad or RFC 4291 text

// Who sent a record: the endpoint that spoke first (or sent the SYN) is the client.
enum class Dir : uint8_t { client = 0, server = 1 };
constexpr const char* to_string(Dir d) { return d == Dir::client ? "client" : "server"; }

// What a flow (or one datagram of it) carries.
enum class Proto : uint8_t { unknown, tls, dtls, quic, srtp, esp, esp_udp, wireguard, openvpn, count };
constexpr const char* to_string(Proto p) {
  switch (p) {
    case Proto::unknown: return "unknown";
    case Proto::tls: return "tls";
    case Proto::dtls: return "dtls";
    case Proto::quic: return "quic";
    case Proto::srtp: return "srtp";
    case Proto::esp: return "esp";
    case Proto::esp_udp: return "esp";
    case Proto::wireguard: return "wireguard";
    case Proto::openvpn: return "openvpn";
    case Proto::count: break;
  }
  return "?";
}

// Messages about bad input, each naming where ("file:line" or "CAPTURE: frame N").
// Nothing here throws; callers check stop() to honour --fail-fast.
class Diag {
 public:
  explicit Diag(std::FILE* out = stderr) : out_(out) {}
  void error(std::string_view where, std::string_view msg);
  void warn(std::string_view where, std::string_view msg);
  void note(std::string_view where, std::string_view msg);
  size_t errors() const { return errors_; }
  size_t warnings() const { return warnings_; }
  bool stop() const { return fail_fast && errors_ > 0; }
  const std::vector<std::string>& messages() const { return messages_; }
  // The progress bar shares stderr: it is cleared before a message is printed.
  void set_before_print(void (*fn)(void*), void* arg) { before_ = fn; before_arg_ = arg; }
  bool fail_fast = false;
  bool quiet = false;        // keep messages but print nothing (tests)
  size_t max_printed = 200;  // the rest are counted, not printed

 private:
  void add(const char* kind, std::string_view where, std::string_view msg);
  std::FILE* out_;
  size_t errors_ = 0, warnings_ = 0, printed_ = 0;
  std::vector<std::string> messages_;
  void (*before_)(void*) = nullptr;
  void* before_arg_ = nullptr;
};

// Reads a whole key file into `text`. False, with "cannot open <what>" against
// the path, when it cannot be opened.
bool read_key_file(const std::string& path, const char* what, Diag& diag, std::string& text);

std::string hex(ByteSpan b);
// Strict hex (even length, [0-9a-fA-F], optional 0x prefix when allow_0x).
bool parse_hex(std::string_view s, Bytes& out, bool allow_0x = false);
// Strict base64 (RFC 4648 §4, padding optional at the very end).
bool parse_base64(std::string_view s, Bytes& out);
// Decimal or 0x-hex unsigned integer, whole string.
bool parse_uint(std::string_view s, uint64_t& out);
std::vector<std::string_view> split_ws(std::string_view s);
std::string_view trim(std::string_view s);

}  // namespace rl::replay
