// Peer: intel-ipsec-mb (Debian libipsec-mb-dev 1.3), the library DPDK and
// VPP use for software IPsec crypto.
//   seal|open/ipsec-mb/<suite>/<bytes>/1         single-buffer API: one call
//       per packet (IMB_AES128/256_GCM_ENC/DEC; ChaCha20-Poly1305 through its
//       direct init/update/finalize API, 1.3 has no one-shot call for it)
//   seal|open/ipsec-mb-burst/<suite>/<bytes>/32  job manager with 32 packets
//       in flight: IMB_GET_NEXT_BURST / IMB_SUBMIT_BURST / IMB_FLUSH_BURST, or
//       get_next_job / submit_job / flush_job where the burst API refuses the
//       job (which API ran is in the JSON context, rl_ipsec_mb_burst_api)
// Keys are expanded (IMB_AESxxx_GCM_PRE) outside the timed loop. AAD 13
// bytes, 16-byte tag. ipsec-mb decrypts and computes the tag; like DPDK, the
// caller compares it with the received tag (constant time, inside the loop).
#define NO_COMPAT_IMB_API_053
#include <intel-ipsec-mb.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "bench/support/bench_util.h"

namespace rl::bench {
namespace {

constexpr size_t kTag = 16;
constexpr size_t kBurst = common::kPeerBurst;

enum class Alg { gcm128, gcm256, chacha };
struct SuiteDef {
  const char* name;
  Alg alg;
  size_t key_len;
};
const SuiteDef kSuites[] = {{"aes128gcm", Alg::gcm128, 16},
                            {"aes256gcm", Alg::gcm256, 32},
                            {"chacha20poly1305", Alg::chacha, 32}};

IMB_MGR* g_mgr = nullptr;
IMB_ARCH g_arch = IMB_ARCH_NONE;
bool g_burst_api = true;  // false: get_next_job/submit_job/flush_job

bool tags_equal(const uint8_t* a, const uint8_t* b) {
  uint8_t d = 0;
  for (size_t i = 0; i < kTag; ++i) d |= static_cast<uint8_t>(a[i] ^ b[i]);
  return d == 0;
}

// Expanded key material for one suite: the GCM key schedule + GHASH table,
// or the raw ChaCha20 key (which has no schedule).
struct Key {
  alignas(64) gcm_key_data gcm;
  std::vector<uint8_t> raw;
  const SuiteDef* s;
  explicit Key(const SuiteDef* suite) : s(suite) {
    raw = pattern(s->key_len, 9);
    if (s->alg == Alg::gcm128) IMB_AES128_GCM_PRE(g_mgr, raw.data(), &gcm);
    if (s->alg == Alg::gcm256) IMB_AES256_GCM_PRE(g_mgr, raw.data(), &gcm);
  }
  ~Key() { memset(&gcm, 0, sizeof gcm); }
  const void* job_key() const {
    return s->alg == Alg::chacha ? static_cast<const void*>(raw.data()) : &gcm;
  }
};

// One packet's buffers: plaintext in, ciphertext, decrypted, the tag sealed
// with it and the tag an open computes.
struct Packet {
  std::vector<uint8_t> in, ct, back, tag, computed;
  uint8_t nonce[12];
  Packet(size_t bytes, size_t i)
      : in(pattern(bytes, static_cast<uint8_t>(i))), ct(bytes), back(bytes), tag(kTag),
        computed(kTag) {
    for (size_t b = 0; b < 12; ++b) nonce[b] = static_cast<uint8_t>(i + b);
  }
};

// ---- single-buffer API --------------------------------------------------

void sb_seal(const Key& k, Packet& p, const uint8_t* aad, size_t bytes) {
  switch (k.s->alg) {
    case Alg::gcm128: {
      gcm_context_data ctx;
      IMB_AES128_GCM_ENC(g_mgr, &k.gcm, &ctx, p.ct.data(), p.in.data(), bytes, p.nonce, aad,
                         common::kAeadAadLen, p.tag.data(), kTag);
      break;
    }
    case Alg::gcm256: {
      gcm_context_data ctx;
      IMB_AES256_GCM_ENC(g_mgr, &k.gcm, &ctx, p.ct.data(), p.in.data(), bytes, p.nonce, aad,
                         common::kAeadAadLen, p.tag.data(), kTag);
      break;
    }
    case Alg::chacha: {
      chacha20_poly1305_context_data ctx;
      IMB_CHACHA20_POLY1305_INIT(g_mgr, k.raw.data(), &ctx, p.nonce, aad, common::kAeadAadLen);
      IMB_CHACHA20_POLY1305_ENC_UPDATE(g_mgr, k.raw.data(), &ctx, p.ct.data(), p.in.data(), bytes);
      IMB_CHACHA20_POLY1305_ENC_FINALIZE(g_mgr, &ctx, p.tag.data(), kTag);
      break;
    }
  }
}

bool sb_open(const Key& k, Packet& p, const uint8_t* aad, size_t bytes) {
  switch (k.s->alg) {
    case Alg::gcm128: {
      gcm_context_data ctx;
      IMB_AES128_GCM_DEC(g_mgr, &k.gcm, &ctx, p.back.data(), p.ct.data(), bytes, p.nonce, aad,
                         common::kAeadAadLen, p.computed.data(), kTag);
      break;
    }
    case Alg::gcm256: {
      gcm_context_data ctx;
      IMB_AES256_GCM_DEC(g_mgr, &k.gcm, &ctx, p.back.data(), p.ct.data(), bytes, p.nonce, aad,
                         common::kAeadAadLen, p.computed.data(), kTag);
      break;
    }
    case Alg::chacha: {
      chacha20_poly1305_context_data ctx;
      IMB_CHACHA20_POLY1305_INIT(g_mgr, k.raw.data(), &ctx, p.nonce, aad, common::kAeadAadLen);
      IMB_CHACHA20_POLY1305_DEC_UPDATE(g_mgr, k.raw.data(), &ctx, p.back.data(), p.ct.data(),
                                       bytes);
      IMB_CHACHA20_POLY1305_DEC_FINALIZE(g_mgr, &ctx, p.computed.data(), kTag);
      break;
    }
  }
  return tags_equal(p.computed.data(), p.tag.data());
}

void bm_single(benchmark::State& st, const SuiteDef* s, bool do_open, size_t bytes) {
  Key key(s);
  Packet p(bytes, 0);
  const auto aad = pattern(common::kAeadAadLen, 3);
  sb_seal(key, p, aad.data(), bytes);
  p.tag[0] ^= 1;
  if (sb_open(key, p, aad.data(), bytes)) return st.SkipWithError("forged tag accepted");
  p.tag[0] ^= 1;
  for (auto _ : st) {
    if (do_open) {
      if (!sb_open(key, p, aad.data(), bytes)) st.SkipWithError("open failed");
      benchmark::DoNotOptimize(p.back[0]);
    } else {
      sb_seal(key, p, aad.data(), bytes);
      benchmark::DoNotOptimize(p.tag[0]);
    }
  }
  set_counters(st, bytes, 1);
}

// ---- job manager, 32 packets in flight ------------------------------------

void fill_job(IMB_JOB* j, const Key& k, bool seal, Packet& p, size_t idx, const uint8_t* aad,
              size_t bytes) {
  const bool chacha = k.s->alg == Alg::chacha;
  j->cipher_mode = chacha ? IMB_CIPHER_CHACHA20_POLY1305 : IMB_CIPHER_GCM;
  j->hash_alg = chacha ? IMB_AUTH_CHACHA20_POLY1305 : IMB_AUTH_AES_GMAC;
  j->cipher_direction = seal ? IMB_DIR_ENCRYPT : IMB_DIR_DECRYPT;
  j->chain_order = seal ? IMB_ORDER_CIPHER_HASH : IMB_ORDER_HASH_CIPHER;
  j->enc_keys = k.job_key();
  j->dec_keys = k.job_key();
  j->key_len_in_bytes = k.s->key_len == 16 ? IMB_KEY_128_BYTES : IMB_KEY_256_BYTES;
  j->src = seal ? p.in.data() : p.ct.data();
  j->dst = seal ? p.ct.data() : p.back.data();
  j->cipher_start_src_offset_in_bytes = 0;
  j->msg_len_to_cipher_in_bytes = bytes;
  j->hash_start_src_offset_in_bytes = 0;
  j->msg_len_to_hash_in_bytes = bytes;
  j->iv = p.nonce;
  j->iv_len_in_bytes = 12;
  j->auth_tag_output = seal ? p.tag.data() : p.computed.data();
  j->auth_tag_output_len_in_bytes = kTag;
  if (chacha) {
    j->u.CHACHA20_POLY1305.aad = aad;
    j->u.CHACHA20_POLY1305.aad_len_in_bytes = common::kAeadAadLen;
  } else {
    j->u.GCM.aad = aad;
    j->u.GCM.aad_len_in_bytes = common::kAeadAadLen;
  }
  j->user_data = reinterpret_cast<void*>(idx);
}

// Runs the whole burst to completion; returns how many jobs completed OK.
size_t run_burst(const Key& k, bool seal, std::vector<Packet>& ps, const uint8_t* aad,
                 size_t bytes) {
  IMB_JOB* jobs[kBurst];
  size_t ok = 0;
  if (g_burst_api) {
    const size_t n = ps.size();
    uint32_t got = IMB_GET_NEXT_BURST(g_mgr, static_cast<uint32_t>(n), jobs);
    if (got < n) {  // queue still holds jobs: complete them first
      IMB_FLUSH_BURST(g_mgr, static_cast<uint32_t>(kBurst), jobs);
      got = IMB_GET_NEXT_BURST(g_mgr, static_cast<uint32_t>(n), jobs);
      if (got < n) return 0;
    }
    for (size_t i = 0; i < n; ++i) fill_job(jobs[i], k, seal, ps[i], i, aad, bytes);
    uint32_t done = IMB_SUBMIT_BURST(g_mgr, static_cast<uint32_t>(n), jobs);
    for (uint32_t i = 0; i < done; ++i) ok += jobs[i]->status == IMB_STATUS_COMPLETED;
    while (done < n) {
      const uint32_t f = IMB_FLUSH_BURST(g_mgr, static_cast<uint32_t>(n - done), jobs);
      if (f == 0) break;
      for (uint32_t i = 0; i < f; ++i) ok += jobs[i]->status == IMB_STATUS_COMPLETED;
      done += f;
    }
  } else {
    for (size_t i = 0; i < ps.size(); ++i) {
      IMB_JOB* j = IMB_GET_NEXT_JOB(g_mgr);
      fill_job(j, k, seal, ps[i], i, aad, bytes);
      for (j = IMB_SUBMIT_JOB(g_mgr); j; j = IMB_GET_COMPLETED_JOB(g_mgr))
        ok += j->status == IMB_STATUS_COMPLETED;
    }
    for (IMB_JOB* j = IMB_FLUSH_JOB(g_mgr); j; j = IMB_FLUSH_JOB(g_mgr))
      ok += j->status == IMB_STATUS_COMPLETED;
  }
  if (!seal)
    for (const auto& p : ps) ok -= !tags_equal(p.computed.data(), p.tag.data());
  return ok;
}

void bm_burst(benchmark::State& st, const SuiteDef* s, bool do_open, size_t bytes) {
  Key key(s);
  std::vector<Packet> ps;
  for (size_t i = 0; i < kBurst; ++i) ps.emplace_back(bytes, i);
  const auto aad = pattern(common::kAeadAadLen, 3);
  if (run_burst(key, true, ps, aad.data(), bytes) != kBurst)
    return st.SkipWithError("ipsec-mb burst seal failed");
  ps[5].tag[0] ^= 1;
  if (run_burst(key, false, ps, aad.data(), bytes) != kBurst - 1)
    return st.SkipWithError("forged tag not caught");
  ps[5].tag[0] ^= 1;
  for (auto _ : st) {
    if (run_burst(key, !do_open, ps, aad.data(), bytes) != kBurst)
      st.SkipWithError(do_open ? "open failed" : "seal failed");
    benchmark::DoNotOptimize(ps[0].ct[0]);
  }
  set_counters(st, bytes, kBurst);
}

const char* arch_name(IMB_ARCH a) {
  switch (a) {
    case IMB_ARCH_NOAESNI: return "no-aesni";
    case IMB_ARCH_SSE: return "sse";
    case IMB_ARCH_AVX: return "avx";
    case IMB_ARCH_AVX2: return "avx2";
    case IMB_ARCH_AVX512: return "avx512";
    default: return "none";
  }
}

// Whether IMB_SUBMIT_BURST takes GCM/ChaCha20-Poly1305 jobs in this version:
// try one burst per suite, and compare its output with the single-buffer API.
bool burst_api_works() {
  for (const auto& s : kSuites) {
    Key key(&s);
    const auto aad = pattern(common::kAeadAadLen, 3);
    std::vector<Packet> ps;
    for (size_t i = 0; i < kBurst; ++i) ps.emplace_back(300 + i, i);
    for (auto& p : ps) {
      sb_seal(key, p, aad.data(), p.in.size());
      p.computed = p.tag;
    }
    // Burst seal of the same packets must give the same tags.
    IMB_JOB* jobs[kBurst];
    if (IMB_GET_NEXT_BURST(g_mgr, kBurst, jobs) < kBurst) return false;
    for (size_t i = 0; i < kBurst; ++i) fill_job(jobs[i], key, true, ps[i], i, aad.data(), ps[i].in.size());
    uint32_t done = IMB_SUBMIT_BURST(g_mgr, kBurst, jobs);
    if (done == 0 && imb_get_errno(g_mgr) != 0) {
      fprintf(stderr, "[ipsec-mb] burst API refused %s jobs (%s): using the job API\n", s.name,
              imb_get_strerror(imb_get_errno(g_mgr)));
      IMB_FLUSH_BURST(g_mgr, kBurst, jobs);
      return false;
    }
    while (done < kBurst) {
      const uint32_t f = IMB_FLUSH_BURST(g_mgr, kBurst - done, jobs);
      if (f == 0) return false;
      done += f;
    }
    for (const auto& p : ps)
      if (!tags_equal(p.computed.data(), p.tag.data())) return false;
  }
  return true;
}

// The reference packet through the single-buffer API and, as a one-packet
// burst, through the job manager.
void reference_tags() {
  constexpr size_t n = common::kReferenceBytes;
  const auto aad = pattern(common::kAeadAadLen, 3);
  for (const auto& s : kSuites) {
    Key key(&s);
    std::vector<Packet> ps;
    ps.emplace_back(n, 1);  // pattern(n, 1) plaintext
    memset(ps[0].nonce, 0, sizeof ps[0].nonce);
    sb_seal(key, ps[0], aad.data(), n);
    common::record_reference_tag("ipsec-mb", s.name, ps[0].tag.data());
    if (run_burst(key, true, ps, aad.data(), n) == 1)
      common::record_reference_tag("ipsec-mb-burst", s.name, ps[0].tag.data());
  }
}

int register_all() {
  g_mgr = alloc_mb_mgr(0);
  if (!g_mgr) {
    fprintf(stderr, "[ipsec-mb] alloc_mb_mgr failed: ipsec-mb rows NOT measured\n");
    benchmark::AddCustomContext("rl_not_measured_ipsec-mb", "alloc_mb_mgr failed");
    return 0;
  }
  init_mb_mgr_auto(g_mgr, &g_arch);
  if (imb_get_errno(g_mgr) != 0 || g_arch == IMB_ARCH_NONE) {
    fprintf(stderr, "[ipsec-mb] no usable architecture (%s): ipsec-mb rows NOT measured\n",
            imb_get_strerror(imb_get_errno(g_mgr)));
    benchmark::AddCustomContext("rl_not_measured_ipsec-mb", "init_mb_mgr_auto failed");
    return 0;
  }
  g_burst_api = burst_api_works();
  common::at_start(reference_tags);
  benchmark::AddCustomContext("rl_ipsec_mb_version", imb_get_version_str());
  benchmark::AddCustomContext("rl_ipsec_mb_arch", arch_name(g_arch));
  benchmark::AddCustomContext("rl_ipsec_mb_burst_api",
                              g_burst_api ? "IMB_SUBMIT_BURST + IMB_FLUSH_BURST"
                                          : "get_next_job + submit_job + flush_job");
  for (const auto& s : kSuites)
    for (bool o : {false, true})
      for (size_t bytes : common::kAeadSizes) {
        const char* op = o ? "open" : "seal";
        benchmark::RegisterBenchmark(name(op, "ipsec-mb", s.name, bytes, 1).c_str(), bm_single,
                                     &s, o, bytes);
        benchmark::RegisterBenchmark(name(op, "ipsec-mb-burst", s.name, bytes, kBurst).c_str(),
                                     bm_burst, &s, o, bytes);
      }
  return 0;
}
const int registered = register_all();

}  // namespace
}  // namespace rl::bench
