#include "tools/replay/quic_decryptor.h"

#include <algorithm>
#include <array>
#include <optional>

#include "core/bytes.h"
#include "core/quic.h"

namespace rl::replay {

namespace {

using quic::Level;

// Only the start of each direction's Initial CRYPTO stream is needed: the ClientHello's
// random sits at bytes 6..37, the ServerHello's cipher suite right after its session id
// (RFC 8446 §4.1.2-4.1.3), so at most 6 + 32 + 1 + 32 + 2 bytes.
constexpr size_t kHelloPrefix = 128;

std::optional<Level> level_of(QuicType t) {
  switch (t) {
    case QuicType::initial: return Level::initial;
    case QuicType::zero_rtt: return Level::zero_rtt;
    case QuicType::handshake: return Level::handshake;
    case QuicType::one_rtt: return Level::one_rtt;
    default: return std::nullopt;
  }
}

std::optional<Suite> suite_of(uint16_t cs) {
  switch (cs) {
    case 0x1301: return Suite::aes128_gcm;
    case 0x1302: return Suite::aes256_gcm;
    case 0x1303: return Suite::chacha20_poly1305;
    default: return std::nullopt;  // TLS_AES_128_CCM_SHA256 and friends: no engine suite
  }
}

}  // namespace

struct QuicDecryptor::Conn {
  // rx[d] opens the packets sent in direction d (so rx[client] plays the server).
  std::array<std::unique_ptr<quic::PacketProtection>, 2> rx;
  std::array<std::array<bool, 4>, 2> installed{};
  uint32_t version = 0;
  Bytes initial_dcid;
  // Initial CRYPTO stream prefix per direction.
  std::array<std::array<uint8_t, kHelloPrefix>, 2> crypto{};
  std::array<std::array<bool, kHelloPrefix>, 2> have{};
  std::optional<std::array<uint8_t, 32>> client_random;
  std::optional<uint16_t> cipher_suite;
  bool secrets_done = false;   // key log lookup made (found or not)
  bool unsupported_suite = false;

  Conn() {
    for (auto& r : rx) r = std::make_unique<quic::PacketProtection>();
  }

  bool prefix(Dir d, size_t n) const {
    const auto& h = have[static_cast<size_t>(d)];
    return n <= kHelloPrefix && std::all_of(h.begin(), h.begin() + n, [](bool b) { return b; });
  }

  void crypto_data(Dir d, uint64_t off, ByteSpan data) {
    auto& buf = crypto[static_cast<size_t>(d)];
    auto& h = have[static_cast<size_t>(d)];
    for (size_t i = 0; i < data.size() && off + i < kHelloPrefix; ++i) {
      buf[off + i] = data[i];
      h[off + i] = true;
    }
  }

  // RFC 9000 §19: the frames an Initial may carry (§12.4 Table 3): PADDING, PING, ACK,
  // CRYPTO, CONNECTION_CLOSE. Anything else ends the walk (the packet is still reported).
  void walk_initial(Dir d, ByteSpan b) {
    while (!b.empty()) {
      uint64_t type = 0, a = 0, n = 0;
      if (!read_varint(b, type)) return;
      if (type == 0x00 || type == 0x01) continue;
      if (type == 0x02 || type == 0x03) {
        uint64_t count = 0;
        if (!read_varint(b, a) || !read_varint(b, a) || !read_varint(b, count) ||
            !read_varint(b, a))
          return;
        for (uint64_t i = 0; i < count; ++i)
          if (!read_varint(b, a) || !read_varint(b, a)) return;
        if (type == 0x03)
          for (int i = 0; i < 3; ++i)
            if (!read_varint(b, a)) return;
      } else if (type == 0x06) {
        if (!read_varint(b, a) || !read_varint(b, n) || n > b.size()) return;
        crypto_data(d, a, b.first(static_cast<size_t>(n)));
        b = b.subspan(static_cast<size_t>(n));
      } else if (type == 0x1c) {
        if (!read_varint(b, a) || !read_varint(b, a) || !read_varint(b, n) || n > b.size()) return;
        b = b.subspan(static_cast<size_t>(n));
      } else {
        return;
      }
    }
  }

