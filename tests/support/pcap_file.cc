#include "tests/support/pcap_file.h"

#include <fstream>
#include <iterator>

#include "core/bytes.h"

namespace rl::test {

namespace {

// The frames of a classic microsecond pcap written on a little-endian host,
// if its link type is one of `types`.
std::vector<std::pair<uint64_t, Bytes>> frames(const std::string& path, std::initializer_list<uint32_t> types) {
  std::vector<std::pair<uint64_t, Bytes>> out;
  std::ifstream in(path, std::ios::binary);
  const Bytes f((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (f.size() < 24 || load_le32(f.data()) != 0xa1b2c3d4) return out;
  bool type_ok = false;
  for (uint32_t t : types) type_ok |= load_le32(f.data() + 20) == t;
  if (!type_ok) return out;
  uint64_t n = 0;
  for (size_t off = 24; off + 16 <= f.size();) {
    const size_t incl = load_le32(f.data() + off + 8);
    if (off + 16 + incl > f.size()) break;
    const uint8_t* fr = f.data() + off + 16;
    out.emplace_back(++n, Bytes(fr, fr + incl));
    off += 16 + incl;
  }
  return out;
}

}  // namespace

std::vector<Datagram> read_udp_datagrams(const std::string& path) {
  std::vector<Datagram> out;
  for (auto& [n, fr] : frames(path, {1})) {
    const size_t incl = fr.size();
    if (incl < 14 + 20 + 8 || load_be16(fr.data() + 12) != 0x0800) continue;
    const uint8_t* ip = fr.data() + 14;
    const size_t ihl = size_t(ip[0] & 15) * 4;
    if (ip[0] >> 4 != 4 || ip[9] != 17 || ihl < 20 || incl < 14 + ihl + 8) continue;
    const uint8_t* udp = ip + ihl;
    const size_t udp_len = load_be16(udp + 4);
    if (udp_len < 8 || 14 + ihl + udp_len > incl) continue;
    Datagram d;
    d.frame = n;
    d.src_ip = load_be32(ip + 12);
    d.dst_ip = load_be32(ip + 16);
    d.src_port = load_be16(udp);
    d.dst_port = load_be16(udp + 2);
    d.payload.assign(udp + 8, udp + udp_len);
    out.push_back(std::move(d));
  }
  return out;
}

std::vector<Bytes> read_raw_ip(const std::string& path) {
  std::vector<Bytes> out;
  for (auto& [n, fr] : frames(path, {101, 12})) out.push_back(std::move(fr));
  return out;
}

}  // namespace rl::test
