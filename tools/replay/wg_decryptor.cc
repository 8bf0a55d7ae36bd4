#include "tools/replay/wg_decryptor.h"

#include <openssl/mem.h>

#include <charconv>
#include <optional>
#include <sstream>

namespace rl::replay {

namespace {

// Limits for a receiving keypair. The age limits (Reject-After-Time, the WireGuard paper
// §6.1) are read on the Peer's clock, which here is the time the replay takes, not the
// time between the captured handshake and a message: they are off. The message limits
// stay (a counter at Reject-After-Messages is refused before any crypto, §6.2).
Limits receiver_limits() {
  Limits l = default_limits(Protocol::wireguard, Suite::chacha20_poly1305);
  l.soft_age_s = kUnlimited;
  l.hard_age_s = kUnlimited;
  l.soft_records = kUnlimited;  // "rekey now" events: nobody here would act on them
  return l;
}

// parse_wg_keylog's "line N: what" -> ("FILE:N", "what"), so that the error reads as the
// other key files' do; anything else is named by the file alone.
std::pair<std::string, std::string> split_line_error(const std::string& path, const std::string& err) {
  constexpr std::string_view kLine = "line ";
  const size_t colon = err.find(':');
  if (err.compare(0, kLine.size(), kLine) == 0 && colon != std::string::npos) {
    uint64_t n = 0;
    const char* b = err.data() + kLine.size();
    const auto r = std::from_chars(b, err.data() + colon, n);
    if (r.ec == std::errc() && r.ptr == err.data() + colon)
      return {path + ":" + std::to_string(n), std::string(trim(std::string_view(err).substr(colon + 1)))};
  }
  return {path, err};
}

// The driver fills the indices of each type (record_sink.h); a unit without them cannot
// be routed, and is no WireGuard message.
bool routable(const WgMessage& m) {
  switch (m.type) {
    case 1: return m.sender_index.has_value();
    case 2: return m.sender_index && m.receiver_index;
    case 3:
    case wireguard::kTransportData: return m.receiver_index.has_value();
    default: return false;
  }
}

}  // namespace

bool load_wg_keylog(const std::string& path, std::vector<WgKeylogEntry>& out, Diag& diag) {
  std::string text;
  if (!read_key_file(path, "WireGuard key log", diag, text)) return false;
  std::istringstream in(std::move(text));
  std::string err;
  const bool ok = parse_wg_keylog(in, out, err);
  if (!ok) {
    const auto [where, msg] = split_line_error(path, err);
    diag.error(where, msg);
  }
  return ok;
}

WgDecryptor::~WgDecryptor() {
  // The Peers wipe their own keys; the copies kept to recognise a handshake seen again go too.
  for (auto& [idx, r] : receivers_) OPENSSL_cleanse(r.recv_key.data(), r.recv_key.size());
}

void WgDecryptor::on_wg_message(const WgMessage& m, VerdictSink& out) {
  if (!routable(m)) {
    Verdict v = base_verdict(m.ctx, "wireguard", m.wire.size());
    v.set_status(Status::malformed);
    out.emit(v);
    return;
  }
  switch (m.type) {
    case 1: keep_initiation(m); break;
    case 2: on_response(m); break;
    case wireguard::kTransportData: on_transport(m, out); return;
    default: break;  // a cookie reply (§5.4.7) changes no keys
  }
  RecordSink::on_wg_message(m, out);  // handshake messages: not_protected
}

void WgDecryptor::keep_initiation(const WgMessage& m) {
  // A retransmitted initiation has a new sender index (and ephemeral key, §6.4); one with
  // a known index replaces the old one, as the response will name the latest.
  const uint32_t idx = *m.sender_index;
  auto [it, fresh] = initiations_.try_emplace(idx);
  it->second.assign(m.wire.begin(), m.wire.end());
  if (!fresh) return;
  initiation_order_.push_back(idx);
  if (initiation_order_.size() > kMaxInitiations) {
    initiations_.erase(initiation_order_.front());
    initiation_order_.pop_front();
  }
}

void WgDecryptor::on_response(const WgMessage& m) {
  if (keys_.wg.empty()) return;
  const uint32_t init_idx = *m.receiver_index;
  const auto it = initiations_.find(init_idx);
  if (it == initiations_.end()) {
    missed_.push_back({m.ctx.frame, m.ctx.flow ? m.ctx.flow->label() : "", init_idx, false});
    return;
  }
  std::optional<WgSession> s = wg_derive(keys_.wg, it->second, m.wire);
  if (!s) {
    missed_.push_back({m.ctx.frame, m.ctx.flow ? m.ctx.flow->label() : "", init_idx, true});
    return;
  }
  // Initiator to responder messages carry the responder's index and open under i2r (the
  // initiator's T_send, §5.4.5); the other way round, the initiator's index and r2i.
  add_receiver(s->responder_index, s->initiator_index, s->i2r, s->r2i);
  add_receiver(s->initiator_index, s->responder_index, s->r2i, s->i2r);
  OPENSSL_cleanse(s->i2r.data(), s->i2r.size());
  OPENSSL_cleanse(s->r2i.data(), s->r2i.size());
}

void WgDecryptor::add_receiver(uint32_t index, uint32_t remote, const Key32& recv, const Key32& send) {
  Receiver& r = receivers_[index];
  // The same handshake again (a duplicated response): keep the Peer and its replay window.
  if (r.peer && r.recv_key == recv) return;
  // Otherwise a new handshake took the index (the old session's is gone at its receiver
  // once the index is reused): a fresh Peer for it.
  auto peer = std::make_unique<wireguard::Peer>();
  wireguard::Keypair kp;
  kp.local_index = index;
  kp.remote_index = remote;
  kp.recv_key = recv;
  kp.send_key = send;
  // initiator = true: current at once. The real responder keeps its keypair as next until
  // the initiator's first transport message authenticates under it, and may not send
  // before (§5.4.5: the response alone does not confirm the session). The replay tool
  // observes both ends and judges each message on its own; it does not enforce who may
  // send first, so neither of its receiving Peers waits for a confirmation.
  kp.initiator = true;
  const Limits lim = receiver_limits();
  if (peer->install(kp, &lim) != Status::ok) {
    receivers_.erase(index);  // keys are 32 bytes and the Peer is new: cannot happen
    return;
  }
  r.peer = std::move(peer);
  r.recv_key = recv;
}

void WgDecryptor::on_transport(const WgMessage& m, VerdictSink& out) {
  Verdict v = base_verdict(m.ctx, "wireguard", m.wire.size());
  v.type = static_cast<int>(m.type);
  v.epoch = *m.receiver_index;
  v.seq = m.counter;
  const auto it = receivers_.find(*m.receiver_index);
  if (it == receivers_.end()) {
    ++no_session_;
    v.status = kNoKey;
    out.emit(v);
    return;
  }
  PacketView pv{m.wire.data(), static_cast<uint32_t>(m.wire.size()), 0,
                static_cast<uint32_t>(m.wire.size())};
  it->second.peer->open({&pv, 1});
  // The tunnel delivers the inner packet without its zero padding (§5.4.6); a plaintext
  // that authenticated but is no IP packet is dropped there, so it is malformed here.
  if (pv.status == Status::ok) pv.status = wireguard::trim_padding(pv);
  v.set_status(pv.status);
  if (pv.status == Status::ok) v.set_plaintext(pv.bytes());
  out.emit(v);
}

void WgDecryptor::finish(Diag& diag) {
  for (const Missed& m : missed_) {
    const std::string idx = spi_text(m.receiver_index);
    diag.warn(m.flow, "frame " + std::to_string(m.frame) + ": WireGuard handshake response to " + idx +
                          (m.initiation_seen ? ": no --wg-keylog entry derives its keys"
                                             : ": its initiation (sender index " + idx +
                                                   ") is not in the capture, so its keys cannot be derived"));
  }
  if (no_session_ && !keys_.wg.empty())
    diag.warn("wireguard", std::to_string(no_session_) +
                               " transport message(s) name a receiver index of no derived session "
                               "(handshake not captured, or not in the key log): no_key");
}

}  // namespace rl::replay
