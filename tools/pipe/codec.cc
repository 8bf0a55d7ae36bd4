#include "tools/pipe/codec.h"

#include <openssl/mem.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <optional>

#include "core/bytes.h"
#include "core/dtls.h"
#include "core/dtls13.h"
#include "core/esp.h"
#include "core/openvpn.h"
#include "core/quic.h"
#include "core/srtp.h"
#include "core/wireguard.h"

namespace rl::pipe {

const char* to_string(Proto p) {
  switch (p) {
    case Proto::esp: return "esp";
    case Proto::quic: return "quic";
    case Proto::dtls13: return "dtls13";
    case Proto::srtp: return "srtp";
    case Proto::wireguard: return "wireguard";
    case Proto::openvpn: return "openvpn";
    case Proto::dtls12: return "dtls12";
  }
  return "?";
}

void count_open(std::span<const PacketView> v, CodecCounters& c) {
  for (const PacketView& p : v) {
    switch (p.status) {
      case Status::ok: ++c.opened; break;
      case Status::auth_failed: ++c.auth_failed; break;
      case Status::replayed:
      case Status::too_old: ++c.replayed; break;
      case Status::malformed:
      case Status::truncated: ++c.malformed; break;
      default: ++c.other_failed; break;
    }
  }
}

namespace {

// ESP in transport mode, UDP-encapsulated (RFC 3948): the UDP payload is the
// ESP packet; the datagram we forward is the ESP payload, next header
// cfg.next_header. Inbound traffic goes through open_udp, so NAT keepalives
// and IKE (non-ESP marker) are recognised and not delivered.
class EspCodec final : public Codec {
 public:
  Status init(const CodecConfig& cfg) {
    spi_out_ = cfg.spi_out;
    esp::SaConfig sc;
    sc.esn = cfg.esn;
    sc.mode = esp::Mode::transport;
    sc.replay_window = cfg.replay_window;
    sc.spi = cfg.spi_out;
    sc.suite = cfg.seal_suite;
    sc.icv_len = cfg.seal_icv;
    sc.keymat = cfg.seal_key;
    if (Status s = sadb_.install(Direction::seal, sc); s != Status::ok) return s;
    sc.spi = cfg.spi_in;
    sc.suite = cfg.open_suite;
    sc.icv_len = cfg.open_icv;
    sc.keymat = cfg.open_key;
    if (Status s = sadb_.install(Direction::open, sc); s != Status::ok) return s;
    spi_in_ = cfg.spi_in;
    const esp::Sa* sa = sadb_.find(Direction::seal, spi_out_);
    head_ = static_cast<uint32_t>(sa->header_len());
    for (size_t len = 1500; len < 1504; ++len)
      tail_ = std::max(tail_, static_cast<uint32_t>(sa->tailroom_needed(len)));
    for (esp::SealMeta& m : meta_) m.next_header = cfg.next_header;
    return Status::ok;
  }
  uint32_t headroom() const override { return head_; }
  uint32_t tailroom() const override { return tail_; }
  size_t seal(std::span<PacketView> v) override {
    return sadb_.seal(spi_out_, v, std::span<const esp::SealMeta>(meta_, v.size()));
  }
  size_t open(std::span<PacketView> v) override { return sadb_.open_udp(v); }

  Status rekey(const CodecConfig& next, Direction which) override {
    esp::SaConfig sc;
    sc.esn = next.esn;
    sc.mode = esp::Mode::transport;
    sc.replay_window = next.replay_window;
    if (which == Direction::seal) {
      if (next.spi_out == spi_out_) return Status::invalid_argument;
      sc.spi = next.spi_out;
      sc.suite = next.seal_suite;
      sc.icv_len = next.seal_icv;
      sc.keymat = next.seal_key;
      if (Status s = sadb_.install(Direction::seal, sc); s != Status::ok) return s;
      const esp::Sa* sa = sadb_.find(Direction::seal, next.spi_out);
      if (sa->header_len() > head_) {  // the receive buffers keep head_ bytes in front
        sadb_.remove(Direction::seal, next.spi_out);
        return Status::buffer_too_small;
      }
      for (size_t len = 1500; len < 1504; ++len)
        tail_ = std::max(tail_, static_cast<uint32_t>(sa->tailroom_needed(len)));
      sadb_.remove(Direction::seal, spi_out_);  // no packet is sealed with it any more
      spi_out_ = next.spi_out;
      return Status::ok;
    }
    if (next.spi_in == spi_in_) return Status::invalid_argument;
    sc.spi = next.spi_in;
    sc.suite = next.open_suite;
    sc.icv_len = next.open_icv;
    sc.keymat = next.open_key;
    if (Status s = sadb_.install(Direction::open, sc); s != Status::ok) return s;
    // Two inbound SAs at most: the new one and the one it replaces (late
    // packets); the one before that is over.
    if (old_in_ != 0) sadb_.remove(Direction::open, old_in_);
    old_in_ = spi_in_;
    spi_in_ = next.spi_in;
    return Status::ok;
  }

