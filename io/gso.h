// Shared by both paths: grouping a burst into UDP GSO runs, and splitting a
// GRO super-datagram back into datagrams.
#pragma once
#include <netinet/udp.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstring>
#include <span>

#include "io/udp_path.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

namespace rl::io {

// The kernel takes at most 64 segments per GSO send (UDP_MAX_SEGMENTS) and
// one IP datagram's worth of payload.
inline constexpr size_t kMaxGsoSegments = 64;
inline constexpr size_t kMaxGsoBytes = 65000;
inline constexpr size_t kGsoCmsgSpace = CMSG_SPACE(sizeof(uint16_t));
inline constexpr size_t kGroCmsgSpace = CMSG_SPACE(sizeof(int));

// Length of the GSO run that starts at pkts[0]: equal-size datagrams, the last
// one may be shorter (that is how the kernel splits), bounded as above.
// Works on TxPacket and RxPacket bursts (both have `len`).
template <class P>
inline size_t gso_run(std::span<const P> pkts) {
  if (pkts.empty()) return 0;
  const uint32_t seg = pkts[0].len;
  size_t n = 1, bytes = seg;
  while (n < pkts.size() && n < kMaxGsoSegments && bytes + pkts[n].len <= kMaxGsoBytes) {
    if (pkts[n].len > seg) break;
    bytes += pkts[n].len;
    ++n;
    if (pkts[n - 1].len < seg) break;  // a short one ends the run
  }
  return n;
}

// Writes the UDP_SEGMENT control message into `ctrl` (kGsoCmsgSpace bytes).
inline void put_gso_cmsg(msghdr& m, uint8_t* ctrl, uint16_t seg) {
  std::memset(ctrl, 0, kGsoCmsgSpace);
  m.msg_control = ctrl;
  m.msg_controllen = kGsoCmsgSpace;
  cmsghdr* c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_UDP;
  c->cmsg_type = UDP_SEGMENT;
  c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
  std::memcpy(CMSG_DATA(c), &seg, sizeof seg);
}

// The GRO segment size from a received message's control data, 0 if none.
inline uint32_t gro_segment(const msghdr& m) {
  for (cmsghdr* c = CMSG_FIRSTHDR(const_cast<msghdr*>(&m)); c != nullptr;
       c = CMSG_NXTHDR(const_cast<msghdr*>(&m), c)) {
    if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
      int seg = 0;
      std::memcpy(&seg, CMSG_DATA(c), sizeof seg);
      return seg > 0 ? static_cast<uint32_t>(seg) : 0;
    }
  }
  return 0;
}

}  // namespace rl::io
