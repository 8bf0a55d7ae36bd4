// SRTP / SRTCP, top to bottom:
//   1. RTP header parsing, index estimation, the AES-CM PRF
//   2. key sets (master keys, derived session keys, lifetimes)
//   3. the stream table
//   4. per-packet work: first a lean loop for the usual SRTP AEAD chunk (one
//      stream in order, nothing unusual), then one general loop for seal/open
//      of SRTP and SRTCP that takes whatever the lean loop left. Each
//      packet passes its rules and waits in the burst; then the AES-CM +
//      HMAC-SHA1 packets run through the keystream and tag kernels together,
//      the AEAD packets through one rl::seal / rl::open call, and each packet
//      is settled (open: state committed only if it authenticated)
//   5. configuration calls
#include "core/srtp.h"

#include <algorithm>
#include <cstring>

#include <openssl/mem.h>

#include "core/aead.h"
#include "core/bytes.h"
#include "core/job_fill.h"

namespace rl::srtp {

using detail::CmKey;
using detail::HmacSha1Key;

// ---------------------------------------------------------------------------
// 1. Parsing, index, PRF

namespace {
// The body of parse_rtp_header(), inlined into the per-packet loop.
[[gnu::always_inline]] inline Status parse_header(const uint8_t* p, size_t len, RtpHeader& h) {
  h = RtpHeader{};
  if (len < 12) return Status::truncated;
  if ((p[0] >> 6) != 2) return Status::malformed;  // RFC 3550 §5.1: version 2
  h.padding = (p[0] >> 5) & 1;
  h.extension = (p[0] >> 4) & 1;
  h.cc = p[0] & 0x0f;
  h.seq = load_be16(p + 2);
  h.ssrc = load_be32(p + 8);
  size_t off = 12 + size_t{h.cc} * 4;
  if (off > len) return Status::malformed;
  if (h.extension) {
    if (off + 4 > len) return Status::malformed;
    h.ext_offset = static_cast<uint32_t>(off);
    h.ext_profile = load_be16(p + off);
    h.ext_len = uint32_t{load_be16(p + off + 2)} * 4;
    off += 4 + h.ext_len;
    if (off > len) return Status::malformed;
  }
  h.header_len = static_cast<uint32_t>(off);
  return Status::ok;
}
}  // namespace

Status parse_rtp_header(const uint8_t* p, size_t len, RtpHeader& h) {
  return parse_header(p, len, h);
}

namespace {
// The body of estimate_index(), inlined into the per-packet loop (a call
// there also forced `index` through memory).
[[gnu::always_inline]] inline bool estimate(uint64_t highest, uint16_t seq, uint64_t& index) {
  // RFC 3711 Appendix A, with ROC and s_l taken from the highest index.
  const uint64_t roc = highest >> 16;
  const uint32_t s_l = static_cast<uint32_t>(highest & 0xffff);
  uint64_t v = roc;
  if (s_l < 32768) {
    if (seq > s_l && seq - s_l > 32768) {
      if (roc == 0) return false;  // would be before the first packet
      v = roc - 1;
    }
  } else if (s_l - 32768 > seq) {
    if (roc == 0xffffffff) return false;  // 2^48 indices used up
    v = roc + 1;
  }
  index = v << 16 | seq;
  return true;
}
}  // namespace

bool estimate_index(uint64_t highest, uint16_t seq, uint64_t& index) {
  return estimate(highest, seq, index);
}

namespace {

constexpr uint8_t kLabelRtpEnc = 0, kLabelRtpAuth = 1, kLabelRtpSalt = 2;
constexpr uint8_t kLabelRtcpEnc = 3, kLabelRtcpAuth = 4, kLabelRtcpSalt = 5;
constexpr uint8_t kLabelHdrEnc = 6, kLabelHdrSalt = 7;  // RFC 6904 §5.1
constexpr size_t kAuthKeyLen = 20;                      // n_a = 160 (RFC 3711 §8.2)

// PRF without the parameter checks, for an already expanded master key.
void prf(const CmKey& master, std::span<const uint8_t> salt, uint8_t label, uint64_t r,
         uint8_t* out, size_t n) {
  // x = (label ‖ r) XOR master_salt, right-aligned in 112 bits; IV = x * 2^16
  // (RFC 3711 §4.3.1, §4.3.3). A 12-byte AEAD salt is zero-padded to 14.
  uint8_t iv[16] = {};
  std::memcpy(iv, salt.data(), salt.size());
  iv[7] ^= label;
  for (size_t i = 0; i < 6; ++i) iv[8 + i] ^= static_cast<uint8_t>(r >> (40 - 8 * i));
  std::memset(out, 0, n);
  detail::cm_keystream_xor(master, iv, out, n);
}

}  // namespace

Status derive_session_key(std::span<const uint8_t> master_key,
                          std::span<const uint8_t> master_salt, uint8_t label, uint64_t r,
                          std::span<uint8_t> out) {
  if (master_salt.size() != 14 && master_salt.size() != 12) return Status::invalid_argument;
  CmKey k;
  if (!detail::cm_init(k, master_key)) return Status::invalid_argument;
  prf(k, master_salt, label, r, out.data(), out.size());
  detail::cm_wipe(k);
  return Status::ok;
}

// ---------------------------------------------------------------------------
// 2. Key sets

namespace {

// The session keys one master key yields for SRTP or for SRTCP at one r.
struct DerivedKeys {
  CmKey cm;               // session encryption key (AES-CM profiles)
  HmacSha1Key mac;        // session authentication key (HMAC profiles)
  AeadKey aead;           // AEAD profiles
  uint8_t salt[16] = {};  // session salt, left-aligned (14 or 12 bytes)
  CmKey hdr;              // RFC 6904 header key (SRTP only)
  uint8_t hdr_salt[16] = {};
  uint64_t r = 0;
  bool valid = false;

  void wipe() {
    detail::cm_wipe(cm);
    detail::hmac_sha1_wipe(mac);
    aead.wipe();
    detail::cm_wipe(hdr);
    OPENSSL_cleanse(salt, sizeof salt);
    OPENSSL_cleanse(hdr_salt, sizeof hdr_salt);
    valid = false;
  }
  ~DerivedKeys() { wipe(); }
};

// Usage and age of one master key for SRTP or SRTCP (RFC 3711 §9.2).
struct Lifetime {
  Limits limits;
  KeyCounters c;
  uint64_t installed_at = 0;
  bool soft_sent = false, hard_sent = false, integrity_sent = false;
};

struct MasterSlot {
  bool live = false;
  uint64_t id = 0;
  uint8_t key[32] = {};
  uint8_t salt[14] = {};
  uint8_t key_len = 0, salt_len = 0;
  uint8_t mki[kMaxMkiLen] = {};
  DerivedKeys d[2];  // [0] SRTP, [1] SRTCP
  Lifetime life[2];