 private:
  esp::Sadb sadb_;
  esp::SealMeta meta_[kMaxBurst];
  uint32_t spi_out_ = 0, spi_in_ = 0, old_in_ = 0, head_ = 0, tail_ = 0;
};

// QUIC 1-RTT short-header packets. Each plaintext datagram travels as one
// DATAGRAM frame with a Length field (RFC 9221 §4, type 0x31), so that the
// PADDING the engine may append to tiny packets (RFC 9001 §5.4.2 sample) is
// not mistaken for data on the other side.
class QuicCodec final : public Codec {
 public:
  Status init(const CodecConfig& cfg) {
    if (Status s = pp_.set_dcid(cfg.dcid); s != Status::ok) return s;
    if (Status s = pp_.set_short_dcid_length(cfg.local_cid_len); s != Status::ok) return s;
    if (Status s = pp_.install(quic::Level::one_rtt, Direction::seal, cfg.seal_suite, cfg.seal_key);
        s != Status::ok)
      return s;
    if (Status s = pp_.install(quic::Level::one_rtt, Direction::open, cfg.open_suite, cfg.open_key);
        s != Status::ok)
      return s;
    head_ = static_cast<uint32_t>(pp_.max_header_length(quic::Level::one_rtt, 65535)) + 1 + 4;
    first_pn_ = pp_.next_pn(quic::Space::application);
    return Status::ok;
  }
  uint32_t headroom() const override { return head_; }
  uint32_t tailroom() const override { return quic::kTagLen + 3; }
  size_t seal(std::span<PacketView> v) override {
    for (size_t i = 0; i < v.size(); ++i) {
      PacketView& p = v[i];
      const uint64_t len = p.length;
      const size_t vl = quic::varint_length(len);
      p.offset -= static_cast<uint32_t>(1 + vl);
      p.length += static_cast<uint32_t>(1 + vl);
      uint8_t* f = p.data();
      f[0] = 0x31;  // DATAGRAM with Length
      // RFC 9000 §16: the two high bits of the first byte give the length.
      const uint8_t prefix = vl == 1 ? 0x00 : vl == 2 ? 0x40 : vl == 4 ? 0x80 : 0xc0;
      for (size_t k = 0; k < vl; ++k) f[1 + k] = static_cast<uint8_t>(len >> (8 * (vl - 1 - k)));
      f[1] |= prefix;
      pk_[i] = quic::Packet{};
      pk_[i].view = p;
      pk_[i].level = quic::Level::one_rtt;
    }
    const size_t ok = pp_.seal({pk_, v.size()});
    for (size_t i = 0; i < v.size(); ++i) v[i] = pk_[i].view;
    return ok;
  }
  size_t open(std::span<PacketView> v) override {
    for (size_t i = 0; i < v.size(); ++i) {
      pk_[i] = quic::Packet{};
      pk_[i].view = v[i];
    }
    pp_.open({pk_, v.size()});
    size_t ok = 0;
    for (size_t i = 0; i < v.size(); ++i) {
      PacketView p = pk_[i].view;
      if (p.status == Status::ok && pk_[i].type != quic::PacketType::one_rtt) p.status = Status::malformed;
      if (p.status == Status::ok) p.status = unframe(p);
      ok += p.status == Status::ok;
      v[i] = p;
    }
    // With one codec for both directions (--workers 1) the engine moves the
    // send keys itself when the peer updated (RFC 9001 §6.2, rotate_open);
    // the first packet number of the new send keys is the next one.
    if (pp_.generation(Direction::seal) != seal_gen_) {
      seal_gen_ = pp_.generation(Direction::seal);
      first_pn_ = pp_.next_pn(quic::Space::application);
    }
    return ok;
  }

