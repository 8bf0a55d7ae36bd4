// OpenVPN data-channel decryption for rl-replay on top of rl::openvpn::Channel, with the
// key material of --ovpn-keys (ovpn_keys.h).
//
// Each direction of each flow gets receiving Channels: one per way to read the material
// (the receiver as the TLS server, opening the client's half, or as the TLS client) and,
// when the key file names no cipher, per AEAD. Every Channel has each key_id's first key
// installed; the first data packet that authenticates decides which Channel the direction
// keeps. A key_id used again after eight renegotiations: when a packet under it fails to
// authenticate and the file has a later key with that key_id, the later key is installed
// and the packet tried again (keys only move forward, as OpenVPN's do).
//
// Replay window: OpenVPN's default, 64 packet IDs per key (--replay-window 64), so that a
// reordered packet is judged as the real receiver would.
//
// Verdict: proto "openvpn", dir = client/server of the flow (the first speaker is the
// client), type = the opcode.
// - Control channel (opcodes other than 6 and 9): not_protected, len and sha256 of the
//   whole datagram.
// - Data (P_DATA_V1, P_DATA_V2): epoch = key_id, seq = packet ID, status = Channel::open's
//   (no_key when the file has no key for its key_id, or, before a packet of the
//   direction authenticated, when none opens it), len and sha256 of the plaintext (the
//   tunnel's IP packet).
#pragma once
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "core/openvpn.h"
#include "tools/replay/record_sink.h"

namespace rl::replay {

class OvpnDecryptor : public RecordSink {
 public:
  using RecordSink::RecordSink;
  void on_ovpn_packet(const OvpnPacket& p, VerdictSink& out) override;

 private:
  struct Candidate {
    std::unique_ptr<openvpn::Channel> ch;
    Suite suite;
    bool tls_server;             // the receiver's role
    std::array<size_t, 8> at{};  // per key_id: index into keys_.ovpn.keys installed
  };
  struct Direction_ {
    std::vector<Candidate> cands;
    int chosen = -1;
  };
  Direction_& state(const UnitContext& c);
  bool install(Candidate& c, uint8_t key_id, size_t from);
  Status open_with(Candidate& c, openvpn::Packet& pk, uint8_t key_id);

  std::map<std::pair<uint32_t, int>, Direction_> dirs_;  // (flow id, dir)
};

}  // namespace rl::replay
