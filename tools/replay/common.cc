#include "tools/replay/common.h"

#include <arpa/inet.h>

#include <cstring>
#include <fstream>
#include <sstream>

namespace rl::replay {

bool IpAddr::operator==(const IpAddr& o) const {
  return family == o.family && std::memcmp(b, o.b, 16) == 0;
}
bool IpAddr::operator<(const IpAddr& o) const {
  if (family != o.family) return family < o.family;
  return std::memcmp(b, o.b, 16) < 0;
}

std::string to_string(const IpAddr& a) {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (a.family == 4) inet_ntop(AF_INET, a.b, buf, sizeof buf);
  if (a.family == 6) inet_ntop(AF_INET6, a.b, buf, sizeof buf);
  return buf;
}

bool parse_ip(std::string_view s, IpAddr& out) {
  if (s.size() >= INET6_ADDRSTRLEN) return false;
  char buf[INET6_ADDRSTRLEN];
  std::memcpy(buf, s.data(), s.size());
  buf[s.size()] = 0;
  IpAddr a;
  if (inet_pton(AF_INET, buf, a.b) == 1) {
    a.family = 4;
  } else if (inet_pton(AF_INET6, buf, a.b) == 1) {
    a.family = 6;
  } else {
    return false;
  }
  out = a;
  return true;
}

void Diag::add(const char* kind, std::string_view where, std::string_view msg) {
  std::string m;
  m.reserve(where.size() + msg.size() + 16);
  m.append(where).append(": ").append(kind).append(msg);
  if (!quiet && out_ && printed_ < max_printed) {
    if (before_) before_(before_arg_);
    std::fprintf(out_, "%s\n", m.c_str());
    if (++printed_ == max_printed) std::fprintf(out_, "(further messages are counted, not printed)\n");
  }
  if (messages_.size() < 100000) messages_.push_back(std::move(m));
}
void Diag::error(std::string_view where, std::string_view msg) {
  ++errors_;
  add("error: ", where, msg);
}
void Diag::warn(std::string_view where, std::string_view msg) {
  ++warnings_;
  add("warning: ", where, msg);
}
void Diag::note(std::string_view where, std::string_view msg) { add("note: ", where, msg); }

bool read_key_file(const std::string& path, const char* what, Diag& diag, std::string& text) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    diag.error(path, std::string("cannot open ") + what);
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  text = std::move(ss).str();
  return true;
}

std::string hex(ByteSpan b) {
  static const char* d = "0123456789abcdef";
  std::string s(b.size() * 2, '0');
  for (size_t i = 0; i < b.size(); ++i) {
    s[2 * i] = d[b[i] >> 4];
    s[2 * i + 1] = d[b[i] & 15];
  }
  return s;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool parse_hex(std::string_view s, Bytes& out, bool allow_0x) {
  if (allow_0x && s.size() >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) s.remove_prefix(2);
  if (s.size() % 2) return false;
  Bytes r(s.size() / 2);
  for (size_t i = 0; i < r.size(); ++i) {
    int h = hexval(s[2 * i]), l = hexval(s[2 * i + 1]);
    if (h < 0 || l < 0) return false;
    r[i] = static_cast<uint8_t>(h << 4 | l);
  }
  out = std::move(r);
  return true;
}

bool parse_base64(std::string_view s, Bytes& out) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  size_t pad = 0;
  while (!s.empty() && s.back() == '=' && pad < 2) {
    s.remove_suffix(1);
    ++pad;
  }
  if (s.size() % 4 == 1) return false;
  if (pad && (s.size() + pad) % 4 != 0) return false;
  Bytes r;
  r.reserve(s.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    int v = val(c);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      r.push_back(static_cast<uint8_t>(acc >> bits));
    }
  }
  // Leftover bits must be zero (canonical encoding).
  if (bits && (acc & ((1u << bits) - 1))) return false;
  out = std::move(r);
  return true;
}

bool parse_uint(std::string_view s, uint64_t& out) {
  if (s.empty()) return false;
  uint64_t v = 0;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    s.remove_prefix(2);
    if (s.size() > 16) return false;
    for (char c : s) {
      int h = hexval(c);
      if (h < 0) return false;
      v = v << 4 | static_cast<uint64_t>(h);
    }
  } else {
    for (char c : s) {
      if (c < '0' || c > '9') return false;
      uint64_t n = v * 10 + static_cast<uint64_t>(c - '0');
      if (n / 10 != v) return false;  // overflow
      v = n;
    }
  }
  out = v;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split_ws(std::string_view s) {
  std::vector<std::string_view> r;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')) ++i;
    size_t j = i;
    while (j < s.size() && !(s[j] == ' ' || s[j] == '\t' || s[j] == '\r' || s[j] == '\n')) ++j;
    if (j > i) r.push_back(s.substr(i, j - i));
    i = j;
  }
  return r;
}

}  // namespace rl::replay