  // Key update (RFC 9001 §6). rl-pipe carries DATAGRAM frames only, no ACK
  // frames, yet PacketProtection::update(seal) is refused until on_ack()
  // reported an acknowledgement of a packet sent with the current keys
  // (§6.1: "An endpoint MUST NOT initiate a subsequent key update unless it
  // has received an acknowledgment for a packet that was sent protected
  // with keys from the current key phase"; that rule makes sure the peer
  // has the keys before the phase flips again). What rl-pipe knows instead:
  //  - generation 0: the first update needs only a confirmed handshake
  //    (§6.1), and the handshake is over before rl-pipe gets its secrets;
  //    the peer derived generation 1 when it installed generation 0.
  //  - generation g > 0: a peer answers an update by updating its own send
  //    keys (§6.2), and only after a packet of ours authenticated under the
  //    new keys; so once our open side authenticated the peer's packets of
  //    generation g (`peer` >= g), the peer has received one of our
  //    generation-g packets: an implicit acknowledgement.
  // In both cases we report the first packet number sealed with the current
  // keys as the largest acknowledged: it is the least we can claim, it is at
  // or below what the peer really received (the peer's largest received is
  // at or above it), so the packet-number encoding chosen from it (RFC 9000
  // §17.1) stays decodable by the peer. Until at least one packet was
  // sealed with the current keys (the engine asks for that too) or the peer
  // answered, the update waits; the worker retries after later bursts.
  bool updates_keys() const override { return true; }
  uint64_t generation(Direction which) const override { return pp_.generation(which); }
  Status update(uint64_t peer, const char** why) override {
    const uint64_t g = pp_.generation(Direction::seal);
    if (pp_.next_pn(quic::Space::application) == first_pn_) {
      *why = "no packet sealed with the current keys yet (RFC 9001 section 6.1)";
      return Status::invalid_argument;
    }
    if (g > 0 && peer < g) {
      *why = "the peer has not answered the previous update yet (RFC 9001 section 6.1)";
      return Status::invalid_argument;
    }
    Status s = pp_.on_ack(quic::Space::application, first_pn_);
    if (s == Status::ok) s = pp_.update(Direction::seal);
    if (s != Status::ok) {
      *why = rl::to_string(s);
      return s;
    }
    seal_gen_ = pp_.generation(Direction::seal);
    first_pn_ = pp_.next_pn(quic::Space::application);
    return Status::ok;
  }
  // §6.2: "The endpoint MUST update its send keys to the corresponding key
  // phase in response" to a packet that opened with the next keys.
  bool must_follow(uint64_t peer) const override { return peer > pp_.generation(Direction::seal); }
  // The open side needs nothing from us: the engine keeps the pre-derived
  // next keys, tries them when the key phase flips, commits on
  // authentication and keeps the previous generation for late packets
  // (until the following update; RFC 9001 §6.5 allows discarding it
  // earlier, rl-pipe does not).
  bool poll_peer_update(uint64_t* generation) override {
    bool moved = false;
    KeyEvent e;
    while (pp_.poll_event(e)) {
      if (e.kind == KeyEvent::peer_updated && e.dir == Direction::open &&
          quic::level_of_epoch(e.epoch) == quic::Level::one_rtt) {
        *generation = quic::generation_of_epoch(e.epoch);
        moved = true;
      }
    }
    return moved;
  }

 private:
  // Skips PADDING frames, then expects one DATAGRAM frame (0x30 runs to the
  // end, 0x31 has a length); the view is narrowed to its data.
  static Status unframe(PacketView& p) {
    const uint8_t* b = p.data();
    size_t at = 0;
    while (at < p.length && b[at] == 0x00) ++at;
    if (at == p.length) return Status::malformed;
    const uint8_t type = b[at++];
    uint64_t len = 0;
    if (type == 0x30) {
      len = p.length - at;
    } else if (type == 0x31) {
      const size_t used = quic::varint_decode({b + at, p.length - at}, &len);
      if (used == 0) return Status::malformed;
      at += used;
      if (len > p.length - at) return Status::malformed;
    } else {
      return Status::malformed;  // not a datagram we forward
    }
    p.offset += static_cast<uint32_t>(at);
    p.length = static_cast<uint32_t>(len);
    return Status::ok;
  }

