// libFuzzer: the whole input side on arbitrary frames. Input: one byte choosing the link
// type, then frames as [2-byte length][bytes]...; also the datagram splitters and the hello
// parser on the raw input.
#include <pcap/pcap.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "tools/replay/replay.h"

namespace {
struct Null : rl::replay::VerdictSink {
  void emit(const rl::replay::Verdict&) override {}
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rl::replay;
  if (size < 1) return 0;
  static const int kDlt[] = {DLT_EN10MB, DLT_RAW, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_NULL, DLT_IPV6};
  const int dlt = kDlt[data[0] % 6];
  ByteSpan in(data + 1, size - 1);
  {
    std::vector<DtlsRecordInfo> d;
    std::vector<QuicPacketInfo> q;
    size_t bad = 0;
    split_dtls(in, in.empty() ? 0 : in[0] % 21, d, bad);
    split_quic(in, in.empty() ? 0 : in[0] % 21, q, bad);
    HelloInfo h;
    parse_hello(1, in, false, h);
    parse_hello(2, in, true, h);
  }
  Keys keys;
  Null out;
  Diag diag;
  diag.quiet = true;
  ReplayOptions o;
  o.ip_limits.timeout_frames = 8;
  o.tcp_limits.max_held_segments = 8;
  Replayer rep(keys, o, out, diag);
  rep.begin(dlt, "fuzz");
  uint64_t n = 0;
  while (in.size() >= 2) {
    const size_t len = std::min<size_t>(in.size() - 2, size_t{in[0]} << 8 | in[1]);
    Frame f;
    f.number = ++n;
    f.data = in.subspan(2, len);
    f.orig_len = static_cast<uint32_t>(len);
    rep.frame(f);
    in = in.subspan(2 + len);
  }
  rep.end();
  return 0;
}
