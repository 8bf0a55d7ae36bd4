// PcapSource reads classic pcap files from a memory map: every frame, its length and time
// stamp must be what libpcap itself reads from the same file, for both byte orders and both
// time-stamp resolutions; a cut file gives the same error as through libpcap.
#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

#include "tests/support/vectors.h"
#include "tools/replay/pcap_source.h"

namespace rl::replay {
namespace {

void put32(std::vector<uint8_t>& o, uint32_t v, bool swap) {
  if (swap) v = __builtin_bswap32(v);
  for (int i = 0; i < 4; ++i) o.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void put16(std::vector<uint8_t>& o, uint16_t v, bool swap) {
  if (swap) v = __builtin_bswap16(v);
  for (int i = 0; i < 2; ++i) o.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// A pcap file written by hand in either byte order / resolution.
std::string write_pcap(const std::string& name, bool swap, bool nanos, size_t frames) {
  std::vector<uint8_t> f;
  put32(f, nanos ? 0xa1b23c4d : 0xa1b2c3d4, swap);
  put16(f, 2, swap);
  put16(f, 4, swap);
  put32(f, 0, swap);
  put32(f, 0, swap);
  put32(f, 65535, swap);
  put32(f, 228, swap);  // LINKTYPE_IPV4
  for (size_t i = 0; i < frames; ++i) {
    const Bytes data = rl::test::random_bytes(40 + 37 * i, i + 1);
    put32(f, static_cast<uint32_t>(1000 + i), swap);
    put32(f, static_cast<uint32_t>(nanos ? 123456789 + i : 123456 + i), swap);
    put32(f, static_cast<uint32_t>(data.size()), swap);
    put32(f, static_cast<uint32_t>(data.size() + (i == 1 ? 10 : 0)), swap);
    for (uint8_t b : data) f.push_back(b);
  }
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("rl_pcap_map_" + std::to_string(::getpid()) + "_" + name)).string();
  std::FILE* o = std::fopen(path.c_str(), "wb");
  std::fwrite(f.data(), 1, f.size(), o);
  std::fclose(o);
  return path;
}

struct Read {
  std::vector<Bytes> data;
  std::vector<int64_t> ts;
  std::vector<uint32_t> orig;
  std::vector<std::string> messages;
  int linktype = -1;
};

Read read_ours(const std::string& path) {
  Read r;
  Diag d;
  d.quiet = true;
  PcapSource src;
  if (!src.open(path, d)) return r;
  r.linktype = src.linktype();
  Frame f;
  while (src.next(f, d) == PcapSource::Next::frame) {
    r.data.emplace_back(f.data.begin(), f.data.end());
    r.ts.push_back(f.ts_usec);
    r.orig.push_back(f.orig_len);
  }
  r.messages = d.messages();
  return r;
}

Read read_libpcap(const std::string& path) {
  Read r;
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* p = pcap_open_offline(path.c_str(), err);
  if (!p) return r;
  r.linktype = pcap_datalink(p);
  pcap_pkthdr* h;
  const u_char* d;
  while (pcap_next_ex(p, &h, &d) == 1) {
    r.data.emplace_back(d, d + h->caplen);
    r.ts.push_back(int64_t{h->ts.tv_sec} * 1000000 + h->ts.tv_usec);
    r.orig.push_back(h->len);
  }
  pcap_close(p);
  return r;
}

TEST(ReplayPcapMap, SameFramesAsLibpcapInEveryByteOrderAndResolution) {
  for (bool swap : {false, true}) {
    for (bool nanos : {false, true}) {
      const std::string path = write_pcap("f.pcap", swap, nanos, 5);
      const Read ours = read_ours(path), ref = read_libpcap(path);
      ASSERT_EQ(ref.data.size(), 5u);
      EXPECT_EQ(ours.linktype, ref.linktype);
      EXPECT_EQ(ours.data, ref.data) << swap << nanos;
      EXPECT_EQ(ours.ts, ref.ts) << swap << nanos;
      EXPECT_EQ(ours.orig, ref.orig) << swap << nanos;
      EXPECT_TRUE(ours.messages.empty());
      std::filesystem::remove(path);
    }
  }
}

TEST(ReplayPcapMap, CutFileReportsTheFrameAfterTheLastWholeOne) {
  const std::string path = write_pcap("cut.pcap", true, false, 4);
  const auto size = std::filesystem::file_size(path);
  for (uint64_t cut : {uint64_t{5}, uint64_t{20}}) {  // inside frame 4's data, then its header
    std::filesystem::resize_file(path, size - cut);
    const Read ours = read_ours(path), ref = read_libpcap(path);
    ASSERT_EQ(ref.data.size(), 3u);
    EXPECT_EQ(ours.data, ref.data);
    ASSERT_EQ(ours.messages.size(), 1u);
    EXPECT_NE(ours.messages[0].find("frame 4: error: capture cut short or damaged after 3 complete frames"),
              std::string::npos)
        << ours.messages[0];
  }
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace rl::replay