  quic::PacketProtection pp_;
  quic::Packet pk_[kMaxBurst];
  uint32_t head_ = 0;
  uint64_t seal_gen_ = 0;  // the send generation first_pn_ belongs to
  uint64_t first_pn_ = 0;  // first packet number sealed with it
};

// DTLS 1.2 and 1.3: one application_data record per datagram, through the
// engine's Record array `rec` (kMaxBurst long).
template <class Engine, class Rec>
size_t seal_records(Engine& rp, Rec* rec, std::span<PacketView> v) {
  for (size_t i = 0; i < v.size(); ++i) {
    rec[i] = Rec{};
    rec[i].pkt = v[i];
  }
  const size_t ok = rp.seal({rec, v.size()});
  for (size_t i = 0; i < v.size(); ++i) v[i] = rec[i].pkt;
  return ok;
}
template <class Engine, class Rec>
size_t open_records(Engine& rp, Rec* rec, std::span<PacketView> v) {
  for (size_t i = 0; i < v.size(); ++i) {
    rec[i] = Rec{};
    rec[i].pkt = v[i];
  }
  rp.open({rec, v.size()});
  size_t ok = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    v[i] = rec[i].pkt;
    // Alerts and handshake records authenticate too, but are not data.
    if (v[i].status == Status::ok && rec[i].type != 23) v[i].status = Status::not_protected;
    ok += v[i].status == Status::ok;
  }
  return ok;
}

// DTLS 1.3 application_data records, one per datagram, unified header with a
// 16-bit sequence number and a length (RFC 9147 §4).
class Dtls13Codec final : public Codec {
 public:
  Status init(const CodecConfig& cfg) {
    dtls13::KeyOptions opt;
    opt.replay_window = std::min<uint32_t>(cfg.replay_window, 4096);
    if (Status s = rp_.install(Direction::seal, cfg.dtls_epoch, cfg.seal_suite, cfg.seal_key, opt);
        s != Status::ok)
      return s;
    if (Status s = rp_.install(Direction::open, cfg.dtls_epoch, cfg.open_suite, cfg.open_key, opt);
        s != Status::ok)
      return s;
    first_open_ = newest_open_ = cfg.dtls_epoch;
    return top_up(cfg.dtls_epoch);
  }
  uint32_t headroom() const override { return static_cast<uint32_t>(dtls13::seal_headroom(0)); }
  uint32_t tailroom() const override { return static_cast<uint32_t>(dtls13::seal_tailroom(0)); }
  size_t seal(std::span<PacketView> v) override { return seal_records(rp_, rec_, v); }
  size_t open(std::span<PacketView> v) override { return open_records(rp_, rec_, v); }

  // Key update (RFC 9147 §8): the next epoch's secret is
  // HKDF-Expand-Label(secret, "traffic upd", "", Hash.length), so both
  // sides can derive it; the record header carries the epoch's low two bits
  // (§4.2.2) and the engine keeps an open epoch in slot epoch mod 4. rl-pipe
  // sends no KeyUpdate message and gets no ACK (§8 has the sender wait for
  // the ACK of its KeyUpdate before it uses the new keys); instead the open
  // side keeps the two epochs after the peer's current one installed ahead
  // (kAhead), which leaves the fourth slot to the previous epoch for late
  // records: a record of epoch N+1 or N+2 opens at once, and records of N-1
  // open until the peer's epoch moves on again. The seal side moves only
  // after it sealed at least one record in its current epoch, so an epoch
  // is never skipped unsent; a peer that lost every record of two epochs in
  // a row can no longer follow (stated in --help).
  bool updates_keys() const override { return true; }
  const char* generation_name() const override { return "epoch"; }
  uint64_t generation(Direction which) const override {
    if (which == Direction::seal) return rp_.seal_epoch();
    return std::max(rp_.open_current_epoch(), first_open_);
  }
  Status update(uint64_t peer, const char** why) override {
    (void)peer;  // the directions update independently (RFC 9147 §8)
    if (rp_.next_seq() == 0) {
      *why = "no record sealed in the current epoch yet";
      return Status::invalid_argument;
    }
    const Status s = rp_.update(Direction::seal);
    if (s != Status::ok) *why = rl::to_string(s);
    return s;
  }
  bool poll_peer_update(uint64_t* generation) override {
    bool moved = false;
    KeyEvent e;
    while (rp_.poll_event(e)) {
      if (e.kind == KeyEvent::peer_updated && e.dir == Direction::open) {
        *generation = e.epoch;
        moved = true;
      }
    }
    if (moved) top_up(rp_.open_current_epoch());
    return moved;
  }

