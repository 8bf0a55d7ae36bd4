// WireGuard decryption for rl-replay (the WireGuard paper, §5.4) on top of
// rl::wireguard::Peer, with the transport keys recomputed from the captured handshakes and
// the private keys of a Wireshark WireGuard key log (wg_keys.h).
//
// Handshakes: an initiation (type 1) is kept by its sender index; the response (type 2)
// names it by its receiver index (§5.4.3), and wg_derive() redoes the Noise IK handshake
// from the --wg-keylog entries (§5.4.2-§5.4.5). The two are matched by index over the whole
// capture, never by address or flow: a peer's endpoint may change at any packet (§2.1
// endpoints and roaming; RFC 8922 mobility), so a response may come from elsewhere.
//
// Sessions: a derived handshake gives two receiving Peers, one per direction, keyed by the
// receiver index their transport data carries (the responder's index for initiator-to-
// responder messages, the initiator's for the other way). Every session is kept: a message
// sent under an old session after a rekey still opens (its receiver kept that keypair as
// previous), and sessions of several peer pairs coexist.
//
// Verdict: proto "wireguard", dir = client/server of the flow (the first speaker is the
// client), type = the message type.
// - Handshake messages (1, 2, 3): not_protected, epoch = the receiver index (response and
//   cookie reply), len and sha256 of the whole message.
// - Transport data (4): epoch = the receiver index, seq = the counter, status = Peer::open's
//   (no_key when no derived session has that receiver index; malformed when the message
//   authenticated but holds no IP packet, which the tunnel would drop), len and sha256 over
//   the inner packet after trim_padding() (what the tunnel delivers; a keepalive is len 0).
#pragma once
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/wireguard.h"
#include "tools/replay/record_sink.h"

namespace rl::replay {

// Reads a --wg-keylog file and appends its entries to `out`. A bad line is an error named
// "FILE:LINE" as the other key files name theirs; false then (parse_wg_keylog takes a file
// whole or not at all) and when the file cannot be opened.
bool load_wg_keylog(const std::string& path, std::vector<WgKeylogEntry>& out, Diag& diag);

class WgDecryptor : public RecordSink {
 public:
  using RecordSink::RecordSink;
  ~WgDecryptor() override;
  void on_wg_message(const WgMessage& m, VerdictSink& out) override;
  void finish(Diag& diag) override;

  // Receiving keypairs installed so far (two per derived handshake; tests).
  size_t receivers() const { return receivers_.size(); }

 private:
  struct Receiver {
    std::unique_ptr<wireguard::Peer> peer;
    Key32 recv_key{};
  };
  // A response the key log could not turn into a session, for finish().
  struct Missed {
    uint64_t frame = 0;
    std::string flow;
    uint32_t receiver_index = 0;
    bool initiation_seen = false;
  };

  void keep_initiation(const WgMessage& m);
  void on_response(const WgMessage& m);
  void add_receiver(uint32_t index, uint32_t remote, const Key32& recv, const Key32& send);
  void on_transport(const WgMessage& m, VerdictSink& out);

  // Initiations by sender index, the oldest dropped past kMaxInitiations.
  static constexpr size_t kMaxInitiations = 4096;
  std::unordered_map<uint32_t, Bytes> initiations_;
  std::deque<uint32_t> initiation_order_;
  std::unordered_map<uint32_t, Receiver> receivers_;  // by receiver index
  std::vector<Missed> missed_;
  uint64_t no_session_ = 0;  // transport messages of no derived session
};

}  // namespace rl::replay
