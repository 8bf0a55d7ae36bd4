#include "tools/replay/pcap_source.h"

#include <fcntl.h>
#include <pcap/pcap.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "core/bytes.h"

namespace rl::replay {

PcapSource::~PcapSource() {
  if (p_) pcap_close(p_);
  if (map_) ::munmap(const_cast<uint8_t*>(map_), map_len_);
}

namespace {
uint32_t load_u32(const uint8_t* p, bool swapped) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return swapped ? __builtin_bswap32(v) : v;
}
}  // namespace

bool PcapSource::open(const std::string& path, Diag& diag) {
  char err[PCAP_ERRBUF_SIZE] = "";
  path_ = path;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) size_ = static_cast<uint64_t>(st.st_size);
  p_ = pcap_open_offline(path.c_str(), err);
  if (!p_) {
    diag.error(path, std::string("cannot read capture: ") + err);
    return false;
  }
  dlt_ = pcap_datalink(p_);
  if (!link_supported(dlt_)) {
    const char* n = pcap_datalink_val_to_name(dlt_);
    diag.error(path, "unsupported link type " + std::to_string(dlt_) + " (" + (n ? n : "?") +
                         "): Ethernet, raw IP, Linux cooked SLL/SLL2 and BSD loopback are read");
    pcap_close(p_);
    p_ = nullptr;
    return false;
  }
  // A classic pcap file (libpcap's own format: 24-byte file header, 16-byte record
  // headers; microsecond or nanosecond magic, either byte order) is mapped and walked
  // here; anything else (pcapng, the "modified" formats) stays with libpcap.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    struct stat fs {};
    uint8_t hdr[24];
    if (::fstat(fd, &fs) == 0 && fs.st_size >= 24 && ::pread(fd, hdr, 24, 0) == 24) {
      const uint32_t magic = load_u32(hdr, false);
      const bool known = magic == 0xa1b2c3d4 || magic == 0xd4c3b2a1 || magic == 0xa1b23c4d ||
                         magic == 0x4d3cb2a1;
      if (known) {
        void* m = ::mmap(nullptr, static_cast<size_t>(fs.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
        if (m != MAP_FAILED) {
          ::madvise(m, static_cast<size_t>(fs.st_size), MADV_SEQUENTIAL);
          map_ = static_cast<const uint8_t*>(m);
          map_len_ = static_cast<size_t>(fs.st_size);
          pos_ = 24;
          swapped_ = magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1;
          nanos_ = magic == 0xa1b23c4d || magic == 0x4d3cb2a1;
          snaplen_ = load_u32(hdr + 16, swapped_);
        }
      }
    }
    ::close(fd);
  }
  return true;
}

PcapSource::Next PcapSource::next_mapped(Frame& f, Diag& diag) {
  if (pos_ == map_len_) return Next::end;
  auto cut = [&](const std::string& what) {
    // Worded as libpcap words it, so that both readers report a damaged file alike.
    diag.error(path_ + ": frame " + std::to_string(count_ + 1),
               "capture cut short or damaged after " + std::to_string(count_) +
                   " complete frames: " + what);
    pos_ = map_len_;
    return Next::error;
  };
  const size_t left = map_len_ - pos_;
  if (left < 16)
    return cut("truncated dump file; tried to read 16 header bytes, only got " + std::to_string(left));
  const uint8_t* h = map_ + pos_;
  const uint32_t sec = load_u32(h, swapped_), frac = load_u32(h + 4, swapped_),
                 caplen = load_u32(h + 8, swapped_), len = load_u32(h + 12, swapped_);
  // libpcap refuses lengths beyond its maximum snapshot length (262144) unless the file's
  // own snaplen is larger.
  if (caplen > 262144 && caplen > snaplen_)
    return cut("invalid packet capture length " + std::to_string(caplen) + ", bigger than snaplen of " +
               std::to_string(snaplen_ > 262144 ? snaplen_ : 262144));
  if (left - 16 < caplen)
    return cut("truncated dump file; tried to read " + std::to_string(caplen) +
               " captured bytes, only got " + std::to_string(left - 16));
  f.number = ++count_;
  f.ts_usec = static_cast<int64_t>(sec) * 1000000 + (nanos_ ? frac / 1000 : frac);
  f.data = ByteSpan(h + 16, caplen);
  f.orig_len = len;
  pos_ += 16 + size_t{caplen};
  return Next::frame;
}

uint64_t PcapSource::position() const {
  if (map_) return pos_;
  if (!p_) return 0;
  FILE* f = pcap_file(p_);
  if (!f) return 0;
  long pos = std::ftell(f);
  return pos < 0 ? 0 : static_cast<uint64_t>(pos);
}

