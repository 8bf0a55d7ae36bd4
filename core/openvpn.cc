// The OpenVPN data channel: see openvpn.h for the packets, the keys and the
// limits. This file reads top to bottom: helpers, keys, seal, open.
#include "core/openvpn.h"

#include <openssl/mem.h>

#include <algorithm>
#include <cstring>

#include "core/aead.h"
#include "core/bytes.h"
#include "core/job_fill.h"

namespace rl::openvpn {

namespace {

// nonce = packet-id (BE32) ‖ implicit IV (crypto.c openvpn_encrypt_aead):
// the IV's part of the two little-endian words, and the nonce of an ID.
recjob::Block16 iv_words(const uint8_t iv[kImplicitIvLen]) {
  return {uint64_t{load_le32(iv)} << 32, load_le32(iv + 4)};
}
recjob::Block16 nonce_of(uint32_t packet_id, recjob::Block16 iv) {
  return {iv.lo | __builtin_bswap32(packet_id), iv.hi};
}

// AES blocks of a plaintext plus the call: what OpenVPN adds to a GCM key's
// usage per packet (crypto.c aead_usage_limit_reached).
uint64_t gcm_usage_of(uint64_t len) { return (len + 15) / 16 + 1; }
constexpr uint64_t kGcmUsageSoft = kGcmUsageLimit / 8 * 7;

}  // namespace

KeySet key_set(std::span<const uint8_t, kKeyMaterialLen> m, Suite suite, uint8_t key_id,
               bool tls_server) {
  const size_t key_len = suite_info(suite).key_len;
  const uint8_t* client = m.data();        // keys[0]: the TLS client's sending half
  const uint8_t* server = m.data() + 128;  // keys[1]
  const uint8_t* send = tls_server ? server : client;
  const uint8_t* recv = tls_server ? client : server;
  KeySet ks;
  ks.key_id = key_id;
  ks.suite = suite;
  ks.send_key = {send, key_len};
  ks.send_iv = {send + 64, kImplicitIvLen};
  ks.recv_key = {recv, key_len};
  ks.recv_iv = {recv + 64, kImplicitIvLen};
  return ks;
}

uint8_t opcode_of(std::span<const uint8_t> d) { return d.empty() ? 0 : d[0] >> 3; }

// ---- Keys -----------------------------------------------------------------

Channel::Channel(Config cfg, Clock clock) : cfg_(cfg), clock_(clock) {}
Channel::~Channel() { clear(); }

void Channel::wipe(Slot& s) {
  s.send.expire();
  s.recv.expire();
  OPENSSL_cleanse(s.send_iv, sizeof s.send_iv);
  OPENSSL_cleanse(s.recv_iv, sizeof s.recv_iv);
  s.window.reset();
}

Status Channel::install(const KeySet& ks, const Limits* limits) {
  const size_t key_len = suite_info(ks.suite).key_len;
  const bool config_ok = cfg_.peer_id <= kMaxPeerId && cfg_.replay_window != 0 &&
                         cfg_.replay_window <= ReplayWindow::kLargestSize;
  if (!config_ok || ks.key_id >= kSlots || key_len == 0 || ks.send_key.size() != key_len ||
      ks.recv_key.size() != key_len || ks.send_iv.size() != kImplicitIvLen ||
      ks.recv_iv.size() != kImplicitIvLen)
    return Status::invalid_argument;
  Slot& s = slots_[ks.key_id];
  wipe(s);  // a key_id comes back after eight renegotiations
  const Limits lim = limits ? *limits : default_limits(Protocol::openvpn, ks.suite);
  const uint64_t now = clock_.read();
  Status st = s.send.install(ks.key_id, Direction::seal, ks.suite, ks.send_key, lim, now, &events_);
  if (st == Status::ok) st = s.recv.install(ks.key_id, Direction::open, ks.suite, ks.recv_key, lim, now, &events_);
  if (st != Status::ok) {  // not reached with the lengths checked above
    wipe(s);
    if (primary_ == ks.key_id) primary_ = kNone;
    return st;
  }
  std::memcpy(s.send_iv, ks.send_iv.data(), kImplicitIvLen);
  std::memcpy(s.recv_iv, ks.recv_iv.data(), kImplicitIvLen);
  s.window.init(cfg_.replay_window);
  s.next_id = 1;
  s.gcm_usage = 0;
  s.gcm = ks.suite != Suite::chacha20_poly1305;
  s.usage_soft_sent = s.wrap_soft_sent = false;
  primary_ = static_cast<int8_t>(ks.key_id);
  KeyEvent e;
  e.epoch = ks.key_id;
  e.dir = Direction::seal;
  e.kind = KeyEvent::installed;
  events_.push(e);
  return Status::ok;
}

Status Channel::expire(uint8_t key_id) {
  if (key_id >= kSlots || !slots_[key_id].live()) return Status::unknown_epoch;
  wipe(slots_[key_id]);
  if (primary_ == key_id) primary_ = kNone;
  return Status::ok;
}

void Channel::clear() {
  for (Slot& s : slots_) wipe(s);
  primary_ = kNone;
}

std::optional<uint8_t> Channel::primary() const {
  if (primary_ == kNone) return std::nullopt;
  return static_cast<uint8_t>(primary_);
}

std::optional<uint32_t> Channel::next_packet_id() const {
  if (primary_ == kNone || slots_[primary_].next_id > UINT32_MAX) return std::nullopt;
  return static_cast<uint32_t>(slots_[primary_].next_id);
}

Status Channel::skip_packet_ids(uint32_t count) {
  if (primary_ == kNone) return Status::unknown_epoch;
  Slot& s = slots_[primary_];
  if (s.next_id <= UINT32_MAX) s.next_id = std::min<uint64_t>(s.next_id + count, UINT32_MAX);
  return Status::ok;
}

void Channel::debug_set_gcm_usage(uint64_t usage) {
  if (primary_ != kNone) slots_[primary_].gcm_usage = usage;
}

const KeyCounters* Channel::counters(uint8_t key_id, Direction dir) const {
  if (key_id >= kSlots || !slots_[key_id].live()) return nullptr;
  return dir == Direction::seal ? &slots_[key_id].send.counters() : &slots_[key_id].recv.counters();
}

void Channel::debug_key_bytes(std::span<std::span<const uint8_t>> out) const {
  size_t k = 0;
  for (const Slot& s : slots_) {
    if (k < out.size()) out[k++] = s.send.aead().debug_raw_bytes();
    if (k < out.size()) out[k++] = s.recv.aead().debug_raw_bytes();
    if (k < out.size()) out[k++] = {s.send_iv, kImplicitIvLen};
    if (k < out.size()) out[k++] = {s.recv_iv, kImplicitIvLen};
  }
}

// "Renegotiate now", once per reason per key (ssl.c: the packet ID close to
// wrapping, or the AEAD usage limit near).
void Channel::soft_event(const Slot& s, uint8_t key_id) {
  KeyEvent e;
  e.epoch = key_id;
  e.dir = Direction::seal;
  e.kind = KeyEvent::soft_limit;
  e.records = s.send.counters().sealed;
  e.bytes = s.send.counters().bytes_sealed;
  events_.push(e);
}

// ---- Seal -----------------------------------------------------------------

size_t Channel::seal(std::span<PacketView> pkts) {
  size_t ok = 0;
  for (size_t i = 0; i < pkts.size(); i += kMaxBurst)
    ok += seal_chunk(pkts.subspan(i, std::min(kMaxBurst, pkts.size() - i)));
  return ok;
}

size_t Channel::seal_chunk(std::span<PacketView> pkts) {
  if (primary_ == kNone || !slots_[primary_].send.live()) {
    for (PacketView& p : pkts) p.status = Status::key_expired;
    return 0;
  }
  Slot& s = slots_[primary_];
  const uint8_t key_id = static_cast<uint8_t>(primary_);
  const bool v2 = cfg_.data_v2;
  const size_t over = v2 ? kOverheadV2 : kOverheadV1;
  // V2: op ‖ peer-id ‖ packet-id in one 8-byte store; V1: the op byte.
  const uint64_t head = uint64_t{uint32_t{kDataV2} << 27 | uint32_t{key_id} << 24 | cfg_.peer_id} << 32;
  const uint8_t op1 = static_cast<uint8_t>(kDataV1 << 3 | key_id);
  const AeadKey* key = &s.send.aead();
  const recjob::Block16 iv = iv_words(s.send_iv);
  BurstClock clock(clock_);  // read only for a key with an age limit
  size_t n = 0;
  uint32_t at[kMaxBurst];
  // The header (in one store for V2) and the job of packet i, sealed as `id`.
  auto emit = [&](size_t i, uint32_t id) {
    PacketView& p = pkts[i];
    uint8_t* d = p.data();
    uint8_t* tag = d - kTagLen;
    uint8_t* pid = tag - kPacketIdLen;
    if (v2) {
      store_be64(pid - 4, head | id);
    } else {
      pid[-1] = op1;
      store_be32(pid, id);
    }
    const std::span<const uint8_t> aad = v2 ? std::span<const uint8_t>{pid - 4, 4 + kPacketIdLen}
                                            : std::span<const uint8_t>{pid, kPacketIdLen};
    recjob::make(&jobs_[n], key, nonce_of(id, iv), aad, {d, p.length}, tag);
    at[n++] = static_cast<uint32_t>(i);
  };
  auto bad_view = [&](PacketView& p) {
    if (!p.well_formed() || p.length == 0) p.status = Status::invalid_argument;
    else if (p.offset < over) p.status = Status::buffer_too_small;
    else return false;
    return true;
  };
  // The usual burst, far from every limit and event (keys.h far_from_limits:
  // counting it once gives what one at a time would): the key asked once,
  // IDs and usage in locals, the burst counted at the end.
  const uint64_t most = pkts.size() * uint64_t{UINT32_MAX};  // bytes, as views hold at most
  if (s.next_id + pkts.size() <= kPacketIdWrapTrigger && recjob::far_from_limits(s.send, pkts.size(), most) &&
      (!s.gcm || s.gcm_usage + pkts.size() * gcm_usage_of(UINT32_MAX) < kGcmUsageSoft) &&
      s.send.admit_seal(0, 0, clock.now_for(s.send)) == Status::ok) {
    uint64_t id = s.next_id, usage = 0, bytes = 0;
    for (size_t i = 0; i < pkts.size(); ++i) {
      if (bad_view(pkts[i])) continue;
      bytes += pkts[i].length;
      usage += gcm_usage_of(pkts[i].length);
      emit(i, static_cast<uint32_t>(id++));
    }
    s.next_id = id;
    if (s.gcm) s.gcm_usage += usage;
    s.send.admit_seal(n, bytes, clock.now_for(s.send));  // ok: far from the limits
  } else {
    for (size_t i = 0; i < pkts.size(); ++i) {
      PacketView& p = pkts[i];
      if (bad_view(p)) continue;
      // No wrap (packet_id.c packet_id_send_update); GCM's usage bound.
      const uint64_t usage = s.gcm ? gcm_usage_of(p.length) : 0;
      const Status st = s.next_id > UINT32_MAX || s.gcm_usage + usage > kGcmUsageLimit
                            ? Status::key_exhausted
                            : s.send.admit_seal(1, p.length, clock.now_for(s.send));
      if (st != Status::ok) {
        p.status = st;
        continue;
      }
      const uint32_t id = static_cast<uint32_t>(s.next_id++);
      s.gcm_usage += usage;
      emit(i, id);
      if (id >= kPacketIdWrapTrigger && !s.wrap_soft_sent) {  // packet_id_close_to_wrapping
        s.wrap_soft_sent = true;
        soft_event(s, key_id);
      }
      if (s.gcm && s.gcm_usage >= kGcmUsageSoft && !s.usage_soft_sent) {
        s.usage_soft_sent = true;
        soft_event(s, key_id);
      }
    }
  }
  if (n == 0) return 0;
  rl::seal({jobs_, n});
  size_t ok = 0;
  for (size_t k = 0; k < n; ++k) {
    PacketView& p = pkts[at[k]];
    p.status = jobs_[k].status;  // the packet ID stays used either way
    if (p.status != Status::ok) continue;
    p.offset -= static_cast<uint32_t>(over);
    p.length += static_cast<uint32_t>(over);
    ++ok;
  }
  return ok;
}

// ---- Open -----------------------------------------------------------------

size_t Channel::open(std::span<Packet> pkts) {
  if (pkts.size() == 1) return open_chunk(pkts);  // one packet is its own chunk
  // Failures are counted after a burst's AEAD pass: near an integrity limit
  // the burst goes in chunks no longer than the failures still allowed, so
  // that it refuses what one at a time would (keys.h).
  return open_within_integrity(
      pkts, kMaxBurst,
      [this] {
        uint64_t left = kUnlimited;
        for (const Slot& s : slots_)
          if (s.recv.live()) left = std::min(left, s.recv.failures_left());
        return left;
      },
      [this](std::span<Packet> chunk) { return open_chunk(chunk); });
}

size_t Channel::open_chunk(std::span<Packet> pkts) {
  BurstClock clock(clock_);  // read only for a key with an age limit
  size_t n = 0;
  uint32_t at[kMaxBurst];
  bool replays = false;  // a packet the window refused in phase 1
  int admitted = -1;      // the key_id last asked (and allowed) to open
  // Phase 1: parse, find the key, ask the window as it stands.
  for (size_t i = 0; i < pkts.size(); ++i) {
    Packet& pk = pkts[i];
    PacketView& p = pk.view;
    if (!p.well_formed()) {
      p.status = Status::invalid_argument;
      continue;
    }
    const uint8_t* d = p.data();
    const uint8_t op = p.length == 0 ? 0 : d[0] >> 3;
    if (op != kDataV1 && op != kDataV2) {
      p.status = p.length == 0 ? Status::truncated : Status::malformed;
      continue;
    }
    const size_t over = op == kDataV2 ? kOverheadV2 : kOverheadV1;
    // crypto.c openvpn_decrypt_aead: a header, the tag and at least one byte.
    if (p.length < over + 1) {
      p.status = Status::truncated;
      continue;
    }
    pk.opcode = op;
    pk.key_id = d[0] & 7;
    pk.peer_id = op == kDataV2 ? load_be32(d) & kMaxPeerId : 0;
    const uint8_t* pid = d + over - kTagLen - kPacketIdLen;
    pk.packet_id = load_be32(pid);
    Slot& s = slots_[pk.key_id];
    if (!s.recv.live()) {
      // A key that died at its integrity limit may still be sending.
      p.status = s.send.live() ? Status::key_expired : Status::unknown_epoch;
      continue;
    }
    // The key is asked once per burst (most of a burst is under one key).
    Status st = pk.packet_id == 0      ? Status::malformed
                : admitted == pk.key_id ? Status::ok
                                        : s.recv.admit_open(clock.now_for(s.recv));
    if (st == Status::ok) {
      admitted = pk.key_id;
      st = s.window.check(pk.packet_id);
      if (st != Status::ok) {
        s.recv.count_replay();
        replays = true;  // replayed may yet become too_old: phase 2
      }
    }
    if (st != Status::ok) {
      p.status = st;
      continue;
    }
    uint8_t* body = p.data() + over;
    const std::span<const uint8_t> aad = op == kDataV2 ? std::span<const uint8_t>{d, 4 + kPacketIdLen}
                                                      : std::span<const uint8_t>{pid, kPacketIdLen};
    recjob::make(&jobs_[n], &s.recv.aead(), nonce_of(pk.packet_id, iv_words(s.recv_iv)), aad,
                 {body, p.length - over}, body - kTagLen);
    at[n++] = static_cast<uint32_t>(i);
  }
  if (n == 0) return 0;
  rl::open({jobs_, n});
  // Phase 2: commit in order, asking the window again as one at a time would
  // (a duplicate or forgery of an ID opened earlier in this burst, or one a
  // later ID pushed out, is refused as such; one that had authenticated is
  // sealed back to the bytes it came with). A packet phase 1 found replayed
  // is asked again at its place too: an earlier packet of the burst may have
  // moved the window past it (too_old, as one at a time).
  size_t ok = 0;
  size_t next_refused = 0;  // packets before at[k] already asked again
  auto ask_again = [&](size_t upto) {
    for (; next_refused < upto; ++next_refused) {
      Packet& r = pkts[next_refused];
      if (r.view.status == Status::replayed && slots_[r.key_id].recv.live())
        r.view.status = slots_[r.key_id].window.check(r.packet_id);
    }
  };
  for (size_t k = 0; k < n; ++k) {
    if (replays) {
      ask_again(at[k]);
      next_refused = at[k] + 1;
    }
    Packet& pk = pkts[at[k]];
    PacketView& p = pk.view;
    AeadJob& j = jobs_[k];
    Slot& s = slots_[pk.key_id];
    if (const Status st = s.window.check(pk.packet_id); st != Status::ok) {
      if (j.status == Status::ok) rl::seal({&j, 1});  // same key, nonce, AAD: same bytes
      s.recv.count_replay();
      p.status = st;
      continue;
    }
    if (j.status != Status::ok) {
      p.status = j.status;  // rl::open left the bytes as they arrived
      if (j.status == Status::auth_failed) s.recv.count_auth_failure();
      continue;
    }
    s.window.commit(pk.packet_id);
    s.recv.count_opened(j.data.size());
    const uint32_t over = static_cast<uint32_t>(pk.opcode == kDataV2 ? kOverheadV2 : kOverheadV1);
    p.offset += over;
    p.length -= over;
    p.status = Status::ok;
    ++ok;
  }
  if (replays) ask_again(pkts.size());
  return ok;
}

}  // namespace rl::openvpn