  void learn_hellos() {
    const auto& c = crypto[0];
    if (!client_random && prefix(Dir::client, 38) && c[0] == 1)
      client_random.emplace(), std::copy(c.begin() + 6, c.begin() + 38, client_random->begin());
    const auto& s = crypto[1];
    if (!cipher_suite && prefix(Dir::server, 39) && s[0] == 2) {
      const size_t sid = s[38];
      if (prefix(Dir::server, 39 + sid + 2)) cipher_suite = load_be16(s.data() + 39 + sid);
    }
  }

  void install(Dir d, Level l, Suite suite, const Secret* sec) {
    if (!sec) return;
    auto& r = *rx[static_cast<size_t>(d)];
    if (r.install(l, Direction::open, suite, sec->value) == Status::ok)
      installed[static_cast<size_t>(d)][static_cast<size_t>(l)] = true;
  }

  void install_secrets(const KeyLog& log) {
    if (secrets_done || !client_random || !cipher_suite) return;
    secrets_done = true;
    const SessionSecrets* ss = log.find(*client_random);
    const std::optional<Suite> suite = suite_of(*cipher_suite);
    if (!suite) {
      unsupported_suite = true;
      return;
    }
    if (!ss) return;
    install(Dir::client, Level::handshake, *suite, ss->get(SecretLabel::client_handshake_traffic));
    install(Dir::server, Level::handshake, *suite, ss->get(SecretLabel::server_handshake_traffic));
    install(Dir::client, Level::zero_rtt, *suite, ss->get(SecretLabel::client_early_traffic));
    install(Dir::client, Level::one_rtt, *suite, ss->get(SecretLabel::client_traffic_0));
    install(Dir::server, Level::one_rtt, *suite, ss->get(SecretLabel::server_traffic_0));
  }