  void wipe() {
    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(salt, sizeof salt);
    d[0].wipe();
    d[1].wipe();
    live = false;
  }
  ~MasterSlot() { wipe(); }
};

}  // namespace

struct Session::KeySet {
  Policy policy;
  ProfileInfo info{};
  MasterSlot slots[kMaxMasterKeys];
  uint8_t active = 0;  // seal side: slot in use
  bool ages = false;   // some limit is an age: read the clock
};

namespace {

Suite aead_suite(Profile p) {
  return p == Profile::aead_aes256_gcm ? Suite::aes256_gcm : Suite::aes128_gcm;
}

// Derives the session keys of `m` for SRTP (rtcp=false) or SRTCP at `r`.
// Allocation-free for the AES-CM profiles (AeadKey::init allocates; the AEAD
// profiles never re-derive since they refuse a non-zero kdr).
Status derive_keys(const Session::KeySet& ks, MasterSlot& m, bool rtcp, uint64_t r) {
  DerivedKeys& d = m.d[rtcp];
  d.wipe();
  const ProfileInfo& info = ks.info;
  CmKey master;
  if (!detail::cm_init(master, {m.key, m.key_len})) return Status::invalid_argument;
  const std::span<const uint8_t> salt{m.salt, m.salt_len};
  uint8_t buf[32];
  Status st = Status::ok;
  if (ks.policy.raw_session_keys) {
    detail::cm_wipe(master);
    st = d.aead.init(aead_suite(ks.policy.profile), {m.key, m.key_len});
    std::memcpy(d.salt, m.salt, info.session_salt_len);
    if (st != Status::ok) return st;
    d.valid = true;
    return Status::ok;
  }
  if (info.encrypts) {
    prf(master, salt, rtcp ? kLabelRtcpEnc : kLabelRtpEnc, r, buf, info.master_key_len);
    if (info.aead) {
      st = d.aead.init(aead_suite(ks.policy.profile), {buf, info.master_key_len});
    } else if (!detail::cm_init(d.cm, {buf, info.master_key_len})) {
      st = Status::invalid_argument;
    }
  }
  if (st == Status::ok && !info.aead) {
    prf(master, salt, rtcp ? kLabelRtcpAuth : kLabelRtpAuth, r, buf, kAuthKeyLen);
    detail::hmac_sha1_init(d.mac, {buf, kAuthKeyLen});
  }
  prf(master, salt, rtcp ? kLabelRtcpSalt : kLabelRtpSalt, r, d.salt, info.session_salt_len);
  if (st == Status::ok && !rtcp && ks.policy.header_ext == HeaderExtCrypto::rfc6904) {
    // RFC 6904 §5.1: AES-CM keyed with labels 6 and 7. The AEAD profiles use
    // AES-CM of the same key size with a 12-octet header salt zero-padded to
    // 14 (their salt length), which is what libsrtp does and interoperates.
    prf(master, salt, kLabelHdrEnc, r, buf, info.master_key_len);
    if (!detail::cm_init(d.hdr, {buf, info.master_key_len})) st = Status::invalid_argument;
    prf(master, salt, kLabelHdrSalt, r, d.hdr_salt, info.session_salt_len);
  }
  OPENSSL_cleanse(buf, sizeof buf);
  detail::cm_wipe(master);
  if (st != Status::ok) {
    d.wipe();
    return st;
  }
  d.r = r;
  d.valid = true;
  return Status::ok;
}

// Session keys for the packet at `index` (SRTP 48-bit or SRTCP 31-bit index).
DerivedKeys* keys_at(const Session::KeySet& ks, MasterSlot& m, bool rtcp, uint64_t index) {
  DerivedKeys& d = m.d[rtcp];
  if (ks.policy.kdr != 0) {
    // RFC 3711 §4.3.1: r = index DIV key_derivation_rate; keys are cached for
    // the last r and re-derived when it changes (a pure function of the
    // master key, so caching is not stream state).
    const uint64_t r = index / ks.policy.kdr;
    if (!d.valid || d.r != r) {
      if (derive_keys(ks, m, rtcp, r) != Status::ok) return nullptr;
    }
  }
  return d.valid ? &d : nullptr;
}

[[gnu::noinline, gnu::cold]] void push_event(EventQueue& q, const MasterSlot& m, bool rtcp, Direction dir,
                KeyEvent::Kind kind) {
  const Lifetime& l = m.life[rtcp];
  KeyEvent e;
  e.epoch = m.id * 2 + (rtcp ? 1 : 0);
  e.dir = dir;
  e.kind = kind;
  e.records = dir == Direction::seal ? l.c.sealed : l.c.opened;
  e.bytes = dir == Direction::seal ? l.c.bytes_sealed : l.c.bytes_opened;
  q.push(e);
}

// Whether the master key may still protect (seal) or verify (open) a packet
// of `bytes` (RFC 3711 §9.2); a hard limit reached for the first time posts
// its event.
[[gnu::always_inline]] inline Status admit(EventQueue& q, MasterSlot& m, bool rtcp, Direction dir,
                                           uint64_t bytes, uint64_t now) {
  Lifetime& l = m.life[rtcp];
  Status st = Status::ok;
  if (now >= l.installed_at && now - l.installed_at >= l.limits.hard_age_s) {
    st = Status::key_expired;
  } else if (l.c.auth_failures >= l.limits.max_auth_failures) {
    return Status::key_exhausted;  // the integrity limit has its own event
  } else if (dir == Direction::seal && (l.c.sealed >= l.limits.hard_records ||
                                        bytes > l.limits.hard_bytes - l.c.bytes_sealed)) {
    st = Status::key_exhausted;
  }
  if (st != Status::ok && !l.hard_sent) {
    l.hard_sent = true;
    push_event(q, m, rtcp, dir, KeyEvent::hard_limit);
  }
  return st;
}

// Counts one packet that was sealed or authenticated; soft limit -> event.
[[gnu::always_inline]] inline void count(EventQueue& q, MasterSlot& m, bool rtcp, Direction dir, uint64_t bytes,
           uint64_t now) {
  Lifetime& l = m.life[rtcp];
  uint64_t records;
  if (dir == Direction::seal) {
    records = ++l.c.sealed;
    bytes = l.c.bytes_sealed += bytes;
  } else {
    records = ++l.c.opened;
    bytes = l.c.bytes_opened += bytes;
  }
  if (!l.soft_sent && (records >= l.limits.soft_records || bytes >= l.limits.soft_bytes ||
                       (now >= l.installed_at && now - l.installed_at >= l.limits.soft_age_s))) {
    l.soft_sent = true;
    push_event(q, m, rtcp, dir, KeyEvent::soft_limit);
  }
}

void count_failure(EventQueue& q, MasterSlot& m, bool rtcp) {
  Lifetime& l = m.life[rtcp];
  ++l.c.auth_failures;
  if (l.c.auth_failures >= l.limits.max_auth_failures && !l.integrity_sent) {
    l.integrity_sent = true;
    push_event(q, m, rtcp, Direction::open, KeyEvent::integrity_limit);
  } else if (l.c.auth_failures >= l.limits.soft_auth_failures && !l.soft_sent) {
    l.soft_sent = true;
    push_event(q, m, rtcp, Direction::open, KeyEvent::soft_limit);
  }
}

bool valid_policy(const Policy& p) {
  bool known = false;
  for (Profile k : kAllProfiles) known |= k == p.profile;
  if (!known) return false;
  const ProfileInfo info = profile_info(p.profile);
  if (p.replay_window < kMinReplayWindow || p.replay_window > ReplayWindow::kMaxSize) return false;
  if (p.mki_len > kMaxMkiLen) return false;
  if (p.kdr != 0) {
    // RFC 3711 §4.3.1: a power of two from 2^0 to 2^24.
    if ((p.kdr & (p.kdr - 1)) != 0 || p.kdr > (uint64_t{1} << 24)) return false;
    if (info.aead) return false;  // one expanded key per burst; libsrtp has no kdr either
  }
  if (p.raw_session_keys && (!info.aead || p.header_ext == HeaderExtCrypto::rfc6904)) return false;
  return true;
}

Status install_slot(Session::KeySet& ks, MasterSlot& m, const MasterKey& k, uint64_t id,
                    uint64_t now) {
  const ProfileInfo& info = ks.info;
  if (k.key.size() != info.master_key_len || k.salt.size() != info.master_salt_len ||
      k.mki.size() != ks.policy.mki_len) {
    return Status::invalid_argument;
  }
  m.wipe();
  std::memcpy(m.key, k.key.data(), k.key.size());
  std::memcpy(m.salt, k.salt.data(), k.salt.size());
  m.key_len = static_cast<uint8_t>(k.key.size());
  m.salt_len = static_cast<uint8_t>(k.salt.size());
  std::memset(m.mki, 0, sizeof m.mki);
  if (!k.mki.empty()) std::memcpy(m.mki, k.mki.data(), k.mki.size());
  for (int rtcp = 0; rtcp < 2; ++rtcp) {
    const Status st = derive_keys(ks, m, rtcp != 0, 0);
    if (st != Status::ok) {
      m.wipe();
      return st;
    }
    m.life[rtcp] = Lifetime{};
    m.life[rtcp].limits = rtcp ? ks.policy.srtcp_limits : ks.policy.srtp_limits;
    m.life[rtcp].installed_at = now;
  }
  m.id = id;
  m.live = true;
  return Status::ok;
}

MasterSlot* find_mki(Session::KeySet& ks, const uint8_t* mki) {
  const size_t n = ks.policy.mki_len;
  if (n == 0) {
    MasterSlot& m = ks.slots[ks.active];
    return m.live ? &m : nullptr;
  }
  for (MasterSlot& m : ks.slots) {
    if (m.live && std::memcmp(m.mki, mki, n) == 0) return &m;
  }
  return nullptr;
}

}  // namespace

// ---------------------------------------------------------------------------
// 3. Streams and the SSRC table (open addressing, linear probing, backward-
//    shift deletion; capacity fixed at construction, at most half full).

struct Session::Stream {
  uint32_t ssrc = 0;
  bool in_use = false;
  bool provisional = false;  // created by a packet not yet authenticated
  KeySet* keys = nullptr;
  std::unique_ptr<KeySet> own;  // explicit streams own their keys
  ReplayWindow rtp, rtcp;       // seal side: indices already used
  uint32_t initial_roc = 0;
  uint32_t rtcp_next = 0;
  uint64_t packets = 0, rtcp_packets = 0;
};

namespace {
inline uint32_t hash_ssrc(uint32_t ssrc) { return ssrc * 0x9E3779B1u; }
}  // namespace


Session::Stream* Session::find(uint32_t ssrc) const {
  // Bursts are mostly runs of one SSRC: the last stream found is checked
  // first (erase() forgets it).
  if (last_ != nullptr && last_->ssrc == ssrc) return last_;
  for (uint32_t i = hash_ssrc(ssrc) & table_mask_;; i = (i + 1) & table_mask_) {
    const int32_t e = table_[i];
    if (e < 0) return nullptr;
    Stream* s = pool_[static_cast<size_t>(e)].get();
    if (s->ssrc == ssrc) {
      last_ = s;
      return s;
    }
  }
}

Session::Stream* Session::create(uint32_t ssrc, KeySet* ks, bool provisional) {
  if (free_.empty()) {
    ++refused_streams_;
    return nullptr;
  }
  const uint32_t idx = free_.back();
  free_.pop_back();
  Stream* s = pool_[idx].get();
  s->ssrc = ssrc;
  s->in_use = true;
  s->provisional = provisional;
  s->keys = ks;
  s->rtp.init(ks->policy.replay_window);
  s->rtcp.init(ks->policy.replay_window);
  s->initial_roc = 0;
  s->rtcp_next = 0;
  s->packets = s->rtcp_packets = 0;
  uint32_t i = hash_ssrc(ssrc) & table_mask_;
  while (table_[i] >= 0) i = (i + 1) & table_mask_;
  table_[i] = static_cast<int32_t>(idx);
  ++live_streams_;
  return s;
}

void Session::erase(Stream* s) {
  last_ = nullptr;
  uint32_t i = hash_ssrc(s->ssrc) & table_mask_;
  while (pool_[static_cast<size_t>(table_[i])].get() != s) i = (i + 1) & table_mask_;
  const int32_t idx = table_[i];
  // Backward-shift deletion keeps every probe chain unbroken.
  uint32_t hole = i;
  for (uint32_t j = (i + 1) & table_mask_; table_[j] >= 0; j = (j + 1) & table_mask_) {
    const uint32_t home = hash_ssrc(pool_[static_cast<size_t>(table_[j])]->ssrc) & table_mask_;
    // Move j into the hole if its home is not in (hole, j] cyclically.
    const bool between = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
    if (!between) {
      table_[hole] = table_[j];
      hole = j;
    }
  }
  table_[hole] = -1;
  s->own.reset();  // KeySet destructor wipes the keys
  s->keys = nullptr;
  s->in_use = false;
  s->provisional = false;
  s->rtp.reset();
  s->rtcp.reset();
  free_.push_back(static_cast<uint32_t>(idx));
  --live_streams_;
}

// ---------------------------------------------------------------------------
// 4. Packets

namespace {

// AES-CM IV (RFC 3711 §4.1.1): (salt * 2^16) XOR (SSRC * 2^64) XOR (index * 2^16).
// Composed in registers and written with ONE 16-byte store: the keystream
// kernels load the IV as one vector, and a load spanning two narrower stores
// still in the store buffer cannot be forwarded (core/job_fill.h).
void cm_iv(const uint8_t salt[16], uint32_t ssrc, uint64_t index, uint8_t iv[16]) {
  uint64_t hi, lo;
  std::memcpy(&hi, salt, 8);
  std::memcpy(&lo, salt + 8, 8);
  hi = __builtin_bswap64(hi) ^ ssrc;
  lo = (__builtin_bswap64(lo) & ~uint64_t{0xffff}) ^ ((index & 0xffffffffffff) << 16);
  recjob::store16(iv, {__builtin_bswap64(hi), __builtin_bswap64(lo)});
}

// AEAD IV (RFC 7714 §8.1 SRTP: 00 00 ‖ SSRC ‖ ROC ‖ SEQ; §9.1 SRTCP:
// 00 00 ‖ SSRC ‖ 00 00 ‖ 0 ‖ index), XOR the 12-byte session salt.
// Both layouts are bytes 2-5 SSRC, 6-11 a 48-bit big-endian number (ROC ‖
// SEQ, or the 31-bit SRTCP index with zeros above it), so one 64-bit and
// one 32-bit word do it. Written as ONE 16-byte store over the nonce and
// AeadJob's padding after it (core/job_fill.h): the AEAD kernels read the
// nonce with one wide load, which an 8 + 4-byte pair of stores right before
// stalls (store forwarding).
void gcm_iv(const uint8_t salt[16], uint32_t ssrc, uint64_t index, uint8_t iv[16]) {
  uint64_t hi;
  uint32_t lo;
  std::memcpy(&hi, salt, 8);
  std::memcpy(&lo, salt + 8, 4);
  hi ^= __builtin_bswap64(uint64_t{ssrc} << 16 | ((index >> 32) & 0xffff));
  lo ^= __builtin_bswap32(static_cast<uint32_t>(index));
  recjob::store16(iv, {hi, lo});
}

// Walks RFC 8285 extension elements, calling f(id, offset, length) on each
// element's data; stops at the end of the block, never past it.
template <typename F>
void for_each_element(const uint8_t* data, size_t len, bool two_byte, F&& f) {
  size_t i = 0;
  while (i < len) {
    const uint8_t b = data[i];
    if (b == 0) {  // padding (RFC 8285 §4.2, §4.3)
      ++i;
      continue;
    }
    size_t n;
    uint8_t id;
    if (!two_byte) {
      id = b >> 4;
      if (id == 15) return;  // RFC 8285 §4.2: reserved, stop processing
      n = (b & 0x0f) + 1u;
      i += 1;
    } else {
      if (i + 1 >= len) return;
      id = b;
      n = data[i + 1];
      i += 2;
    }
    f(id, i, std::min(n, len - i));
    i += n;
  }
}

bool one_byte_profile(uint16_t p) { return p == 0xBEDE; }
bool two_byte_profile(uint16_t p) { return (p & 0xfff0) == 0x1000; }

// RFC 6904 §4: XOR the keystream (header key and salt, same IV as the
// payload, counting from the first byte of extension data) into the data of
// the elements whose IDs the policy lists.
void rfc6904_xor(const Session::KeySet& ks, const DerivedKeys& d, uint8_t* pkt,
                 const RtpHeader& h, uint64_t index) {
  if (!h.extension || h.ext_len == 0) return;
  const bool one = one_byte_profile(h.ext_profile);
  if (!one && !two_byte_profile(h.ext_profile)) return;
  uint8_t iv[16];
  cm_iv(d.hdr_salt, h.ssrc, index, iv);
  uint8_t* data = pkt + h.ext_offset + 4;
  for_each_element(data, h.ext_len, !one, [&](uint8_t id, size_t off, size_t n) {
    if (n != 0 && ks.policy.ext_id_encrypted(id)) {
      detail::cm_keystream_xor(d.hdr, iv, data + off, n, off);
    }
  });
}

// RFC 9335 §5: with cryptex the encrypted region is CSRCs ‖ extension data ‖
// payload, without the 4-byte extension header. For AEAD that region must be
// contiguous, so the extension header is moved in front of the CSRCs during
// the operation (and the AAD becomes fixed header ‖ extension header).
void cryptex_swap_in(uint8_t* p, uint8_t cc) {
  if (cc == 0) return;
  uint8_t word[4];
  std::memcpy(word, p + 12 + 4 * cc, 4);
  std::memmove(p + 16, p + 12, 4u * cc);
  std::memcpy(p + 12, word, 4);
}
void cryptex_swap_out(uint8_t* p, uint8_t cc) {
  if (cc == 0) return;
  uint8_t word[4];
  std::memcpy(word, p + 12, 4);
  std::memmove(p + 12, p + 16, 4u * cc);
  std::memcpy(p + 12 + 4 * cc, word, 4);
}

bool is_cryptex_profile(uint16_t p) { return p == 0xC0DE || p == 0xC2DE; }

// One packet whose rules have passed, waiting for the kernels of its chunk:
// AES-CM / NULL + HMAC-SHA1 packets in Burst::cm (keystreams and tags of the
// whole chunk at once, core/srtp_kernels.h), AEAD packets in Burst::ae (one
// rl::seal / rl::open call). SRTP and SRTCP share every field but `h`.
struct Waiting {
  PacketView* pkt;
  Session::Stream* stream;
  MasterSlot* slot;
  DerivedKeys* d;
  uint64_t index;
  RtpHeader h;       // SRTP (SRTCP: only h.ssrc)
  uint32_t out_len;  // packet length once sealed / opened
  bool cryptex;      // open: RFC 9335 marker to restore
  // AES-CM / NULL + HMAC-SHA1 (RFC 3711 §4.2): the tag is HMAC over
  // p[0, auth_len) ‖ word (SRTP: the ROC; SRTCP: E‖index, which is also on
  // the wire right after p[0, auth_len)), truncated, at p + tag_at. The
  // keystream covers p[enc_from, auth_len) (with cryptex: see add_keystream).
  uint32_t auth_len, enc_from, tag_at;
  uint8_t tag_len;
  bool encrypts, good;
  uint8_t word[4];
  // AEAD
  uint32_t e0_at;  // SRTCP E=0: where tag and index word belong
  uint8_t cc_swapped;
  bool e0;
  uint8_t scratch[16];  // SRTCP AAD (E=1) or tag (E=0)
};

}  // namespace

struct Session::Burst {
  static constexpr size_t kMax = 32;
  Waiting ae[kMax];  // AEAD packets
  AeadJob jobs[kMax];
  size_t n = 0;
  Waiting cm[kMax];  // AES-CM / NULL + HMAC-SHA1 packets
  size_t nc = 0;
  Stream* provisional[kMax];
  size_t np = 0;
  detail::CmJob cm_jobs[2 * kMax];  // cryptex: CSRCs and the rest, two jobs
  detail::TagJob tag_jobs[kMax];
  uint8_t tags[kMax][20];  // computed tags of cm[], wiped in one go
  alignas(64) uint8_t ks[detail::kOneMaxPayload];  // open of a lone packet: its keystream

