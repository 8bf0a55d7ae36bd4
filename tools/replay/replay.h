// The driver: frames in, units out. Link layer -> IP (reassembled) -> TCP/UDP/ESP -> flow
// -> protocol detection -> framing (TLS records over the TCP stream, DTLS records and QUIC
// packets inside datagrams, SRTP/ESP/WireGuard packets) -> one RecordSink call per unit, with the
// frame/index attribution fixed here.
#pragma once
#include <array>
#include <memory>
#include <string>
#include <vector>

#include "tools/replay/detect.h"
#include "tools/replay/flows.h"
#include "tools/replay/ip_reassembly.h"
#include "tools/replay/keys.h"
#include "tools/replay/pcap_source.h"
#include "tools/replay/record_sink.h"
#include "tools/replay/verdict.h"

namespace rl::replay {

struct ReplayOptions {
  std::vector<PortRule> rules;  // --proto
  bool progress = false;        // progress bar on stderr (the caller checks isatty)
  uint64_t progress_min_bytes = 8u << 20;
  IpReassembler::Limits ip_limits{};
  TcpStream::Limits tcp_limits{};
};

struct ReplayStats {
  uint64_t frames = 0, capture_bytes = 0, not_ip = 0, link_errors = 0, ip_packets = 0,
           ip_dropped = 0, tcp_segments = 0, udp_datagrams = 0, esp_packets = 0, other_ip = 0,
           transport_malformed = 0, udp_unrecognized = 0, tcp_not_tls = 0, esp_udp_ike = 0,
           esp_udp_keepalive = 0, units = 0, stream_gaps = 0,
           midstream_skipped = 0, snaplen_cut = 0;
};

class Replayer {
 public:
  Replayer(const Keys& keys, ReplayOptions opts, VerdictSink& out, Diag& diag);
  ~Replayer();
  // Routes one protocol's units to `sink` (nullptr: back to the built-in no-key sink).
  void set_sink(Proto p, RecordSink* sink);

  // Reads a whole capture. false when it could not be opened (the message was given).
  bool run(const std::string& capture_path);

  // The same, a frame at a time (tests, benchmarks): begin, frame..., end.
  void begin(int dlt, const std::string& capture_name);
  void frame(const Frame& f);
  void end();

  const ReplayStats& stats() const { return st_; }
  FlowTable& flows() { return flows_; }
  QuicTracker& quic() { return quic_; }
  const IpReassembler& ip() const { return ip_; }
  // Keys that never matched anything in the capture (reported by end()).
  void report_unused_keys();

 private:
  friend struct StreamAdapter;
  friend struct FramerAdapter;
  uint32_t next_index(uint64_t frame);
  std::string where(uint64_t frame) const;
  void on_ip(const IpPacket& p, uint64_t frame);
  void on_tcp(const IpPacket& p, uint64_t frame);
  void on_udp(const IpPacket& p, uint64_t frame);
  void on_esp(const IpPacket& p, ByteSpan esp, bool udp, Flow& flow, Dir dir, uint64_t frame);
  void on_tls_bytes(Flow& f, Dir d, ByteSpan data, uint64_t frame);
  void mid_stream_tls(Flow& f, uint64_t frame);
  void on_tls_record(Flow& f, Dir d, const TlsRecordView& r);
  void on_dtls(Flow& f, Dir d, ByteSpan payload, uint64_t frame);
  void on_quic(Flow& f, Dir d, ByteSpan payload, uint64_t frame);
  void on_srtp(Flow& f, Dir d, const IpPacket& p, ByteSpan payload, uint16_t dport, uint64_t frame);
  void on_wg(Flow& f, Dir d, ByteSpan payload, uint64_t frame);
  void on_ovpn(Flow& f, Dir d, ByteSpan payload, uint64_t frame);
  void malformed_unit(Flow& f, Dir d, const char* proto, uint64_t frame, size_t len,
                      const std::string& why);
  // The sink a unit goes to; another sink's held verdicts are flushed first.
  RecordSink& sink(Proto p) {
    RecordSink* s = sinks_[static_cast<size_t>(p)];
    if (pending_ && pending_ != s) pending_->flush(out_);
    pending_ = s;
    return *s;
  }
  void flush_pending() {
    if (pending_) pending_->flush(out_);
    pending_ = nullptr;
  }
  // A private mutable copy of a unit (or a datagram of units) in arena_; it stays valid
  // until the sink it goes to is flushed.
  std::span<uint8_t> copy_unit(ByteSpan src);
  void progress(bool final);

  const Keys& keys_;
  ReplayOptions opts_;
  VerdictSink& out_;
  Diag& diag_;
  Detector detect_;
  RecordSink default_sink_;
  std::array<RecordSink*, static_cast<size_t>(Proto::count)> sinks_{};
  FlowTable flows_;
  QuicTracker quic_;
  IpReassembler ip_;
  ReplayStats st_;
  int dlt_ = -1;
  size_t midstream_held_total_ = 0;  // bytes held by mid-stream flows not yet detected
  std::string name_;
  uint64_t idx_frame_ = 0;
  uint32_t idx_ = 0;
  uint64_t last_frame_ = 0;
  // Units' private copies, one after the other; reused from the start once full (after
  // flushing the sink that may hold some of them).
  Bytes arena_;
  size_t arena_used_ = 0;
  RecordSink* pending_ = nullptr;  // the last sink called (it may hold verdicts back)
  std::vector<DtlsRecordInfo> dtls_units_;
  std::vector<QuicPacketInfo> quic_units_;
  // For "key never matched" reports.
  std::vector<std::array<uint8_t, 32>> seen_randoms_;
  std::vector<uint32_t> seen_spis_, seen_ssrcs_;
  // Progress bar.
  PcapSource* src_ = nullptr;
  bool bar_shown_ = false;
  int64_t last_bar_ns_ = 0;
  static void clear_bar(void* self);
};

}  // namespace rl::replay
