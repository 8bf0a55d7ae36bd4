// IPsec ESP, read top to bottom: sequence numbers, SA install and lifetimes,
// seal, open, UDP encapsulation framing, the SA database.
#include "core/esp.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstring>
#include <limits>
#include <new>

#include <openssl/mem.h>

#include "core/aead.h"
#include "core/bytes.h"
#include "core/job_fill.h"

namespace rl::esp {
namespace {

constexpr uint32_t kMinWindow = 32;  // RFC 4303 §3.4.3: 32 MUST be supported, 64 SHOULD
constexpr uint32_t kMaxResyncTries = 1024;

// RFC 4303 §2.4: padding so that pad length and next header end on a 4-byte
// boundary (the AEAD transforms here have a 1-byte block).
constexpr size_t pad_for(size_t body) { return (4 - (body + 2) % 4) % 4; }

bool is_aes(Suite s) { return s == Suite::aes128_gcm || s == Suite::aes256_gcm; }

// Tunnel mode: the inner packet's own length, to strip TFC padding (§2.7).
// Returns 0 when the header does not say (short packet, wrong version).
size_t inner_ip_length(const uint8_t* p, size_t n, uint8_t nh) {
  if (nh == kNextHeaderIpv4 && n >= 20 && (p[0] >> 4) == 4) return load_be16(p + 2);
  if (nh == kNextHeaderIpv6 && n >= 40 && (p[0] >> 4) == 6) return size_t{40} + load_be16(p + 4);
  return 0;
}

// §2.4: padding bytes are 1, 2, 3, ...; the receiver checks them. Up to 8
// bytes (every sender that pads to 4) are one word compare: the 8 bytes that
// end where the padding ends are inside the packet (the ESP header alone is 8).
bool padding_ok(const uint8_t* pad_at, size_t pad) {
  if (pad == 0) return true;
  if (pad <= 8) {
    static_assert(std::endian::native == std::endian::little);
    uint64_t w;
    std::memcpy(&w, pad_at + pad - 8, 8);
    const unsigned shift = 8 * (8 - static_cast<unsigned>(pad));
    constexpr uint64_t kOneToEight = 0x0807060504030201;  // little-endian 01 02 .. 08
    return (w >> shift) == (kOneToEight & (~uint64_t{0} >> shift));
  }
  for (size_t i = 0; i < pad; ++i)
    if (pad_at[i] != i + 1) return false;
  return true;
}

// Stack room for a chunk's AEAD jobs, left uninitialised: only the jobs in
// use are constructed (zeroing all kMaxBurst of them cost more than the ESP
// logic itself on a burst of one).
class JobArray {
 public:
  void* slot(size_t i) { return raw_ + i * sizeof(AeadJob); }
  AeadJob& operator[](size_t i) { return *std::launder(reinterpret_cast<AeadJob*>(raw_) + i); }
  std::span<AeadJob> first(size_t n) {
    return {std::launder(reinterpret_cast<AeadJob*>(raw_)), n};
  }