  // Every packet waiting in this burst belongs to hint_s and has an index
  // <= hint_max (hint_s null: no such bound is known). In-order packets of
  // one stream, the usual burst, then skip the scan. May over-approximate
  // (a packet counted here can still fail before it waits), never under.
  const Stream* hint_s = nullptr;
  uint64_t hint_max = 0;

  bool full() const { return n == kMax || np == kMax || nc == kMax; }

  bool pending_dup(const Stream* s, uint64_t index) {
    if (n + nc == 0 || (s == hint_s && index > hint_max)) {
      hint_s = s;
      hint_max = index;
      return false;
    }
    const bool dup = scan_dup(s, index);
    if (s != hint_s) hint_s = nullptr;  // two streams waiting: no bound
    return dup;
  }

  // The most any waiting SRTP packet's index is above the highest of its
  // stream (the estimate it was queued with); 0 when nothing waits.
  uint64_t ahead = 0;

  // The highest index s's window can have once the packets waiting settle,
  // from `top`, its highest now (0 if none).
  uint64_t highest_after(const Stream* s, uint64_t top) const {
    for (size_t i = 0; i < n; ++i)
      if (ae[i].stream == s && ae[i].index > top) top = ae[i].index;
    for (size_t i = 0; i < nc; ++i)
      if (cm[i].stream == s && cm[i].index > top) top = cm[i].index;
    return top;
  }

  bool waiting(const Stream* s) const {
    for (size_t i = 0; i < n; ++i) {
      if (ae[i].stream == s) return true;
    }
    for (size_t i = 0; i < nc; ++i) {
      if (cm[i].stream == s) return true;
    }
    return false;
  }

  bool scan_dup(const Stream* s, uint64_t index) const {
    for (size_t i = 0; i < n; ++i) {
      if (ae[i].stream == s && ae[i].index == index) return true;
    }
    for (size_t i = 0; i < nc; ++i) {
      if (cm[i].stream == s && cm[i].index == index) return true;
    }
    return false;
  }

