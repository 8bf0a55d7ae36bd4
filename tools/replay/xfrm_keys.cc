#include "tools/replay/xfrm_keys.h"

namespace rl::replay {

// `reported`: a line of this state was already reported: say nothing more about it.
void XfrmKeys::finish(std::optional<XfrmState>& cur, bool reported, Diag& diag) {
  if (!cur) return;
  XfrmState& s = *cur;
  if (!s.have_spi) {
    if (!reported) diag.error(s.where, "state has no 'proto esp spi 0x…' line: ignored");
  } else if (s.alg == XfrmState::Alg::none) {
    if (!reported) diag.error(s.where, "state has no usable 'aead …' line: ignored");
  } else {
    states_.push_back(std::move(s));
  }
  cur.reset();
}

size_t XfrmKeys::add_text(std::string_view text, const std::string& source, Diag& diag) {
  const size_t before = states_.size();
  std::optional<XfrmState> cur;
  bool bad_alg_reported = false;
  size_t lineno = 0, state_errors = 0;
  while (!text.empty() && !diag.stop()) {
    const size_t nl = text.find('\n');
    std::string_view line0 = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++lineno;
    const std::string where = source + ":" + std::to_string(lineno);
    std::string_view line = trim(line0);
    if (line.empty() || line[0] == '#') continue;
    auto f = split_ws(line);
    auto need_state = [&]() {
      if (!cur) diag.error(where, "'" + std::string(f[0]) + "' line before any 'src … dst …' line");
      return cur.has_value();
    };
    auto u32 = [&](std::string_view v, const char* what, uint32_t& out) {
      uint64_t x = 0;
      if (!parse_uint(v, x) || x > 0xffffffffu) {
        diag.error(where, std::string("bad ") + what + " '" + std::string(v) + "'");
        return false;
      }
      out = static_cast<uint32_t>(x);
      return true;
    };
    if (f[0] == "src") {
      // "src A dst B" starts a state (the selector line starts with "sel").
      finish(cur, diag.errors() > state_errors, diag);
      bad_alg_reported = false;
      state_errors = diag.errors();
      cur.emplace();
      cur->where = where;
      if (f.size() < 4 || f[2] != "dst" || !parse_ip(f[1], cur->src) || !parse_ip(f[3], cur->dst))
        diag.error(where, "expected 'src <ip> dst <ip>'");
      continue;
    }
    if (f[0] == "proto") {
      if (!need_state()) continue;
      // proto esp spi 0x00001000 reqid 1 mode tunnel
      if (f.size() < 2 || f[1] != "esp") {
        diag.error(where, "only 'proto esp' states are used (got '" +
                              std::string(f.size() > 1 ? f[1] : "") + "')");
        cur.reset();
        continue;
      }
      for (size_t i = 2; i + 1 < f.size(); i += 2) {
        if (f[i] == "spi") {
          if (u32(f[i + 1], "spi", cur->spi)) cur->have_spi = true;
        } else if (f[i] == "reqid") {
          u32(f[i + 1], "reqid", cur->reqid);
        } else if (f[i] == "mode") {
          cur->mode = std::string(f[i + 1]);
        }
      }
      if (!cur->have_spi && line.find(" spi ") == std::string_view::npos)
        diag.error(where, "no spi on the proto line");
      continue;
    }
    if (f[0] == "replay-window") {
      if (!need_state()) continue;
      // replay-window 32 flag af-unspec esn
      if (f.size() < 2) {
        diag.error(where, "replay-window without a value");
        continue;
      }
      u32(f[1], "replay-window", cur->replay_window);
      for (size_t i = 2; i < f.size(); ++i)
        if (f[i] == "esn") cur->esn = true;
      continue;
    }
    if (f[0] == "flag") {
      if (!need_state()) continue;
      for (size_t i = 1; i < f.size(); ++i)
        if (f[i] == "esn") cur->esn = true;
      continue;
    }
    if (f[0] == "aead") {
      if (!need_state()) continue;
      // aead rfc4106(gcm(aes)) 0x<key||salt> 128
      if (f.size() != 4) {
        diag.error(where, "expected 'aead <alg> 0x<key> <icv bits>'");
        continue;
      }
      XfrmState::Alg alg = XfrmState::Alg::none;
      if (f[1] == "rfc4106(gcm(aes))") alg = XfrmState::Alg::aes_gcm;
      else if (f[1] == "rfc7539esp(chacha20,poly1305)") alg = XfrmState::Alg::chacha20_poly1305;
      else {
        diag.error(where, "unsupported AEAD '" + std::string(f[1]) +
                              "' (rfc4106(gcm(aes)) and rfc7539esp(chacha20,poly1305) are)");
        bad_alg_reported = true;
        continue;
      }
      Bytes k;
      if (f[2].size() < 2 || f[2][0] != '0' || (f[2][1] != 'x' && f[2][1] != 'X') ||
          !parse_hex(f[2], k, true)) {
        diag.error(where, "key must be 0x followed by hex digits");
        continue;
      }
      uint32_t icv = 0;
      if (!u32(f[3], "ICV length", icv)) continue;
      const bool gcm = alg == XfrmState::Alg::aes_gcm;
      if (gcm ? (k.size() != 20 && k.size() != 28 && k.size() != 36) : k.size() != 36) {
        diag.error(where, std::string("key has ") + std::to_string(k.size()) + " bytes; " +
                              (gcm ? "rfc4106 needs 16, 24 or 32 key bytes + 4 salt bytes"
                                   : "rfc7539esp needs 32 key bytes + 4 salt bytes"));
        continue;
      }
      if (gcm ? (icv != 64 && icv != 96 && icv != 128) : icv != 128) {
        diag.error(where, "ICV of " + std::to_string(icv) + " bits not allowed (" +
                              (gcm ? "64, 96 or 128" : "128") + ")");
        continue;
      }
      cur->alg = alg;
      cur->key.assign(k.begin(), k.end() - 4);
      cur->salt.assign(k.end() - 4, k.end());
      cur->icv_bits = icv;
      continue;
    }
    if (f[0] == "enc" || f[0] == "auth" || f[0] == "auth-trunc" || f[0] == "comp") {
      if (!need_state()) continue;
      if (!bad_alg_reported)
        diag.error(where, "non-AEAD transform '" + std::string(f[0]) + " " +
                              std::string(f.size() > 1 ? f[1] : "") +
                              "' not supported: state ignored (use aead rfc4106/rfc7539esp)");
      bad_alg_reported = true;
      continue;
    }
    if (f[0] == "encap") {
      if (!need_state()) continue;
      // encap type espinudp sport 4500 dport 4500 addr 0.0.0.0
      XfrmState::Encap e;
      uint32_t v = 0;
      bool ok = true;
      for (size_t i = 1; i + 1 < f.size(); i += 2) {
        if (f[i] == "type") e.type = std::string(f[i + 1]);
        else if (f[i] == "sport" && (ok = u32(f[i + 1], "sport", v) && v <= 65535)) e.sport = uint16_t(v);
        else if (f[i] == "dport" && (ok = u32(f[i + 1], "dport", v) && v <= 65535)) e.dport = uint16_t(v);
        if (!ok) break;
      }
      if (!ok) continue;
      if (e.type != "espinudp") {
        diag.error(where, "encap type '" + e.type + "' not supported (espinudp is)");
        continue;
      }
      cur->encap = e;
      continue;
    }
 // "anti-replay esn context:" heads the lines below; "anti-replay context: seq 0x5, oseq
    // 0x0, bitmap 0x…" (no ESN) carries its values on the same line.
    if (f[0] == "anti-replay") {
      const size_t colon = line.find(':');
      if (colon == std::string_view::npos || trim(line.substr(colon + 1)).empty()) continue;
      line = trim(line.substr(colon + 1));
      f = split_ws(line);
    }
    if (f[0] == "seq-hi" || f[0] == "seq" || f[0] == "oseq-hi" || f[0] == "oseq" ||
        f[0] == "replay_window") {
      if (!need_state()) continue;
      // " seq-hi 0x0, seq 0x10, oseq-hi 0x0, oseq 0x0" or
      // " replay_window 128, bitmap-length 4" or "seq 0x0, oseq 0x0, bitmap 0x00000000"
      std::string l(line);
      for (char& c : l)
        if (c == ',') c = ' ';
      auto g = split_ws(l);
      for (size_t i = 0; i + 1 < g.size(); i += 2) {
        uint32_t v = 0;
        if (g[i] == "seq-hi") {
          if (u32(g[i + 1], "seq-hi", v)) cur->seq_hi = v;
        } else if (g[i] == "seq") {
          if (u32(g[i + 1], "seq", v)) cur->seq = v;
        } else if (g[i] == "oseq-hi") {
          if (u32(g[i + 1], "oseq-hi", v)) cur->oseq_hi = v;
        } else if (g[i] == "oseq") {
          if (u32(g[i + 1], "oseq", v)) cur->oseq = v;
        } else if (g[i] == "replay_window") {
          if (u32(g[i + 1], "replay_window", v)) cur->context_replay_window = v;
        }
      }
      continue;
    }
    // Everything else the kernel prints (sel, lifetime, stats, bitmap words, lastused,
    // output-mark, if_id, ...) does not concern decryption.
  }
  finish(cur, diag.errors() > state_errors, diag);
  return states_.size() - before;
}

bool XfrmKeys::load_file(const std::string& path, Diag& diag) {
  std::string text;
  if (!read_key_file(path, "xfrm state file", diag, text)) return false;
  const size_t n = add_text(text, path, diag);
  if (n == 0) diag.warn(path, "no usable ESP state found");
  return true;
}

const XfrmState* XfrmKeys::find(uint32_t spi, const IpAddr* dst) const {
  const XfrmState* any = nullptr;
  for (const XfrmState& s : states_) {
    if (s.spi != spi) continue;
    if (!dst || s.dst == *dst) return &s;
    if (!any) any = &s;
  }
  return any;
}

}  // namespace rl::replay