 private:
  static constexpr uint64_t kAhead = 2;
  // Installs the open epochs after `current` up to current + kAhead (each
  // from the one before: update(open) derives from the newest epoch).
  Status top_up(uint64_t current) {
    while (newest_open_ < current + kAhead) {
      if (Status s = rp_.update(Direction::open); s != Status::ok) return s;
      ++newest_open_;
    }
    return Status::ok;
  }

  dtls13::RecordProtection rp_;
  dtls13::Record rec_[kMaxBurst];
  uint64_t first_open_ = 0, newest_open_ = 0;
};

// DTLS 1.2 application_data records (RFC 6347 §4.1), one per datagram, with
// the keys of one epoch from the TLS 1.2 key block, and RFC 9146 tls12_cid
// records where a Connection ID is configured for that direction. The
// epoch changes only with a new handshake, which rl-pipe does not carry:
// no rekey here.
class Dtls12Codec final : public Codec {
 public:
  Status init(const CodecConfig& cfg) {
    dtls::KeyOptions opt;
    opt.replay_window = std::clamp<uint32_t>(cfg.replay_window, 1, 4096);
    opt.first_seq = cfg.dtls12_first_seq;
    if (Status s = install(Direction::seal, cfg.seal_suite, cfg.seal_key, cfg.dtls12_epoch, opt); s != Status::ok)
      return s;
    if (Status s = install(Direction::open, cfg.open_suite, cfg.open_key, cfg.dtls12_epoch, opt); s != Status::ok)
      return s;
    if (Status s = rp_.set_seal_cid(cfg.dtls12_seal_cid); s != Status::ok) return s;
    if (Status s = rp_.set_open_cid(cfg.dtls12_open_cid); s != Status::ok) return s;
    head_ = static_cast<uint32_t>(dtls::seal_headroom(cfg.seal_suite, cfg.dtls12_seal_cid.size()));
    tail_ = static_cast<uint32_t>(dtls::seal_tailroom(cfg.seal_suite, cfg.dtls12_seal_cid.size(), 0));
    return Status::ok;
  }
  uint32_t headroom() const override { return head_; }
  uint32_t tailroom() const override { return tail_; }
  size_t seal(std::span<PacketView> v) override { return seal_records(rp_, rec_, v); }
  size_t open(std::span<PacketView> v) override { return open_records(rp_, rec_, v); }

 private:
  // key‖IV as the key block gives them: the IV is what follows the suite's key.
  Status install(Direction d, Suite suite, std::span<const uint8_t> keymat, uint16_t epoch,
                 const dtls::KeyOptions& opt) {
    const size_t key_len = suite_info(suite).key_len;
    if (keymat.size() <= key_len) return Status::invalid_argument;
    return rp_.install(d, epoch, suite, keymat.first(key_len), keymat.subspan(key_len), opt);
  }

  dtls::RecordProtection rp_;
  dtls::Record rec_[kMaxBurst];
  uint32_t head_ = 0, tail_ = 0;
};

// SRTP: the plaintext datagrams are RTP packets; each direction is a Session
// with a template, so every SSRC the sender uses gets a stream on first use.
class SrtpCodec final : public Codec {
 public:
  SrtpCodec() : seal_(Direction::seal, 256), open_(Direction::open, 256) {}
  Status init(const CodecConfig& cfg) {
    auto load = [&](srtp::Session& s, srtp::Profile prof, const std::vector<uint8_t>& km,
                    const std::vector<uint8_t>& mki) {
      const srtp::ProfileInfo info = srtp::profile_info(prof);
      const size_t klen = info.master_key_len, slen = info.master_salt_len;
      if (km.size() != klen + slen) return Status::invalid_argument;
      srtp::Policy p;
      p.profile = prof;
      p.kdr = info.aead ? 0 : cfg.srtp_kdr;
      p.replay_window = std::clamp<uint32_t>(cfg.replay_window, srtp::kMinReplayWindow, 4096);
      p.mki_len = static_cast<uint8_t>(mki.size());
      tail_ = std::max<uint32_t>(tail_, info.srtp_tag_len + static_cast<uint32_t>(mki.size()));
      const srtp::MasterKey mk{{km.data(), klen}, {km.data() + klen, slen}, mki};
      return s.set_template(p, {&mk, 1});
    };
    if (Status s = load(seal_, cfg.srtp_seal_profile, cfg.seal_key, cfg.srtp_seal_mki); s != Status::ok)
      return s;
    if (Status s = load(open_, cfg.srtp_open_profile, cfg.open_key, cfg.srtp_open_mki); s != Status::ok)
      return s;
    seal_prof_ = cfg.srtp_seal_profile;
    open_prof_ = cfg.srtp_open_profile;
    seal_mki_ = cfg.srtp_seal_mki;
    open_mki_ = cfg.srtp_open_mki;
    return Status::ok;
  }
  uint32_t headroom() const override { return 0; }
  uint32_t tailroom() const override { return tail_; }
  size_t seal(std::span<PacketView> v) override { return seal_.seal(v); }
  size_t open(std::span<PacketView> v) override { return open_.open(v); }

