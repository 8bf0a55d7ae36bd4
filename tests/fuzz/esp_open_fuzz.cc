// libFuzzer target for the ESP open path (rl::esp::Sadb::open / open_udp).
// Byte 0 picks the SA (suite, ESN, implicit IV, GMAC, mode, UDP framing) and
// whether the rest is opened as-is (arbitrary wire bytes) or first wrapped into
// a packet that authenticates (arbitrary plaintext body: exercises the
// trailer rules of RFC 4303 §2.4 after a valid ICV). Byte 1 sets the window top.
// Invariants: no out-of-bounds access (ASan), a refused packet keeps its bytes,
// an accepted packet's view stays inside the buffer.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/aead.h"
#include "core/bytes.h"
#include "core/esp.h"

namespace {

using namespace rl;

constexpr uint32_t kSpi = 0x01020304;
constexpr size_t kHead = 16, kTail = 16;

// Seals `body` (payload ‖ padding ‖ pad length ‖ next header, as the fuzzer
// chose it) into an ESP packet under the SA's rules, bypassing Sa::seal.
std::vector<uint8_t> wrap(const esp::SaConfig& c, uint64_t seq, const uint8_t* body, size_t n) {
  const SuiteInfo si = suite_info(c.suite);
  AeadKey key;
  if (key.init(c.suite, c.keymat.first(si.key_len), c.icv_len) != Status::ok) return {};
  const size_t iv = c.implicit_iv ? 0 : 8, hdr = 8 + iv;
  std::vector<uint8_t> pkt(hdr + n + c.icv_len);
  store_be32(pkt.data(), c.spi);
  store_be32(pkt.data() + 4, static_cast<uint32_t>(seq));
  if (iv) store_be64(pkt.data() + 8, seq);
  if (n) std::memcpy(pkt.data() + hdr, body, n);
  AeadJob j;
  j.key = &key;
  std::memcpy(j.nonce, c.keymat.data() + si.key_len, 4);
  store_be64(j.nonce + 4, seq);
  std::vector<uint8_t> aad;
  if (c.gmac) {
    aad.assign(pkt.begin(), pkt.begin() + hdr + n);
    if (c.esn) {
      uint8_t hi[4];
      store_be32(hi, static_cast<uint32_t>(seq >> 32));
      aad.insert(aad.begin() + 4, hi, hi + 4);
    }
    j.data = {pkt.data() + hdr + n, 0};
  } else {
    aad.resize(c.esn ? 12 : 8);
    store_be32(aad.data(), c.spi);
    if (c.esn) store_be32(aad.data() + 4, static_cast<uint32_t>(seq >> 32));
    store_be32(aad.data() + aad.size() - 4, static_cast<uint32_t>(seq));
    j.data = {pkt.data() + hdr, n};
  }
  j.aad = aad;
  j.tag = pkt.data() + hdr + n;
  rl::seal({&j, 1});
  return pkt;
}

void open_one(esp::Sadb& db, const std::vector<uint8_t>& wire, bool udp) {
  std::vector<uint8_t> mem(kHead + wire.size() + kTail, 0x5a);
  if (!wire.empty()) std::memcpy(mem.data() + kHead, wire.data(), wire.size());
  PacketView p{mem.data(), static_cast<uint32_t>(mem.size()), kHead,
               static_cast<uint32_t>(wire.size()), Status::ok};
  esp::OpenInfo info;
  if (udp)
    db.open_udp({&p, 1}, {&info, 1});
  else
    db.open({&p, 1}, {&info, 1});
  if (!p.well_formed()) __builtin_trap();
  const bool delivered = p.status == Status::ok || p.status == Status::dummy_packet ||
                         p.status == Status::not_protected;
  if (!delivered && p.status != Status::keepalive &&
      (p.offset != kHead || p.length != wire.size() ||
       (!wire.empty() && std::memcmp(mem.data() + kHead, wire.data(), wire.size()) != 0)))
    __builtin_trap();  // a refused packet must keep its bytes
  for (size_t i = 0; i < kHead; ++i)
    if (mem[i] != 0x5a) __builtin_trap();  // headroom borrowed by GMAC+ESN is given back
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  static const uint8_t keymat[36] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12,
                                     13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,
                                     25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36};
  const uint8_t f = data[0];
  esp::SaConfig c;
  c.spi = kSpi;
  c.suite = kAllSuites[(f & 3) % 3];
  c.esn = f & 4;
  c.gmac = (f & 16) && c.suite != Suite::chacha20_poly1305;
  c.implicit_iv = (f & 8) && !c.gmac;
  c.mode = f & 32 ? esp::Mode::transport : esp::Mode::tunnel;
  c.icv_len = (c.suite == Suite::chacha20_poly1305 || c.gmac || c.implicit_iv)
                  ? 16
                  : uint8_t(8 + 4 * (data[1] % 3));
  c.keymat = {keymat, size_t{suite_info(c.suite).key_len} + 4};
  c.replay_window = 32;
  c.highest_received = c.esn ? (uint64_t{data[1]} << 28) : data[1];
  const bool udp = f & 64, wrapped = f & 128;
  esp::Sadb db;
  if (db.install(Direction::open, c) != Status::ok) __builtin_trap();
  std::vector<uint8_t> wire;
  if (wrapped) {
    const uint64_t seq = c.highest_received + 1;
    wire = wrap(c, seq, data + 2, size - 2);
  } else {
    wire.assign(data + 2, data + size);
  }
  open_one(db, wire, udp);
  open_one(db, wire, udp);  // the second time it is a replay (or refused again)
  return 0;
}
