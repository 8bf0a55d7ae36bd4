#include "tools/replay/replay.h"

#include <pcap/pcap.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "core/bytes.h"
#include "core/openvpn.h"
#include "core/wireguard.h"

namespace rl::replay {

namespace {

// How many bytes of a TCP flow seen only from its middle are searched for TLS records.
constexpr size_t kMidStreamProbeBytes = 64 * 1024;
constexpr size_t kMidStreamHeldTotal = 64 * 1024 * 1024;
int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

// TCP stream bytes of one flow direction -> TLS framer.
struct StreamAdapter final : TcpStream::Output {
  Replayer& r;
  Flow& f;
  Dir d;
  StreamAdapter(Replayer& rr, Flow& ff, Dir dd) : r(rr), f(ff), d(dd) {}
  void on_bytes(ByteSpan data, uint64_t frame) override { r.on_tls_bytes(f, d, data, frame); }
  void on_gap(uint64_t offset, uint64_t len, uint64_t frame) override;
};

// TLS framer -> sink.
struct FramerAdapter final : TlsFramer::Output {
  Replayer& r;
  Flow& f;
  Dir d;
  FramerAdapter(Replayer& rr, Flow& ff, Dir dd) : r(rr), f(ff), d(dd) {}
  void on_record(const TlsRecordView& rec) override { r.on_tls_record(f, d, rec); }
  void on_unframed(uint64_t off, uint64_t len, uint64_t frame, const char* why) override {
    if (why == TlsFramer::kMidStream) {  // not damage: bytes from before the capture began
      ++r.st_.midstream_skipped;
      r.diag_.note(r.where(frame), f.label() + " " + to_string(d) + ": " + why + " (" +
                                       std::to_string(len) + " bytes at stream offset " +
                                       std::to_string(off) + ")");
      return;
    }
    r.malformed_unit(f, d, "tls", frame, static_cast<size_t>(len),
                     std::string(why) + " (" + std::to_string(len) + " bytes at stream offset " +
                         std::to_string(off) + ")");
  }
};

void StreamAdapter::on_gap(uint64_t offset, uint64_t len, uint64_t frame) {
  ++r.st_.stream_gaps;
  r.diag_.warn(r.where(frame), f.label() + " " + to_string(d) + " stream: " + std::to_string(len) +
                                   " bytes never captured at stream offset " + std::to_string(offset));
  if (f.proto == Proto::tls) {
    r.sink(Proto::tls).on_stream_gap(f, d, offset, len, frame);
    FramerAdapter fa(r, f, d);
    f.tls[static_cast<size_t>(d)].gap(offset, len, frame, fa);
  }
}

Replayer::Replayer(const Keys& keys, ReplayOptions opts, VerdictSink& out, Diag& diag)
    : keys_(keys),
      opts_(std::move(opts)),
      out_(out),
      diag_(diag),
      detect_(opts_.rules,
              [&] {
                KeyHints h;
                for (const XfrmState& s : keys.xfrm.states()) {
                  h.esp_spis.insert(s.spi);
                  if (s.encap) {
                    h.esp_udp_ports.insert(s.encap->sport);
                    h.esp_udp_ports.insert(s.encap->dport);
                  }
                }
                for (const SrtpKey& k : keys.srtp.keys()) {
                  if (k.ssrc) h.ssrcs.insert(*k.ssrc);
                  if (k.dst) h.srtp_dsts.push_back(*k.dst);
                }
                h.wireguard = !keys.wg.empty();
                h.openvpn = !keys.ovpn.empty();
                return h;
              }()),
      default_sink_(keys),
      ip_(opts_.ip_limits) {
  sinks_.fill(&default_sink_);
}

Replayer::~Replayer() {
  if (bar_shown_) clear_bar(this);
  diag_.set_before_print(nullptr, nullptr);
}

void Replayer::set_sink(Proto p, RecordSink* s) {
  sinks_[static_cast<size_t>(p)] = s ? s : &default_sink_;
  if (p == Proto::esp) sinks_[static_cast<size_t>(Proto::esp_udp)] = s ? s : &default_sink_;
}

std::span<uint8_t> Replayer::copy_unit(ByteSpan src) {
  constexpr size_t kArena = 256 << 10;
  // Nothing held: start over, so that the copy lands in memory still in cache.
  if (!pending_ || !pending_->holding()) arena_used_ = 0;
  if (arena_.size() - arena_used_ < src.size()) {
    flush_pending();  // nothing references the arena any more
    arena_used_ = 0;
    if (arena_.size() < std::max(kArena, src.size())) arena_.resize(std::max(kArena, src.size()));
  }
  uint8_t* d = arena_.data() + arena_used_;
  if (!src.empty()) std::memcpy(d, src.data(), src.size());
  arena_used_ += src.size();
  return {d, src.size()};
}

uint32_t Replayer::next_index(uint64_t frame) {
  if (frame != idx_frame_) {
    idx_frame_ = frame;
    idx_ = 0;
  }
  ++st_.units;
  return idx_++;
}

std::string Replayer::where(uint64_t frame) const { return name_ + ": frame " + std::to_string(frame); }

bool Replayer::run(const std::string& path) {
  PcapSource src;
  if (!src.open(path, diag_)) return false;
  begin(src.linktype(), path);
  src_ = &src;
  const bool bar = opts_.progress && src.file_size() >= opts_.progress_min_bytes;
  if (bar) diag_.set_before_print(&Replayer::clear_bar, this);
  Frame f;
  for (;;) {
    auto r = src.next(f, diag_);
    if (r != PcapSource::Next::frame) break;
    frame(f);
    if (bar && (f.number & 4095) == 0) progress(false);
    if (diag_.stop()) break;
  }
  if (bar) progress(true);
  end();
  src_ = nullptr;
  return true;
}

void Replayer::clear_bar(void* self) {
  auto* r = static_cast<Replayer*>(self);
  if (!r->bar_shown_) return;
  std::fprintf(stderr, "\r%*s\r", 78, "");
  r->bar_shown_ = false;
}

void Replayer::progress(bool final) {
  const int64_t t = now_ns();
  if (!final && t - last_bar_ns_ < 200'000'000) return;
  last_bar_ns_ = t;
  if (final) {
    clear_bar(this);
    return;
  }
  const uint64_t size = src_ ? src_->file_size() : 0, pos = src_ ? src_->position() : 0;
  const double frac = size ? std::min(1.0, double(pos) / double(size)) : 0.0;
  const int w = 40, n = static_cast<int>(frac * w);
  std::string barstr(static_cast<size_t>(n), '#');
  barstr.resize(w, '.');
  std::fprintf(stderr, "\r[%s] %3d%% %llu frames", barstr.c_str(), static_cast<int>(frac * 100),
               static_cast<unsigned long long>(st_.frames));
  std::fflush(stderr);
  bar_shown_ = true;
}

void Replayer::begin(int dlt, const std::string& name) {
  dlt_ = dlt;
  name_ = name;
}

void Replayer::frame(const Frame& f) {
  ++st_.frames;
  st_.capture_bytes += f.data.size();
  last_frame_ = f.number;
  if (f.orig_len > f.data.size()) {
    // Captured with a snapshot length shorter than the frame (tcpdump -s N): the bytes
    // past it are gone, so nothing in this frame can be verified. Said once, counted,
    // and not decoded (the IP layer would only see a packet cut short).
    if (++st_.snaplen_cut == 1)
      diag_.error(where(f.number),
                  "frame captured only " + std::to_string(f.data.size()) + " of its " +
                      std::to_string(f.orig_len) +
                      " bytes (the capture's snaplen is too small, e.g. tcpdump -s): frames cut "
                      "short are not decoded and their records cannot be verified; capture "
                      "with -s 0");
    return;
  }
  ByteSpan ip;
  std::string why;
  if (!link_payload(f.linktype >= 0 ? f.linktype : dlt_, f.data, ip, &why)) {
    if (why.empty()) {
      ++st_.not_ip;
    } else {
      ++st_.link_errors;
      diag_.warn(where(f.number), why);
    }
    return;
  }
  IpPacket p;
  auto r = ip_.feed(ip, f.number, p, diag_, name_);
  if (r == IpReassembler::Result::dropped) ++st_.ip_dropped;
  if (r != IpReassembler::Result::packet) return;
  ++st_.ip_packets;
  on_ip(p, f.number);
}

void Replayer::on_ip(const IpPacket& p, uint64_t frame) {
  switch (p.proto) {
    case 6: on_tcp(p, frame); break;
    case 17: on_udp(p, frame); break;
    case 50: {
      ++st_.esp_packets;
      FiveTuple t{p.src, p.dst, 0, 0, 50};
      Dir d;
      Flow& f = flows_.lookup(t, false, false, frame, d);
      f.proto = Proto::esp;
      on_esp(p, p.payload, false, f, d, frame);
      break;
    }
    default: ++st_.other_ip; break;
  }
}

void Replayer::on_tcp(const IpPacket& p, uint64_t frame) {
  ByteSpan s = p.payload;
  if (s.size() < 20 || (s[12] >> 4) * 4u < 20 || (s[12] >> 4) * 4u > s.size()) {
    ++st_.transport_malformed;
    diag_.warn(where(frame), "TCP header cut short or bad data offset");
    return;
  }
  ++st_.tcp_segments;
  FiveTuple t{p.src, p.dst, load_be16(s.data()), load_be16(s.data() + 2), 6};
  const uint8_t fl = s[13];
  const bool syn = fl & 0x02, ack = fl & 0x10, fin = fl & 0x01;
  Dir d;
  Flow& f = flows_.lookup(t, syn && !ack, syn && ack, frame, d);
  const size_t di = static_cast<size_t>(d);
  if (syn) f.tcp_syn_seen = true;
  ByteSpan payload = s.subspan((s[12] >> 4) * 4u);
  ++f.packets[di];
  f.bytes[di] += payload.size();
  if (f.proto == Proto::unknown && f.detect_tries == 0) {
    const Proto rule = detect_.rule_for(t);
    if (rule != Proto::count) {
      f.proto = rule;
      f.proto_forced = true;
      f.detect_tries = 1;
      if (rule == Proto::unknown) f.proto = Proto::count;  // --proto …=none
    }
  }
  if (f.proto == Proto::count) return;  // not TLS: ignored
  const uint32_t seq = load_be32(s.data() + 4);
  if (syn) f.tcp[di].on_syn(seq);
  if (payload.empty() && !fin) return;
  StreamAdapter a(*this, f, d);
  f.tcp[di].on_segment(syn ? seq + 1 : seq, payload, fin, frame, a);
}

void Replayer::on_tls_bytes(Flow& f, Dir d, ByteSpan data, uint64_t frame) {
  if (f.proto == Proto::unknown && !f.tcp_syn_seen && f.detect_tries == 0 &&
      detect_.detect_tcp(data) == Proto::unknown &&
      (f.midstream_bytes > 0 || midstream_held_total_ < kMidStreamHeldTotal)) {
    // Mid-stream: hold the bytes until two chained record headers show TLS (each
    // direction's own bytes), or give up after 64 KiB (and, over all flows, hold no more
    // than kMidStreamHeldTotal: past it, new mid-stream flows are judged by their first
    // bytes alone).
    f.midstream_bytes += data.size();
    midstream_held_total_ += data.size();
    f.midstream_held.push_back({d, frame, Bytes(data.begin(), data.end())});
    size_t at = SIZE_MAX;
    for (const Dir dd : {Dir::client, Dir::server}) {
      Bytes all;
      for (const auto& c : f.midstream_held)
        if (c.dir == dd) all.insert(all.end(), c.data.begin(), c.data.end());
      at = std::min(at, find_tls_chain(all));
    }
    if (at == SIZE_MAX) {
      if (f.midstream_bytes < kMidStreamProbeBytes) return;
      midstream_held_total_ -= f.midstream_bytes;
      f.midstream_held.clear();
      f.midstream_held.shrink_to_fit();
      f.detect_tries = 1;
      f.proto = Proto::count;
      ++st_.tcp_not_tls;
      return;
    }
    f.detect_tries = 1;
    f.proto = Proto::tls;
    mid_stream_tls(f, frame);
    auto held = std::move(f.midstream_held);
    f.midstream_held.clear();
    midstream_held_total_ -= f.midstream_bytes;
    f.tls[0].start_mid_stream();
    f.tls[1].start_mid_stream();
    for (auto& c : held) {
      FramerAdapter fa(*this, f, c.dir);
      f.tls[static_cast<size_t>(c.dir)].feed(c.data, c.frame, fa);
    }
    return;
  }
  if (f.proto == Proto::unknown) {
    f.detect_tries = 1;
    f.proto = detect_.detect_tcp(data);
    if (f.proto == Proto::unknown) {
      f.proto = Proto::count;  // the stream does not start like TLS: ignore the flow
      ++st_.tcp_not_tls;
      return;
    }
    if (!f.tcp_syn_seen) mid_stream_tls(f, frame);
  }
  if (f.proto != Proto::tls) return;
  FramerAdapter fa(*this, f, d);
  f.tls[static_cast<size_t>(d)].feed(data, frame, fa);
}

void Replayer::mid_stream_tls(Flow& f, uint64_t frame) {
  diag_.warn(where(frame), f.label() + ": the capture starts in the middle of this TCP connection "
                           "(no SYN): TLS records found by their headers");
  // After the handshake everything but ChangeCipherSpec is protected (TLS 1.2 after its
  // CCS, TLS 1.3 always): alerts and handshake messages seen from here are ciphertext
  // (and, the hellos missing, the session's keys cannot be found).
  f.tls12_ccs = {true, true};
}

static const char* tls_label(const HelloInfo& h) {
  if (h.have_server_hello) return h.is13() ? "tls13" : "tls12";
  if (h.have_client_hello) return h.client_max_version >= 0x0304 ? "tls13" : "tls12";
  return "tls";
}

void Replayer::on_tls_record(Flow& f, Dir d, const TlsRecordView& rv) {
  const size_t di = static_cast<size_t>(d);
  const bool is13 = f.hello.have_server_hello && f.hello.is13();
  TlsRecord r;
  r.is_protected = rv.type == 23 || (!is13 && f.tls12_ccs[di] && (rv.type != 20 || rv.fragment.size() != 1));
  // A TLS 1.3 server's records after its ServerHello are all type 23; a TLS 1.2 peer's
  // records after its ChangeCipherSpec are protected whatever their type, a later
  // ChangeCipherSpec too (renegotiation: it is sent under the current keys, so it is not
  // the 1-byte plaintext one, RFC 5246 §7.1).
  if (rv.type == 22 && !r.is_protected) {
    f.hello_parser[di].on_handshake_record(rv.fragment, f.hello);
    if (d == Dir::client && f.hello.have_client_hello && f.hello_parser[di].done()) {
      if (seen_randoms_.empty() || seen_randoms_.back() != f.hello.client_random)
        seen_randoms_.push_back(f.hello.client_random);
    }
  }
  r.ctx = {&f, d, rv.frame, next_index(rv.frame)};
  r.type = rv.type;
  r.version = rv.version;
  r.stream_offset = rv.stream_offset;
  r.proto = tls_label(f.hello);
  r.plain_seq = f.plain_seq[di];
  if (!r.is_protected) ++f.plain_seq[di];
  if (rv.type == 20 && !is13) f.tls12_ccs[di] = true;
  r.wire = copy_unit(rv.wire);
  r.fragment = r.wire.subspan(kTlsHeaderLen);
  sink(Proto::tls).on_tls_record(r, out_);
}

void Replayer::malformed_unit(Flow& f, Dir d, const char* proto, uint64_t frame, size_t len,
                              const std::string& why) {
  flush_pending();
  diag_.warn(where(frame), f.label() + " " + to_string(d) + ": " + why);
  UnitContext c{&f, d, frame, next_index(frame)};
  Verdict v = RecordSink::base_verdict(c, proto, len);
  v.set_status(Status::malformed);
  out_.emit(v);
}

void Replayer::on_udp(const IpPacket& p, uint64_t frame) {
  ByteSpan s = p.payload;
  if (s.size() < 8) {
    ++st_.transport_malformed;
    diag_.warn(where(frame), "UDP header cut short");
    return;
  }
  const size_t ulen = load_be16(s.data() + 4);
  if (ulen < 8 || ulen > s.size()) {
    ++st_.transport_malformed;
    diag_.warn(where(frame), "UDP length " + std::to_string(ulen) + " does not fit the " +
                                 std::to_string(s.size()) + "-byte IP payload");
    return;
  }
  ++st_.udp_datagrams;
  FiveTuple t{p.src, p.dst, load_be16(s.data()), load_be16(s.data() + 2), 17};
  ByteSpan payload = s.subspan(8, ulen - 8);
  Dir d;
  Flow& f = flows_.lookup(t, false, false, frame, d);
  const size_t di = static_cast<size_t>(d);
  ++f.packets[di];
  f.bytes[di] += payload.size();
  if (f.proto == Proto::unknown) {
    const Proto rule = f.detect_tries == 0 ? detect_.rule_for(t) : Proto::count;
    if (rule != Proto::count) {
      f.proto = rule == Proto::unknown ? Proto::count : rule;
      f.proto_forced = true;
    } else {
      f.proto = detect_.detect_udp(t, payload, quic_);
    }
    ++f.detect_tries;
  }
  switch (f.proto) {
    case Proto::dtls: on_dtls(f, d, payload, frame); break;
    case Proto::quic: on_quic(f, d, payload, frame); break;
    case Proto::srtp: on_srtp(f, d, p, payload, t.dport, frame); break;
    case Proto::wireguard: on_wg(f, d, payload, frame); break;
    case Proto::openvpn: on_ovpn(f, d, payload, frame); break;
    case Proto::esp_udp:
    case Proto::esp:
      switch (classify_esp_udp(payload)) {
        case EspUdpKind::esp: on_esp(p, payload, true, f, d, frame); break;
        case EspUdpKind::non_esp_marker: ++st_.esp_udp_ike; break;
        case EspUdpKind::keepalive: ++st_.esp_udp_keepalive; break;
        case EspUdpKind::malformed:
          malformed_unit(f, d, "esp", frame, payload.size(), "UDP-encapsulated ESP shorter than SPI + sequence number");
          break;
      }
      break;
    default: ++st_.udp_unrecognized; break;
  }
}

void Replayer::on_dtls(Flow& f, Dir d, ByteSpan payload, uint64_t frame) {
  const size_t di = static_cast<size_t>(d);
  dtls_units_.clear();
  size_t bad = 0;
  // RFC 9146: a tls12_cid record's header length depends on the CID its receiver asked for.
  const size_t cid_len = f.hello.have_server_hello && f.hello.cid_negotiated()
                             ? f.hello.cid_sent_by(d == Dir::client).size()
                             : 0;
  const DtlsSplit r = split_dtls(payload, cid_len, dtls_units_, bad);
  const std::span<uint8_t> copy = copy_unit(payload);
  for (const DtlsRecordInfo& info : dtls_units_) {
    DtlsRecord rec;
    rec.is_protected = info.unified || info.epoch > 0;
    if (!rec.is_protected && info.type == 22) {
      f.hello_parser[di].on_handshake_record(info.fragment, f.hello);
      if (d == Dir::client && f.hello.have_client_hello &&
          (seen_randoms_.empty() || seen_randoms_.back() != f.hello.client_random))
        seen_randoms_.push_back(f.hello.client_random);
    }
    const bool is13 = f.hello.have_server_hello ? f.hello.version == 0xfefc
                                                : (f.hello.have_client_hello && f.hello.client_max_version == 0xfefc);
    rec.proto = is13 || info.unified ? "dtls13" : "dtls12";
    rec.ctx = {&f, d, frame, next_index(frame)};
    const size_t off = static_cast<size_t>(info.wire.data() - payload.data());
    rec.wire = copy.subspan(off, info.wire.size());
    rec.info = info;
    rec.info.wire = rec.wire;
    rec.info.fragment = rec.wire.subspan(rec.wire.size() - info.fragment.size());
    if (!info.cid.empty())
      rec.info.cid = rec.wire.subspan(static_cast<size_t>(info.cid.data() - info.wire.data()), info.cid.size());
    sink(Proto::dtls).on_dtls_record(rec, out_);
  }
  if (r == DtlsSplit::malformed)
    malformed_unit(f, d, "dtls12", frame, payload.size() - bad,
                   "bytes at datagram offset " + std::to_string(bad) + " are not a DTLS record");
}

void Replayer::on_quic(Flow& f, Dir d, ByteSpan payload, uint64_t frame) {
  if (payload.empty()) return;
  size_t dcid_len = 0;
  if (!(payload[0] & 0x80)) {  // short header: the DCID length comes from tracking
    bool ok = false;
    if (f.quic) ok = quic_.short_dcid_len(*f.quic, d, payload, dcid_len);
    if (!ok) {
      QuicConn* c = quic_.match_short(payload, dcid_len);
      if (c) {
        f.quic = c;
        ok = true;
      }
    }
    if (!ok) {
      malformed_unit(f, d, "quic", frame, payload.size(),
                     "short-header packet of no known QUIC connection (DCID length unknown)");
      return;
    }
  }
  quic_units_.clear();
  size_t bad = 0;
  const QuicSplit r = split_quic(payload, dcid_len, quic_units_, bad);
  const std::span<uint8_t> copy = copy_unit(payload);
  for (const QuicPacketInfo& info : quic_units_) {
    if (info.type != QuicType::one_rtt) quic_.on_long(info, f, d, frame);
    QuicPacket pk;
    pk.ctx = {&f, d, frame, next_index(frame)};
    const size_t off = static_cast<size_t>(info.wire.data() - payload.data());
    pk.wire = copy.subspan(off, info.wire.size());
    pk.info = info;
    pk.info.wire = pk.wire;
    auto rebase = [&](ByteSpan s) {
      return s.empty() ? s : ByteSpan(copy.data() + (s.data() - payload.data()), s.size());
    };
    pk.info.dcid = rebase(info.dcid);
    pk.info.scid = rebase(info.scid);
    pk.info.token = rebase(info.token);
    pk.conn = f.quic;
    pk.tracker = &quic_;
    sink(Proto::quic).on_quic_packet(pk, out_);
  }
  if (r == QuicSplit::malformed)
    malformed_unit(f, d, "quic", frame, payload.size() - bad,
                   "bytes at datagram offset " + std::to_string(bad) + " are not a QUIC packet");
}

void Replayer::on_srtp(Flow& f, Dir d, const IpPacket& p, ByteSpan payload, uint16_t dport,
                       uint64_t frame) {
  if (!rtp_version_ok(payload) || (!is_rtcp(payload) && payload.size() < 12)) {
    malformed_unit(f, d, "srtp", frame, payload.size(), "not an RTP/RTCP packet (version bits or length)");
    return;
  }
  SrtpPacket sp;
  sp.rtcp = is_rtcp(payload);
  sp.ssrc = rtp_ssrc(payload);
  if (!sp.rtcp) sp.seq = load_be16(payload.data() + 2);
  sp.key = keys_.srtp.find(sp.ssrc, p.dst, dport);
  if (std::find(seen_ssrcs_.begin(), seen_ssrcs_.end(), sp.ssrc) == seen_ssrcs_.end() &&
      seen_ssrcs_.size() < 4096)
    seen_ssrcs_.push_back(sp.ssrc);
  sp.ctx = {&f, d, frame, next_index(frame)};
  sp.wire = copy_unit(payload);
  sink(Proto::srtp).on_srtp_packet(sp, out_);
}

void Replayer::on_wg(Flow& f, Dir d, ByteSpan payload, uint64_t frame) {
  const uint32_t type = wireguard::message_type(payload);
  if (type == 0) {
    malformed_unit(f, d, "wireguard", frame, payload.size(),
                   "not a WireGuard message (type 1-4 with zero reserved bytes and its length)");
    return;
  }
  WgMessage m;
  m.type = type;
  if (type == 1 || type == 2) m.sender_index = load_le32(payload.data() + 4);  // type ‖ sender
  m.receiver_index = wireguard::receiver_index(payload);
  if (type == wireguard::kTransportData) m.counter = load_le64(payload.data() + 8);
  m.ctx = {&f, d, frame, next_index(frame)};
  m.wire = copy_unit(payload);
  sink(Proto::wireguard).on_wg_message(m, out_);
}

void Replayer::on_ovpn(Flow& f, Dir d, ByteSpan payload, uint64_t frame) {
  const uint8_t op = openvpn::opcode_of(payload);
  const bool data = op == openvpn::kDataV1 || op == openvpn::kDataV2;
  // A data packet holds its header, the tag and a byte at least (crypto.c).
  const size_t min = op == openvpn::kDataV2 ? openvpn::kOverheadV2 + 1 : openvpn::kOverheadV1 + 1;
  if (op < 1 || op > 11 || (data && payload.size() < min)) {
    malformed_unit(f, d, "openvpn", frame, payload.size(),
                   "not an OpenVPN datagram (opcode 1-11; a data packet holds its header, tag and payload)");
    return;
  }
  OvpnPacket p;
  p.opcode = op;
  p.key_id = payload[0] & 7;
  p.ctx = {&f, d, frame, next_index(frame)};
  p.wire = copy_unit(payload);
  sink(Proto::openvpn).on_ovpn_packet(p, out_);
}

void Replayer::on_esp(const IpPacket& p, ByteSpan esp, bool udp, Flow& f, Dir d, uint64_t frame) {
  if (esp.size() < 8) {
    malformed_unit(f, d, "esp", frame, esp.size(), "ESP packet shorter than SPI + sequence number");
    return;
  }
  EspPacket e;
  e.udp_encap = udp;
  e.spi = load_be32(esp.data());
  e.seq = load_be32(esp.data() + 4);
  e.src = &p.src;
  e.dst = &p.dst;
  e.sa = keys_.xfrm.find(e.spi, &p.dst);
  if (std::find(seen_spis_.begin(), seen_spis_.end(), e.spi) == seen_spis_.end() &&
      seen_spis_.size() < 4096)
    seen_spis_.push_back(e.spi);
  e.ctx = {&f, d, frame, next_index(frame)};
  e.wire = copy_unit(esp);
  sink(udp ? Proto::esp_udp : Proto::esp).on_esp_packet(e, out_);
}

void Replayer::end() {
  const uint64_t fr = last_frame_;
  for (auto& fp : flows_.all()) {
    Flow& f = *fp;
    if (f.ip_proto == 6 && f.proto == Proto::unknown && !f.midstream_held.empty()) {
      // Seen from its middle and never shown two chained TLS records: not TLS.
      f.midstream_held.clear();
      f.proto = Proto::count;
      ++st_.tcp_not_tls;
    }
    if (f.ip_proto != 6 || f.proto == Proto::count) continue;
    for (size_t di = 0; di < 2; ++di) {
      StreamAdapter a(*this, f, static_cast<Dir>(di));
      f.tcp[di].flush(fr, a);
      if (f.proto == Proto::tls) {
        FramerAdapter fa(*this, f, static_cast<Dir>(di));
        f.tls[di].finish(fr, fa);
      }
    }
  }
  ip_.flush(diag_, name_);
  if (st_.snaplen_cut > 1)
    diag_.error(name_, std::to_string(st_.snaplen_cut) +
                           " frames cut short by the snaplen were not decoded");
  flush_pending();
  std::array<RecordSink*, static_cast<size_t>(Proto::count)> done{};
  size_t n = 0;
  for (RecordSink* s : sinks_) {
    if (std::find(done.begin(), done.begin() + static_cast<ptrdiff_t>(n), s) != done.begin() + static_cast<ptrdiff_t>(n)) continue;
    done[n++] = s;
    s->finish(diag_);
  }
  report_unused_keys();
}

void Replayer::report_unused_keys() {
  for (auto& [r, ss] : keys_.keylog.sessions()) {
    if (std::find(seen_randoms_.begin(), seen_randoms_.end(), r) != seen_randoms_.end()) continue;
    const std::array<uint8_t, 32> random = r;  // (a lambda cannot capture a binding before C++20 P1091 in clang)
    const bool renegotiated = std::any_of(flows_.all().begin(), flows_.all().end(), [&](const auto& f) {
      return std::find(f->renegotiated_randoms.begin(), f->renegotiated_randoms.end(), random) !=
             f->renegotiated_randoms.end();
    });
    if (renegotiated) continue;
    if (quic_.size()) continue;  // QUIC hellos are encrypted: cannot tell without decrypting
    diag_.warn(ss.first_where(), "key log entry for client random " + hex(ByteSpan(r.data(), 8)) +
                                     "… matches no TLS/DTLS ClientHello in " + name_);
  }
  for (const XfrmState& s : keys_.xfrm.states())
    if (std::find(seen_spis_.begin(), seen_spis_.end(), s.spi) == seen_spis_.end())
      diag_.warn(s.where, "ESP SPI " + spi_text(s.spi) + " never appears in " + name_);
  for (const SrtpKey& k : keys_.srtp.keys())
    if (k.ssrc && std::find(seen_ssrcs_.begin(), seen_ssrcs_.end(), *k.ssrc) == seen_ssrcs_.end())
      diag_.warn(k.where, "SSRC " + spi_text(*k.ssrc) + " never appears in " + name_);
}

}  // namespace rl::replay
