// Test support: a tiny reader of classic little-endian pcap files, for the
// fixtures under tests/data that the tests read without the replay tool
// (which has its own, full reader: tools/replay).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tests/support/vectors.h"

namespace rl::test {

// A UDP datagram of an Ethernet / IPv4 capture.
struct Datagram {
  uint64_t frame = 0;  // 1-based, as tshark numbers frames
  uint32_t src_ip = 0, dst_ip = 0;
  uint16_t src_port = 0, dst_port = 0;
  Bytes payload;
};

// The UDP datagrams of an Ethernet capture (other frames skipped); empty when
// the file is missing or not a classic pcap of link type Ethernet.
std::vector<Datagram> read_udp_datagrams(const std::string& path);

// The packets of a raw-IP capture (link type 101 or 12, as tcpdump writes a
// tun device's); empty when the file is missing or of another link type.
std::vector<Bytes> read_raw_ip(const std::string& path);

}  // namespace rl::test
