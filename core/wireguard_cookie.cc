// WireGuard cookies: see wireguard_cookie.h for the messages and who calls
// what. This file reads top to bottom: primitives, framing, responder,
// initiator.
#include "core/wireguard_cookie.h"

#include <openssl/aead.h>
#include <openssl/crypto.h>
#include <openssl/mem.h>
#include <openssl/rand.h>

#include <cstring>
#include <string_view>

#include "core/blake2s.h"
#include "core/bytes.h"

namespace rl::wireguard {

namespace {

constexpr std::string_view kLabelMac1 = "mac1----";
constexpr std::string_view kLabelCookie = "cookie--";
constexpr size_t kAeadTagLen = 16;
constexpr size_t kSealedCookieLen = kMacLen + kAeadTagLen;

// Cookie reply layout (§5.4.7): type ‖ receiver ‖ nonce ‖ sealed cookie.
constexpr size_t kReplyNonceOff = 8;
constexpr size_t kReplySealedOff = kReplyNonceOff + kCookieNonceLen;
static_assert(kReplySealedOff + kSealedCookieLen == kCookieReplyLen);

std::span<const uint8_t> bytes_of(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// HASH(label ‖ public key) (§5.4.4, §5.4.7).
void label_key(std::string_view label, PublicKey pub, uint8_t out[32]) {
  Blake2s b({}, 32);
  b.update(bytes_of(label));
  b.update(pub);
  b.final(out);
}

// MAC(key, input) = keyed BLAKE2s-128.
void mac(std::span<const uint8_t> key, std::span<const uint8_t> in, uint8_t out[kMacLen]) {
  blake2s(in, key, out, kMacLen);
}

bool equal16(const uint8_t* a, const uint8_t* b) { return CRYPTO_memcmp(a, b, kMacLen) == 0; }

// XChaCha20-Poly1305 with a 32-byte key; false if BoringSSL refuses (seal) or
// the tag does not verify (open).
bool xaead(bool seal, const uint8_t key[32], const uint8_t nonce[kCookieNonceLen],
           std::span<const uint8_t> in, std::span<const uint8_t> ad, uint8_t* out, size_t out_len) {
  bssl::ScopedEVP_AEAD_CTX ctx;
  if (!EVP_AEAD_CTX_init(ctx.get(), EVP_aead_xchacha20_poly1305(), key, 32, kAeadTagLen, nullptr))
    return false;
  size_t n = 0;
  const int ok = seal ? EVP_AEAD_CTX_seal(ctx.get(), out, &n, out_len, nonce, kCookieNonceLen, in.data(),
                                          in.size(), ad.data(), ad.size())
                      : EVP_AEAD_CTX_open(ctx.get(), out, &n, out_len, nonce, kCookieNonceLen, in.data(),
                                          in.size(), ad.data(), ad.size());
  return ok == 1 && n == out_len;
}

// The message before mac1 / before mac2 (framing already checked).
std::span<const uint8_t> before_mac1(std::span<const uint8_t> m) { return m.first(m.size() - 2 * kMacLen); }
std::span<const uint8_t> before_mac2(std::span<const uint8_t> m) { return m.first(m.size() - kMacLen); }

}  // namespace

void RandomSource::read(uint8_t* out, size_t n) const {
  if (fill != nullptr)
    fill(ctx, out, n);
  else
    RAND_bytes(out, n);  // BoringSSL's never fails (it aborts instead)
}

// ---- Framing ----------------------------------------------------------------

Status check_handshake_framing(std::span<const uint8_t> m) {
  if (m.size() < 4) return Status::truncated;
  size_t want;
  switch (load_le32(m.data())) {  // one byte of type, three reserved zero bytes
    case kHandshakeInitiation: want = kInitiationLen; break;
    case kHandshakeResponse: want = kResponseLen; break;
    default: return Status::malformed;
  }
  if (m.size() < want) return Status::truncated;
  return m.size() == want ? Status::ok : Status::malformed;
}

Status compute_mac1(std::span<const uint8_t> msg, PublicKey receiver_static, Mac& out) {
  if (const Status st = check_handshake_framing(msg); st != Status::ok) return st;
  uint8_t key[32];
  label_key(kLabelMac1, receiver_static, key);
  mac(key, before_mac1(msg), out.data());
  OPENSSL_cleanse(key, sizeof key);
  return Status::ok;
}

// ---- Responder ----------------------------------------------------------------

CookieChecker::CookieChecker(PublicKey our_static_public, Clock clock, RandomSource random)
    : clock_(clock), random_(random) {
  label_key(kLabelMac1, our_static_public, mac1_key_);
  label_key(kLabelCookie, our_static_public, cookie_key_);
  random_.read(secret_, sizeof secret_);
  secret_born_ = clock_.read();
}

CookieChecker::~CookieChecker() {
  OPENSSL_cleanse(secret_, sizeof secret_);
  OPENSSL_cleanse(mac1_key_, sizeof mac1_key_);
  OPENSSL_cleanse(cookie_key_, sizeof cookie_key_);
}

// §5.3: R_m changes every two minutes. A clock that went back counts as old.
void CookieChecker::refresh_secret() {
  const uint64_t now = clock_.read();
  if (now >= secret_born_ && now - secret_born_ < kCookieRefreshTime) return;
  OPENSSL_cleanse(secret_, sizeof secret_);
  random_.read(secret_, sizeof secret_);
  secret_born_ = now;
}

bool CookieChecker::check_mac1(std::span<const uint8_t> msg) const {
  if (check_handshake_framing(msg) != Status::ok) return false;
  uint8_t want[kMacLen];
  mac(mac1_key_, before_mac1(msg), want);
  const bool ok = equal16(want, msg.data() + msg.size() - 2 * kMacLen);
  OPENSSL_cleanse(want, sizeof want);
  return ok;
}

bool CookieChecker::check_mac2(std::span<const uint8_t> msg, std::span<const uint8_t> source) {
  if (source.empty() || check_handshake_framing(msg) != Status::ok) return false;
  refresh_secret();
  uint8_t cookie[kMacLen], want[kMacLen];
  mac(secret_, source, cookie);
  mac(cookie, before_mac2(msg), want);
  const bool ok = equal16(want, msg.data() + msg.size() - kMacLen);
  OPENSSL_cleanse(cookie, sizeof cookie);
  OPENSSL_cleanse(want, sizeof want);
  return ok;
}

Status CookieChecker::make_cookie_reply(std::span<const uint8_t> msg, std::span<const uint8_t> source,
                                        std::span<uint8_t, kCookieReplyLen> out) {
  if (const Status st = check_handshake_framing(msg); st != Status::ok) return st;
  if (source.empty()) return Status::invalid_argument;
  if (!check_mac1(msg)) return Status::auth_failed;
  refresh_secret();
  uint8_t reply[kCookieReplyLen];
  reply[0] = kCookieReply;
  reply[1] = reply[2] = reply[3] = 0;
  std::memcpy(reply + 4, msg.data() + 4, 4);  // both handshake messages: type ‖ sender index ‖ ...
  random_.read(reply + kReplyNonceOff, kCookieNonceLen);
  uint8_t cookie[kMacLen];
  mac(secret_, source, cookie);
  const bool ok =
      xaead(true, cookie_key_, reply + kReplyNonceOff, cookie, msg.subspan(msg.size() - 2 * kMacLen, kMacLen),
            reply + kReplySealedOff, kSealedCookieLen);
  OPENSSL_cleanse(cookie, sizeof cookie);
  if (ok) std::memcpy(out.data(), reply, sizeof reply);
  OPENSSL_cleanse(reply, sizeof reply);
  return ok ? Status::ok : Status::unsupported;
}

// ---- Initiator ----------------------------------------------------------------

CookieState::CookieState(Clock clock) : clock_(clock) { std::memset(cookie_, 0, sizeof cookie_); }

CookieState::~CookieState() { clear(); }

void CookieState::clear() {
  OPENSSL_cleanse(cookie_, sizeof cookie_);
  have_cookie_ = false;
  received_at_ = 0;
  last_mac1_.reset();
}

bool CookieState::fresh(uint64_t now) const {
  return have_cookie_ && now >= received_at_ && now - received_at_ < kCookieRefreshTime;
}

bool CookieState::has_cookie() const { return fresh(clock_.read()); }

Status CookieState::open_cookie_reply(std::span<const uint8_t> reply,
                                      std::span<const uint8_t, kMacLen> last_sent_mac1,
                                      PublicKey peer_static_public,
                                      std::optional<uint32_t> our_sender_index) {
  if (reply.size() < kCookieReplyLen) return Status::truncated;
  if (reply.size() > kCookieReplyLen || load_le32(reply.data()) != kCookieReply) return Status::malformed;
  if (our_sender_index && load_le32(reply.data() + 4) != *our_sender_index) return Status::unknown_epoch;
  uint8_t key[32], cookie[kMacLen];
  label_key(kLabelCookie, peer_static_public, key);
  const bool ok = xaead(false, key, reply.data() + kReplyNonceOff, reply.subspan(kReplySealedOff),
                        last_sent_mac1, cookie, sizeof cookie);
  OPENSSL_cleanse(key, sizeof key);
  if (ok) {
    std::memcpy(cookie_, cookie, sizeof cookie_);
    received_at_ = clock_.read();
    have_cookie_ = true;
  }
  OPENSSL_cleanse(cookie, sizeof cookie);
  return ok ? Status::ok : Status::auth_failed;
}

Status CookieState::add_macs(std::span<uint8_t> msg, PublicKey peer_static_public) {
  Mac mac1;
  if (const Status st = compute_mac1(msg, peer_static_public, mac1); st != Status::ok) return st;
  uint8_t* const at = msg.data() + msg.size() - 2 * kMacLen;
  std::memcpy(at, mac1.data(), kMacLen);
  last_mac1_ = mac1;
  // §5.4.4: mac2 only with a cookie received less than Cookie-Refresh-Time ago.
  if (fresh(clock_.read())) {
    mac(cookie_, before_mac2(msg), at + kMacLen);
  } else {
    if (have_cookie_) {
      OPENSSL_cleanse(cookie_, sizeof cookie_);
      have_cookie_ = false;
    }
    std::memset(at + kMacLen, 0, kMacLen);
  }
  return Status::ok;
}

}  // namespace rl::wireguard
