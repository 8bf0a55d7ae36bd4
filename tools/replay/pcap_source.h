// Capture input through libpcap (pcap and pcapng), and the link layers we decode down to IP.
#pragma once
#include <cstdint>
#include <string>

#include "tools/replay/common.h"

struct pcap;

namespace rl::replay {

struct Frame {
  uint64_t number = 0;  // 1-based, as Wireshark counts
  int64_t ts_usec = 0;
  ByteSpan data;        // caplen bytes, valid until the next call to next()
  uint32_t orig_len = 0;
};

class PcapSource {
 public:
  PcapSource() = default;
  ~PcapSource();
  PcapSource(const PcapSource&) = delete;
  PcapSource& operator=(const PcapSource&) = delete;

  // Opens a pcap or pcapng file; on failure reports through diag and returns false.
  bool open(const std::string& path, Diag& diag);
  enum class Next { frame, end, error };
  // error: the file is cut short or damaged; the message names the frame.
  Next next(Frame& f, Diag& diag);
  int linktype() const { return dlt_; }
  const std::string& path() const { return path_; }
  uint64_t file_size() const { return size_; }
  uint64_t position() const;  // bytes of the file read so far (progress)
  uint64_t frames() const { return count_; }

 private:
  Next next_mapped(Frame& f, Diag& diag);
  pcap* p_ = nullptr;
  std::string path_;
  int dlt_ = -1;
  uint64_t size_ = 0, count_ = 0;
  // Classic pcap files are read from a memory map (frames are views into it: no read()
  // copy per frame); libpcap still opens the file (link type, errors) and reads pcapng.
  const uint8_t* map_ = nullptr;
  size_t map_len_ = 0, pos_ = 0;
  bool swapped_ = false, nanos_ = false;
  uint32_t snaplen_ = 0;
};

// The IP packet inside a frame of link type `dlt` (libpcap DLT_ value): Ethernet with any
// number of 802.1Q/802.1ad tags, raw IP (DLT_RAW, DLT_IPV4, DLT_IPV6), Linux cooked SLL and
// SLL2, BSD loopback (DLT_NULL, DLT_LOOP). Returns false and sets *why for a frame that does
// not carry IP or cannot be decoded (`why` empty = silently not IP, e.g. ARP).
bool link_payload(int dlt, ByteSpan frame, ByteSpan& ip, std::string* why);
// Whether we know how to decode this link type at all.
bool link_supported(int dlt);

}  // namespace rl::replay
