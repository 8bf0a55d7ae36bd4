// libFuzzer target: the DTLS 1.3 open path (core/dtls13.h) on arbitrary
// datagrams: unified-header parsing, unmasking, reconstruction, several
// records per datagram. Byte 0 picks the suite, whether a CID is expected and
// whether a valid record (same keys) is appended so authenticated paths run.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/dtls13.h"


using namespace rl;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const Suite suite = kAllSuites[data[0] % 3];
  const bool cid = (data[0] & 4) != 0;
  const bool append_valid = (data[0] & 8) != 0;
  uint8_t secret[48];
  for (size_t i = 0; i < sizeof secret; ++i) secret[i] = static_cast<uint8_t>(i * 7);
  const size_t sl = suite == Suite::aes256_gcm ? 48 : 32;
  static const uint8_t kCid[] = {0xc1, 0xd1};

  dtls13::RecordProtection rx, tx;
  rx.install(Direction::open, 3, suite, {secret, sl});
  rx.update(Direction::open);  // epochs 3 and 4
  tx.install(Direction::seal, 3, suite, {secret, sl});
  if (cid) {
    rx.set_open_cid(kCid);
    tx.set_seal_cid(kCid);
  }
  std::vector<uint8_t> dgram(data + 1, data + size);
  if (append_valid) {
    std::vector<uint8_t> buf(8 + 16 + 300 + 32);
    dtls13::Record r;
    const uint32_t len = static_cast<uint32_t>(size > 16 ? 16 : size);
    std::memcpy(buf.data() + 8, data, len);
    r.pkt = {buf.data(), static_cast<uint32_t>(buf.size()), 8, len, Status::ok};
    r.padding = static_cast<uint16_t>(data[size - 1]);
    r.seq16 = (data[size - 1] & 1) != 0;
    r.with_length = (data[size - 1] & 2) != 0;
    if (tx.seal({&r, 1}) == 1) dgram.insert(dgram.end(), r.pkt.data(), r.pkt.data() + r.pkt.length);
  }
  dtls13::Record out[8];
  size_t found = 0;
  rx.open_datagram(dgram, out, &found);
  std::vector<uint8_t> copy(data + 1, data + size);
  dtls13::Record one;
  one.pkt = {copy.data(), static_cast<uint32_t>(copy.size()), 0,
             static_cast<uint32_t>(copy.size()), Status::ok};
  rx.open({&one, 1});
  return 0;
}
