// ESP decryption for rl-replay (RFC 4303 with RFC 4106 AES-GCM / RFC 7634 ChaCha20-Poly1305,
// plain IP protocol 50 or RFC 3948 UDP-encapsulated) on top of rl::esp::Sadb.
//
// Each `ip xfrm state` entry of --xfrm becomes an inbound SA on first use: key + salt, ICV
// length, replay window, ESN, tunnel/transport mode, and the "anti-replay [esn] context"
// seq-hi/seq as the highest sequence number already received, so that a capture starting
// mid-stream decrypts (ESN high halves are reconstructed from it, RFC 4303 App. A2).
//
// Verdict: dir = SPI (0x%08x), seq = full sequence number (ESN: 64 bits), sha256 over the
// payload data (the inner IP packet in tunnel mode; no padding, no trailer, no ICV), type =
// the next header.
#pragma once
#include <map>
#include <memory>

#include "core/esp.h"
#include "tools/replay/record_sink.h"

namespace rl::replay {

// The SaConfig for one xfrm state; `keymat` receives key || salt (the config points into it).
// invalid_argument for what the engine cannot run (no AEAD, bad key length...).
Status esp_config(const XfrmState& s, Bytes& keymat, esp::SaConfig& out);

class EspDecryptor : public RecordSink {
 public:
  using RecordSink::RecordSink;
  void on_esp_packet(const EspPacket& p, VerdictSink& out) override;
  void finish(Diag& diag) override;

 private:
  struct Sa {
    std::unique_ptr<esp::Sadb> db;
    Status install = Status::ok;
    uint64_t ok = 0;
  };
  std::map<const XfrmState*, Sa> sas_;
};

}  // namespace rl::replay