  void install_initial(uint32_t v, ByteSpan dcid) {
    initial_dcid.assign(dcid.begin(), dcid.end());
    version = v;
    const auto qv = static_cast<quic::Version>(v);
    for (int d = 0; d < 2; ++d) {
      installed[d][static_cast<size_t>(Level::initial)] =
          rx[d]->install_initial(qv, dcid, /*is_server=*/d == 0) == Status::ok;
      rx[d]->set_version(qv);
      // A passive observer cannot see the transport parameters before decrypting them;
      // what the endpoints accepted is what we accept (RFC 9287 greasing).
      rx[d]->set_grease_quic_bit(true);
    }
  }
};

QuicDecryptor::QuicDecryptor(const Keys& keys) : RecordSink(keys) {}
QuicDecryptor::~QuicDecryptor() = default;

QuicDecryptor::Conn& QuicDecryptor::conn_of(const QuicPacket& p) {
  if (p.conn == last_qc_) return *last_conn_;
  auto& c = conns_[p.conn];
  if (!c) {
    c = std::make_unique<Conn>();
    if (!p.conn->original_dcid.empty())
      c->install_initial(p.conn->version ? p.conn->version : p.info.version,
                         p.conn->original_dcid);
  }
  last_qc_ = p.conn;
  last_conn_ = c.get();
  return *c;
}

void QuicDecryptor::on_quic_packet(const QuicPacket& p, VerdictSink& out) {
  const std::optional<Level> level = level_of(p.info.type);
  const bool v1_or_v2 = p.info.type == QuicType::one_rtt || p.info.version == kQuicV1 ||
                        p.info.version == kQuicV2;
  if (!p.conn || p.info.type == QuicType::version_negotiation || !v1_or_v2) {
    flush(out);
    RecordSink::on_quic_packet(p, out);
    return;
  }
  Conn& c = conn_of(p);
  const size_t d = static_cast<size_t>(p.ctx.dir);
  if (p.info.type == QuicType::one_rtt && c.installed[d][static_cast<size_t>(Level::one_rtt)]) {
    // Held: opened with the others at the next flush.
    if (held_.size() == quic::kBurst) flush(out);
    Held& h = held_.emplace_back();
    h.v = base_verdict(p.ctx, "quic", p.wire.size());
    h.rx = c.rx[d].get();
    // A short header coalesced behind long ones was split without its DCID length (the
    // datagram started with a long header): ask the tracker, as for a leading one.
    h.dcid_len = p.info.dcid.size();
    if (p.tracker && !p.tracker->short_dcid_len(*p.conn, p.ctx.dir, p.wire, h.dcid_len))
      h.dcid_len = p.info.dcid.size();
    h.pk.view = PacketView{p.wire.data(), static_cast<uint32_t>(p.wire.size()), 0,
                           static_cast<uint32_t>(p.wire.size())};
    return;
  }
  flush(out);
  Verdict v = base_verdict(p.ctx, "quic", p.wire.size());

  if (p.info.type == QuicType::retry) {
    // RFC 9001 §5.8: the tag is keyed by the original DCID; the client's next Initial
    // then uses the Retry's SCID as DCID, and the Initial keys come from it (§5.2).
    const auto qv = static_cast<quic::Version>(p.info.version);
    v.set_status(quic::verify_retry(qv, c.initial_dcid, p.wire));
    if (v.status == to_string(Status::ok)) c.install_initial(p.info.version, p.info.scid);
    out.emit(v);
    return;
  }
  if (p.info.type != QuicType::one_rtt && c.version != p.info.version &&
      c.installed[0][0] && p.info.type == QuicType::initial && p.ctx.dir == Dir::server) {
    // Compatible version negotiation (RFC 9368): the server answers in the other
    // version; both sides move, the Initial secrets stay derived from the same DCID.
    c.install_initial(p.info.version, c.initial_dcid);
  }

  const size_t l = static_cast<size_t>(*level);
  if (*level == Level::zero_rtt && !c.installed[d][l] && p.ctx.dir == Dir::client &&
      c.client_random && !c.cipher_suite) {
    // 0-RTT before the server's Initial named the suite: the resumed session's suite is
    // not in the ClientHello, so each engine suite of the early secret's hash length is
    // tried (only the right one authenticates; a failed open changes nothing).
    const SessionSecrets* ss = keys_.keylog.find(*c.client_random);
    const Secret* sec = ss ? ss->get(SecretLabel::client_early_traffic) : nullptr;
    if (sec) {
      const bool sha384 = sec->value.size() == 48;
      Status st = Status::auth_failed;
      for (Suite suite : {Suite::aes128_gcm, Suite::chacha20_poly1305, Suite::aes256_gcm}) {
        if ((suite == Suite::aes256_gcm) != sha384) continue;
        if (c.rx[d]->install(Level::zero_rtt, Direction::open, suite, sec->value) != Status::ok) continue;
        quic::Packet pk;
        pk.view = PacketView{p.wire.data(), static_cast<uint32_t>(p.wire.size()), 0,
                             static_cast<uint32_t>(p.wire.size())};
        c.rx[d]->open({&pk, 1});
        st = pk.status();
        if (st != Status::ok) continue;
        c.installed[d][l] = true;
        v.set_status(st);
        v.seq = pk.pn;
        v.epoch = 1;
        v.set_plaintext(pk.view.bytes());
        out.emit(v);
        return;
      }
      v.set_status(st);
      out.emit(v);
      return;
    }
  }
  if (!c.installed[d][l]) {
    v.status = c.unsupported_suite ? to_string(Status::unsupported) : kNoKey;
    out.emit(v);
    return;
  }
  quic::PacketProtection& rx = *c.rx[d];
  if (*level == Level::one_rtt) {
    // A short header coalesced behind long ones was split without its DCID length (the
    // datagram started with a long header): ask the tracker, as for a leading one.
    size_t dcid_len = p.info.dcid.size();
    if (p.tracker && !p.tracker->short_dcid_len(*p.conn, p.ctx.dir, p.wire, dcid_len))
      dcid_len = p.info.dcid.size();
    rx.set_short_dcid_length(dcid_len);
  }
  quic::Packet pk;
  pk.view = PacketView{p.wire.data(), static_cast<uint32_t>(p.wire.size()), 0,
                       static_cast<uint32_t>(p.wire.size())};
  rx.open({&pk, 1});
  v.set_status(pk.status());
  if (pk.status() == Status::ok) {
    v.seq = pk.pn;
    uint64_t epoch = l == 0 ? 0 : l == 1 ? 1 : 2;
    if (*level == Level::one_rtt) {
      const uint64_t gen = rx.generation(Direction::open);
      epoch = 3 + (pk.key_phase == static_cast<bool>(gen & 1) ? gen : gen - 1);
    }
    v.epoch = epoch;
    const std::span<uint8_t> plain = pk.view.bytes();
    v.set_plaintext(plain);
    if (*level == Level::initial) {
      c.walk_initial(p.ctx.dir, plain);
      c.learn_hellos();
      c.install_secrets(keys_.keylog);
    }
  }
  out.emit(v);
}

void QuicDecryptor::flush(VerdictSink& out) {
  if (held_.empty()) return;
  // Open each PacketProtection's packets as one burst (capture order within it; different
  // ones share no state, so their order between them does not matter).
  std::array<quic::Packet, quic::kBurst> burst;
  std::array<size_t, quic::kBurst> idx;
  for (size_t i = 0; i < held_.size(); ++i) {
    if (held_[i].done) continue;
    quic::PacketProtection& rx = *held_[i].rx;
    const size_t dcid_len = held_[i].dcid_len;
    size_t n = 0;
    for (size_t j = i; j < held_.size(); ++j) {
      Held& h = held_[j];
      if (h.done || h.rx != &rx || h.dcid_len != dcid_len) continue;
      h.done = true;
      idx[n] = j;
      burst[n++] = h.pk;
    }
    rx.set_short_dcid_length(dcid_len);
    rx.open({burst.data(), n});
    // The engine moves to the next key generation once the burst is done, so a burst
    // that spans two key updates fails the packets after the second one. A failed open
    // changes nothing (core/quic.h), so each one is tried again alone, in order, under
    // the keys the burst left (a live receiver never sees two updates in one burst: the
    // sender waits for an acknowledgement between them, RFC 9001 §6.1).
    for (size_t k = 0; k < n; ++k) {
      if (burst[k].status() != Status::auth_failed) continue;
      burst[k] = held_[idx[k]].pk;
      rx.open({&burst[k], 1});
    }
    // Key generation of each packet (epoch 3 + generation): generations only grow with
    // the packet number (RFC 9001 §6.4), so walking the authenticated packets from the
    // highest number down, each flip of the key phase bit is one generation less.
    const uint64_t gen = rx.generation(Direction::open);
    std::array<size_t, quic::kBurst> ok;
    size_t n_ok = 0;
    for (size_t k = 0; k < n; ++k)
      if (burst[k].status() == Status::ok) ok[n_ok++] = k;
    std::sort(ok.begin(), ok.begin() + n_ok, [&](size_t a, size_t b) { return burst[a].pn > burst[b].pn; });
    uint64_t g = gen;
    for (size_t m = 0; m < n_ok; ++m) {
      const quic::Packet& pk = burst[ok[m]];
      if (m == 0) {
        if (pk.key_phase != static_cast<bool>(gen & 1) && g > 0) --g;
      } else if (pk.key_phase != burst[ok[m - 1]].key_phase && g > 0) {
        --g;
      }
      held_[idx[ok[m]]].v.epoch = 3 + g;
    }
    for (size_t k = 0; k < n; ++k) {
      Held& h = held_[idx[k]];
      h.pk = burst[k];
      h.v.set_status(h.pk.status());
      if (h.pk.status() == Status::ok) {
        h.v.seq = h.pk.pn;
        h.v.set_plaintext(h.pk.view.bytes());
      }
    }
  }
  emit_.clear();
  for (Held& h : held_) emit_.push_back(&h.v);
  if (out.wants_digest()) compute_digests(emit_);
  for (const Verdict* v : emit_) out.emit(*v);
  held_.clear();
}

void QuicDecryptor::finish(Diag& diag) {
  for (const auto& [qc, c] : conns_) {
    if (!c->client_random || !c->cipher_suite) continue;
    if (c->unsupported_suite)
      diag.warn("QUIC connection " + std::to_string(qc->id),
                "cipher suite " + std::to_string(*c->cipher_suite) +
                    " has no engine AEAD (its packets: unsupported)");
    else if (!keys_.keylog.find(*c->client_random) && keys_.keylog.size())
      diag.warn("QUIC connection " + std::to_string(qc->id),
                "no key log entry for its client random");
  }
}

}  // namespace rl::replay