 private:
  alignas(AeadJob) unsigned char raw_[sizeof(AeadJob) * kMaxBurst];
};


}  // namespace

// ---- Extended sequence numbers: RFC 4303 Appendix A2.2 ------------------------
// T = Th ‖ Tl is the highest sequence number seen (window top), W the window.
// Case A (Tl >= W - 1, the window sits inside one 2^32 subspace):
//   Seql >= Tl - W + 1 → Seqh = Th, else Seqh = Th + 1.
// Case B (Tl < W - 1, the window straddles two subspaces, Bl computed mod 2^32):
//   Seql >= Bl → Seqh = Th - 1, else Seqh = Th.
// Two edges the appendix leaves open: with Th = 0 there is no subspace -1, so a
// low half at or above Bl can only be a packet far ahead in subspace 0; and
// with Th = 2^32 - 1 there is no subspace above it, so "Th + 1" is refused.
SeqHi reconstruct_seq_hi(uint64_t top, uint32_t window, uint32_t seql) {
  const uint32_t th = static_cast<uint32_t>(top >> 32);
  const uint32_t tl = static_cast<uint32_t>(top);
  const uint32_t bl = tl - window + 1;  // mod 2^32
  if (tl >= window - 1) {               // case A
    if (seql >= bl) return {true, th};
    if (th == std::numeric_limits<uint32_t>::max()) return {false, 0};
    return {true, th + 1};
  }
  if (seql >= bl) return {true, th == 0 ? 0 : th - 1};  // case B
  return {true, th};
}

// ---- SA install, expiry and lifetimes -----------------------------------------

Sa::~Sa() { OPENSSL_cleanse(salt_, sizeof salt_); }

Status Sa::install(Direction dir, const SaConfig& cfg, uint64_t now, EventQueue* events) {
  expire();
  events_ = nullptr;
  if (cfg.spi == 0) return Status::invalid_argument;
  const SuiteInfo info = suite_info(cfg.suite);
  if (info.key_len == 0 || cfg.keymat.size() != size_t{info.key_len} + kSaltLen)
    return Status::invalid_argument;
  // RFC 4106 §6: AES-GCM ICVs of 8, 12 or 16 octets; RFC 7634 §2 and RFC 4543
  // §3.4 fix the ICV at 16.
  const bool icv_ok = cfg.icv_len == 16 || (is_aes(cfg.suite) && !cfg.gmac &&
                                            (cfg.icv_len == 8 || cfg.icv_len == 12));
  if (!icv_ok) return Status::invalid_argument;
  if (cfg.gmac && !is_aes(cfg.suite)) return Status::invalid_argument;
  // RFC 8750 §6 registers implicit IV for ENCR_AES_GCM_16, ENCR_AES_CCM_8 and
  // ENCR_CHACHA20_POLY1305 only: no truncated GCM ICV, no GMAC.
  if (cfg.implicit_iv && (cfg.gmac || cfg.icv_len != 16)) return Status::invalid_argument;
  if (cfg.resync_tries > kMaxResyncTries) return Status::invalid_argument;
  const uint64_t max_seq = cfg.esn ? std::numeric_limits<uint64_t>::max()
                                   : std::numeric_limits<uint32_t>::max();
  if (dir == Direction::seal && (cfg.first_seq == 0 || cfg.first_seq > max_seq))
    return Status::invalid_argument;
  if (dir == Direction::open) {
    if (cfg.replay_window < kMinWindow || cfg.replay_window > ReplayWindow::kMaxSize ||
        cfg.highest_received > max_seq)
      return Status::invalid_argument;
    window_.init(cfg.replay_window);
    if (cfg.highest_received != 0) window_.commit(cfg.highest_received);
  }
  const Status st = key_.init(cfg.suite, cfg.keymat.first(info.key_len), cfg.icv_len);
  if (st != Status::ok) return st;
  std::memcpy(salt_, cfg.keymat.data() + info.key_len, kSaltLen);
  for (size_t r = 0; r < 4; ++r) {
    const size_t pad = pad_for(r), hdr = cfg.implicit_iv ? 8 : 8 + kIvLen;
    seal_rules_[r] = {(uint64_t{0x030201} & ((uint64_t{1} << (8 * pad)) - 1)) |
                          uint64_t{pad} << (8 * pad),
                      static_cast<uint8_t>(8 * pad + 8), static_cast<uint8_t>(pad + 2),
                      static_cast<uint8_t>(pad + 2 + cfg.icv_len),
                      static_cast<uint8_t>(hdr + pad + 2 + cfg.icv_len)};
  }
  spi_ = cfg.spi;
  dir_ = dir;
  mode_ = cfg.mode;
  esn_ = cfg.esn;
  gmac_ = cfg.gmac;
  iv_len_ = cfg.implicit_iv ? 0 : kIvLen;
  iv_mask_ = cfg.implicit_iv ? 0 : cfg.iv_mask;
  next_seq_ = cfg.first_seq;
  limits_ = cfg.lifetime;
  rec_cap_ = std::min(limits_.soft_records, limits_.hard_records);
  byte_cap_ = std::min(limits_.soft_bytes, limits_.hard_bytes);
  age_cap_ = std::min(limits_.soft_age_s, limits_.hard_age_s);
  counters_ = SaCounters{};
  resync_after_ = cfg.resync_after;
  resync_tries_ = cfg.resync_tries;
  failed_in_a_row_ = 0;
  installed_at_ = now;
  events_ = events;
  soft_sent_ = hard_sent_ = seq_exhausted_ = dying_ = false;
  event(KeyEvent::installed);
  return Status::ok;
}

void Sa::expire() {
  const bool was_live = key_.valid();
  key_.wipe();
  OPENSSL_cleanse(salt_, sizeof salt_);
  if (was_live) event(KeyEvent::expired);
}

void Sa::event(KeyEvent::Kind k) {
  if (events_ == nullptr) return;
  KeyEvent e;
  e.epoch = spi_;
  e.dir = dir_;
  e.kind = k;
  e.records = counters_.packets;
  e.bytes = counters_.bytes;
  events_->push(e);
}

size_t Sa::tailroom_needed(size_t payload_len) const {
  return pad_for(payload_len) + 2 + key_.tag_len();
}

// Hard lifetime (xfrm "hard" add-time / bytes / packets): the SA refuses work
// with key_expired, in both directions. Checked before counting a packet.
Status Sa::admit(uint64_t now, uint64_t add_packets, uint64_t add_bytes) {
  if (!key_.valid() || dying_) return Status::key_expired;
  const bool too_old = now >= installed_at_ && now - installed_at_ >= limits_.hard_age_s;
  // Overflow-safe "counter + n > limit".
  const bool too_much = add_packets > limits_.hard_records - std::min(limits_.hard_records,
                                                                      counters_.packets) ||
                        add_bytes > limits_.hard_bytes - std::min(limits_.hard_bytes,
                                                                  counters_.bytes);
  if (too_old || too_much) {
    if (!hard_sent_) {
      hard_sent_ = true;
      event(KeyEvent::hard_limit);
    }
    return Status::key_expired;
  }
  return Status::ok;
}

[[gnu::always_inline]] inline bool Sa::quiet(uint64_t now, uint64_t packets,
                                             uint64_t bytes) const {
  // Reaching a soft limit speaks, passing a hard one refuses: below the
  // smaller of the two (the caps), both stay silent.
  return key_.valid() && !dying_ && (now < installed_at_ || now - installed_at_ < age_cap_) &&
         counters_.packets < rec_cap_ && packets < rec_cap_ - counters_.packets &&
         counters_.bytes < byte_cap_ && bytes < byte_cap_ - counters_.bytes;
}

// Soft lifetime: one event for the IKE daemon to rekey.
void Sa::soft_check(uint64_t now) {
  if (soft_sent_) return;
  if (counters_.packets >= limits_.soft_records || counters_.bytes >= limits_.soft_bytes ||
      (now >= installed_at_ && now - installed_at_ >= limits_.soft_age_s)) {
    soft_sent_ = true;
    event(KeyEvent::soft_limit);
  }
}

// ---- Seal ---------------------------------------------------------------------
// Per packet: pick the next header, size TFC padding and §2.4 padding, check
// room and lifetime, take the next sequence number (never reused: it is
// consumed even if something later fails), write header and trailer, build
// the AEAD job. Then one AEAD call for the burst.

namespace {
}  // namespace

// The lean seal loop: a burst of a quiet, non-GMAC SA whose sequence numbers
// stay below the last one. Per packet only what varies: the next header, the
// room check, header, IV, trailer and job, composed in registers and written
// with one store each; the sequence number and counters live in registers and
// are written once. It stops at the first packet that needs anything else
// (dummy, TFC, too little room, a next header to refuse); seal() goes on.
// Each packet it takes already has its sealed offset, length and status ok.
template <bool kEsn, bool kTunnel, bool kMeta>
[[gnu::always_inline]] inline size_t Sa::seal_run(std::span<PacketView> pkts,
                                                  std::span<const SealMeta> meta, AeadJob* jobs,
                                                  uint8_t (*aad)[16]) {
  const uint32_t hdr = static_cast<uint32_t>(header_len());
  const uint32_t salt = recjob::le32(salt_);
  const uint32_t spi_be = __builtin_bswap32(spi_);
  // IV = seq ^ mask, in memory order (0 with RFC 8750: the IV is the
  // sequence number).
  const uint64_t mask_be = __builtin_bswap64(iv_mask_);
  uint64_t seq = next_seq_, bytes = 0;
  size_t k = 0;
  for (; k < pkts.size(); ++k) {
    PacketView& p = pkts[k];
    uint8_t* const buf = p.buf;
    const uint32_t off = p.offset, len = p.length, cap = p.capacity;
    const SealRule& r = seal_rules_[len & 3];
    // well_formed() and room for header, trailer and ICV: in 64 bits, where
    // the sum cannot wrap, and with off < hdr wrapped to above 2^32 - hdr,
    // so that the sum passes cap (< 2^32) unless hdr <= off.
    const uint32_t new_off = off - hdr;
    if (buf == nullptr || uint64_t{new_off} + len + r.grow > cap) break;
    // The next header, from SealMeta (no dummy, no TFC) or, in tunnel mode
    // when it says 0, from the inner IP version.
    // nd = next header | dummy << 8 (one load): a dummy never matches.
    unsigned nd = 0;
    if constexpr (kMeta) {
      const SealMeta& m = meta[k];
      static_assert(offsetof(SealMeta, next_header) == 0 && offsetof(SealMeta, dummy) == 1 &&
                    sizeof(bool) == 1);
      uint16_t w;
      std::memcpy(&w, &m, 2);
      nd = w;
      if (m.tfc_pad_to > len) break;
    }
    if constexpr (kTunnel) {
      if (nd != kNextHeaderIpv4 && nd != kNextHeaderIpv6) {
        if (nd != 0) break;
        const unsigned version = len > 0 ? buf[off] >> 4 : 0;
        if (version == 4)
          nd = kNextHeaderIpv4;
        else if (version == 6)
          nd = kNextHeaderIpv6;
        else
          break;
      }
    } else {
      if (nd - 1 >= 0xff || nd == kNextHeaderNone) break;  // 0, 59 or a dummy
    }
    const uint8_t nh = static_cast<uint8_t>(nd);
    uint8_t* const d = buf + off;
    // The IV (explicit) goes right before the payload, SPI ‖ Seq before it;
    // without an IV field the second store covers the first.
    const uint64_t seq_be = __builtin_bswap64(seq);  // memory order: Seqh ‖ Seql
    const uint64_t iv_be = seq_be ^ mask_be;
    std::memcpy(d - 8, &iv_be, 8);
    const uint32_t seql_be = static_cast<uint32_t>(seq_be >> 32);
    const uint64_t spi_seql = uint64_t{spi_be} | (seq_be & ~uint64_t{0xffffffff});
    std::memcpy(d - hdr, &spi_seql, 8);
    // Padding, pad length, next header: one 8-byte store (the bytes past the
    // trailer are the ICV's, written by the kernel; ICV >= 8).
    const uint64_t trailer = r.bytes | uint64_t{nh} << r.nh_shift;
    std::memcpy(d + len, &trailer, 8);
    const uint32_t protected_len = len + r.add;
    // The AAD slot's last four bytes (past the AAD) keep the payload length
    // in case the AEAD refuses the job.
    std::span<const uint8_t> a;
    if constexpr (kEsn) {
      const uint32_t seqh_be = __builtin_bswap32(static_cast<uint32_t>(seq >> 32));
      recjob::store16(aad[k], {uint64_t{spi_be} | uint64_t{seqh_be} << 32,
                               seql_be | uint64_t{len} << 32});
      a = {aad[k], 12};
    } else {
      recjob::store16(aad[k], {spi_seql, uint64_t{len} << 32});
      a = {aad[k], 8};
    }
    // salt ‖ IV (RFC 4106 §4), one 16-byte store.
    recjob::make(jobs + k, &key_, {uint64_t{salt} | iv_be << 32, iv_be >> 32}, a,
                 {d, protected_len}, d + protected_len);
    p.offset = new_off;
    p.length = len + r.grow;
    p.status = Status::ok;
    bytes += len;
    ++seq;
  }
  counters_.packets += k;
  counters_.bytes += bytes;
  next_seq_ = seq;
  return k;
}

size_t Sa::seal(std::span<PacketView> pkts, std::span<const SealMeta> meta, uint64_t now) {
  if (!meta.empty() && meta.size() != pkts.size()) {
    for (PacketView& p : pkts) p.status = Status::invalid_argument;
    return 0;
  }
  const uint64_t max_seq = esn_ ? std::numeric_limits<uint64_t>::max()
                                : std::numeric_limits<uint32_t>::max();
  size_t ok = 0;
  for (size_t base = 0; base < pkts.size(); base += kMaxBurst) {
    const size_t count = std::min(kMaxBurst, pkts.size() - base);
    const std::span<PacketView> chunk = pkts.subspan(base, count);
    const std::span<const SealMeta> cmeta = meta.empty() ? meta : meta.subspan(base, count);
    // Quiet: live and within lifetimes for the whole chunk (every length is
    // below 2^32: only an SA near a byte limit needs them summed); no packet
    // of the chunk can take the last sequence number (nor is it gone).
    const auto quiet_chunk = [&] {
      if (quiet(now, count, uint64_t{count} << 32)) return true;
      uint64_t total = 0;
      for (const PacketView& p : chunk) total += p.length;
      return quiet(now, count, total);
    };
    size_t k = 0;
    if (!gmac_ && !seq_exhausted_ && count <= max_seq - next_seq_ && quiet_chunk()) {
      JobArray jobs;
      alignas(16) uint8_t aad[kMaxBurst][16];
      AeadJob* const raw = static_cast<AeadJob*>(jobs.slot(0));
      const bool tunnel = mode_ == Mode::tunnel;
      // Transport mode needs the next header from SealMeta: without it the
      // general loop refuses each packet.
      if (cmeta.empty())
        k = !tunnel ? 0
            : esn_  ? seal_run<true, true, false>(chunk, cmeta, raw, aad)
                    : seal_run<false, true, false>(chunk, cmeta, raw, aad);
      else
        k = esn_ ? (tunnel ? seal_run<true, true, true>(chunk, cmeta, raw, aad)
                           : seal_run<true, false, true>(chunk, cmeta, raw, aad))
                 : (tunnel ? seal_run<false, true, true>(chunk, cmeta, raw, aad)
                           : seal_run<false, false, true>(chunk, cmeta, raw, aad));
      rl::seal({raw, k});
      ok += k;
      // A refusal is rare (a job the backend finds invalid): look for one
      // in a single pass, then undo what seal_run wrote of its view.
      unsigned any = 0;
      for (size_t i = 0; i < k; ++i) any |= static_cast<unsigned>(raw[i].status);
      for (size_t i = 0; any != 0 && i < k; ++i) {
        if (raw[i].status == Status::ok) continue;
        PacketView& p = chunk[i];  // as it was, with the AEAD's status
        p.status = raw[i].status;
        p.offset += static_cast<uint32_t>(header_len());
        p.length = recjob::le32(aad[i] + 12);
        --ok;
      }
      if (k == count) continue;
    }
    ok += seal_general(chunk.subspan(k), cmeta.empty() ? cmeta : cmeta.subspan(k), now);
  }
  return ok;
}

// A burst of one packet: seal()'s questions for a chunk of one (quiet for
// one packet of at most its length: the two quiet() calls of quiet_chunk
// come to that one; room for one more sequence number), then seal_run on
// that one packet, inlined with its length known, so that the loop, the
// chunk's arrays and the refusal scan are gone. A packet seal_run would not
// take goes to seal() / seal_general unchanged: seal_run changes nothing
// before it takes a packet. Held to seal() by the tests that seal one packet
// at a time and in bursts (esp_test: SealBurstsMatchOneAtATime;
// seal_burst_fuzz).
[[gnu::always_inline]] inline size_t Sa::seal_one(std::span<PacketView> one,
                                                  std::span<const SealMeta> meta, uint64_t now) {
  const uint64_t max_seq = esn_ ? std::numeric_limits<uint64_t>::max()
                                : std::numeric_limits<uint32_t>::max();
  const bool tunnel = mode_ == Mode::tunnel;
  if (gmac_ || seq_exhausted_ || max_seq - next_seq_ < 1 || (!tunnel && meta.empty()) ||
      !quiet(now, 1, one[0].length))
    return seal(one, meta, now);
  alignas(AeadJob) unsigned char slot[sizeof(AeadJob)];
  AeadJob* const raw = reinterpret_cast<AeadJob*>(slot);  // constructed by seal_run
  alignas(16) uint8_t aad[1][16];
  const std::span<PacketView> p{one.data(), 1};
  size_t k;
  if (meta.empty())
    k = esn_ ? seal_run<true, true, false>(p, meta, raw, aad)
             : seal_run<false, true, false>(p, meta, raw, aad);
  else
    k = esn_ ? (tunnel ? seal_run<true, true, true>(p, meta, raw, aad)
                       : seal_run<true, false, true>(p, meta, raw, aad))
             : (tunnel ? seal_run<false, true, true>(p, meta, raw, aad)
                       : seal_run<false, false, true>(p, meta, raw, aad));
  if (k == 0) return seal_general(one, meta, now);
  AeadJob& j = *std::launder(raw);
  rl::seal({&j, 1});
  if (j.status == Status::ok) return 1;
  // As seal(): the view as it was, with the AEAD's status.
  PacketView& v = one[0];
  v.status = j.status;
  v.offset += static_cast<uint32_t>(header_len());
  v.length = recjob::le32(aad[0] + 12);
  return 0;
}

// The general seal of one chunk (at most kMaxBurst packets).
size_t Sa::seal_general(std::span<PacketView> pkts, std::span<const SealMeta> meta, uint64_t now) {
  const size_t hdr = header_len();
  const size_t icv = key_.tag_len();
  const uint64_t max_seq = esn_ ? std::numeric_limits<uint64_t>::max()
                                : std::numeric_limits<uint32_t>::max();
  size_t ok = 0;
  for (size_t base = 0; base < pkts.size(); base += kMaxBurst) {  // once: one chunk
    const size_t count = std::min(kMaxBurst, pkts.size() - base);
    JobArray jobs;
    // AADs in 16-byte slots, each written with one store (core/job_fill.h):
    // the kernel's wide AAD load then never waits on narrower stores.
    alignas(16) uint8_t aad[kMaxBurst][16];
    uint8_t saved[kMaxBurst][4];  // GMAC with ESN: the headroom bytes borrowed for the AAD
    uint32_t which[kMaxBurst], new_len[kMaxBurst];
    size_t n = 0;
    // Header and trailer are the two cache lines ESP writes besides what the
    // AEAD touches: request them for the whole burst first, so misses overlap.
    uint64_t total = 0;
    for (size_t k = 0; k < count; ++k) {
      const PacketView& p = pkts[base + k];
      total += p.length;
      if (p.well_formed() && p.offset >= hdr) {
        __builtin_prefetch(p.data() - hdr, 1);
        __builtin_prefetch(p.data() + p.length, 1);
      }
    }
    const bool quiet_burst = quiet(now, count, total);
    const uint32_t salt = recjob::le32(salt_);
    const uint32_t spi_be = __builtin_bswap32(spi_);
    size_t k = 0;
    for (; k < count; ++k) {
      PacketView& p = pkts[base + k];
      const SealMeta m = meta.empty() ? SealMeta{} : meta[base + k];
      if (!p.well_formed()) {
        p.status = Status::invalid_argument;
        continue;
      }
      if (!key_.valid()) {
        p.status = Status::key_expired;
        continue;
      }
      uint8_t nh = m.next_header;
      if (m.dummy) {
        nh = kNextHeaderNone;
      } else if (mode_ == Mode::transport) {
        if (nh == 0 || nh == kNextHeaderNone) nh = 0;
      } else if (nh == 0) {
        const unsigned version = p.length > 0 ? p.data()[0] >> 4 : 0;
        nh = version == 4 ? kNextHeaderIpv4 : version == 6 ? kNextHeaderIpv6 : 0;
      } else if (nh != kNextHeaderIpv4 && nh != kNextHeaderIpv6) {
        nh = 0;
      }
      if (nh == 0) {
        p.status = Status::invalid_argument;
        continue;
      }
      const size_t payload = p.length;
      const size_t tfc = m.tfc_pad_to > payload ? m.tfc_pad_to - payload : 0;
      const size_t body = payload + tfc;
      const size_t pad = pad_for(body);
      const size_t borrow = gmac_ && esn_ ? 4 : 0;
      if (p.offset < hdr + borrow || p.tailroom() < tfc + pad + 2 + icv) {
        p.status = Status::buffer_too_small;
        continue;
      }
      if (seq_exhausted_) {
        // RFC 4303 §3.3.3: the counter never cycles; a new SA is needed.
        if (!hard_sent_) {
          hard_sent_ = true;
          event(KeyEvent::hard_limit);
        }
        p.status = Status::key_exhausted;
        continue;
      }
      if (const Status st = quiet_burst ? Status::ok : admit(now, 1, payload);
          st != Status::ok) {
        p.status = st;
        continue;
      }
      const uint64_t seq = next_seq_;
      if (seq == max_seq)
        seq_exhausted_ = true;
      else
        ++next_seq_;
      ++counters_.packets;
      counters_.bytes += payload;
      if (m.dummy) ++counters_.dummy;

      uint8_t* h = p.data() - hdr;
      const uint32_t seql_be = __builtin_bswap32(static_cast<uint32_t>(seq));
      const uint64_t spi_seql = uint64_t{spi_be} | uint64_t{seql_be} << 32;  // memory order
      std::memcpy(h, &spi_seql, 8);
      // The nonce is salt ‖ IV composed in registers (one 16-byte store), not
      // copied back from the header just written. RFC 8750 §3: without an IV
      // field the IV is the sequence number.
      const uint64_t ivv = iv_len_ != 0 ? seq ^ iv_mask_ : seq;
      if (iv_len_ != 0) store_be64(h + 8, ivv);
      AeadJob& j = *::new (jobs.slot(n)) AeadJob;
      recjob::store16(j.nonce, recjob::salt_seq(salt, ivv));
      j.key = &key_;
      j.status = Status::ok;
      uint8_t* t = p.data() + payload;
      if (tfc != 0) {
        std::memset(t, 0, tfc);
        t += tfc;
      }
      // §2.4 padding 1, 2, 3 (pad <= 3), pad length, next header: one 8-byte
      // store, which fits since tailroom >= pad + 2 + icv >= 10; the bytes
      // past the trailer are the ICV's, written by the kernel.
      const uint64_t trailer = (uint64_t{0x030201} & ((uint64_t{1} << (8 * pad)) - 1)) |
                               uint64_t{pad} << (8 * pad) | uint64_t{nh} << (8 * pad + 8);
      std::memcpy(t, &trailer, 8);
      uint8_t* icv_at = t + pad + 2;
      const size_t protected_len = body + pad + 2;
      if (gmac_) {
        // RFC 4543 §3.5: everything from the SPI to the next header is AAD.
        // With ESN the high half sits between SPI and low half: borrow four
        // headroom bytes to lay SPI ‖ Seqh ‖ Seql ‖ ... out contiguously.
        if (esn_) {
          std::memcpy(saved[n], h - 4, 4);
          store_be32(h - 4, spi_);
          store_be32(h, static_cast<uint32_t>(seq >> 32));
          j.aad = {h - 4, 4 + hdr + protected_len};
        } else {
          j.aad = {h, hdr + protected_len};
        }
        j.data = {icv_at, 0};
      } else {
        // RFC 4106 §5, RFC 7634 §2.1: AAD = SPI ‖ Seq, or SPI ‖ Seqh ‖ Seql with ESN.
        if (esn_) {
          const uint32_t seqh_be = __builtin_bswap32(static_cast<uint32_t>(seq >> 32));
          recjob::store16(aad[n], {uint64_t{spi_be} | uint64_t{seqh_be} << 32, seql_be});
          j.aad = {aad[n], 12};
        } else {
          recjob::store16(aad[n], {spi_seql, 0});
          j.aad = {aad[n], 8};
        }
        j.data = {p.data(), protected_len};
      }
      j.tag = icv_at;
      which[n] = static_cast<uint32_t>(base + k);
      new_len[n] = static_cast<uint32_t>(hdr + protected_len + icv);
      ++n;
    }
    rl::seal(jobs.first(n));
    for (size_t i = 0; i < n; ++i) {
      PacketView& p = pkts[which[i]];
      const size_t hdr_at = p.offset - hdr;
      if (gmac_ && esn_) {
        store_be32(p.buf + hdr_at, spi_);
        std::memcpy(p.buf + hdr_at - 4, saved[i], 4);
      }
      p.status = jobs[i].status;
      if (p.status != Status::ok) continue;
      p.offset = static_cast<uint32_t>(hdr_at);
      p.length = new_len[i];
      ++ok;
    }
    if (!quiet_burst) soft_check(now);
  }
  return ok;
}

// ---- Open: one packet's AEAD inputs, and Appendix A3 resynchronisation ---------

void Sa::open_job(uint8_t* d, size_t body, uint64_t seq, AeadJob& j, uint8_t aad[16],
                  uint8_t saved[4]) const {
  const size_t hdr = header_len();
  j.key = &key_;
  // salt ‖ IV in one 16-byte store (core/job_fill.h); RFC 8750 §3: without
  // an IV field the IV is the sequence number.
  recjob::store16(j.nonce, iv_len_ != 0 ? recjob::salt_explicit(recjob::le32(salt_), d + 8)
                                        : recjob::salt_seq(recjob::le32(salt_), seq));
  if (gmac_) {
    // RFC 4543 §3.5: SPI through next header is AAD; with ESN, Seqh sits
    // between SPI and Seql, laid out in four borrowed headroom bytes.
    if (esn_) {
      std::memcpy(saved, d - 4, 4);
      std::memcpy(d - 4, d, 4);  // SPI
      store_be32(d, static_cast<uint32_t>(seq >> 32));
      j.aad = {d - 4, 4 + hdr + body};
    } else {
      j.aad = {d, hdr + body};
    }
    j.data = {d + hdr + body, 0};
  } else {
    // RFC 4106 §5, RFC 7634 §2.1: SPI ‖ Seq, or SPI ‖ Seqh ‖ Seql with ESN.
    if (esn_) {
      const uint32_t seqh_be = __builtin_bswap32(static_cast<uint32_t>(seq >> 32));
      recjob::store16(aad, {uint64_t{recjob::le32(d)} | uint64_t{seqh_be} << 32, recjob::le32(d + 4)});
      j.aad = {aad, 12};
    } else {
      j.aad = {d, 8};
    }
    j.data = {d + hdr, body};
  }
  j.tag = d + hdr + body;
}

// RFC 4303 Appendix A3.2: a "bad" packet is retried with successively larger
// Seqh values, a bounded number of times. One failure in resync_after is
// selected (A3.1 leaves the trigger local), so forgeries cannot make every
// packet cost resync_tries extra opens.
bool Sa::resync(uint8_t* d, size_t body, uint64_t& seq, AeadJob& job, uint8_t job_aad[16]) {
  if (!esn_ || resync_after_ == 0 || failed_in_a_row_ == 0 || failed_in_a_row_ % resync_after_ != 0)
    return false;
  const uint32_t seql = static_cast<uint32_t>(seq);
  uint64_t hi = seq >> 32;
  for (uint32_t t = 0; t < resync_tries_ && hi < std::numeric_limits<uint32_t>::max(); ++t) {
    ++hi;
    const uint64_t candidate = hi << 32 | seql;
    if (window_.check(candidate) != Status::ok) continue;
    ++counters_.resync_tries;
    if (open_as(d, body, candidate, job, job_aad)) {
      ++counters_.resyncs;
      seq = candidate;
      return true;
    }
  }
  return false;
}

bool Sa::open_as(uint8_t* d, size_t body, uint64_t seq, AeadJob& job, uint8_t job_aad[16]) {
  AeadJob j;
  alignas(16) uint8_t aad[16];
  uint8_t saved[4];
  open_job(d, body, seq, j, aad, saved);
  rl::open({&j, 1});
  if (gmac_ && esn_) {
    std::memcpy(d, d - 4, 4);
    std::memcpy(d - 4, saved, 4);
  }
  if (j.status != Status::ok) return false;
  std::memcpy(job_aad, aad, sizeof aad);
  if (j.aad.data() == aad) j.aad = {job_aad, j.aad.size()};
  job = j;
  return true;
}

// One packet at a time, §3.4.3's replay check (and, with ESN, Appendix A2's
// Seqh) comes before the ICV, against the window as the packets before it
// left it; a burst asked the window as it was before the burst. For a packet
// that failed as `seq`, ask again: a forged copy of a packet earlier in the
// burst is a replay, not an integrity failure, and a Seqh the window now
// gives differently (a resync earlier in the burst moved it) is tried.
Status Sa::open_again(uint8_t* d, size_t body, uint64_t& seq, AeadJob& job, uint8_t aad[16]) {
  uint64_t now_seq = seq;
  if (const Status rs = ask_window(seq, &now_seq); rs != Status::ok) return rs;
  if (now_seq == seq) return Status::auth_failed;
  seq = now_seq;  // what it is tried as, one packet at a time
  return open_as(d, body, now_seq, job, aad) ? Status::ok : Status::auth_failed;
}

// Sequence number 0 is never sent (§3.3.3: the first packet carries 1), so a
// packet that reads as 0 is too old as surely as one no Seqh fits.
Status Sa::ask_window(uint64_t seq, uint64_t* now) const {
  if (!seq_now(seq, now) || *now == 0) return Status::too_old;
  return window_.check(*now);
}

bool Sa::seq_now(uint64_t seq, uint64_t* now) const {
  *now = seq;
  if (!esn_) return true;
  const SeqHi hi = reconstruct_seq_hi(window_.empty() ? 0 : window_.highest(), window_.size(),
                                      static_cast<uint32_t>(seq));
  *now = uint64_t{hi.hi} << 32 | static_cast<uint32_t>(seq);
  return hi.valid;
}

// ---- UDP encapsulation framing (RFC 3948) -------------------------------------

Status classify_udp(std::span<const uint8_t> u) {
  if (u.size() == 1 && u[0] == 0xff) return Status::keepalive;  // §2.3
  if (u.size() < 4) return u.empty() ? Status::truncated : Status::malformed;
  if (load_be32(u.data()) == 0) return Status::not_protected;  // §2.2 non-ESP marker
  return u.size() < 8 ? Status::truncated : Status::ok;        // §2.1 ESP header
}

Status frame_ike(PacketView& pkt) {
  if (!pkt.well_formed()) return Status::invalid_argument;
  if (pkt.offset < 4) return Status::buffer_too_small;
  pkt.offset -= 4;
  pkt.length += 4;
  store_be32(pkt.data(), 0);
  return Status::ok;
}

Status make_keepalive(PacketView& pkt) {
  if (pkt.buf == nullptr || pkt.offset >= pkt.capacity) return Status::buffer_too_small;
  pkt.data()[0] = 0xff;
  pkt.length = 1;
  return Status::ok;
}

// ---- The SA database and open -------------------------------------------------

namespace {
bool by_spi(const std::unique_ptr<Sa>& a, uint32_t spi) { return a->spi() < spi; }
}  // namespace

Status Sadb::install(Direction dir, const SaConfig& cfg) {
  auto& t = table(dir);
  auto it = std::lower_bound(t.begin(), t.end(), cfg.spi, by_spi);
  if (it != t.end() && (*it)->spi() == cfg.spi) return Status::invalid_argument;
  auto sa = std::make_unique<Sa>();
  const Status st = sa->install(dir, cfg, clock_.read(), &events_);
  if (st != Status::ok) return st;
  if (cfg.lifetime.has_age_limit()) ++timed_;
  t.insert(it, std::move(sa));
  return Status::ok;
}

Status Sadb::remove(Direction dir, uint32_t spi) {
  auto& t = table(dir);
  auto it = std::lower_bound(t.begin(), t.end(), spi, by_spi);
  if (it == t.end() || (*it)->spi() != spi) return Status::unknown_epoch;
  if ((*it)->lifetime().has_age_limit()) --timed_;
  if (out_hint_ == it->get()) out_hint_ = nullptr;
  if (in_hint_ == it->get()) in_hint_ = nullptr;
  (*it)->expire();
  t.erase(it);
  return Status::ok;
}

Sa* Sadb::find(Direction dir, uint32_t spi) {
  auto& t = table(dir);
  auto it = std::lower_bound(t.begin(), t.end(), spi, by_spi);
  return it != t.end() && (*it)->spi() == spi ? it->get() : nullptr;
}

const Sa* Sadb::find(Direction dir, uint32_t spi) const {
  return const_cast<Sadb*>(this)->find(dir, spi);
}

size_t Sadb::seal(uint32_t spi, std::span<PacketView> pkts, std::span<const SealMeta> meta) {
  Sa* sa = find_cached(Direction::seal, spi);
  if (sa == nullptr) {
    for (PacketView& p : pkts) p.status = Status::unknown_epoch;
    return 0;
  }
  if (pkts.size() == 1 && meta.size() <= 1) return sa->seal_one(pkts, meta, burst_time());
  return sa->seal(pkts, meta, burst_time());
}

void Sadb::tick() {
  const uint64_t now = clock_.read();
  for (auto* t : {&out_, &in_})
    for (auto& sa : *t) {
      if (!sa->live()) continue;
      sa->soft_check(now);
      if (sa->admit(now, 0, 0) != Status::ok) sa->expire();
    }
}

size_t Sadb::open(std::span<PacketView> pkts, std::span<OpenInfo> info) {
  // One packet, or one chunk (the usual burst): straight to it.
  if (pkts.size() == 1 && info.size() <= 1) return open_one(pkts, info, false);
  if (pkts.size() - 1 < kMaxBurst && (info.empty() || info.size() == pkts.size()))
    return open_chunk(pkts, info, false, burst_time());
  return open_bursts(pkts, info, false);
}

size_t Sadb::open_udp(std::span<PacketView> pkts, std::span<OpenInfo> info) {
  if (pkts.size() == 1 && info.size() <= 1) return open_one(pkts, info, true);
  return open_bursts(pkts, info, true);
}

size_t Sadb::open_bursts(std::span<PacketView> pkts, std::span<OpenInfo> info, bool udp) {
  if (!info.empty() && info.size() != pkts.size()) {
    for (PacketView& p : pkts) p.status = Status::invalid_argument;
    return 0;
  }
  size_t ok = 0;
  for (size_t base = 0; base < pkts.size(); base += kMaxBurst) {
    const size_t n = std::min(kMaxBurst, pkts.size() - base);
    ok += open_chunk(pkts.subspan(base, n), info.empty() ? info : info.subspan(base, n), udp,
                     burst_time());
  }
  return ok;
}

// ---- Open: the lean path for the common burst -----------------------------------
// Most bursts are packets of one SA, in order, within lifetimes. For them,
// open_chunk runs these two loops instead of its general ones: the SA's
// constants sit in registers, ESN and IV layout are compile-time, and nothing
// is looked up, admitted or probed per packet. They take only what the
// general loops would accept with the same result, and stop at the first
// packet that needs anything else; the general loops go on from there.

template <bool kEsn, bool kExplicitIv>
[[gnu::always_inline]] inline size_t Sa::parse_run(std::span<PacketView> pkts, AeadJob* jobs,
                                                   uint64_t* seqs, uint8_t (*aad)[16]) const {
  const uint32_t spi_mem = __builtin_bswap32(spi_);  // SPI as it sits in memory
  const size_t hdr = header_len(), icv = key_.tag_len();
  // At least 8 bytes of payload ‖ padding ‖ pad length ‖ next header, so the
  // lean commit's padding (at most 6) always fits; in tunnel mode 28, so an
  // inner IPv4 header (20) fits too. Shorter packets take the general path.
  const size_t min_body = mode_ == Mode::tunnel ? 28 : 8, min_len = hdr + icv + min_body;
  const uint64_t top = window_.empty() ? 0 : window_.highest();
  const uint32_t window = window_.size();
  const uint32_t salt = recjob::le32(salt_);
  const AeadKey* const key = &key_;
  uint64_t prev = top;
  size_t i = 0;
  for (; i < pkts.size(); ++i) {
    const PacketView& p = pkts[i];
    uint8_t* const buf = p.buf;
    const uint32_t off = p.offset, len = p.length, cap = p.capacity;
    // well_formed(), in 64 bits where offset + length cannot wrap.
    if (buf == nullptr || uint64_t{off} + len > cap || len < min_len) break;
    uint8_t* const d = buf + off;
    const uint64_t h = recjob::le64(d);  // SPI ‖ Seql, memory order: read once
    if (static_cast<uint32_t>(h) != spi_mem) break;
    const uint32_t seql_mem = static_cast<uint32_t>(h >> 32);
    uint64_t seq = static_cast<uint32_t>(__builtin_bswap64(h));  // Seql
    std::span<const uint8_t> a{d, 8};
    if constexpr (kEsn) {
      const SeqHi hi = reconstruct_seq_hi(top, window, static_cast<uint32_t>(seq));
      if (!hi.valid) break;
      seq |= uint64_t{hi.hi} << 32;
      // RFC 4106 §5: SPI ‖ Seqh ‖ Seql, one 16-byte store (core/job_fill.h).
      recjob::store16(aad[i], {uint64_t{spi_mem} | uint64_t{__builtin_bswap32(hi.hi)} << 32,
                               seql_mem});
      a = {aad[i], 12};
    }
    // Above every earlier packet and the window top: the window check says
    // ok, no two packets of the run share a number, and 0 never gets here.
    if (seq <= prev) break;
    prev = seq;
    seqs[i] = seq;
    const size_t body = len - hdr - icv;
    recjob::make(jobs + i, key,
                 kExplicitIv ? recjob::salt_explicit(salt, d + 8) : recjob::salt_seq(salt, seq), a,
                 {d + hdr, body}, d + hdr + body);
  }
  return i;
}

namespace {
// §2.4 padding of 0..6 bytes, checked on t << 16 (t: the 8 bytes that end
// with the next header): the padding bytes 1, 2, .., pad are then its top
// `pad` bytes.
struct PadRule {
  uint64_t expect, mask;
};
constexpr PadRule pad_rule(unsigned pad) {
  constexpr uint64_t kOneToSix = 0x060504030201;  // 01 02 .. 06 in memory order
  if (pad == 0) return {0, 0};
  const uint64_t mask = ~uint64_t{0} << (64 - 8 * pad);
  return {(kOneToSix << (64 - 8 * pad)) & mask, mask};
}
// One rule per pad length byte: above 6 (left to the general commit) a rule
// no t << 16 meets, as its low 16 bits are 0.
constexpr std::array<PadRule, 256> kPadRules = [] {
  std::array<PadRule, 256> r{};
  for (unsigned pad = 0; pad < 256; ++pad)
    r[pad] = pad <= 6 ? pad_rule(pad) : PadRule{1, ~uint64_t{0}};
  return r;
}();
}  // namespace

// What the general commit does for an authenticated packet of a quiet SA
// (no admission or soft check) that sits above the window top (no second
// window check) with padding 1, 2, .. of at most 6 bytes and a next header
// that is not 59 (in tunnel mode: the inner IP version's, with an inner
// header long enough to state its length). Counters are summed in registers
// and written once; the window takes the run's numbers in one commit_rising.
template <bool kTunnel, bool kInfo>
[[gnu::always_inline]] inline size_t Sa::commit_run(std::span<PacketView> pkts, std::span<OpenInfo> info, const AeadJob* jobs,
                      const uint64_t* seqs, size_t k, size_t n, size_t& ok, bool resume) {
  // Resuming after the general commit of a packet of the run: that commit
  // may have found the integrity limit (dying_), or, by a resync, moved the
  // window top past the rest of the run (the run rises, and each commit
  // raises the top to its own number: nothing else can). A first call comes
  // right after parse_run and a quiet() that said no to both.
  if (resume && (dying_ || k == n || (!window_.empty() && seqs[k] <= window_.highest())))
    return k;
  const uint32_t hdr = static_cast<uint32_t>(header_len());
  const size_t k0 = k;
  uint64_t bytes = 0;
  for (; k < n; ++k) {
    const AeadJob& j = jobs[k];
    if (j.status != Status::ok) break;
    const uint8_t* const b = j.data.data();
    const size_t body = j.data.size();
    // The 8 bytes that end with the next header, one load: inside the
    // packet, as the ESP header alone is 8 bytes.
    const uint64_t t = recjob::le64(b + body - 8);
    const unsigned pad = static_cast<unsigned>(t >> 48) & 0xff;
    const uint8_t nh = static_cast<uint8_t>(t >> 56);
    // Padding of at most 6 (the rule for more never matches), so that with
    // body >= 8 (parse_run) pad + 2 <= body.
    const PadRule r = kPadRules[pad];
    if (((t << 16) ^ r.expect) & r.mask) break;
    const size_t payload = body - 2 - pad;
    size_t tfc = 0;
    if constexpr (kTunnel) {
      // §2.7 TFC padding: what follows the inner packet's own length.
      const unsigned version = b[0] >> 4;  // payload >= 20: body >= 28 (parse_run)
      size_t inner;
      if (nh == kNextHeaderIpv4 && version == 4)
        inner = load_be16(b + 2);
      else if (nh == kNextHeaderIpv6 && version == 6 && payload >= 40)
        inner = size_t{40} + load_be16(b + 4);
      else
        break;
      if (inner - 1 < payload - 1) tfc = payload - inner;  // 0 < inner < payload
    } else {
      if (nh == kNextHeaderNone) break;
    }
    bytes += payload;
    PacketView& p = pkts[k];
    p.offset += hdr;
    p.length = static_cast<uint32_t>(payload - tfc);
    p.status = Status::ok;
    if constexpr (kInfo) info[k] = OpenInfo{spi_, seqs[k], nh, static_cast<uint32_t>(tfc)};
  }
  if (k != k0) {
    // The first packet that authenticates tells the IKE daemon the peer has
    // moved to this SA (counters_ are exact here: nothing added yet).
    if (counters_.packets == 0) event(KeyEvent::peer_updated);
    if (k - k0 == 1)
      window_.commit(seqs[k0]);
    else
      window_.commit_rising(seqs + k0, k - k0);
    counters_.packets += k - k0;
    counters_.bytes += bytes;
    failed_in_a_row_ = 0;
    ok += k - k0;
  }
  return k;
}

// ---- Open ----------------------------------------------------------------------
// Two-phase (RFC 4303 §3.4): parse, route by SPI, reconstruct the sequence
// number, replay *check*; one AEAD call for the chunk; then, for each packet
// that authenticated, check the trailer (§2.4) and *commit* the window,
// counters and lifetime. Any packet that does not end as ok/dummy leaves its
// bytes as they arrived (a decrypted one is sealed again, which restores the
// ciphertext and tag exactly) and its SA's window and sequence state untouched.
//
// A prefix of packets of the first packet's SA (not GMAC, quiet for the
// prefix) takes the lean loops above on both sides of the AEAD call; the
// general loops (open_rest) take over at the first packet that is anything
// else (another SPI, a replay, a short packet, ...) and, after the AEAD call,
// for each prefix packet the lean commit leaves (failed ICV, bad padding,
// dummy, a resync that moved the window). esp_test compares bursts that mix
// both with opens one packet at a time.
size_t Sadb::open_chunk(std::span<PacketView> pkts, std::span<OpenInfo> info, bool udp,
                        uint64_t now) {
  JobArray jobs;
  uint64_t seqs[kMaxBurst];  // the lean prefix's sequence numbers
  alignas(16) uint8_t aad[kMaxBurst][16];
  AeadJob* const raw = static_cast<AeadJob*>(jobs.slot(0));
  // The lean prefix: what it takes, the general loop would take too (well
  // formed, long enough, the SPI of `fast`, so nonzero: ESP to RFC 3948's
  // classifier as well; admitted, as the SA is quiet; window check ok).
  Sa* fast = nullptr;
  size_t fast_n = 0;
  const PacketView& p0 = pkts[0];  // open_bursts passes 1..kMaxBurst packets
  if (p0.well_formed() && p0.length >= 8) {
    Sa* sa = find_cached(Direction::open, load_be32(p0.data()));
    if (sa != nullptr && !sa->gmac_) {
      const bool iv = sa->iv_len_ != 0;
      fast_n = sa->esn_ ? (iv ? sa->parse_run<true, true>(pkts, raw, seqs, aad)
                              : sa->parse_run<true, false>(pkts, raw, seqs, aad))
                        : (iv ? sa->parse_run<false, true>(pkts, raw, seqs, aad)
                              : sa->parse_run<false, false>(pkts, raw, seqs, aad));
      // Quiet for the prefix (lengths bound the payloads, and every length
      // is below 2^32: only an SA near a byte limit needs them summed): no
      // packet of it can reach a lifetime, so none is admitted or
      // soft-checked.
      const auto quiet_prefix = [&] {
        if (sa->quiet(now, fast_n, uint64_t{fast_n} << 32)) return true;
        uint64_t bytes = 0;
        for (size_t i = 0; i < fast_n; ++i) bytes += pkts[i].length;
        return sa->quiet(now, fast_n, bytes);
      };
      if (fast_n != 0 && quiet_prefix())
        fast = sa;
      else
        fast_n = 0;
    }
  }
  if (fast != nullptr && fast_n == pkts.size()) {  // the whole chunk: no general parse
    rl::open({raw, fast_n});
    size_t ok = 0;
    const bool tunnel = fast->mode_ == Mode::tunnel;
    const size_t k =
        info.empty()
            ? (tunnel ? fast->commit_run<true, false>(pkts, info, raw, seqs, 0, fast_n, ok, false)
                      : fast->commit_run<false, false>(pkts, info, raw, seqs, 0, fast_n, ok, false))
            : (tunnel ? fast->commit_run<true, true>(pkts, info, raw, seqs, 0, fast_n, ok, false)
                      : fast->commit_run<false, true>(pkts, info, raw, seqs, 0, fast_n, ok, false));
    if (k == fast_n) return ok;
    return open_rest(pkts, info, udp, now, raw, seqs, aad, fast, fast_n, true, k, ok);
  }
  return open_rest(pkts, info, udp, now, raw, seqs, aad, fast, fast_n, false, 0, 0);
}

// A burst of one packet: open_chunk's lean path for a chunk of one, its
// questions in its order (well formed and at least an ESP header; the SA of
// the SPI, not GMAC; parse_run; quiet for the packet), parse_run and
// commit_run inlined with the length known. A packet the lean path would not
// take goes to open_chunk before anything is changed (the SA lookup only
// moves find_cached's hint, which open_chunk would move the same way); the
// clock is read once and handed over. After the AEAD call, a packet the lean
// commit leaves (failed ICV, padding, dummy, ...) goes to open_rest as from
// open_chunk. UDP-encapsulated packets take the same path: an SA's SPI is
// nonzero and 8 bytes or more are neither a keepalive nor an IKE message
// (classify_udp says ok). Held to open_chunk by the tests that open one
// packet at a time and in bursts (esp_test, esp_burst_fuzz).
size_t Sadb::open_one(std::span<PacketView> one, std::span<OpenInfo> info, bool udp) {
  const uint64_t now = burst_time();
  const PacketView& p0 = one[0];
  if (!p0.well_formed() || p0.length < 8) return open_chunk(one, info, udp, now);
  Sa* sa = find_cached(Direction::open, load_be32(p0.data()));
  if (sa == nullptr || sa->gmac_) return open_chunk(one, info, udp, now);
  alignas(AeadJob) unsigned char slot[sizeof(AeadJob)];
  AeadJob* const raw = reinterpret_cast<AeadJob*>(slot);  // constructed by parse_run
  uint64_t seqs[1];
  alignas(16) uint8_t aad[1][16];
  const std::span<PacketView> p{one.data(), 1};
  const bool iv = sa->iv_len_ != 0;
  const size_t took = sa->esn_ ? (iv ? sa->parse_run<true, true>(p, raw, seqs, aad)
                                     : sa->parse_run<true, false>(p, raw, seqs, aad))
                               : (iv ? sa->parse_run<false, true>(p, raw, seqs, aad)
                                     : sa->parse_run<false, false>(p, raw, seqs, aad));
  if (took == 0 || !sa->quiet(now, 1, p0.length)) return open_chunk(one, info, udp, now);
  AeadJob* const job = std::launder(raw);
  rl::open({job, 1});
  size_t ok = 0;
  const bool tunnel = sa->mode_ == Mode::tunnel;
  const size_t k =
      info.empty()
          ? (tunnel ? sa->commit_run<true, false>(p, info, job, seqs, 0, 1, ok, false)
                    : sa->commit_run<false, false>(p, info, job, seqs, 0, 1, ok, false))
          : (tunnel ? sa->commit_run<true, true>(p, info, job, seqs, 0, 1, ok, false)
                    : sa->commit_run<false, true>(p, info, job, seqs, 0, 1, ok, false));
  if (k == 1) return ok;
  return open_rest(one, info, udp, now, job, seqs, aad, sa, 1, true, 0, 0);
}

size_t Sadb::open_rest(std::span<PacketView> pkts, std::span<OpenInfo> info, bool udp,
                       uint64_t now, AeadJob* jobs, const uint64_t* seqs, uint8_t (*aad)[16],
                       Sa* fast, size_t fast_n, bool opened, size_t k, size_t ok) {
  struct Slot {
    Sa* sa;
    uint64_t seq;
    uint32_t pkt;
    bool borrowed;  // GMAC with ESN: four headroom bytes hold SPI
    bool quiet;     // the SA cannot reach a lifetime in this chunk (Sa::quiet)
    uint8_t saved[4];
    // Refused by the window as it was before the chunk, not opened: the
    // commit asks the window again as the packets before it left it.
    bool deferred = false;
  };
  Slot slots[kMaxBurst];
  size_t n = fast_n;
  // Whether the accepted packets are all of one SA with rising sequence
  // numbers: then none repeats another of this chunk, and the commit pass
  // need not check the window a second time.
  bool rising = true;
  bool any_borrowed = false;

  // Packets the lean commit wrote whole OpenInfos for: [0, k).
  if (!info.empty()) {
    std::fill(info.begin() + static_cast<ptrdiff_t>(k), info.end(), OpenInfo{});
    for (size_t m = k; m < fast_n; ++m) info[m].spi = fast->spi_;
  }

  if (!opened) {
    // Headers and trailers are the only bytes ESP itself reads, one cache
    // line each per packet: ask for all of them at once so the misses overlap.
    uint64_t total = 0;
    for (size_t i = fast_n; i < pkts.size(); ++i) {
      const PacketView& p = pkts[i];
      if (p.well_formed()) __builtin_prefetch(p.data());
    }
    for (const PacketView& p : pkts) total += p.length;
    // The general loop compares with the last accepted packet (acc); it
    // asks whether an SA is quiet for the whole chunk.
    if (n != 0) slots[n - 1] = Slot{fast, seqs[n - 1], static_cast<uint32_t>(n - 1), false, true, {}};
    const Slot* acc = n != 0 ? &slots[n - 1] : nullptr;  // the last packet given an AEAD job
    Sa* last = nullptr;
    bool last_quiet = false;
    for (size_t i = fast_n; i < pkts.size(); ++i) {
      PacketView& p = pkts[i];
      if (!p.well_formed()) {
        p.status = Status::invalid_argument;
        continue;
      }
      if (udp) {
        const Status c = classify_udp(p.bytes());
        if (c == Status::not_protected) {
          p.offset += 4;
          p.length -= 4;
        }
        if (c != Status::ok) {
          p.status = c;
          continue;
        }
      }
      if (p.length < 8) {
        p.status = Status::truncated;
        continue;
      }
      const uint8_t* h = p.data();
      const uint32_t spi = load_be32(h);
      Sa* sa = last != nullptr && last->spi() == spi ? last : find(Direction::open, spi);
      if (sa == nullptr) {
        p.status = Status::unknown_epoch;
        continue;
      }
      if (sa != last) last_quiet = sa->quiet(now, pkts.size(), total);
      last = sa;
      if (!info.empty()) info[i].spi = spi;
      if (!sa->live() || sa->dying_) {  // a dead SA's lengths mean nothing (its key is wiped)
        p.status = Status::key_expired;
        continue;
      }
      const size_t hdr = sa->header_len(), icv = sa->icv_len();
      if (p.length < hdr + 2 + icv) {
        p.status = Status::truncated;
        continue;
      }
      if (const Status st = last_quiet ? Status::ok : sa->admit(now, 1, 0); st != Status::ok) {
        p.status = st;
        continue;
      }
      uint64_t seq = 0;
      if (sa->ask_window(load_be32(h + 4), &seq) != Status::ok) {
        // One at a time the window (§3.4.3, Appendix A2) is asked as the
        // packets before this one left it: a repeat may be too old by then,
        // or with ESN have another Seqh (even one that no longer reads as
        // 0), and the SA may have died. The commit asks again, in order;
        // the job has no key, so the AEAD burst passes it by.
        ::new (jobs + n) AeadJob{};
        slots[n] = Slot{sa, seq, static_cast<uint32_t>(i), false, last_quiet, {}, true};
        ++n;
        continue;
      }
      const size_t body = p.length - hdr - icv;  // payload ‖ padding ‖ pad length ‖ next header
      const bool borrow = sa->gmac_ && sa->esn_;
      if (borrow && p.offset < 4) {
        p.status = Status::buffer_too_small;
        continue;
      }
      any_borrowed |= borrow;
      if (acc != nullptr && (acc->sa != sa || seq <= acc->seq)) rising = false;
      AeadJob& j = *::new (jobs + n) AeadJob{};
      Slot& s = slots[n];
      s.sa = sa;
      s.seq = seq;
      s.pkt = static_cast<uint32_t>(i);
      s.borrowed = borrow;
      s.quiet = last_quiet;
      sa->open_job(p.data(), body, seq, j, aad[n], s.saved);
      acc = &s;
      ++n;
    }

    rl::open({jobs, n});

    if (any_borrowed) {
      for (size_t m = fast_n; m < n; ++m) {
        if (!slots[m].borrowed) continue;
        uint8_t* d = pkts[slots[m].pkt].data();
        std::memcpy(d, d - 4, 4);
        std::memcpy(d - 4, slots[m].saved, 4);
      }
    }

    // The commit pass reads each trailer and, in tunnel mode, the inner IP
    // header: lines the AEAD touched long ago in a large burst.
    for (size_t m = fast_n; m < n; ++m) {
      if (slots[m].deferred) continue;
      __builtin_prefetch(jobs[m].tag - 1);
      const Sa& sa = *slots[m].sa;
      if (sa.mode_ == Mode::tunnel)
        __builtin_prefetch(pkts[slots[m].pkt].data() + sa.header_len());
    }
  }
  bool any_dying = false;

  // The general commit of packet m.
  const auto commit = [&](size_t m) {
    AeadJob& j = jobs[m];
    Slot& s = slots[m];
    Sa& sa = *s.sa;
    PacketView& p = pkts[s.pkt];
    if (sa.dying_) {
      // A packet before this one in the burst reached the integrity limit:
      // one at a time this one finds its SA dead before anything else.
      if (j.status == Status::ok && !sa.gmac_) rl::seal({&j, 1});  // bytes as they arrived
      p.status = Status::key_expired;
      return;
    }
    if (s.deferred) {
      // Refused before the AEAD as the window stood before the chunk.
      uint64_t now_seq = s.seq;
      if (const Status rs = sa.ask_window(s.seq, &now_seq); rs != Status::ok) {
        ++sa.counters_.replay;
        p.status = rs;
        return;
      }
      if (sa.gmac_ && sa.esn_ && p.offset < 4) {  // as the parse loop: no headroom for the AAD's Seqh
        p.status = Status::buffer_too_small;
        return;
      }
      // With ESN a Seqh the packets before it moved: tried as that one.
      s.seq = now_seq;
      rising = false;
      const size_t body = p.length - sa.header_len() - sa.icv_len();
      // A failure goes on below as any other: open_again, asked for the
      // same number, says auth_failed at once; then the resync rule.
      j.status = sa.open_as(p.data(), body, now_seq, j, aad[m]) ? Status::ok : Status::auth_failed;
    } else if (uint64_t now_seq = 0; j.status == Status::ok && !rising && sa.esn_ &&
                              (!sa.seq_now(s.seq, &now_seq) || now_seq != s.seq)) {
      // Authenticated as the Seqh the window gave before the burst, but the
      // window as the packets before it left it (a resync moved it) gives
      // another: one packet at a time it would have been tried as that. Its
      // bytes go back as they arrived and open_again below does so.
      if (!sa.gmac_) rl::seal({&j, 1});
      j.status = Status::auth_failed;
    }
    if (j.status == Status::auth_failed) {
      const size_t body = p.length - sa.header_len() - sa.icv_len();
      const Status again = sa.open_again(p.data(), body, s.seq, j, aad[m]);
      if (again != Status::ok && again != Status::auth_failed) {
        ++sa.counters_.replay;
        p.status = again;
        return;
      }
      if (again == Status::auth_failed) ++sa.failed_in_a_row_;
      if (again == Status::ok || sa.resync(p.data(), body, s.seq, j, aad[m])) {
        j.status = Status::ok;
        // A new sequence number: it and everything after it is checked
        // against the window again.
        rising = false;
      }
    }
    if (j.status != Status::ok) {
      p.status = j.status;
      if (j.status == Status::auth_failed) {
        ++sa.counters_.integrity_failed;
        if (sa.counters_.integrity_failed >= sa.limits_.max_auth_failures) {
          sa.dying_ = true;  // wiped after this chunk: its other jobs may need the key
          sa.died_at_ = s.pkt;
          any_dying = true;
          sa.event(KeyEvent::integrity_limit);
        }
      }
      return;
    }
    // The plaintext (or, for GMAC, the authenticated cleartext) trailer.
    const size_t hdr = sa.header_len(), icv = sa.icv_len();
    const size_t body = p.length - hdr - icv;
    const uint8_t* b = p.data() + hdr;
    const uint8_t pad = b[body - 2], nh = b[body - 1];
    Status st = Status::ok;
    size_t payload = 0;
    if (size_t{pad} + 2 > body) {
      st = Status::malformed;
    } else {
      payload = body - 2 - pad;
      if (!padding_ok(b + payload, pad)) st = Status::malformed;
      if (sa.mode_ == Mode::tunnel && nh != kNextHeaderNone) {
        const unsigned version = payload > 0 ? b[0] >> 4 : 0;
        if (!((nh == kNextHeaderIpv4 && version == 4) || (nh == kNextHeaderIpv6 && version == 6)))
          st = Status::malformed;
      }
    }
    if (st == Status::malformed) {
      ++sa.counters_.malformed;
    } else if (!sa.live()) {
      st = Status::key_expired;
    } else if (Status rs = rising ? Status::ok : sa.window_.check(s.seq);
               rs != Status::ok) {
      ++sa.counters_.replay;  // the same sequence number twice in one burst
      st = rs;
    } else if (!s.quiet) {
      st = sa.admit(now, 1, payload);
    }
    if (st != Status::ok) {
      if (!sa.gmac_) rl::seal({&j, 1});  // re-encrypt: bytes as they arrived
      p.status = st;
      return;
    }
    // Commit. The first packet that authenticates on an inbound SA tells the
    // IKE daemon the peer has moved to it (the old SA can go once late
    // packets are over).
    if (sa.counters_.packets == 0) sa.event(KeyEvent::peer_updated);
    sa.failed_in_a_row_ = 0;
    sa.window_.commit(s.seq);
    ++sa.counters_.packets;
    sa.counters_.bytes += payload;
    if (!s.quiet) sa.soft_check(now);
    size_t tfc = 0;
    if (sa.mode_ == Mode::tunnel) {
      const size_t inner = inner_ip_length(b, payload, nh);
      if (inner != 0 && inner < payload) tfc = payload - inner;  // §2.7 TFC padding
    }
    p.offset += static_cast<uint32_t>(hdr);
    p.length = static_cast<uint32_t>(payload - tfc);
    if (!info.empty()) {
      info[s.pkt].seq = s.seq;
      info[s.pkt].next_header = nh;
      info[s.pkt].tfc_stripped = static_cast<uint32_t>(tfc);
    }
    if (nh == kNextHeaderNone) {
      ++sa.counters_.dummy;
      p.status = Status::dummy_packet;  // §2.6: authenticated, discarded
      return;
    }
    p.status = Status::ok;
    ++ok;
  };

  if (fast != nullptr) {
    const bool tunnel = fast->mode_ == Mode::tunnel;
    while (k < fast_n) {
      k = info.empty()
              ? (tunnel ? fast->commit_run<true, false>(pkts, info, jobs, seqs, k, fast_n, ok, true)
                        : fast->commit_run<false, false>(pkts, info, jobs, seqs, k, fast_n, ok, true))
              : (tunnel ? fast->commit_run<true, true>(pkts, info, jobs, seqs, k, fast_n, ok, true)
                        : fast->commit_run<false, true>(pkts, info, jobs, seqs, k, fast_n, ok, true));
      if (k == fast_n) break;
      slots[k] = Slot{fast, seqs[k], static_cast<uint32_t>(k), false, true, {}};
      commit(k++);
    }
  }
  for (; k < n; ++k) commit(k);

  if (any_dying) {
    // One at a time, a packet after the one that reached its SA's integrity
    // limit finds the SA dead before its length is checked or the window is
    // asked: what the parse loop refused after that point for its length
    // (with the SPI read), the window or headroom is key_expired, and no
    // replay.
    for (size_t i = fast_n; i < pkts.size(); ++i) {
      PacketView& p = pkts[i];
      const bool replay = p.status == Status::replayed || p.status == Status::too_old;
      const bool short_body = p.status == Status::truncated && p.well_formed() && p.length >= 8;
      if (!replay && !short_body && p.status != Status::buffer_too_small) continue;
      Sa* sa = find(Direction::open, load_be32(p.data()));
      if (sa == nullptr || !sa->dying_ || i < sa->died_at_) continue;
      if (replay) --sa->counters_.replay;
      p.status = Status::key_expired;
    }
    for (size_t m = 0; m < n; ++m) {
      Sa* sa = m < fast_n ? fast : slots[m].sa;
      if (sa->dying_ && sa->live()) sa->expire();
    }
  }
  return ok;
}

}  // namespace rl::esp
