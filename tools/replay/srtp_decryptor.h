// SRTP / SRTCP decryption for rl-replay (RFC 3711, RFC 6188, RFC 7714) on top of
// rl::srtp::Session.
//
// Each --srtp-keys line (an SDES a=crypto attribute, RFC 4568) becomes one receiving
// Session whose template carries the suite's policy and the master key(s) (with MKIs); the
// streams (SSRCs) it keys appear on first use, with the line's roc= as their starting
// rollover counter. SRTP and SRTCP of one SSRC share the stream, as RFC 3711 §3.2.3 says.
//
// Verdict: dir = SSRC (0x%08x); SRTP: epoch = ROC, seq = the 48-bit packet index
// (ROC * 65536 + SEQ); SRTCP: seq = the 31-bit SRTCP index. sha256 over the whole
// unprotected packet as an RTP stack receives it (header + payload; no tag, MKI or SRTCP
// index).
#pragma once
#include <map>
#include <memory>
#include <set>

#include "core/srtp.h"
#include "tools/replay/record_sink.h"

namespace rl::replay {

// The engine profile and policy of a key line (nullopt: a suite the engine does not run).
std::optional<srtp::Profile> srtp_profile(const SrtpKey& k);

class SrtpDecryptor : public RecordSink {
 public:
  using RecordSink::RecordSink;
  ~SrtpDecryptor() override;
  void on_srtp_packet(const SrtpPacket& p, VerdictSink& out) override;
  void finish(Diag& diag) override;

 private:
  struct Ctx {
    std::unique_ptr<srtp::Session> session;
    Status install = Status::ok;
    std::set<uint32_t> ssrcs;  // streams already given their ROC
  };
  std::map<const SrtpKey*, Ctx> ctx_;
};

}  // namespace rl::replay
