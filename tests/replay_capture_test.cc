// Replay on a real capture (OpenSSL 3 TLS 1.3 on loopback, tests/data/replay/make_tls13.sh):
// every TLS record framed exactly as tshark frames it; JSON Lines, --expect and
// --write-plaintext.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "tests/replay/harness.h"
#include "tests/replay/pcap_builder.h"
#include "tools/replay/report.h"

namespace rl::replay::test {
namespace {

const std::string kData = std::string(RL_SOURCE_DIR) + "/tests/data/replay/";

// "frame\tlen,len,..." lines as `tshark -T fields -e frame.number -e tls.record.length`
// prints them; frames with no complete record (an empty length list) are left out.
std::map<uint64_t, std::vector<uint32_t>> read_tshark(const std::string& path) {
  std::map<uint64_t, std::vector<uint32_t>> m;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    const size_t tab = line.find('\t');
    if (tab == std::string::npos) continue;
    uint64_t frame = 0;
    if (!parse_uint(line.substr(0, tab), frame)) continue;
    std::stringstream ls(line.substr(tab + 1));
    std::string len;
    while (std::getline(ls, len, ',')) {
      uint64_t v = 0;
      if (parse_uint(trim(len), v)) m[frame].push_back(uint32_t(v));
    }
  }
  return m;
}

std::map<uint64_t, std::vector<uint32_t>> ours(const std::vector<Verdict>& vs) {
  std::map<uint64_t, std::vector<uint32_t>> m;
  for (const Verdict& v : vs) {
    auto& l = m[v.frame];
    EXPECT_EQ(v.index, l.size()) << "frame " << v.frame;  // indexes count up from 0
    l.push_back(v.wire_len - 5);                           // tls.record.length: no header
  }
  return m;
}

TEST(ReplayCapture, Tls13RecordsFramedAsTsharkFramesThem) {
  const std::string cap = kData + "tls13.pcap";
  ASSERT_TRUE(std::filesystem::exists(cap)) << cap;
  Keys keys;
  Diag d;
  d.quiet = true;
  ASSERT_TRUE(keys.keylog.load_file(kData + "tls13.keylog", d));
  EXPECT_EQ(d.errors(), 0u);
  EXPECT_GE(keys.keylog.ignored_n_lines(), 1u);  // the KeyUpdate's "_N" lines
  RunResult r = run_capture(cap, keys);
  ASSERT_TRUE(r.opened);
  EXPECT_EQ(r.errors, 0u) << r.all_messages();
  EXPECT_FALSE(r.has_message("matches no TLS/DTLS ClientHello")) << r.all_messages();
  const auto got = ours(r.verdicts);
  const auto want = read_tshark(kData + "tls13.tshark.txt");
  ASSERT_FALSE(want.empty());
  EXPECT_EQ(got, want);
  // More than 16 KiB went client -> server: records spanning several segments.
  size_t big = 0;
  for (const Verdict& v : r.verdicts) {
    EXPECT_STREQ(v.proto, "tls13");
    if (v.wire_len > 1500) ++big;
    // With the key log, every protected record has keys: skipped (no decryptor linked).
    const std::string_view st = v.status;
    EXPECT_TRUE(st == "not_protected" || st == kSkipped) << st;
  }
  EXPECT_GE(big, 2u);
}

TEST(ReplayCapture, LiveTsharkAgreesWhenInstalled) {
  if (std::system("tshark -v >/dev/null 2>&1") != 0) GTEST_SKIP() << "tshark not installed";
  const std::string cap = kData + "tls13.pcap", out = temp_path("tshark_live.txt");
  const std::string cmd = "tshark -r '" + cap + "' -Y tls -T fields -e frame.number -e tls.record.length > '" +
                          out + "' 2>/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  RunResult r = run_capture(cap);
  EXPECT_EQ(ours(r.verdicts), read_tshark(out));
  // Without a key log: no_key instead of skipped, same framing.
  for (const Verdict& v : r.verdicts) {
    const std::string_view st = v.status;
    EXPECT_TRUE(st == "not_protected" || st == kNoKey) << st;
  }
}

TEST(ReplayCapture, JsonLinesRoundTripAndExpectReportsEachDifference) {
  RunResult r = run_capture(kData + "tls13.pcap");
  ASSERT_GT(r.verdicts.size(), 10u);
  const std::string path = temp_path("expect.jsonl");
  std::vector<std::string> lines;
  for (const Verdict& v : r.verdicts) {
    lines.push_back(to_json(v));
    std::map<std::string, std::string> f;
    std::string err;
    ASSERT_TRUE(parse_flat_json(lines.back(), f, &err)) << err << "\n" << lines.back();
    EXPECT_EQ(f, fields(v));
  }
  auto write = [&](const std::vector<std::string>& ls) {
    std::ofstream o(path);
    for (auto& l : ls) o << l << "\n";
  };
  auto check = [&](Diag& d) {
    ExpectChecker ex;
    EXPECT_TRUE(ex.load(path, d));
    for (const Verdict& v : r.verdicts) ex.emit(v);
    return ex.finish(d);
  };
  write(lines);
  {
    Diag d;
    d.quiet = true;
    EXPECT_EQ(check(d), 0u);
    EXPECT_EQ(d.errors(), 0u);
  }
  // One status changed, one line removed, one extra line, one line that is not JSON.
  std::vector<std::string> edited = lines;
  const size_t pos = edited[3].find("\"status\":\"");
  edited[3].replace(pos, std::string("\"status\":\"no_key\"").size(), "\"status\":\"auth_failed\"");
  edited.erase(edited.begin() + 5);
  edited.push_back("{\"frame\":999,\"index\":0,\"status\":\"ok\"}");
  edited.push_back("{\"frame\":1000,");
  write(edited);
  Diag d;
  d.quiet = true;
  EXPECT_EQ(check(d), 3u);
  std::string all;
  for (auto& m : d.messages()) all += m + "\n";
  EXPECT_NE(all.find("status expected auth_failed, got no_key"), std::string::npos) << all;
  EXPECT_NE(all.find("frame " + std::to_string(r.verdicts[5].frame) + " index " +
                     std::to_string(r.verdicts[5].index) + ": not in"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("frame 999 index 0 (" + path + ":" + std::to_string(edited.size() - 1) +
                     "): expected, never produced"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find(path + ":" + std::to_string(edited.size()) + ": error: not a JSON object"),
            std::string::npos)
      << all;
}

TEST(ReplayCapture, SummaryCountsAndPlaintextExport) {
  Summary s;
  Verdict v;
  v.proto = "tls13";
  v.dir = "client";
  v.status = "ok";
  v.flow = 3;
  const Bytes plain = {'h', 'i'};
  v.set_plaintext(plain);
  s.emit(v);
  v.status = "auth_failed";
  s.emit(v);
  v.status = kNoKey;
  s.emit(v);
  v.status = kSkipped;
  s.emit(v);
  v.dir = "server";
  v.set_status(Status::replayed);
  s.emit(v);
  const auto& c = s.rows().at({"tls13", "client"});
  EXPECT_EQ(c.seen, 4u);
  EXPECT_EQ(c.ok, 1u);
  EXPECT_EQ(c.no_key, 1u);
  EXPECT_EQ(c.skipped, 1u);
  EXPECT_EQ(c.failed.at("auth_failed"), 1u);
  EXPECT_EQ(s.rows().at({"tls13", "server"}).failed.at("replayed"), 1u);
  EXPECT_EQ(s.failed(), 2u);
  // sha256("hi")
  EXPECT_EQ(hex(*v.digest()), "8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4");

  const std::string dir = temp_path("plain");
  Diag d;
  d.quiet = true;
  {
    PlaintextWriter pw;
    ASSERT_TRUE(pw.open(dir, d));
    v.dir = "client";
    v.status = "ok";
    pw.emit(v);
    pw.emit(v);
    v.status = kSkipped;  // not decrypted: not written
    pw.emit(v);
  }
  std::ifstream in(dir + "/flow3-tls13-client.bin", std::ios::binary);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "hihi");
}

}  // namespace
}  // namespace rl::replay::test
