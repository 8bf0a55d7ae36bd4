// libFuzzer: the TLS 1.3 / 1.2 open path (core/tls.cc).
//   byte 0: bit 0 version (1.3/1.2), bits 1-2 suite, bit 3 stop_after_failure,
//           bits 4-5 mode:
//     0  the rest is a list of records (2-byte length prefix each), opened as
//        one burst from separately allocated buffers (ASan sees any overread);
//        every refused record must read as it arrived
//     1  the rest is a TLS 1.3 inner plaintext sealed by hand (nonce = iv ^ 0,
//        AAD = header) and opened: reaches the padding / type rules
//     2  the rest is content sealed by the engine with the padding and type
//        from byte 1, then opened: must round-trip exactly
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "core/tls.h"
#include "core/aead.h"
#include "core/hkdf.h"

namespace {

using namespace rl;
using namespace rl::tls;

[[noreturn]] void fail(const char* what) {
  __builtin_trap();
  (void)what;
}

const uint8_t kSecret[48] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                             17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32,
                             33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48};

void install(RecordProtection& rp, Direction d, Suite s, bool v13) {
  const SuiteInfo si = suite_info(s);
  Status st;
  if (v13) st = rp.install(d, s, {kSecret, hash_len(si.hash)});
  else st = rp.install_tls12(d, s, {kSecret, si.key_len}, {kSecret + 32, s == Suite::chacha20_poly1305 ? 12u : 4u});
  if (st != Status::ok) fail("install");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const bool v13 = (data[0] & 1) == 0;
  const Suite suite = kAllSuites[((data[0] >> 1) & 3) % 3];
  const bool stop = (data[0] & 8) != 0;
  const int mode = (data[0] >> 4) & 3;
  Config cfg;
  cfg.version = v13 ? Version::tls13 : Version::tls12;
  cfg.stop_after_failure = stop;
  RecordProtection rx(cfg);
  install(rx, Direction::open, suite, v13);

  if (mode == 0) {
    std::vector<std::unique_ptr<uint8_t[]>> bufs;
    std::vector<std::vector<uint8_t>> orig;
    std::vector<Record> recs;
    size_t pos = 1;
    while (pos + 2 <= size && recs.size() < 200) {
      size_t n = size_t{data[pos]} << 8 | data[pos + 1];
      pos += 2;
      n = std::min(n, size - pos);
      bufs.emplace_back(new uint8_t[n + 1]);
      if (n > 0) std::memcpy(bufs.back().get(), data + pos, n);
      orig.emplace_back(data + pos, data + pos + n);
      Record r;
      r.buf = bufs.back().get();
      r.capacity = r.length = static_cast<uint32_t>(n);
      recs.push_back(r);
      pos += n;
    }
    const uint64_t seq = rx.sequence(Direction::open);
    const size_t ok = rx.open(recs);
    size_t counted = 0;
    for (size_t i = 0; i < recs.size(); ++i) {
      if (recs[i].status == Status::ok) {
        ++counted;
        continue;
      }
      if (!orig[i].empty() && std::memcmp(recs[i].buf, orig[i].data(), orig[i].size()) != 0)
        fail("refused record changed");
    }
    if (counted != ok || rx.sequence(Direction::open) != seq + ok) fail("sequence");
    return 0;
  }

  if (mode == 1) {
    if (!v13) return 0;
    const SuiteInfo si = suite_info(suite);
    uint8_t key[32], iv[12];
    hkdf_expand_label(si.hash, {kSecret, hash_len(si.hash)}, "key", {}, {key, si.key_len});
    hkdf_expand_label(si.hash, {kSecret, hash_len(si.hash)}, "iv", {}, iv);
    auto k = std::make_unique<AeadKey>();
    k->init(suite, {key, si.key_len});
    const size_t inner = std::min<size_t>(size - 1, 0xffff - 16 - 5);
    std::vector<uint8_t> rec(5 + inner + 16);
    rec[0] = 23, rec[1] = 3, rec[2] = 3;
    store_be16(&rec[3], static_cast<uint16_t>(inner + 16));
    std::memcpy(rec.data() + 5, data + 1, inner);
    AeadJob j;
    j.key = k.get();
    std::memcpy(j.nonce, iv, 12);
    j.aad = {rec.data(), 5};
    j.data = {rec.data() + 5, inner};
    j.tag = rec.data() + 5 + inner;
    rl::seal({&j, 1});
    Record r;
    r.buf = rec.data();
    r.capacity = r.length = static_cast<uint32_t>(rec.size());
    rx.open({&r, 1});
    if (r.status == Status::ok) {
      // The content is a prefix of the inner plaintext, followed by the type
      // and nothing but zeros.
      if (r.length + 1 > inner || std::memcmp(r.data(), data + 1, r.length) != 0) fail("content");
      if (data[1 + r.length] != r.type) fail("type");
      for (size_t i = r.length + 1; i < inner; ++i)
        if (data[1 + i] != 0) fail("padding");
    }
    return 0;
  }

  // mode 2: engine seal -> open round trip.
  RecordProtection tx(cfg);
  install(tx, Direction::seal, suite, v13);
  const uint8_t types[] = {application_data, handshake, alert, application_data};
  const uint8_t type = types[data[1] & 3];
  const Padding pads[] = {{Padding::none, 0}, {Padding::multiple, static_cast<uint16_t>(1 + (data[1] >> 4))},
                          {Padding::multiple, 512}, {Padding::full, 0}};
  tx.set_padding(pads[(data[1] >> 2) & 3]);
  const size_t len = std::min<size_t>(size - 2, kMaxPlaintext);
  std::vector<uint8_t> mem(16 + len + kMaxInner13 + 32);
  std::memcpy(mem.data() + 16, data + 2, len);
  Record r;
  r.buf = mem.data();
  r.capacity = static_cast<uint32_t>(mem.size());
  r.offset = 16;
  r.length = static_cast<uint32_t>(len);
  r.type = type;
  if (tx.seal({&r, 1}) != 1) {
    const bool refusable = (len == 0 && type != application_data) || (type == alert && len != 2);
    if (!refusable) fail("seal refused");
    return 0;
  }
  Record o = r;
  o.capacity = o.offset + o.length;
  if (rx.open({&o, 1}) != 1) fail("open of a sealed record");
  if (o.type != type || o.length != len || std::memcmp(o.data(), data + 2, len) != 0) fail("round trip");
  return 0;
}
