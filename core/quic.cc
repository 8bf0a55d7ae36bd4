// QUIC packet protection, read top to bottom: constants, key derivation,
// headers, seal, open, key update, Retry, stateless reset.
#include "core/quic.h"

#include <cstring>
#include <vector>

#include <openssl/mem.h>

#include "core/aead.h"
#include "core/bytes.h"
#include "core/hkdf.h"
#include "core/job_fill.h"
#include "core/seqnum.h"

namespace rl::quic {
namespace {

// ---- constants -------------------------------------------------------------

// Initial salts: RFC 9001 §5.2 and RFC 9369 §3.3.1.
constexpr uint8_t kSaltV1[20] = {0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
                                 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a};
constexpr uint8_t kSaltV2[20] = {0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93,
                                 0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9};

// Retry integrity key and nonce: RFC 9001 §5.8 and RFC 9369 §3.3.3.
constexpr uint8_t kRetryKeyV1[16] = {0xbe, 0x0c, 0x69, 0x0b, 0x9f, 0x66, 0x57, 0x5a,
                                     0x1d, 0x76, 0x6b, 0x54, 0xe3, 0x68, 0xc8, 0x4e};
constexpr uint8_t kRetryNonceV1[12] = {0x46, 0x15, 0x99, 0xd3, 0x5d, 0x63,
                                       0x2b, 0xf2, 0x23, 0x98, 0x25, 0xbb};
constexpr uint8_t kRetryKeyV2[16] = {0x8f, 0xb4, 0xb0, 0x1b, 0x56, 0xac, 0x48, 0xe2,
                                     0x60, 0xfb, 0xcb, 0xce, 0xad, 0x7c, 0xcc, 0x92};
constexpr uint8_t kRetryNonceV2[12] = {0xd8, 0x69, 0x69, 0xbc, 0x2d, 0x7c,
                                       0x6d, 0x99, 0x90, 0xef, 0xb0, 0x4a};

// RFC 9369 §3.3.2: v2 keeps the TLS 1.3 "tls13 " prefix but renames every
// QUIC label, so v1 and v2 keys never coincide.
struct Labels {
  const char *key, *iv, *hp, *ku;
};
constexpr Labels labels(Version v) {
  return v == Version::v1 ? Labels{"quic key", "quic iv", "quic hp", "quic ku"}
                          : Labels{"quicv2 key", "quicv2 iv", "quicv2 hp", "quicv2 ku"};
}

bool known_version(uint32_t v) {
  return v == static_cast<uint32_t>(Version::v1) || v == static_cast<uint32_t>(Version::v2);
}

// RFC 9000 §17.2/§17.3: the bits of the first byte that header protection
// covers (reserved + PN length, plus the key phase on short headers), and
// the reserved bits that must be zero once both protections are removed.
constexpr uint8_t kLongHpBits = 0x0f, kShortHpBits = 0x1f;
constexpr uint8_t kLongReserved = 0x0c, kShortReserved = 0x18;
constexpr uint8_t kKeyPhaseBit = 0x04;

// ---- varints and headers -----------------------------------------------------

void varint_write(uint8_t* p, uint64_t v, size_t len) {
  const uint64_t prefix = len == 1 ? 0 : len == 2 ? 1 : len == 4 ? 2 : 3;
  store_be(p, v | prefix << (8 * len - 2), len);
}

PacketType type_from_bits(uint32_t version, uint8_t bits) {
  if (version == static_cast<uint32_t>(Version::v2)) bits = static_cast<uint8_t>((bits + 3) & 3);
  switch (bits) {
    case 0: return PacketType::initial;
    case 1: return PacketType::zero_rtt;
    case 2: return PacketType::handshake;
    default: return PacketType::retry;
  }
}

Level level_of(PacketType t) {
  switch (t) {
    case PacketType::initial: return Level::initial;
    case PacketType::zero_rtt: return Level::zero_rtt;
    case PacketType::handshake: return Level::handshake;
    default: return Level::one_rtt;
  }
}

// What a long header says before header protection is removed.
struct LongHeader {
  uint32_t version = 0;
  PacketType type = PacketType::initial;
  size_t dcid_off = 0, dcid_len = 0, scid_off = 0, scid_len = 0;
  size_t token_off = 0, token_len = 0;
  size_t pn_offset = 0;  // Initial / 0-RTT / Handshake
  uint64_t length = 0;   // the Length field: packet number + payload + tag
};

// Reads a long header from `n` bytes; never reads past them. Returns
// not_protected for Version Negotiation and Retry (the caller looks at .type),
// unsupported for an unknown version.
Status parse_long(const uint8_t* p, size_t n, LongHeader& h, bool greased_ok = false) {
  if (n < 7) return Status::truncated;
  h.version = load_be32(p + 1);
  h.dcid_len = p[5];
  h.dcid_off = 6;
  if (h.version == 0) {  // RFC 9000 §17.2.1: no protection, CIDs up to 255 bytes
    h.type = PacketType::version_negotiation;
    if (h.dcid_off + h.dcid_len + 1 > n) return Status::truncated;
    h.scid_off = h.dcid_off + h.dcid_len + 1;
    h.scid_len = p[h.scid_off - 1];
    if (h.scid_off + h.scid_len > n) return Status::truncated;
    return Status::not_protected;
  }
  if (!known_version(h.version)) return Status::unsupported;
  // Fixed bit (RFC 9000 §17.2), unless the peer may grease it (RFC 9287 §3).
  if ((p[0] & 0x40) == 0 && !greased_ok) return Status::malformed;
  if (h.dcid_len > kMaxCidLen) return Status::malformed;
  size_t pos = h.dcid_off + h.dcid_len;
  if (pos + 1 > n) return Status::truncated;
  h.scid_len = p[pos];
  if (h.scid_len > kMaxCidLen) return Status::malformed;
  h.scid_off = pos + 1;
  pos = h.scid_off + h.scid_len;
  if (pos > n) return Status::truncated;
  h.type = type_from_bits(h.version, static_cast<uint8_t>((p[0] >> 4) & 3));
  if (h.type == PacketType::retry) {
    // RFC 9000 §17.2.5: token runs to the 16-byte integrity tag.
    if (n < pos + kTagLen) return Status::truncated;
    h.token_off = pos;
    h.token_len = n - kTagLen - pos;
    return Status::not_protected;
  }
  if (h.type == PacketType::initial) {
    uint64_t tl = 0;
    const size_t used = varint_decode({p + pos, n - pos}, &tl);
    if (used == 0) return Status::truncated;
    pos += used;
    if (tl > n - pos) return Status::truncated;
    h.token_off = pos;
    h.token_len = static_cast<size_t>(tl);
    pos += h.token_len;
  }
  const size_t used = varint_decode({p + pos, n - pos}, &h.length);
  if (used == 0) return Status::truncated;
  h.pn_offset = pos + used;
  return Status::ok;
}


// Connection IDs are 0..20 bytes; a variable-length memcpy compiles to a
// `rep movs` whose start-up cost shows in the per-packet profile, so copy
// with at most three overlapping 8-byte (or two 4-byte) moves.
inline void copy_cid(uint8_t* d, const uint8_t* s, size_t n) {
  if (n >= 8) {
    uint64_t a, b, c = 0;
    std::memcpy(&a, s, 8);
    std::memcpy(&b, s + n - 8, 8);
    if (n > 16) std::memcpy(&c, s + 8, 8);
    std::memcpy(d, &a, 8);
    if (n > 16) std::memcpy(d + 8, &c, 8);
    std::memcpy(d + n - 8, &b, 8);
  } else if (n >= 4) {
    uint32_t a, b;
    std::memcpy(&a, s, 4);
    std::memcpy(&b, s + n - 4, 4);
    std::memcpy(d, &a, 4);
    std::memcpy(d + n - 4, &b, 4);
  } else {
    for (size_t i = 0; i < n; ++i) d[i] = s[i];
  }
}

// Header protection of the packet number field (RFC 9001 §5.4.1) with one
// 4-byte load and store: the first `pn_len` bytes get mask[1..pn_len], the
// bytes after them (payload, which always follows: the sample is 4 bytes
// further) are stored back unchanged. Returns the field after the XOR, as
// the truncated packet number.
inline uint32_t xor_pn(uint8_t* pn, const uint8_t* mask, unsigned pn_len) {
  uint32_t raw, m;
  std::memcpy(&raw, pn, 4);
  std::memcpy(&m, mask + 1, 4);
  const uint32_t keep = pn_len >= 4 ? ~uint32_t{0} : (uint32_t{1} << (8 * pn_len)) - 1;
  raw ^= m & keep;  // little-endian: the first bytes are the low ones
  std::memcpy(pn, &raw, 4);
  return __builtin_bswap32(raw) >> (8 * (4 - pn_len));
}

// The lean open paths' packet number (RFC 9001 §5.4.1): the field unmasked
// with one 4-byte load (the sample lies 4 bytes after its start, so they are
// in the packet); `low` covers its pn_len bytes, as a little-endian mask of
// the first bytes and, the same number, as the mask of the truncated packet
// number's bits. Decoded (RFC 9000 App. A.3, reconstruct_closest) only when
// the answer is not below `expected`: expected + the distance up to the
// truncated value, when that is at most half a window. Anything else (an
// answer below `expected`) is the general loop's: ok = false.
struct LeanPn {
  uint32_t raw;     // the unmasked field's 4 bytes, memory order
  uint64_t pn;
  size_t pn_len;
  bool ok;
};
inline LeanPn decode_lean_pn(uint8_t first, const uint8_t* field, const uint8_t* mask, uint64_t expected) {
  const unsigned shift = 24 - 8 * (first & 3u);  // 32 - 8 * pn_len
  const uint32_t low = ~uint32_t{0} >> shift;
  const uint32_t raw = recjob::le32(field) ^ (recjob::le32(mask + 1) & low);
  const uint64_t up = (uint64_t{__builtin_bswap32(raw) >> shift} - expected) & low;
  return {raw, expected + up, 4 - shift / 8, up <= (low >> 1) + 1};
}

// The outputs of a 1-RTT packet taken by a lean open path.
inline void one_rtt_outputs(Packet& p, const uint8_t* d, size_t cid_len) {
  p.level = Level::one_rtt;
  p.type = PacketType::one_rtt;
  p.token = {};
  p.scid = {};
  p.dcid = {d + 1, cid_len};
}

}  // namespace

const char* to_string(PacketType t) {
  switch (t) {
    case PacketType::initial: return "initial";
    case PacketType::zero_rtt: return "0rtt";
    case PacketType::handshake: return "handshake";
    case PacketType::retry: return "retry";
    case PacketType::one_rtt: return "1rtt";
    case PacketType::version_negotiation: return "version_negotiation";
  }
  return "?";
}

size_t varint_decode(std::span<const uint8_t> in, uint64_t* value) {
  if (in.empty()) return 0;
  const size_t n = size_t{1} << (in[0] >> 6);
  if (in.size() < n) return 0;
  uint64_t v = in[0] & 0x3f;
  for (size_t i = 1; i < n; ++i) v = v << 8 | in[i];
  *value = v;
  return n;
}

// ---- keys ------------------------------------------------------------------

PacketProtection::PacketProtection(Version v) : version_(v) {}

PacketProtection::~PacketProtection() {
  for (auto& level : sides_)
    for (Side& s : level) OPENSSL_cleanse(s.secret, sizeof s.secret);
}

PacketKeys::~PacketKeys() {
  OPENSSL_cleanse(key, sizeof key);
  OPENSSL_cleanse(iv, sizeof iv);
  OPENSSL_cleanse(hp, sizeof hp);
}

Status derive_initial_secrets(Version v, std::span<const uint8_t> client_dcid,
                              uint8_t client[32], uint8_t server[32]) {
  if (client_dcid.size() > kMaxCidLen) return Status::invalid_argument;
  // RFC 9001 §5.2: initial_secret = HKDF-Extract(salt, client_dst_connection_id).
  uint8_t initial[32];
  Status st = hkdf_extract(Hash::sha256, {v == Version::v1 ? kSaltV1 : kSaltV2, 20}, client_dcid,
                           initial);
  if (st == Status::ok)
    st = hkdf_expand_label(Hash::sha256, initial, "client in", {}, {client, 32});
  if (st == Status::ok)
    st = hkdf_expand_label(Hash::sha256, initial, "server in", {}, {server, 32});
  OPENSSL_cleanse(initial, sizeof initial);
  return st;
}

Status derive_packet_keys(Version v, Suite s, std::span<const uint8_t> secret, PacketKeys& out) {
  const SuiteInfo info = suite_info(s);
  if (info.key_len == 0 || secret.size() != hash_len(info.hash)) return Status::invalid_argument;
  const Labels lab = labels(v);
  out.key_len = info.key_len;
  out.hp_len = info.hp_key_len;
  Status st = hkdf_expand_label(info.hash, secret, lab.key, {}, {out.key, out.key_len});
  if (st == Status::ok) st = hkdf_expand_label(info.hash, secret, lab.iv, {}, {out.iv, kNonceLen});
  if (st == Status::ok) st = hkdf_expand_label(info.hash, secret, lab.hp, {}, {out.hp, out.hp_len});
  return st;
}

Status derive_next_secret(Version v, Suite s, std::span<const uint8_t> secret,
                          std::span<uint8_t> next) {
  const SuiteInfo info = suite_info(s);
  if (secret.size() != hash_len(info.hash) || next.size() != secret.size())
    return Status::invalid_argument;
  return hkdf_expand_label(info.hash, secret, labels(v).ku, {}, next);
}

Status PacketProtection::derive_into(Side& s, Gen& g, Level l, Direction d, Suite suite,
                                     std::span<const uint8_t> secret, uint64_t number) {
  PacketKeys k;
  Status st = derive_packet_keys(version_, suite, secret, k);
  if (st == Status::ok) std::memcpy(g.iv, k.iv, kNonceLen);
  if (st == Status::ok) {
    // Open keys count failures but never die of them one by one: the
    // integrity limit is enforced across all 1-RTT keys (RFC 9001 §6.6).
    Limits l_epoch = s.limits;
    if (d == Direction::open) l_epoch.soft_auth_failures = l_epoch.max_auth_failures = kUnlimited;
    st = g.epoch.install(epoch_id(l, number), d, suite, {k.key, k.key_len}, l_epoch,
                         now(), &events_);
  }
  g.number = number;
  return st;
}

Status PacketProtection::install_initial(Version v, std::span<const uint8_t> client_dcid,
                                         bool is_server, const Limits* limits) {
  if (client_dcid.size() > kMaxCidLen) return Status::invalid_argument;
  version_ = v;
  uint8_t client[32], server[32];
  Status st = derive_initial_secrets(v, client_dcid, client, server);
  if (st == Status::ok)
    st = install(Level::initial, Direction::seal, Suite::aes128_gcm, is_server ? server : client,
                 limits);
  if (st == Status::ok)
    st = install(Level::initial, Direction::open, Suite::aes128_gcm, is_server ? client : server,
                 limits);
  OPENSSL_cleanse(client, sizeof client);
  OPENSSL_cleanse(server, sizeof server);
  return st;
}

void PacketProtection::wipe_side(Side& s) {
  for (Gen& g : s.slot) {
    g.epoch.expire();
    OPENSSL_cleanse(g.iv, sizeof g.iv);
  }
  s.hp.wipe();
  OPENSSL_cleanse(s.secret, sizeof s.secret);
  s.secret_len = 0;
  s.has_next = s.has_prev = false;
}

Status PacketProtection::install(Level level, Direction dir, Suite suite,
                                 std::span<const uint8_t> secret, const Limits* limits) {
  if (suite != Suite::aes128_gcm && suite != Suite::aes256_gcm &&
      suite != Suite::chacha20_poly1305)
    return Status::invalid_argument;
  const SuiteInfo info = suite_info(suite);
  if (secret.size() != hash_len(info.hash)) return Status::invalid_argument;
  Side& s = side(level, dir);
  wipe_side(s);
  s.installed = s.exhausted = s.any_pn = false;
  s.first_pn = 0;
  for (Gen& g : s.slot) g.number = 0;
  s.limits = limits != nullptr ? *limits : default_limits(Protocol::quic, suite);
  // The clock is read on the data path only once some key has an age limit
  // (RFC 9001 has none; callers may add them).
  if (s.limits.has_age_limit()) uses_clock_ = true;
  s.suite = suite;
  s.cur = 0;
  s.next = 1;
  s.prev = 2;
  Status st;
  {
    PacketKeys k;
    st = derive_packet_keys(version_, suite, secret, k);
    if (st == Status::ok) st = s.hp.init(suite, {k.hp, k.hp_len});
  }
  if (st == Status::ok) st = derive_into(s, s.slot[s.cur], level, dir, suite, secret, 0);
  if (st == Status::ok && level == Level::one_rtt) {
    std::memcpy(s.secret, secret.data(), secret.size());
    s.secret_len = static_cast<uint8_t>(secret.size());
    st = derive_next(s, level, dir);
  }
  if (st != Status::ok) {
    wipe_side(s);
    return st;
  }
  s.installed = true;
  KeyEvent e;
  e.epoch = epoch_id(level, 0);
  e.dir = dir;
  e.kind = KeyEvent::installed;
  events_.push(e);
  return Status::ok;
}

// RFC 9001 §6.1: secret_<n+1> = HKDF-Expand-Label(secret_<n>, "quic ku", "",
// Hash.length); key and iv follow from it, the header-protection key does not
// change. Done ahead of time so that a key update costs no derivation on the
// packet that carries it (§6.3, timing side channels).
Status PacketProtection::derive_next(Side& s, Level l, Direction d) {
  uint8_t next[48];
  const std::span<uint8_t> out{next, s.secret_len};
  Status st = derive_next_secret(version_, s.suite, {s.secret, s.secret_len}, out);
  if (st == Status::ok)
    st = derive_into(s, s.slot[s.next], l, d, s.suite, out, s.slot[s.cur].number + 1);
  if (st == Status::ok) {
    std::memcpy(s.secret, next, s.secret_len);
    s.has_next = true;
  }
  OPENSSL_cleanse(next, sizeof next);
  return st;
}

void PacketProtection::rotate_seal() {
  Side& s = side(Level::one_rtt, Direction::seal);
  Gen& old = s.slot[s.cur];
  old.epoch.expire();  // the sender never needs the old keys again
  OPENSSL_cleanse(old.iv, sizeof old.iv);
  std::swap(s.cur, s.next);
  s.has_next = false;
  s.any_pn = false;
  derive_next(s, Level::one_rtt, Direction::seal);
}

void PacketProtection::rotate_open(uint64_t pn) {
  Side& s = side(Level::one_rtt, Direction::open);
  if (s.has_prev) {
    s.slot[s.prev].epoch.expire();
    OPENSSL_cleanse(s.slot[s.prev].iv, kNonceLen);
  }
  const uint8_t old_prev = s.prev;
  s.prev = s.cur;
  s.cur = s.next;
  s.next = old_prev;
  s.has_prev = true;
  s.has_next = false;
  s.first_pn = pn;
  s.any_pn = true;
  derive_next(s, Level::one_rtt, Direction::open);
  KeyEvent e;
  e.epoch = epoch_id(Level::one_rtt, s.slot[s.cur].number);
  e.dir = Direction::open;
  e.kind = KeyEvent::peer_updated;
  events_.push(e);
  // RFC 9001 §6.2: an endpoint that sees the peer's update answers with its
  // own, unless it started the update itself.
  Side& tx = side(Level::one_rtt, Direction::seal);
  if (tx.installed && tx.has_next && tx.slot[tx.cur].number < s.slot[s.cur].number) rotate_seal();
}

Status PacketProtection::update(Direction dir) {
  if (dir == Direction::open) return Status::invalid_argument;
  Side& s = side(Level::one_rtt, Direction::seal);
  if (!s.installed) return Status::unknown_epoch;
  if (!s.has_next) return Status::key_expired;
  // RFC 9001 §6.1: not before the handshake is confirmed, and no new update
  // before a packet sent with the current keys was acknowledged (the second
  // implies the first, see quic.h).
  const SpaceState& sp = spaces_[idx(Space::application)];
  if (!s.any_pn || !sp.any_acked || sp.largest_acked < s.first_pn) return Status::invalid_argument;
  rotate_seal();
  return Status::ok;
}

Status PacketProtection::discard_previous() {
  Side& s = side(Level::one_rtt, Direction::open);
  if (!s.has_prev) return Status::unknown_epoch;
  s.slot[s.prev].epoch.expire();
  OPENSSL_cleanse(s.slot[s.prev].iv, kNonceLen);
  s.has_prev = false;
  return Status::ok;
}

Status PacketProtection::expire(Level level, Direction dir) {
  Side& s = side(level, dir);
  if (!s.installed) return Status::unknown_epoch;
  wipe_side(s);
  return Status::ok;
}

uint64_t PacketProtection::generation(Direction d) const {
  const Side& s = side(Level::one_rtt, d);
  return s.slot[s.cur].number;
}

bool PacketProtection::has_previous() const { return side(Level::one_rtt, Direction::open).has_prev; }

const KeyCounters* PacketProtection::counters(Level level, Direction dir) const {
  const Side& s = side(level, dir);
  if (!s.installed) return nullptr;
  return &s.slot[s.cur].epoch.counters();
}

PacketProtection::Gen* PacketProtection::gen_by_number(Side& s, uint64_t number) {
  const uint8_t order[3] = {s.cur, s.next, s.prev};
  const bool present[3] = {true, s.has_next, s.has_prev};
  for (int i = 0; i < 3; ++i)
    if (present[i] && s.slot[order[i]].number == number) return &s.slot[order[i]];
  return nullptr;
}

Status PacketProtection::on_ack(Space sp, uint64_t largest_acked, uint64_t carried_in) {
  if (sp == Space::application && carried_in != kUnknownPn) {
    // RFC 9001 §6.2: a peer updates its send keys before it acknowledges a
    // packet that carried our update, so an ACK for a packet of our current
    // send generation must come in a packet of at least that generation. The
    // carrier's generation follows from its packet number: below the first
    // packet of the current open keys it used the previous ones.
    const Side& rx = side(Level::one_rtt, Direction::open);
    const Side& tx = side(Level::one_rtt, Direction::seal);
    if (rx.installed && tx.installed && tx.any_pn && largest_acked >= tx.first_pn) {
      uint64_t carrier = rx.slot[rx.cur].number;
      if (rx.any_pn && carried_in < rx.first_pn && carrier > 0) --carrier;
      if (carrier < tx.slot[tx.cur].number) {
        note_key_update_error(KeyUpdateError::ack_in_old_keys);
        return Status::malformed;
      }
    }
  }
  SpaceState& s = spaces_[idx(sp)];
  if (!s.any_acked || largest_acked > s.largest_acked) s.largest_acked = largest_acked;
  s.any_acked = true;
  return Status::ok;
}

void PacketProtection::on_ack_sent(uint64_t largest_acknowledged) {
  if (!ack_sent_reported_ || largest_acknowledged > largest_ack_sent_)
    largest_ack_sent_ = largest_acknowledged;
  ack_sent_reported_ = true;
}

// RFC 9001 §6.2: the peer may start the update after the current one only
// once it got an ACK for a packet it sent with the current keys, i.e. once we
// acknowledged a packet numbered at or after the first one of the current
// open generation. The first update (from generation 0) has no such rule.
bool PacketProtection::consecutive_update(const Side& s) const {
  return ack_sent_reported_ && s.slot[s.cur].number >= 1 && s.any_pn &&
         largest_ack_sent_ < s.first_pn;
}

// A packet with a flipped phase, numbered after the first packet of the
// current keys, failed with the next keys: if the previous keys open it, the
// peer went back to old keys (RFC 9001 §6.4). The bytes are put back either way.
bool PacketProtection::retry_previous(Side& s, const OpenMeta& mt, const AeadJob& j) {
  if (!s.has_prev) return false;
  Gen& g = s.slot[s.prev];
  if (!g.epoch.live()) return false;
  AeadJob r;
  r.key = &g.epoch.aead();
  xor_nonce(g.iv, mt.pn, r.nonce);
  r.aad = j.aad;
  r.data = j.data;
  r.tag = j.tag;
  rl::open({&r, 1});
  if (r.status != Status::ok) return false;
  rl::seal({&r, 1});
  return true;
}

const char* to_string(KeyUpdateError e) {
  switch (e) {
    case KeyUpdateError::none: return "none";
    case KeyUpdateError::old_keys_after_new: return "old_keys_after_new";
    case KeyUpdateError::consecutive_update: return "consecutive_update";
    case KeyUpdateError::ack_in_old_keys: return "ack_in_old_keys";
  }
  return "?";
}

Status PacketProtection::skip_packet_numbers(Space sp, uint64_t count) {
  SpaceState& s = spaces_[idx(sp)];
  if (count > kMaxPn + 1 - s.next_pn) return Status::invalid_argument;
  s.next_pn += count;
  return Status::ok;
}

Status PacketProtection::set_dcid(std::span<const uint8_t> cid) {
  if (cid.size() > kMaxCidLen) return Status::invalid_argument;
  if (!cid.empty()) std::memcpy(dcid_, cid.data(), cid.size());
  dcid_len_ = static_cast<uint8_t>(cid.size());
  return Status::ok;
}

Status PacketProtection::set_scid(std::span<const uint8_t> cid) {
  if (cid.size() > kMaxCidLen) return Status::invalid_argument;
  if (!cid.empty()) std::memcpy(scid_, cid.data(), cid.size());
  scid_len_ = static_cast<uint8_t>(cid.size());
  return Status::ok;
}

Status PacketProtection::set_short_dcid_length(size_t len) {
  if (len > kMaxCidLen) return Status::invalid_argument;
  short_dcid_len_ = static_cast<uint8_t>(len);
  return Status::ok;
}

size_t PacketProtection::max_header_length(Level level, size_t payload_len,
                                           size_t token_len) const {
  if (level == Level::one_rtt) return 1 + dcid_len_ + 4;
  size_t n = 7 + dcid_len_ + scid_len_ + 4;
  if (level == Level::initial) n += varint_length(token_len) + token_len;
  return n + (payload_len + 4 + 3 + kTagLen < 16384 ? 2 : 4);
}

// ---- seal --------------------------------------------------------------------

size_t PacketProtection::seal(std::span<Packet> packets) {
  // Both tail calls, so that a single packet pays no set-up for the loop.
  return packets.size() == 1 ? seal_one(packets) : seal_chunks(packets);
}

size_t PacketProtection::seal_chunks(std::span<Packet> packets) {
  size_t ok = 0;
  for (size_t i = 0; i < packets.size(); i += kBurst)
    ok += seal_chunk(packets.subspan(i, std::min(kBurst, packets.size() - i)));
  return ok;
}

namespace {

// The truncated packet number, big-endian, in 1..4 bytes (one or two stores
// instead of a byte loop).
void store_pn(uint8_t* p, uint64_t pn, unsigned len) {
  switch (len) {
    case 1: p[0] = static_cast<uint8_t>(pn); break;
    case 2: store_be16(p, static_cast<uint16_t>(pn)); break;
    case 3:
      store_be16(p, static_cast<uint16_t>(pn >> 8));
      p[2] = static_cast<uint8_t>(pn);
      break;
    default: store_be32(p, static_cast<uint32_t>(pn)); break;
  }
}

// What seal reports for a 1-RTT packet whose short header starts at h.
inline void sealed_1rtt(Packet& p, uint64_t pn, unsigned pn_len, bool phase, uint8_t* h,
                        size_t cid_len) {
  p.pn = pn;
  p.pn_length = static_cast<uint8_t>(pn_len);
  p.key_phase = phase;
  p.type = PacketType::one_rtt;
  p.header_length = static_cast<uint32_t>(1 + cid_len + pn_len);
  p.dcid = {h + 1, cid_len};
  p.scid = {};
}

}  // namespace

// The data path: a burst of 1-RTT packets only. Everything that is the same
// for the whole burst (keys, CID, first-byte bits, packet-number state) is read
// once into locals: every header byte is stored through a uint8_t*, which may
// alias any member, so the general loop below reloads them for each packet.
// Admission to the key's limits is one call for the burst; masks are queued
// in the same pass as the AEAD jobs (the sample's address is known before the
// ciphertext is). Returns false, having committed nothing (no packet number
// used, nothing counted), when any packet needs the general path; the caller
// then runs it for the whole burst.
bool PacketProtection::seal_1rtt(std::span<Packet> packets, size_t* ok_out) {
  Side& s = side(Level::one_rtt, Direction::seal);
  if (!s.installed) return false;
  Gen& g = s.slot[s.cur];
  if (!g.epoch.live()) return false;
  SpaceState& sp = spaces_[idx(Space::application)];
  const size_t n = packets.size();
  const uint64_t pn0 = sp.next_pn;
  if (pn0 > kMaxPn + 1 - n) return false;
  uint8_t cid[kMaxCidLen];
  std::memcpy(cid, dcid_, kMaxCidLen);
  const size_t cid_len = dcid_len_;
  const uint8_t first = static_cast<uint8_t>(0x40 | (spin_ ? 0x20 : 0) |
                                             ((g.number & 1) ? kKeyPhaseBit : 0));
  const bool phase = g.number & 1;
  const uint64_t acked = sp.largest_acked;
  const bool none_acked = !sp.any_acked;
  const recjob::Nonce128 iv = recjob::load_iv128(g.iv);  // RFC 9001 §5.3: iv XOR pn
  // RFC 9000 §17.1's length grows with pn - largest_acked, so when the
  // burst's first and last packet numbers need the same length, every packet
  // between does: computed once (pn_len_all), else per packet (0).
  const unsigned len_first = packet_number_length(pn0, acked, none_acked);
  const unsigned pn_len_all =
      n > 0 && len_first == packet_number_length(pn0 + n - 1, acked, none_acked) ? len_first : 0;
  // The header of a packet whose packet number takes `tmpl_len` bytes (in a
  // steady burst, all of them) is two 8-byte stores: a template with the
  // first byte and the CID, the packet number ORed into the second. Possible
  // when the first byte and CID fill the first store (a CID of 7 or more
  // bytes) and the header is at most 16 bytes; tmpl_len 0 = never.
  unsigned tmpl_len = 0;
  uint64_t tmpl_lo = 0, tmpl_hi = 0, tmpl_pn_mask = 0;
  if (cid_len >= 7 && n > 0) {
    unsigned l = pn_len_all != 0 ? pn_len_all : len_first;
    if (packets[0].min_pn_length > l && packets[0].min_pn_length <= 4) l = packets[0].min_pn_length;
    if (cid_len + l <= 15) {
      uint8_t t[16] = {};
      t[0] = static_cast<uint8_t>(first | (l - 1));
      std::memcpy(t + 1, cid, cid_len);
      const size_t hdr = 1 + cid_len + l;
      tmpl_lo = recjob::le64(t);
      tmpl_hi = recjob::le64(t + hdr - 8);
      tmpl_pn_mask = ~uint64_t{0} << (8 * (8 - l));
      tmpl_len = l;
    }
  }
  const AeadKey* key = &g.epoch.aead();
  const MaskKey* hp = &s.hp;
  AeadJob* jobs = scratch_.jobs;
  MaskJob* masks = scratch_.masks;
  uint64_t total = 0;
  size_t i = 0;
  // The lean loop: while a packet's header is the template's (its packet
  // number takes tmpl_len bytes) and needs no padding, only the stores; the
  // loop below goes on from the first packet that needs more.
  if (tmpl_len != 0 && pn_len_all != 0) {
    const size_t hdr_len = 1 + cid_len + tmpl_len;
    const uint32_t min_len = tmpl_len >= 4 ? 0 : 4 - tmpl_len;  // else padded (RFC 9001 §5.4.2)
    for (; i < n; ++i) {
      Packet& p = packets[i];
      const PacketView v = p.view;
      const unsigned pn_len = p.min_pn_length > pn_len_all ? p.min_pn_length : pn_len_all;
      if (p.level != Level::one_rtt || !p.token.empty() || pn_len != tmpl_len ||
          !v.well_formed() || v.length < min_len || v.offset < hdr_len ||
          v.tailroom() < kTagLen)
        break;
      const uint64_t pn = pn0 + i;
      uint8_t* data = v.buf + v.offset;
      uint8_t* h = data - hdr_len;
      const uint64_t hi = tmpl_hi | (__builtin_bswap64(pn) & tmpl_pn_mask);
      std::memcpy(h, &tmpl_lo, 8);
      std::memcpy(data - 8, &hi, 8);
      recjob::make(jobs + i, key, recjob::xor_seq(iv, pn), {h, hdr_len}, {data, v.length},
                   data + v.length);
      masks[i].key = hp;
      masks[i].sample = h + 1 + cid_len + 4;  // RFC 9001 §5.4.2: pn_offset + 4
      total += v.length;
    }
  }
  for (; i < n; ++i) {
    Packet& p = packets[i];
    const PacketView v = p.view;
    if (p.level != Level::one_rtt || !p.token.empty() || p.min_pn_length > 4 || !v.well_formed())
      return false;
    const uint64_t pn = pn0 + i;
    unsigned pn_len = pn_len_all != 0 ? pn_len_all : packet_number_length(pn, acked, none_acked);
    if (pn_len < p.min_pn_length) pn_len = p.min_pn_length;
    const size_t pad = pn_len + v.length < 4 ? 4 - pn_len - v.length : 0;
    const size_t body = v.length + pad;
    const size_t hdr_len = 1 + cid_len + pn_len;
    if (v.offset < hdr_len || v.tailroom() < pad + kTagLen) return false;
    uint8_t* data = v.buf + v.offset;
    uint8_t* h = data - hdr_len;
    if (pn_len == tmpl_len) {
      const uint64_t hi = tmpl_hi | (__builtin_bswap64(pn) & tmpl_pn_mask);
      std::memcpy(h, &tmpl_lo, 8);
      std::memcpy(data - 8, &hi, 8);
    } else {
      h[0] = static_cast<uint8_t>(first | (pn_len - 1));
      copy_cid(h + 1, cid, cid_len);
      store_pn(h + 1 + cid_len, pn, pn_len);
    }
    if (pad != 0) std::memset(data + v.length, 0, pad);
    AeadJob& j = jobs[i];
    j.key = key;
    recjob::store16(j.nonce, recjob::xor_seq(iv, pn));
    j.aad = {h, hdr_len};
    j.data = {data, body};
    j.tag = data + body;
    j.status = Status::ok;
    MaskJob& m = masks[i];
    m.key = hp;
    m.sample = h + 1 + cid_len + 4;  // RFC 9001 §5.4.2: pn_offset + 4
    total += body;
  }
  if (g.epoch.admit_seal(n, total, now()) != Status::ok) return false;
  sp.next_pn = pn0 + n;
  if (!s.any_pn) {
    s.first_pn = pn0;
    s.any_pn = true;
  }
  rl::seal({jobs, n});
  rl::mask({masks, n});
  size_t ok = 0;
  // The outputs here rather than in the loops above, which have more to keep
  // in registers.
  for (size_t i = 0; i < n; ++i) {
    Packet& p = packets[i];
    const AeadJob& j = jobs[i];
    uint8_t* h = const_cast<uint8_t*>(j.aad.data());  // the header, in the caller's buffer
    const uint32_t hdr_len = static_cast<uint32_t>(j.aad.size());
    sealed_1rtt(p, pn0 + i, hdr_len - 1 - static_cast<unsigned>(cid_len), phase, h, cid_len);
    if (j.status != Status::ok) {  // the packet number stays used
      p.view.status = j.status;
      continue;
    }
    const uint8_t* mask = masks[i].mask;
    h[0] ^= mask[0] & kShortHpBits;
    xor_pn(h + 1 + cid_len, mask, hdr_len - 1 - static_cast<unsigned>(cid_len));  // pn + payload >= 4 bytes
    p.view.offset -= hdr_len;
    p.view.length = hdr_len + static_cast<uint32_t>(j.data.size() + kTagLen);
    p.view.status = Status::ok;
    ++ok;
  }
  *ok_out = ok;
  return true;
}

// A burst of one 1-RTT packet (the fixed cost of a call is most of what a
// single packet pays): seal_1rtt's per-packet loop for n = 1, with the AEAD
// and mask jobs on the stack and nothing set up for a burst (no header
// template). Admits the packet to the key's limits before writing anything;
// hands the packet, having changed nothing, to seal_chunk when it needs the
// general path.
size_t PacketProtection::seal_one(std::span<Packet> one) {
  Packet& p = one[0];
  Side& s = side(Level::one_rtt, Direction::seal);
  if (!s.installed) return seal_chunk(one);
  Gen& g = s.slot[s.cur];
  SpaceState& sp = spaces_[idx(Space::application)];
  const uint64_t pn = sp.next_pn;
  const PacketView v = p.view;
  if (!g.epoch.live() || pn > kMaxPn || p.level != Level::one_rtt || !p.token.empty() ||
      p.min_pn_length > 4 || !v.well_formed())
    return seal_chunk(one);
  unsigned pn_len = packet_number_length(pn, sp.largest_acked, !sp.any_acked);
  if (pn_len < p.min_pn_length) pn_len = p.min_pn_length;
  const size_t pad = pn_len + v.length < 4 ? 4 - pn_len - v.length : 0;  // RFC 9001 §5.4.2
  const size_t body = v.length + pad;
  const size_t cid_len = dcid_len_;
  const size_t hdr_len = 1 + cid_len + pn_len;
  if (v.offset < hdr_len || v.tailroom() < pad + kTagLen) return seal_chunk(one);
  if (g.epoch.admit_seal(1, body, now()) != Status::ok) return seal_chunk(one);
  sp.next_pn = pn + 1;
  if (!s.any_pn) {
    s.first_pn = pn;
    s.any_pn = true;
  }
  const bool phase = g.number & 1;
  uint8_t* data = v.buf + v.offset;
  uint8_t* h = data - hdr_len;
  h[0] = static_cast<uint8_t>(0x40 | (spin_ ? 0x20 : 0) | (phase ? kKeyPhaseBit : 0) |
                              (pn_len - 1));
  copy_cid(h + 1, dcid_, cid_len);
  store_pn(h + 1 + cid_len, pn, pn_len);
  if (pad != 0) std::memset(data + v.length, 0, pad);
  AeadJob j;
  recjob::make(&j, &g.epoch.aead(), recjob::xor_seq(recjob::load_iv128(g.iv), pn), {h, hdr_len},
               {data, body}, data + body);
  MaskJob m;
  m.key = &s.hp;
  m.sample = h + 1 + cid_len + 4;  // RFC 9001 §5.4.2: pn_offset + 4
  sealed_1rtt(p, pn, pn_len, phase, h, cid_len);
  rl::seal_masked(j, m);  // the mask over the ciphertext, in the seal's passes where a tier can
  if (j.status != Status::ok) {  // the packet number stays used
    p.view.status = j.status;
    return 0;
  }
  // What is needed after the calls is read back from the jobs and the
  // outputs (in memory anyway) rather than kept across them.
  uint8_t* hdr = const_cast<uint8_t*>(j.aad.data());
  hdr[0] ^= m.mask[0] & kShortHpBits;
  xor_pn(const_cast<uint8_t*>(m.sample) - 4, m.mask, p.pn_length);  // pn + payload >= 4 bytes
  const uint32_t hl = static_cast<uint32_t>(j.aad.size());
  p.view.offset -= hl;
  p.view.length = hl + static_cast<uint32_t>(j.data.size() + kTagLen);
  p.view.status = Status::ok;
  return 1;
}

size_t PacketProtection::seal_chunk(std::span<Packet> packets) {
  if (size_t ok = 0; seal_1rtt(packets, &ok)) return ok;
  using Meta = SealMeta;
  AeadJob* jobs = scratch_.jobs;
  MaskJob* masks = scratch_.masks;
  Meta* meta = scratch_.seal;
  size_t njobs = 0;
  const uint64_t now = this->now();

  // Phase 1: headers and jobs. Packet numbers are assigned here, once, so a
  // nonce is never reused even if a later step fails.
  for (size_t i = 0; i < packets.size(); ++i) {
    Packet& p = packets[i];
    PacketView& v = p.view;
    meta[i].job = -1;
    if (!v.well_formed() || static_cast<size_t>(p.level) > 3) {
      v.status = Status::invalid_argument;
      continue;
    }
    Side& s = side(p.level, Direction::seal);
    if (!s.installed) {
      v.status = Status::unknown_epoch;
      continue;
    }
    Gen& g = s.slot[s.cur];
    if (!g.epoch.live()) {
      v.status = Status::key_expired;
      continue;
    }
    if (!p.token.empty() && p.level != Level::initial) {
      v.status = Status::invalid_argument;
      continue;
    }
    SpaceState& sp = spaces_[idx(space_of(p.level))];
    if (sp.next_pn > kMaxPn) {  // RFC 9000 §12.3: packet numbers never wrap
      v.status = Status::key_exhausted;
      continue;
    }
    const uint64_t pn = sp.next_pn;
    unsigned pn_len = packet_number_length(pn, sp.largest_acked, !sp.any_acked);
    if (p.min_pn_length > 4) {
      v.status = Status::invalid_argument;
      continue;
    }
    if (pn_len < p.min_pn_length) pn_len = p.min_pn_length;
    // RFC 9001 §5.4.2: the sample needs 4 bytes of packet number + payload;
    // short payloads get PADDING frames (zero bytes).
    const size_t pad = pn_len + v.length < 4 ? 4 - pn_len - v.length : 0;
    const size_t body = v.length + pad;
    const bool long_hdr = p.level != Level::one_rtt;
    size_t hdr_len = 1 + dcid_len_ + pn_len;
    size_t len_field = 0;
    if (long_hdr) {
      const uint64_t length = pn_len + body + kTagLen;
      len_field = length < 16384 ? 2 : 4;  // 2 bytes as most stacks write it
      if (length >= (uint64_t{1} << 30)) {
        v.status = Status::invalid_argument;
        continue;
      }
      hdr_len += 4 + 1 + 1 + scid_len_ + len_field;
      if (p.level == Level::initial) hdr_len += varint_length(p.token.size()) + p.token.size();
    }
    if (v.offset < hdr_len || v.tailroom() < pad + kTagLen) {
      v.status = Status::buffer_too_small;
      continue;
    }
    const Status adm = g.epoch.admit_seal(1, body, now);
    if (adm != Status::ok) {
      v.status = adm;
      continue;
    }
    uint8_t* h = v.buf + v.offset - hdr_len;
    size_t w = 0;
    if (long_hdr) {
      const PacketType t = p.level == Level::initial    ? PacketType::initial
                           : p.level == Level::zero_rtt ? PacketType::zero_rtt
                                                        : PacketType::handshake;
      h[w++] = static_cast<uint8_t>(0xc0 | long_type_bits(version_, t) << 4 | (pn_len - 1));
      store_be32(h + w, static_cast<uint32_t>(version_));
      w += 4;
      h[w++] = dcid_len_;
      copy_cid(h + w, dcid_, dcid_len_);
      w += dcid_len_;
      h[w++] = scid_len_;
      copy_cid(h + w, scid_, scid_len_);
      w += scid_len_;
      if (p.level == Level::initial) {
        const size_t tl = varint_length(p.token.size());
        varint_write(h + w, p.token.size(), tl);
        w += tl;
        if (!p.token.empty()) std::memcpy(h + w, p.token.data(), p.token.size());
        w += p.token.size();
      }
      varint_write(h + w, pn_len + body + kTagLen, len_field);
      w += len_field;
    } else {
      h[w++] = static_cast<uint8_t>(0x40 | (spin_ ? 0x20 : 0) |
                                    ((g.number & 1) ? kKeyPhaseBit : 0) | (pn_len - 1));
      copy_cid(h + w, dcid_, dcid_len_);
      w += dcid_len_;
    }
    store_be(h + w, pn, pn_len);
    if (pad != 0) std::memset(v.data() + v.length, 0, pad);

    AeadJob& j = jobs[njobs];
    j.key = &g.epoch.aead();
    xor_nonce(g.iv, pn, j.nonce);
    j.aad = {h, hdr_len};
    j.data = {v.data(), body};
    j.tag = v.data() + body;
    j.status = Status::ok;
    meta[i] = Meta{h, static_cast<uint32_t>(hdr_len), static_cast<uint32_t>(body),
                   static_cast<uint8_t>(pn_len), long_hdr, static_cast<int>(njobs)};
    ++njobs;
    ++sp.next_pn;
    if (!s.any_pn) {
      s.first_pn = pn;
      s.any_pn = true;
    }
    p.pn = pn;
    p.pn_length = static_cast<uint8_t>(pn_len);
    p.key_phase = !long_hdr && (g.number & 1);
    p.type = long_hdr ? (p.level == Level::initial    ? PacketType::initial
                         : p.level == Level::zero_rtt ? PacketType::zero_rtt
                                                      : PacketType::handshake)
                      : PacketType::one_rtt;
  }

  // Phase 2: one AEAD call for the burst, then one mask call: the sample is
  // taken from the ciphertext (RFC 9001 §5.4.2).
  rl::seal({jobs, njobs});
  size_t nmasks = 0;
  int* mask_of = scratch_.mask_of;
  for (size_t i = 0; i < packets.size(); ++i) {
    mask_of[i] = -1;
    if (meta[i].job < 0) continue;
    const AeadJob& j = jobs[meta[i].job];
    if (j.status != Status::ok) {
      packets[i].view.status = j.status;
      continue;
    }
    MaskJob& m = masks[nmasks];
    m.key = &side(packets[i].level, Direction::seal).hp;
    m.sample = meta[i].hdr + meta[i].hdr_len - meta[i].pn_len + 4;
    mask_of[i] = static_cast<int>(nmasks++);
  }
  rl::mask({masks, nmasks});

  // Phase 3: apply the masks and hand back the whole packet.
  size_t ok = 0;
  for (size_t i = 0; i < packets.size(); ++i) {
    if (mask_of[i] < 0) continue;
    const Meta& mt = meta[i];
    const uint8_t* mask = masks[mask_of[i]].mask;
    mt.hdr[0] ^= mask[0] & (mt.long_hdr ? kLongHpBits : kShortHpBits);
    xor_pn(mt.hdr + mt.hdr_len - mt.pn_len, mask, mt.pn_len);  // pn + body >= 4 bytes
    PacketView& v = packets[i].view;
    v.offset -= mt.hdr_len;
    v.length = mt.hdr_len + mt.body_len + static_cast<uint32_t>(kTagLen);
    v.status = Status::ok;
    packets[i].header_length = mt.hdr_len;
    packets[i].dcid = {mt.hdr + (mt.long_hdr ? 6 : 1), dcid_len_};
    packets[i].scid = mt.long_hdr ? std::span<const uint8_t>{mt.hdr + 7 + dcid_len_, scid_len_}
                                  : std::span<const uint8_t>{};
    ++ok;
  }
  return ok;
}

// ---- open --------------------------------------------------------------------

size_t PacketProtection::open(std::span<Packet> packets) {
  // Both tail calls, so that a single packet pays no set-up for the loop.
  return packets.size() == 1 ? open_one(packets) : open_chunks(packets);
}

// The integrity limit holds across all 1-RTT open keys (RFC 9001 §6.6), in a
// burst as one packet at a time: see open_within_integrity.
size_t PacketProtection::open_chunks(std::span<Packet> packets) {
  const Side& s = side(Level::one_rtt, Direction::open);
  return open_within_integrity(
      packets, kBurst,
      [&] { return s.exhausted ? kUnlimited : failures_left(s.limits.max_auth_failures, auth_failures_); },
      [&](std::span<Packet> chunk) { return open_chunk(chunk); });
}

// The Destination Connection ID of a packet as the version-independent
// invariants place it (RFC 8999 §5.1, §5.2): after a long header's length
// byte, whatever the version; right after a short header's first byte, as
// long as this connection's CIDs are. False when the packet is too short to
// hold it.
bool PacketProtection::dcid_of(const Packet& p, std::span<const uint8_t>& cid) const {
  const uint8_t* d = p.view.buf + p.view.offset;
  const size_t n = p.view.length;
  if (n == 0) return false;
  const size_t off = (d[0] & 0x80) != 0 ? 6 : 1;
  if (n < off) return false;
  const size_t len = (d[0] & 0x80) != 0 ? d[5] : short_dcid_len_;
  if (len > n - off) return false;
  cid = {d + off, len};
  return true;
}

// RFC 9000 §12.2: senders MUST NOT coalesce packets with different
// connection IDs, and receivers SHOULD ignore any packet in a datagram whose
// DCID differs from the first packet's. Those get `malformed` without being
// opened (no AEAD, so no integrity-limit count, no state change); the others
// open in runs between them, usually one burst for the whole datagram.
size_t PacketProtection::open_datagram(std::span<uint8_t> datagram, std::span<Packet> out,
                                       size_t* count) {
  const size_t n = split_datagram(datagram, out, grease_quic_bit_);
  if (count != nullptr) *count = n;
  std::span<const uint8_t> first;
  if (n < 2 || !dcid_of(out[0], first)) return open(out.first(n));
  size_t ok = 0, run = 0;
  for (size_t i = 1; i < n; ++i) {
    std::span<const uint8_t> cid;
    if (!dcid_of(out[i], cid) ||
        (cid.size() == first.size() && std::memcmp(cid.data(), first.data(), cid.size()) == 0))
      continue;
    ok += open(out.subspan(run, i - run));
    out[i].view.status = Status::malformed;
    run = i + 1;
  }
  return ok + open(out.subspan(run, n - run));
}

void PacketProtection::count_auth_failure(Side& s, Gen* g) {
  if (g != nullptr) g->epoch.count_auth_failure();  // per-key counter, no limit
  if (&s != &side(Level::one_rtt, Direction::open)) return;
  // RFC 9001 §6.6: failed opens are counted across all 1-RTT keys of the
  // connection; at the limit every 1-RTT open key is dead.
  ++auth_failures_;
  KeyEvent e;
  e.epoch = epoch_id(Level::one_rtt, s.slot[s.cur].number);
  e.dir = Direction::open;
  if (auth_failures_ >= s.limits.max_auth_failures && !s.exhausted) {
    s.exhausted = true;
    e.kind = KeyEvent::integrity_limit;
    events_.push(e);
    for (Gen& x : s.slot) {
      x.epoch.expire();
      OPENSSL_cleanse(x.iv, kNonceLen);
    }
    s.has_next = s.has_prev = false;
    return;
  }
  if (auth_failures_ >= s.limits.soft_auth_failures && !soft_integrity_sent_) {
    soft_integrity_sent_ = true;
    e.kind = KeyEvent::soft_limit;
    events_.push(e);
  }
}

// ---- open: the lean loops -------------------------------------------------------
//
// The usual burst is short-header packets of one connection under the
// current 1-RTT keys, packet numbers rising above everything received, far
// from every limit. Three lean loops take a prefix of the burst through the
// three phases of open_chunk with the same results as the general loops and
// stop at the first packet that needs anything else; the general loops go on
// from that packet (and take the lean packets' state over, lean_to_meta).
// Each is a separate function so that its few constants stay in registers.

// RFC 9000 §17.1/App. A.3 with packet numbers below 2^61: reconstruction
// never meets the 2^62 bound, so the lean decode needs no limit checks.
constexpr uint64_t kLeanMaxExpected = uint64_t{1} << 61;

// Phase 1: while packets are short headers (RFC 9000 §17.3.1: fixed bit set,
// unless greased, RFC 9287) long enough to sample (RFC 9001 §5.4.2), queue
// mask i for packet i. Writes the outputs the general parser writes. Returns
// how many.
size_t PacketProtection::lean_parse(std::span<Packet> packets) {
  const Side& s = side(Level::one_rtt, Direction::open);
  if (!s.installed || s.exhausted || !s.hp.valid()) return 0;
  const size_t cid_len = short_dcid_len_;
  const size_t pn_off = 1 + cid_len;
  const uint8_t want = grease_quic_bit_ ? 0x00 : 0x40;
  const uint8_t check = grease_quic_bit_ ? 0x80 : 0xc0;
  const MaskKey* hp = &s.hp;
  MaskJob* masks = scratch_.masks;
  size_t i = 0;
  for (; i < packets.size(); ++i) {
    Packet& p = packets[i];
    const PacketView v = p.view;
    if (!v.well_formed() || v.length < pn_off + 4 + kSampleLen) break;
    const uint8_t* d = v.buf + v.offset;
    if ((d[0] & check) != want) break;
    masks[i].key = hp;
    masks[i].sample = d + pn_off + 4;
    one_rtt_outputs(p, d, cid_len);
  }
  return i;
}

// Phase 2 for packets [0, count) that lean_parse took: while a packet, once
// its header protection is off, has the current key phase and zero reserved
// bits (a packet with reserved bits set is refused only after it
// authenticated: the general loops do that), and a packet number above every
// one received and every earlier one of this run (so the replay check is
// passed by construction), unprotect its header and build job i with the
// current keys. Nothing of a packet it stops at is written. Returns how many.
size_t PacketProtection::lean_jobs(std::span<Packet> packets, size_t count, uint64_t now) {
  Side& s = side(Level::one_rtt, Direction::open);
  Gen& g = s.slot[s.cur];
  const ReplayWindow& w = spaces_[idx(Space::application)].window;
  const uint64_t expected = w.empty() ? 0 : w.highest() + 1;
  if (count == 0 || expected >= kLeanMaxExpected) return 0;
  const uint8_t want = (g.number & 1) ? kKeyPhaseBit : 0;
  const size_t pn_off = 1 + size_t{short_dcid_len_};
  const AeadKey* key = &g.epoch.aead();
  const recjob::Nonce128 iv = recjob::load_iv128(g.iv);  // RFC 9001 §5.3: iv XOR pn
  const MaskJob* masks = scratch_.masks;
  AeadJob* jobs = scratch_.jobs;
  uint64_t* lean_pn = scratch_.lean_pn;
  uint64_t lo = expected;  // the lowest packet number the next one may have
  size_t i = 0;
  for (; i < count; ++i) {
    const PacketView& v = packets[i].view;
    uint8_t* d = v.buf + v.offset;
    const uint8_t* mask = masks[i].mask;
    const uint8_t first = d[0] ^ (mask[0] & kShortHpBits);
    if ((first & (kKeyPhaseBit | kShortReserved)) != want) break;
    const LeanPn n = decode_lean_pn(first, d + pn_off, mask, expected);
    if (!n.ok) break;
    const uint64_t pn = n.pn;
    if (pn < lo) break;
    if (i == 0 && g.epoch.admit_open(now) != Status::ok) break;  // asked once, as the general loop would
    lo = pn + 1;
    d[0] = first;
    std::memcpy(d + pn_off, &n.raw, 4);
    const size_t hdr_len = pn_off + n.pn_len;
    const size_t len = v.length;
    recjob::make(jobs + i, key, recjob::xor_seq(iv, pn), {d, hdr_len},
                 {d + hdr_len, len - hdr_len - kTagLen}, d + len - kTagLen);
    lean_pn[i] = pn;
  }
  return i;
}

// Phase 3 for packets [0, count) that lean_jobs took: while they
// authenticated, commit them as the general loop would (window, outputs);
// their counters are left to the caller, once for the run (*bytes: their
// payload bytes). Returns how many.
size_t PacketProtection::lean_commit(std::span<Packet> packets, size_t count, uint64_t* bytes) {
  const Side& s = side(Level::one_rtt, Direction::open);
  const bool phase = s.slot[s.cur].number & 1;
  const uint32_t pn_off = 1 + uint32_t{short_dcid_len_};
  ReplayWindow& w = spaces_[idx(Space::application)].window;
  const AeadJob* jobs = scratch_.jobs;
  const uint64_t* lean_pn = scratch_.lean_pn;
  uint64_t sum = 0;
  size_t i = 0;
  for (; i < count; ++i) {
    const AeadJob& j = jobs[i];
    if (j.status != Status::ok) break;
    const uint64_t pn = lean_pn[i];
    const uint32_t hdr_len = static_cast<uint32_t>(j.aad.size());
    const uint32_t len = static_cast<uint32_t>(j.data.size());
    Packet& p = packets[i];
    p.pn = pn;
    p.pn_length = static_cast<uint8_t>(hdr_len - pn_off);
    p.key_phase = phase;
    p.header_length = hdr_len;
    p.view.offset += hdr_len;
    p.view.length = len;
    p.view.status = Status::ok;
    sum += len;
  }
  w.commit_rising(lean_pn, i);  // rising above the window: commit() for each
  if (i != 0) guess_pn_len_ = packets[i - 1].pn_length;  // a lone packet next: open_one_guessed
  *bytes = sum;
  return i;
}

// A burst of one packet: lean_parse, lean_jobs and lean_commit for n = 1
// in one function, with the mask and AEAD jobs on the stack and the
// per-burst bookkeeping of open_chunk left out. The same rules in the same
// order; when the packet needs the general path, hands it, having changed
// nothing (neither state nor bytes: the mask is computed but not applied), to
// open_chunk, which starts over. A packet that fails to authenticate is handled
// here as the general loop would: header put back, status, and the
// integrity-limit count (RFC 9001 §6.6).
size_t PacketProtection::open_one(std::span<Packet> one) {
  Packet& p = one[0];
  Side& s = side(Level::one_rtt, Direction::open);
  if (!s.installed || s.exhausted || !s.hp.valid()) return open_chunk(one);
  const PacketView v = p.view;
  const size_t cid_len = short_dcid_len_;
  const size_t pn_off = 1 + cid_len;
  if (!v.well_formed() || v.length < pn_off + 4 + kSampleLen) return open_chunk(one);
  uint8_t* d = v.buf + v.offset;
  const uint8_t first_raw = d[0];
  // RFC 9000 §17.3.1: fixed bit set, unless greased (RFC 9287).
  if ((first_raw & (grease_quic_bit_ ? 0x80 : 0xc0)) != (grease_quic_bit_ ? 0x00 : 0x40))
    return open_chunk(one);
  const ReplayWindow& w = spaces_[idx(Space::application)].window;
  const uint64_t expected = w.empty() ? 0 : w.highest() + 1;
  if (expected >= kLeanMaxExpected) return open_chunk(one);
  Gen& g = s.slot[s.cur];
  MaskJob m;
  m.key = &s.hp;
  m.sample = d + pn_off + 4;  // RFC 9001 §5.4.2
  const uint8_t want = (g.number & 1) ? kKeyPhaseBit : 0;
  if (guess_pn_len_ != 0) {
    if (g.epoch.admit_open(now()) != Status::ok) return open_chunk(one);
    const int r = open_one_guessed(p, g, d, expected, want, m);
    if (r >= 0) return static_cast<size_t>(r);
  } else {
    rl::mask({&m, 1});
  }
  const uint8_t first = first_raw ^ (m.mask[0] & kShortHpBits);
  if ((first & (kKeyPhaseBit | kShortReserved)) != want) return open_chunk(one);
  const LeanPn n = decode_lean_pn(first, d + pn_off, m.mask, expected);
  if (!n.ok) return open_chunk(one);
  if (g.epoch.admit_open(now()) != Status::ok) return open_chunk(one);
  const uint64_t pn = n.pn;
  one_rtt_outputs(p, d, cid_len);
  d[0] = first;
  std::memcpy(d + pn_off, &n.raw, 4);
  const size_t hdr_len = pn_off + n.pn_len;
  const size_t len = v.length - hdr_len - kTagLen;
  AeadJob j;
  recjob::make(&j, &g.epoch.aead(), recjob::xor_seq(recjob::load_iv128(g.iv), pn), {d, hdr_len},
               {d + hdr_len, len}, d + v.length - kTagLen);
  rl::open({&j, 1});
  // From here the header's place and lengths are read back from the job and
  // the mask (in memory anyway) rather than kept across the call.
  const uint32_t hdr = static_cast<uint32_t>(j.aad.size());
  const uint32_t pn_len = hdr - 1 - short_dcid_len_;
  if (j.status != Status::ok) {
    uint8_t* h = const_cast<uint8_t*>(j.aad.data());
    h[0] ^= m.mask[0] & kShortHpBits;
    xor_pn(h + 1 + short_dcid_len_, m.mask, pn_len);  // bytes after the field unchanged
    p.view.status = j.status;
    if (j.status == Status::auth_failed) count_auth_failure(s, &g);
    return 0;
  }
  return commit_one(p, s, g, pn, hdr, static_cast<uint32_t>(j.data.size()));
}

// A lone 1-RTT packet that authenticated (open_one, open_one_guessed): the
// window, the key's counters and the packet's outputs, as the lean commit
// gives them; its packet-number length is the next guess.
size_t PacketProtection::commit_one(Packet& p, Side& s, Gen& g, uint64_t pn, uint32_t hdr, uint32_t body) {
  const uint32_t pn_len = hdr - 1 - short_dcid_len_;
  spaces_[idx(Space::application)].window.commit(pn);
  if (!s.any_pn) {
    s.first_pn = pn;
    s.any_pn = true;
  }
  g.epoch.count_opened(body);
  p.pn = pn;
  p.pn_length = static_cast<uint8_t>(pn_len);
  p.key_phase = g.number & 1;
  p.header_length = hdr;
  p.view.offset += hdr;
  p.view.length = body;
  p.view.status = Status::ok;
  guess_pn_len_ = static_cast<uint8_t>(pn_len);
  return 1;
}

// open_one with the header guessed instead of waited for: the packet number
// is taken to be the next one expected, with the length of the last one
// the lean paths opened and the current key phase. The guessed header goes in place
// of the protected one and the AEAD starts at once, while the header
// protection mask (RFC 9001 §5.4: one AES or ChaCha20 block over the sample,
// which the guess does not touch) is computed beside it; the mask's latency
// is most of what a lone packet pays over the raw AEAD. Only when the real
// header, unprotected with that mask, is byte for byte the guess did the
// AEAD authenticate the packet's own header under its own nonce, and only
// then is its answer taken (ok or auth_failed) and committed as open_one
// would. Otherwise the bytes are put back as they arrived (an open that
// authenticated is sealed again: same key, nonce and AAD, same bytes), the
// guess is off until a packet opens through the lean paths again, and
// open_one goes on with the mask it has. Returns 1 or 0 when settled, -1 for
// a wrong guess.
int PacketProtection::open_one_guessed(Packet& p, Gen& g, uint8_t* d, uint64_t expected, uint8_t want,
                                       MaskJob& m) {
  Side& s = side(Level::one_rtt, Direction::open);
  const size_t pn_off = 1 + size_t{short_dcid_len_};
  const unsigned pn_len = guess_pn_len_;
  const uint32_t keep = pn_len >= 4 ? ~uint32_t{0} : (uint32_t{1} << (8 * pn_len)) - 1;
  const uint8_t first_raw = d[0];
  uint32_t field;
  std::memcpy(&field, d + pn_off, 4);
  const uint8_t guess_first = static_cast<uint8_t>((first_raw & ~kShortHpBits) | want | (pn_len - 1));
  const uint32_t guess_field =
      (field & ~keep) | (__builtin_bswap32(static_cast<uint32_t>(expected) << (8 * (4 - pn_len))) & keep);
  d[0] = guess_first;
  std::memcpy(d + pn_off, &guess_field, 4);
  const size_t hdr_len = pn_off + pn_len;
  const size_t len = p.view.length - hdr_len - kTagLen;
  AeadJob j;
  recjob::make(&j, &g.epoch.aead(), recjob::xor_seq(recjob::load_iv128(g.iv), expected), {d, hdr_len},
               {d + hdr_len, len}, d + p.view.length - kTagLen);
  rl::open_masked(j, m);  // the mask over the sample as it arrived, in the open's passes where a tier can
  const uint8_t real_first = first_raw ^ (m.mask[0] & kShortHpBits);
  const uint32_t real_field = field ^ (recjob::le32(m.mask + 1) & keep);
  if (real_first != guess_first || real_field != guess_field) {
    if (j.status == Status::ok) rl::seal({&j, 1});
    d[0] = first_raw;
    std::memcpy(d + pn_off, &field, 4);
    guess_pn_len_ = 0;
    return -1;
  }
  one_rtt_outputs(p, d, short_dcid_len_);
  if (j.status != Status::ok) {
    d[0] = first_raw;
    std::memcpy(d + pn_off, &field, 4);
    p.view.status = j.status;
    if (j.status == Status::auth_failed) count_auth_failure(s, &g);
    return 0;
  }
  return static_cast<int>(commit_one(p, s, g, expected, static_cast<uint32_t>(hdr_len), static_cast<uint32_t>(len)));
}

// Hands the lean packets over to the general loops: [0, jobs) have job i
// (header unprotected), [jobs, masks) only mask i.
void PacketProtection::lean_to_meta(size_t jobs, size_t masks) {
  Side& s = side(Level::one_rtt, Direction::open);
  Gen* cur = &s.slot[s.cur];
  const size_t pn_off = 1 + size_t{short_dcid_len_};
  for (size_t i = 0; i < masks; ++i) {
    OpenMeta& mt = scratch_.open[i];
    mt = OpenMeta{};
    mt.pn_offset = pn_off;
    mt.level = Level::one_rtt;
    mt.mask = static_cast<int>(i);
    if (i < jobs) {
      mt.unmasked = true;
      mt.pn_len = static_cast<uint8_t>(scratch_.jobs[i].aad.size() - pn_off);
      mt.job = static_cast<int>(i);
      mt.gen = cur;
      mt.gen_number = cur->number;
      mt.pn = scratch_.lean_pn[i];
    }
  }
}

size_t PacketProtection::open_chunk(std::span<Packet> packets, unsigned splits) {
  using Meta = OpenMeta;
  AeadJob* jobs = scratch_.jobs;
  MaskJob* masks = scratch_.masks;
  Meta* meta = scratch_.open;
  size_t nmasks = 0, njobs = 0;
  const uint64_t now = this->now();

  // Phase 1: parse what is not protected; queue a mask for each packet. The
  // lean loop takes the usual packets first (mask i for packet i).
  const size_t lean_masks = lean_parse(packets);
  nmasks = lean_masks;
  for (size_t i = lean_masks; i < packets.size(); ++i) {
    Packet& p = packets[i];
    PacketView& v = p.view;
    Meta& mt = meta[i];
    mt = Meta{};
    p.token = {};
    p.scid = {};
    if (!v.well_formed()) {
      v.status = Status::invalid_argument;
      continue;
    }
    const uint8_t* d = v.data();
    const size_t n = v.length;
    if (n == 0) {
      v.status = Status::truncated;
      continue;
    }
    if (d[0] & 0x80) {
      LongHeader h;
      const Status st = parse_long(d, n, h, grease_quic_bit_);
      if (st == Status::not_protected || st == Status::ok) {
        p.type = h.type;
        p.dcid = {d + h.dcid_off, h.dcid_len};
        p.scid = {d + h.scid_off, h.scid_len};
        p.token = {d + h.token_off, h.token_len};
      }
      if (st != Status::ok) {
        v.status = st;
        continue;
      }
      if (h.version != static_cast<uint32_t>(version_)) {
        v.status = Status::unsupported;
        continue;
      }
      if (h.length > n - h.pn_offset) {  // the Length field against the datagram
        v.status = Status::truncated;
        continue;
      }
      if (h.length < n - h.pn_offset) {  // coalesced: split_datagram first
        v.status = Status::malformed;
        continue;
      }
      mt.pn_offset = h.pn_offset;
      mt.long_hdr = true;
      mt.level = level_of(h.type);
    } else {
      if ((d[0] & 0x40) == 0 && !grease_quic_bit_) {  // fixed bit (RFC 9000 §17.3.1, RFC 9287)
        v.status = Status::malformed;
        continue;
      }
      mt.pn_offset = 1 + size_t{short_dcid_len_};
      if (mt.pn_offset > n) {
        v.status = Status::truncated;
        continue;
      }
      p.type = PacketType::one_rtt;
      p.dcid = {d + 1, short_dcid_len_};
      mt.level = Level::one_rtt;
    }
    p.level = mt.level;
    // RFC 9001 §5.4.2: the sample starts 4 bytes after the packet number
    // offset; a packet too short to hold it is discarded.
    if (n < mt.pn_offset + 4 + kSampleLen) {
      v.status = Status::truncated;
      continue;
    }
    Side& s = side(mt.level, Direction::open);
    if (!s.installed) {
      v.status = Status::unknown_epoch;
      continue;
    }
    if (s.exhausted) {
      v.status = Status::key_exhausted;
      continue;
    }
    if (!s.hp.valid()) {
      v.status = Status::key_expired;
      continue;
    }
    MaskJob& m = masks[nmasks];
    m.key = &s.hp;
    m.sample = d + mt.pn_offset + 4;
    mt.mask = static_cast<int>(nmasks++);
  }
  rl::mask({masks, nmasks});

  // Phase 2: remove header protection in place, rebuild the packet number,
  // check for duplicates, pick the key generation, queue the AEAD job. The
  // lean loop first (job i for packet i), the general one from where it stops.
  const size_t lean_jobs_n = lean_jobs(packets, lean_masks, now);
  njobs = lean_jobs_n;
  if (lean_jobs_n < packets.size()) lean_to_meta(lean_jobs_n, lean_masks);
  auto restore_header = [&](size_t i) {
    uint8_t* d = packets[i].view.data();
    const Meta& mt = meta[i];
    const uint8_t* mask = masks[mt.mask].mask;
    xor_pn(d + mt.pn_offset, mask, mt.pn_len);
    d[0] ^= mask[0] & (mt.long_hdr ? kLongHpBits : kShortHpBits);
  };
  // A packet of the next keys ends the run here: those after it are opened
  // by a second run once it is committed (and the keys have rotated if it
  // authenticated), as they would be one at a time. After a key update the
  // key phase names the previous keys or the ones after the new keys by the
  // packet number (RFC 9001 §6.3, §6.5), which only the committed update
  // decides; a peer may update again once we acknowledged its first update.
  size_t end = packets.size();
  // The highest packet number given a job so far in this run, per space.
  // One packet at a time, a packet comes after those, and when they
  // authenticate its number decodes (RFC 9000 App. A.3) from the highest of
  // them, not from the largest before the burst. Where the two decodings
  // differ, the run ends before the packet, and a second run (below) opens it
  // and those after it once the others are committed, as one at a time. A
  // packet that far behind (half a decoding window) is rare from a peer that
  // picks packet-number lengths by RFC 9000 §17.1; junk could ask for it at
  // every packet, so a call splits at most kMaxPnSplits times and then
  // decodes from the largest before the burst.
  QueuedHighest queued[3];  // per space
  // Ends the run before packet i: its header back as it arrived.
  auto end_run_before = [&](size_t i) {
    restore_header(i);
    meta[i].unmasked = false;
    --splits;
    end = i;
  };
  // The lowest and highest 1-RTT packet numbers given a job with the
  // current keys so far in this run.
  uint64_t cur_min = 0, cur_max = 0;
  bool cur_queued = false;
  if (lean_jobs_n != 0) {
    queued[idx(Space::application)].note(scratch_.lean_pn[lean_jobs_n - 1]);
    cur_min = scratch_.lean_pn[0];
    cur_max = scratch_.lean_pn[lean_jobs_n - 1];
    cur_queued = true;
  }
  for (size_t i = lean_jobs_n; i < end; ++i) {
    Meta& mt = meta[i];
    if (mt.mask < 0) continue;
    Packet& p = packets[i];
    uint8_t* d = p.view.data();
    const uint8_t* mask = masks[mt.mask].mask;
    const uint8_t first = d[0] ^ (mask[0] & (mt.long_hdr ? kLongHpBits : kShortHpBits));
    d[0] = first;
    mt.pn_len = static_cast<uint8_t>((first & 3) + 1);
    const uint64_t truncated = xor_pn(d + mt.pn_offset, mask, mt.pn_len);
    mt.unmasked = true;
    SpaceState& sp = spaces_[idx(space_of(mt.level))];
    const uint64_t expected = sp.window.empty() ? 0 : sp.window.highest() + 1;
    // RFC 9000 App. A.3.
    mt.pn = reconstruct_closest(expected, truncated, 8 * mt.pn_len, 62);
    const size_t sp_i = idx(space_of(mt.level));
    if (splits != 0 && queued[sp_i].moves(expected, truncated, 8 * mt.pn_len, 62)) {
      end_run_before(i);
      break;
    }
    Status st = sp.window.check(mt.pn);
    Side& s = side(mt.level, Direction::open);
    Gen* g = nullptr;
    if (st == Status::ok) {
      if (mt.level != Level::one_rtt) {
        g = &s.slot[s.cur];
      } else {
        // RFC 9001 §6.3/§6.5: a flipped key phase means the next keys, unless
        // the packet is older than the first one of the current phase, in
        // which case it belongs to the previous keys.
        const bool phase = d[0] & kKeyPhaseBit;
        const bool cur_phase = s.slot[s.cur].number & 1;
        // One at a time, packets of the current keys committed before this
        // one may have moved the first packet number of the current phase,
        // which decides between the previous and the next keys: where those
        // queued in this run could, the run ends here (as for the number).
        if (phase != cur_phase && s.has_prev && cur_queued && splits != 0 &&
            (s.any_pn ? mt.pn < s.first_pn && cur_min < mt.pn : cur_max > mt.pn)) {
          end_run_before(i);
          break;
        }
        if (phase == cur_phase) {
          g = &s.slot[s.cur];
        } else if (s.has_prev && s.any_pn && mt.pn < s.first_pn) {
          g = &s.slot[s.prev];
        } else if (s.has_next) {
          g = &s.slot[s.next];
          // If the next keys fail, the previous ones are tried (phase 3) to
          // tell a §6.4 violation from a forgery.
          mt.try_prev = s.has_prev && s.any_pn;
        } else {
          st = Status::unknown_epoch;
        }
      }
    }
    if (st == Status::ok) st = g->epoch.admit_open(now);
    if (st != Status::ok) {
      if (st == Status::replayed || st == Status::too_old) s.slot[s.cur].epoch.count_replay();
      restore_header(i);
      mt.unmasked = false;
      p.view.status = st;
      continue;
    }
    mt.gen = g;
    mt.gen_number = g->number;
    const size_t hdr_len = mt.pn_offset + mt.pn_len;
    AeadJob& j = jobs[njobs];
    j.key = &g->epoch.aead();
    xor_nonce(g->iv, mt.pn, j.nonce);
    j.aad = {d, hdr_len};
    j.data = {d + hdr_len, p.view.length - hdr_len - kTagLen};
    j.tag = d + p.view.length - kTagLen;
    j.status = Status::ok;
    mt.job = static_cast<int>(njobs++);
    queued[sp_i].note(mt.pn);
    if (mt.level == Level::one_rtt && g == &s.slot[s.cur]) {
      if (!cur_queued || mt.pn < cur_min) cur_min = mt.pn;
      if (!cur_queued || mt.pn > cur_max) cur_max = mt.pn;
      cur_queued = true;
    }
    if (mt.level == Level::one_rtt && s.has_next && g == &s.slot[s.next]) end = i + 1;
  }
  rl::open({jobs, njobs});

  // Phase 3, one pass in packet order. Put back what failed; turn away
  // authenticated packets that break a rule checked only after
  // authentication (RFC 9000 §17.2/§17.3.1: reserved bits must be zero, and a
  // forged packet must not be able to trigger that connection error), that
  // repeat a packet number earlier in this burst, or that break the key
  // update rules (RFC 9001 §6.2, §6.4); for those the ciphertext is put back
  // by sealing again (same key, nonce and AAD give the same bytes). Commit the
  // rest. Everything that can wipe or rotate keys (a key update, the
  // integrity limit) waits until after the pass, so every key of the burst is
  // intact while it runs.
  uint64_t burst_top[3] = {};
  bool burst_any[3] = {};
  bool any_failed = false, rotate = false;
  uint64_t rotate_pn = 0;
  // The lean packets first, while they authenticated: their counters once
  // (no soft limit within reach, else packet by packet as below).
  uint64_t lean_bytes = 0;
  const size_t lean_ok = lean_commit(packets, lean_jobs_n, &lean_bytes);
  size_t ok = lean_ok;
  if (lean_ok != 0) {
    Side& s = side(Level::one_rtt, Direction::open);
    KeyEpoch& k = s.slot[s.cur].epoch;
    if (!s.any_pn) {  // rising: the first is the lowest
      s.first_pn = scratch_.lean_pn[0];
      s.any_pn = true;
    }
    const uint64_t soft = k.limits().soft_bytes, opened = k.counters().bytes_opened;
    if (opened < soft && soft - opened > lean_bytes) {
      k.count_opened(lean_ok, lean_bytes);
    } else {
      for (size_t i = 0; i < lean_ok; ++i) k.count_opened(jobs[i].data.size());
    }
    const size_t sp_i = idx(Space::application);
    burst_top[sp_i] = scratch_.lean_pn[lean_ok - 1];
    burst_any[sp_i] = true;
    if (lean_ok == packets.size()) return ok;
  }
  if (lean_jobs_n == packets.size()) lean_to_meta(lean_jobs_n, lean_masks);  // else done above
  for (size_t i = lean_ok; i < packets.size(); ++i) {
    Meta& mt = meta[i];
    if (mt.job < 0) continue;
    Packet& p = packets[i];
    AeadJob& j = jobs[mt.job];
    Side& s = side(mt.level, Direction::open);
    if (j.status != Status::ok) {
      if (j.status == Status::auth_failed && mt.try_prev && retry_previous(s, mt, j)) {
        // RFC 9001 §6.4: the previous keys open a packet numbered after the
        // first packet of the current (newer) keys. A connection error.
        note_key_update_error(KeyUpdateError::old_keys_after_new);
        j.status = Status::malformed;
      }
      // One packet at a time, a repeat of (or a packet now too old for) one
      // committed earlier in this burst is refused before its AEAD, as a
      // replay: so it is here, and does not count against the integrity
      // limit.
      if (j.status == Status::auth_failed) {
        if (const Status rs = spaces_[idx(space_of(mt.level))].window.check(mt.pn); rs != Status::ok) {
          s.slot[s.cur].epoch.count_replay();
          j.status = rs;
        }
      }
      restore_header(i);
      p.view.status = j.status;
      any_failed |= j.status == Status::auth_failed;
      continue;
    }
    const size_t sp_i = idx(space_of(mt.level));
    Status st = (p.view.data()[0] & (mt.long_hdr ? kLongReserved : kShortReserved)) != 0
                    ? Status::malformed
                    : Status::ok;
    if (st == Status::ok && burst_any[sp_i] && mt.pn <= burst_top[sp_i]) {
      for (size_t k = 0; k < i; ++k)  // rare: out of order within the burst
        if (meta[k].job >= 0 && packets[k].view.status == Status::ok &&
            space_of(meta[k].level) == space_of(mt.level) && meta[k].pn == mt.pn)
          st = Status::replayed;
    }
    const bool next_gen = mt.level == Level::one_rtt && mt.gen_number == s.slot[s.cur].number + 1;
    if (st == Status::ok && next_gen && consecutive_update(s)) {
      // RFC 9001 §6.2: the peer updates again before we acknowledged a packet
      // it sent with the current keys.
      note_key_update_error(KeyUpdateError::consecutive_update);
      st = Status::malformed;
    }
    if (st != Status::ok) {
      rl::seal({&j, 1});
      restore_header(i);
      p.view.status = st;
      j.status = st;
      if (st == Status::replayed) s.slot[s.cur].epoch.count_replay();
      continue;
    }
    if (!burst_any[sp_i] || mt.pn > burst_top[sp_i]) burst_top[sp_i] = mt.pn;
    burst_any[sp_i] = true;
    spaces_[sp_i].window.commit(mt.pn);
    if (mt.level == Level::one_rtt) {
      if (next_gen) {
        if (!rotate || mt.pn < rotate_pn) rotate_pn = mt.pn;
        rotate = true;
      } else if (mt.gen_number == s.slot[s.cur].number && (!s.any_pn || mt.pn < s.first_pn)) {
        s.first_pn = mt.pn;
        s.any_pn = true;
      }
    }
    mt.gen->epoch.count_opened(j.data.size());
    const size_t hdr_len = mt.pn_offset + mt.pn_len;
    p.pn = mt.pn;
    p.pn_length = mt.pn_len;
    p.key_phase = !mt.long_hdr && (p.view.data()[0] & kKeyPhaseBit);
    p.header_length = static_cast<uint32_t>(hdr_len);
    p.view.offset += static_cast<uint32_t>(hdr_len);
    p.view.length = static_cast<uint32_t>(j.data.size());
    p.view.status = Status::ok;
    ++ok;
  }
  if (rotate) {
    Side& s = side(Level::one_rtt, Direction::open);
    if (s.has_next && !s.exhausted) rotate_open(rotate_pn);
  }
  if (any_failed) {
    for (size_t i = 0; i < packets.size(); ++i) {
      const Meta& mt = meta[i];
      if (mt.job < 0 || jobs[mt.job].status != Status::auth_failed) continue;
      Side& s = side(mt.level, Direction::open);
      count_auth_failure(s, gen_by_number(s, mt.gen_number));
    }
  }
  if (end < packets.size()) ok += open_chunk(packets.subspan(end), splits);
  return ok;
}

size_t split_datagram(std::span<uint8_t> datagram, std::span<Packet> out, bool greased_ok) {
  size_t off = 0, count = 0;
  while (off < datagram.size() && count < out.size()) {
    const uint8_t* d = datagram.data() + off;
    const size_t rest = datagram.size() - off;
    size_t len = rest;
    if (d[0] & 0x80) {
      LongHeader h;
      if (parse_long(d, rest, h, greased_ok) == Status::ok && h.length <= rest - h.pn_offset)
        len = h.pn_offset + static_cast<size_t>(h.length);
    }
    Packet& p = out[count++];
    p = Packet{};
    p.view.buf = datagram.data();
    p.view.capacity = static_cast<uint32_t>(datagram.size());
    p.view.offset = static_cast<uint32_t>(off);
    p.view.length = static_cast<uint32_t>(len);
    off += len;
  }
  return count;
}

// ---- Retry -------------------------------------------------------------------

namespace {

struct RetryKeys {
  AeadKey v1, v2;
  RetryKeys() {
    v1.init(Suite::aes128_gcm, {kRetryKeyV1, 16});
    v2.init(Suite::aes128_gcm, {kRetryKeyV2, 16});
  }
};

const RetryKeys& retry_keys() {
  static const RetryKeys keys;  // thread-safe init; seal is safe across threads
  return keys;
}

}  // namespace

Status retry_integrity_tag(Version v, std::span<const uint8_t> original_dcid,
                           std::span<const uint8_t> retry_without_tag, uint8_t tag[kTagLen]) {
  if (original_dcid.size() > kMaxCidLen) return Status::invalid_argument;
  if (retry_without_tag.size() > 65535) return Status::invalid_argument;
  // RFC 9001 §5.8: the pseudo-packet is ODCID Length ‖ ODCID ‖ the Retry
  // packet without its tag; it is the AAD of an empty plaintext.
  // Off the hot path: one allocation per Retry is fine.
  std::vector<uint8_t> pseudo(1 + original_dcid.size() + retry_without_tag.size());
  pseudo[0] = static_cast<uint8_t>(original_dcid.size());
  if (!original_dcid.empty()) std::memcpy(pseudo.data() + 1, original_dcid.data(), original_dcid.size());
  if (!retry_without_tag.empty())
    std::memcpy(pseudo.data() + 1 + original_dcid.size(), retry_without_tag.data(),
                retry_without_tag.size());
  AeadJob j;
  j.key = v == Version::v1 ? &retry_keys().v1 : &retry_keys().v2;
  std::memcpy(j.nonce, v == Version::v1 ? kRetryNonceV1 : kRetryNonceV2, kNonceLen);
  j.aad = pseudo;
  j.data = {};
  j.tag = tag;
  rl::seal({&j, 1});
  return j.status;
}

Status verify_retry(Version v, std::span<const uint8_t> original_dcid,
                    std::span<const uint8_t> retry_packet) {
  LongHeader h;
  if (retry_packet.empty() || (retry_packet[0] & 0x80) == 0) return Status::malformed;
  const Status st = parse_long(retry_packet.data(), retry_packet.size(), h);
  if (st != Status::not_protected || h.type != PacketType::retry) {
    return st == Status::ok || st == Status::not_protected ? Status::malformed : st;
  }
  if (h.version != static_cast<uint32_t>(v)) return Status::unsupported;
  uint8_t tag[kTagLen];
  const size_t body = retry_packet.size() - kTagLen;
  const Status t = retry_integrity_tag(v, original_dcid, retry_packet.first(body), tag);
  if (t != Status::ok) return t;
  return CRYPTO_memcmp(tag, retry_packet.data() + body, kTagLen) == 0 ? Status::ok
                                                                      : Status::auth_failed;
}

Status write_retry(Version v, std::span<const uint8_t> dcid, std::span<const uint8_t> scid,
                   std::span<const uint8_t> token, std::span<const uint8_t> original_dcid,
                   std::span<uint8_t> out, size_t* len, uint8_t unused_bits) {
  if (dcid.size() > kMaxCidLen || scid.size() > kMaxCidLen) return Status::invalid_argument;
  const size_t n = 7 + dcid.size() + scid.size() + token.size() + kTagLen;
  if (out.size() < n) return Status::buffer_too_small;
  uint8_t* p = out.data();
  // RFC 9000 §17.2.5: the four low bits are unused; we send them as zero.
  p[0] = static_cast<uint8_t>(0xc0 | long_type_bits(v, PacketType::retry) << 4 |
                              (unused_bits & 0x0f));
  store_be32(p + 1, static_cast<uint32_t>(v));
  size_t w = 5;
  p[w++] = static_cast<uint8_t>(dcid.size());
  if (!dcid.empty()) std::memcpy(p + w, dcid.data(), dcid.size());
  w += dcid.size();
  p[w++] = static_cast<uint8_t>(scid.size());
  if (!scid.empty()) std::memcpy(p + w, scid.data(), scid.size());
  w += scid.size();
  if (!token.empty()) std::memcpy(p + w, token.data(), token.size());
  w += token.size();
  const Status st = retry_integrity_tag(v, original_dcid, {p, w}, p + w);
  if (st != Status::ok) return st;
  *len = w + kTagLen;
  return Status::ok;
}

// ---- stateless reset -----------------------------------------------------------

bool is_stateless_reset(std::span<const uint8_t> datagram,
                        std::span<const uint8_t* const> tokens) {
  // RFC 9000 §10.3: at least 5 bytes in front of the 16-byte token.
  if (datagram.size() < 21) return false;
  const uint8_t* tail = datagram.data() + datagram.size() - 16;
  int match = 0;
  for (const uint8_t* t : tokens) match |= CRYPTO_memcmp(tail, t, 16) == 0;
  return match != 0;
}

}  // namespace rl::quic
