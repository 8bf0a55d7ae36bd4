// WireGuard transport data: see wireguard.h for the message, the keypair
// rules and the limits. This file reads top to bottom: helpers, keypairs,
// seal, open.
#include "core/wireguard.h"

#include <algorithm>
#include <cstring>

#include "core/aead.h"
#include "core/bytes.h"
#include "core/job_fill.h"

namespace rl::wireguard {

namespace {

constexpr Suite kSuite = Suite::chacha20_poly1305;  // the only one (§5.4: ChaChaPoly)

// §5.4.6: nonce = 32 zero bits ‖ LE64(counter).
recjob::Block16 nonce_of(uint64_t counter) { return {counter << 32, counter >> 32}; }

}  // namespace

// ---- Helpers --------------------------------------------------------------

size_t padded_length(size_t len, uint32_t mtu) {
  const auto up16 = [](size_t n) { return (n + kPadding - 1) & ~(kPadding - 1); };
  if (mtu == 0) return up16(len);
  // Only the last MTU-sized unit is padded, and never past the MTU.
  const size_t last = len % mtu;
  const size_t padded_last = up16(last) > mtu ? mtu : up16(last);
  return len - last + padded_last;
}

uint32_t message_type(std::span<const uint8_t> d) {
  if (d.size() < 4) return 0;
  const uint32_t type = load_le32(d.data());  // one byte of type, three reserved zero bytes
  // §5.4.2-§5.4.7: the handshake messages have fixed sizes, a transport
  // message is at least a header and a tag.
  switch (type) {
    case 1: return d.size() == 148 ? 1 : 0;
    case 2: return d.size() == 92 ? 2 : 0;
    case 3: return d.size() == 64 ? 3 : 0;
    case kTransportData: return d.size() >= kMinMessageLen ? kTransportData : 0;
    default: return 0;
  }
}

std::optional<uint32_t> receiver_index(std::span<const uint8_t> d) {
  switch (message_type(d)) {
    case 2: return load_le32(d.data() + 8);  // type ‖ sender ‖ receiver
    case 3:
    case kTransportData: return load_le32(d.data() + 4);  // type ‖ receiver
    default: return std::nullopt;
  }
}

Status trim_padding(PacketView& p) {
  if (!p.well_formed()) return Status::malformed;
  if (p.length == 0) return Status::ok;  // keepalive
  const uint8_t* d = p.data();
  size_t len;
  switch (d[0] >> 4) {
    case 4:  // total length covers the IPv4 header
      if (p.length < 20) return Status::malformed;
      len = load_be16(d + 2);
      if (len < 20) return Status::malformed;
      break;
    case 6:  // payload length does not cover the 40-byte IPv6 header
      if (p.length < 40) return Status::malformed;
      len = 40 + size_t{load_be16(d + 4)};
      break;
    default: return Status::malformed;
  }
  if (len > p.length) return Status::malformed;
  p.length = static_cast<uint32_t>(len);
  return Status::ok;
}

// ---- Keypairs -------------------------------------------------------------

Peer::Peer(Clock clock) : clock_(clock) {}
Peer::~Peer() { clear(); }

std::optional<uint32_t> Peer::index_of(int8_t slot) const {
  if (slot == kNone) return std::nullopt;
  return slots_[slot].local;
}

int Peer::find(uint32_t local_index) const {
  for (int8_t r : {cur_, prev_, next_})
    if (r != kNone && slots_[r].local == local_index && slots_[r].live()) return r;
  return -1;
}

void Peer::drop(int8_t& role) {
  if (role == kNone) return;
  Slot& s = slots_[role];
  s.send.expire();
  s.recv.expire();
  s.window.reset();
  role = kNone;
}

Status Peer::install(const Keypair& kp, const Limits* limits) {
  if (kp.send_key.size() != kKeyLen || kp.recv_key.size() != kKeyLen || find(kp.local_index) >= 0)
    return Status::invalid_argument;
  int8_t free = 0;
  while (free == cur_ || free == prev_ || free == next_) ++free;  // 4 slots, 3 roles
  Slot& s = slots_[free];
  const uint64_t now = clock_.read();
  Limits seal_lim = limits ? *limits : default_limits(Protocol::wireguard, kSuite);
  Limits open_lim = seal_lim;
  if (limits == nullptr) {
    // §6.2: only the initiator rekeys on time: when sending after
    // Rekey-After-Time, and when receiving after Reject-After-Time -
    // Keepalive-Timeout - Rekey-Timeout (so that the new session is up before
    // the old one dies).
    if (!kp.initiator) seal_lim.soft_age_s = kUnlimited;
    open_lim.soft_records = kUnlimited;
    open_lim.soft_age_s =
        kp.initiator ? kRejectAfterTime - kKeepaliveTimeout - kRekeyTimeout : kUnlimited;
  }
  Status st = s.send.install(kp.local_index, Direction::seal, kSuite, kp.send_key, seal_lim, now, &events_);
  if (st == Status::ok)
    st = s.recv.install(kp.local_index, Direction::open, kSuite, kp.recv_key, open_lim, now, &events_);
  if (st != Status::ok) {
    s.send.expire();
    s.recv.expire();
    return st;
  }
  s.window.init(kReplayWindow);
  s.local = kp.local_index;
  s.remote = kp.remote_index;
  s.next_counter = 0;
  if (kp.initiator) {
    // The response confirmed the session: current at once. A next still
    // waiting for its first packet becomes previous (and the current goes);
    // else the current does.
    if (next_ != kNone) {
      drop(prev_);
      prev_ = next_;
      next_ = kNone;
      drop(cur_);
    } else {
      drop(prev_);
      prev_ = cur_;
    }
    cur_ = free;
  } else {
    // Not usable to send until the initiator's first packet arrives.
    drop(next_);
    drop(prev_);
    next_ = free;
  }
  // As the other protocols report a new key: seal when it sends at once,
  // open when it only receives until promoted.
  KeyEvent e;
  e.epoch = kp.local_index;
  e.dir = kp.initiator ? Direction::seal : Direction::open;
  e.kind = KeyEvent::installed;
  events_.push(e);
  return Status::ok;
}

// §5.4.5: the initiator's first packet confirms the session: next ->
// current -> previous. There is no previous to wipe: installing a next wiped
// it, and only an initiator's install (which clears next) makes one.
void Peer::promote_next() {
  prev_ = cur_;
  cur_ = next_;
  next_ = kNone;
}

Status Peer::confirm(uint32_t local_index) {
  if (next_ == kNone || slots_[next_].local != local_index || !slots_[next_].live())
    return Status::unknown_epoch;
  promote_next();
  return Status::ok;
}

Status Peer::expire(uint32_t local_index) {
  const int r = find(local_index);
  if (r < 0) return Status::unknown_epoch;
  drop(r == cur_ ? cur_ : r == prev_ ? prev_ : next_);
  return Status::ok;
}

void Peer::clear() {
  drop(cur_);
  drop(prev_);
  drop(next_);
}

std::optional<uint64_t> Peer::send_counter() const {
  if (cur_ == kNone) return std::nullopt;
  return slots_[cur_].next_counter;
}

const KeyCounters* Peer::counters(uint32_t local_index, Direction dir) const {
  const int r = find(local_index);
  if (r < 0) return nullptr;
  return dir == Direction::seal ? &slots_[r].send.counters() : &slots_[r].recv.counters();
}

std::optional<uint64_t> Peer::highest_opened(uint32_t local_index) const {
  const int r = find(local_index);
  if (r < 0 || slots_[r].window.empty()) return std::nullopt;
  return slots_[r].window.highest();
}

void Peer::debug_key_bytes(std::span<std::span<const uint8_t>> out) const {
  size_t k = 0;
  for (const Slot& s : slots_) {
    if (k < out.size()) out[k++] = s.send.aead().debug_raw_bytes();
    if (k < out.size()) out[k++] = s.recv.aead().debug_raw_bytes();
  }
}

// ---- Seal -----------------------------------------------------------------

size_t Peer::seal(std::span<PacketView> pkts) {
  const uint64_t now = clock_.read();
  size_t ok = 0;
  for (size_t i = 0; i < pkts.size(); i += kMaxBurst)
    ok += seal_chunk(pkts.subspan(i, std::min(kMaxBurst, pkts.size() - i)), now);
  return ok;
}

size_t Peer::seal_chunk(std::span<PacketView> pkts, uint64_t now) {
  size_t n = 0;
  uint32_t at[kMaxBurst];  // the view of each job
  uint32_t padded[kMaxBurst];
  for (size_t i = 0; i < pkts.size(); ++i) {
    PacketView& p = pkts[i];
    if (cur_ == kNone) {
      p.status = Status::key_expired;
      continue;
    }
    Slot& s = slots_[cur_];
    if (!p.well_formed() || p.offset < kHeaderLen) {
      p.status = Status::buffer_too_small;
      continue;
    }
    const size_t body = padded_length(p.length, mtu_);
    // Header, padding and tag within the buffer, the message's length within 32 bits.
    if (body - p.length + kTagLen > p.tailroom() || body > UINT32_MAX - kMinMessageLen) {
      p.status = Status::buffer_too_small;
      continue;
    }
    // §6.1: no counter reaches Reject-After-Messages, whatever the limits say.
    Status st = s.next_counter < kRejectAfterMessages ? s.send.admit_seal(1, body, now)
                                                      : Status::key_exhausted;
    if (st != Status::ok) {
      p.status = st;
      continue;
    }
    const uint64_t counter = s.next_counter++;
    uint8_t* d = p.data();
    recjob::store16(d - kHeaderLen, recjob::Block16{kTransportData | uint64_t{s.remote} << 32, counter});
    // The padding is 0..15 bytes: one 16-byte store of zeros covers it
    // (and the start of the tag's room, written by the seal below).
    recjob::store16(d + p.length, recjob::Block16{0, 0});
    recjob::make(&jobs_[n], &s.send.aead(), nonce_of(counter), {}, {d, body}, d + body);
    at[n] = static_cast<uint32_t>(i);
    padded[n] = static_cast<uint32_t>(body);
    ++n;
  }
  if (n == 0) return 0;
  rl::seal({jobs_, n});
  size_t ok = 0;
  for (size_t k = 0; k < n; ++k) {
    PacketView& p = pkts[at[k]];
    p.status = jobs_[k].status;  // the counter stays used either way
    if (p.status != Status::ok) continue;
    p.offset -= kHeaderLen;
    p.length = static_cast<uint32_t>(kHeaderLen + padded[k] + kTagLen);
    ++ok;
  }
  return ok;
}

// ---- Open -----------------------------------------------------------------

size_t Peer::open(std::span<PacketView> pkts) {
  // A burst's failures are counted after its AEAD pass: near an integrity
  // limit it goes in chunks no longer than the failures still allowed, so
  // that it refuses what one at a time would (keys.h).
  return open_within_integrity(
      pkts, kMaxBurst,
      [this] {
        uint64_t left = kUnlimited;
        for (int8_t r : {cur_, prev_, next_})
          if (r != kNone && slots_[r].recv.live()) left = std::min(left, slots_[r].recv.failures_left());
        return left;
      },
      [this](std::span<PacketView> chunk) { return open_chunk(chunk); });
}

size_t Peer::open_chunk(std::span<PacketView> pkts) {
  const uint64_t now = clock_.read();
  size_t n = 0;
  uint32_t at[kMaxBurst];
  int8_t slot_of[kMaxBurst];
  uint64_t counter_of[kMaxBurst];
  uint32_t last_index = 0;
  int last_r = -1;  // the keypair of last_index, admitted at `now`
  bool replays = false;  // a message the window refused in phase 1
  // Phase 1: parse, find the keypair, check the window as it stands.
  for (size_t i = 0; i < pkts.size(); ++i) {
    PacketView& p = pkts[i];
    if (!p.well_formed() || p.length < kMinMessageLen) {
      p.status = p.well_formed() ? Status::truncated : Status::malformed;
      continue;
    }
    uint8_t* d = p.data();
    if (load_le32(d) != kTransportData) {  // reserved bytes zero too
      p.status = Status::malformed;
      continue;
    }
    // Most messages of a burst are under one keypair: the last one found
    // and admitted is asked again without the search.
    const uint32_t index = load_le32(d + 4);
    const int r = index == last_index && last_r >= 0 ? last_r : find(index);
    if (r < 0 || !slots_[r].recv.live()) {
      // A keypair whose receiving key died at the integrity limit is still
      // there (it may send): key_expired; no keypair: unknown_epoch.
      p.status = r < 0 ? Status::unknown_epoch : Status::key_expired;
      continue;
    }
    Slot& s = slots_[r];
    const uint64_t counter = load_le64(d + 8);
    Status st = counter >= kRejectAfterMessages ? Status::key_exhausted
                : r == last_r                   ? Status::ok
                                                : s.recv.admit_open(now);
    if (st == Status::ok) {
      last_index = index;
      last_r = r;
      st = s.window.check(counter);
    }
    if (st != Status::ok) {
      if (st == Status::replayed || st == Status::too_old) s.recv.count_replay();
      replays |= st == Status::replayed;  // may yet become too_old: phase 2
      p.status = st;
      continue;
    }
    recjob::make(&jobs_[n], &s.recv.aead(), nonce_of(counter), {},
                 {d + kHeaderLen, p.length - kMinMessageLen}, d + p.length - kTagLen);
    at[n] = static_cast<uint32_t>(i);
    slot_of[n] = static_cast<int8_t>(r);
    counter_of[n] = counter;
    ++n;
  }
  if (n == 0) return 0;
  rl::open({jobs_, n});
  // Phase 2: commit in order. Each packet is asked the window again, as one
  // at a time would ask it (before its AEAD) after the packets before it: a
  // duplicate in this burst, a forgery of a counter opened earlier in it, or
  // one a later counter pushed out of the window, is refused as such. One
  // that had authenticated is sealed back to the bytes it arrived with. A
  // message phase 1 found replayed is asked again at its place too: an
  // earlier message of the burst may have moved the window past it (too_old,
  // as one at a time).
  size_t ok = 0;
  size_t next_refused = 0;  // messages before it already asked again
  auto ask_again = [&](size_t upto) {
    for (; next_refused < upto; ++next_refused) {
      PacketView& r = pkts[next_refused];
      if (r.status != Status::replayed) continue;
      const int slot = find(load_le32(r.data() + 4));  // bytes as they arrived
      if (slot >= 0) r.status = slots_[slot].window.check(load_le64(r.data() + 8));
    }
  };
  for (size_t k = 0; k < n; ++k) {
    if (replays) {
      ask_again(at[k]);
      next_refused = at[k] + 1;
    }
    PacketView& p = pkts[at[k]];
    AeadJob& j = jobs_[k];
    Slot& s = slots_[slot_of[k]];
    if (const Status st = s.window.check(counter_of[k]); st != Status::ok) {
      // The same key and nonce give the ciphertext and tag it came with.
      if (j.status == Status::ok) rl::seal({&j, 1});
      s.recv.count_replay();
      p.status = st;
      continue;
    }
    if (j.status != Status::ok) {
      p.status = j.status;  // rl::open left the bytes as they arrived
      if (j.status == Status::auth_failed) s.recv.count_auth_failure();
      continue;
    }
    s.window.commit(counter_of[k]);
    s.recv.count_opened(j.data.size());
    if (slot_of[k] == next_) {
      promote_next();
      KeyEvent e;
      e.epoch = s.local;
      e.dir = Direction::open;
      e.kind = KeyEvent::peer_updated;
      e.records = s.recv.counters().opened;
      e.bytes = s.recv.counters().bytes_opened;
      events_.push(e);
    }
    p.offset += kHeaderLen;
    p.length -= kMinMessageLen;
    p.status = Status::ok;
    ++ok;
  }
  if (replays) ask_again(pkts.size());
  return ok;
}

}  // namespace rl::wireguard
