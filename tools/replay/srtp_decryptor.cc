#include "tools/replay/srtp_decryptor.h"

#include <cstring>
#include <string_view>
#include <vector>

#include "core/bytes.h"

namespace rl::replay {

std::optional<srtp::Profile> srtp_profile(const SrtpKey& k) {
  if (!k.suite) return std::nullopt;
  for (srtp::Profile p : srtp::kAllProfiles)
    if (*srtp::profile_info(p).sdes_name && std::string_view(srtp::profile_info(p).sdes_name) == k.suite->name)
      return p;
  return std::nullopt;
}

SrtpDecryptor::~SrtpDecryptor() = default;

namespace {

Status make_session(const SrtpKey& k, std::unique_ptr<srtp::Session>& out) {
  const std::optional<srtp::Profile> prof = srtp_profile(k);
  if (!prof || k.keys.empty() || k.unencrypted_srtp || k.unauthenticated_srtp)
    return Status::unsupported;
  srtp::Policy pol;
  pol.profile = *prof;
  pol.kdr = k.kdr;
  pol.mki_len = k.keys.front().mki_len;
  // A receiver's window: wide, the capture may reorder (RFC 3711 §3.3.2 asks for >= 64).
  pol.replay_window = 1024;
  std::vector<Bytes> mkis(k.keys.size());
  std::vector<srtp::MasterKey> mk;
  for (size_t i = 0; i < k.keys.size(); ++i) {
    const SrtpKeyParam& kp = k.keys[i];
    if (kp.mki_len) {
      mkis[i].resize(kp.mki_len);
      uint64_t v = kp.mki.value_or(0);
      for (size_t j = kp.mki_len; j-- > 0; v >>= 8) mkis[i][j] = static_cast<uint8_t>(v);
    }
    mk.push_back({kp.key, kp.salt, mkis[i]});
  }
  auto s = std::make_unique<srtp::Session>(Direction::open, 256);
  const Status st = s->set_template(pol, mk);
  if (st != Status::ok) return st;
  out = std::move(s);
  return Status::ok;
}

}  // namespace

void SrtpDecryptor::on_srtp_packet(const SrtpPacket& p, VerdictSink& out) {
  if (!p.key) {
    RecordSink::on_srtp_packet(p, out);
    return;
  }
  Verdict v = base_verdict(p.ctx, p.rtcp ? "srtcp" : "srtp", p.wire.size());
  v.dir = spi_text(p.ssrc);
  Ctx& c = ctx_[p.key];
  if (!c.session && c.install == Status::ok) c.install = make_session(*p.key, c.session);
  if (!c.session) {
    v.set_status(c.install);
    out.emit(v);
    return;
  }
  srtp::Session& s = *c.session;
  if (c.ssrcs.insert(p.ssrc).second && p.key->roc) s.set_roc(p.ssrc, p.key->roc);

  PacketView pv{p.wire.data(), static_cast<uint32_t>(p.wire.size()), 0,
                static_cast<uint32_t>(p.wire.size())};
  if (!p.rtcp) {
    // The index this packet will be taken at (RFC 3711 App. A), for the verdict only.
    uint64_t index = uint64_t{p.key->roc} << 16 | p.seq;
    const std::optional<srtp::StreamInfo> si = s.stream_info(p.ssrc);
    if (si && si->any && !srtp::estimate_index(si->highest_index, p.seq, index)) index = 0;
    s.open({&pv, 1});
    v.set_status(pv.status);
    if (pv.status == Status::ok) {
      v.epoch = index >> 16;
      v.seq = index;
      v.set_plaintext(pv.bytes());
    } else {
      v.seq = p.seq;
    }
  } else {
    // E flag + 31-bit index: before the MKI and tag (RFC 3711 §3.4); with AEAD the tag is
    // part of the ciphertext and the index follows it (RFC 7714 §9.3).
    const srtp::ProfileInfo pi = srtp::profile_info(*srtp_profile(*p.key));
    const size_t tail = (pi.aead ? 0 : pi.srtcp_tag_len) + p.key->keys.front().mki_len + 4;
    const bool have_index = p.wire.size() >= 8 + tail;
    const uint32_t word = have_index ? load_be32(p.wire.data() + p.wire.size() - tail) : 0;
    s.open_rtcp({&pv, 1});
    v.set_status(pv.status);
    if (have_index) v.seq = word & 0x7fffffffu;
    if (pv.status == Status::ok) v.set_plaintext(pv.bytes());
  }
  out.emit(v);
}

void SrtpDecryptor::finish(Diag& diag) {
  for (const auto& [k, c] : ctx_)
    if (!c.session && c.install != Status::ok)
      diag.warn(k->where, std::string("SRTP key cannot be used: ") + to_string(c.install));
}

}  // namespace rl::replay