  // The keystream job(s) of a waiting packet (RFC 3711 §4.1.1; with cryptex,
  // RFC 9335 §5.1: CSRCs, then the extension data and payload).
  size_t add_keystream(const Waiting& c, size_t at) {
    uint8_t* p = c.pkt->data();
    const size_t first = at;
    auto job = [&](uint8_t* data, size_t len, uint64_t off) {
      detail::CmJob& j = cm_jobs[at];
      if (at++ == first) {
        cm_iv(c.d->salt, c.h.ssrc, c.index, j.iv);
      } else {
        std::memcpy(j.iv, cm_jobs[first].iv, 16);
      }
      j.key = &c.d->cm;
      j.data = data;
      j.len = len;
      j.offset = off;
    };
    if (c.cryptex) {
      const uint32_t csrc = 4u * c.h.cc;
      job(p + 12, csrc, 0);
      job(p + c.h.ext_offset + 4, c.auth_len - c.h.ext_offset - 4, csrc);
    } else {
      job(p + c.enc_from, c.auth_len - c.enc_from, 0);
    }
    return at;
  }
};

namespace {

// Open, after authentication: the header as the sender wrote it (RFC 9335
// §5.1 marker back to an RFC 8285 profile, or RFC 6904 §4 element data
// decrypted).
void restore_header(const Session::KeySet& ks, const Waiting& w, uint8_t* p) {
  if (w.cryptex) {
    store_be16(p + w.h.ext_offset, w.h.ext_profile == 0xC0DE ? 0xBEDE : 0x1000);
  } else if (ks.policy.header_ext == HeaderExtCrypto::rfc6904) {
    rfc6904_xor(ks, *w.d, p, w.h, w.index);
  }
}

}  // namespace

// ---- The lean loop for the usual SRTP AEAD chunk
// Most bursts are in-order packets of one stream: an AEAD profile, no MKI, no
// header-extension encryption, a stream that has carried packets already and
// a master key far from its limits. For them run() settles each chunk here:
// the stream's constants sit in registers, nothing is looked up, admitted or
// probed per packet, and the counters are written once. Only what the general
// loop would take with the same result is taken: the first packet that needs
// anything else (another SSRC, an index not above every earlier one, a short
// or odd packet, padding to check on seal) ends the lean prefix, which is
// settled at once if it is most of the chunk (else the general loop takes
// the chunk from its start); the general loop goes on from that packet.
// srtp_test's LeanAndGeneralLoopsAgree compares sessions that take the lean
// loop with sessions that never do, in bursts and one at a time.

namespace {
// Whether n more packets of at most `max_bytes` together leave the master
// key's SRTP lifetime below every limit that admit() and count() check: then
// admitting and counting them one at a time refuses none and posts no event,
// and one sum at the end gives the same counters.
[[gnu::always_inline]] inline bool far_from_limits_inl(const Lifetime& l, Direction dir,
                                                       uint64_t n, uint64_t max_bytes) {
  const Limits& lim = l.limits;
  const KeyCounters& c = l.c;
  if (c.auth_failures >= lim.max_auth_failures) return false;
  if (dir == Direction::seal) return recjob::far_from_limits(lim, c, n, max_bytes);
  // Failures are counted after the run's AEAD pass: if they could reach the
  // integrity limit, the packets go one by one (the general loop retakes them).
  if (failures_left(lim.max_auth_failures, c.auth_failures) < n) return false;
  return c.opened < lim.soft_records && n < lim.soft_records - c.opened &&
         c.bytes_opened < lim.soft_bytes && max_bytes < lim.soft_bytes - c.bytes_opened;
}

bool far_from_limits(const Lifetime& l, Direction dir, uint64_t n, uint64_t max_bytes) {
  return far_from_limits_inl(l, dir, n, max_bytes);
}

// The window marks of a lean chunk (indices rising, above the highest): a lone
// packet, as in bursts of 1, through commit() inline rather than the call.
[[gnu::always_inline]] inline void commit_run(ReplayWindow& w, const uint64_t* index, size_t n) {
  if (n == 1) {
    w.commit(index[0]);
  } else {
    w.commit_rising(index, n);
  }
}
}  // namespace

template <bool sealing, bool one>
size_t Session::lean(std::span<PacketView> pkts, size_t& ok) {
  constexpr Direction dir = sealing ? Direction::seal : Direction::open;
  constexpr uint32_t kTag = 16;  // RFC 7714 §8: AEAD_AES_*_GCM tags
  constexpr uint64_t kAhead = 32767;
  constexpr size_t kMinPrefix = 8;
  const PacketView& first = pkts[0];
  if (!first.well_formed() || first.length < 12) return 0;
  Stream* const s = find(load_be32(first.data() + 8));
  if (s == nullptr || s->rtp.empty()) return 0;
  KeySet& ks = *s->keys;
  if (!ks.info.aead || ks.policy.mki_len != 0 || ks.policy.header_ext != HeaderExtCrypto::none ||
      ks.ages) {
    return 0;
  }
  MasterSlot& m = ks.slots[ks.active];
  DerivedKeys& d = m.d[0];
  const size_t count = one ? 1 : pkts.size();
  // (Lengths are 32-bit: 2^32 bytes a packet bounds the chunk's bytes.)
  // (Inline for one packet: the call is a visible share of its cost.)
  if (!m.live || !d.valid ||
      !(one ? far_from_limits_inl : far_from_limits)(m.life[0], dir, count, uint64_t{count} << 32)) {
    return 0;
  }
  // Every index this chunk can reach is below 2^48 (RFC 3711 §3.3.1: the
  // ROC must not wrap): open estimates each from the highest authenticated
  // index (nothing commits before the AEAD call, as in the general loop);
  // seal from the highest sealed, which moves with each packet.
  const uint64_t top = s->rtp.highest();
  if (((top + (sealing ? count : 1) * kAhead) >> 48) != 0) return 0;
  Burst& b = *burst_;
  const AeadKey* const key = &d.aead;
  const uint32_t ssrc_mem = recjob::le32(first.data() + 8);  // the SSRC in memory order
  // RFC 7714 §8.1: IV = (00 00 ‖ SSRC ‖ ROC ‖ SEQ) XOR salt, ROC ‖ SEQ being
  // BE48(index) in bytes 6..11; bytes 0..5 are the stream's.
  const uint64_t salt_hi = recjob::le64(d.salt) ^ uint64_t{ssrc_mem} << 16;
  const uint32_t salt_lo = recjob::le32(d.salt + 8);
  uint64_t prev = top;
  uint64_t index[one ? 1 : Burst::kMax];
  // Every header of the chunk requested at once so that the misses overlap:
  // received packets are often not in L1 yet, nor are a large burst's sent
  // ones (the AEAD of the last burst went through them). A prefetch never
  // faults, whatever a view holds.
  if (!one && count > 1) {
    for (const PacketView& pkt : pkts) pkt.prefetch();
  }
  size_t n = 0;
  for (; n < count; ++n) {
    PacketView& pkt = pkts[n];
    uint8_t* const buf = pkt.buf;
    const uint32_t off = pkt.offset, len = pkt.length, cap = pkt.capacity;
    // Well formed (offset + length within the capacity, in 64 bits where
    // the 32-bit fields cannot wrap), the fixed header there, and the tag:
    // seal has room for it after the packet, open finds it at the end.
    if (buf == nullptr || len < (sealing ? 12 : 12 + kTag) ||
        uint64_t{off} + len + (sealing ? kTag : 0) > cap) {
      break;
    }
    uint8_t* const p = buf + off;
    const uint32_t end = sealing ? len : len - kTag;  // header ‖ payload
    const uint32_t w = recjob::le32(p);  // V P X CC ‖ M PT ‖ sequence number
    // RFC 3550 §5.1: version 2; on seal a padded packet has its padding
    // checked by the general loop.
    if ((w & (sealing ? 0xe0u : 0xc0u)) != 0x80 || recjob::le32(p + 8) != ssrc_mem) break;
    uint32_t hl = 12 + 4 * (w & 0x0f);  // CSRCs
    if (w & 0x10) {
      // An extension block, authenticated only (RFC 8285, RFC 7714 §8.2).
      if (hl + 4 > end) break;
      hl += 4 + 4 * uint32_t{load_be16(p + hl + 2)};
    }
    if (hl > end) break;
    // RFC 3711 Appendix A: a sequence number 1..2^15-1 ahead of s_l is the
    // index that far ahead of the highest one (ROC + 1 across the wrap).
    const uint16_t seq = __builtin_bswap16(static_cast<uint16_t>(w >> 16));
    const uint64_t base = sealing ? prev : top;
    const uint64_t ahead = static_cast<uint16_t>(seq - static_cast<uint16_t>(base));
    if (ahead - 1 >= kAhead) break;
    const uint64_t i = base + ahead;
    // Open: above every earlier packet of the chunk too, so no duplicate
    // waits (seal: by construction).
    if (!sealing && i <= prev) break;
    index[n] = i;
    prev = i;
    recjob::make(&b.jobs[n], key,
                 {salt_hi ^ uint64_t{__builtin_bswap16(static_cast<uint16_t>(i >> 32))} << 48,
                  salt_lo ^ __builtin_bswap32(static_cast<uint32_t>(i))},
                 {p, hl}, {p + hl, end - hl}, p + end);
  }
  // Nothing has changed yet. A short prefix (a burst of interleaved streams)
  // goes to the general loop with the rest, in one AEAD call, rather than
  // splitting it in two.
  if (n == 0 || (n < count && n < kMinPrefix)) return 0;
  const std::span<AeadJob> jobs{b.jobs, n};
  KeyCounters& c = m.life[0].c;
  size_t good = 0;
  if constexpr (sealing) {
    // Admitted, counted and the indices marked used (the sender never uses
    // one twice; the replay check said ok to each, being above the highest)
    // as the general loop does before the AEAD call.
    commit_run(s->rtp, index, n);
    rl::seal(jobs);
    uint64_t bytes = 0;  // of every packet admitted, sealed or not
    for (size_t k = 0; k < n; ++k) {
      PacketView& pkt = pkts[k];
      const Status st = b.jobs[k].status;
      bytes += pkt.length;
      pkt.status = st;
      if (st != Status::ok) [[unlikely]] continue;
      pkt.length += kTag;
      ++good;
    }
    c.sealed += n;
    c.bytes_sealed += bytes;
  } else {
    rl::open(jobs);
    uint64_t bytes = 0;
    for (size_t k = 0; k < n; ++k) {
      PacketView& pkt = pkts[k];
      const Status st = b.jobs[k].status;
      pkt.status = st;
      if (st != Status::ok) [[unlikely]] {
        // Bytes as they arrived (rl::open), no state but the failure count.
        count_failure(events_, m, false);
        continue;
      }
      index[good++] = index[k];  // the authenticated ones' indices, in order
      bytes += pkt.length -= kTag;
    }
    commit_run(s->rtp, index, good);
    c.opened += good;
    c.bytes_opened += bytes;
  }
  s->packets += good;
  ok += good;
  return n;
}

// One burst of SRTP or SRTCP packets, sealed or opened (one instance each).
// The loop at the bottom takes each packet through its rules (fixed header,
// stream, master key, index, replay check, key lifetime, session keys) and
// lets it wait in the burst; once the burst is full or the input ends,
// finish_chunk() runs the kernels over every waiting packet and settles each
// one (accept: tag written, or tag checked and state committed; reject).
// The pieces are defined in that order below: settling, kernels, rules.
template <bool rtcp, bool sealing>
size_t Session::run(std::span<PacketView> pkts, bool lean_loop) {
  constexpr Direction dir = sealing ? Direction::seal : Direction::open;
  if (dir_ != dir) {
    for (PacketView& p : pkts) p.status = Status::invalid_argument;
    return 0;
  }
  size_t ok = 0;
  // SRTP: the lean loop takes whole chunks while it can, the general loop
  // below the rest, from the first packet the lean loop left (a lone packet
  // has been offered to the lean loop already: see seal() / open()).
  std::span<PacketView> rest = pkts;
  if constexpr (!rtcp) {
    if (lean_loop) {
      while (!rest.empty()) {
        const size_t n = std::min(Burst::kMax, rest.size());
        const size_t took = lean<sealing>(rest.first(n), ok);
        rest = rest.subspan(took);
        if (took < n) break;
      }
      if (rest.empty()) return ok;
    }
  }
  // The clock is read at most once per call, and only for keys with age limits.
  uint64_t now_cache = 0;
  bool have_now = false;
  auto now = [&](const KeySet& ks) -> uint64_t {
    if (!ks.ages) return 0;
    if (!have_now) {
      now_cache = clock_.read();
      have_now = true;
    }
    return now_cache;
  };
  Burst& b = *burst_;
  // What the previous packet's stream resolved to (a burst is mostly one
  // SSRC): its key set, active master key, the policy fields the rules read
  // and, without a key derivation rate, the session keys. Each packet then
  // compares one pointer instead of chasing stream -> key set -> slot (those
  // dependent loads were the top stalls of the per-packet loop). Only
  // finish_chunk() changes any of it within a run (it may erase streams, and
  // a freed Stream can come back for another SSRC), so it forgets the cache.
  struct Cur {
    Stream* s = nullptr;
    KeySet* ks = nullptr;
    MasterSlot* m = nullptr;   // ks->slots[ks->active] (open: when there is no MKI)
    DerivedKeys* d = nullptr;  // m's session keys if kdr == 0 and derived, else null
    uint32_t mki_len = 0, tag_len = 0;
    HeaderExtCrypto hx = HeaderExtCrypto::none;
    bool aead = false, live = false, ages = false;
  } cur;
  auto resolve = [&](Stream* s) -> const Cur& {
    if (s != cur.s) {
      KeySet& ks = *s->keys;
      MasterSlot& m = ks.slots[ks.active];
      cur.s = s;
      cur.ks = &ks;
      cur.m = &m;
      cur.live = m.live;
      cur.d = m.live && ks.policy.kdr == 0 && m.d[rtcp].valid ? &m.d[rtcp] : nullptr;
      cur.mki_len = ks.policy.mki_len;
      cur.tag_len = rtcp ? ks.info.srtcp_tag_len : ks.info.srtp_tag_len;
      cur.hx = ks.policy.header_ext;
      cur.aead = ks.info.aead;
      cur.ages = ks.ages;
    }
    return cur;
  };
  b.n = 0;
  b.np = 0;
  b.nc = 0;

  // ---- settling a packet once its kernel ran

  // Sealed, or authenticated (open: only now is any state committed, RFC
  // 3711 §3.3 step 6 / §3.4).
  auto accept = [&](Waiting& w) {
    PacketView& pkt = *w.pkt;
    Stream& s = *w.stream;
    if (!sealing) {
      const KeySet& ks = *s.keys;
      (rtcp ? s.rtcp : s.rtp).commit(w.index);
      s.provisional = false;
      if (!rtcp) restore_header(ks, w, pkt.data());
      count(events_, *w.slot, rtcp, Direction::open, w.out_len, now(ks));
    }
    ++(rtcp ? s.rtcp_packets : s.packets);
    pkt.length = w.out_len;
    pkt.status = Status::ok;
    ++ok;
  };
  // (A packet that waited never finds the window refusing it here: one that
  // repeats a waiting packet's index, or that the waiting ones could leave
  // left of the window, is retaken instead; see replay_check.)
  auto reject = [&](Waiting& w, Status st) {
    w.pkt->status = st;
    if (!sealing) count_failure(events_, *w.slot, rtcp);
  };

  // ---- the kernels over everything waiting

  auto finish_cm = [&]() {
    // A lone packet runs keystream and tag stitched in one kernel: one SHA-1
    // stream is latency bound and the AES work fits in its gaps.
    Waiting& c0 = b.cm[0];
    const detail::SimdKernels* one =
        b.nc == 1 && c0.encrypts && !c0.cryptex &&
                (sealing || c0.auth_len - c0.enc_from <= detail::kOneMaxPayload)
            ? detail::cm_hmac_one_kernels(c0.d->cm)
            : nullptr;
    size_t nj = 0;
    if (one != nullptr) {
      uint8_t iv[16];
      cm_iv(c0.d->salt, c0.h.ssrc, c0.index, iv);
      uint8_t* p = c0.pkt->data();
      if (sealing) {
        detail::cm_seal_one(*one, c0.d->cm, iv, c0.d->mac, p, c0.auth_len, c0.enc_from, c0.word,
                            b.tags[0]);
      } else {
        const size_t plen = c0.auth_len - c0.enc_from;
        detail::cm_open_one(*one, c0.d->cm, iv, c0.d->mac, p, c0.auth_len, c0.enc_from, c0.word,
                            b.tags[0], b.ks);
        c0.good = CRYPTO_memcmp(b.tags[0], p + c0.tag_at, c0.tag_len) == 0;
        if (c0.good) detail::xor_into(*one, p + c0.enc_from, b.ks, plen);
        OPENSSL_cleanse(b.ks, (plen + 63) & ~size_t{63});
      }
    } else {
      for (size_t i = 0; i < b.nc; ++i) {
        Waiting& c = b.cm[i];
        b.tag_jobs[i] = detail::TagJob{&c.d->mac, c.pkt->data(), c.auth_len, c.word, 4, b.tags[i]};
      }
      if (sealing) {
        // Encrypt, then tag the ciphertext (RFC 3711 §3.3 steps 5-7).
        for (size_t i = 0; i < b.nc; ++i) {
          if (b.cm[i].encrypts) nj = b.add_keystream(b.cm[i], nj);
        }
        detail::cm_keystream_xor_burst({b.cm_jobs, nj});
        detail::hmac_sha1_tags({b.tag_jobs, b.nc});
      } else {
        // Verify every tag first; decrypt only what authenticated.
        detail::hmac_sha1_tags({b.tag_jobs, b.nc});
        for (size_t i = 0; i < b.nc; ++i) {
          Waiting& c = b.cm[i];
          c.good = CRYPTO_memcmp(b.tags[i], c.pkt->data() + c.tag_at, c.tag_len) == 0;
          if (c.good && c.encrypts) nj = b.add_keystream(c, nj);
        }
        detail::cm_keystream_xor_burst({b.cm_jobs, nj});
      }
    }
    for (size_t i = 0; i < b.nc; ++i) {
      Waiting& c = b.cm[i];
      if (sealing) {
        // Fixed-size copies: a variable-length one became `rep movs`.
        uint8_t* at = c.pkt->data() + c.tag_at;
        if (c.tag_len == 10) {
          std::memcpy(at, b.tags[i], 10);
        } else {
          std::memcpy(at, b.tags[i], 4);
        }
      } else if (!c.good) {
        reject(c, Status::auth_failed);
        continue;
      }
      accept(c);
    }
    // The computed tags, once for the whole chunk.
    OPENSSL_cleanse(b.tags, b.nc * sizeof b.tags[0]);
    b.nc = 0;
  };

  auto finish_aead = [&]() {
    std::span<AeadJob> jobs{b.jobs, b.n};
    if (sealing) {
      rl::seal(jobs);
    } else {
      rl::open(jobs);
    }
    for (size_t i = 0; i < b.n; ++i) {
      Waiting& w = b.ae[i];
      uint8_t* p = w.pkt->data();
      const Status st = b.jobs[i].status;
      if (w.e0 && (!sealing || st == Status::ok)) {
        // SRTCP E=0: tag and index word back in wire order.
        const uint32_t word = load_be32(p + w.e0_at);
        std::memcpy(p + w.e0_at, w.scratch, 16);
        store_be32(p + w.e0_at + 16, word);
      }
      if (w.cc_swapped != 0) cryptex_swap_out(p, w.cc_swapped);
      if (st != Status::ok) {
        reject(w, st);
        continue;
      }
      accept(w);
    }
    b.n = 0;
  };

  auto finish_chunk = [&]() {
    cur.s = nullptr;
    if (b.nc != 0) finish_cm();
    if (b.n != 0) finish_aead();
    // Streams that a forged or failed packet created leave no trace.
    for (size_t i = 0; i < b.np; ++i) {
      if (b.provisional[i]->in_use && b.provisional[i]->provisional) erase(b.provisional[i]);
    }
    b.np = 0;
  };

  // ---- the rules every packet passes before it waits

  // A packet that must wait for the ones before it (see its two callers):
  // finish the burst, then take this packet again on its own.
  auto retake = [&](PacketView& pkt) {
    finish_chunk();
    ok += run<rtcp, sealing>({&pkt, 1});
  };

  // The stream of `ssrc`, looked up or (for a template) created; on open a
  // new stream is provisional until a packet authenticates on it. Null when
  // the packet is settled already: refused with a status, or retaken.
  auto stream_for = [&](PacketView& pkt, uint32_t ssrc) -> Stream* {
    // The cached stream is live (only finish_chunk() erases, and it clears
    // the cache): no call to find() for the run's usual SSRC.
    if (cur.s != nullptr && cur.s->ssrc == ssrc) return cur.s;
    Stream* s = find(ssrc);
    if (s != nullptr) return s;
    if (template_ && !sealing && free_.empty() && b.np != 0) {
      // The table is full of streams that packets of this burst created and
      // may yet fail: finish the burst (which drops those) and retake this
      // packet, so forged packets cannot crowd out a genuine new stream (nor
      // count as a refused one, which one at a time they would not be).
      retake(pkt);
      return nullptr;
    }
    if (template_) s = create(ssrc, template_.get(), !sealing);
    if (s != nullptr) {
      if (!sealing) b.provisional[b.np++] = s;
    } else {
      pkt.status = Status::unknown_epoch;  // no template, or the table is full
    }
    return s;
  };

  // Whether the packets waiting in the burst could leave `index` left of
  // `win`, s's window (see replay_check).
  auto falls_behind = [&](const Stream* s, const ReplayWindow& win, uint64_t index) {
    if (b.n + b.nc == 0) return false;
    const uint64_t h = win.empty() ? 0 : win.highest();
    if (!win.empty() && index + win.size() > h + b.ahead) return false;
    return index + win.size() <= b.highest_after(s, h);
  };

  // Open: the replay check before authentication (RFC 3711 §3.3.2). True when
  // the packet was retaken: it has the index of a packet still waiting in
  // this burst, so it goes after it, and a forged copy ahead of the genuine
  // packet cannot get the genuine one refused.
  // Also retaken: a packet whose master key could reach its integrity limit
  // through the failures of the packets waiting before it (counted only once
  // the kernels ran); one at a time it would then be refused. And a packet
  // (new or a replay) the waiting ones could leave left of the window (too
  // old, one at a time): only a late packet behind packets up to b.ahead
  // past the highest index.
  auto replay_check = [&](PacketView& pkt, Stream* s, MasterSlot* m, uint64_t index,
                          Status& st) -> bool {
    const ReplayWindow& win = rtcp ? s->rtcp : s->rtp;
    st = win.check(index);
    const Lifetime& l = m->life[rtcp];
    const uint64_t left = failures_left(l.limits.max_auth_failures, l.c.auth_failures);
    if ((st == Status::ok && (b.pending_dup(s, index) || (left != 0 && left <= b.n + b.nc))) ||
        ((st == Status::ok || st == Status::replayed) && falls_behind(s, win, index))) [[unlikely]] {
      retake(pkt);
      return true;
    }
    if (st == Status::replayed) ++m->life[rtcp].c.replays;
    return false;
  };

  // One at a time, an SRTP packet's index is estimated (RFC 3711 Appendix A)
  // from the highest index the packets before it left; here from the highest
  // before the burst. The packets waiting can only raise it, by at most
  // b.ahead: when that could move this packet's estimate (the nearest index
  // to the highest, so only after a jump of about 2^15 in the burst), and
  // the highest they would leave does move it, the packet is retaken after
  // them. (An estimate moves monotonically with the highest index: equal at
  // both ends, equal between.)
  auto estimate_moves = [&](const Stream* s, uint16_t seq, bool valid, uint64_t index) {
    const uint64_t h = s->rtp.highest();
    if (b.n + b.nc == 0 || (valid && index + 0x8000 > h + b.ahead)) return false;
    uint64_t later = 0;
    const bool later_valid = estimate(b.highest_after(s, h), seq, later);
    return later_valid != valid || (valid && later != index);
  };

  // The master key's lifetime (RFC 3711 §9.2), then the session keys for the
  // index (§4.3.1). Seal counts the packet against the key here.
  // `known`: m's session keys from the stream cache (null: look them up).
  // `ks` is the stream's key set and `ages` its flag, passed in from the
  // stream cache: reading them through the stream was a dependent-load stall.
  auto keys_for = [&](const KeySet& ks, bool ages, MasterSlot* m, DerivedKeys* known,
                      uint64_t index, uint32_t len, Status& st) -> DerivedKeys* {
    const uint64_t t = ages ? now(ks) : 0;
    st = admit(events_, *m, rtcp, dir, sealing ? len : 0, t);
    DerivedKeys* d = st != Status::ok ? nullptr
                     : known != nullptr ? known
                                        : keys_at(ks, *m, rtcp, index);
    if (st == Status::ok && d == nullptr) st = Status::key_expired;
    if (d != nullptr && sealing) count(events_, *m, rtcp, Direction::seal, len, t);
    return d;
  };

  // The entry of the packet: built in its burst slot, not copied there (a
  // local copy cost a `rep stos` and store-forwarding stalls per packet); only
  // queue() makes it part of the burst.
  auto entry = [&](bool aead) -> Waiting& { return aead ? b.ae[b.n] : b.cm[b.nc]; };
  // (w.h is set by the callers that need it: copying the header just parsed
  // stalls on store forwarding, which showed in AEAD seal at burst 1.)
  auto start = [&](Waiting& w, PacketView& pkt, Stream* s, MasterSlot* m, DerivedKeys* d,
                   uint64_t index) {
    w.pkt = &pkt;
    w.stream = s;
    w.slot = m;
    w.d = d;
    w.index = index;
    w.cryptex = false;
    w.good = false;
    w.cc_swapped = 0;
    w.e0 = false;
  };
  // Open: keeps b.ahead (for estimate_moves and replay_check) as a packet of
  // window `win` with `index` is about to wait.
  auto note_ahead = [&](const ReplayWindow& win, uint64_t index) {
    if (b.n + b.nc == 0) b.ahead = 0;
    const uint64_t h = win.highest();  // meaningful when !win.empty()
    if (!win.empty() && index > h + b.ahead) b.ahead = index - h;
  };
  auto queue = [&](bool aead, const KeySet& ks) {
    if (aead) {
      ++b.n;
      return;
    }
    ++b.nc;
    // With a key derivation rate the next packet may re-derive the session
    // keys this one points to: run it now.
    if (ks.policy.kdr != 0) finish_chunk();
  };
  auto aead_job = [&](const DerivedKeys* d, uint32_t ssrc, uint64_t index) -> AeadJob& {
    AeadJob& job = b.jobs[b.n];
    job.status = Status::ok;
    job.key = &d->aead;
    gcm_iv(d->salt, ssrc, index, job.nonce);
    return job;
  };

  // RFC 3711 §3.1: header ‖ ciphertext ‖ MKI ‖ tag, the ciphertext up to
  // `end`; the tag covers header ‖ ciphertext ‖ ROC (§4.2). w.h is set.
  auto srtp_cm = [&](Waiting& w, const ProfileInfo& info, uint32_t end, uint32_t mki_len) {
    w.auth_len = end;
    w.enc_from = w.h.header_len;
    w.tag_at = end + mki_len;
    w.tag_len = info.srtp_tag_len;
    w.encrypts = info.encrypts;
    store_be32(w.word, static_cast<uint32_t>(w.index >> 16));
  };

  // RFC 7714 §8: AAD = the RTP header, the ciphertext up to `end`, the tag
  // after it. With cryptex (RFC 9335 §5.1) the AAD is the fixed header ‖ the
  // extension header, made contiguous by moving the CSRCs behind it for the
  // operation (finish_aead() moves them back).
  auto srtp_aead = [&](Waiting& w, const RtpHeader& h, uint8_t* p, uint32_t end, bool cryptex) {
    AeadJob& job = aead_job(w.d, h.ssrc, w.index);
    uint32_t aad_len = h.header_len;
    if (cryptex) {
      cryptex_swap_in(p, h.cc);
      w.cc_swapped = h.cc;
      aad_len = 16;
    }
    job.aad = {p, aad_len};
    job.data = {p + aad_len, end - aad_len};
    job.tag = p + end;
  };

  // The headers two packets ahead are fetched while this one passes its rules
  // (an open burst's packets have usually just arrived from the network and
  // are not in L1). A prefetch never faults, whatever the view holds.
  auto prefetch = [&](size_t i) {
    if (i < rest.size()) rest[i].prefetch();
  };
  prefetch(0);
  prefetch(1);
  for (PacketView& pkt : rest) {
    prefetch(static_cast<size_t>(&pkt - rest.data()) + 2);
    if (b.full()) finish_chunk();
    if (!pkt.well_formed()) {
      pkt.status = Status::invalid_argument;
      continue;
    }
    uint8_t* p = pkt.data();
    const uint32_t len = pkt.length;
    Status st = Status::ok;
    // RFC 3550 §5.1, §6.4: the fixed header (12 octets RTP, 8 RTCP) holds the
    // SSRC; version 2.
    if (len < (rtcp ? 8u : 12u)) {
      pkt.status = Status::truncated;
      continue;
    }
    if ((p[0] >> 6) != 2) {
      pkt.status = Status::malformed;
      continue;
    }

    if (!rtcp && sealing) {
      // ---------------- seal SRTP (RFC 3711 §3.1, §3.3; RFC 7714 §8) ----------------
      RtpHeader h;
      st = parse_header(p, len, h);
      if (st == Status::ok && h.padding) {
        // RFC 3550 §5.1: the last octet counts the padding, itself included.
        const uint8_t pad = p[len - 1];
        if (len == h.header_len || pad == 0 || pad > len - h.header_len) st = Status::malformed;
      }
      if (st != Status::ok) {
        pkt.status = st;
        continue;
      }
      Stream* s = stream_for(pkt, h.ssrc);
      if (s == nullptr) continue;
      const Cur& c = resolve(s);
      KeySet& ks = *c.ks;
      const ProfileInfo& info = ks.info;
      MasterSlot& m = *c.m;
      const bool cryptex = c.hx == HeaderExtCrypto::cryptex && (h.extension || h.cc != 0);
      const uint32_t grow = (cryptex && !h.extension ? 4u : 0u);
      const uint32_t mki_len = c.mki_len;
      const uint32_t trailer = mki_len + c.tag_len;
      uint64_t index = 0;
      if (!c.live) {
        st = Status::key_expired;
      } else if (pkt.tailroom() < trailer + grow) {
        st = Status::buffer_too_small;
      } else if (cryptex && h.extension && h.ext_profile != 0xBEDE && h.ext_profile != 0x1000) {
        st = Status::malformed;  // RFC 9335 §5: only RFC 8285 extension blocks
      } else if (s->rtp.empty()) {
        index = uint64_t{s->initial_roc} << 16 | h.seq;
      } else if (!estimate(s->rtp.highest(), h.seq, index)) {
        st = Status::key_exhausted;
      }
      // The sender never uses an index twice: that would repeat keystream.
      if (st == Status::ok) st = s->rtp.check(index);
      DerivedKeys* d = st == Status::ok ? keys_for(ks, c.ages, &m, c.d, index, len, st) : nullptr;
      if (d == nullptr) {
        pkt.status = st;
        continue;
      }
      s->rtp.commit(index);
      uint32_t plen = len;
      if (cryptex) {
        if (!h.extension) {
          // RFC 9335 §5.1: CSRCs without an extension get an empty one so
          // that the 0xC0DE marker is there.
          const uint32_t at = 12 + 4u * h.cc;
          std::memmove(p + at + 4, p + at, plen - at);
          store_be16(p + at, 0xBEDE);
          store_be16(p + at + 2, 0);
          p[0] |= 0x10;
          plen += 4;
          parse_rtp_header(p, plen, h);
        }
        store_be16(p + h.ext_offset, h.ext_profile == 0xBEDE ? 0xC0DE : 0xC2DE);
      } else if (c.hx == HeaderExtCrypto::rfc6904) {
        rfc6904_xor(ks, *d, p, h, index);
      }
      Waiting& w = entry(c.aead);
      start(w, pkt, s, &m, d, index);
      w.out_len = plen + trailer;
      // (The MKI copies are guarded: with mki_len 0, the usual case, a
      // variable-length memcpy is still a library call per packet.)
      if (!c.aead) {
        w.h = h;
        w.cryptex = cryptex;
        srtp_cm(w, info, plen, mki_len);
        if (mki_len != 0) std::memcpy(p + plen, m.mki, mki_len);
      } else {
        // RFC 7714 §8: header ‖ ciphertext ‖ tag ‖ MKI.
        srtp_aead(w, h, p, plen, cryptex);
        if (mki_len != 0) std::memcpy(p + plen + 16, m.mki, mki_len);
      }
      queue(c.aead, ks);
      continue;
    }

    if (!rtcp) {
      // ---------------- open SRTP (RFC 3711 §3.3; RFC 7714 §8) ----------------
      // The key set of the SSRC tells the trailer size.
      Stream* s = stream_for(pkt, load_be32(p + 8));
      if (s == nullptr) continue;
      const Cur& c = resolve(s);
      KeySet& ks = *c.ks;
      const ProfileInfo& info = ks.info;
      const uint32_t mki_len = c.mki_len;
      const uint32_t trailer = mki_len + c.tag_len;
      if (len < 12 + trailer) {
        pkt.status = Status::truncated;
        continue;
      }
      // Header ‖ ciphertext: AES-CM's authenticated portion; for AEAD the tag
      // (srtp_tag_len 16) is what follows it, before the MKI.
      const uint32_t auth_len = len - trailer;
      RtpHeader h;
      st = parse_header(p, auth_len, h);
      MasterSlot* m = nullptr;
      if (st == Status::ok) {
        // MKI sits after the ciphertext (AES-CM, RFC 3711 §3.1) or after the
        // AEAD tag (RFC 7714 §8).
        if (mki_len == 0) {
          m = c.live ? c.m : nullptr;  // find_mki() without an MKI
        } else {
          m = find_mki(ks, p + (c.aead ? len - mki_len : auth_len));
        }
        if (m == nullptr) st = Status::unknown_epoch;
      }
      uint64_t index = 0;
      if (st == Status::ok) {
        if (s->rtp.empty() && b.waiting(s)) {
          // No packet of the stream has authenticated yet, so there is no s_l
          // to estimate the ROC from (RFC 3711 §3.3.1), but one waits in this
          // burst: settle it first and estimate from it, as one at a time
          // would (a new stream whose first burst wraps the sequence number).
          retake(pkt);
          continue;
        }
        if (s->rtp.empty()) {
          index = uint64_t{s->initial_roc} << 16 | h.seq;
        } else {
          const bool valid = estimate(s->rtp.highest(), h.seq, index);
          if (!valid) st = Status::too_old;
          if (estimate_moves(s, h.seq, valid, index)) {
            retake(pkt);
            continue;
          }
        }
      }
      if (st == Status::ok && replay_check(pkt, s, m, index, st)) continue;
      DerivedKeys* d =
          st == Status::ok ? keys_for(ks, c.ages, m, m == c.m ? c.d : nullptr, index, len, st) : nullptr;
      if (d == nullptr) {
        pkt.status = st;
        continue;
      }
      Waiting& w = entry(c.aead);
      start(w, pkt, s, m, d, index);
      w.h = h;
      w.cryptex = c.hx == HeaderExtCrypto::cryptex && h.extension &&
                  is_cryptex_profile(h.ext_profile);
      w.out_len = auth_len;
      if (!c.aead) {
        srtp_cm(w, info, auth_len, mki_len);
      } else {
        srtp_aead(w, h, p, auth_len, w.cryptex);
      }
      note_ahead(s->rtp, index);
      queue(c.aead, ks);
      continue;
    }

    // ---------------- SRTCP (RFC 3711 §3.4; RFC 7714 §9) ----------------
    const uint32_t ssrc = load_be32(p + 4);
    Stream* s = stream_for(pkt, ssrc);
    if (s == nullptr) continue;
    KeySet& ks = *s->keys;
    const ProfileInfo& info = ks.info;
    const uint32_t mki_len = ks.policy.mki_len;
    const uint32_t trailer = 4 + mki_len + info.srtcp_tag_len;
    // AES-CM: header ‖ payload ‖ E‖index ‖ MKI ‖ tag; the tag covers
    // everything up to and including E‖index. AEAD (RFC 7714 §9, §17):
    // header ‖ ciphertext ‖ tag ‖ E‖index ‖ MKI.
    MasterSlot* m = nullptr;
    uint64_t index = 0;
    uint32_t word = 0, word_at = 0;  // E‖index, and where it is (open)
    if (sealing) {
      m = &ks.slots[ks.active];
      index = s->rtcp_next;
      if (!m->live) {
        st = Status::key_expired;
      } else if (pkt.tailroom() < trailer) {
        st = Status::buffer_too_small;
      } else if (index > 0x7fffffff) {
        st = Status::key_exhausted;  // RFC 3711 §3.4: the 31-bit index must not wrap
      }
      word = (ks.policy.srtcp_encrypt && info.encrypts ? 0x80000000u : 0u) |
             static_cast<uint32_t>(index);
    } else {
      if (len < 8 + trailer) {
        pkt.status = Status::truncated;
        continue;
      }
      word_at = info.aead ? len - mki_len - 4 : len - info.srtcp_tag_len - mki_len - 4;
      word = load_be32(p + word_at);
      index = word & 0x7fffffff;
      m = find_mki(ks, p + word_at + 4);
      if (m == nullptr) st = Status::unknown_epoch;
      if (st == Status::ok && (word >> 31) != 0 && !info.encrypts) st = Status::malformed;
      if (st == Status::ok && replay_check(pkt, s, m, index, st)) continue;
    }
    DerivedKeys* d = st == Status::ok ? keys_for(ks, ks.ages, m, nullptr, index, len, st) : nullptr;
    if (d == nullptr) {
      pkt.status = st;
      continue;
    }
    if (sealing) ++s->rtcp_next;
    const bool e = (word >> 31) != 0;
    Waiting& w = entry(info.aead);
    start(w, pkt, s, m, d, index);
    if (!info.aead) {
      w.h.ssrc = ssrc;  // the keystream's IV; SRTCP has no other header field here
      // The authenticated portion ends with E‖index; it is hashed as `word`.
      const uint32_t end = sealing ? len : word_at;
      w.out_len = sealing ? len + trailer : word_at;
      w.auth_len = end;
      w.enc_from = 8;
      w.tag_at = end + 4 + mki_len;
      w.tag_len = info.srtcp_tag_len;
      w.encrypts = e;
      store_be32(w.word, word);
      if (sealing) {
        store_be32(p + len, word);
        if (mki_len != 0) std::memcpy(p + len + 4, m->mki, mki_len);
      }
    } else {
      AeadJob& job = aead_job(d, ssrc, index);
      // Seal: the tag goes at `tag_at`, then E‖index and MKI follow it.
      const uint32_t tag_at = sealing ? len : word_at - 16;
      w.out_len = sealing ? len + trailer : tag_at;
      if (sealing) {
        store_be32(p + len + 16, word);
        if (mki_len != 0) std::memcpy(p + len + 20, m->mki, mki_len);
      }
      if (e) {
        // AAD = header (8 octets) ‖ E‖index, not contiguous on the wire.
        std::memcpy(w.scratch, p, 8);
        store_be32(w.scratch + 8, word);
        job.aad = {w.scratch, 12};
        job.data = {p + 8, tag_at - 8u};
        job.tag = p + tag_at;
      } else {
        // AAD = whole RTCP packet ‖ E‖index: the word goes right after the
        // packet for the operation and the tag to scratch (open: the tag
        // moves there); finish_aead() puts them back in wire order.
        if (!sealing) std::memcpy(w.scratch, p + tag_at, 16);
        store_be32(p + tag_at, word);
        w.e0 = true;
        w.e0_at = tag_at;
        job.aad = {p, tag_at + 4u};
        job.data = {p + tag_at, size_t{0}};
        job.tag = w.scratch;
      }
    }
    if (!sealing) note_ahead(s->rtcp, index);
    queue(info.aead, ks);
  }
  finish_chunk();
  return ok;
}

// The direction is the session's: a seal call on an open session (or the
// reverse) refuses every packet.
// A lone packet (bursts of 1) goes to the lean loop compiled for one packet
// first; one it leaves goes to the general loop, as from run()'s own lean
// loop (the same code and checks).
size_t Session::seal(std::span<PacketView> pkts) {
  if (pkts.size() == 1 && dir_ == Direction::seal) {
    size_t ok = 0;
    if (lean<true, true>(pkts, ok) == 1) return ok;
    return run<false, true>(pkts, false);
  }
  return run<false, true>(pkts);
}
size_t Session::open(std::span<PacketView> pkts) {
  if (pkts.size() == 1 && dir_ == Direction::open) {
    size_t ok = 0;
    if (lean<false, true>(pkts, ok) == 1) return ok;
    return run<false, false>(pkts, false);
  }
  return run<false, false>(pkts);
}
size_t Session::seal_rtcp(std::span<PacketView> pkts) { return run<true, true>(pkts); }
size_t Session::open_rtcp(std::span<PacketView> pkts) { return run<true, false>(pkts); }

// ---------------------------------------------------------------------------
// 5. Configuration

Session::Session(Direction dir, size_t max_streams, Clock clock) : dir_(dir), clock_(clock) {
  if (max_streams == 0) max_streams = 1;
  pool_.resize(max_streams);
  for (auto& s : pool_) s = std::make_unique<Stream>();
  free_.reserve(max_streams);
  for (size_t i = max_streams; i-- > 0;) free_.push_back(static_cast<uint32_t>(i));
  size_t cap = 8;
  while (cap < 2 * max_streams) cap *= 2;
  table_.assign(cap, -1);
  table_mask_ = static_cast<uint32_t>(cap - 1);
  burst_ = std::make_unique<Burst>();
}

Session::~Session() = default;

Status Session::make_keyset(const Policy& policy, std::span<const MasterKey> keys,
                            std::unique_ptr<KeySet>& out) {
  if (!valid_policy(policy)) return Status::invalid_argument;
  if (keys.empty() || keys.size() > kMaxMasterKeys) return Status::invalid_argument;
  auto ks = std::make_unique<KeySet>();
  ks->policy = policy;
  ks->info = profile_info(policy.profile);
  ks->ages = policy.srtp_limits.has_age_limit() || policy.srtcp_limits.has_age_limit();
  const uint64_t now = clock_.read();
  for (size_t i = 0; i < keys.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (policy.mki_len != 0 && keys[j].mki.size() == keys[i].mki.size() &&
          std::memcmp(keys[j].mki.data(), keys[i].mki.data(), keys[i].mki.size()) == 0) {
        return Status::invalid_argument;  // MKIs must tell keys apart
      }
    }
    if (policy.mki_len == 0 && i > 0) return Status::invalid_argument;
    const Status st = install_slot(*ks, ks->slots[i], keys[i], next_key_id_++, now);
    if (st != Status::ok) return st;
  }
  ks->active = 0;
  out = std::move(ks);
  return Status::ok;
}

