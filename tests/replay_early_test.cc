// TLS 1.3 0-RTT in rl-replay: the committed OpenSSL capture tests/data/replay/tls13_early
// (make_decrypt_captures.sh: a resumed session with early data) against tshark's own
// decryption of it (tls13_early.truth.txt, extract_truth.py): the early data and the
// EndOfEarlyData open under CLIENT_EARLY_TRAFFIC_SECRET (epoch 1); without that line they
// have no key and the rest still decrypts; a damaged early record fails alone.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "tests/replay/harness.h"
#include "tools/replay/pcap_source.h"
#include "tools/replay/tls_decryptor.h"

namespace rl::replay {
namespace {

const std::string kDir = std::string(RL_SOURCE_DIR) + "/tests/data/replay/";

std::vector<Verdict> replay(const std::string& keylog_text, size_t flip_frame = 0) {
  Keys keys;
  Diag kd;
  kd.quiet = true;
  keys.keylog.add_text(keylog_text, "early.keylog", kd);
  test::Collect c;
  Diag diag;
  diag.quiet = true;
  TlsDecryptor tls(keys, diag);
  Replayer rep(keys, {}, c, diag);
  rep.set_sink(Proto::tls, &tls);
  PcapSource src;
  EXPECT_TRUE(src.open(kDir + "tls13_early.pcap", diag));
  rep.begin(src.linktype(), "tls13_early.pcap");
  Frame f;
  while (src.next(f, diag) == PcapSource::Next::frame) {
    Bytes copy(f.data.begin(), f.data.end());
    if (f.number == flip_frame) copy.back() ^= 0x01;  // the last record's tag
    Frame g = f;
    g.data = copy;
    rep.frame(g);
  }
  rep.end();
  return c.v;
}

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const Verdict* at(const std::vector<Verdict>& vs, uint64_t frame, uint32_t index) {
  for (const Verdict& v : vs)
    if (v.frame == frame && v.index == index) return &v;
  return nullptr;
}

TEST(ReplayEarlyData, MatchesTsharkWithEarlySecretAsEpochOne) {
  const std::string keylog = read(kDir + "tls13_early.keylog");
  if (keylog.empty()) GTEST_SKIP() << "tls13_early.keylog missing";
  ASSERT_NE(keylog.find("CLIENT_EARLY_TRAFFIC_SECRET"), std::string::npos);
  const std::vector<Verdict> out = replay(keylog);
  // Every "rec FRAME INDEX TYPE LEN SHA256" line of tshark's truth.
  std::istringstream truth(read(kDir + "tls13_early.truth.txt"));
  std::string line;
  size_t checked = 0;
  while (std::getline(truth, line)) {
    std::istringstream ls(line);
    std::string tag, sha;
    uint64_t frame = 0, index = 0, type = 0, len = 0;
    if (!(ls >> tag) || tag != "rec") continue;
    ls >> frame >> index >> type >> len >> sha;
    const Verdict* v = at(out, frame, static_cast<uint32_t>(index));
    ASSERT_NE(v, nullptr) << line;
    EXPECT_STREQ(v->status, "ok") << line;
    EXPECT_EQ(v->type, static_cast<int>(type)) << line;
    EXPECT_EQ(v->len, len) << line;
    ASSERT_TRUE(v->sha256.has_value());
    EXPECT_EQ(hex(*v->sha256), sha) << line;
    ++checked;
  }
  EXPECT_EQ(checked, 8u);
  // The early data (frame 4, after ClientHello and CCS) and EndOfEarlyData (frame 8,
  // before the client's Finished under its handshake key).
  const Verdict* ed = at(out, 4, 2);
  ASSERT_NE(ed, nullptr);
  EXPECT_EQ(ed->epoch, 1u);
  EXPECT_EQ(ed->seq, 0u);
  EXPECT_EQ(ed->type, 23);
  const Verdict* eoed = at(out, 8, 0);
  ASSERT_NE(eoed, nullptr);
  EXPECT_EQ(eoed->epoch, 1u);
  EXPECT_EQ(eoed->seq, 1u);
  EXPECT_EQ(eoed->len, 4u);
  const Verdict* fin = at(out, 8, 1);
  ASSERT_NE(fin, nullptr);
  EXPECT_EQ(fin->epoch, 2u);
  EXPECT_EQ(fin->seq, 0u);
}

TEST(ReplayEarlyData, WithoutTheEarlySecretOnlyEarlyRecordsLackKeys) {
  std::string keylog = read(kDir + "tls13_early.keylog");
  if (keylog.empty()) GTEST_SKIP() << "tls13_early.keylog missing";
  std::istringstream in(keylog);
  std::string line, kept;
  while (std::getline(in, line))
    if (line.rfind("CLIENT_EARLY_TRAFFIC_SECRET", 0) != 0) kept += line + "\n";
  const std::vector<Verdict> out = replay(kept);
  const Verdict* ed = at(out, 4, 2);
  ASSERT_NE(ed, nullptr);
  EXPECT_STREQ(ed->status, kNoKey);
  // Application data both ways still decrypts.
  for (uint64_t frame : {11u, 13u}) {
    const Verdict* v = at(out, frame, 0);
    ASSERT_NE(v, nullptr);
    EXPECT_STREQ(v->status, "ok") << frame;
  }
}

TEST(ReplayEarlyData, DamagedEarlyRecordFailsAlone) {
  const std::string keylog = read(kDir + "tls13_early.keylog");
  if (keylog.empty()) GTEST_SKIP() << "tls13_early.keylog missing";
  const std::vector<Verdict> good = replay(keylog), bad = replay(keylog, 4);
  ASSERT_EQ(good.size(), bad.size());
  for (size_t i = 0; i < good.size(); ++i) {
    if (good[i].frame == 4 && good[i].index == 2) {
      EXPECT_STREQ(bad[i].status, "auth_failed");
      EXPECT_FALSE(bad[i].sha256.has_value());
      continue;
    }
    EXPECT_STREQ(bad[i].status, good[i].status) << good[i].frame << "/" << good[i].index;
    EXPECT_EQ(bad[i].sha256, good[i].sha256) << good[i].frame << "/" << good[i].index;
    EXPECT_EQ(bad[i].epoch, good[i].epoch) << good[i].frame << "/" << good[i].index;
  }
}

}  // namespace
}  // namespace rl::replay
