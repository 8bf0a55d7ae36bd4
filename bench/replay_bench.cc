// Replay tool, input side only (no decryption): a synthetic capture of 200,000 UDP
// datagrams of 1350 bytes (one QUIC connection: an Initial, a Handshake, then 1-RTT
// short-header packets both ways), Ethernet + IPv4. Each iteration replays the whole capture:
// link/IP/UDP parsing, flow lookup, QUIC detection with CID tracking, packet splitting, the
// copy handed to the (no-key) sink and its verdict. bytes_per_second = capture bytes.
//   open/replay-input/none/1350/1      from a pcap file through libpcap (Replayer::run)
//   open/replay-input-mem/none/1350/1  the same frames from memory (no libpcap, no file)
#include <pcap/pcap.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "bench/support/bench_util.h"
#include "core/bytes.h"
#include "tools/replay/replay.h"

namespace rl::bench {
namespace {

using replay::Bytes;
constexpr size_t kPackets = 200000, kPayload = 1350;

struct Capture {
  std::vector<Bytes> frames;
  uint64_t bytes = 0;
  std::string path;
  Capture() {
    const uint8_t ccid[8] = {1, 2, 3, 4, 5, 6, 7, 8}, scid[8] = {9, 10, 11, 12, 13, 14, 15, 16};
    frames.reserve(kPackets);
    for (size_t i = 0; i < kPackets; ++i) {
      const bool from_client = i == 0 || (i > 1 && i % 2 == 0);
      Bytes q(kPayload);
      for (size_t k = 0; k < kPayload; ++k) q[k] = static_cast<uint8_t>(i + k * 3);
      if (i < 2) {  // client Initial, server Handshake: long headers that teach the CIDs
        size_t o = 0;
        q[o++] = i == 0 ? 0xc3 : 0xe3;
        store_be32(q.data() + o, 1);
        o += 4;
        q[o++] = 8;
        for (uint8_t b : (i == 0 ? scid : ccid)) q[o++] = b;
        q[o++] = 8;
        for (uint8_t b : (i == 0 ? ccid : scid)) q[o++] = b;
        if (i == 0) q[o++] = 0;  // token length
        const size_t len = kPayload - o - 2;
        q[o++] = static_cast<uint8_t>(0x40 | len >> 8);
        q[o++] = static_cast<uint8_t>(len);
      } else {
        q[0] = 0x41;
        for (size_t k = 0; k < 8; ++k) q[1 + k] = from_client ? scid[k] : ccid[k];
      }
      Bytes f = {0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 6, 0x08, 0x00};
      const uint8_t c[4] = {10, 0, 0, 1}, s[4] = {10, 0, 0, 2};
      Bytes ip = {0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0};
      store_be16(ip.data() + 2, static_cast<uint16_t>(20 + 8 + kPayload));
      ip.insert(ip.end(), from_client ? c : s, (from_client ? c : s) + 4);
      ip.insert(ip.end(), from_client ? s : c, (from_client ? s : c) + 4);
      Bytes udp(8);
      store_be16(udp.data(), from_client ? 50000 : 443);
      store_be16(udp.data() + 2, from_client ? 443 : 50000);
      store_be16(udp.data() + 4, static_cast<uint16_t>(8 + kPayload));
      f.insert(f.end(), ip.begin(), ip.end());
      f.insert(f.end(), udp.begin(), udp.end());
      f.insert(f.end(), q.begin(), q.end());
      bytes += f.size();
      frames.push_back(std::move(f));
    }
    path = (std::filesystem::temp_directory_path() /
            ("rl_replay_bench_" + std::to_string(::getpid()) + ".pcap"))
               .string();
    pcap_t* dead = pcap_open_dead(DLT_EN10MB, 65535);
    pcap_dumper_t* d = pcap_dump_open(dead, path.c_str());
    if (d) {
      for (size_t i = 0; i < frames.size(); ++i) {
        pcap_pkthdr h{};
        h.ts.tv_sec = static_cast<long>(i / 1000);
        h.caplen = h.len = static_cast<uint32_t>(frames[i].size());
        pcap_dump(reinterpret_cast<u_char*>(d), &h, frames[i].data());
      }
      pcap_dump_close(d);
    }
    pcap_close(dead);
  }
  ~Capture() { std::remove(path.c_str()); }
};

Capture& capture() {
  static Capture c;
  return c;
}

struct Count : replay::VerdictSink {
  uint64_t n = 0, quic = 0;
  void emit(const replay::Verdict& v) override {
    ++n;
    quic += v.wire_len;
  }
};

void finish(benchmark::State& st, const Count& c, uint64_t bytes) {
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations() * bytes));
  st.SetItemsProcessed(static_cast<int64_t>(st.iterations() * kPackets));
  if (c.n != kPackets * st.iterations()) st.SkipWithError("not every datagram gave a verdict");
}

void bm_file(benchmark::State& st) {
  Capture& cap = capture();
  replay::Keys keys;
  Count c;
  for (auto _ : st) {
    replay::Diag diag;
    diag.quiet = true;
    replay::Replayer rep(keys, {}, c, diag);
    rep.run(cap.path);
    benchmark::DoNotOptimize(c.n);
  }
  finish(st, c, cap.bytes);
}

void bm_mem(benchmark::State& st) {
  Capture& cap = capture();
  replay::Keys keys;
  Count c;
  for (auto _ : st) {
    replay::Diag diag;
    diag.quiet = true;
    replay::Replayer rep(keys, {}, c, diag);
    rep.begin(DLT_EN10MB, "mem");
    replay::Frame f;
    for (size_t i = 0; i < cap.frames.size(); ++i) {
      f.number = i + 1;
      f.data = replay::ByteSpan(cap.frames[i]);
      f.orig_len = static_cast<uint32_t>(cap.frames[i].size());
      rep.frame(f);
    }
    rep.end();
    benchmark::DoNotOptimize(c.n);
  }
  finish(st, c, cap.bytes);
}

int register_all() {
  benchmark::RegisterBenchmark(name("open", "replay-input", "none", kPayload, 1).c_str(), bm_file)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark(name("open", "replay-input-mem", "none", kPayload, 1).c_str(), bm_mem)
      ->Unit(benchmark::kMillisecond);
  return 0;
}
const int registered = register_all();

}  // namespace
}  // namespace rl::bench
