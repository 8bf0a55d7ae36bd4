// Shared by the *_burst_fuzz targets, which hold a protocol's burst open (or
// seal) against the same packets one per call: reading the input, composing
// what arrives from what was sealed, and aborting on a difference.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <span>
#include <vector>

#include "core/keys.h"
#include "simd/status.h"

namespace rl::fuzz {

#define RL_FUZZ_CHECK(c)                                                                 \
  do {                                                                                   \
    if (!(c)) {                                                                          \
      std::fprintf(stderr, "%s:%d: burst and one at a time differ: %s\n", __FILE__,     \
                   __LINE__, #c);                                                        \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)

using Bytes = std::vector<uint8_t>;

// The fuzzer's bytes, read front to back; zeros once they run out.
struct Input {
  const uint8_t* p;
  size_t n;
  uint8_t byte() {
    if (n == 0) return 0;
    --n;
    return *p++;
  }
  uint16_t u16() { return static_cast<uint16_t>(byte() | byte() << 8); }
};

// The datagram targets (*_datagram_fuzz.cc): where each sealed packet was put
// in a datagram, and the datagrams sent so far.
struct Seg {
  size_t off, idx;  // sealed[idx] was put at datagram offset `off`
};

struct Sent {
  Bytes dg;
  std::vector<Seg> segs;
};

// This round's datagram: with `again` (and a history), one sent before,
// late or duplicated by the network; otherwise a new one from
// compose(segs), which is kept in the history.
template <class Compose>
Sent next_datagram(Input& in, bool again, std::vector<Sent>& history, Compose&& compose) {
  if (again && !history.empty()) return history[in.byte() % history.size()];
  Sent s;
  s.dg = compose(s.segs);
  history.push_back(s);
  return s;
}

// A datagram target's last step, mutations 0 and 1 of `mut % 8` (the others
// are the target's own): one bit flipped anywhere, or the datagram cut
// short. Returns whether it applied one.
inline bool flip_or_cut(Bytes& dg, Input& in, uint8_t mut) {
  switch (mut % 8) {
    case 0:  // one bit flipped anywhere
      dg[in.u16() % dg.size()] ^= static_cast<uint8_t>(1u << (in.byte() & 7));
      return true;
    case 1:  // cut short
      dg.resize(in.u16() % dg.size());
      return true;
    default:
      return false;
  }
}

// The DTLS datagram targets' connection IDs: the receivers issue `rx` of
// rx_len bytes (0..9, from cfg); mostly the sender writes it, now and then
// (one input byte) none, another one of the same length, or one where they
// expect none. `match`: what the sender writes is what they expect.
struct CidChoice {
  const uint8_t* rx;
  size_t rx_len;
  const uint8_t* tx;
  size_t tx_len;
  bool match;
};
inline CidChoice pick_cids(uint8_t cfg, Input& in) {
  static const uint8_t kCid[] = {0xc1, 0xd1, 0xe1, 0xf1, 0x01, 0x02, 0x03, 0x04, 0x05};
  static const uint8_t kOtherCid[] = {0x5c, 0xd1, 0xe1, 0xf1, 0x01, 0x02, 0x03, 0x04, 0x05};
  CidChoice c{kCid, (cfg & 4) != 0 ? 1 + size_t{(cfg >> 5) % 9u} : 0, kCid, 0, false};
  c.tx_len = c.rx_len;
  const uint8_t how = in.byte();
  if ((how & 0xf0) == 0xf0) {
    switch (how & 3) {
      case 0: c.tx_len = 0; break;
      case 1: c.tx = kOtherCid; break;
      default: c.tx_len = 1 + how % 9; break;
    }
  }
  c.match = c.tx_len == c.rx_len && (c.rx_len == 0 || c.tx == kCid);
  return c;
}

// The DTLS datagram targets' datagram from the sealed records (`cursor` is
// the next one in order): 1..5 steps of the next record, a late or repeated
// one, a lost one, junk, zero padding or a record in the clear (clear(in)
// makes it), then maybe one mutation: flip_or_cut, or (2) a record's 16-bit
// length field rewritten where length_at(wire) says it starts (0: none).
// Sealed has `wire` and `plaintext` (a record in the clear: never opens).
template <class Sealed, class Clear, class LengthAt>
Bytes compose_dtls_datagram(Input& in, std::vector<Sealed>& sealed, size_t& cursor,
                            std::vector<Seg>& segs, Clear&& clear, LengthAt&& length_at) {
  Bytes dg;
  auto put = [&](size_t i) {
    segs.push_back({dg.size(), i});
    dg.insert(dg.end(), sealed[i].wire.begin(), sealed[i].wire.end());
  };
  const size_t k = 1 + in.byte() % 5;
  for (size_t j = 0; j < k; ++j) {
    const uint8_t op = in.byte();
    switch (op % 12) {
      case 5:  // late, or a repeat
        if (!sealed.empty()) put(in.byte() % sealed.size());
        break;
      case 6:  // lost
        while (cursor < sealed.size() && sealed[cursor].plaintext) ++cursor;
        if (cursor < sealed.size()) ++cursor;
        break;
      case 7:  // junk
        for (size_t n = in.byte() % 24; n > 0; --n) dg.push_back(in.byte());
        break;
      case 8:  // zero padding
        dg.resize(dg.size() + 1 + in.byte() % 64, 0);
        break;
      case 9:  // a record in the clear
        sealed.push_back(clear(in));
        put(sealed.size() - 1);
        break;
      default:  // the next one in order
        while (cursor < sealed.size() && sealed[cursor].plaintext) ++cursor;
        if (cursor < sealed.size()) put(cursor++);
        break;
    }
  }
  if (dg.empty()) return dg;
  const uint8_t mut = in.byte();
  // Mutation 2: a length field rewritten: too long, too short
  if (!flip_or_cut(dg, in, mut) && mut % 8 == 2 && !segs.empty()) {
    const Seg& s = segs[in.byte() % segs.size()];
    const size_t at = length_at(sealed[s.idx].wire);
    if (at != 0) dg[s.off + at + 1 - (mut >> 7)] = in.byte();
  }
  return dg;
}

// The receivers' integrity limit (RFC 9001 §6.6, RFC 9147 §4.5.3; SRTP's
// max_auth_failures): in 1 of 4 inputs (`b & 3` == 3) a small one, 1..8
// failed opens, so the comparisons also run where a failure in the middle of
// a burst reaches it; otherwise `l` as it was. Returns whether it set one.
inline bool small_integrity_limit(uint8_t b, Limits& l) {
  if ((b & 3) != 3) return false;
  l.max_auth_failures = 1 + (b >> 2) % 8;
  return true;
}

inline bool debug() {
  static const bool on = std::getenv("RL_FUZZ_DEBUG") != nullptr;
  return on;
}

// What arrives, up to `count` packets: each input byte says what comes next
// from one of the streams (its high bits pick the stream): the next packet
// in order, a late or repeated one, the next with one bit flipped or cut
// short, junk, or the next lost. next[s] is stream s's next packet in order.
inline std::vector<Bytes> compose(Input& in, std::span<const std::vector<Bytes>> streams,
                                  std::span<size_t> next, size_t count) {
  std::vector<Bytes> wire;
  while (wire.size() < count && in.n > 0) {
    const uint8_t op = in.byte();
    const size_t s = streams.size() == 1 ? 0 : (op >> 4) % streams.size();
    const std::vector<Bytes>& sl = streams[s];
    const bool more = next[s] < sl.size();
    switch (op % 12) {
      case 6:  // late, or a repeat
        if (!sl.empty()) wire.push_back(sl[in.byte() % sl.size()]);
        break;
      case 7:  // one bit flipped
        if (more) {
          Bytes b = sl[next[s]++];
          b[in.u16() % b.size()] ^= static_cast<uint8_t>(1u << (in.byte() & 7));
          wire.push_back(std::move(b));
        }
        break;
      case 8:  // cut short
        if (more) {
          Bytes b = sl[next[s]++];
          b.resize(in.u16() % b.size());
          wire.push_back(std::move(b));
        }
        break;
      case 9: {  // junk
        Bytes b(in.byte() % 64);
        for (uint8_t& x : b) x = in.byte();
        wire.push_back(std::move(b));
        break;
      }
      case 10:  // lost
        if (more) ++next[s];
        break;
      default:  // the next one in order
        if (more) wire.push_back(sl[next[s]++]);
        break;
    }
  }
  return wire;
}

// DTLS 1.2 and 1.3 (same Record fields and introspection): `wire` opened as
// one burst on `rb` and one record per call on `ro`, compared record by
// record and then for each epoch: window (top and every bit near it) and the
// key's counters (a record one at a time refuses as a replay before its AEAD
// is a replay in the burst too, not a failure).
template <class Proto, class Record, class Epoch>
void expect_dtls_burst_equals_one_by_one(Proto& rb, Proto& ro, const std::vector<Bytes>& wire,
                                         std::initializer_list<Epoch> epochs) {
  auto view = [](Bytes& b) {
    Record r;
    r.pkt = {b.data(), static_cast<uint32_t>(b.size()), 0, static_cast<uint32_t>(b.size()), Status::ok};
    return r;
  };
  std::vector<Bytes> wa = wire, wo = wire;
  std::vector<Record> burst;
  for (Bytes& b : wa) burst.push_back(view(b));
  const size_t ok_b = rb.open(burst);
  size_t ok_o = 0;
  for (size_t i = 0; i < wire.size(); ++i) {
    Record r = view(wo[i]);
    ok_o += ro.open({&r, 1});
    const Record& q = burst[i];
    if (debug())
      std::fprintf(stderr, "  [%zu] len %zu: burst %s seq %llu | one %s seq %llu\n", i, wire[i].size(),
                   to_string(q.status()), static_cast<unsigned long long>(q.seq), to_string(r.status()),
                   static_cast<unsigned long long>(r.seq));
    RL_FUZZ_CHECK(q.status() == r.status());
    if (r.status() != Status::ok) {
      RL_FUZZ_CHECK(wa[i] == wire[i]);  // refused: the bytes as they arrived
      RL_FUZZ_CHECK(wo[i] == wire[i]);
      continue;
    }
    RL_FUZZ_CHECK(q.type == r.type);
    RL_FUZZ_CHECK(q.epoch == r.epoch);
    RL_FUZZ_CHECK(q.seq == r.seq);
    RL_FUZZ_CHECK(q.newest == r.newest);
    RL_FUZZ_CHECK(q.cid.size() == r.cid.size());
    RL_FUZZ_CHECK(q.pkt.length == r.pkt.length && q.pkt.offset == r.pkt.offset);
    RL_FUZZ_CHECK(r.pkt.length == 0 || std::memcmp(q.pkt.data(), r.pkt.data(), r.pkt.length) == 0);
  }
  RL_FUZZ_CHECK(ok_b == ok_o);
  for (Epoch epoch : epochs) {
    const auto* wb = rb.window(epoch);
    const auto* wn = ro.window(epoch);
    RL_FUZZ_CHECK((wb == nullptr) == (wn == nullptr));
    if (wb == nullptr) continue;
    RL_FUZZ_CHECK(wb->empty() == wn->empty());
    if (!wb->empty()) {
      RL_FUZZ_CHECK(wb->highest() == wn->highest());
      const uint64_t hi = wb->highest();
      for (uint64_t s = hi > 300 ? hi - 300 : 0; s <= hi + 2; ++s)
        RL_FUZZ_CHECK(wb->check(s) == wn->check(s));
    }
    const auto& kb = rb.key(Direction::open, epoch)->counters();
    const auto& ko = ro.key(Direction::open, epoch)->counters();
    RL_FUZZ_CHECK(kb.opened == ko.opened);
    RL_FUZZ_CHECK(kb.bytes_opened == ko.bytes_opened);
    RL_FUZZ_CHECK(kb.auth_failures == ko.auth_failures && kb.replays == ko.replays);
  }
}

// DTLS 1.2 and 1.3 receivers `a` and `b` that should hold the same state for
// each of `epochs`: the same window (top and every bit near it) and the same
// key counters, failures and replays each. Used by the *_datagram_fuzz
// targets.
template <class Proto, class Epoch>
void expect_dtls_same_state(const Proto& a, const Proto& b, std::initializer_list<Epoch> epochs) {
  for (Epoch epoch : epochs) {
    const auto* wa = a.window(epoch);
    const auto* wb = b.window(epoch);
    RL_FUZZ_CHECK((wa == nullptr) == (wb == nullptr));
    if (wa == nullptr) continue;
    RL_FUZZ_CHECK(wa->empty() == wb->empty());
    if (!wa->empty()) {
      RL_FUZZ_CHECK(wa->highest() == wb->highest());
      const uint64_t hi = wa->highest();
      for (uint64_t s = hi > 300 ? hi - 300 : 0; s <= hi + 2; ++s) RL_FUZZ_CHECK(wa->check(s) == wb->check(s));
    }
    const auto& ka = a.key(Direction::open, epoch)->counters();
    const auto& kb = b.key(Direction::open, epoch)->counters();
    RL_FUZZ_CHECK(ka.opened == kb.opened);
    RL_FUZZ_CHECK(ka.bytes_opened == kb.bytes_opened);
    RL_FUZZ_CHECK(ka.auth_failures == kb.auth_failures && ka.replays == kb.replays);
  }
}

}  // namespace rl::fuzz
