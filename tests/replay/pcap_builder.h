// Test helper: builds IP/TCP/UDP packets and link-layer frames by hand and writes them to a
// pcap file with libpcap (pcap_open_dead + pcap_dump), so the replay tests control every
// byte on the wire (fragments, reordering, retransmissions, link types).
#pragma once
#include <pcap/pcap.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "tools/replay/common.h"

namespace rl::replay::test {

using Bytes = std::vector<uint8_t>;

inline void put16(Bytes& b, uint16_t v) {
  b.push_back(uint8_t(v >> 8));
  b.push_back(uint8_t(v));
}
inline void put32(Bytes& b, uint32_t v) {
  put16(b, uint16_t(v >> 16));
  put16(b, uint16_t(v));
}
inline Bytes cat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

inline IpAddr ip(const char* s) {
  IpAddr a;
  parse_ip(s, a);
  return a;
}

// IPv4 header (no options) + payload. frag_off in bytes (multiple of 8).
inline Bytes ipv4(const IpAddr& src, const IpAddr& dst, uint8_t proto, const Bytes& payload,
                  uint16_t id = 1, uint32_t frag_off = 0, bool more = false) {
  Bytes b;
  b.push_back(0x45);
  b.push_back(0);
  put16(b, uint16_t(20 + payload.size()));
  put16(b, id);
  put16(b, uint16_t((more ? 0x2000 : 0) | (frag_off / 8)));
  b.push_back(64);
  b.push_back(proto);
  put16(b, 0);
  b.insert(b.end(), src.b, src.b + 4);
  b.insert(b.end(), dst.b, dst.b + 4);
  return cat(b, payload);
}

inline Bytes ipv6(const IpAddr& src, const IpAddr& dst, uint8_t next, const Bytes& payload) {
  Bytes b = {0x60, 0, 0, 0};
  put16(b, uint16_t(payload.size()));
  b.push_back(next);
  b.push_back(64);
  b.insert(b.end(), src.b, src.b + 16);
  b.insert(b.end(), dst.b, dst.b + 16);
  return cat(b, payload);
}

// IPv6 fragment header + fragment data (next = the upper protocol).
inline Bytes ipv6_frag(const IpAddr& src, const IpAddr& dst, uint8_t next, const Bytes& data,
                       uint32_t id, uint32_t off, bool more) {
  Bytes f = {next, 0};
  put16(f, uint16_t((off / 8) << 3 | (more ? 1 : 0)));
  put32(f, id);
  return ipv6(src, dst, 44, cat(f, data));
}

inline Bytes udp(uint16_t sport, uint16_t dport, const Bytes& payload) {
  Bytes b;
  put16(b, sport);
  put16(b, dport);
  put16(b, uint16_t(8 + payload.size()));
  put16(b, 0);
  return cat(b, payload);
}

enum TcpFlags : uint8_t { FIN = 1, SYN = 2, RST = 4, PSH = 8, ACK = 16 };
inline Bytes tcp(uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags,
                 const Bytes& payload) {
  Bytes b;
  put16(b, sport);
  put16(b, dport);
  put32(b, seq);
  put32(b, ack);
  b.push_back(0x50);
  b.push_back(flags);
  put16(b, 65535);
  put16(b, 0);
  put16(b, 0);
  return cat(b, payload);
}

// Link layers around an IP packet.
inline Bytes ether(const Bytes& ip, std::vector<uint16_t> vlans = {}) {
  Bytes b = {0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 6};
  for (uint16_t v : vlans) {
    put16(b, 0x8100);
    put16(b, v);
  }
  put16(b, (ip[0] >> 4) == 6 ? 0x86dd : 0x0800);
  return cat(b, ip);
}
inline Bytes sll(const Bytes& ip) {
  Bytes b;
  put16(b, 0);      // packet type: to us
  put16(b, 1);      // ARPHRD_ETHER
  put16(b, 6);      // address length
  for (int i = 0; i < 8; ++i) b.push_back(uint8_t(i));
  put16(b, (ip[0] >> 4) == 6 ? 0x86dd : 0x0800);
  return cat(b, ip);
}
inline Bytes sll2(const Bytes& ip) {
  Bytes b;
  put16(b, (ip[0] >> 4) == 6 ? 0x86dd : 0x0800);
  put16(b, 0);      // reserved
  put32(b, 2);      // ifindex
  put16(b, 1);      // ARPHRD_ETHER
  b.push_back(0);   // packet type
  b.push_back(6);   // address length
  for (int i = 0; i < 8; ++i) b.push_back(uint8_t(i));
  return cat(b, ip);
}

// A TLS record: type, version 0x0303, body.
inline Bytes tls_record(uint8_t type, const Bytes& body) {
  Bytes b = {type, 3, 3};
  put16(b, uint16_t(body.size()));
  return cat(b, body);
}

inline Bytes filled(size_t n, uint8_t seed) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = uint8_t(seed + i * 7);
  return b;
}

class PcapWriter {
 public:
  PcapWriter(const std::string& path, int dlt) : path_(path) {
    dead_ = pcap_open_dead(dlt, 262144);
    dump_ = pcap_dump_open(dead_, path.c_str());
  }
  ~PcapWriter() { close(); }
  void add(const Bytes& frame, uint32_t orig_len = 0) {
    if (!dump_) return;
    pcap_pkthdr h{};
    h.ts.tv_sec = 1700000000 + long(n_ / 1000);
    h.ts.tv_usec = long(n_ % 1000) * 1000;
    h.caplen = uint32_t(frame.size());
    h.len = orig_len ? orig_len : uint32_t(frame.size());
    pcap_dump(reinterpret_cast<u_char*>(dump_), &h, frame.data());
    ++n_;
  }
  void close() {
    if (dump_) pcap_dump_close(dump_);
    if (dead_) pcap_close(dead_);
    dump_ = nullptr;
    dead_ = nullptr;
  }
  bool ok() const { return dump_ != nullptr; }

 private:
  std::string path_;
  pcap_t* dead_ = nullptr;
  pcap_dumper_t* dump_ = nullptr;
  size_t n_ = 0;
};

// A file in this process's own temporary folder, removed when the test program exits.
inline std::string temp_path(const std::string& name) {
  struct Dir {
    std::filesystem::path p = std::filesystem::temp_directory_path() /
                              ("rl_replay_test_" + std::to_string(::getpid()));
    Dir() { std::filesystem::create_directories(p); }
    ~Dir() {
      std::error_code ec;
      std::filesystem::remove_all(p, ec);
    }
  };
  static Dir dir;
  return (dir.p / name).string();
}

}  // namespace rl::replay::test