Status Session::set_template(const Policy& policy, std::span<const MasterKey> keys) {
  std::unique_ptr<KeySet> ks;
  const Status st = make_keyset(policy, keys, ks);
  if (st != Status::ok) return st;
  if (template_) {
    for (auto& s : pool_) {
      if (s->in_use && s->keys == template_.get()) erase(s.get());
    }
  }
  template_ = std::move(ks);
  return Status::ok;
}

Status Session::add_stream(uint32_t ssrc, const Policy& policy,
                           std::span<const MasterKey> keys) {
  if (find(ssrc) != nullptr) return Status::invalid_argument;
  std::unique_ptr<KeySet> ks;
  const Status st = make_keyset(policy, keys, ks);
  if (st != Status::ok) return st;
  Stream* s = create(ssrc, ks.get(), false);
  if (s == nullptr) return Status::buffer_too_small;
  s->own = std::move(ks);
  return Status::ok;
}

Status Session::remove_stream(uint32_t ssrc) {
  Stream* s = find(ssrc);
  if (s == nullptr) return Status::unknown_epoch;
  erase(s);
  return Status::ok;
}

Session::KeySet* Session::keyset_for(std::optional<uint32_t> ssrc) const {
  if (!ssrc) return template_.get();
  Stream* s = find(*ssrc);
  return s != nullptr ? s->keys : nullptr;
}

