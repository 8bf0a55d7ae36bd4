// PcapSource reads pcapng itself (libpcap refuses a file whose interfaces have different
// link types, which is what `dumpcap -i eth0 -i any` writes): every frame carries its own
// interface's link type, time stamps follow each interface's if_tsresol, Simple and
// Enhanced Packet Blocks both count, a new section resets the interfaces and may switch the
// byte order, and a damaged file gives a clear error naming the frame. Cross-checked
// against libpcap for a file it can read (one link type).
#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include <string>
#include <unistd.h>
#include <vector>

#include "tests/support/vectors.h"
#include "tools/replay/pcap_source.h"

namespace rl::replay {
namespace {

struct Ng {
  bool big = false;
  std::vector<uint8_t> out;
  void u32(std::vector<uint8_t>& o, uint32_t v) const {
    for (int i = 0; i < 4; ++i) o.push_back(static_cast<uint8_t>(big ? v >> (24 - 8 * i) : v >> (8 * i)));
  }
  void u16(std::vector<uint8_t>& o, uint16_t v) const {
    o.push_back(static_cast<uint8_t>(big ? v >> 8 : v));
    o.push_back(static_cast<uint8_t>(big ? v : v >> 8));
  }
  void block(uint32_t type, std::vector<uint8_t> body) {
    while (body.size() % 4) body.push_back(0);
    const uint32_t n = static_cast<uint32_t>(body.size() + 12);
    u32(out, type);
    u32(out, n);
    out.insert(out.end(), body.begin(), body.end());
    u32(out, n);
  }
  void shb() {
    std::vector<uint8_t> b;
    u32(b, 0x1A2B3C4D);
    u16(b, 1);
    u16(b, 0);
    for (int i = 0; i < 8; ++i) b.push_back(0xff);
    block(0x0A0D0D0A, b);
  }
  void idb(uint16_t link, int tsresol = -1) {
    std::vector<uint8_t> b;
    u16(b, link);
    u16(b, 0);
    u32(b, 262144);
    if (tsresol >= 0) {
      u16(b, 9);
      u16(b, 1);
      b.push_back(static_cast<uint8_t>(tsresol));
      b.insert(b.end(), {0, 0, 0});
      u16(b, 0);  // opt_endofopt
      u16(b, 0);
    }
    block(1, b);
  }
  void epb(uint32_t iface, uint64_t ts, const Bytes& d, uint32_t orig = 0) {
    std::vector<uint8_t> b;
    u32(b, iface);
    u32(b, static_cast<uint32_t>(ts >> 32));
    u32(b, static_cast<uint32_t>(ts));
    u32(b, static_cast<uint32_t>(d.size()));
    u32(b, orig ? orig : static_cast<uint32_t>(d.size()));
    b.insert(b.end(), d.begin(), d.end());
    block(6, b);
  }
  void spb(const Bytes& d) {
    std::vector<uint8_t> b;
    u32(b, static_cast<uint32_t>(d.size()));
    b.insert(b.end(), d.begin(), d.end());
    block(3, b);
  }
};

std::string write(const std::string& name, const std::vector<uint8_t>& b) {
  const std::string path = ::testing::TempDir() + "/rl_pcapng_" + name + "_" + std::to_string(::getpid());
  std::FILE* f = std::fopen(path.c_str(), "wb");
  std::fwrite(b.data(), 1, b.size(), f);
  std::fclose(f);
  return path;
}

struct Got {
  uint64_t number;
  int64_t ts;
  Bytes data;
  uint32_t orig;
  int link;
};

std::vector<Got> read_all(const std::string& path, Diag& d, PcapSource::Next* last = nullptr) {
  PcapSource src;
  std::vector<Got> v;
  if (!src.open(path, d)) return v;
  Frame f;
  PcapSource::Next r;
  while ((r = src.next(f, d)) == PcapSource::Next::frame)
    v.push_back({f.number, f.ts_usec, Bytes(f.data.begin(), f.data.end()), f.orig_len, f.linktype});
  if (last) *last = r;
  return v;
}

TEST(ReplayPcapng, InterfacesOfDifferentLinkTypesBothByteOrders) {
  for (bool big : {false, true}) {
    Ng n;
    n.big = big;
    n.shb();
    n.idb(DLT_EN10MB);           // microseconds (default)
    n.idb(DLT_LINUX_SLL2, 9);    // nanoseconds
    n.idb(101, 0x80 | 10);       // LINKTYPE_RAW (libpcap's DLT_RAW), 2^-10 s
    const Bytes a = rl::test::random_bytes(60, 1), b = rl::test::random_bytes(80, 2),
                c = rl::test::random_bytes(33, 3), e = rl::test::random_bytes(41, 4);
    n.epb(0, 1700000000123456ull, a);
    n.epb(1, 1700000000123456789ull, b, 200);  // cut by the snaplen: orig 200
    n.epb(2, 1024ull * 5 + 512, c);            // 5.5 s
    n.spb(e);                                  // interface 0, no time stamp
    Diag d;
    d.quiet = true;
    PcapSource::Next last;
    auto v = read_all(write(big ? "be" : "le", n.out), d, &last);
    EXPECT_EQ(last, PcapSource::Next::end);
    EXPECT_EQ(d.errors(), 0u);
    ASSERT_EQ(v.size(), 4u);
    for (size_t i = 0; i < v.size(); ++i) EXPECT_EQ(v[i].number, i + 1);
    EXPECT_EQ(v[0].link, DLT_EN10MB);
    EXPECT_EQ(v[0].ts, 1700000000123456);
    EXPECT_EQ(v[0].data, a);
    EXPECT_EQ(v[1].link, DLT_LINUX_SLL2);
    EXPECT_EQ(v[1].ts, 1700000000123456);
    EXPECT_EQ(v[1].data, b);
    EXPECT_EQ(v[1].orig, 200u);
    EXPECT_EQ(v[2].link, DLT_RAW);
    EXPECT_EQ(v[2].ts, 5500000);
    EXPECT_EQ(v[2].data, c);
    EXPECT_EQ(v[3].link, DLT_EN10MB);
    EXPECT_EQ(v[3].data, e);
  }
}

TEST(ReplayPcapng, NewSectionResetsInterfacesAndByteOrder) {
  Ng n;
  n.shb();
  n.idb(DLT_EN10MB);
  const Bytes a = rl::test::random_bytes(50, 5), b = rl::test::random_bytes(70, 6);
  n.epb(0, 1, a);
  Ng m;
  m.big = true;
  m.shb();
  m.idb(101);
  m.epb(0, 2, b);
  n.out.insert(n.out.end(), m.out.begin(), m.out.end());
  Diag d;
  d.quiet = true;
  auto v = read_all(write("sections", n.out), d);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].link, DLT_EN10MB);
  EXPECT_EQ(v[1].link, DLT_RAW);
  EXPECT_EQ(v[1].data, b);
  // Interface 1 of the second section does not exist (the first section's are gone).
  Ng k;
  k.big = true;
  k.shb();
  k.idb(101);
  k.epb(1, 3, a);
  n.out.insert(n.out.end(), k.out.begin(), k.out.end());
  Diag d2;
  d2.quiet = true;
  PcapSource::Next last;
  v = read_all(write("badiface", n.out), d2, &last);
  EXPECT_EQ(v.size(), 2u);
  EXPECT_EQ(last, PcapSource::Next::error);
  ASSERT_EQ(d2.errors(), 1u);
  EXPECT_NE(d2.messages()[0].find("frame 3: error: capture cut short or damaged after 2 complete frames: "
                                  "pcapng packet on interface 1, but only 1 interface(s) described"),
            std::string::npos)
      << d2.messages()[0];
}