PcapSource::Next PcapSource::next(Frame& f, Diag& diag) {
  if (map_) return next_mapped(f, diag);
  if (!p_) return Next::end;
  pcap_pkthdr* h = nullptr;
  const u_char* d = nullptr;
  int r = pcap_next_ex(p_, &h, &d);
  if (r == 1) {
    f.number = ++count_;
    f.ts_usec = static_cast<int64_t>(h->ts.tv_sec) * 1000000 + h->ts.tv_usec;
    f.data = ByteSpan(d, h->caplen);
    f.orig_len = h->len;
    return Next::frame;
  }
  if (r == PCAP_ERROR_BREAK) return Next::end;
  // libpcap says "truncated dump file; tried to read N captured bytes, only got M" etc.
  diag.error(path_ + ": frame " + std::to_string(count_ + 1),
             std::string("capture cut short or damaged after ") + std::to_string(count_) +
                 " complete frames: " + pcap_geterr(p_));
  return Next::error;
}

bool link_supported(int dlt) {
  switch (dlt) {
    case DLT_EN10MB:
    case DLT_RAW:
    case DLT_IPV4:
    case DLT_IPV6:
    case DLT_LINUX_SLL:
    case DLT_LINUX_SLL2:
    case DLT_NULL:
    case DLT_LOOP:
      return true;
    default:
      return false;
  }
}

namespace {

constexpr uint16_t kEtherIpv4 = 0x0800, kEtherIpv6 = 0x86dd;

bool is_vlan(uint16_t t) { return t == 0x8100 || t == 0x88a8 || t == 0x9100; }

// After a link header: skip VLAN tags, then accept IPv4/IPv6.
bool from_ethertype(uint16_t type, ByteSpan rest, ByteSpan& ip, std::string* why) {
  while (is_vlan(type)) {
    if (rest.size() < 4) {
      if (why) *why = "VLAN tag cut short";
      return false;
    }
    type = load_be16(rest.data() + 2);
    rest = rest.subspan(4);
  }
  if (type != kEtherIpv4 && type != kEtherIpv6) {
    if (why) why->clear();
    return false;
  }
  ip = rest;
  return true;
}

}  // namespace

bool link_payload(int dlt, ByteSpan fr, ByteSpan& ip, std::string* why) {
  auto cut = [&](const char* what) {
    if (why) *why = std::string(what) + " header cut short (" + std::to_string(fr.size()) + " bytes)";
    return false;
  };
  switch (dlt) {
    case DLT_EN10MB: {
      if (fr.size() < 14) return cut("Ethernet");
      uint16_t type = load_be16(fr.data() + 12);
      if (type <= 1500) {  // 802.3 length field: LLC/SNAP, not IP here
        if (why) why->clear();
        return false;
      }
      return from_ethertype(type, fr.subspan(14), ip, why);
    }
    case DLT_LINUX_SLL: {  // packet type, ARPHRD, addr len, addr[8], protocol
      if (fr.size() < 16) return cut("Linux cooked (SLL)");
      return from_ethertype(load_be16(fr.data() + 14), fr.subspan(16), ip, why);
    }
    case DLT_LINUX_SLL2: {  // protocol, reserved, ifindex, ARPHRD, pkttype, addr len, addr[8]
      if (fr.size() < 20) return cut("Linux cooked (SLL2)");
      return from_ethertype(load_be16(fr.data()), fr.subspan(20), ip, why);
    }
    case DLT_NULL:
    case DLT_LOOP: {  // 4-byte address family, host order (NULL) or network order (LOOP)
      if (fr.size() < 4) return cut("loopback");
      uint32_t af = dlt == DLT_LOOP ? load_be32(fr.data())
                                    : (uint32_t(fr[0]) | uint32_t(fr[1]) << 8 |
                                       uint32_t(fr[2]) << 16 | uint32_t(fr[3]) << 24);
      if (dlt == DLT_NULL && af > 0xffff) af = load_be32(fr.data());  // written big-endian
      // AF_INET is 2 everywhere; AF_INET6 is 10, 24, 28 or 30 depending on the OS.
      if (af != 2 && af != 10 && af != 24 && af != 28 && af != 30) {
        if (why) why->clear();
        return false;
      }
      ip = fr.subspan(4);
      return true;
    }
    case DLT_RAW:
    case DLT_IPV4:
    case DLT_IPV6:
      if (fr.empty()) return cut("raw IP");
      ip = fr;
      return true;
    default:
      if (why) *why = "unsupported link type " + std::to_string(dlt);
      return false;
  }
}

}  // namespace rl::replay
