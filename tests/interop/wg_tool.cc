// rl-wg-tool: one rl::wireguard::Peer behind a line protocol on stdin/stdout,
// for interop tests that do the handshake and the UDP themselves
// (tests/interop/wireguard_go.py drives it against wireguard-go).
//
// One command a line, one answer line each. Hex strings are lower-case; an
// empty byte string is written "-" on input and as nothing on output.
//
//   install <local_idx> <remote_idx> <send_key_hex> <recv_key_hex> <0|1>
//       -> "ok" or the Status (indices are decimal uint32; 1 = we initiated)
//   mtu <n>                 -> "ok" (the padding cap, Peer::set_mtu)
//   seal <hex> [<hex>...]   -> "<n_ok> <status>:<message hex> ..." (one burst;
//                              the hex is empty when the status is not ok)
//   open <hex> [<hex>...]   -> "<n_ok> <status>:<hex>:<trim status>:<trimmed hex> ..."
//                              (one burst; on ok <hex> is the padded plaintext
//                              and the trim fields are trim_padding()'s result;
//                              otherwise <hex> is the bytes as open left them
//                              and the trim fields are "-:")
//   state                   -> "current=<idx|-> previous=<idx|-> next=<idx|-> send_counter=<n|->"
//   events                  -> "events <kind>/<epoch>/<seal|open> ..." (drains the queue)
//   expire <local_idx>      -> "ok" or the Status
//   quit                    -> exits 0 (as does end of input)
// A line that is not a command gets "error <why>"; the tool carries on.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "core/wireguard.h"

namespace {

using rl::PacketView;
using rl::Status;

constexpr uint32_t kRoom = 64;  // head- and tailroom around every message

int nibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool parse_hex(const std::string& s, std::vector<uint8_t>& out) {
  out.clear();
  if (s == "-") return true;
  if (s.size() % 2 != 0) return false;
  for (size_t i = 0; i < s.size(); i += 2) {
    const int hi = nibble(s[i]), lo = nibble(s[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<uint8_t>(hi << 4 | lo));
  }
  return true;
}

std::string hex(const uint8_t* p, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  s.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    s.push_back(kDigits[p[i] >> 4]);
    s.push_back(kDigits[p[i] & 15]);
  }
  return s;
}

bool parse_u32(const std::string& s, uint32_t& v) {
  if (s.empty()) return false;
  char* end = nullptr;
  const unsigned long long n = std::strtoull(s.c_str(), &end, 10);
  if (*end != '\0' || n > UINT32_MAX) return false;
  v = static_cast<uint32_t>(n);
  return true;
}

std::string opt(const std::optional<uint32_t>& v) { return v ? std::to_string(*v) : "-"; }

// Buffers with room for the header, padding and tag, and views on them.
struct Burst {
  std::vector<std::vector<uint8_t>> mem;
  std::vector<PacketView> views;

