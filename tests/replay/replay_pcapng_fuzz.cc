// libFuzzer: the pcapng reader of PcapSource (blocks, interfaces, options, both byte orders)
// and the pcapng Decryption Secrets Block reader on arbitrary files, then every frame read
// through the replay driver with its interface's link type. The input becomes a file in
// memory (memfd): PcapSource opens files by path and maps them.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "tools/replay/keys.h"
#include "tools/replay/pcap_source.h"
#include "tools/replay/replay.h"

namespace {
struct Null final : rl::replay::VerdictSink {
  void emit(const rl::replay::Verdict&) override {}
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rl::replay;
  // Always a pcapng file: the section header magic first (the classic reader has its own
  // fuzzing through the frames of replay_packets_fuzz).
  const uint8_t magic[4] = {0x0a, 0x0d, 0x0d, 0x0a};
  const int fd = memfd_create("pcapng", 0);
  if (fd < 0) return 0;
  if (write(fd, magic, 4) != 4 || (size && write(fd, data, size) != static_cast<ssize_t>(size))) {
    close(fd);
    return 0;
  }
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  Diag diag;
  diag.quiet = true;
  Keys keys;
  keys.keylog.load_pcapng_dsb(path, diag);
  PcapSource src;
  if (src.open(path, diag)) {
    Null out;
    ReplayOptions o;
    o.ip_limits.timeout_frames = 8;
    o.tcp_limits.max_held_segments = 8;
    Replayer rep(keys, o, out, diag);
    rep.begin(src.linktype(), "fuzz");
    Frame f;
    for (int n = 0; n < 4096 && src.next(f, diag) == PcapSource::Next::frame; ++n) rep.frame(f);
    rep.end();
  }
  close(fd);
  return 0;
}
