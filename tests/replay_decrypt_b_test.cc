// rl-replay's QUIC, ESP and SRTP decryptors on synthetic traffic protected by the engine's
// own seal side (the real-peer captures are checked by tests/replay/decrypt_b_test.py):
// QUIC v1 and v2 with every suite and key updates, what a damaged packet does (it alone
// fails, nothing after it is disturbed), missing keys, and the xfrm -> SaConfig mapping.
#include <gtest/gtest.h>
#include <openssl/sha.h>
#include <pcap/pcap.h>

#include <array>
#include <string>
#include <vector>

#include "tests/replay/harness.h"
#include "tests/replay/quic_synth.h"
#include "tools/replay/esp_decryptor.h"
#include "tools/replay/quic_decryptor.h"
#include "tools/replay/srtp_decryptor.h"

namespace rl::replay {
namespace {

std::array<uint8_t, 32> sha(const std::vector<uint8_t>& b) {
  std::array<uint8_t, 32> d{};
  SHA256(b.data(), b.size(), d.data());
  return d;
}

std::vector<Verdict> replay_quic(const test::QuicSynth& s, const Keys& keys) {
  test::Collect c;
  Diag diag;
  diag.quiet = true;
  QuicDecryptor q(keys);
  Replayer rep(keys, {}, c, diag);
  rep.set_sink(Proto::quic, &q);
  rep.begin(DLT_EN10MB, "synth");
  Frame f;
  for (size_t i = 0; i < s.frames.size(); ++i) {
    f.number = i + 1;
    f.data = ByteSpan(s.frames[i]);
    f.orig_len = static_cast<uint32_t>(s.frames[i].size());
    rep.frame(f);
  }
  rep.end();
  return c.v;
}

Keys keys_from(const std::string& keylog) {
  Keys k;
  Diag d;
  d.quiet = true;
  k.keylog.add_text(keylog, "synth.keylog", d);
  return k;
}

struct Case {
  quic::Version v;
  Suite s;
};

class QuicReplay : public ::testing::TestWithParam<Case> {};

TEST_P(QuicReplay, EveryPacketDecryptsAcrossKeyUpdates) {
  const auto [v, s] = GetParam();
  const test::QuicSynth syn = test::make_quic_synth(v, s, 40, 1350, 5);
  ASSERT_TRUE(syn.ok);
  const Keys keys = keys_from(syn.keylog);
  const std::vector<Verdict> out = replay_quic(syn, keys);
  ASSERT_EQ(out.size(), syn.frames.size());
  uint64_t max_epoch[2] = {0, 0};
  for (size_t i = 0; i < out.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_STREQ(out[i].status, "ok");
    EXPECT_EQ(out[i].frame, i + 1);
    EXPECT_EQ(out[i].index, 0u);
    EXPECT_EQ(out[i].dir, syn.from_client[i] ? "client" : "server");
    ASSERT_TRUE(out[i].sha256.has_value());
    EXPECT_EQ(*out[i].sha256, sha(syn.plaintext[i]));
    EXPECT_EQ(*out[i].len, syn.plaintext[i].size());
    if (i >= 2) {
      EXPECT_EQ(*out[i].seq, (i - 2) / 2);  // each side numbers its 1-RTT packets from 0
      const uint64_t e = *out[i].epoch;
      EXPECT_GE(e, 3u);
      EXPECT_GE(e, max_epoch[i % 2]);  // never back
      max_epoch[i % 2] = e;
    } else {
      EXPECT_EQ(*out[i].epoch, 0u);  // Initial
    }
  }
  // 20 packets per side, an update every 5: generations 0..3 seen.
  EXPECT_EQ(max_epoch[0], 3u + 3u);
  EXPECT_EQ(max_epoch[1], 3u + 3u);
}

INSTANTIATE_TEST_SUITE_P(All, QuicReplay,
                         ::testing::Values(Case{quic::Version::v1, Suite::aes128_gcm},
                                           Case{quic::Version::v1, Suite::aes256_gcm},
                                           Case{quic::Version::v1, Suite::chacha20_poly1305},
                                           Case{quic::Version::v2, Suite::aes128_gcm},
                                           Case{quic::Version::v2, Suite::aes256_gcm},
                                           Case{quic::Version::v2, Suite::chacha20_poly1305}));

TEST(QuicReplay, DamagedPacketFailsAloneAndChangesNothing) {
  test::QuicSynth syn = test::make_quic_synth(quic::Version::v1, Suite::aes128_gcm, 24, 300, 4);
  ASSERT_TRUE(syn.ok);
  const Keys keys = keys_from(syn.keylog);
  const std::vector<Verdict> good = replay_quic(syn, keys);
  // Frame 13 (a client 1-RTT packet right at a key update) and frame 2 (server Initial):
  // flip bytes of the header's packet number, of the payload and of the tag.
  for (size_t frame : {size_t{2}, size_t{13}}) {
    const size_t udp = 14 + 20 + 8, len = syn.frames[frame - 1].size();
    for (size_t off : {udp + (frame == 2 ? 30 : 10), udp + 60, len - 1}) {
      SCOPED_TRACE(std::to_string(frame) + "/" + std::to_string(off));
      test::QuicSynth bad = syn;
      bad.frames[frame - 1][off] ^= 0x20;
      const std::vector<Verdict> out = replay_quic(bad, keys);
      ASSERT_EQ(out.size(), good.size());
      for (size_t i = 0; i < out.size(); ++i) {
        if (i + 1 == frame) {
          EXPECT_STRNE(out[i].status, "ok");
          EXPECT_FALSE(out[i].sha256.has_value());
        } else if (frame == 2 && i >= 2) {
          // The server Initial carried the cipher suite: without it no 1-RTT keys for
          // either direction.
          EXPECT_STREQ(out[i].status, "no_key");
        } else {
          EXPECT_STREQ(out[i].status, "ok") << i;
          EXPECT_EQ(out[i].sha256, good[i].sha256) << i;
          EXPECT_EQ(out[i].epoch, good[i].epoch) << i;
        }
      }
    }
  }
}

// 1-RTT packets are held and opened in bursts (QuicDecryptor::flush): verdicts of other
// flows and protocols in between (here a DTLS flow's cleartext records, and on the QUIC
// flow itself long headers whose length runs past the datagram, reported malformed by the
// driver) must still come out in capture order, and every QUIC packet must decrypt as when
// it is alone.
TEST(QuicReplay, BurstsKeepCaptureOrderAmongOtherVerdicts) {
  const test::QuicSynth syn = test::make_quic_synth(quic::Version::v1, Suite::aes128_gcm, 300, 400, 50);
  ASSERT_TRUE(syn.ok);
  const Keys keys = keys_from(syn.keylog);
  const std::vector<Verdict> alone = replay_quic(syn, keys);
  test::QuicSynth mixed = syn;
  mixed.frames.clear();
  std::vector<size_t> quic_frame;  // 1-based frame number of each original frame
  const uint8_t dtls_hello[] = {22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0};
  const uint8_t stray[] = {0xc3, 0, 0, 0, 1, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0x44, 0x00, 1, 2, 3};
  for (size_t i = 0; i < syn.frames.size(); ++i) {
    mixed.frames.push_back(syn.frames[i]);
    quic_frame.push_back(mixed.frames.size());
    if (i % 7 == 3 || i % 11 == 5) {
      std::vector<uint8_t> f = test::synth_frame(i % 2 == 0, i % 7 == 3 ? dtls_hello : stray,
                                                 i % 7 == 3 ? sizeof dtls_hello : sizeof stray);
      if (i % 7 == 3) {  // the DTLS records on another flow
        store_be16(f.data() + 14 + 20, 40000);
        store_be16(f.data() + 14 + 20 + 2, 4433);
      }
      mixed.frames.push_back(f);
    }
  }
  const std::vector<Verdict> out = replay_quic(mixed, keys);
  for (size_t i = 1; i < out.size(); ++i)
    ASSERT_TRUE(out[i - 1].frame < out[i].frame ||
                (out[i - 1].frame == out[i].frame && out[i - 1].index < out[i].index))
        << "verdict " << i << " (frame " << out[i].frame << ") after frame " << out[i - 1].frame;
  std::vector<const Verdict*> q;
  size_t dtls = 0, malformed = 0;
  for (const Verdict& v : out) {
    if (std::string_view(v.status) == "malformed") ++malformed;
    else if (std::string_view(v.proto) == "quic") q.push_back(&v);
    else ++dtls;
  }
  EXPECT_GT(dtls, 40u);
  EXPECT_GT(malformed, 20u);
  ASSERT_EQ(q.size(), alone.size());
  for (size_t i = 0; i < q.size(); ++i) {
    EXPECT_EQ(q[i]->frame, quic_frame[i]) << i;
    EXPECT_STREQ(q[i]->status, "ok") << i;
    EXPECT_EQ(q[i]->sha256, alone[i].sha256) << i;
    EXPECT_EQ(q[i]->epoch, alone[i].epoch) << i;
    EXPECT_EQ(q[i]->seq, alone[i].seq) << i;
  }
}

TEST(QuicReplay, WithoutTheKeyLogOnlyInitialsDecrypt) {
  const test::QuicSynth syn = test::make_quic_synth(quic::Version::v1, Suite::aes128_gcm, 6);
  const std::vector<Verdict> out = replay_quic(syn, Keys{});
  ASSERT_EQ(out.size(), 8u);
  EXPECT_STREQ(out[0].status, "ok");
  EXPECT_STREQ(out[1].status, "ok");
  for (size_t i = 2; i < out.size(); ++i) EXPECT_STREQ(out[i].status, kNoKey);
  // A key log for another connection: still no key.
  const Keys other = keys_from(
      "CLIENT_TRAFFIC_SECRET_0 " + std::string(64, '0') + " " + std::string(64, '1') + "\n");
  const std::vector<Verdict> out2 = replay_quic(syn, other);
  for (size_t i = 2; i < out2.size(); ++i) EXPECT_STREQ(out2[i].status, kNoKey);
}

TEST(EspReplay, XfrmStateBecomesTheSaConfig) {
  Diag d;
  d.quiet = true;
  XfrmKeys x;
  ASSERT_EQ(x.add_text(R"(src 192.0.2.1 dst 192.0.2.2
	proto esp spi 0xc0ffee01 reqid 1 mode tunnel
	replay-window 0 flag af-unspec esn
	aead rfc4106(gcm(aes)) 0x000102030405060708090a0b0c0d0e0fa0a1a2a3 96
	anti-replay esn context:
	 seq-hi 0x1, seq 0x10, oseq-hi 0x0, oseq 0x2a
	 replay_window 128, bitmap-length 4
	 00000000 00000000 00000000 0000ffff
src 192.0.2.2 dst 192.0.2.1
	proto esp spi 0x00001001 reqid 2 mode transport
	replay-window 32
	aead rfc7539esp(chacha20,poly1305) 0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1fb0b1b2b3 128
)",
                       "x", d),
            2u);
  Bytes km;
  esp::SaConfig c;
  ASSERT_EQ(esp_config(x.states()[0], km, c), Status::ok);
  EXPECT_EQ(c.spi, 0xc0ffee01u);
  EXPECT_EQ(c.suite, Suite::aes128_gcm);
  EXPECT_EQ(c.icv_len, 12);
  EXPECT_TRUE(c.esn);
  EXPECT_EQ(c.mode, esp::Mode::tunnel);
  EXPECT_EQ(c.replay_window, 128u);
  EXPECT_EQ(c.highest_received, (uint64_t{1} << 32) | 0x10);
  ASSERT_EQ(c.keymat.size(), 20u);
  EXPECT_EQ(c.keymat[0], 0x00);
  EXPECT_EQ(c.keymat[19], 0xa3);
  ASSERT_EQ(esp_config(x.states()[1], km, c), Status::ok);
  EXPECT_EQ(c.suite, Suite::chacha20_poly1305);
  EXPECT_EQ(c.mode, esp::Mode::transport);
  EXPECT_FALSE(c.esn);
  EXPECT_EQ(c.replay_window, 32u);
  EXPECT_EQ(c.highest_received, 0u);
  EXPECT_EQ(c.keymat.size(), 36u);
}

TEST(SrtpReplay, SuiteNamesMapToProfiles) {
  Diag d;
  d.quiet = true;
  SrtpKeys k;
  ASSERT_EQ(k.add_text("ssrc=1 a=crypto:1 AES_CM_128_HMAC_SHA1_80 "
                       "inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\n"
                       "ssrc=2 a=crypto:1 AES_CM_128_HMAC_SHA1_32 "
                       "inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\n",
                       "k", d),
            2u);
  EXPECT_EQ(srtp_profile(k.keys()[0]), srtp::Profile::aes128_cm_sha1_80);
  EXPECT_EQ(srtp_profile(k.keys()[1]), srtp::Profile::aes128_cm_sha1_32);
}

}  // namespace
}  // namespace rl::replay