  bool load(const std::vector<std::string>& hexes, std::string& why) {
    std::vector<uint8_t> bytes;
    for (const std::string& h : hexes) {
      if (!parse_hex(h, bytes)) {
        why = "bad hex";
        return false;
      }
      mem.emplace_back(kRoom + bytes.size() + kRoom);
      if (!bytes.empty()) std::memcpy(mem.back().data() + kRoom, bytes.data(), bytes.size());
    }
    for (auto& m : mem)
      views.push_back(PacketView{m.data(), static_cast<uint32_t>(m.size()), kRoom,
                                 static_cast<uint32_t>(m.size() - 2 * kRoom), Status::ok});
    return true;
  }
};

std::string do_install(rl::wireguard::Peer& peer, const std::vector<std::string>& a) {
  if (a.size() != 6) return "error usage: install <local> <remote> <send_hex> <recv_hex> <0|1>";
  rl::wireguard::Keypair kp;
  std::vector<uint8_t> send, recv;
  if (!parse_u32(a[1], kp.local_index) || !parse_u32(a[2], kp.remote_index) || !parse_hex(a[3], send) ||
      !parse_hex(a[4], recv) || (a[5] != "0" && a[5] != "1"))
    return "error bad install arguments";
  kp.send_key = send;
  kp.recv_key = recv;
  kp.initiator = a[5] == "1";
  const Status st = peer.install(kp);
  std::fill(send.begin(), send.end(), uint8_t{0});
  std::fill(recv.begin(), recv.end(), uint8_t{0});
  return rl::to_string(st);
}

std::string do_seal(rl::wireguard::Peer& peer, const std::vector<std::string>& a) {
  if (a.size() < 2) return "error usage: seal <hex>...";
  Burst b;
  std::string why;
  if (!b.load({a.begin() + 1, a.end()}, why)) return "error " + why;
  const size_t ok = peer.seal(b.views);
  std::string out = std::to_string(ok);
  for (const PacketView& p : b.views) {
    out += ' ';
    out += rl::to_string(p.status);
    out += ':';
    if (p.status == Status::ok) out += hex(p.data(), p.length);
  }
  return out;
}

std::string do_open(rl::wireguard::Peer& peer, const std::vector<std::string>& a) {
  if (a.size() < 2) return "error usage: open <hex>...";
  Burst b;
  std::string why;
  if (!b.load({a.begin() + 1, a.end()}, why)) return "error " + why;
  const size_t ok = peer.open(b.views);
  std::string out = std::to_string(ok);
  for (const PacketView& p : b.views) {
    out += ' ';
    out += rl::to_string(p.status);
    out += ':';
    out += hex(p.data(), p.length);
    if (p.status != Status::ok) {
      out += ":-:";
      continue;
    }
    PacketView t = p;
    const Status ts = rl::wireguard::trim_padding(t);
    out += ':';
    out += rl::to_string(ts);
    out += ':';
    if (ts == Status::ok) out += hex(t.data(), t.length);
  }
  return out;
}

std::string do_state(const rl::wireguard::Peer& peer) {
  const std::optional<uint64_t> sc = peer.send_counter();
  return "current=" + opt(peer.current()) + " previous=" + opt(peer.previous()) + " next=" + opt(peer.next()) +
         " send_counter=" + (sc ? std::to_string(*sc) : std::string("-"));
}

std::string do_events(rl::wireguard::Peer& peer) {
  std::string out = "events";
  rl::KeyEvent e;
  while (peer.poll_event(e)) {
    out += ' ';
    out += rl::to_string(e.kind);
    out += '/' + std::to_string(e.epoch) + '/';
    out += rl::to_string(e.dir);
  }
  return out;
}

}  // namespace

int main() {
  rl::wireguard::Peer peer;
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::vector<std::string> a;
    for (std::string w; in >> w;) a.push_back(w);
    if (a.empty()) continue;
    std::string reply;
    const std::string& cmd = a[0];
    if (cmd == "quit") {
      break;
    } else if (cmd == "install") {
      reply = do_install(peer, a);
    } else if (cmd == "mtu") {
      uint32_t mtu = 0;
      if (a.size() == 2 && parse_u32(a[1], mtu)) {
        peer.set_mtu(mtu);
        reply = "ok";
      } else {
        reply = "error usage: mtu <n>";
      }
    } else if (cmd == "seal") {
      reply = do_seal(peer, a);
    } else if (cmd == "open") {
      reply = do_open(peer, a);
    } else if (cmd == "state") {
      reply = do_state(peer);
    } else if (cmd == "events") {
      reply = do_events(peer);
    } else if (cmd == "expire") {
      uint32_t idx = 0;
      reply = a.size() == 2 && parse_u32(a[1], idx) ? rl::to_string(peer.expire(idx)) : "error usage: expire <idx>";
    } else {
      reply = "error unknown command " + cmd;
    }
    std::fwrite(reply.data(), 1, reply.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
  }
  return 0;
}
