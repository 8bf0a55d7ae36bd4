#include "tools/replay/ovpn_decryptor.h"

#include <span>

namespace rl::replay {

OvpnDecryptor::Direction_& OvpnDecryptor::state(const UnitContext& c) {
  Direction_& d = dirs_[{c.flow ? c.flow->id : 0, static_cast<int>(c.dir)}];
  if (!d.cands.empty() || keys_.ovpn.empty()) return d;
  std::vector<Suite> suites;
  if (keys_.ovpn.suite) suites.push_back(*keys_.ovpn.suite);
  else suites.assign(std::begin(kAllSuites), std::end(kAllSuites));
  for (Suite s : suites)
    for (bool server : {true, false}) {
      Candidate c;
      openvpn::Config cfg;
      cfg.replay_window = openvpn::kDefaultReplayWindow;
      c.ch = std::make_unique<openvpn::Channel>(cfg);
      c.suite = s;
      c.tls_server = server;
      for (uint8_t id = 0; id < 8; ++id) install(c, id, 0);
      d.cands.push_back(std::move(c));
    }
  return d;
}

// Installs the first key from index `from` on with this key_id; false when there is none.
bool OvpnDecryptor::install(Candidate& c, uint8_t key_id, size_t from) {
  const auto& keys = keys_.ovpn.keys;
  for (size_t i = from; i < keys.size(); ++i) {
    if (keys[i].key_id != key_id) continue;
    const std::span<const uint8_t, openvpn::kKeyMaterialLen> m(keys[i].material.data(), openvpn::kKeyMaterialLen);
    const Limits unlimited{};
    if (c.ch->install(openvpn::key_set(m, c.suite, key_id, c.tls_server), &unlimited) != Status::ok) return false;
    c.at[key_id] = i;
    return true;
  }
  return false;
}

// Opens pk with c; on auth_failed, tries the later keys of the file with the same key_id.
Status OvpnDecryptor::open_with(Candidate& c, openvpn::Packet& pk, uint8_t key_id) {
  const PacketView in = pk.view;
  c.ch->open({&pk, 1});
  while (pk.status() == Status::auth_failed && install(c, key_id, c.at[key_id] + 1)) {
    pk.view = in;
    c.ch->open({&pk, 1});
  }
  return pk.status();
}

void OvpnDecryptor::on_ovpn_packet(const OvpnPacket& p, VerdictSink& out) {
  if ((p.opcode != openvpn::kDataV1 && p.opcode != openvpn::kDataV2) || keys_.ovpn.empty()) {
    RecordSink::on_ovpn_packet(p, out);
    return;
  }
  Verdict v = base_verdict(p.ctx, "openvpn", p.wire.size());
  v.type = p.opcode;
  v.epoch = p.key_id;
  Direction_& d = state(p.ctx);
  openvpn::Packet pk;
  pk.view = PacketView{p.wire.data(), static_cast<uint32_t>(p.wire.size()), 0,
                       static_cast<uint32_t>(p.wire.size())};
  Status st = Status::unknown_epoch;
  if (d.chosen >= 0) {
    st = open_with(d.cands[static_cast<size_t>(d.chosen)], pk, p.key_id);
  } else {
    // Until a packet of this direction authenticates, every reading is tried; the
    // bytes of a failed try are as they arrived.
    for (size_t i = 0; i < d.cands.size(); ++i) {
      st = open_with(d.cands[i], pk, p.key_id);
      if (st == Status::ok) {
        d.chosen = static_cast<int>(i);
        break;
      }
    }
  }
  v.seq = pk.packet_id;
  if (st == Status::ok) {
    v.set_status(st);
    v.set_plaintext(ByteSpan(pk.view.data(), pk.view.length));
  } else if (st == Status::unknown_epoch || (d.chosen < 0 && st == Status::auth_failed)) {
    v.status = kNoKey;  // the file has no key for its key_id, or none of its keys opens it
  } else {
    v.set_status(st);
  }
  out.emit(v);
}

}  // namespace rl::replay
