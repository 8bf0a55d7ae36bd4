#include "tools/pipe/codec.h"

#include <algorithm>
#include <cstring>

#include "core/dtls13.h"
#include "core/esp.h"
#include "core/quic.h"
#include "core/srtp.h"

namespace rl::pipe {

const char* to_string(Proto p) {
  switch (p) {
    case Proto::esp: return "esp";
    case Proto::quic: return "quic";
    case Proto::dtls13: return "dtls13";
    case Proto::srtp: return "srtp";
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
    return ok;
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
};

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
    return rp_.install(Direction::open, cfg.dtls_epoch, cfg.open_suite, cfg.open_key, opt);
  }
  uint32_t headroom() const override { return static_cast<uint32_t>(dtls13::seal_headroom(0)); }
  uint32_t tailroom() const override { return static_cast<uint32_t>(dtls13::seal_tailroom(0)); }
  size_t seal(std::span<PacketView> v) override {
    for (size_t i = 0; i < v.size(); ++i) {
      rec_[i] = dtls13::Record{};
      rec_[i].pkt = v[i];
    }
    const size_t ok = rp_.seal({rec_, v.size()});
    for (size_t i = 0; i < v.size(); ++i) v[i] = rec_[i].pkt;
    return ok;
  }
  size_t open(std::span<PacketView> v) override {
    for (size_t i = 0; i < v.size(); ++i) {
      rec_[i] = dtls13::Record{};
      rec_[i].pkt = v[i];
    }
    rp_.open({rec_, v.size()});
    size_t ok = 0;
    for (size_t i = 0; i < v.size(); ++i) {
      v[i] = rec_[i].pkt;
      // Alerts and handshake records authenticate too, but are not data.
      if (v[i].status == Status::ok && rec_[i].type != 23) v[i].status = Status::not_protected;
      ok += v[i].status == Status::ok;
    }
    return ok;
  }

 private:
  dtls13::RecordProtection rp_;
  dtls13::Record rec_[kMaxBurst];
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
    return load(open_, cfg.srtp_open_profile, cfg.open_key, cfg.srtp_open_mki);
  }
  uint32_t headroom() const override { return 0; }
  uint32_t tailroom() const override { return tail_; }
  size_t seal(std::span<PacketView> v) override { return seal_.seal(v); }
  size_t open(std::span<PacketView> v) override { return open_.open(v); }

 private:
  srtp::Session seal_, open_;
  uint32_t tail_ = 0;
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
  }
  return nullptr;
}

}  // namespace rl::pipe
