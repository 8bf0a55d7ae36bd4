#include "tools/replay/keylog.h"

#include <cstdio>
#include <cstring>

namespace rl::replay {

const char* to_string(SecretLabel l) {
  switch (l) {
    case SecretLabel::client_random: return "CLIENT_RANDOM";
    case SecretLabel::client_early_traffic: return "CLIENT_EARLY_TRAFFIC_SECRET";
    case SecretLabel::client_handshake_traffic: return "CLIENT_HANDSHAKE_TRAFFIC_SECRET";
    case SecretLabel::server_handshake_traffic: return "SERVER_HANDSHAKE_TRAFFIC_SECRET";
    case SecretLabel::client_traffic_0: return "CLIENT_TRAFFIC_SECRET_0";
    case SecretLabel::server_traffic_0: return "SERVER_TRAFFIC_SECRET_0";
    case SecretLabel::early_exporter: return "EARLY_EXPORTER_SECRET";
    case SecretLabel::exporter: return "EXPORTER_SECRET";
    case SecretLabel::count: break;
  }
  return "?";
}

std::string SessionSecrets::first_where() const {
  for (auto& o : s)
    if (o) return o->where;
  return "?";
}

size_t KeyLog::add_text(std::string_view text, const std::string& source, Diag& diag) {
  size_t added = 0, lineno = 0;
  while (!text.empty() && !diag.stop()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++lineno;
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    const std::string where = source + ":" + std::to_string(lineno);
    auto f = split_ws(line);
    if (f.size() != 3) {
      diag.error(where, "expected 'LABEL <client random hex> <secret hex>', got " +
                            std::to_string(f.size()) + " fields");
      continue;
    }
    // OpenSSL 3.0 logs later generations as a literal "_N" without an index; the next
    // secret is derived from the previous one instead (RFC 8446 §7.2).
    if (f[0] == "CLIENT_TRAFFIC_SECRET_N" || f[0] == "SERVER_TRAFFIC_SECRET_N") {
      ++ignored_n_;
      continue;
    }
    SecretLabel label = SecretLabel::count;
    for (size_t i = 0; i < static_cast<size_t>(SecretLabel::count); ++i)
      if (f[0] == to_string(static_cast<SecretLabel>(i))) label = static_cast<SecretLabel>(i);
    if (label == SecretLabel::count) {
      if (f[0] == "RSA") {
        diag.warn(where, "RSA pre-master secrets (static RSA key exchange) are not supported");
        continue;
      }
      const bool numbered = f[0].starts_with("CLIENT_TRAFFIC_SECRET_") ||
                            f[0].starts_with("SERVER_TRAFFIC_SECRET_");
      if (numbered) {  // _1, _2...: the engine derives later generations itself
        ++ignored_n_;
        continue;
      }
      diag.error(where, "unknown key log label '" + std::string(f[0]) + "'");
      continue;
    }
    Bytes random, secret;
    if (!parse_hex(f[1], random) || random.size() != 32) {
      diag.error(where, "client random must be 64 hex digits (32 bytes), got '" +
                            std::string(f[1].substr(0, 80)) + "'");
      continue;
    }
    if (!parse_hex(f[2], secret)) {
      diag.error(where, "secret is not hex");
      continue;
    }
    const size_t n = secret.size();
    if (label == SecretLabel::client_random ? n != 48 : (n != 32 && n != 48)) {
      diag.error(where, std::string(to_string(label)) + " secret has " + std::to_string(n) +
                            " bytes; expected " +
                            (label == SecretLabel::client_random ? "48 (master secret)"
                                                                 : "32 (SHA-256) or 48 (SHA-384)"));
      continue;
    }
    std::array<uint8_t, 32> r;
    std::memcpy(r.data(), random.data(), 32);
    SessionSecrets& ss = by_random_[r];
    ss.client_random = r;
    auto& slot = ss.s[static_cast<size_t>(label)];
    if (slot && slot->value != secret && label == SecretLabel::client_random) {
      bool known = false;
      for (const Secret& m : ss.later_masters) known = known || m.value == secret;
      if (!known) {
        diag.note(where, "another CLIENT_RANDOM for this client random (first at " + slot->where +
                             "): kept for a renegotiation that reuses the random");
        ss.later_masters.push_back(Secret{std::move(secret), where});
        ++added;
      }
      continue;
    }
    if (slot && slot->value != secret) {
      diag.warn(where, std::string(to_string(label)) + " for this client random differs from " +
                           slot->where + ": keeping the first");
      continue;
    }
    if (!slot) {
      slot = Secret{std::move(secret), where};
      ++added;
    }
  }
  return added;
}

bool KeyLog::load_file(const std::string& path, Diag& diag) {
  std::string text;
  if (!read_key_file(path, "key log", diag, text)) return false;
  add_text(text, path, diag);
  return true;
}

size_t KeyLog::load_pcapng_dsb(const std::string& path, Diag& diag) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return 0;  // the capture reader reports it
  size_t added = 0, dsb = 0;
  bool big = false;
  uint64_t off = 0;
  auto u32 = [&](const uint8_t* p) {
    return big ? (uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3])
               : (uint32_t(p[3]) << 24 | uint32_t(p[2]) << 16 | uint32_t(p[1]) << 8 | p[0]);
  };
  uint8_t h[12];
  bool first = true;
  // A block length is checked against what the file holds before anything is allocated
  // for it (a damaged length could ask for 4 GiB).
  uint64_t file_size = 0;
  if (std::fseek(f, 0, SEEK_END) == 0) {
    const long e = std::ftell(f);
    file_size = e > 0 ? static_cast<uint64_t>(e) : 0;
  }
  while (!diag.stop()) {
    if (std::fseek(f, static_cast<long>(off), SEEK_SET) != 0) break;
    const size_t got = std::fread(h, 1, 12, f);
    if (got == 0) break;
    const std::string where = path + ": pcapng block at offset " + std::to_string(off);
    if (got < 8) {
      if (!first) diag.error(where, "block header cut short");
      break;
    }
    const uint32_t type_le = uint32_t(h[3]) << 24 | uint32_t(h[2]) << 16 | uint32_t(h[1]) << 8 | h[0];
    if (type_le == 0x0A0D0D0A) {  // Section Header Block: byte order magic sets endianness
      if (got < 12) {
        diag.error(where, "section header cut short");
        break;
      }
      const uint32_t bom_le = uint32_t(h[11]) << 24 | uint32_t(h[10]) << 16 | uint32_t(h[9]) << 8 | h[8];
      if (bom_le == 0x1A2B3C4D) big = false;
      else if (bom_le == 0x4D3C2B1A) big = true;
      else {
        diag.error(where, "bad byte-order magic in section header");
        break;
      }
    } else if (first) {
      break;  // not pcapng (classic pcap): no DSBs
    }
    first = false;
    const uint32_t type = u32(h), len = u32(h + 4);
    if (len < 12 || len % 4) {
      diag.error(where, "block total length " + std::to_string(len) + " invalid; stopped reading secrets");
      break;
    }
    if (len > file_size - off) {
      if (type == 0x0000000A) diag.error(where, "Decryption Secrets Block cut short");
      break;  // the capture reader reports a cut packet block
    }
    if (type == 0x0000000A) {  // Decryption Secrets Block
      ++dsb;
      Bytes body(len - 12);
      if (std::fseek(f, static_cast<long>(off + 8), SEEK_SET) != 0 ||
          std::fread(body.data(), 1, body.size(), f) != body.size()) {
        diag.error(where, "Decryption Secrets Block cut short");
        break;
      }
      if (body.size() < 8) {
        diag.error(where, "Decryption Secrets Block too short");
      } else {
        const uint32_t stype = u32(body.data()), slen = u32(body.data() + 4);
        if (slen > body.size() - 8) {
          diag.error(where, "secrets length " + std::to_string(slen) + " runs past the block");
        } else if (stype == 0x544c534b) {  // "TLSK": NSS key log text
          std::string_view text(reinterpret_cast<const char*>(body.data() + 8), slen);
          added += add_text(text, path + ": DSB #" + std::to_string(dsb), diag);
        } else {
          char t[16];
          std::snprintf(t, sizeof t, "0x%08x", stype);
          diag.note(where, std::string("Decryption Secrets Block of type ") + t +
                               " ignored (only TLS key logs, 0x544c534b, are read)");
        }
      }
    }
    off += len;
  }
  std::fclose(f);
  return added;
}

}  // namespace rl::replay

namespace rl::replay {
const SessionSecrets* KeyLog::find(const std::array<uint8_t, 32>& r) const {
  auto it = by_random_.find(r);
  return it == by_random_.end() ? nullptr : &it->second;
}
}  // namespace rl::replay