  // MKI rekeying (RFC 3711 §8.1): every packet names its master key by MKI,
  // so the receiver adds the new master key beside the current one and
  // tells them apart per packet (make-before-break, like ESP's SPIs); the
  // sender switches to the new MKI and wipes the old key. Needs MKIs of one
  // length (the tailroom and the policy's mki_len stay) and the same
  // profile. Open keeps two master keys: the new one and the one it
  // replaces (late packets); the one before that is removed.
  Status rekey(const CodecConfig& next, Direction which) override {
    const bool sealing = which == Direction::seal;
    srtp::Session& sess = sealing ? seal_ : open_;
    const std::vector<uint8_t>& km = sealing ? next.seal_key : next.open_key;
    const std::vector<uint8_t>& mki = sealing ? next.srtp_seal_mki : next.srtp_open_mki;
    std::vector<uint8_t>& cur = sealing ? seal_mki_ : open_mki_;
    const srtp::Profile prof = sealing ? next.srtp_seal_profile : next.srtp_open_profile;
    if (prof != (sealing ? seal_prof_ : open_prof_)) return Status::invalid_argument;
    if (cur.empty() || mki.size() != cur.size() || mki == cur) return Status::invalid_argument;
    const srtp::ProfileInfo info = srtp::profile_info(prof);
    const size_t klen = info.master_key_len, slen = info.master_salt_len;
    if (km.size() != klen + slen) return Status::invalid_argument;
    const srtp::MasterKey mk{{km.data(), klen}, {km.data() + klen, slen}, mki};
    if (Status st = sess.add_master_key(std::nullopt, mk); st != Status::ok) return st;
    if (sealing) {
      if (Status st = sess.select_master_key(std::nullopt, mki); st != Status::ok) {
        sess.remove_master_key(std::nullopt, mki);
        return st;
      }
      sess.remove_master_key(std::nullopt, cur);  // no packet is sealed with it any more
    } else {
      if (!old_open_mki_.empty()) sess.remove_master_key(std::nullopt, old_open_mki_);
      old_open_mki_ = cur;
    }
    cur = mki;
    return Status::ok;
  }

 private:
  srtp::Session seal_, open_;
  uint32_t tail_ = 0;
  srtp::Profile seal_prof_ = srtp::Profile::aes128_cm_sha1_80, open_prof_ = srtp::Profile::aes128_cm_sha1_80;
  std::vector<uint8_t> seal_mki_, open_mki_, old_open_mki_;
};

// WireGuard transport data (core/wireguard.h): one Peer holds the keypairs
// that --wg-keys hands in, as a handshake would (rl-pipe does none).
//
// The plaintext datagrams are the tunnel's inner packets. A tunnel carries
// IP packets, and the receiving end cuts the opened plaintext to the inner
// packet's IP length (trim_padding), so the pipe carries only what survives
// that unchanged: a datagram is sealed only when it is one IPv4 or IPv6
// packet whose length field covers exactly the datagram; anything else is
// refused before any counter is used (malformed; rl-pipe counts it and does
// not send it). Open delivers the trimmed inner packet: byte for byte what
// the peer's plain side received. An authenticated plaintext that holds no
// IP packet is malformed, an empty one (a keepalive, which rl-pipe never
// sends but a peer may) is counted and not delivered.
//
// Keys: install() follows the Peer's rule (initiator: current at once;
// responder: next, sealing stays on the current keypair until the peer's
// first message under the new one authenticates, which promotes it). With
// one codec for both directions that is all. With one codec per direction
// (two Peers, one per worker) the open side's Peer is the one that sees the
// promotion; the seal side's then follows (must_follow / update) with
// Peer::confirm, which promotes its own next keypair the same way.
class WireGuardCodec final : public Codec {
 public:
  Status init(const CodecConfig& cfg) {
    peer_.set_mtu(cfg.wg_mtu);
    return install(cfg);
  }
  uint32_t headroom() const override { return wireguard::kHeaderLen; }
  uint32_t tailroom() const override { return wireguard::kPadding - 1 + wireguard::kTagLen; }