Status Session::add_master_key(std::optional<uint32_t> ssrc, const MasterKey& key) {
  KeySet* ks = keyset_for(ssrc);
  if (ks == nullptr) return Status::unknown_epoch;
  if (ks->policy.mki_len == 0) return Status::invalid_argument;  // no way to tell keys apart
  if (key.mki.size() != ks->policy.mki_len) return Status::invalid_argument;
  MasterSlot* free_slot = nullptr;
  for (MasterSlot& m : ks->slots) {
    if (m.live && std::memcmp(m.mki, key.mki.data(), key.mki.size()) == 0) {
      return Status::invalid_argument;
    }
    if (!m.live && free_slot == nullptr) free_slot = &m;
  }
  if (free_slot == nullptr) return Status::buffer_too_small;
  return install_slot(*ks, *free_slot, key, next_key_id_++, clock_.read());
}

Status Session::select_master_key(std::optional<uint32_t> ssrc, std::span<const uint8_t> mki) {
  KeySet* ks = keyset_for(ssrc);
  if (ks == nullptr) return Status::unknown_epoch;
  if (mki.size() != ks->policy.mki_len) return Status::invalid_argument;
  for (size_t i = 0; i < kMaxMasterKeys; ++i) {
    const MasterSlot& m = ks->slots[i];
    if (m.live && std::memcmp(m.mki, mki.data(), mki.size()) == 0) {
      ks->active = static_cast<uint8_t>(i);
      return Status::ok;
    }
  }
  return Status::unknown_epoch;
}