TEST(ReplayPcapng, DamagedFilesAreReportedNotRead) {
  Ng n;
  n.shb();
  n.idb(DLT_EN10MB);
  for (int i = 0; i < 3; ++i) n.epb(0, uint64_t(i), rl::test::random_bytes(64, uint64_t(10 + i)));
  const size_t whole = n.out.size();
  // Every cut of the last block: two frames, then an error naming frame 3.
  for (size_t cut = whole - 96 + 1; cut < whole; cut += 7) {
    std::vector<uint8_t> b(n.out.begin(), n.out.begin() + static_cast<ptrdiff_t>(cut));
    Diag d;
    d.quiet = true;
    PcapSource::Next last;
    auto v = read_all(write("cut", b), d, &last);
    EXPECT_EQ(v.size(), 2u) << cut;
    EXPECT_EQ(last, PcapSource::Next::error) << cut;
    ASSERT_EQ(d.errors(), 1u) << cut;
    EXPECT_NE(d.messages()[0].find("frame 3: error: capture cut short or damaged after 2 complete frames"),
              std::string::npos)
        << d.messages()[0];
  }
  // A captured length running past its block, a block length that is not a multiple of 4.
  for (int what = 0; what < 2; ++what) {
    std::vector<uint8_t> b = n.out;
    const size_t epb3 = whole - 96;  // the last EPB: 12 + 20 + 64 bytes
    if (what == 0) b[epb3 + 8 + 12] = 0xff;       // caplen low byte
    else b[epb3 + 4] = static_cast<uint8_t>(b[epb3 + 4] + 2);
    Diag d;
    d.quiet = true;
    PcapSource::Next last;
    auto v = read_all(write("bad", b), d, &last);
    EXPECT_EQ(v.size(), 2u);
    EXPECT_EQ(last, PcapSource::Next::error);
    EXPECT_EQ(d.errors(), 1u);
  }
}

TEST(ReplayPcapng, SameFramesAsLibpcapForOneLinkType) {
  Ng n;
  n.shb();
  n.idb(DLT_EN10MB, 6);
  for (int i = 0; i < 20; ++i) n.epb(0, 1700000000000000ull + 1000ull * i, rl::test::random_bytes(60 + 13 * i, uint64_t(i)));
  const std::string path = write("libpcap", n.out);
  Diag d;
  d.quiet = true;
  auto v = read_all(path, d);
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* p = pcap_open_offline(path.c_str(), err);
  ASSERT_NE(p, nullptr) << err;
  pcap_pkthdr* h;
  const u_char* data;
  size_t i = 0;
  while (pcap_next_ex(p, &h, &data) == 1) {
    ASSERT_LT(i, v.size());
    EXPECT_EQ(v[i].data, Bytes(data, data + h->caplen));
    EXPECT_EQ(v[i].orig, h->len);
    EXPECT_EQ(v[i].ts, int64_t(h->ts.tv_sec) * 1000000 + h->ts.tv_usec);
    ++i;
  }
  EXPECT_EQ(i, v.size());
  EXPECT_EQ(i, 20u);
  pcap_close(p);
}

}  // namespace
}  // namespace rl::replay
