#include "tools/replay/srtp_keys.h"

namespace rl::replay {

const SrtpSuiteInfo* find_srtp_suite(std::string_view name) {
  static constexpr SrtpSuiteInfo kSuites[] = {
      {"AES_CM_128_HMAC_SHA1_80", 16, 14, 10, false},  // RFC 4568 §6.2.1
      {"AES_CM_128_HMAC_SHA1_32", 16, 14, 4, false},   // RFC 4568 §6.2.2
      {"F8_128_HMAC_SHA1_80", 16, 14, 10, false},      // RFC 4568 §6.2.3
      {"AES_192_CM_HMAC_SHA1_80", 24, 14, 10, false},  // RFC 6188 §7.1
      {"AES_192_CM_HMAC_SHA1_32", 24, 14, 4, false},
      {"AES_256_CM_HMAC_SHA1_80", 32, 14, 10, false},
      {"AES_256_CM_HMAC_SHA1_32", 32, 14, 4, false},
      {"AEAD_AES_128_GCM", 16, 12, 16, true},          // RFC 7714 §14.2
      {"AEAD_AES_256_GCM", 32, 12, 16, true},
  };
  for (const auto& s : kSuites)
    if (name == s.name) return &s;
  return nullptr;
}

static bool parse_dst(std::string_view v, std::pair<IpAddr, uint16_t>& out) {
  std::string_view host, port;
  if (!v.empty() && v[0] == '[') {
    const size_t rb = v.find(']');
    if (rb == std::string_view::npos || rb + 1 >= v.size() || v[rb + 1] != ':') return false;
    host = v.substr(1, rb - 1);
    port = v.substr(rb + 2);
  } else {
    const size_t c = v.rfind(':');
    if (c == std::string_view::npos) return false;
    host = v.substr(0, c);
    port = v.substr(c + 1);
  }
  uint64_t p = 0;
  if (!parse_ip(host, out.first) || !parse_uint(port, p) || p == 0 || p > 65535) return false;
  out.second = static_cast<uint16_t>(p);
  return true;
}

size_t SrtpKeys::add_text(std::string_view text, const std::string& source, Diag& diag) {
  const size_t before = keys_.size();
  size_t lineno = 0;
  while (!text.empty() && !diag.stop()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++lineno;
    const size_t hash = line.find('#');
    if (hash != std::string_view::npos) line = line.substr(0, hash);
    line = trim(line);
    if (line.empty()) continue;
    const std::string where = source + ":" + std::to_string(lineno);
    const size_t ac = line.find("a=crypto:");
    if (ac == std::string_view::npos) {
      diag.error(where, "no 'a=crypto:' attribute on this line");
      continue;
    }
    SrtpKey k;
    k.where = where;
    bool ok = true;
    for (std::string_view t : split_ws(line.substr(0, ac))) {
      const size_t eq = t.find('=');
      std::string_view name = t.substr(0, eq), val = eq == std::string_view::npos ? "" : t.substr(eq + 1);
      uint64_t v = 0;
      if (name == "ssrc") {
        if (!parse_uint(val, v) || v > 0xffffffffu) {
          diag.error(where, "bad ssrc '" + std::string(val) + "' (decimal or 0x-hex, 32 bits)");
          ok = false;
        } else {
          k.ssrc = static_cast<uint32_t>(v);
        }
      } else if (name == "dst") {
        std::pair<IpAddr, uint16_t> d;
        if (!parse_dst(val, d)) {
          diag.error(where, "bad dst '" + std::string(val) + "' (expected <ip>:<port> or [<ipv6>]:<port>)");
          ok = false;
        } else {
          k.dst = d;
        }
      } else if (name == "roc") {
        if (!parse_uint(val, v) || v > 0xffffffffu) {
          diag.error(where, "bad roc '" + std::string(val) + "' (32-bit rollover counter)");
          ok = false;
        } else {
          k.roc = static_cast<uint32_t>(v);
        }
      } else {
        diag.error(where, "unknown stream selector '" + std::string(t) + "' (ssrc=, dst=, roc=)");
        ok = false;
      }
    }
    if (!ok) continue;
    if (!k.ssrc && !k.dst) {
      diag.error(where, "say which stream this key is for: ssrc=<n> and/or dst=<ip>:<port>");
      continue;
    }
    // a=crypto:<tag> <crypto-suite> <key-params> [<session-params>]
    auto f = split_ws(line.substr(ac + 9));
    uint64_t tag = 0;
    if (f.size() < 3 || !parse_uint(f[0], tag) || f[0].size() > 9 || f[0].starts_with("0x")) {
      diag.error(where, "expected 'a=crypto:<tag> <suite> inline:<key||salt>[|lifetime][|MKI:len]'");
      continue;
    }
    k.tag = static_cast<uint32_t>(tag);
    k.suite = find_srtp_suite(f[1]);
    if (!k.suite) {
      diag.error(where, "unknown crypto suite '" + std::string(f[1]) + "'");
      continue;
    }
    // key-params = key-param *(";" key-param)
    std::string_view kp = f[2];
    while (ok) {
      const size_t semi = kp.find(';');
      std::string_view one = kp.substr(0, semi);
      kp = semi == std::string_view::npos ? std::string_view() : kp.substr(semi + 1);
      if (!one.starts_with("inline:")) {
        diag.error(where, "key method must be 'inline:' (got '" + std::string(one.substr(0, 16)) + "')");
        ok = false;
        break;
      }
      one.remove_prefix(7);
      std::vector<std::string_view> parts;
      for (size_t bar; (bar = one.find('|')) != std::string_view::npos; one = one.substr(bar + 1))
        parts.push_back(one.substr(0, bar));
      parts.push_back(one);
      SrtpKeyParam p;
      Bytes ks;
      if (!parse_base64(parts[0], ks)) {
        diag.error(where, "key||salt is not valid base64");
        ok = false;
        break;
      }
      const size_t want = size_t{k.suite->key_len} + k.suite->salt_len;
      if (ks.size() != want) {
        diag.error(where, std::string(k.suite->name) + " needs " + std::to_string(want) +
                              " bytes of key||salt, the inline value has " + std::to_string(ks.size()));
        ok = false;
        break;
      }
      p.key.assign(ks.begin(), ks.begin() + k.suite->key_len);
      p.salt.assign(ks.begin() + k.suite->key_len, ks.end());
      // Optional lifetime then optional MKI:length; an MKI has a ':'.
      for (size_t i = 1; i < parts.size() && ok; ++i) {
        std::string_view q = parts[i];
        const size_t colon = q.find(':');
        uint64_t a = 0, b = 0;
        if (colon != std::string_view::npos) {
          if (p.mki || !parse_uint(q.substr(0, colon), a) || !parse_uint(q.substr(colon + 1), b) ||
              b < 1 || b > 128 || (b < 8 && a >= (uint64_t{1} << (8 * b)))) {
            diag.error(where, "bad MKI '" + std::string(q) + "' (value:length, length 1..128 bytes)");
            ok = false;
          } else {
            p.mki = a;
            p.mki_len = static_cast<uint8_t>(b);
          }
        } else if (i == 1 && !p.lifetime) {
          if (q.starts_with("2^")) {
            if (!parse_uint(q.substr(2), a) || a > 63) {
              diag.error(where, "bad lifetime '" + std::string(q) + "'");
              ok = false;
            } else {
              p.lifetime = uint64_t{1} << a;
            }
          } else if (!parse_uint(q, a) || a == 0) {
            diag.error(where, "bad lifetime '" + std::string(q) + "'");
            ok = false;
          } else {
            p.lifetime = a;
          }
        } else {
          diag.error(where, "unexpected '" + std::string(q) + "' after the key (lifetime|MKI:length)");
          ok = false;
        }
      }
      if (!ok) break;
      if (!k.keys.empty() && (k.keys[0].mki_len != p.mki_len || !p.mki)) {
        diag.error(where, "several inline keys need an MKI of the same length on each");
        ok = false;
        break;
      }
      k.keys.push_back(std::move(p));
      if (kp.empty()) break;
    }
    if (!ok) continue;
    for (size_t i = 3; i < f.size(); ++i) {
      std::string_view sp = f[i];
      k.session_params.emplace_back(sp);
      uint64_t v = 0;
      if (sp == "UNENCRYPTED_SRTP") k.unencrypted_srtp = true;
      else if (sp == "UNENCRYPTED_SRTCP") k.unencrypted_srtcp = true;
      else if (sp == "UNAUTHENTICATED_SRTP") k.unauthenticated_srtp = true;
      else if (sp.starts_with("KDR=")) {
        if (!parse_uint(sp.substr(4), v) || v > 24) {
          diag.error(where, "bad KDR '" + std::string(sp) + "' (0..24)");
          ok = false;
        } else {
          k.kdr = static_cast<uint32_t>(v);
        }
      } else if (!sp.starts_with("WSH=") && !sp.starts_with("FEC_ORDER=") &&
                 !sp.starts_with("FEC_KEY=") && !sp.starts_with("-")) {
        diag.warn(where, "unknown session parameter '" + std::string(sp) + "' kept but not used");
      }
    }
    if (!ok) continue;
    for (const SrtpKey& o : keys_) {
      if (k.ssrc && o.ssrc == k.ssrc && (!k.dst || !o.dst || *k.dst == *o.dst)) {
        diag.warn(where, "another key for this ssrc at " + o.where + ": the first one is used");
        break;
      }
    }
    keys_.push_back(std::move(k));
  }
  return keys_.size() - before;
}

bool SrtpKeys::load_file(const std::string& path, Diag& diag) {
  std::string text;
  if (!read_key_file(path, "SRTP key file", diag, text)) return false;
  add_text(text, path, diag);
  return true;
}

const SrtpKey* SrtpKeys::find(uint32_t ssrc, const IpAddr& dst, uint16_t dport) const {
  for (const SrtpKey& k : keys_)
    if (k.ssrc && *k.ssrc == ssrc && (!k.dst || (k.dst->first == dst && k.dst->second == dport)))
      return &k;
  for (const SrtpKey& k : keys_)
    if (!k.ssrc && k.dst && k.dst->first == dst && k.dst->second == dport) return &k;
  return nullptr;
}

}  // namespace rl::replay
