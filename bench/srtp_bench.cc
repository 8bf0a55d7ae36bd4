// SRTP / SRTCP protect and unprotect through rl::srtp::Session.
//   seal|open/srtp/<profile>/<bytes>/<burst>    RTP: 12-byte header + <bytes> payload
//   seal|open/srtcp/<profile>/<bytes>/<burst>   RTCP: 8-byte header + <bytes>
//   tag/hmac-<variant>/sha1_80/<bytes>/1        the three ways to run HMAC-SHA1
//                                               per packet with BoringSSL
//   seal|open/aead-srtp/<gcm profile>/<bytes>/<burst>  the raw AEAD (rl::seal /
//                                               rl::open) over the same buffers
//                                               as the srtp rows: AAD = the
//                                               12-byte header in the packet,
//                                               payload in place; what SRTP-GCM
//                                               framing is measured against
// libsrtp2's numbers come from rl-bench-libsrtp (bench/peers/libsrtp_bench.cc),
// which measures srtp_protect/srtp_unprotect the same way.
//
// Open needs a fresh, correctly protected packet every time (the replay window
// refuses repeats), so a ring of packets is protected outside the timed region
// and refilled (timing paused) when used up; seal re-protects in place with
// the next sequence number, as a sender does.
#include <openssl/hmac.h>

#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "bench/support/bench_util.h"
#include "bench/support/flip_open.h"
#include "core/aead.h"
#include "core/bytes.h"
#include "core/srtp.h"

