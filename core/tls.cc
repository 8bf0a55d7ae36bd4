// TLS 1.3 and TLS 1.2 AEAD record protection. Read top to bottom:
//   1. keys: install, pre-derivation of the next TLS 1.3 generation, update
//   2. seal: TLSInnerPlaintext / explicit nonce, header, nonce, AAD -> jobs
//   3. open: parse, jobs, then commit in order (two-phase)
#include "core/tls.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <new>
#include <type_traits>

#include <openssl/mem.h>

#include "core/aead.h"
#include "core/bytes.h"
#include "core/hkdf.h"
#include "core/job_fill.h"
#include "core/scratch.h"

namespace rl::tls {
namespace {

// Records per AEAD burst: jobs and AADs live on the stack.
constexpr size_t kChunk = 64;
constexpr size_t kTagLen = 16;  // every suite here uses the full 16-byte tag
constexpr size_t kAad12Len = 13;
constexpr uint64_t kLastSeq = std::numeric_limits<uint64_t>::max();

bool is_gcm(Suite s) { return s != Suite::chacha20_poly1305; }

bool protected_type(uint8_t t) { return t == alert || t == handshake || t == application_data; }

// Whether an alert ends the connection in that direction. TLS 1.3 (RFC 8446
// §6): every alert but close_notify and user_canceled is an error alert, and
// close_notify closes. TLS 1.2 (RFC 5246 §7.2): close_notify and fatal-level.
bool alert_closes(Version v, uint8_t level, uint8_t desc) {
  if (desc == close_notify) return true;
  if (v == Version::tls13) return desc != user_canceled;
  return level == fatal;
}

// TLS 1.2 AAD (RFC 5246 §6.2.3.3): seq_num ‖ type ‖ version ‖ length, where
// length is the plaintext length (recjob::aad13). TLS 1.2 AES-GCM nonce (RFC
// 5288 §3): 4-byte salt from the key block ‖ the 8-byte explicit nonce
// carried in the record.

void restore(AeadJob& j) {
  // An open that authenticated decrypted in place; sealing again with the same
  // key, nonce and AAD gives back the exact ciphertext and tag (the record
  // then reads as it arrived).
  rl::seal(std::span<AeadJob>(&j, 1));
}

}  // namespace

// ---- 1. keys ----------------------------------------------------------------

void RecordProtection::Side::wipe() {
  key.expire();
  OPENSSL_cleanse(iv, sizeof iv);
  OPENSSL_cleanse(secret, sizeof secret);
  OPENSSL_cleanse(next_secret, sizeof next_secret);
  OPENSSL_cleanse(next_key, sizeof next_key);
  OPENSSL_cleanse(next_iv, sizeof next_iv);
}

RecordProtection::RecordProtection(const Config& cfg) : cfg_(cfg) {}

RecordProtection::~RecordProtection() {
  seal_.wipe();
  open_.wipe();
}

// RFC 8446 §7.2: application_traffic_secret_N+1 =
//   HKDF-Expand-Label(application_traffic_secret_N, "traffic upd", "", Hash.length)
// and §7.3: key = HKDF-Expand-Label(secret, "key", "", key_length),
//           iv  = HKDF-Expand-Label(secret, "iv", "", iv_length).
Status RecordProtection::derive_next(Side& s) {
  const Hash h = suite_info(s.suite).hash;
  const std::span<const uint8_t> cur{s.secret, s.secret_len};
  Status st = hkdf_expand_label(h, cur, "traffic upd", {}, {s.next_secret, s.secret_len});
  if (st != Status::ok) return st;
  const std::span<const uint8_t> next{s.next_secret, s.secret_len};
  st = hkdf_expand_label(h, next, "key", {}, {s.next_key, suite_info(s.suite).key_len});
  if (st != Status::ok) return st;
  return hkdf_expand_label(h, next, "iv", {}, {s.next_iv, kNonceLen});
}

Status RecordProtection::install(Direction dir, Suite suite, std::span<const uint8_t> secret,
                                 const Limits* limits, uint64_t initial_seq) {
  if (cfg_.version != Version::tls13) return Status::invalid_argument;
  const SuiteInfo si = suite_info(suite);
  if (si.key_len == 0 || secret.size() != hash_len(si.hash)) return Status::invalid_argument;
  uint8_t key[kMaxKeyLen], iv[kNonceLen];
  Status st = hkdf_expand_label(si.hash, secret, "key", {}, {key, si.key_len});
  if (st == Status::ok) st = hkdf_expand_label(si.hash, secret, "iv", {}, {iv, kNonceLen});
  Side& s = side(dir);
  const Limits l = limits != nullptr ? *limits : default_limits(Protocol::tls13, suite);
  if (st == Status::ok)
    st = s.key.install(0, dir, suite, {key, si.key_len}, l, cfg_.clock.read(), &events_);
  OPENSSL_cleanse(key, sizeof key);
  if (st != Status::ok) {
    OPENSSL_cleanse(iv, sizeof iv);
    return st;
  }
  std::memcpy(s.iv, iv, kNonceLen);
  OPENSSL_cleanse(iv, sizeof iv);
  std::memcpy(s.secret, secret.data(), secret.size());
  s.secret_len = static_cast<uint8_t>(secret.size());
  s.suite = suite;
  s.limits = l;
  s.seq = initial_seq;
  s.seq_exhausted = false;
  s.generation = 0;
  s.installed = true;
  return derive_next(s);
}

Status RecordProtection::install_tls12(Direction dir, Suite suite, std::span<const uint8_t> key,
                                       std::span<const uint8_t> iv, const Limits* limits,
                                       uint64_t initial_seq) {
  if (cfg_.version != Version::tls12) return Status::invalid_argument;
  const SuiteInfo si = suite_info(suite);
  // RFC 5288 §3: fixed_iv_length 4 (the salt); RFC 7905 §2: 12.
  const size_t iv_len = is_gcm(suite) ? 4 : kNonceLen;
  if (si.key_len == 0 || key.size() != si.key_len || iv.size() != iv_len)
    return Status::invalid_argument;
  Side& s = side(dir);
  const Limits l = limits != nullptr ? *limits : default_limits(Protocol::tls12, suite);
  const Status st = s.key.install(0, dir, suite, key, l, cfg_.clock.read(), &events_);
  if (st != Status::ok) return st;
  OPENSSL_cleanse(s.iv, sizeof s.iv);
  std::memcpy(s.iv, iv.data(), iv.size());
  s.suite = suite;
  s.limits = l;
  s.seq = initial_seq;
  s.seq_exhausted = false;
  s.generation = 0;
  s.installed = true;
  return Status::ok;
}

Status RecordProtection::update(Direction dir) {
  Side& s = side(dir);
  if (cfg_.version != Version::tls13 || !s.installed) return Status::invalid_argument;
  if (!s.key.live()) return Status::key_expired;
  const size_t key_len = suite_info(s.suite).key_len;
  s.key.expire();  // the old generation is wiped now (and reported as expired)
  const Status st = s.key.install(s.generation + 1, dir, s.suite, {s.next_key, key_len}, s.limits,
                                  cfg_.clock.read(), &events_);
  if (st != Status::ok) return st;
  std::memcpy(s.iv, s.next_iv, kNonceLen);
  std::memcpy(s.secret, s.next_secret, s.secret_len);
  ++s.generation;
  s.seq = 0;  // RFC 8446 §5.3: the sequence number restarts with each key
  s.seq_exhausted = false;
  return derive_next(s);
}

Status RecordProtection::expire(Direction dir) {
  Side& s = side(dir);
  if (!s.installed) return Status::invalid_argument;
  s.wipe();
  return Status::ok;
}

// The clock is read on the data path only when the key has an age limit
// (a vDSO call per burst is a measurable share of a small record). Without
// one, 0 is passed: KeyEpoch only compares ages, and "now" before the install
// time never counts as old.
uint64_t RecordProtection::now_for(const Side& s) const {
  if (s.limits.soft_age_s == kUnlimited && s.limits.hard_age_s == kUnlimited) return 0;
  return cfg_.clock.read();
}

Status RecordProtection::set_padding(Padding p) {
  if (p.kind == Padding::multiple && p.n == 0) return Status::invalid_argument;
  padding_ = p;
  return Status::ok;
}

size_t RecordProtection::header_size() const {
  if (cfg_.version == Version::tls12 && is_gcm(seal_.suite)) return kHeaderLen + kExplicitNonceLen;
  return kHeaderLen;
}

// RFC 8446 §5.4: the inner plaintext is content ‖ type ‖ zeros, and its full
// encoding must not exceed 2^14 + 1 bytes whatever the padding.
size_t RecordProtection::padded_inner(size_t content_len) const {
  size_t inner = content_len + 1;
  switch (padding_.kind) {
    case Padding::none: break;
    case Padding::multiple:
      if (padding_.n > 1) inner = (inner + padding_.n - 1) / padding_.n * padding_.n;
      break;
    case Padding::full: inner = kMaxInner13; break;
  }
  return std::min(inner, std::max(kMaxInner13, content_len + 1));
}

size_t RecordProtection::sealed_size(size_t content_len) const {
  const size_t body = cfg_.version == Version::tls13 ? padded_inner(content_len) : content_len;
  return header_size() + body + kTagLen;
}

// ---- 2. seal ------------------------------------------------------------------

namespace {

// seal_one's record: application data without padding (TLS 1.3) or any TLS
// 1.2 application data, the same test and composition as the `simple` loop
// of seal_chunk (kept there as its own copy: sharing these made the burst
// loop 7-9 instructions a record dearer). Held to each other by the tests
// that seal one record at a time and in bursts (tls13_test, tls12_test:
// SealOneAtATimeEqualsBursts).
template <bool V13, bool GCM>
[[gnu::always_inline]] inline bool simple_record(const Record& r) {
  constexpr uint32_t H = GCM ? kHeaderLen + kExplicitNonceLen : kHeaderLen;
  constexpr uint32_t grow = (V13 ? 1 : 0) + kTagLen;  // tailroom needed
  const uint32_t cap = r.capacity, off = r.offset, len = r.length;
  return r.buf != nullptr && r.type == application_data && off >= H && off <= cap &&
         cap - off >= len && len <= kMaxPlaintext && cap - off - len >= grow;
}

// Builds the job of a simple record with sequence number `seq` (header in
// the headroom, AAD in `aad`); returns its inner length.
template <bool V13, bool GCM>
[[gnu::always_inline]] inline uint32_t seal_simple(Record& r, uint8_t* body, uint32_t len, const AeadKey* key,
                                                   recjob::Block16 iv, uint64_t seq, AeadJob* job,
                                                   uint8_t* aad) {
  constexpr uint32_t H = GCM ? kHeaderLen + kExplicitNonceLen : kHeaderLen;
  uint8_t* const hdr = body - H;
  const uint32_t inner = V13 ? len + 1 : len;
  if constexpr (V13) body[len] = application_data;
  const uint16_t wire_len = static_cast<uint16_t>(H - kHeaderLen + inner + kTagLen);
  const uint32_t h4 = uint32_t{application_data} | uint32_t{0x0303} << 8 |
                      uint32_t{static_cast<uint8_t>(wire_len >> 8)} << 24;
  std::memcpy(hdr, &h4, 4);
  hdr[4] = static_cast<uint8_t>(wire_len);
  if constexpr (GCM) store_be64(hdr + kHeaderLen, seq);  // explicit nonce
  if constexpr (V13) {
    recjob::store16(aad, {uint64_t{h4} | uint64_t{static_cast<uint8_t>(wire_len)} << 32, 0});
  } else {
    recjob::store16(aad, recjob::aad13(seq, application_data, kLegacyVersion,
                                       static_cast<uint16_t>(len)));
  }
  recjob::make(job, key, recjob::xor_seq(iv, seq), {aad, V13 ? kHeaderLen : kAad12Len},
               {body, inner}, body + inner);
  r.seq = seq;
  return inner;
}

}  // namespace

// A burst of one record: seal_chunk's simple path without the chunk's
// arrays and loops; anything else goes to seal_chunk before anything is
// asked or changed. The key is asked once, admit_seal(1, inner): what
// seal_chunk's general mode asks for one record, and (no age limit, so the
// key is quiet whenever it is live) what its fast mode's two questions,
// admit_seal(0, 0) then admit_seal(1, inner), come to.
size_t RecordProtection::seal_one(Record& r) {
  Side& s = seal_;
  const bool v13 = cfg_.version == Version::tls13;
  if (!s.installed || s.closed || s.seq_exhausted || s.seq == kLastSeq ||
      (v13 && padding_.kind != Padding::none) || s.limits.has_age_limit())
    return seal_chunk({&r, 1});
  const bool gcm12 = !v13 && is_gcm(s.suite);
  if (v13 ? !simple_record<true, false>(r)
          : gcm12 ? !simple_record<false, true>(r) : !simple_record<false, false>(r))
    return seal_chunk({&r, 1});
  const uint32_t inner = v13 ? r.length + 1 : r.length;
  if (const Status st = s.key.admit_seal(1, inner, 0); st != Status::ok) {
    r.status = st;  // no sequence number used
    return 0;
  }
  Scratch<AeadJob, 1> jobs;  // constructed by seal_simple
  alignas(16) uint8_t aad[16];
  const AeadKey* key = &s.key.aead();
  const recjob::Block16 iv = recjob::load_iv(s.iv);
  const uint64_t seq = s.seq;
  if (v13) seal_simple<true, false>(r, r.buf + r.offset, r.length, key, iv, seq, &jobs[0], aad);
  else if (gcm12) seal_simple<false, true>(r, r.buf + r.offset, r.length, key, iv, seq, &jobs[0], aad);
  else seal_simple<false, false>(r, r.buf + r.offset, r.length, key, iv, seq, &jobs[0], aad);
  s.seq = seq + 1;
  rl::seal(jobs.first(1));
  r.status = jobs[0].status;
  if (r.status != Status::ok) return 0;
  const uint32_t head = gcm12 ? kHeaderLen + kExplicitNonceLen : kHeaderLen;
  r.offset -= head;
  r.length = static_cast<uint32_t>(head + inner + kTagLen);
  return 1;
}

size_t RecordProtection::seal(std::span<Record> records) {
  if (records.size() == 1) return seal_one(records[0]);
  size_t ok = 0;
  for (size_t i = 0; i < records.size(); i += kChunk)
    ok += seal_chunk(records.subspan(i, std::min(kChunk, records.size() - i)));
  return ok;
}

size_t RecordProtection::seal_chunk(std::span<Record> records) {
  Side& s = seal_;
  if (!s.installed || s.closed) {
    const Status st = s.installed ? Status::closed : Status::unknown_epoch;
    for (Record& r : records) r.status = st;
    return 0;
  }
  Scratch<AeadJob, kChunk> jobs;
  alignas(16) uint8_t aads[kChunk][16];
  Record* owner[kChunk];
  size_t n = 0;
  const bool v13 = cfg_.version == Version::tls13;
  const bool gcm12 = !v13 && is_gcm(s.suite);
  const uint32_t head = static_cast<uint32_t>(gcm12 ? kHeaderLen + kExplicitNonceLen : kHeaderLen);
  const bool pad_none = padding_.kind == Padding::none;
  const uint64_t now = now_for(s);
  const AeadKey* key = &s.key.aead();
  const recjob::Block16 iv = recjob::load_iv(s.iv);
  // Fast mode: the whole chunk fits under every limit and far from the end of
  // the sequence space, so limits are checked once (lazily, at the first
  // record that gets that far) and counted once after the loop.
  const bool fast = kLastSeq - s.seq > records.size() && !s.seq_exhausted &&
                    recjob::far_from_limits(s.key, records.size(), records.size() * uint64_t{kMaxInner13});
  recjob::BurstAdmit admit;  // fast mode: the key's answer for every record
  uint64_t bytes = 0;
  bool closed = false;

  // The common burst, application data without padding, in a loop of its
  // own: one test says a record is simple (every check below would pass),
  // and the header, AAD and nonce are composed without the general branches.
  // It stops at the first record that is not simple; the general loop takes
  // over from there, so every status is the one the general loop gives.
  size_t from = 0;
  auto simple = [&](auto v13c, auto gcmc) {
    constexpr bool V13 = decltype(v13c)::value, GCM = decltype(gcmc)::value;
    constexpr uint32_t H = GCM ? kHeaderLen + kExplicitNonceLen : kHeaderLen;
    constexpr uint32_t grow = (V13 ? 1 : 0) + kTagLen;  // tailroom needed
    uint64_t seq = s.seq;
    uint64_t sum = 0;
    size_t k = 0;
    for (; k < records.size(); ++k) {
      Record& r = records[k];
      uint8_t* const buf = r.buf;
      const uint32_t cap = r.capacity, off = r.offset, len = r.length;
      if (buf == nullptr || r.type != application_data || off < H || off > cap ||
          cap - off < len || len > kMaxPlaintext || cap - off - len < grow)
        break;
      if (k == 0) {
        if (admit(s.key, now) != Status::ok) break;  // live, not too old
      }
      const uint32_t inner = seal_simple<V13, GCM>(r, buf + off, len, key, iv, seq, &jobs[n], aads[n]);
      owner[n] = &r;
      ++n;
      ++seq;
      sum += inner;
    }
    s.seq = seq;
    bytes = sum;
    from = k;
  };
  if (fast && (pad_none || !v13)) {
    if (v13) simple(std::true_type{}, std::false_type{});
    else if (gcm12) simple(std::false_type{}, std::true_type{});
    else simple(std::false_type{}, std::false_type{});
  }

  for (Record& r : records.subspan(from)) {
    if (closed) { r.status = Status::closed; continue; }
    if (!r.well_formed() || !protected_type(r.type)) { r.status = Status::invalid_argument; continue; }
    const size_t len = r.length;
    if (len > kMaxPlaintext) { r.status = Status::record_overflow; continue; }
    uint8_t* body = r.buf + r.offset;
    // RFC 8446 §5.1 / RFC 5246 §6.2.1: no zero-length handshake or alert
    // fragments; §6: an alert record holds exactly one 2-byte alert.
    if ((len == 0 && r.type != application_data) || (r.type == alert && len != 2)) {
      r.status = Status::invalid_argument;
      continue;
    }
    const size_t inner = !v13 ? len : pad_none ? len + 1 : padded_inner(len);
    if (r.offset < head || r.tailroom() < inner - len + kTagLen) {
      r.status = Status::buffer_too_small;
      continue;
    }
    if (fast) {
      const Status refuse = admit(s.key, now);  // live, not too old
      if (refuse != Status::ok) { r.status = refuse; continue; }
      bytes += inner;
    } else {
      if (s.seq_exhausted) { r.status = Status::key_exhausted; continue; }
      const Status admitted = s.key.admit_seal(1, inner, now);
      if (admitted != Status::ok) { r.status = admitted; continue; }
    }
    // The sequence number is spent from here on, whatever happens: a nonce is
    // never used twice. It never wraps (RFC 8446 §5.3, RFC 5246 §6.1).
    const uint64_t seq = s.seq;
    if (seq == kLastSeq) s.seq_exhausted = true; else s.seq = seq + 1;
    if (r.type == alert && alert_closes(cfg_.version, body[0], body[1])) closed = s.closed = true;

    uint8_t* hdr = body - head;
    if (v13) {
      // TLSInnerPlaintext = content ‖ ContentType ‖ zeros (§5.2); the outer
      // header says application_data / 0x0303 and is the AAD. The type byte
      // goes first: the kernel reads the block holding it last.
      body[len] = r.type;
      if (inner > len + 1) std::memset(body + len + 1, 0, inner - len - 1);
      const uint16_t wire_len = static_cast<uint16_t>(inner + kTagLen);
      // The 5 header bytes, written once into the record and once as a
      // 16-byte AAD slot that the kernel loads whole.
      const recjob::Block16 h{uint64_t{application_data} | uint64_t{0x0303} << 8 |
                                  uint64_t{__builtin_bswap16(wire_len)} << 24,
                              0};
      hdr[0] = application_data;
      store_be16(hdr + 1, kLegacyVersion);
      store_be16(hdr + 3, wire_len);
      recjob::store16(aads[n], h);
      recjob::make(&jobs[n], key, recjob::xor_seq(iv, seq), {aads[n], kHeaderLen},
                   {body, inner}, body + inner);
    } else {
      const uint16_t wire_len = static_cast<uint16_t>(head - kHeaderLen + len + kTagLen);
      hdr[0] = r.type;
      store_be16(hdr + 1, kLegacyVersion);
      store_be16(hdr + 3, wire_len);
      // RFC 5288 §3: explicit nonce = the sequence number; RFC 7905 §2:
      // iv XOR sequence. The salt-only iv is zero past byte 4, so both are
      // iv XOR BE64(seq) in bytes 4..11.
      if (gcm12) store_be64(hdr + kHeaderLen, seq);
      recjob::store16(aads[n], recjob::aad13(seq, r.type, kLegacyVersion, static_cast<uint16_t>(len)));
      recjob::make(&jobs[n], key, recjob::xor_seq(iv, seq), {aads[n], kAad12Len}, {body, inner},
                   body + inner);
    }
    r.seq = seq;
    owner[n] = &r;
    ++n;
  }
  // Counted once: far_from_limits() guaranteed this cannot refuse.
  if (fast && n != 0) s.key.admit_seal(n, bytes, now);

  rl::seal(jobs.first(n));

  size_t ok = 0;
  for (size_t i = 0; i < n; ++i) {
    Record& r = *owner[i];
    r.status = jobs[i].status;
    if (r.status != Status::ok) continue;
    r.offset -= head;
    r.length = static_cast<uint32_t>(head + jobs[i].data.size() + kTagLen);
    ++ok;
  }
  return ok;
}

Status RecordProtection::seal_alert(Record& r, AlertLevel level, AlertDescription desc) {
  if (!r.well_formed() || r.tailroom() + r.length < 2) return Status::buffer_too_small;
  r.buf[r.offset] = level;
  r.buf[r.offset + 1] = desc;
  r.length = 2;
  r.type = alert;
  seal({&r, 1});
  return r.status;
}

// ---- 3. open ------------------------------------------------------------------

namespace {

struct OpenMeta {
  uint64_t seq;
  uint32_t body_off;  // from the record start to the AEAD data
};

// The lean loops of TLS 1.3 open, for the usual chunk: application_data
// records of sane length, one per view, far from the end of the sequence
// space. Each takes only what the general loops of open_chunk would take
// with the same result, and stops at the first record that needs anything
// else; the general loops go on from there. (Separate functions, so that
// their few constants stay in registers.)

// The start of `r` if it is one whole application_data record alone in its
// view, with at least `min_len` bytes after the header (read only then);
// else null. *len gets the header's length field.
inline uint8_t* whole_app_record(const Record& r, size_t min_len, size_t* len) {
  const uint32_t off = r.offset, len_v = r.length, cap = r.capacity;
  if (r.buf == nullptr || off > cap || len_v > cap - off || len_v < kHeaderLen + min_len)
    return nullptr;
  uint8_t* const p = r.buf + off;
  *len = load_be16(p + 3);
  return p[0] == application_data && kHeaderLen + *len == len_v ? p : nullptr;
}

// Builds *job for `r` if it is such a record, sealed with `seq`.
[[gnu::always_inline]] inline bool parse13(const Record& r, const AeadKey* key, recjob::Block16 iv,
                                           uint64_t seq, AeadJob* job, OpenMeta* meta) {
  size_t len = 0;
  uint8_t* const p = whole_app_record(r, kTagLen + 1, &len);
  // §5.2, §5.4: application_data, the type byte and the tag at least, and
  // at most 2^14+1 bytes of inner plaintext (which is under 2^14+256).
  if (p == nullptr || len - (kTagLen + 1) > kMaxInner13 - 1) return false;
  const size_t clen = len - kTagLen;
  recjob::make(job, key, recjob::xor_seq(iv, seq), {p, kHeaderLen}, {p + kHeaderLen, clen},
               p + kHeaderLen + clen);
  meta->seq = seq;
  meta->body_off = kHeaderLen;
  return true;
}

// Builds jobs[i] for records[i] while each is such a record; seq is the
// first record's. Returns how many.
size_t parse13_run(std::span<Record> records, const AeadKey* key, recjob::Block16 iv,
                   uint64_t seq, AeadJob* jobs, OpenMeta* meta) {
  size_t i = 0;
  for (; i < records.size(); ++i)
    if (!parse13(records[i], key, iv, seq + i, jobs + i, meta + i)) break;
  return i;
}

// The same for TLS 1.2 application_data records (RFC 5246 §6.2.3.3, RFC
// 5288 §3 with the explicit nonce, RFC 7905 without): the 13-byte AAD built
// in registers, one store per slot.
[[gnu::always_inline]] inline bool parse12(const Record& r, const AeadKey* key, recjob::Block16 iv,
                                           uint32_t salt, bool gcm, uint64_t seq, AeadJob* job,
                                           OpenMeta* meta, uint8_t* aad) {
  const size_t expl = gcm ? kExplicitNonceLen : 0;
  size_t len = 0;
  uint8_t* const p = whole_app_record(r, expl + kTagLen, &len);
  if (p == nullptr || len - expl - kTagLen > kMaxPlaintext) return false;
  const size_t plen = len - expl - kTagLen;
  const recjob::Block16 nonce =
      gcm ? recjob::salt_explicit(salt, p + kHeaderLen) : recjob::xor_seq(iv, seq);
  recjob::store16(aad, recjob::aad13(seq, application_data, load_be16(p + 1),
                                     static_cast<uint16_t>(plen)));
  uint8_t* const body = p + kHeaderLen + expl;
  recjob::make(job, key, nonce, {aad, kAad12Len}, {body, plen}, body + plen);
  meta->seq = seq;
  meta->body_off = static_cast<uint32_t>(kHeaderLen + expl);
  return true;
}

size_t parse12_run(std::span<Record> records, const AeadKey* key, recjob::Block16 iv,
                   uint32_t salt, bool gcm, uint64_t seq, AeadJob* jobs, OpenMeta* meta,
                   uint8_t (*aads)[16]) {
  size_t i = 0;
  for (; i < records.size(); ++i)
    if (!parse12(records[i], key, iv, salt, gcm, seq + i, jobs + i, meta + i, aads[i])) break;
  return i;
}

// Commits records[i] (job i) while each opened; TLS 1.3 also needs its inner
// plaintext to end in the application_data type byte (no padding: §5.4).
// Returns how many; *bytes gets their content bytes.
size_t commit_run(std::span<Record> records, const AeadJob* jobs, const OpenMeta* meta, bool v13,
                  uint64_t* bytes) {
  uint64_t sum = 0;
  size_t i = 0;
  for (; i < records.size(); ++i) {
    const AeadJob& j = jobs[i];
    if (j.status != Status::ok) break;
    const size_t content = j.data.size() - (v13 ? 1 : 0);
    if (v13 && j.data[content] != application_data) break;
    Record& r = records[i];
    r.offset += meta[i].body_off;
    r.length = static_cast<uint32_t>(content);
    r.type = application_data;
    r.seq = meta[i].seq;
    r.status = Status::ok;
    sum += content;
  }
  *bytes = sum;
  return i;
}

}  // namespace

// After the AEAD, one record of the general loop: TLS 1.3's inner type
// (§5.4), then the commit; or its refusal (bytes as they arrived). Sets
// `closing` for an alert that closes this direction.
Status RecordProtection::settle(Record& r, AeadJob& j, uint64_t seq, uint32_t body_off,
                                bool& closing) {
  Side& s = open_;
  Status st = j.status;
  uint8_t type = r.buf[r.offset];
  size_t content = j.data.size();
  if (st == Status::ok && cfg_.version == Version::tls13) {
    // §5.4: the real type is the last non-zero byte; zeros after it are
    // padding; no non-zero byte at all is an error.
    const uint8_t* d = j.data.data();
    size_t i = j.data.size();
    while (i > 0 && d[i - 1] == 0) --i;
    if (i == 0) st = Status::malformed;
    else {
      type = d[i - 1];
      content = i - 1;
      if (!protected_type(type) || (content == 0 && type != application_data) ||
          (type == alert && content != 2))
        st = Status::malformed;
    }
    if (st != Status::ok) restore(j);
  }
  if (st != Status::ok) {
    r.status = st;
    return st;
  }
  // Commit: the sequence number moves past this record.
  if (seq == kLastSeq) s.seq_exhausted = true; else s.seq = seq + 1;
  s.key.count_opened(content);
  r.offset += body_off;
  r.length = static_cast<uint32_t>(content);
  r.type = type;
  r.seq = seq;
  r.status = Status::ok;
  if (type == alert && alert_closes(cfg_.version, r.buf[r.offset], r.buf[r.offset + 1]))
    closing = true;
  return Status::ok;
}

// records[stop] failed or closed the direction: what follows from it.
// Returns whether the chunk ends here (else it goes on after `stop`).
bool RecordProtection::ends_chunk(std::span<Record> records, size_t stop, bool closing) {
  Side& s = open_;
  auto refuse_rest = [&](Status st) {
    for (size_t k = stop + 1; k < records.size(); ++k) records[k].status = st;
  };
  // Counted only now: reaching the integrity limit wipes the key, and the
  // restores above still needed it.
  if (records[stop].status == Status::auth_failed && s.key.count_auth_failure() != Status::ok) {
    refuse_rest(Status::key_exhausted);
    return true;
  }
  if (closing) {
    s.closed = true;
    refuse_rest(Status::closed);
    return true;
  }
  if (cfg_.stop_after_failure) {
    failure_ = records[stop].status;
    s.closed = true;
    refuse_rest(Status::closed);
    return true;
  }
  return false;  // the failed record is as if it never arrived
}

// A burst of one record, the usual shape of an interactive connection: the
// lean loops' parse and commit without the chunk's arrays and loops. A
// record the lean parse would not take goes to open_chunk before anything
// is asked or changed; after the AEAD, settle() and ends_chunk() decide as
// for a record of a burst.
size_t RecordProtection::open_one(Record& r) {
  Side& s = open_;
  if (!s.installed || s.closed || s.seq_exhausted || s.seq == kLastSeq) return open_chunk({&r, 1});
  const bool v13 = cfg_.version == Version::tls13;
  Scratch<AeadJob, 1> jobs;  // constructed by the parse
  AeadJob& job = jobs[0];
  OpenMeta meta;
  alignas(16) uint8_t aad[16];
  const bool took =
      v13 ? parse13(r, &s.key.aead(), recjob::load_iv(s.iv), s.seq, &job, &meta)
          : parse12(r, &s.key.aead(), recjob::load_iv(s.iv), recjob::le32(s.iv), is_gcm(s.suite),
                    s.seq, &job, &meta, aad);
  if (!took) return open_chunk({&r, 1});
  const uint64_t now = s.limits.has_age_limit() ? cfg_.clock.read() : 0;  // as now_for()
  if (const Status st = s.key.admit_open(now); st != Status::ok) {
    r.status = st;
    return 0;
  }
  rl::open({&job, 1});
  uint64_t bytes = 0;
  if (commit_run({&r, 1}, &job, &meta, v13, &bytes) == 1) {
    s.seq = meta.seq + 1;  // not kLastSeq (checked above)
    s.key.count_opened(1, bytes);
    return 1;
  }
  bool closing = false;
  if (settle(r, job, meta.seq, meta.body_off, closing) == Status::ok && !closing) return 1;
  const size_t ok = r.status == Status::ok ? 1 : 0;
  ends_chunk({&r, 1}, 0, closing);
  return ok;
}

size_t RecordProtection::open(std::span<Record> records) {
  if (records.size() == 1) return open_one(records[0]);
  size_t ok = 0;
  for (size_t i = 0; i < records.size(); i += kChunk)
    ok += open_chunk(records.subspan(i, std::min(kChunk, records.size() - i)));
  return ok;
}

size_t RecordProtection::open_chunk(std::span<Record> records) {
  Side& s = open_;
  const bool v13 = cfg_.version == Version::tls13;
  size_t ok = 0;
  size_t start = 0;

  // Every record from `from` on reports `st` (nothing of theirs was touched).
  auto refuse_rest = [&](size_t from, Status st) {
    for (size_t k = from; k < records.size(); ++k) records[k].status = st;
  };

  if (!s.installed) { refuse_rest(0, Status::unknown_epoch); return 0; }
  if (s.closed) { refuse_rest(0, Status::closed); return 0; }
  if (const Status st = s.key.admit_open(now_for(s)); st != Status::ok) {
    refuse_rest(0, st);
    return 0;
  }

  const AeadKey* key = &s.key.aead();
  const recjob::Block16 iv = recjob::load_iv(s.iv);
  const bool gcm12 = !v13 && is_gcm(s.suite);
  const uint32_t salt = recjob::le32(s.iv);

  while (start < records.size()) {
    Scratch<AeadJob, kChunk> jobs;
    alignas(16) uint8_t aads[kChunk][16];
    OpenMeta meta[kChunk];
    size_t idx[kChunk];
    size_t n = 0;
    size_t parse_fail = records.size();  // first record refused before the AEAD
    uint64_t seq = s.seq;
    bool exhausted = s.seq_exhausted;

    // The headers are most likely not in L1: ask for all of them before the
    // first is parsed (a prefetch never faults, whatever the view holds).
    for (size_t k = start; k < records.size(); ++k)
      records[k].prefetch(3);

    // Phase 1: parse every record and build its job, assuming each earlier one
    // authenticates (over TCP the records come strictly in order). The usual
    // records (application data) first, through the lean loops.
    size_t lean = 0;
    if (!exhausted && kLastSeq - seq > records.size()) {
      lean = v13 ? parse13_run(records.subspan(start), key, iv, seq, &jobs[0], meta)
                 : parse12_run(records.subspan(start), key, iv, salt, gcm12, seq, &jobs[0], meta,
                               aads);
      for (size_t i = 0; i < lean; ++i) idx[i] = start + i;
      n = lean;
      seq += lean;
    }
    for (size_t k = start + lean; k < records.size(); ++k) {
      Record& r = records[k];
      Status st = Status::ok;
      uint8_t* p = r.buf + r.offset;
      size_t len = 0;
      if (!r.well_formed()) st = Status::invalid_argument;
      else if (r.length < kHeaderLen) st = Status::truncated;
      else {
        len = load_be16(p + 3);
        if (kHeaderLen + len > r.length) st = Status::truncated;
        else if (kHeaderLen + len < r.length) st = Status::malformed;  // one record per view
      }
      if (st == Status::ok && v13 && p[0] == change_cipher_spec && len == 1 && p[5] == 1) {
        // RFC 8446 §5: an unprotected change_cipher_spec (middlebox
        // compatibility) may arrive during the handshake; the caller drops it.
        r.status = Status::not_protected;
        continue;
      }
      if (st == Status::ok && exhausted) st = Status::key_exhausted;
      if (st == Status::ok && v13) {
        // §5.2: outer type application_data; at most 2^14+256 bytes of
        // ciphertext; the inner plaintext needs at least its type byte and
        // may not exceed 2^14+1 bytes (§5.4).
        if (p[0] != application_data) st = Status::malformed;
        else if (len > kMaxCiphertext13) st = Status::record_overflow;
        else if (len < kTagLen + 1) st = Status::malformed;
        else if (len - kTagLen > kMaxInner13) st = Status::record_overflow;
        else {
          const size_t clen = len - kTagLen;
          recjob::make(&jobs[n], key, recjob::xor_seq(iv, seq), {p, kHeaderLen},
                       {p + kHeaderLen, clen}, p + kHeaderLen + clen);
          meta[n].body_off = kHeaderLen;
        }
      } else if (st == Status::ok) {
        const size_t expl = gcm12 ? kExplicitNonceLen : 0;
        // RFC 5246 §7.1, §7.4.1.1: a renegotiation's ChangeCipherSpec is sent under
        // the current keys, so TLS 1.2 opens a protected one (exactly 1 byte).
        if (!protected_type(p[0]) && p[0] != change_cipher_spec) st = Status::malformed;
        else if (len > kMaxCiphertext12) st = Status::record_overflow;
        else if (len < expl + kTagLen) st = Status::malformed;
        else if (len - expl - kTagLen > kMaxPlaintext) st = Status::record_overflow;
        else {
          const size_t plen = len - expl - kTagLen;
          if ((plen == 0 && p[0] != application_data) || (p[0] == alert && plen != 2) ||
              (p[0] == change_cipher_spec && plen != 1)) {
            st = Status::malformed;
          } else {
            // RFC 5288 §3: the explicit nonce is whatever the sender put on
            // the wire (we send the sequence number; others may not).
            const recjob::Block16 nonce =
                gcm12 ? recjob::salt_explicit(salt, p + kHeaderLen) : recjob::xor_seq(iv, seq);
            recjob::store16(aads[n], recjob::aad13(seq, p[0], load_be16(p + 1),
                                                   static_cast<uint16_t>(plen)));
            uint8_t* body = p + kHeaderLen + expl;
            recjob::make(&jobs[n], key, nonce, {aads[n], kAad12Len}, {body, plen}, body + plen);
            meta[n].body_off = static_cast<uint32_t>(kHeaderLen + expl);
          }
        }
      }
      if (st != Status::ok) {
        r.status = st;
        parse_fail = k;
        break;
      }
      meta[n].seq = seq;
      idx[n] = k;
      ++n;
      if (seq == kLastSeq) exhausted = true; else ++seq;
    }

    // Phase 2: one burst.
    rl::open(jobs.first(n));

    // Phase 3: commit in order, up to the first record that fails or closes.
    // TLS 1.3 reads each record's inner type byte (its last non-zero byte):
    // the kernel wrote it a whole burst ago, so all of them are asked for first.
    if (v13)
      for (size_t m = 0; m < n; ++m)
        __builtin_prefetch(jobs[m].data.data() + jobs[m].data.size() - 1);
    size_t stop = parse_fail;  // index of the record that ended the run
    bool closing = false;
    size_t m0 = 0;  // the lean loop's records, committed with one count
    if (lean != 0) {
      uint64_t bytes = 0;
      m0 = commit_run(records.subspan(start, lean), &jobs[0], meta, v13, &bytes);
      if (m0 != 0) {
        s.seq = meta[m0 - 1].seq + 1;  // far from kLastSeq (checked above)
        s.key.count_opened(m0, bytes);
        ok += m0;
      }
    }
    for (size_t m = m0; m < n; ++m) {
      Record& r = records[idx[m]];
      if (stop != records.size() && idx[m] > stop) {
        // After a failure or a closing alert: this record's nonce assumed a
        // different history; put its bytes back as they arrived.
        if (jobs[m].status == Status::ok) restore(jobs[m]);
        continue;
      }
      if (settle(r, jobs[m], meta[m].seq, meta[m].body_off, closing) != Status::ok) {
        stop = idx[m];
        continue;
      }
      ++ok;
      if (closing) stop = idx[m];
    }

    if (stop >= records.size()) break;  // everything done
    if (ends_chunk(records, stop, closing)) break;
    start = stop + 1;  // the failed record is as if it never arrived
  }
  return ok;
}

}  // namespace rl::tls
