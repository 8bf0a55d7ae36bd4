// Differential test of SRTP's SIMD kernels (simd/avx512/srtp_avx512 and
// simd/avx2/srtp_avx2 behind core/srtp_kernels) against BoringSSL's
// AES_ctr128_encrypt and HMAC(), on random keys, IVs (counters near 2^64 and
// 2^128 wraps included), every length 0..1500 and random lengths up to
// 16 KiB, singly and in bursts that mix keys. Every backend this machine runs
// takes the same inputs (for_each_backend: portable, avx2, avx512), and the
// buffers are exactly as long as the data, so that an ASan build catches a
// kernel touching a byte past a tail.
#include <gtest/gtest.h>
#include <openssl/aes.h>
#include <openssl/hmac.h>

#include <array>
#include <cstring>
#include <random>
#include <vector>

#include "core/bytes.h"
#include "core/srtp.h"
#include "core/srtp_kernels.h"
#include "simd/avx2/srtp_avx2.h"
#include "simd/avx512/srtp_avx512.h"
#include "simd/backend.h"
#include "tests/support/backends.h"
#include "tests/support/vectors.h"

namespace rl::srtp::detail {
namespace {

using Bytes = std::vector<uint8_t>;

// Reference: BoringSSL AES-CTR from keystream byte `offset` on.
Bytes ref_ctr(const Bytes& key, const uint8_t iv[16], const Bytes& in, uint64_t offset) {
  AES_KEY k;
  EXPECT_EQ(AES_set_encrypt_key(key.data(), static_cast<unsigned>(key.size() * 8), &k), 0);
  // Generate offset + len bytes of keystream from the IV and take the tail.
  Bytes ks(offset + in.size(), 0);
  uint8_t ctr[16], ec[16];
  std::memcpy(ctr, iv, 16);
  unsigned num = 0;
  AES_ctr128_encrypt(ks.data(), ks.data(), ks.size(), &k, ctr, ec, &num);
  Bytes out(in);
  for (size_t i = 0; i < in.size(); ++i) out[i] ^= ks[offset + i];
  return out;
}

Bytes ref_hmac(const Bytes& key, const Bytes& a, const Bytes& b) {
  Bytes msg(a);
  msg.insert(msg.end(), b.begin(), b.end());
  uint8_t out[20];
  unsigned out_len = 0;
  HMAC(EVP_sha1(), key.data(), key.size(), msg.data(), msg.size(), out, &out_len);
  EXPECT_EQ(out_len, 20u);
  return Bytes(out, out + 20);
}

// A burst of tag jobs: random 20-byte keys (keys drawn first), messages a ‖ b
// per job set by the test, each job's output, and the reference tag
// BoringSSL's HMAC gives it. The keys are wiped when the burst goes.
struct TagBurst {
  std::vector<Bytes> keys;
  std::vector<HmacSha1Key> hk;
  std::vector<Bytes> a, b;
  std::vector<std::array<uint8_t, 20>> out;
  std::vector<size_t> which;

  TagBurst(std::mt19937_64& rng, size_t nkeys, size_t n) : hk(nkeys), a(n), b(n), out(n), which(n) {
    for (size_t i = 0; i < nkeys; ++i) {
      keys.push_back(test::random_bytes(20, rng()));
      hmac_sha1_init(hk[i], keys[i]);
    }
  }
  ~TagBurst() {
    for (HmacSha1Key& k : hk) hmac_sha1_wipe(k);
  }
  TagBurst(const TagBurst&) = delete;
  TagBurst& operator=(const TagBurst&) = delete;

