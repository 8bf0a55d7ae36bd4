// Replay tool with QUIC decryption (issue 7 "Speed"): a synthetic capture of 200,000 QUIC
// 1-RTT packets of 1350 bytes (one per datagram, Ethernet + IPv4 + UDP; the client's and
// server's Initials in front carry the ClientHello random and the ServerHello suite), built
// here by sealing with rl::quic under real traffic secrets given as an NSS key log. Each
// iteration replays the whole capture with a fresh decryptor: link/IP/UDP parsing, flow
// lookup, QUIC CID tracking and splitting, the copy handed to the sink, header protection
// removal + AEAD open (rl::quic), and the verdict.
// bytes_per_second = capture bytes (frames as stored, Ethernet headers included).
//   open/replay-quic/<suite>/1350/1          from the pcap file (Replayer::run), verdicts counted
//   open/replay-quic-mem/<suite>/1350/1      the same frames from memory (no file)
//   open/replay-quic-summary/<suite>/1350/1  from the file into what rl-replay runs by
//                                            default: the human summary (no digests needed)
//   open/replay-quic-json/<suite>/1350/1     rl-replay --json: summary + one JSON line per
//                                            packet with the SHA-256 of its plaintext, to /dev/null
#include <pcap/pcap.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "bench/support/bench_util.h"
#include "tests/replay/quic_synth.h"
#include "tools/replay/quic_decryptor.h"
#include "tools/replay/replay.h"
#include "tools/replay/report.h"

namespace rl::bench {
namespace {

constexpr size_t kPackets = 200000, kDatagram = 1350;

struct SynthCapture {
  replay::test::QuicSynth s;
  replay::Keys keys;
  std::string path;
  explicit SynthCapture(Suite suite) {
    s = replay::test::make_quic_synth(quic::Version::v1, suite, kPackets, kDatagram);
    replay::Diag d;
    d.quiet = true;
    keys.keylog.add_text(s.keylog, "bench.keylog", d);
    path = (std::filesystem::temp_directory_path() /
            ("rl_replay_quic_bench_" + std::to_string(::getpid()) + "_" +
             suite_info(suite).name + ".pcap"))
               .string();
    pcap_t* dead = pcap_open_dead(DLT_EN10MB, 65535);
    pcap_dumper_t* dmp = pcap_dump_open(dead, path.c_str());
    if (dmp) {
      for (size_t i = 0; i < s.frames.size(); ++i) {
        pcap_pkthdr h{};
        h.ts.tv_sec = static_cast<long>(i / 1000);
        h.caplen = h.len = static_cast<uint32_t>(s.frames[i].size());
        pcap_dump(reinterpret_cast<u_char*>(dmp), &h, s.frames[i].data());
      }
      pcap_dump_close(dmp);
    }
    pcap_close(dead);
  }
  ~SynthCapture() { std::remove(path.c_str()); }
};

SynthCapture& capture(Suite suite) {
  static std::map<Suite, std::unique_ptr<SynthCapture>> caps;
  auto& c = caps[suite];
  if (!c) c = std::make_unique<SynthCapture>(suite);
  return *c;
}

// Counts verdicts; asks for no digest (as the summary), so replay-quic(-mem) rows measure
// input + decryption; the -json row adds the digests and the JSON lines.
struct Count : replay::VerdictSink {
  uint64_t n = 0, ok = 0;
  void emit(const replay::Verdict& v) override {
    ++n;
    ok += v.status == to_string(Status::ok);
  }
  bool wants_digest() const override { return false; }
};

void finish(benchmark::State& st, const SynthCapture& cap, const Count& c) {
  set_counters(st, cap.s.bytes, 1);
  st.SetItemsProcessed(static_cast<int64_t>(st.iterations() * cap.s.frames.size()));
  if (!cap.s.ok || c.ok != cap.s.frames.size() * st.iterations())
    st.SkipWithError("not every packet decrypted");
}

void bm_file(benchmark::State& st, Suite suite) {
  SynthCapture& cap = capture(suite);
  Count c;
  for (auto _ : st) {
    replay::Diag diag;
    diag.quiet = true;
    replay::QuicDecryptor q(cap.keys);
    replay::Replayer rep(cap.keys, {}, c, diag);
    rep.set_sink(replay::Proto::quic, &q);
    rep.run(cap.path);
    benchmark::DoNotOptimize(c.n);
  }
  finish(st, cap, c);
}

// What main.cc builds: the summary always, the JSON Lines writer with --json.
void bm_tool(benchmark::State& st, Suite suite, bool json) {
  SynthCapture& cap = capture(suite);
  Count c;
  std::FILE* null = std::fopen("/dev/null", "w");
  if (!null) {
    st.SkipWithError("cannot open /dev/null");
    return;
  }
  for (auto _ : st) {
    replay::Diag diag;
    diag.quiet = true;
    replay::Summary summary;
    replay::JsonLinesWriter jw(null);
    replay::Fanout fan;
    fan.add(&c);
    fan.add(&summary);
    if (json) fan.add(&jw);
    replay::QuicDecryptor q(cap.keys);
    replay::Replayer rep(cap.keys, {}, fan, diag);
    rep.set_sink(replay::Proto::quic, &q);
    rep.run(cap.path);
    benchmark::DoNotOptimize(summary.failed());
  }
  std::fclose(null);
  finish(st, cap, c);
}

void bm_mem(benchmark::State& st, Suite suite) {
  SynthCapture& cap = capture(suite);
  Count c;
  for (auto _ : st) {
    replay::Diag diag;
    diag.quiet = true;
    replay::QuicDecryptor q(cap.keys);
    replay::Replayer rep(cap.keys, {}, c, diag);
    rep.set_sink(replay::Proto::quic, &q);
    rep.begin(DLT_EN10MB, "mem");
    replay::Frame f;
    for (size_t i = 0; i < cap.s.frames.size(); ++i) {
      f.number = i + 1;
      f.data = replay::ByteSpan(cap.s.frames[i]);
      f.orig_len = static_cast<uint32_t>(cap.s.frames[i].size());
      rep.frame(f);
    }
    rep.end();
    benchmark::DoNotOptimize(c.n);
  }
  finish(st, cap, c);
}

int register_all() {
  for (Suite s : {Suite::aes128_gcm, Suite::chacha20_poly1305}) {
    benchmark::RegisterBenchmark(name("open", "replay-quic", suite_info(s).name, kDatagram, 1).c_str(),
                                 bm_file, s)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(
        name("open", "replay-quic-mem", suite_info(s).name, kDatagram, 1).c_str(), bm_mem, s)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(
        name("open", "replay-quic-summary", suite_info(s).name, kDatagram, 1).c_str(), bm_tool, s, false)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(
        name("open", "replay-quic-json", suite_info(s).name, kDatagram, 1).c_str(), bm_tool, s, true)
        ->Unit(benchmark::kMillisecond);
  }
  return 0;
}
const int registered = register_all();

}  // namespace
}  // namespace rl::bench
