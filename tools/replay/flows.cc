#include "tools/replay/flows.h"

#include <cstring>

namespace rl::replay {

std::string Flow::label() const {
  const char* p = ip_proto == 6 ? "tcp" : ip_proto == 17 ? "udp" : ip_proto == 50 ? "esp" : "ip";
  auto ep = [](std::string& s, const IpAddr& a, uint16_t port, bool with_port) {
    if (a.family == 6 && with_port) s.push_back('[');
    s.append(to_string(a));
    if (a.family == 6 && with_port) s.push_back(']');
    if (with_port) s.append(":").append(std::to_string(port));
  };
  std::string s(p);
  s.push_back(' ');
  ep(s, client, client_port, ip_proto != 50);
  s.append(" > ");
  ep(s, server, server_port, ip_proto != 50);
  return s;
}

size_t FlowTable::Hash::operator()(const Key& k) const {
  // FNV-1a over the normalised tuple; flows are few compared with packets.
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](const void* p, size_t n) {
    const auto* c = static_cast<const uint8_t*>(p);
    for (size_t i = 0; i < n; ++i) h = (h ^ c[i]) * 1099511628211ull;
  };
  const size_t n = k.a.family == 6 ? 16 : 4;
  mix(k.a.b, n);
  mix(k.b.b, n);
  const uint64_t ports = uint64_t{k.pa} << 24 | uint64_t{k.pb} << 8 | k.proto;
  mix(&ports, sizeof ports);
  return static_cast<size_t>(h);
}

Flow& FlowTable::lookup(const FiveTuple& t, bool syn, bool synack, uint64_t frame, Dir& dir) {
  Key k;
  k.proto = t.proto;
  // Normalise: the smaller (address, port) first.
  const bool swap = t.dst < t.src || (t.src == t.dst && t.dport < t.sport);
  k.a = swap ? t.dst : t.src;
  k.b = swap ? t.src : t.dst;
  k.pa = swap ? t.dport : t.sport;
  k.pb = swap ? t.sport : t.dport;
  uint32_t idx;
  if (last_idx_ != UINT32_MAX && k == last_key_) {
    idx = last_idx_;
  } else {
    auto it = index_.find(k);
    if (it == index_.end()) {
      auto f = std::make_unique<Flow>();
      f->id = static_cast<uint32_t>(flows_.size() + 1);
      f->ip_proto = t.proto;
      f->first_frame = frame;
      // Without a SYN (the capture began after the handshake) the first speaker may be
      // either side: the one on the lower port is taken as the server (services listen on
      // low ports, clients use ephemeral ones), as Wireshark guesses too.
      const bool src_is_server =
          (synack && !syn) || (t.proto == 6 && !syn && !synack && t.sport < t.dport);
      f->client = src_is_server ? t.dst : t.src;
      f->client_port = src_is_server ? t.dport : t.sport;
      f->server = src_is_server ? t.src : t.dst;
      f->server_port = src_is_server ? t.sport : t.dport;
      if (t.proto == 17) f->hello_parser = {HelloParser(true), HelloParser(true)};
      flows_.push_back(std::move(f));
      idx = static_cast<uint32_t>(flows_.size() - 1);
      index_.emplace(k, idx);
    } else {
      idx = it->second;
    }
    last_key_ = k;
    last_idx_ = idx;
  }
  Flow& f = *flows_[idx];
  f.last_frame = frame;
  dir = f.dir_of(t);
  // A SYN seen after the flow began from the other side (capture started mid-handshake):
  // the SYN's sender is the client. Only before any payload was delivered.
  if (syn && dir == Dir::server && f.tcp[0].delivered() == 0 && f.tcp[1].delivered() == 0) {
    std::swap(f.client, f.server);
    std::swap(f.client_port, f.server_port);
    std::swap(f.packets[0], f.packets[1]);
    std::swap(f.bytes[0], f.bytes[1]);
    std::swap(f.tcp[0], f.tcp[1]);
    dir = Dir::client;
  }
  return f;
}

}  // namespace rl::replay
