// libFuzzer target: the DTLS 1.2 open path (core/dtls.h) on arbitrary
// datagrams. Byte 0 picks the suite and whether a CID is expected; the rest
// is one datagram, walked and opened record by record, then opened again as
// a single record. A valid record sealed with the same keys is appended on
// odd inputs so the fuzzer also reaches the post-authentication code.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/dtls.h"


using namespace rl;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const Suite suite = kAllSuites[data[0] % 3];
  const bool cid = (data[0] & 4) != 0;
  const bool append_valid = (data[0] & 8) != 0;
  uint8_t key[32], iv[12];
  for (size_t i = 0; i < sizeof key; ++i) key[i] = static_cast<uint8_t>(i);
  for (size_t i = 0; i < sizeof iv; ++i) iv[i] = static_cast<uint8_t>(0x40 + i);
  const size_t kl = suite_info(suite).key_len, il = suite == Suite::chacha20_poly1305 ? 12 : 4;
  static const uint8_t kCid[] = {0xc1, 0xd1, 0xe1};

  dtls::RecordProtection rx, tx;
  rx.install(Direction::open, 1, suite, {key, kl}, {iv, il});
  rx.install(Direction::open, 2, suite, {key, kl}, {iv, il});
  tx.install(Direction::seal, 1, suite, {key, kl}, {iv, il});
  if (cid) {
    rx.set_open_cid(kCid);
    tx.set_seal_cid(kCid);
  }
  std::vector<uint8_t> dgram(data + 1, data + size);
  if (append_valid) {
    std::vector<uint8_t> buf(dtls::seal_headroom(suite, 3) + 16 + 32 + 300);
    dtls::Record r;
    const uint32_t head = static_cast<uint32_t>(dtls::seal_headroom(suite, 3));
    const uint32_t len = static_cast<uint32_t>(size > 16 ? 16 : size);
    std::memcpy(buf.data() + head, data, len);
    r.pkt = {buf.data(), static_cast<uint32_t>(buf.size()), head, len, Status::ok};
    r.padding = static_cast<uint16_t>(data[size - 1]);
    if (tx.seal({&r, 1}) == 1) dgram.insert(dgram.end(), r.pkt.data(), r.pkt.data() + r.pkt.length);
  }
  dtls::Record out[8];
  size_t found = 0;
  rx.open_datagram(dgram, out, &found);
  std::vector<uint8_t> copy(data + 1, data + size);
  dtls::Record one;
  one.pkt = {copy.data(), static_cast<uint32_t>(copy.size()), 0,
             static_cast<uint32_t>(copy.size()), Status::ok};
  rx.open({&one, 1});
  return 0;
}
