#include "core/srtp_keys.h"

#include <charconv>
#include <cstring>

#include <openssl/base64.h>

namespace rl::srtp {

std::optional<Profile> profile_from_dtls_id(uint16_t id) {
  switch (id) {
    case 0x0001: return Profile::aes128_cm_sha1_80;  // SRTP_AES128_CM_HMAC_SHA1_80
    case 0x0002: return Profile::aes128_cm_sha1_32;  // SRTP_AES128_CM_HMAC_SHA1_32
    case 0x0005: return Profile::null_sha1_80;       // SRTP_NULL_HMAC_SHA1_80
    case 0x0006: return Profile::null_sha1_32;       // SRTP_NULL_HMAC_SHA1_32
    case 0x0007: return Profile::aead_aes128_gcm;    // SRTP_AEAD_AES_128_GCM (RFC 7714 §14.2)
    case 0x0008: return Profile::aead_aes256_gcm;    // SRTP_AEAD_AES_256_GCM
    default: return std::nullopt;
  }
}

std::optional<uint16_t> dtls_id(Profile p) {
  switch (p) {
    case Profile::aes128_cm_sha1_80: return 0x0001;
    case Profile::aes128_cm_sha1_32: return 0x0002;
    case Profile::null_sha1_80: return 0x0005;
    case Profile::null_sha1_32: return 0x0006;
    case Profile::aead_aes128_gcm: return 0x0007;
    case Profile::aead_aes256_gcm: return 0x0008;
    default: return std::nullopt;
  }
}

size_t dtls_srtp_exporter_len(Profile p) {
  const ProfileInfo i = profile_info(p);
  return 2 * (size_t{i.master_key_len} + i.master_salt_len);
}

Status split_dtls_srtp(Profile p, std::span<const uint8_t> x, DtlsSrtpKeys& out) {
  const ProfileInfo i = profile_info(p);
  if (i.master_key_len == 0 || x.size() != dtls_srtp_exporter_len(p)) {
    return Status::invalid_argument;
  }
  const size_t k = i.master_key_len, s = i.master_salt_len;
  out.client_key = x.subspan(0, k);
  out.server_key = x.subspan(k, k);
  out.client_salt = x.subspan(2 * k, s);
  out.server_salt = x.subspan(2 * k + s, s);
  return Status::ok;
}

const char* to_string(SdesError e) {
  switch (e) {
    case SdesError::none: return "none";
    case SdesError::syntax: return "syntax";
    case SdesError::unknown_suite: return "unknown_suite";
    case SdesError::bad_base64: return "bad_base64";
    case SdesError::wrong_key_length: return "wrong_key_length";
    case SdesError::bad_lifetime: return "bad_lifetime";
    case SdesError::bad_mki: return "bad_mki";
    case SdesError::bad_session_param: return "bad_session_param";
  }
  return "?";
}

Policy SdesCrypto::policy() const {
  Policy p;
  p.profile = profile;
  p.kdr = kdr;
  p.srtcp_encrypt = !unencrypted_srtcp;
  if (!keys.empty()) p.mki_len = static_cast<uint8_t>(keys.front().mki.size());
  if (wsh != 0) {
    p.replay_window = std::max<uint32_t>(kMinReplayWindow, std::min(wsh, ReplayWindow::kMaxSize));
  }
  return p;
}

namespace {

bool parse_u64(std::string_view s, uint64_t& v) {
  if (s.empty() || s.size() > 20) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

std::string_view next_token(std::string_view& s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  size_t n = 0;
  while (n < s.size() && s[n] != ' ' && s[n] != '\t') ++n;
  std::string_view t = s.substr(0, n);
  s.remove_prefix(n);
  return t;
}

Status fail(SdesError e, SdesError* why) {
  if (why != nullptr) *why = e;
  switch (e) {
    case SdesError::unknown_suite: return Status::unsupported;
    case SdesError::wrong_key_length:
    case SdesError::bad_session_param: return Status::invalid_argument;
    default: return Status::malformed;
  }
}

// key-info = key-salt ["|" lifetime] ["|" mki ":" mki-length] (RFC 4568 §6.1).
Status parse_key_param(std::string_view kp, const ProfileInfo& info, SdesKey& out,
                       SdesError* why) {
  constexpr std::string_view kInline = "inline:";
  if (kp.substr(0, kInline.size()) != kInline) return fail(SdesError::syntax, why);
  kp.remove_prefix(kInline.size());
  std::string_view parts[3];
  size_t n = 0;
  while (true) {
    const size_t bar = kp.find('|');
    if (n == 3) return fail(SdesError::syntax, why);
    parts[n++] = kp.substr(0, bar);
    if (bar == std::string_view::npos) break;
    kp.remove_prefix(bar + 1);
  }
  // Base64 key‖salt (RFC 4648 §4 alphabet with padding).
  const std::string_view b64 = parts[0];
  size_t max_len = 0;
  if (b64.empty() || b64.size() % 4 != 0 || !EVP_DecodedLength(&max_len, b64.size())) {
    return fail(SdesError::bad_base64, why);
  }
  std::vector<uint8_t> raw(max_len);
  size_t raw_len = 0;
  if (!EVP_DecodeBase64(raw.data(), &raw_len, raw.size(),
                        reinterpret_cast<const uint8_t*>(b64.data()), b64.size())) {
    return fail(SdesError::bad_base64, why);
  }
  raw.resize(raw_len);
  if (raw_len != size_t{info.master_key_len} + info.master_salt_len) {
    return fail(SdesError::wrong_key_length, why);
  }
  out.key.assign(raw.begin(), raw.begin() + info.master_key_len);
  out.salt.assign(raw.begin() + info.master_key_len, raw.end());
  std::fill(raw.begin(), raw.end(), 0);
  for (size_t i = 1; i < n; ++i) {
    std::string_view f = parts[i];
    const size_t colon = f.find(':');
    if (colon == std::string_view::npos) {
      // lifetime = ["2^"] 1*DIGIT, and only before the MKI field.
      if (i != 1 || out.lifetime != 0) return fail(SdesError::bad_lifetime, why);
      uint64_t v = 0;
      if (f.substr(0, 2) == "2^") {
        uint64_t e = 0;
        if (!parse_u64(f.substr(2), e) || e > 48) return fail(SdesError::bad_lifetime, why);
        v = uint64_t{1} << e;
      } else if (!parse_u64(f, v) || v == 0 || v > (uint64_t{1} << 48)) {
        return fail(SdesError::bad_lifetime, why);
      }
      out.lifetime = v;
    } else {
      if (i != n - 1) return fail(SdesError::bad_mki, why);
      uint64_t value = 0, len = 0;
      if (!parse_u64(f.substr(0, colon), value) || !parse_u64(f.substr(colon + 1), len) ||
          len == 0 || len > kMaxMkiLen) {
        return fail(SdesError::bad_mki, why);
      }
      if (len < 8 && value >> (8 * len) != 0) return fail(SdesError::bad_mki, why);
      out.mki.assign(len, 0);
      for (size_t b = 0; b < len && b < 8; ++b) {
        out.mki[len - 1 - b] = static_cast<uint8_t>(value >> (8 * b));
      }
    }
  }
  return Status::ok;
}

}  // namespace

Status parse_sdes_crypto(std::string_view line, SdesCrypto& out, SdesError* why) {
  out = SdesCrypto{};
  if (why != nullptr) *why = SdesError::none;
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n' || line.back() == ' ')) {
    line.remove_suffix(1);
  }
  if (line.substr(0, 2) == "a=") line.remove_prefix(2);
  if (line.substr(0, 7) != "crypto:") return fail(SdesError::syntax, why);
  line.remove_prefix(7);

