// One verdict per record/packet, and its JSON Lines form (issue 7 "Output").
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>

#include "simd/status.h"
#include "tools/replay/common.h"

namespace rl::replay {

// Statuses beyond rl::Status that only the replay tool gives.
inline constexpr const char* kNoKey = "no_key";      // no key for this record in the key files
inline constexpr const char* kSkipped = "skipped";   // key present, no decryptor for it (yet)

struct Verdict {
  uint64_t frame = 0;      // 1-based frame that delivered the record's last byte
  uint32_t index = 0;      // 0-based position among records completing in that frame
  const char* proto = "";  // tls13 tls12 tls dtls12 dtls13 quic srtp srtcp esp
  std::string dir;         // client | server | 0x%08x (SPI / SSRC)
  std::optional<uint64_t> epoch, seq;
  const char* status = "";  // rl::to_string(Status) or kNoKey / kSkipped
  std::optional<uint32_t> len;                     // plaintext length
  // Of the plaintext, computed on first use (digest()): the summary never needs it, so a
  // run without --json / --expect hashes nothing. Read it through digest() while the
  // plaintext is alive (inside emit); a copy made after that keeps what was computed.
  mutable std::optional<std::array<uint8_t, 32>> sha256;
  std::optional<int> type;                         // content type / packet type if any
  // Extra fields (not in the list; ignored by --expect unless present there):
  uint32_t wire_len = 0;  // bytes of the record/packet on the wire
  uint32_t flow = 0;      // flow id (order of first appearance)
  // Not serialised: decrypted bytes for --write-plaintext (status ok only).
  ByteSpan plaintext;

  void set_status(Status s) { status = to_string(s); }
  // Sets len and keeps the span (for digest() and --write-plaintext); no hashing here.
  void set_plaintext(ByteSpan plain) {
    len = static_cast<uint32_t>(plain.size());
    plaintext = plain;
    has_plaintext = true;
  }
  // sha256 of the plaintext set by set_plaintext (computed once), nullopt when none.
  const std::optional<std::array<uint8_t, 32>>& digest() const;
  bool has_plaintext = false;
};

// One JSON object on one line, no trailing newline.
std::string to_json(const Verdict& v);
void append_json(std::string& out, const Verdict& v);  // the same, appended to `out`
// A flat JSON object as key -> raw value text (strings unescaped, without quotes; numbers
// as written; "null"/"true"/"false"). false if the line is not such an object.
bool parse_flat_json(std::string_view line, std::map<std::string, std::string>& out,
                     std::string* err = nullptr);
// The same key -> value view of a verdict, for comparisons.
std::map<std::string, std::string> fields(const Verdict& v);

std::string spi_text(uint32_t v);  // 0x%08x

class VerdictSink {
 public:
  virtual ~VerdictSink() = default;
  virtual void emit(const Verdict& v) = 0;
  // Whether emit() reads the digest: a decryptor that emits a burst at once then hashes
  // its plaintexts in pairs first (compute_digests), or not at all.
  virtual bool wants_digest() const { return true; }
};

// Fills the digest of every verdict that has a plaintext and none yet, two at a time
// (sha256_pair).
void compute_digests(std::span<Verdict* const> verdicts);

}  // namespace rl::replay
