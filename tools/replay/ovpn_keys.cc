#include "tools/replay/ovpn_keys.h"

#include <openssl/mem.h>

#include <sstream>

namespace rl::replay {

OvpnKeys::~OvpnKeys() {
  for (OvpnKey& k : keys) OPENSSL_cleanse(k.material.data(), k.material.size());
}

bool OvpnKeys::parse(std::istream& in, std::string& err) {
  std::vector<OvpnKey> got;
  std::optional<Suite> suite = this->suite;
  std::optional<uint32_t> peer_id = this->peer_id;
  size_t exported = 0;  // shim lines so far (their key_id follows from the order)
  std::string line;
  for (size_t n = 1; std::getline(in, line); ++n) {
    const size_t hash = line.find('#');
    std::istringstream ls(std::string(trim(std::string_view(line).substr(0, hash))));
    std::string tag, a, b;
    if (!(ls >> tag)) continue;
    ls >> a >> b;
    auto fail = [&](const std::string& what) {
      err = "line " + std::to_string(n) + ": " + what;
      for (OvpnKey& k : got) OPENSSL_cleanse(k.material.data(), k.material.size());
      return false;
    };
    auto material = [&](const std::string& h, OvpnKey& k) {
      Bytes m;
      if (!parse_hex(h, m) || m.size() != k.material.size()) return false;
      std::copy(m.begin(), m.end(), k.material.begin());
      OPENSSL_cleanse(m.data(), m.size());
      return true;
    };
    if (tag == "cipher") {
      if (a == "AES-128-GCM") suite = Suite::aes128_gcm;
      else if (a == "AES-256-GCM") suite = Suite::aes256_gcm;
      else if (a == "CHACHA20-POLY1305") suite = Suite::chacha20_poly1305;
      else return fail("unknown cipher '" + a + "' (AES-128-GCM, AES-256-GCM, CHACHA20-POLY1305)");
    } else if (tag == "peer_id" || tag == "EXPORTER-OpenVPN-p2p-peerid") {
      Bytes p;
      if (!parse_hex(a, p) || p.empty() || p.size() > 3) return fail("peer-id must be 1..3 bytes of hex");
      uint32_t v = 0;
      for (uint8_t x : p) v = v << 8 | x;
      peer_id = v;
    } else if (tag == "key") {
      OvpnKey k;
      uint64_t id = 0;
      if (!parse_uint(a, id) || id > 7) return fail("key_id must be 0..7");
      k.key_id = static_cast<uint8_t>(id);
      if (!material(b, k)) return fail("key material must be 512 hex digits");
      got.push_back(k);
    } else if (tag == "EXPORTER-OpenVPN-datakeys") {
      OvpnKey k;
      k.key_id = static_cast<uint8_t>(exported == 0 ? 0 : (exported - 1) % 7 + 1);
      if (!material(a, k)) return fail("key material must be 512 hex digits");
      ++exported;
      got.push_back(k);
    } else if (tag.rfind("EXPORTER-", 0) == 0) {
      continue;  // another export (p2p peer-id, tls-crypt): not a data-channel key
    } else {
      return fail("unknown line '" + tag + "' (cipher, key, peer_id, EXPORTER-OpenVPN-datakeys)");
    }
  }
  this->suite = suite;
  this->peer_id = peer_id;
  keys.insert(keys.end(), got.begin(), got.end());
  for (OvpnKey& k : got) OPENSSL_cleanse(k.material.data(), k.material.size());
  return true;
}

bool OvpnKeys::load_file(const std::string& path, Diag& diag) {
  std::string text;
  if (!read_key_file(path, "OpenVPN key file", diag, text)) return false;
  std::istringstream in(std::move(text));
  std::string err;
  if (!parse(in, err)) {
    diag.error(path, err);
    return false;
  }
  return true;
}

}  // namespace rl::replay
