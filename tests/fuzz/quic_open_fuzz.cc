// libFuzzer target for the QUIC unprotect path: datagram splitting, long and
// short header parsing, header-protection removal, packet-number
// reconstruction, AEAD open, and the restore-on-failure promise. Also a
// seal -> mutate -> open mode so that the success and key-phase paths run.
//
// Input: byte 0 selects the mode, suite and version; byte 1 the short-header
// DCID length; the rest is the datagram (or the payload to seal).
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/quic.h"

namespace {

using namespace rl;
using namespace rl::quic;

const uint8_t kDcid[8] = {0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08};

void install_all(PacketProtection& pp, Suite s, Direction d) {
  uint8_t secret[48 + 2];  // three overlapping secrets of up to 48 bytes
  for (size_t i = 0; i < sizeof secret; ++i) secret[i] = static_cast<uint8_t>(i * 13 + 1);
  const size_t n = hash_len(suite_info(s).hash);
  pp.install(Level::handshake, d, s, {secret, n});
  pp.install(Level::zero_rtt, d, s, {secret + 1, n});
  pp.install(Level::one_rtt, d, s, {secret + 2, n});
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t mode = data[0];
  const Suite suite = kAllSuites[(mode >> 1) % 3];
  const Version v = (mode & 0x08) ? Version::v2 : Version::v1;
  const size_t cid_len = data[1] % 21;
  std::vector<uint8_t> dgram(data + 2, data + size);

  PacketProtection rx(v);
  rx.install_initial(v, kDcid, /*is_server=*/true);
  install_all(rx, suite, Direction::open);
  rx.set_short_dcid_length(cid_len);

  if (mode & 1) {
    // Seal the input as a 1-RTT / Handshake payload, flip one byte chosen by
    // the input (or none), then open: a flipped byte must fail and leave the
    // bytes as they were; an untouched packet must open to the same payload.
    PacketProtection tx(v);
    install_all(tx, suite, Direction::seal);
    static const uint8_t kCid[20] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    tx.set_dcid({kCid, cid_len});
    const Level level = (mode & 0x10) ? Level::handshake : Level::one_rtt;
    std::vector<uint8_t> buf(128 + dgram.size() + 32);
    if (!dgram.empty()) std::memcpy(buf.data() + 128, dgram.data(), dgram.size());
    Packet p;
    p.view = PacketView{buf.data(), static_cast<uint32_t>(buf.size()), 128,
                        static_cast<uint32_t>(dgram.size())};
    p.level = level;
    if (tx.seal({&p, 1}) != 1) return 0;
    std::vector<uint8_t> wire(p.view.data(), p.view.data() + p.view.length);
    const bool flip = (mode & 0x20) != 0 && !wire.empty();
    if (flip) wire[(size_t{data[1]} * 7 + size) % wire.size()] ^= static_cast<uint8_t>(1 | (mode & 0xc0));
    const std::vector<uint8_t> arrived = wire;
    Packet r;
    r.view = PacketView{wire.data(), static_cast<uint32_t>(wire.size()), 0,
                        static_cast<uint32_t>(wire.size())};
    const size_t ok = rx.open({&r, 1});
    if (flip && ok != 0) __builtin_trap();  // a forgery authenticated
    if (ok == 0 && wire != arrived) __builtin_trap();  // failed open changed bytes
    if (!flip && ok != 1) __builtin_trap();
    if (ok == 1) {
      const size_t n = dgram.size();
      if (r.view.length < n || (n != 0 && std::memcmp(r.view.data(), dgram.data(), n) != 0)) __builtin_trap();
    }
    return 0;
  }

  // Arbitrary datagram: whatever fails must stay byte-identical.
  const std::vector<uint8_t> arrived = dgram;
  Packet out[8];
  size_t count = 0;
  rx.open_datagram(dgram, out, &count);
  for (size_t i = 0; i < count; ++i) {
    if (out[i].status() == Status::ok) continue;
    const PacketView& pv = out[i].view;
    if (pv.length != 0 && std::memcmp(dgram.data() + pv.offset, arrived.data() + pv.offset, pv.length) != 0)
      __builtin_trap();
  }
  verify_retry(v, kDcid, arrived);
  static const uint8_t kToken[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  const uint8_t* tokens[1] = {kToken};
  (void)is_stateless_reset(arrived, tokens);
  return 0;
}
