// DTLS 1.2 Connection IDs (RFC 9146) in rl-replay: tls12_cid records (type 25) are framed
// with the CID length the hellos negotiated and opened with the CID their receiver asked
// for. Capture: tests/data/replay/dtls12_cid (make_dtls12_cid.py, an RFC 9146 sealer over
// python3-cryptography; tshark 4.0 decrypts it to the same plaintexts, which the script
// checks). A CID byte or tag byte changed fails that record alone.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "tests/replay/harness.h"
#include "tools/replay/datagram_framing.h"
#include "tools/replay/dtls_decryptor.h"
#include "tools/replay/pcap_source.h"

namespace rl::replay {
namespace {

const std::string kDir = std::string(RL_SOURCE_DIR) + "/tests/data/replay/";

TEST(ReplayCid, SplitsTls12CidRecordsWithTheNegotiatedLength) {
  // Two tls12_cid records with a 3-byte CID, then one plain record, in one datagram.
  Bytes d;
  auto rec25 = [&](uint8_t seq, Bytes body) {
    Bytes h = {25, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, seq, 0xaa, 0xbb, 0xcc,
               0, static_cast<uint8_t>(body.size())};
    d.insert(d.end(), h.begin(), h.end());
    d.insert(d.end(), body.begin(), body.end());
  };
  rec25(1, Bytes(30, 7));
  rec25(2, Bytes(5, 9));
  const Bytes plain = {21, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 3, 0, 2, 1, 0};
  d.insert(d.end(), plain.begin(), plain.end());
  std::vector<DtlsRecordInfo> out;
  size_t bad = 0;
  ASSERT_EQ(split_dtls(d, 3, out, bad), DtlsSplit::ok);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].type, 25);
  EXPECT_EQ(out[0].seq, 1u);
  EXPECT_EQ(out[0].cid.size(), 3u);
  EXPECT_EQ(out[0].cid[0], 0xaa);
  EXPECT_EQ(out[0].fragment.size(), 30u);
  EXPECT_EQ(out[1].fragment.size(), 5u);
  EXPECT_EQ(out[1].wire.size(), 16u + 5u);
  EXPECT_EQ(out[2].type, 21);
  // A length running past the datagram is malformed, not read beyond it.
  out.clear();
  Bytes cut(d.begin(), d.begin() + 20);
  EXPECT_EQ(split_dtls(cut, 3, out, bad), DtlsSplit::malformed);
  EXPECT_EQ(bad, 0u);
}

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<Verdict> replay(size_t flip_frame = 0, size_t flip_from_end = 0, size_t flip_off = 0) {
  Keys keys;
  Diag kd;
  kd.quiet = true;
  keys.keylog.add_text(read(kDir + "dtls12_cid.keylog"), "dtls12_cid.keylog", kd);
  test::Collect c;
  Diag diag;
  diag.quiet = true;
  DtlsDecryptor dtls(keys, diag);
  Replayer rep(keys, {}, c, diag);
  rep.set_sink(Proto::dtls, &dtls);
  PcapSource src;
  EXPECT_TRUE(src.open(kDir + "dtls12_cid.pcap", diag));
  rep.begin(src.linktype(), "dtls12_cid.pcap");
  Frame f;
  while (src.next(f, diag) == PcapSource::Next::frame) {
    Bytes copy(f.data.begin(), f.data.end());
    if (f.number == flip_frame) {
      if (flip_from_end) copy[copy.size() - flip_from_end] ^= 0x01;
      else copy[flip_off] ^= 0x01;
    }
    Frame g = f;
    g.data = copy;
    rep.frame(g);
  }
  rep.end();
  return c.v;
}

TEST(ReplayCid, DecryptsAsSealedAndEachDamageFailsAlone) {
  if (read(kDir + "dtls12_cid.keylog").empty()) GTEST_SKIP() << "dtls12_cid.keylog missing";
  const std::vector<Verdict> good = replay();
  std::istringstream truth(read(kDir + "dtls12_cid.truth.txt"));
  std::string line;
  size_t checked = 0;
  while (std::getline(truth, line)) {
    std::istringstream ls(line);
    std::string tag, sha;
    uint64_t frame = 0, index = 0, type = 0, len = 0;
    if (!(ls >> tag) || tag != "rec") continue;
    ls >> frame >> index >> type >> len >> sha;
    const Verdict* v = nullptr;
    for (const Verdict& x : good)
      if (x.frame == frame && x.index == index) v = &x;
    ASSERT_NE(v, nullptr) << line;
    EXPECT_STREQ(v->status, "ok") << line;
    EXPECT_EQ(v->epoch, 1u) << line;
    EXPECT_EQ(v->type, static_cast<int>(type)) << line;
    EXPECT_EQ(v->len, len) << line;
    ASSERT_TRUE(v->sha256.has_value());
    EXPECT_EQ(hex(*v->sha256), sha) << line;
    ++checked;
  }
  EXPECT_EQ(checked, 7u);
  // Frame 4: one client record. Its CID starts at Ethernet 14 + IP 20 + UDP 8 + 11.
  const size_t cid_at = 14 + 20 + 8 + 11;
  for (int what = 0; what < 2; ++what) {
    SCOPED_TRACE(what == 0 ? "tag byte" : "CID byte");
    const std::vector<Verdict> bad = what == 0 ? replay(4, 1) : replay(4, 0, cid_at + 1);
    ASSERT_EQ(bad.size(), good.size());
    for (size_t i = 0; i < good.size(); ++i) {
      if (good[i].frame == 4) {
        EXPECT_STRNE(bad[i].status, "ok");
        EXPECT_FALSE(bad[i].sha256.has_value());
      } else {
        EXPECT_STREQ(bad[i].status, good[i].status) << i;
        EXPECT_EQ(bad[i].sha256, good[i].sha256) << i;
        EXPECT_EQ(bad[i].seq, good[i].seq) << i;
      }
    }
  }
}

}  // namespace
}  // namespace rl::replay