  size_t size() const { return a.size(); }
  void set(size_t i, size_t key, Bytes msg, Bytes tail) {
    which[i] = key;
    a[i] = std::move(msg);
    b[i] = std::move(tail);
  }
  // The jobs once every message is set: through core/srtp_kernels, or
  // straight to a tier's kernel.
  std::vector<TagJob> tag_jobs() {
    std::vector<TagJob> j;
    for (size_t i = 0; i < size(); ++i)
      j.push_back(TagJob{&hk[which[i]], a[i].data(), a[i].size(), b[i].data(), b[i].size(), out[i].data()});
    return j;
  }
  std::vector<srtp_simd::HmacJob> tier_jobs() {
    std::vector<srtp_simd::HmacJob> j;
    for (size_t i = 0; i < size(); ++i)
      j.push_back(srtp_simd::HmacJob{hk[which[i]].inner.h, hk[which[i]].outer.h, a[i].data(), a[i].size(),
                                     b[i].data(), b[i].size(), out[i].data()});
    return j;
  }
  Bytes tag(size_t i) const { return Bytes(out[i].begin(), out[i].end()); }
  Bytes want(size_t i) const { return ref_hmac(keys[which[i]], a[i], b[i]); }
};

void random_iv(std::mt19937_64& rng, uint8_t iv[16]) {
  for (int i = 0; i < 16; ++i) iv[i] = static_cast<uint8_t>(rng());
  switch (rng() % 4) {
    case 0:  // SRTP layout: low 16 bits zero
      iv[14] = iv[15] = 0;
      break;
    case 1:  // low 64 bits about to wrap
      std::memset(iv + 8, 0xff, 8);
      iv[15] = static_cast<uint8_t>(0xff - rng() % 8);
      break;
    case 2:  // the whole 128-bit counter about to wrap
      std::memset(iv, 0xff, 16);
      iv[15] = static_cast<uint8_t>(0xff - rng() % 8);
      break;
    default: break;
  }
}

// The tiers whose own SRTP kernels run here: forced to b, the kernels
// report tier b.
std::vector<Backend> kernel_tiers() {
  std::vector<Backend> v;
  const Backend saved = active_backend();
  for (Backend b : {Backend::avx2, Backend::avx512}) {
    if (set_backend(b) == Status::ok && simd_kernels_tier() == b) v.push_back(b);
  }
  set_backend(saved);
  return v;
}

// Which kernels each backend must run: its own tier's when the CPU has what
// that tier's SRTP file needs (VAES, SHA-NI), BoringSSL otherwise; never
// another tier's.
TEST(SrtpSimdDiff, SimdKernelsActiveOnTheirOwnTier) {
  size_t simd = 0;
  test::for_each_backend([&](Backend b) {
    Backend want = Backend::portable;
    if (b == Backend::avx512 && avx512::srtp_kernels_supported()) want = Backend::avx512;
    if (b == Backend::avx2 && avx2::srtp_kernels_supported()) want = Backend::avx2;
    EXPECT_EQ(simd_kernels_tier(), want);
    EXPECT_EQ(simd_kernels_active(), want != Backend::portable);
    CmKey k;
    ASSERT_TRUE(cm_init(k, test::random_bytes(16, 1)));
    EXPECT_EQ(cm_hmac_one_kernels(k) != nullptr, want != Backend::portable);
    cm_wipe(k);
    simd += want != Backend::portable ? 1 : 0;
  });
  EXPECT_EQ(kernel_tiers().size(), simd);
  if (simd == 0) GTEST_SKIP() << "CPU lacks VAES/SHA-NI (or AVX2): only the portable kernels ran";
}

TEST(SrtpSimdDiff, KeystreamEveryLengthAndRandomLongOnes) {
  std::mt19937_64 rng(1);
  test::for_each_backend([&](Backend) {
    for (size_t key_len : {16u, 24u, 32u}) {
      std::vector<size_t> lens;
      for (size_t l = 0; l <= 1500; ++l) lens.push_back(l);
      for (int i = 0; i < 64; ++i) lens.push_back(rng() % 16385);
      for (size_t len : lens) {
        const Bytes key = test::random_bytes(key_len, rng());
        uint8_t iv[16];
        random_iv(rng, iv);
        const uint64_t offset = (len % 7 == 0) ? rng() % 100 : 0;
        const Bytes in = test::random_bytes(len, rng());
        CmKey k;
        ASSERT_TRUE(cm_init(k, key));
        Bytes got(in);
        cm_keystream_xor(k, iv, got.data(), got.size(), offset);
        ASSERT_EQ(got, ref_ctr(key, iv, in, offset)) << "key " << key_len << " len " << len
                                                       << " offset " << offset;
        cm_wipe(k);
      }
    }
  });
}

TEST(SrtpSimdDiff, KeystreamBurstsMixingKeys) {
  std::mt19937_64 rng(2);
  test::for_each_backend([&](Backend) {
    for (int round = 0; round < 200; ++round) {
      const size_t nkeys = 1 + rng() % 3;
      std::vector<Bytes> keys;
      std::vector<CmKey> ck(nkeys);
      for (size_t i = 0; i < nkeys; ++i) {
        keys.push_back(test::random_bytes(rng() % 2 ? 16 : 32, rng()));
        ASSERT_TRUE(cm_init(ck[i], keys[i]));
      }
      const size_t n = 1 + rng() % 40;
      std::vector<Bytes> in(n), got(n);
      std::vector<CmJob> jobs(n);
      std::vector<size_t> which(n);
      for (size_t i = 0; i < n; ++i) {
        // Runs of one key with occasional switches, as streams in a burst.
        which[i] = (i == 0 || rng() % 4 == 0) ? rng() % nkeys : which[i - 1];
        const size_t len = rng() % 3 == 0 ? rng() % 2000 : 140 + rng() % 60;
        in[i] = test::random_bytes(len, rng());
        got[i] = in[i];
        CmJob& j = jobs[i];
        j.key = &ck[which[i]];
        random_iv(rng, j.iv);
        j.data = got[i].data();
        j.len = len;
        j.offset = rng() % 5 == 0 ? rng() % 40 : 0;
      }
      cm_keystream_xor_burst(jobs);
      for (size_t i = 0; i < n; ++i) {
        ASSERT_EQ(got[i], ref_ctr(keys[which[i]], jobs[i].iv, in[i], jobs[i].offset))
            << "round " << round << " job " << i;
      }
      for (CmKey& k : ck) cm_wipe(k);
    }
  });
}

TEST(SrtpSimdDiff, HmacEveryLengthAndRandomLongOnes) {
  std::mt19937_64 rng(3);
  test::for_each_backend([&](Backend) {
    std::vector<size_t> lens;
    for (size_t l = 0; l <= 1500; ++l) lens.push_back(l);
    for (int i = 0; i < 64; ++i) lens.push_back(rng() % 16385);
    for (size_t len : lens) {
      // 20-byte SRTP session keys mostly; other key sizes (incl. > 64) too.
      const size_t key_len = rng() % 8 == 0 ? rng() % 100 : 20;
      const Bytes key = test::random_bytes(key_len, rng());
      const Bytes a = test::random_bytes(len, rng());
      const size_t blen = (len % 3 == 0) ? 0 : (len % 3 == 1 ? 4 : rng() % 40);
      const Bytes b = test::random_bytes(blen, rng());
      HmacSha1Key k;
      hmac_sha1_init(k, key);
      uint8_t out[20];
      hmac_sha1_tag(k, a, b, out);
      ASSERT_EQ(Bytes(out, out + 20), ref_hmac(key, a, b)) << "len " << len << " blen " << blen;
      hmac_sha1_wipe(k);
    }
  });
}

TEST(SrtpSimdDiff, HmacBurstsMixingKeysAndLengths) {
  std::mt19937_64 rng(4);
  test::for_each_backend([&](Backend) {
    for (int round = 0; round < 300; ++round) {
      const size_t nkeys = 1 + rng() % 4;
      TagBurst t(rng, nkeys, 1 + rng() % 40);
      for (size_t i = 0; i < t.size(); ++i) {
        const size_t key = rng() % nkeys;
        // Lengths that differ in block count so lanes finish at different steps.
        Bytes msg = test::random_bytes(rng() % 2 ? rng() % 200 : rng() % 3000, rng());
        Bytes tail = test::random_bytes(rng() % 2 ? 4 : 0, rng());
        t.set(i, key, std::move(msg), std::move(tail));
      }
      hmac_sha1_tags(t.tag_jobs());
      for (size_t i = 0; i < t.size(); ++i) {
        ASSERT_EQ(t.tag(i), t.want(i)) << "round " << round << " job " << i;
      }
    }
  });
}

// The avx512 tag kernel called directly with more jobs than core/srtp_kernels
// hands it at once (32): mixed lengths and keys run as one or two 16-lane
// groups (pair_pays) whose lanes refill as their jobs finish, a group with
// nothing left dropping out; runs of equal block counts first take the
// lockstep waves and leave the rest to the refilling lanes.
TEST(SrtpSimdDiff, Avx512TagKernelBeyondOneChunk) {
  if (!avx512::srtp_kernels_supported()) GTEST_SKIP() << "CPU lacks the avx512 SRTP kernels";
  std::mt19937_64 rng(7);
  for (size_t n : {size_t{32}, size_t{33}, size_t{40}, size_t{47}, size_t{63}, size_t{64}, size_t{100}}) {
    for (int variant = 0; variant < 4; ++variant) {
      // 0: lengths in 0..3000; 1: 32 of one length, then mixed; 2: 1200 +- a
      // block; 3: 16 of 1212 B, then 700 B ones (the second group of lanes
      // runs out first and drops out; past 32 jobs, refills bring it back).
      const size_t nkeys = 1 + rng() % 3;
      TagBurst t(rng, nkeys, n);
      for (size_t i = 0; i < n; ++i) {
        const size_t key = variant == 1 && i < 32 ? 0 : rng() % nkeys;
        size_t len = rng() % 3000;
        if (variant == 1 && i < 32) len = 1212;
        if (variant == 2) len = 1140 + rng() % 128;
        if (variant == 3) len = i < 16 ? 1212 : 700;
        Bytes msg = test::random_bytes(len, rng());
        Bytes tail = test::random_bytes(4, rng());
        t.set(i, key, std::move(msg), std::move(tail));
      }
      const std::vector<srtp_simd::HmacJob> jobs = t.tier_jobs();
      avx512::hmac_sha1(jobs.data(), n);
      for (size_t i = 0; i < n; ++i) {
        ASSERT_EQ(t.tag(i), t.want(i)) << "n " << n << " variant " << variant << " job " << i;
      }
    }
  }
}

// Bursts of equal-sized packets, as a sender's burst usually is: the 16-lane
// kernel runs groups of 16 jobs with the same block count in lockstep (one
// phase for all lanes; two groups side by side where 32 agree, as in n = 32,
// 33 and 48) and the rest with per-lane refills. Sizes on both
// sides of the one/two tail block edge (alen % 64 + blen + 9 vs 64), burst
// sizes around multiples of 16, one key or several, lengths that differ
// within a block count, and a group whose last job breaks the lockstep.
TEST(SrtpSimdDiff, HmacBurstsOfEqualBlockCounts) {
  std::mt19937_64 rng(5);
  test::for_each_backend([&](Backend) {
    for (size_t alen : {size_t{0}, size_t{12}, size_t{51}, size_t{52}, size_t{55}, size_t{56},
                        size_t{63}, size_t{64}, size_t{172}, size_t{176}, size_t{1212},
                        size_t{1216}, size_t{1500}}) {
      for (size_t n : {size_t{15}, size_t{16}, size_t{17}, size_t{31}, size_t{32}, size_t{33},
                       size_t{48}}) {
        for (int variant = 0; variant < 4; ++variant) {
          // 0: one key, one length; 1: several keys; 2: lengths alen..alen+3
          // (same block count unless at an edge); 3: job 20 (or the last)
          // one block longer.
          const size_t nkeys = variant == 1 ? 3 : 1;
          TagBurst t(rng, nkeys, n);
          const size_t odd = n > 20 ? 20 : n - 1;
          for (size_t i = 0; i < n; ++i) {
            size_t len = alen;
            if (variant == 2) len += rng() % 4;
            if (variant == 3 && i == odd) len += 64;
            Bytes msg = test::random_bytes(len, rng());
            Bytes tail = test::random_bytes(4, rng());
            t.set(i, i % nkeys, std::move(msg), std::move(tail));
          }
          hmac_sha1_tags(t.tag_jobs());
          for (size_t i = 0; i < n; ++i) {
            ASSERT_EQ(t.tag(i), t.want(i))
                << "alen " << alen << " n " << n << " variant " << variant << " job " << i;
          }
        }
      }
    }
  });
}

// The lone-packet kernel (keystream stitched with the tag, core/srtp.cc uses
// it for a burst of one): against BoringSSL's AES-CTR and HMAC for header
// lengths on both sides of a block edge and every payload length 0..1500,
// then random ones (open: up to kOneMaxPayload). Open must leave the packet
// as it is and hand back the keystream that decrypts it.
TEST(SrtpSimdDiff, LonePacketStitchedKernelEveryLength) {
  const std::vector<Backend> tiers = kernel_tiers();
  if (tiers.empty()) GTEST_SKIP() << "no SIMD tier here";
  const Backend saved = active_backend();
  for (Backend tier : tiers) {
    SCOPED_TRACE(to_string(tier));
    ASSERT_EQ(set_backend(tier), Status::ok);
    std::mt19937_64 rng(6);
    std::vector<std::pair<size_t, size_t>> cases;  // (header, payload)
    for (size_t hdr : {size_t{12}, size_t{16}, size_t{60}, size_t{64}, size_t{76}}) {
      for (size_t pl = 0; pl <= 1500; ++pl) cases.emplace_back(hdr, pl);
    }
    for (int i = 0; i < 200; ++i) cases.emplace_back(12 + 4 * (rng() % 40), rng() % (kOneMaxPayload + 1));
    alignas(64) static uint8_t ks[kOneMaxPayload];
    for (auto [hdr, pl] : cases) {
      const Bytes key = test::random_bytes(rng() % 2 ? 16 : 32, rng());
      const Bytes auth = test::random_bytes(20, rng());
      CmKey ck;
      ASSERT_TRUE(cm_init(ck, key));
      const SimdKernels* sk = cm_hmac_one_kernels(ck);
      ASSERT_NE(sk, nullptr);
      HmacSha1Key hk;
      hmac_sha1_init(hk, auth);
      uint8_t iv[16];
      random_iv(rng, iv);
      const Bytes roc = test::random_bytes(4, rng());
      const Bytes plain = test::random_bytes(hdr + pl, rng());
      // Reference: header ‖ E(payload), tag over that ‖ ROC.
      Bytes want(plain.begin(), plain.begin() + static_cast<long>(hdr));
      const Bytes ct = ref_ctr(key, iv, Bytes(plain.begin() + static_cast<long>(hdr), plain.end()), 0);
      want.insert(want.end(), ct.begin(), ct.end());
      const Bytes want_tag = ref_hmac(auth, want, roc);

      Bytes msg = plain;
      uint8_t tag[20];
      cm_seal_one(*sk, ck, iv, hk, msg.data(), msg.size(), hdr, roc.data(), tag);
      ASSERT_EQ(msg, want) << "seal hdr " << hdr << " payload " << pl;
      ASSERT_EQ(Bytes(tag, tag + 20), want_tag) << "seal hdr " << hdr << " payload " << pl;

      if (pl <= kOneMaxPayload) {
        uint8_t tag2[20];
        cm_open_one(*sk, ck, iv, hk, msg.data(), msg.size(), hdr, roc.data(), tag2, ks);
        ASSERT_EQ(msg, want) << "open wrote to the packet, payload " << pl;
        ASSERT_EQ(Bytes(tag2, tag2 + 20), want_tag) << "open hdr " << hdr << " payload " << pl;
        xor_into(*sk, msg.data() + hdr, ks, pl);
        ASSERT_EQ(msg, plain) << "open keystream, hdr " << hdr << " payload " << pl;
      }
      hmac_sha1_wipe(hk);
      cm_wipe(ck);
    }
  }
  set_backend(saved);
}

// Whole sessions: a burst of 32 packets over three SSRCs sealed on each tier
// gives the same bytes; each tier opens each other's burst, with some packets
// corrupted in the middle of it (those fail, the rest come back as sent).
TEST(SrtpSimdDiff, SessionBurstsSameBytesOnEveryTier) {
  const std::vector<Backend> tiers = kernel_tiers();
  if (tiers.empty()) GTEST_SKIP() << "no SIMD tier to compare with";
  std::mt19937_64 rng(5);
  for (Profile prof : {Profile::aes128_cm_sha1_80, Profile::aes256_cm_sha1_32,
                       Profile::aes128_cm_sha1_32, Profile::null_sha1_80}) {
    const ProfileInfo info = profile_info(prof);
    SCOPED_TRACE(info.name);
    const Bytes key = test::random_bytes(info.master_key_len, rng());
    const Bytes salt = test::random_bytes(14, rng());
    Policy pol;
    pol.profile = prof;
    const MasterKey mk{key, salt, {}};
    constexpr size_t kN = 32;
    std::vector<Bytes> plain(kN);
    for (size_t i = 0; i < kN; ++i) {
      const size_t payload = i == 0 ? 0 : (i % 5 == 0 ? rng() % 1500 : 160 + rng() % 4);
      Bytes pk = test::random_bytes(12 + payload, rng());
      pk[0] = 0x80;
      pk[1] = 96;
      store_be16(pk.data() + 2, static_cast<uint16_t>(100 + i / 3));
      store_be32(pk.data() + 8, 0x1000 + static_cast<uint32_t>(i % 3));
      plain[i] = pk;
    }
    auto seal_on = [&](Backend b, std::vector<Bytes>& mem) {
      EXPECT_EQ(set_backend(b), Status::ok);
      Session tx(Direction::seal);
      EXPECT_EQ(tx.set_template(pol, {&mk, 1}), Status::ok);
      std::vector<PacketView> v;
      mem.clear();
      for (const Bytes& pk : plain) {
        mem.push_back(pk);
        mem.back().resize(pk.size() + 32);
      }
      for (size_t i = 0; i < kN; ++i) {
        v.push_back(PacketView{mem[i].data(), static_cast<uint32_t>(mem[i].size()), 0,
                               static_cast<uint32_t>(plain[i].size())});
      }
      EXPECT_EQ(tx.seal(v), kN);
      for (size_t i = 0; i < kN; ++i) mem[i].resize(v[i].length);
    };
    const Backend saved = active_backend();
    std::vector<Bytes> by_portable;
    seal_on(Backend::portable, by_portable);
    std::vector<Backend> all{Backend::portable};
    all.insert(all.end(), tiers.begin(), tiers.end());
    for (Backend sealer : all) {
      SCOPED_TRACE(std::string("sealed by ") + to_string(sealer));
      std::vector<Bytes> by_simd;
      seal_on(sealer, by_simd);
      ASSERT_EQ(by_portable, by_simd);
      for (Backend opener : all) {
        SCOPED_TRACE(std::string("opened by ") + to_string(opener));
        ASSERT_EQ(set_backend(opener), Status::ok);
        Session rx(Direction::open);
        ASSERT_EQ(rx.set_template(pol, {&mk, 1}), Status::ok);
        std::vector<Bytes> mem = by_simd;
        std::vector<bool> bad(kN);
        std::vector<PacketView> v;
        for (size_t i = 0; i < kN; ++i) {
          bad[i] = i % 7 == 3;
          if (bad[i]) mem[i][rng() % mem[i].size()] ^= static_cast<uint8_t>(1 + rng() % 255);
          v.push_back(PacketView{mem[i].data(), static_cast<uint32_t>(mem[i].size()), 0,
                                 static_cast<uint32_t>(mem[i].size())});
        }
        const std::vector<Bytes> arrived = mem;
        size_t want = 0;
        for (size_t i = 0; i < kN; ++i) want += bad[i] ? 0 : 1;
        EXPECT_EQ(rx.open(v), want);
        for (size_t i = 0; i < kN; ++i) {
          if (bad[i]) {
            EXPECT_NE(v[i].status, Status::ok) << i;
            EXPECT_EQ(mem[i], arrived[i]) << i;  // left as it arrived
          } else {
            ASSERT_EQ(v[i].status, Status::ok) << i;
            EXPECT_EQ(Bytes(mem[i].begin(), mem[i].begin() + v[i].length), plain[i]) << i;
          }
        }
      }
    }
    set_backend(saved);
  }
}

// Lone packets through a Session (a burst of one takes the stitched kernel
// on a SIMD tier): sealed one at a time on each tier, the bytes equal
// BoringSSL's; each tier opens each other's packets one at a time, corrupted
// ones fail and stay as they arrived.
TEST(SrtpSimdDiff, SessionLonePacketsSameBytesOnEveryTier) {
  const std::vector<Backend> tiers = kernel_tiers();
  if (tiers.empty()) GTEST_SKIP() << "no SIMD tier to compare with";
  std::vector<Backend> all{Backend::portable};
  all.insert(all.end(), tiers.begin(), tiers.end());
  const Backend saved = active_backend();
  std::mt19937_64 rng(7);
  for (Profile prof : {Profile::aes128_cm_sha1_80, Profile::aes256_cm_sha1_80,
                       Profile::aes128_cm_sha1_32}) {
    const ProfileInfo info = profile_info(prof);
    SCOPED_TRACE(info.name);
    const Bytes key = test::random_bytes(info.master_key_len, rng());
    const Bytes salt = test::random_bytes(14, rng());
    Policy pol;
    pol.profile = prof;
    const MasterKey mk{key, salt, {}};
    // Payloads across chunk and block edges, one past kOneMaxPayload (which
    // opens through the burst path).
    std::vector<Bytes> plain;
    for (size_t payload : {size_t{0}, size_t{1}, size_t{31}, size_t{32}, size_t{33}, size_t{40},
                           size_t{63}, size_t{64}, size_t{65}, size_t{148}, size_t{160},
                           size_t{1188}, size_t{1500}, kOneMaxPayload, kOneMaxPayload + 1}) {
      Bytes pk = test::random_bytes(12 + payload, rng());
      pk[0] = 0x80;
      pk[1] = 96;
      store_be16(pk.data() + 2, static_cast<uint16_t>(200 + plain.size()));
      store_be32(pk.data() + 8, 0x2000);
      plain.push_back(pk);
    }
    auto seal_on = [&](Backend b) {
      EXPECT_EQ(set_backend(b), Status::ok);
      Session tx(Direction::seal);
      EXPECT_EQ(tx.set_template(pol, {&mk, 1}), Status::ok);
      std::vector<Bytes> out;
      for (const Bytes& pk : plain) {
        Bytes m = pk;
        m.resize(pk.size() + 32);
        PacketView v{m.data(), static_cast<uint32_t>(m.size()), 0, static_cast<uint32_t>(pk.size())};
        EXPECT_EQ(tx.seal({&v, 1}), 1u);
        m.resize(v.length);
        out.push_back(m);
      }
      return out;
    };
    const std::vector<Bytes> by_portable = seal_on(Backend::portable);
    for (Backend sealer : all) {
      SCOPED_TRACE(std::string("sealed by ") + to_string(sealer));
      const std::vector<Bytes> sealed = seal_on(sealer);
      ASSERT_EQ(sealed, by_portable);
      for (Backend opener : all) {
        SCOPED_TRACE(std::string("opened by ") + to_string(opener));
        ASSERT_EQ(set_backend(opener), Status::ok);
        Session rx(Direction::open);
        ASSERT_EQ(rx.set_template(pol, {&mk, 1}), Status::ok);
        for (size_t i = 0; i < sealed.size(); ++i) {
          Bytes m = sealed[i];
          const bool bad = i % 4 == 2;
          if (bad) m[rng() % m.size()] ^= static_cast<uint8_t>(1 + rng() % 255);
          const Bytes arrived = m;
          PacketView v{m.data(), static_cast<uint32_t>(m.size()), 0, static_cast<uint32_t>(m.size())};
          EXPECT_EQ(rx.open({&v, 1}), bad ? 0u : 1u) << i;
          if (bad) {
            EXPECT_NE(v.status, Status::ok) << i;
            EXPECT_EQ(m, arrived) << i;
          } else {
            ASSERT_EQ(v.status, Status::ok) << i;
            EXPECT_EQ(Bytes(m.begin(), m.begin() + v.length), plain[i]) << i;
          }
        }
      }
    }
  }
  set_backend(saved);
}

}  // namespace
}  // namespace rl::srtp::detail
