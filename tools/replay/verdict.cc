#include "tools/replay/verdict.h"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "tools/replay/sha256.h"

namespace rl::replay {

const std::optional<std::array<uint8_t, 32>>& Verdict::digest() const {
  if (has_plaintext && !sha256) sha256 = replay::sha256(plaintext);
  return sha256;
}

void compute_digests(std::span<Verdict* const> vs) {
  Verdict* a = nullptr;
  for (Verdict* v : vs) {
    if (!v->has_plaintext || v->sha256) continue;
    if (!a) {
      a = v;
      continue;
    }
    Digest da, db;
    sha256_pair(a->plaintext, v->plaintext, da, db);
    a->sha256 = da;
    v->sha256 = db;
    a = nullptr;
  }
  if (a) a->digest();
}

std::string spi_text(uint32_t v) {
  char b[16];
  std::snprintf(b, sizeof b, "0x%08x", v);
  return b;
}

static void json_string(std::string& o, std::string_view s) {
  o += '"';
  if (std::none_of(s.begin(), s.end(), [](char c) {
        return c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20;
      })) {
    (o += s) += '"';
    return;
  }
  for (char c : s) {
    if (c == '"' || c == '\\') {
      o += '\\';
      o += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      o += b;
    } else {
      o += c;
    }
  }
  o += '"';
}

std::map<std::string, std::string> fields(const Verdict& v) {
  std::map<std::string, std::string> m;
  m["frame"] = std::to_string(v.frame);
  m["index"] = std::to_string(v.index);
  m["proto"] = v.proto;
  m["dir"] = v.dir;
  m["epoch"] = v.epoch ? std::to_string(*v.epoch) : "null";
  m["seq"] = v.seq ? std::to_string(*v.seq) : "null";
  m["status"] = v.status;
  m["len"] = v.len ? std::to_string(*v.len) : "null";
  m["sha256"] = v.digest() ? hex(*v.sha256) : "null";
  m["type"] = v.type ? std::to_string(*v.type) : "null";
  m["wire_len"] = std::to_string(v.wire_len);
  m["flow"] = std::to_string(v.flow);
  return m;
}

namespace {
void put_num(std::string& o, const char* key, uint64_t x) {
  o += key;
  char b[24];
  const auto r = std::to_chars(b, b + sizeof b, x);
  o.append(b, r.ptr);
}
void put_opt(std::string& o, const char* key, bool has, uint64_t x) {
  if (has) put_num(o, key, x);
  else (o += key) += "null";
}
}  // namespace

void append_json(std::string& o, const Verdict& v) {
  put_num(o, "{\"frame\":", v.frame);
  put_num(o, ",\"index\":", v.index);
  o += ",\"proto\":";
  json_string(o, v.proto);
  o += ",\"dir\":";
  json_string(o, v.dir);
  put_opt(o, ",\"epoch\":", v.epoch.has_value(), v.epoch.value_or(0));
  put_opt(o, ",\"seq\":", v.seq.has_value(), v.seq.value_or(0));
  o += ",\"status\":";
  json_string(o, v.status);
  put_opt(o, ",\"len\":", v.len.has_value(), v.len.value_or(0));
  o += ",\"sha256\":";
  if (v.digest()) {
    static constexpr char kHex[] = "0123456789abcdef";
    char h[66];
    h[0] = h[65] = '"';
    for (size_t i = 0; i < 32; ++i) {
      h[1 + 2 * i] = kHex[(*v.sha256)[i] >> 4];
      h[2 + 2 * i] = kHex[(*v.sha256)[i] & 15];
    }
    o.append(h, sizeof h);
  } else {
    o += "null";
  }
  put_opt(o, ",\"type\":", v.type.has_value(), static_cast<uint64_t>(v.type.value_or(0)));
  put_num(o, ",\"wire_len\":", v.wire_len);
  put_num(o, ",\"flow\":", v.flow);
  o += '}';
}

std::string to_json(const Verdict& v) {
  std::string o;
  o.reserve(200);
  append_json(o, v);
  return o;
}

bool parse_flat_json(std::string_view s, std::map<std::string, std::string>& out, std::string* err) {
  size_t i = 0;
  auto fail = [&](const char* m) {
    if (err) *err = std::string(m) + " at column " + std::to_string(i + 1);
    return false;
  };
  auto ws = [&] {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')) ++i;
  };
  auto str = [&](std::string& r) {
    if (i >= s.size() || s[i] != '"') return false;
    ++i;
    while (i < s.size() && s[i] != '"') {
      if (s[i] == '\\') {
        if (++i >= s.size()) return false;
        char c = s[i];
        if (c == 'n') r += '\n';
        else if (c == 't') r += '\t';
        else if (c == 'r') r += '\r';
        else if (c == 'u') {
          if (i + 4 >= s.size()) return false;
          uint64_t cp = 0;
          if (!parse_uint("0x" + std::string(s.substr(i + 1, 4)), cp)) return false;
          r += cp < 0x80 ? static_cast<char>(cp) : '?';
          i += 4;
        } else r += c;
        ++i;
      } else {
        r += s[i++];
      }
    }
    if (i >= s.size()) return false;
    ++i;
    return true;
  };
  out.clear();
  ws();
  if (i >= s.size() || s[i] != '{') return fail("expected '{'");
  ++i;
  ws();
  if (i < s.size() && s[i] == '}') return true;
  for (;;) {
    ws();
    std::string k, v;
    if (!str(k)) return fail("expected a quoted key");
    ws();
    if (i >= s.size() || s[i] != ':') return fail("expected ':'");
    ++i;
    ws();
    if (i < s.size() && s[i] == '"') {
      if (!str(v)) return fail("bad string");
    } else {
      size_t j = i;
      while (j < s.size() && s[j] != ',' && s[j] != '}' && s[j] != ' ') ++j;
      v = std::string(s.substr(i, j - i));
      if (v.empty() || v[0] == '{' || v[0] == '[') return fail("only flat objects are read");
      i = j;
    }
    out[k] = v;
    ws();
    if (i < s.size() && s[i] == ',') {
      ++i;
      continue;
    }
    if (i < s.size() && s[i] == '}') {
      ++i;
      ws();
      if (i != s.size()) return fail("text after the object");
      return true;
    }
    return fail("expected ',' or '}'");
  }
}

}  // namespace rl::replay
