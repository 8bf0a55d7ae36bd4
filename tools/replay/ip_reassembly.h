// IPv4 and IPv6 parsing down to the transport payload, with fragment reassembly
// (RFC 791 §3.2, RFC 8200 §4.5). Memory is bounded; incomplete datagrams expire after a
// number of frames (captures have no reliable clock).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tools/replay/common.h"

namespace rl::replay {

struct IpPacket {
  IpAddr src, dst;
  uint8_t proto = 0;    // transport protocol (after IPv6 extension headers)
  ByteSpan payload;     // valid until the next feed()
  bool reassembled = false;
};

class IpReassembler {
 public:
  struct Limits {
    size_t max_datagrams = 1024;          // incomplete datagrams held at once
    size_t max_bytes = 16u << 20;         // fragment bytes held at once
    uint64_t timeout_frames = 10000;      // frames after the first fragment
  };
  IpReassembler() = default;
  explicit IpReassembler(Limits l) : lim_(l) {}

  enum class Result { packet, pending, dropped };
  // `cap` names the capture in messages ("CAP: frame N"). Malformed headers are reported and dropped.
  Result feed(ByteSpan ip, uint64_t frame, IpPacket& out, Diag& diag, const std::string& cap);
  // Reports every datagram still incomplete (end of capture).
  void flush(Diag& diag, const std::string& capture);

  struct Counters {
    uint64_t fragments = 0, reassembled = 0, expired = 0, evicted = 0, overlaps = 0, malformed = 0;
  };
  const Counters& counters() const { return ctr_; }
  size_t held_datagrams() const { return table_.size(); }
  size_t held_bytes() const { return held_bytes_; }

 private:
  struct Key {
    IpAddr src, dst;
    uint32_t id;
    uint8_t proto;  // IPv4 protocol; 0 for IPv6 (the fragment's id is per src/dst)
    uint8_t v6;
    bool operator<(const Key& o) const;
  };
  struct Pending {
    uint64_t first_frame = 0;
    std::vector<uint8_t> data;                      // grows to the highest end seen
    std::vector<std::pair<uint32_t, uint32_t>> have;  // sorted, disjoint [begin, end)
    int64_t total = -1;                             // known once the last fragment came
    uint8_t next_header = 0;                        // IPv6: from the offset-0 fragment
    bool has_first = false;
  };
  Result add_fragment(const Key& k, uint32_t off, ByteSpan data, bool more, uint8_t nh,
                      uint64_t frame, IpPacket& out, Diag& diag, const std::string& cap);
  bool finish_v6(ByteSpan payload, uint8_t nh, IpPacket& out, Diag& diag, const std::string& cap,
                 uint64_t frame);
  void expire(uint64_t frame, Diag& diag, const std::string& cap);
  void erase(std::map<Key, Pending>::iterator it);

  Limits lim_;
  std::map<Key, Pending> table_;
  size_t held_bytes_ = 0;
  uint64_t last_sweep_ = 0;
  std::vector<uint8_t> out_;  // the last reassembled datagram
  Counters ctr_;
};

}  // namespace rl::replay