  // tag = 1*9DIGIT
  const std::string_view tag = next_token(line);
  uint64_t t = 0;
  if (tag.size() > 9 || !parse_u64(tag, t)) return fail(SdesError::syntax, why);
  out.tag = static_cast<uint32_t>(t);

  const std::string_view suite = next_token(line);
  if (suite.empty()) return fail(SdesError::syntax, why);
  bool found = false;
  for (Profile p : kAllProfiles) {
    const ProfileInfo i = profile_info(p);
    if (i.sdes_name[0] != '\0' && suite == i.sdes_name) {
      out.profile = p;
      found = true;
    }
  }
  if (!found) return fail(SdesError::unknown_suite, why);
  const ProfileInfo info = profile_info(out.profile);

  // key-params = key-param *(";" key-param)
  std::string_view kps = next_token(line);
  if (kps.empty()) return fail(SdesError::syntax, why);
  while (true) {
    const size_t semi = kps.find(';');
    SdesKey k;
    const Status st = parse_key_param(kps.substr(0, semi), info, k, why);
    if (st != Status::ok) return st;
    out.keys.push_back(std::move(k));
    if (semi == std::string_view::npos) break;
    kps.remove_prefix(semi + 1);
  }
  // RFC 4568 §6.1: with several keys every one carries an MKI of one length.
  const size_t mki_len = out.keys.front().mki.size();
  for (const SdesKey& k : out.keys) {
    if (k.mki.size() != mki_len || (out.keys.size() > 1 && mki_len == 0)) {
      return fail(SdesError::bad_mki, why);
    }
  }

  // session-params (RFC 4568 §6.3)
  for (std::string_view sp = next_token(line); !sp.empty(); sp = next_token(line)) {
    if (sp.substr(0, 4) == "KDR=") {
      uint64_t n = 0;
      if (!parse_u64(sp.substr(4), n) || n > 24) return fail(SdesError::bad_session_param, why);
      out.kdr = uint64_t{1} << n;
    } else if (sp.substr(0, 4) == "WSH=") {
      uint64_t n = 0;
      if (!parse_u64(sp.substr(4), n) || n < kMinReplayWindow || n > 0xffffffff) {
        return fail(SdesError::bad_session_param, why);
      }
      out.wsh = static_cast<uint32_t>(n);
    } else if (sp == "UNENCRYPTED_SRTCP") {
      out.unencrypted_srtcp = true;
    } else if (sp.front() == '-') {
      // RFC 4568 §6.3: parameters starting with '-' may be ignored.
    } else {
      return fail(SdesError::bad_session_param, why);  // UNENCRYPTED_SRTP and others
    }
  }
  if (out.kdr != 0 && info.aead) return fail(SdesError::bad_session_param, why);
  return Status::ok;
}

}  // namespace rl::srtp
