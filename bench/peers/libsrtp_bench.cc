// libsrtp2 (Debian's, on NSS) as the SRTP peer baseline, measured exactly as
// bench/srtp_bench.cc measures our engine:
//   seal|open/libsrtp/<profile>/<bytes>/1     srtp_protect / srtp_unprotect
//   seal|open/libsrtcp/<profile>/<bytes>/1    srtp_protect_rtcp / srtp_unprotect_rtcp
// Same packet shapes (12-byte RTP header / 8-byte RTCP header + <bytes>), same
// ring of pre-protected packets for unprotect, refilled with timing paused.
#include <srtp2/srtp.h>

#include <cstring>
#include <vector>

#include "bench/support/bench_util.h"

namespace rl::bench {
namespace {

enum class P { cm128_80, cm128_32, cm256_80, gcm128, gcm256 };
struct ProfileRow {
  P p;
  const char* name;
  size_t key_salt;
};
constexpr ProfileRow kProfiles[] = {{P::cm128_80, "aescm128sha1_80", 30},
                                    {P::cm128_32, "aescm128sha1_32", 30},
                                    {P::cm256_80, "aescm256sha1_80", 46},
                                    {P::gcm128, "aes128gcm", 28},
                                    {P::gcm256, "aes256gcm", 44}};
constexpr size_t kSizes[] = {160, 1200};
constexpr uint32_t kSsrc = 0x12345678;

void set_policy(P p, srtp_crypto_policy_t* rtp, srtp_crypto_policy_t* rtcp) {
  switch (p) {
    case P::cm128_80:
      srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(rtp);
      srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(rtcp);
      break;
    case P::cm128_32:
      srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(rtp);
      srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(rtcp);
      break;
    case P::cm256_80:
      srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(rtp);
      srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(rtcp);
      break;
    case P::gcm128:
      srtp_crypto_policy_set_aes_gcm_128_16_auth(rtp);
      srtp_crypto_policy_set_aes_gcm_128_16_auth(rtcp);
      break;
    case P::gcm256:
      srtp_crypto_policy_set_aes_gcm_256_16_auth(rtp);
      srtp_crypto_policy_set_aes_gcm_256_16_auth(rtcp);
      break;
  }
}

struct Ctx {
  srtp_t s = nullptr;
  std::vector<uint8_t> key;
  Ctx(const ProfileRow& row, bool inbound) : key(pattern(row.key_salt + 16, 1)) {
    srtp_policy_t pol;
    std::memset(&pol, 0, sizeof pol);
    set_policy(row.p, &pol.rtp, &pol.rtcp);
    pol.ssrc.type = inbound ? ssrc_any_inbound : ssrc_any_outbound;
    pol.key = key.data();
    pol.window_size = 128;
    if (srtp_create(&s, &pol) != srtp_err_status_ok) s = nullptr;
  }
  ~Ctx() {
    if (s) srtp_dealloc(s);
  }
};

struct Ring {
  bool rtcp;
  int plain_len;
  std::vector<std::vector<uint8_t>> mem;
  std::vector<int> len;
  uint16_t seq = 1;
  Ring(bool rtcp_, size_t bytes, size_t n) : rtcp(rtcp_), len(n) {
    plain_len = static_cast<int>((rtcp ? 8 : 12) + bytes);
    for (size_t i = 0; i < n; ++i) {
      mem.push_back(pattern(static_cast<size_t>(plain_len) + SRTP_MAX_TRAILER_LEN + 16, static_cast<uint8_t>(i)));
      uint8_t* p = mem.back().data();
      p[0] = 0x80;
      p[1] = rtcp ? 200 : 96;
      const uint32_t ssrc = __builtin_bswap32(kSsrc);
      if (rtcp) {
        const uint16_t words = __builtin_bswap16(static_cast<uint16_t>(plain_len / 4 - 1));
        std::memcpy(p + 2, &words, 2);
        std::memcpy(p + 4, &ssrc, 4);
      } else {
        std::memset(p + 4, 0, 4);
        std::memcpy(p + 8, &ssrc, 4);
      }
    }
  }
  void reset(size_t i) {
    len[i] = plain_len;
    if (!rtcp) {
      const uint16_t s = __builtin_bswap16(seq++);
      std::memcpy(mem[i].data() + 2, &s, 2);
    }
  }
};

srtp_err_status_t protect(const Ctx& c, Ring& r, size_t i) {
  return r.rtcp ? srtp_protect_rtcp(c.s, r.mem[i].data(), &r.len[i])
                : srtp_protect(c.s, r.mem[i].data(), &r.len[i]);
}

void bm_seal(benchmark::State& st, const ProfileRow* row, bool rtcp, size_t bytes) {
  Ctx tx(*row, false);
  Ring r(rtcp, bytes, 1);
  for (auto _ : st) {
    r.reset(0);
    if (protect(tx, r, 0) != srtp_err_status_ok) st.SkipWithError("srtp_protect failed");
    benchmark::DoNotOptimize(r.mem[0][0]);
  }
  set_counters(st, bytes, 1);
}

void bm_open(benchmark::State& st, const ProfileRow* row, bool rtcp, size_t bytes) {
  Ctx tx(*row, false), rx(*row, true);
  const size_t n = bytes <= 200 ? 4096 : 1024;
  Ring r(rtcp, bytes, n);
  auto refill = [&]() {
    for (size_t i = 0; i < n; ++i) {
      r.reset(i);
      if (protect(tx, r, i) != srtp_err_status_ok) st.SkipWithError("srtp_protect failed");
    }
  };
  refill();
  size_t pos = 0;
  OpenClock clock(st);
  for (auto _ : st) {
    if (pos == n) {
      clock.untimed(refill);
      pos = 0;
    }
    const srtp_err_status_t s = rtcp ? srtp_unprotect_rtcp(rx.s, r.mem[pos].data(), &r.len[pos])
                                     : srtp_unprotect(rx.s, r.mem[pos].data(), &r.len[pos]);
    if (s != srtp_err_status_ok) st.SkipWithError("srtp_unprotect failed");
    ++pos;
  }
  set_counters(st, bytes, 1);
}

int register_all() {
  srtp_init();
  for (bool rtcp : {false, true}) {
    const char* impl = rtcp ? "libsrtcp" : "libsrtp";
    for (const ProfileRow& row : kProfiles) {
      for (size_t bytes : kSizes) {
        benchmark::RegisterBenchmark(name("seal", impl, row.name, bytes, 1).c_str(), bm_seal, &row,
                                     rtcp, bytes);
        benchmark::RegisterBenchmark(name("open", impl, row.name, bytes, 1).c_str(), bm_open, &row,
                                     rtcp, bytes)
            ->UseManualTime();  // OpenClock, as our open rows
      }
    }
  }
  return 0;
}
const int registered = register_all();

}  // namespace
}  // namespace rl::bench
