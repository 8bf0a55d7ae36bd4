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
  // pcapng is read here from a memory map (see pcap_source.h: libpcap cannot read several
  // link types in one file); libpcap reads classic pcap headers and anything else.
  {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    uint8_t magic[4];
    struct stat fs {};
    if (fd >= 0 && ::fstat(fd, &fs) == 0 && fs.st_size >= 28 && ::pread(fd, magic, 4, 0) == 4 &&
        load_u32(magic, false) == 0x0A0D0D0A) {
      void* m = ::mmap(nullptr, static_cast<size_t>(fs.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
      if (m != MAP_FAILED) {
        ::madvise(m, static_cast<size_t>(fs.st_size), MADV_SEQUENTIAL);
        map_ = static_cast<const uint8_t*>(m);
        map_len_ = static_cast<size_t>(fs.st_size);
        pos_ = 0;
        ng_ = true;
        ::close(fd);
        return open_pcapng_check(diag);
      }
    }
    if (fd >= 0) ::close(fd);
  }
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

PcapSource::Next PcapSource::cut(const std::string& what, Diag& diag) {
  // Worded as libpcap words it, so that both readers report a damaged file alike.
  diag.error(path_ + ": frame " + std::to_string(count_ + 1),
             "capture cut short or damaged after " + std::to_string(count_) + " complete frames: " + what);
  pos_ = map_len_;
  return Next::error;
}

// pcapng (draft-ietf-opsawg-pcapng): blocks of {type, total length, body, total length};
// a Section Header Block sets the byte order and starts a new set of interfaces; an
// Interface Description Block gives the link type, snaplen and timestamp resolution of
// the next interface id; packets come in Enhanced (6), Simple (3) and obsolete (2) Packet
// Blocks. Other blocks (statistics, name resolution, Decryption Secrets: keylog.cc) are
// skipped here.
namespace {
uint16_t load_u16(const uint8_t* p, bool swapped) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return swapped ? __builtin_bswap16(v) : v;
}
int dlt_of_linktype(uint16_t lt);
}  // namespace

// Files carry LINKTYPE_ values (the tcpdump.org registry); the code here speaks libpcap's
// DLT_ values, which differ for a few (libpcap maps them for the files it reads itself).
namespace {
int dlt_of_linktype(uint16_t lt) {
  switch (lt) {
    case 101: return DLT_RAW;   // LINKTYPE_RAW
    case 108: return DLT_LOOP;  // LINKTYPE_LOOP (OpenBSD loopback)
    default: return lt;         // Ethernet 1, NULL 0, SLL 113, SLL2 276, IPV4 228, IPV6 229
  }
}
}  // namespace

bool PcapSource::open_pcapng_check(Diag& diag) {
  // The link type the driver reports for the file: the first interface's. Interfaces
  // of a type we cannot decode are reported per frame (link_payload), not refused here:
  // the other interfaces of the file may well be readable.
  size_t pos = 0;
  bool swapped = false;
  while (pos + 12 <= map_len_) {
    const uint32_t type = load_u32(map_ + pos, false);
    if (type == 0x0A0D0D0A) swapped = load_u32(map_ + pos + 8, false) == 0x4D3C2B1A;
    const uint32_t len = load_u32(map_ + pos + 4, swapped);
    if (len < 12 || len % 4 || len > map_len_ - pos) break;
    const uint32_t t = load_u32(map_ + pos, swapped);
    if (t == 1 && len >= 20) {
      dlt_ = dlt_of_linktype(load_u16(map_ + pos + 8, swapped));
      break;
    }
    if (t == 6 || t == 3 || t == 2) break;  // a packet before any interface: next() says so
    pos += len;
  }
  if (dlt_ >= 0 && !link_supported(dlt_)) {
    const char* n = pcap_datalink_val_to_name(dlt_);
    diag.warn(path_, "first interface has unsupported link type " + std::to_string(dlt_) + " (" +
                         (n ? n : "?") + "): Ethernet, raw IP, Linux cooked SLL/SLL2 and BSD loopback are read");
  }
  return true;
}

PcapSource::Next PcapSource::next_pcapng(Frame& f, Diag& diag) {
  for (;;) {
    if (pos_ == map_len_) return Next::end;
    const size_t left = map_len_ - pos_;
    if (left < 12)
      return cut("truncated pcapng block header; only " + std::to_string(left) + " bytes left", diag);
    const uint8_t* b = map_ + pos_;
    if (load_u32(b, false) == 0x0A0D0D0A) {  // Section Header Block: byte order first
      const uint32_t bom = load_u32(b + 8, false);
      if (bom == 0x1A2B3C4D) swapped_ = false;
      else if (bom == 0x4D3C2B1A) swapped_ = true;
      else return cut("bad byte-order magic in a pcapng section header", diag);
      ifaces_.clear();
    }
    const uint32_t type = load_u32(b, swapped_), len = load_u32(b + 4, swapped_);
    if (len < 12 || len % 4)
      return cut("pcapng block total length " + std::to_string(len) + " invalid", diag);
    if (len > left)
      return cut("truncated dump file; pcapng block of " + std::to_string(len) + " bytes, only got " +
                     std::to_string(left), diag);
    pos_ += len;
    const uint8_t* body = b + 8;
    const size_t blen = len - 12;
    if (type == 1) {  // Interface Description Block
      if (blen < 8) return cut("pcapng interface description block too short", diag);
      Iface ifc{dlt_of_linktype(load_u16(body, swapped_)), 1000000, load_u32(body + 4, swapped_)};
      // Options: if_tsresol (9), one byte: 10^-n, or 2^-n with the top bit set.
      for (size_t o = 8; o + 4 <= blen;) {
        const uint16_t code = load_u16(body + o, swapped_), olen = load_u16(body + o + 2, swapped_);
        if (code == 0 || o + 4 + olen > blen) break;
        if (code == 9 && olen >= 1) {
          const uint8_t r = body[o + 4];
          const unsigned e = r & 0x7f;
          if (r & 0x80) ifc.units = e < 63 ? uint64_t{1} << e : 0;
          else {
            uint64_t u = 1;
            for (unsigned i = 0; i < e && u; ++i) u = u <= UINT64_MAX / 10 ? u * 10 : 0;
            ifc.units = u;
          }
          if (ifc.units == 0) return cut("pcapng timestamp resolution out of range", diag);
        }
        o += 4 + ((olen + 3u) & ~3u);
      }
      ifaces_.push_back(ifc);
      continue;
    }
    uint32_t iface = 0, caplen = 0, orig = 0;
    uint64_t ts = 0;
    const uint8_t* data = nullptr;
    if (type == 6 || type == 2) {  // Enhanced / obsolete Packet Block
      if (blen < 20) return cut("pcapng packet block too short", diag);
      iface = type == 6 ? load_u32(body, swapped_) : load_u16(body, swapped_);
      ts = uint64_t{load_u32(body + 4, swapped_)} << 32 | load_u32(body + 8, swapped_);
      caplen = load_u32(body + 12, swapped_);
      orig = load_u32(body + 16, swapped_);
      data = body + 20;
      if (caplen > blen - 20)
        return cut("pcapng packet block captured length " + std::to_string(caplen) + " runs past its block", diag);
    } else if (type == 3) {  // Simple Packet Block: interface 0, no timestamp
      if (blen < 4) return cut("pcapng simple packet block too short", diag);
      orig = load_u32(body, swapped_);
      caplen = static_cast<uint32_t>(blen - 4);
      if (orig < caplen) caplen = orig;
      if (!ifaces_.empty() && ifaces_[0].snaplen && caplen > ifaces_[0].snaplen) caplen = ifaces_[0].snaplen;
      data = body + 4;
    } else {
      continue;  // not a packet
    }
    if (iface >= ifaces_.size())
      return cut("pcapng packet on interface " + std::to_string(iface) + ", but only " +
                     std::to_string(ifaces_.size()) + " interface(s) described",
                 diag);
    const Iface& ifc = ifaces_[iface];
    f.number = ++count_;
    f.ts_usec = static_cast<int64_t>(static_cast<unsigned __int128>(ts) * 1000000 / ifc.units);
    f.data = ByteSpan(data, caplen);
    f.orig_len = orig;
    f.linktype = ifc.dlt;
    return Next::frame;
  }
}

PcapSource::Next PcapSource::next_mapped(Frame& f, Diag& diag) {
  if (ng_) return next_pcapng(f, diag);
  if (pos_ == map_len_) return Next::end;
  auto cut = [&](const std::string& what) { return this->cut(what, diag); };
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
