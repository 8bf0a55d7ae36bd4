// Capture input through libpcap (pcap and pcapng), and the link layers we decode down to IP.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tools/replay/common.h"

struct pcap;

namespace rl::replay {

struct Frame {
  uint64_t number = 0;  // 1-based, as Wireshark counts
  int64_t ts_usec = 0;
  ByteSpan data;        // caplen bytes, valid until the next call to next()
  uint32_t orig_len = 0;
  int linktype = -1;    // pcapng: the link type of the frame's interface (-1: the file's)
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
  Next next_pcapng(Frame& f, Diag& diag);
  bool open_pcapng_check(Diag& diag);
  Next cut(const std::string& what, Diag& diag);
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
  // pcapng (read here, not by libpcap: libpcap refuses a file whose interfaces have
  // different link types, as `dumpcap -i eth0 -i any` writes): the current section's
  // byte order and interfaces (link type, timestamp units per second, snaplen).
  struct Iface {
    int dlt;
    uint64_t units;
    uint32_t snaplen;
  };
  bool ng_ = false;
  std::vector<Iface> ifaces_;
};

// The IP packet inside a frame of link type `dlt` (libpcap DLT_ value): Ethernet with any
// number of 802.1Q/802.1ad tags, raw IP (DLT_RAW, DLT_IPV4, DLT_IPV6), Linux cooked SLL and
// SLL2, BSD loopback (DLT_NULL, DLT_LOOP). Returns false and sets *why for a frame that does
// not carry IP or cannot be decoded (`why` empty = silently not IP, e.g. ARP).
bool link_payload(int dlt, ByteSpan frame, ByteSpan& ip, std::string* why);
// Whether we know how to decode this link type at all.
bool link_supported(int dlt);

}  // namespace rl::replay