  size_t seal(std::span<PacketView> v) override {
    size_t m = 0;
    for (size_t i = 0; i < v.size(); ++i) {
      if (!is_ip_packet(v[i])) {
        v[i].status = Status::malformed;
        continue;
      }
      at_[m] = static_cast<uint32_t>(i);
      work_[m++] = v[i];
    }
    const size_t ok = m == 0 ? 0 : peer_.seal({work_, m});
    for (size_t k = 0; k < m; ++k) v[at_[k]] = work_[k];
    drain_events();  // a seal-only Peer's events (installed, limits) go nowhere else
    return ok;
  }

  size_t open(std::span<PacketView> v) override {
    peer_.open(v);
    size_t ok = 0;
    for (PacketView& p : v) {
      if (p.status != Status::ok) continue;
      if (p.length == 0) p.status = Status::keepalive;
      else if (wireguard::trim_padding(p) != Status::ok) p.status = Status::malformed;
      ok += p.status == Status::ok;
    }
    drain_events();
    return ok;
  }

  // A new session from the re-read key file. The second call for the same
  // session (--workers 1: the worker rekeys open, then seal, on one codec)
  // finds it installed.
  Status rekey(const CodecConfig& next, Direction which) override {
    (void)which;
    if (installed_ && next.wg_local == last_local_) return Status::ok;
    return install(next);
  }

  const char* generation_name() const override { return "keypair"; }
  // The keypair sealed with (and the one the peer's packets last confirmed):
  // kKnown | its local index; 0 before there is one (a responder at start).
  uint64_t generation(Direction which) const override {
    (void)which;
    const std::optional<uint32_t> c = peer_.current();
    return c ? kKnown | *c : 0;
  }
  std::string describe(uint64_t g) const override {
    if ((g & kKnown) == 0) return "no keypair";
    char b[40];
    std::snprintf(b, sizeof b, "keypair local=0x%x", static_cast<unsigned>(g & 0xffffffffu));
    return b;
  }
  bool must_follow(uint64_t peer) const override {
    const std::optional<uint32_t> n = peer_.next();
    return (peer & kKnown) != 0 && n && *n == static_cast<uint32_t>(peer);
  }
  Status update(uint64_t peer, const char** why) override {
    if (!must_follow(peer)) {
      *why = "no such next keypair";
      return Status::invalid_argument;
    }
    const Status s = peer_.confirm(static_cast<uint32_t>(peer));
    if (s != Status::ok) *why = rl::to_string(s);
    return s;
  }
  bool poll_peer_update(uint64_t* generation) override {
    drain_events();
    if (!confirmed_) return false;
    *generation = kKnown | *confirmed_;
    confirmed_.reset();
    return true;
  }

 private:
  static constexpr uint64_t kKnown = uint64_t{1} << 32;

  // One IPv4 packet (IHL >= 5, total length = the datagram) or one IPv6
  // packet (40 + payload length = the datagram); the first nibble tells.
  static bool is_ip_packet(const PacketView& p) {
    if (!p.well_formed() || p.length == 0) return false;
    const uint8_t* d = p.data();
    switch (d[0] >> 4) {
      case 4: return p.length >= 20 && (d[0] & 0x0fu) >= 5 && load_be16(d + 2) == p.length;
      case 6: return p.length >= 40 && 40 + size_t{load_be16(d + 4)} == p.length;
      default: return false;
    }
  }

  Status install(const CodecConfig& c) {
    if (c.seal_key.size() != wireguard::kKeyLen || c.open_key.size() != wireguard::kKeyLen)
      return Status::invalid_argument;
    const wireguard::Keypair kp{c.wg_local, c.wg_remote, c.seal_key, c.open_key, c.wg_initiator};
    if (const Status s = peer_.install(kp); s != Status::ok) return s;
    installed_ = true;
    last_local_ = c.wg_local;
    return Status::ok;
  }

  void drain_events() {
    KeyEvent e;
    while (peer_.poll_event(e))
      if (e.kind == KeyEvent::peer_updated && e.dir == Direction::open)
        confirmed_ = static_cast<uint32_t>(e.epoch);
  }

