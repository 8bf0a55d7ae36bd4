// The TCP framing: records split across reads, many per read, in place when
// contiguous; the writer's splitting and coalescing, end to end through
// RecordProtection.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "core/tls.h"
#include "core/tls_stream.h"
#include "tests/support/vectors.h"

namespace rl::tls {
namespace {

using rl::test::Bytes;
using rl::test::hex;
using rl::test::random_bytes;

// Sealed records of random sizes, concatenated as a TLS 1.3 stream.
struct Stream {
  Bytes bytes;
  std::vector<Bytes> contents;
  std::vector<size_t> starts;
  Bytes secret = random_bytes(32, 77);
  explicit Stream(size_t records, uint64_t seed) {
    RecordProtection tx;
    EXPECT_EQ(tx.install(Direction::seal, Suite::aes128_gcm, secret), Status::ok);
    for (size_t i = 0; i < records; ++i) {
      const size_t len = (i % 5 == 4) ? kMaxPlaintext : random_bytes(2, seed + i)[0] * 7 % 1500;
      contents.push_back(random_bytes(len, seed * 1000 + i));
      Bytes mem(5 + len + 17, 0);
      std::memcpy(mem.data() + 5, contents.back().data(), len);
      Record r;
      r.buf = mem.data();
      r.capacity = static_cast<uint32_t>(mem.size());
      r.offset = 5;
      r.length = static_cast<uint32_t>(len);
      EXPECT_EQ(tx.seal({&r, 1}), 1u);
      starts.push_back(bytes.size());
      bytes.insert(bytes.end(), mem.begin(), mem.end());
    }
  }
};

// Feeds `s` in chunks of the given sizes (cycled) and opens every chunk's
// records as one burst.
void read_back(const Stream& s, const std::vector<size_t>& cuts) {
  auto reader = std::make_unique<StreamReader>();
  RecordProtection rx;
  ASSERT_EQ(rx.install(Direction::open, Suite::aes128_gcm, s.secret), Status::ok);
  Bytes wire = s.bytes;  // opened in place
  size_t pos = 0, ci = 0, got = 0, in_place = 0;
  while (pos < wire.size()) {
    const size_t n = std::min(cuts[ci++ % cuts.size()], wire.size() - pos);
    ASSERT_EQ(reader->feed({wire.data() + pos, n}), Status::ok);
    std::vector<Record> burst;
    std::span<uint8_t> rec;
    Status st;
    while ((st = reader->next(rec)) == Status::ok) {
      if (rec.data() >= wire.data() && rec.data() < wire.data() + wire.size()) {
        EXPECT_EQ(rec.data(), wire.data() + s.starts[got + burst.size()]);
        ++in_place;
      }
      Record r;
      r.buf = rec.data();
      r.capacity = r.length = static_cast<uint32_t>(rec.size());
      burst.push_back(r);
    }
    ASSERT_EQ(st, Status::truncated);
    ASSERT_EQ(rx.open(burst), burst.size());
    for (auto& r : burst) {
      ASSERT_EQ(Bytes(r.data(), r.data() + r.length), s.contents[got]) << got;
      ++got;
    }
    pos += n;
  }
  EXPECT_EQ(got, s.contents.size());
  EXPECT_EQ(reader->buffered(), 0u);
  if (cuts.size() == 1 && cuts[0] >= wire.size()) { EXPECT_EQ(in_place, got); }
}

TEST(TlsStream, ReaderWholeStreamInOneReadIsZeroCopy) {
  Stream s(12, 1);
  read_back(s, {s.bytes.size()});
}

TEST(TlsStream, ReaderEveryChunkSize) {
  Stream s(10, 2);
  for (size_t cut : {1u, 2u, 3u, 4u, 5u, 6u, 7u, 17u, 100u, 1000u, 16000u, 16406u, 20000u}) {
    SCOPED_TRACE(cut);
    read_back(s, {cut});
  }
  read_back(s, {1, 4, 5, 16406, 3, 9000, 2});
}

TEST(TlsStream, ReaderRandomCuts) {
  Stream s(30, 3);
  for (uint64_t seed = 0; seed < 20; ++seed) {
    std::vector<size_t> cuts;
    for (uint8_t b : random_bytes(16, seed)) cuts.push_back(1 + b * 97 % 20000);
    read_back(s, cuts);
  }
}

TEST(TlsStream, ReaderRefusesBadFramingForGood) {
  auto r = std::make_unique<StreamReader>();
  Bytes junk = hex("4745542f20");  // "GET /"
  ASSERT_EQ(r->feed(junk), Status::ok);
  std::span<uint8_t> rec;
  EXPECT_EQ(r->next(rec), Status::malformed);
  EXPECT_EQ(r->next(rec), Status::malformed);
  Bytes more = hex("170303000101");
  EXPECT_EQ(r->feed(more), Status::malformed);

  auto r2 = std::make_unique<StreamReader>(kMaxCiphertext13);
  Bytes big = hex("1703034101");  // 2^14+257
  ASSERT_EQ(r2->feed({big.data(), 3}), Status::ok);
  EXPECT_EQ(r2->next(rec), Status::truncated);
  ASSERT_EQ(r2->feed({big.data() + 3, 2}), Status::ok);
  EXPECT_EQ(r2->next(rec), Status::record_overflow);

  auto r3 = std::make_unique<StreamReader>(kMaxCiphertext12);
  Bytes ok12 = hex("1703034101");
  ok12.resize(5 + 0x4101, 0);
  ASSERT_EQ(r3->feed(ok12), Status::ok);
  EXPECT_EQ(r3->next(rec), Status::ok);
  EXPECT_EQ(rec.size(), ok12.size());
}

TEST(TlsStream, ReaderRefusesFeedBeforeChunkIsUsedUp) {
  auto r = std::make_unique<StreamReader>();
  Bytes two = hex("1703030001aa 1703030001bb");
  ASSERT_EQ(r->feed(two), Status::ok);
  std::span<uint8_t> rec;
  ASSERT_EQ(r->next(rec), Status::ok);
  Bytes other = hex("1703030001cc");
  EXPECT_EQ(r->feed(other), Status::invalid_argument);
  ASSERT_EQ(r->next(rec), Status::ok);
  EXPECT_EQ(rec[5], 0xbb);
  EXPECT_EQ(r->next(rec), Status::truncated);
  EXPECT_EQ(r->feed(other), Status::ok);
}

TEST(TlsStream, TailRecordSurvivesUntilNextFeed) {
  // Record A straddles reads 1 and 2; read 2 also ends inside record B. A's
  // span must stay intact while B's start is buffered.
  Bytes a = hex("1703030003 aaaaaa"), b = hex("1703030004 bbbbbbbb");
  Bytes wire = a;
  wire.insert(wire.end(), b.begin(), b.end());
  auto r = std::make_unique<StreamReader>();
  std::span<uint8_t> rec, held;
  ASSERT_EQ(r->feed({wire.data(), 4}), Status::ok);
  EXPECT_EQ(r->next(rec), Status::truncated);
  ASSERT_EQ(r->feed({wire.data() + 4, 8}), Status::ok);  // rest of A + 4 bytes of B
  ASSERT_EQ(r->next(held), Status::ok);
  EXPECT_EQ(r->next(rec), Status::truncated);
  EXPECT_EQ(Bytes(held.begin(), held.end()), a);
  ASSERT_EQ(r->feed({wire.data() + 12, wire.size() - 12}), Status::ok);
  ASSERT_EQ(r->next(rec), Status::ok);
  EXPECT_EQ(Bytes(rec.begin(), rec.end()), b);
}

TEST(TlsStream, EmptyReadsChangeNothing) {
  Bytes rec = hex("1703030004 01020304");
  auto r = std::make_unique<StreamReader>();
  std::span<uint8_t> out;
  ASSERT_EQ(r->feed({}), Status::ok);
  EXPECT_EQ(r->next(out), Status::truncated);
  ASSERT_EQ(r->feed({rec.data(), 3}), Status::ok);
  EXPECT_EQ(r->next(out), Status::truncated);
  ASSERT_EQ(r->feed({}), Status::ok);
  EXPECT_EQ(r->next(out), Status::truncated);
  EXPECT_EQ(r->buffered(), 3u);
  ASSERT_EQ(r->feed({rec.data() + 3, rec.size() - 3}), Status::ok);
  ASSERT_EQ(r->next(out), Status::ok);
  EXPECT_EQ(Bytes(out.begin(), out.end()), rec);
}

// ---- writer -----------------------------------------------------------------

Bytes read_all(const Bytes& wire, const Bytes& secret, Version v, Suite s, const Bytes& iv,
               std::vector<size_t>* sizes = nullptr) {
  Config c;
  c.version = v;
  RecordProtection rx(c);
  if (v == Version::tls13) EXPECT_EQ(rx.install(Direction::open, s, secret), Status::ok);
  else EXPECT_EQ(rx.install_tls12(Direction::open, s, secret, iv), Status::ok);
  auto reader = std::make_unique<StreamReader>(kMaxCiphertext12);
  Bytes copy = wire, out;
  EXPECT_EQ(reader->feed(copy), Status::ok);
  std::span<uint8_t> rec;
  while (reader->next(rec) == Status::ok) {
    Record r;
    r.buf = rec.data();
    r.capacity = r.length = static_cast<uint32_t>(rec.size());
    EXPECT_EQ(rx.open({&r, 1}), 1u);
    out.insert(out.end(), r.data(), r.data() + r.length);
    if (sizes) sizes->push_back(r.length);
  }
  return out;
}

TEST(TlsStream, WriterSplitsLargeWrites) {
  const Bytes secret = random_bytes(32, 5);
  RecordProtection tx;
  ASSERT_EQ(tx.install(Direction::seal, Suite::chacha20_poly1305, secret), Status::ok);
  Bytes out(200000);
  StreamWriter w(tx, out);
  const Bytes data = random_bytes(50000, 6);
  size_t accepted = 0;
  ASSERT_EQ(w.write(data, accepted), Status::ok);
  EXPECT_EQ(accepted, data.size());
  ASSERT_EQ(w.flush(), Status::ok);
  const Bytes wire(w.output().begin(), w.output().end());
  std::vector<size_t> sizes;
  EXPECT_EQ(read_all(wire, secret, Version::tls13, Suite::chacha20_poly1305, {}, &sizes), data);
  EXPECT_EQ(sizes, (std::vector<size_t>{16384, 16384, 16384, 848}));
}

TEST(TlsStream, WriterCoalescesSmallWrites) {
  const Bytes key = random_bytes(16, 7), iv = random_bytes(4, 8);
  Config c;
  c.version = Version::tls12;
  RecordProtection tx(c);
  ASSERT_EQ(tx.install_tls12(Direction::seal, Suite::aes128_gcm, key, iv), Status::ok);
  Bytes out(10000);
  StreamWriter w(tx, out, 1000);
  Bytes all;
  for (int i = 0; i < 25; ++i) {
    const Bytes piece = random_bytes(100, 100 + i);
    size_t accepted = 0;
    ASSERT_EQ(w.write(piece, accepted), Status::ok);
    ASSERT_EQ(accepted, piece.size());
    all.insert(all.end(), piece.begin(), piece.end());
  }
  EXPECT_EQ(w.pending_content(), 500u);
  ASSERT_EQ(w.flush(), Status::ok);
  const Bytes wire(w.output().begin(), w.output().end());
  std::vector<size_t> sizes;
  EXPECT_EQ(read_all(wire, key, Version::tls12, Suite::aes128_gcm, iv, &sizes), all);
  EXPECT_EQ(sizes, (std::vector<size_t>{1000, 1000, 500}));
}

TEST(TlsStream, WriterBackpressureAndConsume) {
  const Bytes secret = random_bytes(32, 9);
  RecordProtection tx;
  ASSERT_EQ(tx.install(Direction::seal, Suite::aes128_gcm, secret), Status::ok);
  Bytes out(3000);
  StreamWriter w(tx, out, 1000);
  const Bytes data = random_bytes(10000, 10);
  Bytes sent;
  size_t pos = 0;
  int rounds = 0;
  while (pos < data.size() && rounds++ < 100) {
    size_t accepted = 0;
    ASSERT_EQ(w.write({data.data() + pos, data.size() - pos}, accepted), Status::ok);
    pos += accepted;
    if (accepted == 0 || pos == data.size()) { ASSERT_EQ(w.flush(), Status::ok); }
    // Send half of what is ready.
    const size_t n = (w.output().size() + 1) / 2;
    sent.insert(sent.end(), w.output().begin(), w.output().begin() + n);
    w.consume(n);
  }
  sent.insert(sent.end(), w.output().begin(), w.output().end());
  w.consume(w.output().size());
  EXPECT_EQ(read_all(sent, secret, Version::tls13, Suite::aes128_gcm, {}), data);
}

}  // namespace
}  // namespace rl::tls
