// SRTP / SRTCP, top to bottom:
//   1. RTP header parsing, index estimation, the AES-CM PRF
//   2. key sets (master keys, derived session keys, lifetimes)
//   3. the stream table
//   4. per-packet work: seal/open of SRTP and SRTCP, AES-CM+HMAC inline,
//      AEAD packets collected into one rl::seal / rl::open burst
//   5. configuration calls
#include "core/srtp.h"

#include <algorithm>
#include <cstring>

#include <openssl/mem.h>

#include "core/aead.h"
#include "core/bytes.h"

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

bool estimate_index(uint64_t highest, uint16_t seq, uint64_t& index) {
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

[[gnu::always_inline]] inline Status admit(EventQueue& q, MasterSlot& m, bool rtcp, Direction dir, uint64_t bytes,
             uint64_t now) {
  Lifetime& l = m.life[rtcp];
  const bool old = now >= l.installed_at && now - l.installed_at >= l.limits.hard_age_s;
  if (old) {
    if (!l.hard_sent) {
      l.hard_sent = true;
      push_event(q, m, rtcp, dir, KeyEvent::hard_limit);
    }
    return Status::key_expired;
  }
  if (l.c.auth_failures >= l.limits.max_auth_failures) return Status::key_exhausted;
  if (dir == Direction::seal) {
    if (l.c.sealed >= l.limits.hard_records || bytes > l.limits.hard_bytes - l.c.bytes_sealed) {
      if (!l.hard_sent) {
        l.hard_sent = true;
        push_event(q, m, rtcp, dir, KeyEvent::hard_limit);
      }
      return Status::key_exhausted;
    }
  }
  return Status::ok;
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
// Built as two 64-bit words: byte-wise stores read back as one vector stall
// store forwarding, which showed in burst profiles.
void cm_iv(const uint8_t salt[16], uint32_t ssrc, uint64_t index, uint8_t iv[16]) {
  uint64_t hi, lo;
  std::memcpy(&hi, salt, 8);
  std::memcpy(&lo, salt + 8, 8);
  hi = __builtin_bswap64(hi) ^ ssrc;
  lo = (__builtin_bswap64(lo) & ~uint64_t{0xffff}) ^ ((index & 0xffffffffffff) << 16);
  hi = __builtin_bswap64(hi);
  lo = __builtin_bswap64(lo);
  std::memcpy(iv, &hi, 8);
  std::memcpy(iv + 8, &lo, 8);
}

// AEAD IV (RFC 7714 §8.1 SRTP: 00 00 ‖ SSRC ‖ ROC ‖ SEQ; §9.1 SRTCP:
// 00 00 ‖ SSRC ‖ 00 00 ‖ 0 ‖ index), XOR the 12-byte session salt.
void gcm_iv(const uint8_t salt[16], uint32_t ssrc, uint64_t index, bool rtcp,
            uint8_t iv[kNonceLen]) {
  // Both layouts are bytes 2-5 SSRC, 6-11 a 48-bit big-endian number (ROC ‖
  // SEQ, or the 31-bit SRTCP index with zeros above it), so one 64-bit and
  // one 32-bit word do it.
  (void)rtcp;
  uint64_t hi;
  uint32_t lo;
  std::memcpy(&hi, salt, 8);
  std::memcpy(&lo, salt + 8, 4);
  hi ^= __builtin_bswap64(uint64_t{ssrc} << 16 | ((index >> 32) & 0xffff));
  lo ^= __builtin_bswap32(static_cast<uint32_t>(index));
  std::memcpy(iv, &hi, 8);
  std::memcpy(iv + 8, &lo, 4);
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

// One packet waiting for the AEAD burst.
struct Pending {
  PacketView* pkt = nullptr;
  Session::Stream* stream = nullptr;
  MasterSlot* slot = nullptr;
  uint64_t index = 0;
  uint32_t out_len = 0;
  uint32_t e0_at = 0;  // SRTCP E=0: where tag and index word belong
  RtpHeader h;
  uint8_t cc_swapped = 0;
  bool cryptex = false;
  bool e0 = false;
  uint8_t scratch[16] = {};  // SRTCP AAD (E=1) or tag (E=0)
};

// One AES-CM / NULL + HMAC-SHA1 SRTP packet waiting for the kernel bursts
// (keystream and tags of the whole chunk at once, core/srtp_kernels.h). Only
// with kdr 0: the session keys then cannot change under a waiting packet.
struct CmPending {
  PacketView* pkt = nullptr;
  Session::Stream* stream = nullptr;
  MasterSlot* slot = nullptr;
  DerivedKeys* d = nullptr;
  uint64_t index = 0;
  RtpHeader h;
  uint32_t auth_len = 0;  // header ‖ (cipher)text
  uint8_t mki_len = 0, tag_len = 0;
  bool cryptex = false, encrypts = false, good = false;
  uint8_t roc[4] = {};
};

}  // namespace

struct Session::Burst {
  static constexpr size_t kMax = 32;
  AeadJob jobs[kMax];
  Pending pend[kMax];
  size_t n = 0;
  Stream* provisional[kMax];
  size_t np = 0;
  CmPending cm[kMax];
  size_t nc = 0;
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

  bool scan_dup(const Stream* s, uint64_t index) const {
    for (size_t i = 0; i < n; ++i) {
      if (pend[i].stream == s && pend[i].index == index) return true;
    }
    for (size_t i = 0; i < nc; ++i) {
      if (cm[i].stream == s && cm[i].index == index) return true;
    }
    return false;
  }

  // The keystream job(s) of a waiting packet (RFC 3711 §4.1.1; with cryptex,
  // RFC 9335 §5.1: CSRCs, then the extension data and payload).
  size_t add_keystream(const CmPending& c, size_t at) {
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
      job(p + c.h.header_len, c.auth_len - c.h.header_len, 0);
    }
    return at;
  }
};

size_t Session::run(std::span<PacketView> pkts, bool rtcp) {
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
  const bool sealing = dir_ == Direction::seal;
  size_t ok = 0;
  Burst& b = *burst_;
  b.n = 0;
  b.np = 0;
  b.nc = 0;

  // Looks up or (for a template) creates the stream of `ssrc`. On open a new
  // stream is provisional until a packet authenticates on it.
  auto stream_for = [&](uint32_t ssrc, Status& st) -> Stream* {
    Stream* s = find(ssrc);
    if (s != nullptr) return s;
    if (!template_) {
      st = Status::unknown_epoch;
      return nullptr;
    }
    s = create(ssrc, template_.get(), !sealing);
    if (s == nullptr) {
      st = Status::unknown_epoch;  // stream table full
      return nullptr;
    }
    if (!sealing) b.provisional[b.np++] = s;
    return s;
  };

  auto finish_chunk = [&]() {
    if (b.nc != 0) {
      size_t nj = 0;
      // A lone packet runs keystream and tag stitched in one kernel: one
      // SHA-1 stream is latency bound and the AES work fits in its gaps.
      const CmPending& c0 = b.cm[0];
      const bool one = b.nc == 1 && c0.encrypts && !c0.cryptex &&
                       detail::cm_hmac_one_active(c0.d->cm) &&
                       (sealing || c0.auth_len - c0.h.header_len <= detail::kOneMaxPayload);
      for (size_t i = 0; i < (one ? 0 : b.nc); ++i) {
        CmPending& c = b.cm[i];
        b.tag_jobs[i] = detail::TagJob{&c.d->mac, c.pkt->data(), c.auth_len, c.roc, 4, b.tags[i]};
      }
      if (sealing && one) {
        uint8_t iv[16];
        cm_iv(c0.d->salt, c0.h.ssrc, c0.index, iv);
        detail::cm_seal_one(c0.d->cm, iv, c0.d->mac, c0.pkt->data(), c0.auth_len,
                            c0.h.header_len, c0.roc, b.tags[0]);
      } else if (sealing) {
        // Encrypt, then tag the ciphertext (RFC 3711 §3.3 steps 5-7).
        for (size_t i = 0; i < b.nc; ++i) {
          if (b.cm[i].encrypts) nj = b.add_keystream(b.cm[i], nj);
        }
        detail::cm_keystream_xor_burst({b.cm_jobs, nj});
        detail::hmac_sha1_tags({b.tag_jobs, b.nc});
      }
      if (sealing) {
        for (size_t i = 0; i < b.nc; ++i) {
          CmPending& c = b.cm[i];
          // Fixed-size copies: a variable-length one became `rep movs`.
          uint8_t* at = c.pkt->data() + c.auth_len + c.mki_len;
          if (c.tag_len == 10) {
            std::memcpy(at, b.tags[i], 10);
          } else {
            std::memcpy(at, b.tags[i], 4);
          }
        }
      } else {
        // Verify every tag first; decrypt only what authenticated, then commit.
        if (one) {
          CmPending& c = b.cm[0];
          uint8_t iv[16];
          cm_iv(c.d->salt, c.h.ssrc, c.index, iv);
          uint8_t* p = c.pkt->data();
          const size_t plen = c.auth_len - c.h.header_len;
          detail::cm_open_one(c.d->cm, iv, c.d->mac, p, c.auth_len, c.h.header_len, c.roc,
                              b.tags[0], b.ks);
          c.good = CRYPTO_memcmp(b.tags[0], p + c.auth_len + c.mki_len, c.tag_len) == 0;
          if (c.good) detail::xor_into(p + c.h.header_len, b.ks, plen);
          OPENSSL_cleanse(b.ks, (plen + 63) & ~size_t{63});
        } else {
          detail::hmac_sha1_tags({b.tag_jobs, b.nc});
          for (size_t i = 0; i < b.nc; ++i) {
            CmPending& c = b.cm[i];
            c.good =
                CRYPTO_memcmp(b.tags[i], c.pkt->data() + c.auth_len + c.mki_len, c.tag_len) == 0;
            if (c.good && c.encrypts) nj = b.add_keystream(c, nj);
          }
          detail::cm_keystream_xor_burst({b.cm_jobs, nj});
        }
        for (size_t i = 0; i < b.nc; ++i) {
          CmPending& c = b.cm[i];
          PacketView& pkt = *c.pkt;
          if (!c.good) {
            count_failure(events_, *c.slot, false);
            pkt.status = Status::auth_failed;
            continue;
          }
          uint8_t* p = pkt.data();
          KeySet& ks = *c.stream->keys;
          if (c.cryptex) {
            store_be16(p + c.h.ext_offset, c.h.ext_profile == 0xC0DE ? 0xBEDE : 0x1000);
          } else if (ks.policy.header_ext == HeaderExtCrypto::rfc6904) {
            rfc6904_xor(ks, *c.d, p, c.h, c.index);
          }
          c.stream->rtp.commit(c.index);
          c.stream->provisional = false;
          count(events_, *c.slot, false, Direction::open, c.auth_len, now(ks));
          ++c.stream->packets;
          pkt.length = c.auth_len;
          pkt.status = Status::ok;
          ++ok;
        }
      }
      // The computed tags, once for the whole chunk.
      OPENSSL_cleanse(b.tags, b.nc * sizeof b.tags[0]);
      b.nc = 0;
    }
    if (b.n != 0) {
      std::span<AeadJob> jobs{b.jobs, b.n};
      if (sealing) {
        rl::seal(jobs);
      } else {
        rl::open(jobs);
      }
      for (size_t i = 0; i < b.n; ++i) {
        Pending& pd = b.pend[i];
        PacketView& pkt = *pd.pkt;
        uint8_t* p = pkt.data();
        const Status st = b.jobs[i].status;
        if (pd.e0) {
          // SRTCP E=0 AEAD: put tag and index word back in wire order.
          const uint32_t word = load_be32(p + pd.e0_at);
          if (!sealing) {
            std::memcpy(p + pd.e0_at, pd.scratch, 16);
            store_be32(p + pd.e0_at + 16, word);
          } else if (st == Status::ok) {
            std::memcpy(p + pd.e0_at, pd.scratch, 16);
            store_be32(p + pd.e0_at + 16, word);
          }
        }
        if (pd.cc_swapped != 0) cryptex_swap_out(p, pd.cc_swapped);
        KeySet& ks = *pd.stream->keys;
        if (st != Status::ok) {
          pkt.status = st;
          if (!sealing) count_failure(events_, *pd.slot, rtcp);
          continue;
        }
        if (!sealing) {
          // Commit only now that the packet authenticated.
          (rtcp ? pd.stream->rtcp : pd.stream->rtp).commit(pd.index);
          pd.stream->provisional = false;
          if (!rtcp) {
            if (pd.cryptex) {
              store_be16(p + pd.h.ext_offset, pd.h.ext_profile == 0xC0DE ? 0xBEDE : 0x1000);
            } else if (ks.policy.header_ext == HeaderExtCrypto::rfc6904) {
              rfc6904_xor(ks, pd.slot->d[0], p, pd.h, pd.index);
            }
          }
          count(events_, *pd.slot, rtcp, Direction::open, pd.out_len, now(ks));
        }
        ++(rtcp ? pd.stream->rtcp_packets : pd.stream->packets);
        pkt.length = pd.out_len;
        pkt.status = Status::ok;
        ++ok;
      }
    }
    // Streams that a forged or failed packet created leave no trace.
    for (size_t i = 0; i < b.np; ++i) {
      if (b.provisional[i]->in_use && b.provisional[i]->provisional) erase(b.provisional[i]);
    }
    b.n = 0;
    b.np = 0;
  };

  for (PacketView& pkt : pkts) {
    if (b.n == Burst::kMax || b.np == Burst::kMax || b.nc == Burst::kMax) finish_chunk();
    Status st = Status::ok;
    if (!pkt.well_formed()) {
      pkt.status = Status::invalid_argument;
      continue;
    }
    uint8_t* p = pkt.data();
    const uint32_t len = pkt.length;
    // An AEAD packet's entry is built in its burst slot (b.n < kMax here),
    // not copied there: a local copy cost a `rep stos` and store-forwarding
    // stalls per packet. Only b.n++ makes it part of the burst; the AEAD
    // paths reset it where they start their job.
    Pending& pd = b.pend[b.n];

    if (!rtcp) {
      // ---------------- SRTP ----------------
      if (sealing) {
        RtpHeader h;
        st = parse_header(p, len, h);
        if (st == Status::ok && h.padding) {
          // RFC 3550 §5.1: the last octet counts the padding, itself included.
          const uint8_t pad = p[len - 1];
          if (len == h.header_len || pad == 0 || pad > len - h.header_len) st = Status::malformed;
        }
        Stream* s = st == Status::ok ? stream_for(h.ssrc, st) : nullptr;
        if (s == nullptr) {
          pkt.status = st;
          continue;
        }
        KeySet& ks = *s->keys;
        const ProfileInfo& info = ks.info;
        MasterSlot& m = ks.slots[ks.active];
        const bool cryptex = ks.policy.header_ext == HeaderExtCrypto::cryptex &&
                             (h.extension || h.cc != 0);
        const uint32_t grow = (cryptex && !h.extension ? 4u : 0u);
        const uint32_t trailer = ks.policy.mki_len + info.srtp_tag_len;
        uint64_t index = 0;
        if (!m.live) {
          st = Status::key_expired;
        } else if (pkt.tailroom() < trailer + grow) {
          st = Status::buffer_too_small;
        } else if (cryptex && h.extension && h.ext_profile != 0xBEDE && h.ext_profile != 0x1000) {
          st = Status::malformed;  // RFC 9335 §5: only RFC 8285 extension blocks
        } else if (s->rtp.empty()) {
          index = uint64_t{s->initial_roc} << 16 | h.seq;
        } else if (!estimate_index(s->rtp.highest(), h.seq, index)) {
          st = Status::key_exhausted;
        }
        // The sender never uses an index twice: that would repeat keystream.
        if (st == Status::ok) st = s->rtp.check(index);
        if (st == Status::ok) st = admit(events_, m, false, Direction::seal, len, now(ks));
        DerivedKeys* d = st == Status::ok ? keys_at(ks, m, false, index) : nullptr;
        if (st == Status::ok && d == nullptr) st = Status::key_expired;
        if (st != Status::ok) {
          pkt.status = st;
          continue;
        }
        s->rtp.commit(index);
        count(events_, m, false, Direction::seal, len, now(ks));
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
        } else if (ks.policy.header_ext == HeaderExtCrypto::rfc6904) {
          rfc6904_xor(ks, *d, p, h, index);
        }
        const uint8_t* mki = m.mki;
        if (!info.aead && ks.policy.kdr == 0) {
          // Keystream and tag run with the rest of the chunk (finish_chunk).
          CmPending& c = b.cm[b.nc++];
          c.good = false;  // every field is set here: `= CmPending{}` became `rep stos`
          c.pkt = &pkt;
          c.stream = s;
          c.slot = &m;
          c.d = d;
          c.index = index;
          c.h = h;
          c.auth_len = plen;
          c.mki_len = ks.policy.mki_len;
          c.tag_len = info.srtp_tag_len;
          c.cryptex = cryptex;
          c.encrypts = info.encrypts;
          store_be32(c.roc, static_cast<uint32_t>(index >> 16));
          std::memcpy(p + plen, mki, ks.policy.mki_len);
          pkt.length = plen + trailer;
          ++s->packets;
          pkt.status = Status::ok;
          ++ok;
          continue;
        }
        if (!info.aead) {
          if (info.encrypts) {
            uint8_t iv[16];
            cm_iv(d->salt, h.ssrc, index, iv);
            if (cryptex) {
              const uint32_t csrc = 4u * h.cc;
              detail::cm_keystream_xor(d->cm, iv, p + 12, csrc, 0);
              detail::cm_keystream_xor(d->cm, iv, p + h.ext_offset + 4, plen - h.ext_offset - 4,
                                       csrc);
            } else {
              detail::cm_keystream_xor(d->cm, iv, p + h.header_len, plen - h.header_len);
            }
          }
          std::memcpy(p + plen, mki, ks.policy.mki_len);
          // RFC 3711 §4.2: tag over the authenticated portion ‖ ROC.
          uint8_t roc[4];
          store_be32(roc, static_cast<uint32_t>(index >> 16));
          uint8_t tag[20];
          detail::hmac_sha1_tag(d->mac, {p, plen}, {roc, 4}, tag);
          std::memcpy(p + plen + ks.policy.mki_len, tag, info.srtp_tag_len);
          OPENSSL_cleanse(tag, sizeof tag);
          pkt.length = plen + trailer;
          ++s->packets;
          pkt.status = Status::ok;
          ++ok;
          continue;
        }
        // AEAD (RFC 7714 §8): AAD = header, tag after the ciphertext, then MKI.
        AeadJob& job = b.jobs[b.n];
        pd.pkt = &pkt;
        pd.cc_swapped = 0;
        pd.cryptex = false;
        pd.e0 = false;
        job.status = Status::ok;
        job.key = &d->aead;
        gcm_iv(d->salt, h.ssrc, index, false, job.nonce);
        uint32_t aad_len = h.header_len;
        if (cryptex) {
          cryptex_swap_in(p, h.cc);
          pd.cc_swapped = h.cc;
          aad_len = 16;
        }
        job.aad = {p, aad_len};
        job.data = {p + aad_len, plen - aad_len};
        job.tag = p + plen;
        std::memcpy(p + plen + 16, mki, ks.policy.mki_len);
        pd.stream = s;
        pd.slot = &m;
        pd.index = index;
        pd.out_len = plen + trailer;
        ++b.n;
        continue;
      }

      // open SRTP
      if (len < 12) {
        pkt.status = Status::truncated;
        continue;
      }
      // The SSRC is in the fixed header; the key set tells the trailer size.
      if ((p[0] >> 6) != 2) {
        pkt.status = Status::malformed;
        continue;
      }
      Stream* s = stream_for(load_be32(p + 8), st);
      if (s == nullptr && free_.empty() && b.np != 0) {
        // The table is full of streams that packets of this burst created and
        // may yet fail: finish the burst (which drops those) and retake this
        // packet, so forged packets cannot crowd out a genuine new stream.
        finish_chunk();
        ok += run({&pkt, 1}, false);
        continue;
      }
      if (s == nullptr) {
        pkt.status = st;
        continue;
      }
      KeySet& ks = *s->keys;
      const ProfileInfo& info = ks.info;
      const uint32_t mki_len = ks.policy.mki_len;
      const uint32_t trailer = mki_len + info.srtp_tag_len;
      if (len < 12 + trailer) {
        pkt.status = Status::truncated;
        continue;
      }
      const uint32_t auth_len = len - trailer;  // header ‖ ciphertext
      RtpHeader h;
      st = parse_header(p, auth_len, h);
      MasterSlot* m = nullptr;
      if (st == Status::ok) {
        // MKI sits after the ciphertext (AES-CM, RFC 3711 §3.1) or after the
        // AEAD tag (RFC 7714 §8).
        m = find_mki(ks, p + (info.aead ? len - mki_len : auth_len));
        if (m == nullptr) st = Status::unknown_epoch;
      }
      uint64_t index = 0;
      if (st == Status::ok) {
        if (s->rtp.empty()) {
          index = uint64_t{s->initial_roc} << 16 | h.seq;
        } else if (!estimate_index(s->rtp.highest(), h.seq, index)) {
          st = Status::too_old;
        }
      }
      if (st == Status::ok) {
        st = s->rtp.check(index);
        if (st == Status::ok && b.pending_dup(s, index)) {
          // Same index as a packet still waiting in this burst: finish the burst
          // first, then take this one again on its own, so that a forged copy
          // ahead of the genuine packet cannot get the genuine one refused.
          finish_chunk();
          ok += run({&pkt, 1}, false);
          continue;
        }
        if (st == Status::replayed) ++m->life[0].c.replays;
      }
      if (st == Status::ok) st = admit(events_, *m, false, Direction::open, 0, now(ks));
      DerivedKeys* d = st == Status::ok ? keys_at(ks, *m, false, index) : nullptr;
      if (st == Status::ok && d == nullptr) st = Status::key_expired;
      if (st != Status::ok) {
        pkt.status = st;
        continue;
      }
      const bool cryptex = ks.policy.header_ext == HeaderExtCrypto::cryptex && h.extension &&
                           is_cryptex_profile(h.ext_profile);
      if (!info.aead && ks.policy.kdr == 0) {
        // Tag check, keystream and commit run with the rest of the chunk.
        CmPending& c = b.cm[b.nc++];
        c.good = false;  // every field is set here: `= CmPending{}` became `rep stos`
        c.pkt = &pkt;
        c.stream = s;
        c.slot = m;
        c.d = d;
        c.index = index;
        c.h = h;
        c.auth_len = auth_len;
        c.mki_len = static_cast<uint8_t>(mki_len);
        c.tag_len = info.srtp_tag_len;
        c.cryptex = cryptex;
        c.encrypts = info.encrypts;
        store_be32(c.roc, static_cast<uint32_t>(index >> 16));
        continue;
      }
      if (!info.aead) {
        uint8_t roc[4];
        store_be32(roc, static_cast<uint32_t>(index >> 16));
        uint8_t tag[20];
        detail::hmac_sha1_tag(d->mac, {p, auth_len}, {roc, 4}, tag);
        const bool good = CRYPTO_memcmp(tag, p + auth_len + mki_len, info.srtp_tag_len) == 0;
        OPENSSL_cleanse(tag, sizeof tag);
        if (!good) {
          count_failure(events_, *m, false);
          pkt.status = Status::auth_failed;
          continue;
        }
        if (info.encrypts) {
          uint8_t iv[16];
          cm_iv(d->salt, h.ssrc, index, iv);
          if (cryptex) {
            const uint32_t csrc = 4u * h.cc;
            detail::cm_keystream_xor(d->cm, iv, p + 12, csrc, 0);
            detail::cm_keystream_xor(d->cm, iv, p + h.ext_offset + 4,
                                     auth_len - h.ext_offset - 4, csrc);
          } else {
            detail::cm_keystream_xor(d->cm, iv, p + h.header_len, auth_len - h.header_len);
          }
        }
        if (cryptex) {
          store_be16(p + h.ext_offset, h.ext_profile == 0xC0DE ? 0xBEDE : 0x1000);
        } else if (ks.policy.header_ext == HeaderExtCrypto::rfc6904) {
          rfc6904_xor(ks, *d, p, h, index);
        }
        s->rtp.commit(index);
        s->provisional = false;
        count(events_, *m, false, Direction::open, auth_len, now(ks));
        ++s->packets;
        pkt.length = auth_len;
        pkt.status = Status::ok;
        ++ok;
        continue;
      }
      // AEAD open: tag is the last 16 bytes before the MKI.
      const uint32_t ct_end = len - mki_len - 16;
      if (ct_end < h.header_len) {
        pkt.status = Status::truncated;
        continue;
      }
      AeadJob& job = b.jobs[b.n];
      pd.pkt = &pkt;
      pd.cc_swapped = 0;
      pd.cryptex = false;
      pd.e0 = false;
      job.status = Status::ok;
      job.key = &d->aead;
      gcm_iv(d->salt, h.ssrc, index, false, job.nonce);
      uint32_t aad_len = h.header_len;
      if (cryptex) {
        cryptex_swap_in(p, h.cc);
        pd.cc_swapped = h.cc;
        aad_len = 16;
      }
      job.aad = {p, aad_len};
      job.data = {p + aad_len, ct_end - aad_len};
      job.tag = p + ct_end;
      pd.stream = s;
      pd.slot = m;
      pd.index = index;
      pd.out_len = ct_end;
      pd.h = h;
      pd.cryptex = cryptex;
      ++b.n;
      continue;
    }

    // ---------------- SRTCP ----------------
    if (len < 8) {
      pkt.status = Status::truncated;
      continue;
    }
    if ((p[0] >> 6) != 2) {
      pkt.status = Status::malformed;
      continue;
    }
    const uint32_t ssrc = load_be32(p + 4);
    if (sealing) {
      Stream* s = stream_for(ssrc, st);
      if (s == nullptr) {
        pkt.status = st;
        continue;
      }
      KeySet& ks = *s->keys;
      const ProfileInfo& info = ks.info;
      MasterSlot& m = ks.slots[ks.active];
      const uint32_t mki_len = ks.policy.mki_len;
      const uint32_t trailer = 4 + mki_len + info.srtcp_tag_len;
      const uint64_t index = s->rtcp_next;
      if (!m.live) {
        st = Status::key_expired;
      } else if (pkt.tailroom() < trailer) {
        st = Status::buffer_too_small;
      } else if (index > 0x7fffffff) {
        st = Status::key_exhausted;  // RFC 3711 §3.4: the 31-bit index must not wrap
      }
      if (st == Status::ok) st = admit(events_, m, true, Direction::seal, len, now(ks));
      DerivedKeys* d = st == Status::ok ? keys_at(ks, m, true, index) : nullptr;
      if (st == Status::ok && d == nullptr) st = Status::key_expired;
      if (st != Status::ok) {
        pkt.status = st;
        continue;
      }
      ++s->rtcp_next;
      count(events_, m, true, Direction::seal, len, now(ks));
      const bool e = ks.policy.srtcp_encrypt && info.encrypts;
      const uint32_t word = (e ? 0x80000000u : 0u) | static_cast<uint32_t>(index);
      if (!info.aead) {
        // RFC 3711 §3.4: header ‖ payload ‖ E‖index ‖ MKI ‖ tag; the tag
        // covers everything up to and including E‖index.
        if (e) {
          uint8_t iv[16];
          cm_iv(d->salt, ssrc, index, iv);
          detail::cm_keystream_xor(d->cm, iv, p + 8, len - 8);
        }
        store_be32(p + len, word);
        std::memcpy(p + len + 4, m.mki, mki_len);
        uint8_t tag[20];
        detail::hmac_sha1_tag(d->mac, {p, len + 4u}, {}, tag);
        std::memcpy(p + len + 4 + mki_len, tag, info.srtcp_tag_len);
        OPENSSL_cleanse(tag, sizeof tag);
        pkt.length = len + trailer;
        ++s->rtcp_packets;
        pkt.status = Status::ok;
        ++ok;
        continue;
      }
      // AEAD (RFC 7714 §9, §17): header ‖ ciphertext ‖ tag ‖ E‖index ‖ MKI.
      AeadJob& job = b.jobs[b.n];
      pd.pkt = &pkt;
      pd.cc_swapped = 0;
      pd.cryptex = false;
      pd.e0 = false;
      job.status = Status::ok;
      job.key = &d->aead;
      gcm_iv(d->salt, ssrc, index, true, job.nonce);
      store_be32(p + len + 16, word);
      std::memcpy(p + len + 20, m.mki, mki_len);
      if (e) {
        // AAD = header (8 octets) ‖ E‖index, not contiguous on the wire.
        std::memcpy(pd.scratch, p, 8);
        store_be32(pd.scratch + 8, word);
        job.aad = {pd.scratch, 12};
        job.data = {p + 8, len - 8u};
        job.tag = p + len;
      } else {
        // AAD = whole RTCP packet ‖ E‖index: put the word right after the
        // packet for the operation, the tag goes to scratch.
        store_be32(p + len, word);
        job.aad = {p, len + 4u};
        job.data = {p + len, size_t{0}};
        job.tag = pd.scratch;
        pd.e0 = true;
        pd.e0_at = len;
      }
      pd.stream = s;
      pd.slot = &m;
      pd.index = index;
      pd.out_len = len + trailer;
      ++b.n;
      continue;
    }

    // open SRTCP
    Stream* s = stream_for(ssrc, st);
    if (s == nullptr && free_.empty() && b.np != 0) {
      finish_chunk();  // as for SRTP above
      ok += run({&pkt, 1}, true);
      continue;
    }
    if (s == nullptr) {
      pkt.status = st;
      continue;
    }
    KeySet& ks = *s->keys;
    const ProfileInfo& info = ks.info;
    const uint32_t mki_len = ks.policy.mki_len;
    const uint32_t trailer = 4 + mki_len + info.srtcp_tag_len;
    if (len < 8 + trailer) {
      pkt.status = Status::truncated;
      continue;
    }
    // AES-CM: ... ‖ E‖index ‖ MKI ‖ tag. AEAD: ... ‖ tag ‖ E‖index ‖ MKI.
    const uint32_t word_at = info.aead ? len - mki_len - 4 : len - info.srtcp_tag_len - mki_len - 4;
    const uint32_t word = load_be32(p + word_at);
    const bool e = (word >> 31) != 0;
    const uint64_t index = word & 0x7fffffff;
    MasterSlot* m = find_mki(ks, p + word_at + 4);
    if (m == nullptr) st = Status::unknown_epoch;
    if (st == Status::ok && e && !info.encrypts) st = Status::malformed;
    if (st == Status::ok) {
      st = s->rtcp.check(index);
      if (st == Status::ok && b.pending_dup(s, index)) {
        // Same index as a packet still waiting in this burst: finish the burst
        // first, then take this one again on its own, so that a forged copy
        // ahead of the genuine packet cannot get the genuine one refused.
        finish_chunk();
        ok += run({&pkt, 1}, true);
        continue;
      }
      if (st == Status::replayed) ++m->life[1].c.replays;
    }
    if (st == Status::ok) st = admit(events_, *m, true, Direction::open, 0, now(ks));
    DerivedKeys* d = st == Status::ok ? keys_at(ks, *m, true, index) : nullptr;
    if (st == Status::ok && d == nullptr) st = Status::key_expired;
    if (st != Status::ok) {
      pkt.status = st;
      continue;
    }
    if (!info.aead) {
      uint8_t tag[20];
      detail::hmac_sha1_tag(d->mac, {p, word_at + 4u}, {}, tag);
      const bool good = CRYPTO_memcmp(tag, p + word_at + 4 + mki_len, info.srtcp_tag_len) == 0;
      OPENSSL_cleanse(tag, sizeof tag);
      if (!good) {
        count_failure(events_, *m, true);
        pkt.status = Status::auth_failed;
        continue;
      }
      if (e) {
        uint8_t iv[16];
        cm_iv(d->salt, ssrc, index, iv);
        detail::cm_keystream_xor(d->cm, iv, p + 8, word_at - 8);
      }
      s->rtcp.commit(index);
      s->provisional = false;
      count(events_, *m, true, Direction::open, word_at, now(ks));
      ++s->rtcp_packets;
      pkt.length = word_at;
      pkt.status = Status::ok;
      ++ok;
      continue;
    }
    const uint32_t tag_at = word_at - 16;
    AeadJob& job = b.jobs[b.n];
    pd.pkt = &pkt;
    pd.cc_swapped = 0;
    pd.cryptex = false;
    pd.e0 = false;
    job.status = Status::ok;
    job.key = &d->aead;
    gcm_iv(d->salt, ssrc, index, true, job.nonce);
    pd.stream = s;
    pd.slot = m;
    pd.index = index;
    pd.out_len = tag_at;
    if (e) {
      std::memcpy(pd.scratch, p, 8);
      store_be32(pd.scratch + 8, word);
      job.aad = {pd.scratch, 12};
      job.data = {p + 8, tag_at - 8u};
      job.tag = p + tag_at;
    } else {
      // Swap tag and index word so that the AAD (packet ‖ E‖index) is
      // contiguous; finish_chunk() swaps them back.
      std::memcpy(pd.scratch, p + tag_at, 16);
      store_be32(p + tag_at, word);
      pd.e0 = true;
      pd.e0_at = tag_at;
      job.aad = {p, tag_at + 4u};
      job.data = {p + tag_at, size_t{0}};
      job.tag = pd.scratch;
    }
    ++b.n;
  }
  finish_chunk();
  return ok;
}

size_t Session::seal(std::span<PacketView> pkts) {
  if (dir_ != Direction::seal) {
    for (PacketView& p : pkts) p.status = Status::invalid_argument;
    return 0;
  }
  return run(pkts, false);
}
size_t Session::open(std::span<PacketView> pkts) {
  if (dir_ != Direction::open) {
    for (PacketView& p : pkts) p.status = Status::invalid_argument;
    return 0;
  }
  return run(pkts, false);
}
size_t Session::seal_rtcp(std::span<PacketView> pkts) {
  if (dir_ != Direction::seal) {
    for (PacketView& p : pkts) p.status = Status::invalid_argument;
    return 0;
  }
  return run(pkts, true);
}
size_t Session::open_rtcp(std::span<PacketView> pkts) {
  if (dir_ != Direction::open) {
    for (PacketView& p : pkts) p.status = Status::invalid_argument;
    return 0;
  }
  return run(pkts, true);
}

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