  wireguard::Peer peer_;
  PacketView work_[kMaxBurst];
  uint32_t at_[kMaxBurst];
  bool installed_ = false;
  uint32_t last_local_ = 0;
  std::optional<uint32_t> confirmed_;  // promoted by this Peer, not reported yet
};

// The OpenVPN data channel (core/openvpn.h), P_DATA_V2 with the configured
// peer-id. Keys: the key file's last key, split by the TLS role. rekey()
// installs a new key (another key_id, or the same key_id again with new
// material after eight renegotiations): seal uses it at once; the keys
// before stay open for late packets (OpenVPN's transition window) until
// their key_id comes back. With one codec for both directions the second
// call for the same key finds it installed.
class OpenVpnCodec final : public Codec {
 public:
  ~OpenVpnCodec() override { OPENSSL_cleanse(material_.data(), material_.size()); }
  Status init(const CodecConfig& cfg) {
    openvpn::Config c;
    c.peer_id = cfg.ovpn_peer_id;
    c.replay_window = std::min<uint32_t>(cfg.replay_window, ReplayWindow::kLargestSize);
    ch_ = std::make_unique<openvpn::Channel>(c);
    return install(cfg);
  }
  uint32_t headroom() const override { return openvpn::kOverheadV2; }
  uint32_t tailroom() const override { return 0; }
  size_t seal(std::span<PacketView> v) override {
    const size_t ok = ch_->seal(v);
    drain_events();
    return ok;
  }
  size_t open(std::span<PacketView> v) override {
    for (size_t i = 0; i < v.size(); ++i) pk_[i].view = v[i];
    const size_t ok = ch_->open({pk_, v.size()});
    for (size_t i = 0; i < v.size(); ++i) v[i] = pk_[i].view;
    drain_events();
    return ok;
  }
  Status rekey(const CodecConfig& next, Direction which) override {
    (void)which;
    if (next.ovpn_key_id == key_id_ && next.ovpn_material == material_) return Status::ok;
    return install(next);
  }
  const char* generation_name() const override { return "key_id"; }
  uint64_t generation(Direction which) const override {
    (void)which;
    return ch_->primary().value_or(0);
  }

 private:
  Status install(const CodecConfig& c) {
    if (c.ovpn_material.size() != openvpn::kKeyMaterialLen) return Status::invalid_argument;
    const std::span<const uint8_t, openvpn::kKeyMaterialLen> m(c.ovpn_material.data(), openvpn::kKeyMaterialLen);
    const Status s = ch_->install(openvpn::key_set(m, c.seal_suite, c.ovpn_key_id, c.ovpn_tls_server));
    if (s != Status::ok) return s;
    key_id_ = c.ovpn_key_id;
    OPENSSL_cleanse(material_.data(), material_.size());
    material_ = c.ovpn_material;  // to know the same key again (rekey, --workers 1)
    return Status::ok;
  }
  void drain_events() {
    KeyEvent e;
    while (ch_->poll_event(e)) {
    }
  }

  std::unique_ptr<openvpn::Channel> ch_;
  openvpn::Packet pk_[kMaxBurst];
  uint8_t key_id_ = 0;
  std::vector<uint8_t> material_;
};

template <class C>
std::unique_ptr<Codec> build(const CodecConfig& cfg, std::string* error) {
  auto c = std::make_unique<C>();
  if (Status s = c->init(cfg); s != Status::ok) {
    if (error) *error = std::string(to_string(cfg.proto)) + ": keys refused: " + rl::to_string(s);
    return nullptr;
  }
  return c;
}

}  // namespace

std::unique_ptr<Codec> make_codec(const CodecConfig& cfg, std::string* error) {
  switch (cfg.proto) {
    case Proto::esp: return build<EspCodec>(cfg, error);
    case Proto::quic: return build<QuicCodec>(cfg, error);
    case Proto::dtls13: return build<Dtls13Codec>(cfg, error);
    case Proto::srtp: return build<SrtpCodec>(cfg, error);
    case Proto::wireguard: return build<WireGuardCodec>(cfg, error);
    case Proto::openvpn: return build<OpenVpnCodec>(cfg, error);
    case Proto::dtls12: return build<Dtls12Codec>(cfg, error);
  }
  return nullptr;
}

}  // namespace rl::pipe
