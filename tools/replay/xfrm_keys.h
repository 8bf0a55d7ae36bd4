// ESP security associations from the text `ip xfrm state` prints (iproute2), so users paste
// what their kernel shows. AEAD algorithms only: rfc4106(gcm(aes)) (RFC 4106) and
// rfc7539esp(chacha20,poly1305) (RFC 7634); the key is KEY || 4-byte salt.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tools/replay/common.h"

namespace rl::replay {

struct XfrmState {
  IpAddr src, dst;
  uint32_t spi = 0;
  bool have_spi = false;
  uint32_t reqid = 0;
  std::string mode;  // "tunnel", "transport", ...
  enum class Alg : uint8_t { none, aes_gcm, chacha20_poly1305 } alg = Alg::none;
  Bytes key;         // cipher key without the salt
  Bytes salt;        // 4 bytes
  uint32_t icv_bits = 0;
  uint32_t replay_window = 0;
  bool esn = false;
  struct Encap {
    std::string type;  // espinudp
    uint16_t sport = 0, dport = 0;
  };
  std::optional<Encap> encap;
  // "anti-replay [esn] context:" lines, so a capture starting mid-stream decrypts.
  std::optional<uint32_t> seq_hi, seq, oseq_hi, oseq;
  std::optional<uint32_t> context_replay_window;
  std::string where;  // "file:line" of the "src ... dst ..." line
};

class XfrmKeys {
 public:
  size_t add_text(std::string_view text, const std::string& source, Diag& diag);
  bool load_file(const std::string& path, Diag& diag);
  const std::vector<XfrmState>& states() const { return states_; }
  const XfrmState* find(uint32_t spi, const IpAddr* dst = nullptr) const;

 private:
  void finish(std::optional<XfrmState>& cur, bool alg_reported, Diag& diag);
  std::vector<XfrmState> states_;
};

}  // namespace rl::replay
