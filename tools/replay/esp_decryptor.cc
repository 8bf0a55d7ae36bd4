#include "tools/replay/esp_decryptor.h"

#include <algorithm>

namespace rl::replay {

Status esp_config(const XfrmState& s, Bytes& keymat, esp::SaConfig& out) {
  out = esp::SaConfig{};
  out.spi = s.spi;
  switch (s.alg) {
    case XfrmState::Alg::aes_gcm:
      if (s.key.size() == 16) out.suite = Suite::aes128_gcm;
      else if (s.key.size() == 32) out.suite = Suite::aes256_gcm;
      else return Status::invalid_argument;  // AES-192-GCM: no engine suite
      break;
    case XfrmState::Alg::chacha20_poly1305:
      out.suite = Suite::chacha20_poly1305;
      break;
    default:
      return Status::invalid_argument;
  }
  if (s.salt.size() != esp::kSaltLen) return Status::invalid_argument;
  keymat = s.key;
  keymat.insert(keymat.end(), s.salt.begin(), s.salt.end());
  out.keymat = keymat;
  out.icv_len = static_cast<uint8_t>(s.icv_bits ? s.icv_bits / 8 : 16);
  out.esn = s.esn;
  out.mode = s.mode == "transport" ? esp::Mode::transport : esp::Mode::tunnel;
  // xfrm's replay-window 0 means "no anti-replay" (the kernel then accepts duplicates);
  // the engine always checks, so take its default. The ESN context carries its own size
  // (replay_window in bits).
  uint32_t w = s.context_replay_window.value_or(s.replay_window);
  if (w == 0) w = 64;
  out.replay_window = std::clamp<uint32_t>(w, 32, 4096);
  // A capture that starts mid-stream: the kernel's state when the keys were dumped
  // (seq-hi/seq = highest received), so that ESN high halves are found.
  if (s.seq || s.seq_hi)
    out.highest_received = uint64_t{s.seq_hi.value_or(0)} << 32 | s.seq.value_or(0);
  return Status::ok;
}

void EspDecryptor::on_esp_packet(const EspPacket& p, VerdictSink& out) {
  if (!p.sa) {
    RecordSink::on_esp_packet(p, out);
    return;
  }
  Verdict v = base_verdict(p.ctx, "esp", p.wire.size());
  v.dir = spi_text(p.spi);
  v.seq = p.seq;
  Sa& sa = sas_[p.sa];
  if (!sa.db && sa.install == Status::ok) {
    Bytes keymat;
    esp::SaConfig cfg;
    sa.install = esp_config(*p.sa, keymat, cfg);
    if (sa.install == Status::ok) {
      auto db = std::make_unique<esp::Sadb>();
      sa.install = db->install(Direction::open, cfg);
      if (sa.install == Status::ok) sa.db = std::move(db);
    }
    std::fill(keymat.begin(), keymat.end(), uint8_t{0});
  }
  if (!sa.db) {
    v.set_status(sa.install == Status::invalid_argument ? Status::unsupported : sa.install);
    out.emit(v);
    return;
  }
  PacketView pv{p.wire.data(), static_cast<uint32_t>(p.wire.size()), 0,
                static_cast<uint32_t>(p.wire.size())};
  esp::OpenInfo info;
  sa.db->open({&pv, 1}, {&info, 1});
  v.set_status(pv.status);
  if (pv.status == Status::ok) {
    ++sa.ok;
    v.seq = info.seq;
    v.type = info.next_header;
    v.set_plaintext(pv.bytes());
  }
  out.emit(v);
}

void EspDecryptor::finish(Diag& diag) {
  for (const auto& [st, sa] : sas_)
    if (!sa.db && sa.install != Status::ok)
      diag.warn(st->where, std::string("SA 0x") + spi_text(st->spi).substr(2) +
                               " cannot be installed: " + to_string(sa.install));
}

}  // namespace rl::replay
