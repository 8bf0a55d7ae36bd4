// Test helper: minimal but well-formed TLS hellos (RFC 8446 §4.1.2-4.1.3).
#pragma once
#include <array>

#include "tests/replay/pcap_builder.h"

namespace rl::replay::test {

inline Bytes handshake(uint8_t type, const Bytes& body) {
  Bytes b = {type, uint8_t(body.size() >> 16), uint8_t(body.size() >> 8), uint8_t(body.size())};
  return cat(b, body);
}

inline Bytes client_hello(const std::array<uint8_t, 32>& random, bool offer13) {
  Bytes b;
  put16(b, 0x0303);
  b.insert(b.end(), random.begin(), random.end());
  b.push_back(32);
  for (int i = 0; i < 32; ++i) b.push_back(uint8_t(i));
  put16(b, 4);
  put16(b, 0x1301);
  put16(b, 0xc02f);
  b.push_back(1);
  b.push_back(0);
  Bytes ext;
  if (offer13) {
    put16(ext, 43);
    put16(ext, 5);
    ext.push_back(4);
    put16(ext, 0x0a0a);  // GREASE, ignored
    put16(ext, 0x0304);
  }
  put16(ext, 23);  // extended_master_secret
  put16(ext, 0);
  put16(b, uint16_t(ext.size()));
  return handshake(1, cat(b, ext));
}

inline Bytes server_hello(const std::array<uint8_t, 32>& random, uint16_t version, uint16_t suite) {
  Bytes b;
  put16(b, 0x0303);
  b.insert(b.end(), random.begin(), random.end());
  b.push_back(32);
  for (int i = 0; i < 32; ++i) b.push_back(uint8_t(i));
  put16(b, suite);
  b.push_back(0);
  Bytes ext;
  if (version == 0x0304) {
    put16(ext, 43);
    put16(ext, 2);
    put16(ext, 0x0304);
  }
  put16(b, uint16_t(ext.size()));
  return handshake(2, cat(b, ext));
}

inline std::array<uint8_t, 32> random32(uint8_t seed) {
  std::array<uint8_t, 32> r;
  for (size_t i = 0; i < 32; ++i) r[i] = uint8_t(seed * 13 + i);
  return r;
}

}  // namespace rl::replay::test