namespace rl::bench {
namespace {

using srtp::Profile;
using srtp::Session;

constexpr size_t kSizes[] = {160, 1200};
constexpr size_t kBursts[] = {1, 32};
constexpr Profile kProfiles[] = {Profile::aes128_cm_sha1_80, Profile::aes128_cm_sha1_32,
                                 Profile::aes256_cm_sha1_80, Profile::aead_aes128_gcm,
                                 Profile::aead_aes256_gcm};
constexpr uint32_t kSsrc = 0x12345678;

size_t ring_size(size_t bytes) { return bytes <= 200 ? 4096 : 1024; }

struct Ring {
  bool rtcp;
  uint32_t hdr, plain_len;
  std::vector<std::vector<uint8_t>> mem;
  std::vector<PacketView> v;
  uint16_t seq = 1;
  Ring(bool rtcp_, size_t bytes, size_t n) : rtcp(rtcp_) {
    hdr = rtcp ? 8 : 12;
    plain_len = static_cast<uint32_t>(hdr + bytes);
    for (size_t i = 0; i < n; ++i) {
      mem.push_back(pattern(plain_len + 64, static_cast<uint8_t>(i)));
      uint8_t* p = mem.back().data();
      p[0] = 0x80;
      if (rtcp) {
        p[1] = 200;
        store_be16(p + 2, static_cast<uint16_t>(plain_len / 4 - 1));
        store_be32(p + 4, kSsrc);
      } else {
        p[1] = 96;
        store_be32(p + 4, 0);
        store_be32(p + 8, kSsrc);
      }
      v.push_back(PacketView{p, static_cast<uint32_t>(mem.back().size()), 0, plain_len});
    }
  }
  // Next packets to protect: plaintext length again, next sequence number.
  void reset(size_t from, size_t n) {
    for (size_t i = from; i < from + n; ++i) {
      v[i].length = plain_len;
      v[i].status = Status::ok;
      if (!rtcp) store_be16(v[i].buf + 2, seq++);
    }
  }
};

std::unique_ptr<Session> make(Direction d, Profile p) {
  auto s = std::make_unique<Session>(d, 4);
  const srtp::ProfileInfo i = srtp::profile_info(p);
  const std::vector<uint8_t> key = pattern(i.master_key_len, 1), salt = pattern(i.master_salt_len, 2);
  srtp::Policy pol;
  pol.profile = p;
  const srtp::MasterKey mk{key, salt, {}};
  if (s->set_template(pol, {&mk, 1}) != Status::ok) return nullptr;
  return s;
}

void bm_seal(benchmark::State& st, Profile p, bool rtcp, size_t bytes, size_t burst) {
  auto tx = make(Direction::seal, p);
  Ring r(rtcp, bytes, burst);
  for (auto _ : st) {
    r.reset(0, burst);
    const size_t ok = rtcp ? tx->seal_rtcp(r.v) : tx->seal(r.v);
    if (ok != burst) st.SkipWithError("seal failed");
    benchmark::DoNotOptimize(r.v[0].buf[r.v[0].length - 1]);
  }
  set_counters(st, bytes, burst);
}

void bm_open(benchmark::State& st, Profile p, bool rtcp, size_t bytes, size_t burst) {
  auto tx = make(Direction::seal, p);
  auto rx = make(Direction::open, p);
  const size_t n = ring_size(bytes);
  Ring r(rtcp, bytes, n);
  auto refill = [&]() {
    r.reset(0, n);
    std::span<PacketView> all(r.v);
    if ((rtcp ? tx->seal_rtcp(all) : tx->seal(all)) != n) st.SkipWithError("seal failed");
  };
  refill();
  size_t pos = 0;
  OpenClock clock(st);
  for (auto _ : st) {
    if (pos == n) {
      clock.untimed(refill);
      pos = 0;
    }
    std::span<PacketView> b(r.v.data() + pos, burst);
    const size_t ok = rtcp ? rx->open_rtcp(b) : rx->open(b);
    if (ok != burst) st.SkipWithError("open failed");
    pos += burst;
  }
  set_counters(st, bytes, burst);
}

// The raw AEAD over the srtp rows' buffers: seal over one burst of the Ring
// (tag written after the payload, as SRTP does), open rotating over a ring as
// large as open/srtp's. Open flips each packet between plaintext and
// ciphertext (FlipOpen), so every timed open succeeds with nothing refilled;
// the ring's packets come from L2 as open/srtp's do.
void bm_aead_srtp(benchmark::State& st, Profile p, bool do_open, size_t bytes, size_t burst) {
  const Suite s = p == Profile::aead_aes256_gcm ? Suite::aes256_gcm : Suite::aes128_gcm;
  auto key = std::make_unique<AeadKey>();
  key->init(s, pattern(suite_info(s).key_len, 9));
  const size_t n = do_open ? ring_size(bytes) : burst;
  Ring r(false, bytes, n);
  r.reset(0, n);
  std::vector<AeadJob> jobs(n);
  for (size_t i = 0; i < n; ++i) {
    AeadJob& j = jobs[i];
    uint8_t* pkt = r.v[i].data();
    j.key = key.get();
    store_be64(j.nonce + 4, i + 1);
    j.aad = {pkt, 12};
    j.data = {pkt + 12, bytes};
    j.tag = pkt + 12 + bytes;
  }
  std::optional<FlipOpen> flip;
  if (do_open) flip.emplace(jobs, burst);
  const size_t rounds = n / burst;
  size_t k = 0;
  for (auto _ : st) {
    if (do_open) {
      if (flip->open(k)[0].status != Status::ok) st.SkipWithError("open failed");
    } else {
      const std::span<AeadJob> round{jobs.data() + k * burst, burst};
      seal(round);
      benchmark::DoNotOptimize(round[0].tag[0]);
    }
    k = k + 1 == rounds ? 0 : k + 1;
  }
  set_counters(st, bytes, burst);
}

// HMAC-SHA1 per packet (header+payload ‖ ROC, 80-bit tag): precomputed SHA_CTX
// pair (what core/srtp_kernels.cc does), HMAC_CTX_copy from a keyed
// template, HMAC_Init_ex(NULL key) re-init on one context.
enum class HmacWay { shactx, ctx_copy, reinit };
void bm_hmac(benchmark::State& st, HmacWay way, size_t bytes) {
  const std::vector<uint8_t> key = pattern(20, 5), msg = pattern(bytes, 6);
  const uint8_t roc[4] = {0, 0, 0, 1};
  uint8_t out[20];
  srtp::detail::HmacSha1Key hk;
  srtp::detail::hmac_sha1_init(hk, key);
  HMAC_CTX tmpl, work;
  HMAC_CTX_init(&tmpl);
  HMAC_CTX_init(&work);
  HMAC_Init_ex(&tmpl, key.data(), key.size(), EVP_sha1(), nullptr);
  HMAC_Init_ex(&work, key.data(), key.size(), EVP_sha1(), nullptr);
  for (auto _ : st) {
    unsigned len = 0;
    switch (way) {
      case HmacWay::shactx:
        srtp::detail::hmac_sha1_tag(hk, msg, roc, out);
        break;
      case HmacWay::ctx_copy:
        HMAC_CTX_copy_ex(&work, &tmpl);
        HMAC_Update(&work, msg.data(), msg.size());
        HMAC_Update(&work, roc, 4);
        HMAC_Final(&work, out, &len);
        break;
      case HmacWay::reinit:
        HMAC_Init_ex(&work, nullptr, 0, nullptr, nullptr);
        HMAC_Update(&work, msg.data(), msg.size());
        HMAC_Update(&work, roc, 4);
        HMAC_Final(&work, out, &len);
        break;
    }
    benchmark::DoNotOptimize(out[0]);
  }
  HMAC_CTX_cleanup(&tmpl);
  HMAC_CTX_cleanup(&work);
  srtp::detail::hmac_sha1_wipe(hk);
  set_counters(st, bytes, 1);
}

int register_all() {
  for (bool rtcp : {false, true}) {
    const char* impl = rtcp ? "srtcp" : "srtp";
    for (Profile p : kProfiles) {
      const char* prof = srtp::profile_info(p).name;
      for (size_t bytes : kSizes) {
        for (size_t burst : kBursts) {
          benchmark::RegisterBenchmark(name("seal", impl, prof, bytes, burst).c_str(), bm_seal, p,
                                       rtcp, bytes, burst);
          benchmark::RegisterBenchmark(name("open", impl, prof, bytes, burst).c_str(), bm_open, p,
                                       rtcp, bytes, burst)
              ->UseManualTime();  // OpenClock
          if (!rtcp && srtp::profile_info(p).aead)
            for (bool o : {false, true})
              benchmark::RegisterBenchmark(name(o ? "open" : "seal", "aead-srtp", prof, bytes, burst).c_str(),
                                           bm_aead_srtp, p, o, bytes, burst);
        }
      }
    }
  }
  for (size_t bytes : kSizes) {
    const size_t msg = bytes + 12;
    benchmark::RegisterBenchmark(name("tag", "hmac-shactx", "sha1_80", msg, 1).c_str(), bm_hmac,
                                 HmacWay::shactx, msg);
    benchmark::RegisterBenchmark(name("tag", "hmac-ctxcopy", "sha1_80", msg, 1).c_str(), bm_hmac,
                                 HmacWay::ctx_copy, msg);
    benchmark::RegisterBenchmark(name("tag", "hmac-reinit", "sha1_80", msg, 1).c_str(), bm_hmac,
                                 HmacWay::reinit, msg);
  }
  return 0;
}
const int registered = register_all();

}  // namespace
}  // namespace rl::bench
