#include "tools/replay/wg_keys.h"

#include <openssl/aead.h>
#include <openssl/curve25519.h>
#include <openssl/mem.h>

#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <string_view>

#include "core/blake2s.h"
#include "core/bytes.h"
#include "core/wireguard_cookie.h"
#include "tools/replay/common.h"

namespace rl::replay {

// ---------------------------------------------------------------------------
// The Noise primitives of WireGuard (paper §5.4)
// ---------------------------------------------------------------------------

namespace {

using Parts = std::initializer_list<std::span<const uint8_t>>;

constexpr std::string_view kConstruction = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
constexpr std::string_view kIdentifier = "WireGuard v1 zx2c4 Jason@zx2c4.com";

std::span<const uint8_t> bytes_of(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Wipes a value when it goes out of scope.
template <class T>
struct Wiped {
  T v{};
  Wiped() = default;
  Wiped(const Wiped&) = delete;
  Wiped& operator=(const Wiped&) = delete;
  ~Wiped() { OPENSSL_cleanse(&v, sizeof v); }
};

// HASH(a ‖ b ‖ ...) = BLAKE2s-256.
void hash(Parts parts, uint8_t out[32]) {
  Blake2s b({}, 32);
  for (auto p : parts) b.update(p);
  b.final(out);
}

// HMAC(key, a ‖ b ‖ ...) with BLAKE2s-256 (RFC 2104, block 64 bytes).
void hmac(std::span<const uint8_t> key, Parts parts, uint8_t out[32]) {
  uint8_t k[64] = {};
  if (key.size() > sizeof k)
    hash({key}, k);
  else
    std::memcpy(k, key.data(), key.size());
  uint8_t pad[64], inner[32];
  for (size_t i = 0; i < 64; ++i) pad[i] = k[i] ^ 0x36;
  {
    Blake2s b({}, 32);
    b.update(pad);
    for (auto p : parts) b.update(p);
    b.final(inner);
  }
  for (size_t i = 0; i < 64; ++i) pad[i] = k[i] ^ 0x5c;
  hash({pad, inner}, out);
  OPENSSL_cleanse(k, sizeof k);
  OPENSSL_cleanse(pad, sizeof pad);
  OPENSSL_cleanse(inner, sizeof inner);
}

// KDF_n(key, input) (§5.4): T0 = HMAC(key, input), T1 = HMAC(T0, 0x1),
// Ti = HMAC(T0, T(i-1) ‖ i). `key` may be out[0] (the chaining key is replaced).
void kdf(const Key32& key, std::span<const uint8_t> input, std::initializer_list<Key32*> out) {
  Wiped<Key32> t0;
  hmac(key, {input}, t0.v.data());
  uint8_t i = 0;
  const Key32* prev = nullptr;
  for (Key32* o : out) {
    const uint8_t ctr[1] = {++i};
    if (prev)
      hmac(t0.v, {*prev, ctr}, o->data());
    else
      hmac(t0.v, {ctr}, o->data());
    prev = o;
  }
}

// AEAD(k, 0, ·, ad) opened: ChaCha20-Poly1305 with the nonce 0^32 ‖ LE64(0) (the
// handshake's counter is always 0). `sealed` is the ciphertext ‖ 16-byte tag.
bool aead_open(const Key32& k, std::span<const uint8_t> sealed, std::span<const uint8_t> ad, uint8_t* out,
               size_t out_len) {
  bssl::ScopedEVP_AEAD_CTX ctx;
  if (!EVP_AEAD_CTX_init(ctx.get(), EVP_aead_chacha20_poly1305(), k.data(), k.size(),
                         EVP_AEAD_DEFAULT_TAG_LENGTH, nullptr))
    return false;
  const uint8_t nonce[12] = {};
  uint8_t empty[1];
  size_t n = 0;
  const bool ok = EVP_AEAD_CTX_open(ctx.get(), out_len ? out : empty, &n, out_len, nonce, sizeof nonce,
                                    sealed.data(), sealed.size(), ad.data(), ad.size()) == 1;
  return ok && n == out_len;
}

// DH (§5.4): X25519. BoringSSL refuses an all-zero result (a low-order point), and so
// does WireGuard.
bool dh(const Key32& priv, std::span<const uint8_t, 32> pub, Key32& out) {
  return X25519(out.data(), priv.data(), pub.data()) == 1;
}

Key32 public_of(const Key32& priv) {
  Key32 pub;
  X25519_public_from_private(pub.data(), priv.data());
  return pub;
}

bool equal(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

uint32_t le32(std::span<const uint8_t> p, size_t off) { return load_le32(p.data() + off); }

// The handshake messages' fields (§5.4.2, §5.4.3).
struct Initiation {
  uint32_t sender;
  std::span<const uint8_t, 32> ephemeral;
  std::span<const uint8_t> enc_static;     // 32 + 16
  std::span<const uint8_t> enc_timestamp;  // 12 + 16
  std::span<const uint8_t> whole;          // the message (its mac1 is checked on it)
  std::span<const uint8_t> mac1;
};
struct Response {
  uint32_t sender, receiver;
  std::span<const uint8_t, 32> ephemeral;
  std::span<const uint8_t> enc_empty;  // 0 + 16
};

bool header_ok(std::span<const uint8_t> m, uint8_t type, size_t len) {
  return m.size() == len && m[0] == type && m[1] == 0 && m[2] == 0 && m[3] == 0;
}

std::optional<Initiation> parse_initiation(std::span<const uint8_t> m) {
  if (!header_ok(m, 1, 148)) return std::nullopt;
  return Initiation{le32(m, 4), m.subspan<8, 32>(), m.subspan(40, 48), m.subspan(88, 28), m,
                    m.subspan(116, 16)};
}

std::optional<Response> parse_response(std::span<const uint8_t> m) {
  if (!header_ok(m, 2, 92)) return std::nullopt;
  return Response{le32(m, 4), le32(m, 8), m.subspan<12, 32>(), m.subspan(44, 16)};
}

// Whether the initiation was sent to the holder of `s_pub`: its mac1 (§5.4.4) is the
// one core/wireguard_cookie.h computes for that key.
bool mac1_matches(const Initiation& in, const Key32& s_pub) {
  wireguard::Mac mac{};
  const bool ok = wireguard::compute_mac1(in.whole, wireguard::PublicKey(s_pub), mac) == Status::ok &&
                  equal(mac, in.mac1);
  OPENSSL_cleanse(mac.data(), mac.size());
  return ok;
}

// One end's secrets for one handshake. The initiator knows S_i, E_i and S_r's public
// key; the responder knows S_r and E_r.
struct Secrets {
  bool initiator;
  const Key32* s_priv;
  const Key32* e_priv;
  Key32 s_r_pub;  // the initiator's view; the responder's own public key otherwise
  Key32 psk;
};

// Runs the handshake of §5.4.2-§5.4.5 from one end's secrets; nullopt unless every AEAD
// verifies.
std::optional<WgSession> run(const Secrets& k, const Initiation& in, const Response& rs) {
  Wiped<Key32> c, h, key, tau, dh_out, s_i_pub;
  auto mix_hash = [&](std::span<const uint8_t> data) { hash({h.v, data}, h.v.data()); };

  // §5.4.2, first message.
  hash({bytes_of(kConstruction)}, c.v.data());
  hash({c.v, bytes_of(kIdentifier)}, h.v.data());
  mix_hash(k.s_r_pub);
  kdf(c.v, in.ephemeral, {&c.v});
  mix_hash(in.ephemeral);
  // DH(E_i, S_r_pub) = DH(S_r, E_i_pub)
  if (!(k.initiator ? dh(*k.e_priv, k.s_r_pub, dh_out.v) : dh(*k.s_priv, in.ephemeral, dh_out.v)))
    return std::nullopt;
  kdf(c.v, dh_out.v, {&c.v, &key.v});
  if (!aead_open(key.v, in.enc_static, h.v, s_i_pub.v.data(), 32)) return std::nullopt;
  if (k.initiator && !equal(s_i_pub.v, public_of(*k.s_priv))) return std::nullopt;
  mix_hash(in.enc_static);
  // DH(S_i, S_r_pub) = DH(S_r, S_i_pub)
  if (!dh(*k.s_priv, k.initiator ? k.s_r_pub : s_i_pub.v, dh_out.v)) return std::nullopt;
  kdf(c.v, dh_out.v, {&c.v, &key.v});
  uint8_t timestamp[12];
  const bool ts_ok = aead_open(key.v, in.enc_timestamp, h.v, timestamp, sizeof timestamp);
  OPENSSL_cleanse(timestamp, sizeof timestamp);
  if (!ts_ok) return std::nullopt;
  mix_hash(in.enc_timestamp);

  // §5.4.3, second message.
  kdf(c.v, rs.ephemeral, {&c.v});
  mix_hash(rs.ephemeral);
  // DH(E_i, E_r_pub) = DH(E_r, E_i_pub)
  if (!dh(*k.e_priv, k.initiator ? rs.ephemeral : in.ephemeral, dh_out.v)) return std::nullopt;
  kdf(c.v, dh_out.v, {&c.v});
  // DH(S_i, E_r_pub) = DH(E_r, S_i_pub)
  if (!(k.initiator ? dh(*k.s_priv, rs.ephemeral, dh_out.v) : dh(*k.e_priv, s_i_pub.v, dh_out.v)))
    return std::nullopt;
  kdf(c.v, dh_out.v, {&c.v});
  kdf(c.v, k.psk, {&c.v, &tau.v, &key.v});
  mix_hash(tau.v);
  if (!aead_open(key.v, rs.enc_empty, h.v, nullptr, 0)) return std::nullopt;

  // §5.4.5: (T_i_send = T_r_recv, T_i_recv = T_r_send) = KDF2(C, ε).
  WgSession s;
  s.initiator_index = in.sender;
  s.responder_index = rs.sender;
  kdf(c.v, {}, {&s.i2r, &s.r2i});
  return s;
}

}  // namespace

std::optional<WgSession> wg_derive(std::span<const WgKeylogEntry> keys, std::span<const uint8_t> initiation,
                                   std::span<const uint8_t> response) {
  const auto in = parse_initiation(initiation);
  const auto rs = parse_response(response);
  if (!in || !rs || rs->receiver != in->sender) return std::nullopt;

  for (size_t i = 0; i < keys.size(); ++i) {
    const WgKeylogEntry& e = keys[i];
    if (!e.local_static_private || !e.local_ephemeral_private) continue;
    Secrets k{};
    k.s_priv = &*e.local_static_private;
    k.e_priv = &*e.local_ephemeral_private;
    k.psk = e.preshared_key.value_or(Key32{});
    const Key32 e_pub = public_of(*k.e_priv);
    std::optional<WgSession> s;
    if (equal(e_pub, in->ephemeral)) {
      k.initiator = true;
      if (e.remote_static_public) {
        k.s_r_pub = *e.remote_static_public;
        s = run(k, *in, *rs);
      } else {
        // The responder's static public key is not in this entry: try the ones the other
        // entries hold (its own static key, or the peer it names) that mac1 accepts.
        for (size_t j = 0; j < keys.size() && !s; ++j) {
          if (j == i) continue;
          std::optional<Key32> cands[2] = {std::nullopt, keys[j].remote_static_public};
          if (keys[j].local_static_private) cands[0] = public_of(*keys[j].local_static_private);
          for (const auto& cand : cands) {
            if (!cand || !mac1_matches(*in, *cand)) continue;
            k.s_r_pub = *cand;
            if ((s = run(k, *in, *rs))) break;
          }
        }
      }
    } else if (equal(e_pub, rs->ephemeral)) {
      k.initiator = false;
      k.s_r_pub = public_of(*k.s_priv);
      s = run(k, *in, *rs);
    }
    OPENSSL_cleanse(k.psk.data(), k.psk.size());
    if (s) return s;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// The key log
// ---------------------------------------------------------------------------

bool parse_wg_keylog(std::istream& in, std::vector<WgKeylogEntry>& out, std::string& err) {
  std::vector<WgKeylogEntry> got;
  std::string line;
  size_t lineno = 0;
  bool ok = true;
  while (ok && std::getline(in, line)) {
    ++lineno;
    std::string_view l = line;
    l = trim(l.substr(0, l.find('#')));
    if (l.empty()) continue;
    // extract-handshakes.sh (wireguard-tools) heads each handshake's block
    // with this line and prints the block's names in no fixed order.
    if (l == "New handshake session:") {
      got.emplace_back();
      continue;
    }
    const std::string where = "line " + std::to_string(lineno) + ": ";
    const size_t eq = l.find('=');
    if (eq == std::string_view::npos) {
      err = where + "expected 'NAME = base64 key'";
      ok = false;
      break;
    }
    const std::string_view name = trim(l.substr(0, eq)), value = trim(l.substr(eq + 1));
    std::optional<Key32> WgKeylogEntry::*field = nullptr;
    if (name == "LOCAL_STATIC_PRIVATE_KEY")
      field = &WgKeylogEntry::local_static_private;
    else if (name == "REMOTE_STATIC_PUBLIC_KEY")
      field = &WgKeylogEntry::remote_static_public;
    else if (name == "LOCAL_EPHEMERAL_PRIVATE_KEY")
      field = &WgKeylogEntry::local_ephemeral_private;
    else if (name == "PRESHARED_KEY")
      field = &WgKeylogEntry::preshared_key;
    if (!field) {
      err = where + "unknown name '" + std::string(name) + "'";
      ok = false;
      break;
    }
    Bytes key;
    if (!parse_base64(value, key)) {
      err = where + std::string(name) + ": value is not base64";
      ok = false;
    } else if (key.size() != 32) {
      err = where + std::string(name) + ": key is " + std::to_string(key.size()) + " bytes, not 32";
      ok = false;
    } else {
      if (got.empty() || got.back().*field) got.emplace_back();  // a name seen again: the next block
      Key32 k;
      std::copy(key.begin(), key.end(), k.begin());
      got.back().*field = k;
      OPENSSL_cleanse(k.data(), k.size());
    }
    OPENSSL_cleanse(key.data(), key.size());
    OPENSSL_cleanse(line.data(), line.size());
  }
  OPENSSL_cleanse(line.data(), line.size());
  if (ok) out.insert(out.end(), got.begin(), got.end());
  for (auto& e : got)
    for (auto* f : {&e.local_static_private, &e.remote_static_public, &e.local_ephemeral_private, &e.preshared_key})
      if (*f) OPENSSL_cleanse((*f)->data(), 32);
  return ok;
}

}  // namespace rl::replay