Status Session::remove_master_key(std::optional<uint32_t> ssrc, std::span<const uint8_t> mki) {
  KeySet* ks = keyset_for(ssrc);
  if (ks == nullptr) return Status::unknown_epoch;
  if (mki.size() != ks->policy.mki_len) return Status::invalid_argument;
  for (MasterSlot& m : ks->slots) {
    if (m.live && std::memcmp(m.mki, mki.data(), mki.size()) == 0) {
      m.wipe();
      push_event(events_, m, false, dir_, KeyEvent::expired);
      push_event(events_, m, true, dir_, KeyEvent::expired);
      return Status::ok;
    }
  }
  return Status::unknown_epoch;
}

Status Session::set_roc(uint32_t ssrc, uint32_t roc) {
  Stream* s = find(ssrc);
  if (s == nullptr) {
    if (!template_) return Status::unknown_epoch;
    s = create(ssrc, template_.get(), false);
    if (s == nullptr) return Status::buffer_too_small;
  }
  if (!s->rtp.empty()) return Status::invalid_argument;  // only before the first packet
  s->initial_roc = roc;
  return Status::ok;
}

std::optional<StreamInfo> Session::stream_info(uint32_t ssrc) const {
  const Stream* s = find(ssrc);
  if (s == nullptr) return std::nullopt;
  StreamInfo i;
  i.ssrc = ssrc;
  i.any = !s->rtp.empty();
  i.highest_index = s->rtp.empty() ? uint64_t{s->initial_roc} << 16 : s->rtp.highest();
  i.roc = static_cast<uint32_t>(i.highest_index >> 16);
  i.rtcp_any = !s->rtcp.empty();
  i.rtcp_highest = static_cast<uint32_t>(s->rtcp.highest());
  i.rtcp_next = s->rtcp_next;
  i.packets = s->packets;
  i.rtcp_packets = s->rtcp_packets;
  return i;
}

const KeyCounters* Session::key_counters(std::optional<uint32_t> ssrc,
                                         std::span<const uint8_t> mki, bool rtcp) const {
  KeySet* ks = keyset_for(ssrc);
  if (ks == nullptr || mki.size() != ks->policy.mki_len) return nullptr;
  if (mki.empty()) return ks->slots[0].live ? &ks->slots[0].life[rtcp].c : nullptr;
  for (const MasterSlot& m : ks->slots) {
    if (m.live && std::memcmp(m.mki, mki.data(), mki.size()) == 0) return &m.life[rtcp].c;
  }
  return nullptr;
}

}  // namespace rl::srtp
