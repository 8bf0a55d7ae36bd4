// A synthetic QUIC connection as a capture (Ethernet/IPv4/UDP frames) plus its NSS key log,
// protected with rl::quic by both endpoints: the client's Initial carries a ClientHello
// prefix (its random names the key log entry), the server's Initial a ServerHello prefix
// (the cipher suite), then `n_1rtt` 1-RTT packets alternating client/server, each one
// datagram of exactly `datagram_len` bytes, with a key update on both sides every
// `key_update_every` packets (0 = never). Used by tests/replay_decrypt_b_test.cc and the
// replay decryption benchmark (bench/replay_decrypt_bench.cc).
#pragma once
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/quic.h"

namespace rl::replay::test {

struct QuicSynth {
  std::vector<std::vector<uint8_t>> frames;     // Ethernet frames
  std::vector<std::vector<uint8_t>> plaintext;  // the sealed payload of each frame
  std::vector<bool> from_client;
  std::string keylog;
  uint64_t bytes = 0;  // capture bytes (sum of frame lengths)
  bool ok = true;
};

inline std::string synth_hex(const uint8_t* p, size_t n) {
  std::string s;
  char b[3];
  for (size_t i = 0; i < n; ++i) {
    std::snprintf(b, sizeof b, "%02x", p[i]);
    s += b;
  }
  return s;
}

inline std::vector<uint8_t> synth_frame(bool from_client, const uint8_t* q, size_t n) {
  std::vector<uint8_t> f(14 + 20 + 8 + n, 0);
  uint8_t* e = f.data();
  const uint8_t eth[14] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00};
  std::memcpy(e, eth, sizeof eth);
  uint8_t* ip = e + 14;
  ip[0] = 0x45;
  store_be16(ip + 2, static_cast<uint16_t>(20 + 8 + n));
  ip[6] = 0x40;
  ip[8] = 64;
  ip[9] = 17;
  const uint8_t c[4] = {10, 0, 0, 1}, s[4] = {10, 0, 0, 2};
  std::memcpy(ip + 12, from_client ? c : s, 4);
  std::memcpy(ip + 16, from_client ? s : c, 4);
  uint8_t* udp = ip + 20;
  store_be16(udp, from_client ? 50000 : 443);
  store_be16(udp + 2, from_client ? 443 : 50000);
  store_be16(udp + 4, static_cast<uint16_t>(8 + n));
  std::memcpy(udp + 8, q, n);
  return f;
}

inline QuicSynth make_quic_synth(quic::Version v, Suite suite, size_t n_1rtt,
                                 size_t datagram_len = 1350, size_t key_update_every = 0) {
  using quic::Level;
  QuicSynth out;
  const uint8_t odcid[8] = {0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08};
  const uint8_t ccid[8] = {1, 2, 3, 4, 5, 6, 7, 8}, scid[8] = {9, 10, 11, 12, 13, 14, 15, 16};
  std::array<uint8_t, 32> random{};
  for (size_t i = 0; i < 32; ++i) random[i] = static_cast<uint8_t>(0xa0 + i * 3);
  const size_t slen = suite == Suite::aes256_gcm ? 48 : 32;
  std::vector<uint8_t> csec(slen), ssec(slen);
  for (size_t i = 0; i < slen; ++i) {
    csec[i] = static_cast<uint8_t>(0x11 * i + 1);
    ssec[i] = static_cast<uint8_t>(0x07 * i + 5);
  }
  const uint16_t cs = suite == Suite::aes128_gcm ? 0x1301 : suite == Suite::aes256_gcm ? 0x1302 : 0x1303;
  out.keylog = "CLIENT_TRAFFIC_SECRET_0 " + synth_hex(random.data(), 32) + " " +
               synth_hex(csec.data(), slen) + "\nSERVER_TRAFFIC_SECRET_0 " +
               synth_hex(random.data(), 32) + " " + synth_hex(ssec.data(), slen) + "\n";

  quic::PacketProtection cli(v), srv(v);
  auto check = [&](Status s) {
    if (s != Status::ok) out.ok = false;
  };
  check(cli.install_initial(v, odcid, false));
  check(srv.install_initial(v, odcid, true));
  check(cli.set_dcid(odcid));
  check(cli.set_scid(ccid));
  check(srv.set_dcid(ccid));
  check(srv.set_scid(scid));

  std::vector<uint8_t> buf(4096);
  auto seal = [&](quic::PacketProtection& pp, bool client, Level l, const std::vector<uint8_t>& payload,
                  uint8_t min_pn_len) {
    const size_t head = pp.max_header_length(l, payload.size());
    std::copy(payload.begin(), payload.end(), buf.begin() + static_cast<long>(head));
    quic::Packet pk;
    pk.view = PacketView{buf.data(), static_cast<uint32_t>(buf.size()), static_cast<uint32_t>(head),
                         static_cast<uint32_t>(payload.size())};
    pk.level = l;
    pk.min_pn_length = min_pn_len;
    pp.seal({&pk, 1});
    check(pk.status());
    out.frames.push_back(synth_frame(client, pk.view.data(), pk.view.length));
    out.bytes += out.frames.back().size();
    out.plaintext.push_back(payload);
    out.from_client.push_back(client);
  };

  // Client Initial: CRYPTO(offset 0) with a ClientHello prefix (RFC 8446 §4.1.2: type 1,
  // length, legacy_version, random), then PADDING (RFC 9000 §14.1: 1200-byte datagram).
  std::vector<uint8_t> ch = {0x06, 0x00, 0x40, 38, 0x01, 0x00, 0x00, 34, 0x03, 0x03};
  ch.insert(ch.end(), random.begin(), random.end());
  ch.resize(1150, 0);
  seal(cli, true, Level::initial, ch, 0);
  // Server Initial: CRYPTO with a ServerHello prefix (random, empty session id, suite).
  std::vector<uint8_t> sh = {0x06, 0x00, 0x40, 41, 0x02, 0x00, 0x00, 37, 0x03, 0x03};
  for (int i = 0; i < 32; ++i) sh.push_back(static_cast<uint8_t>(0x55 ^ i));
  sh.push_back(0);
  sh.push_back(static_cast<uint8_t>(cs >> 8));
  sh.push_back(static_cast<uint8_t>(cs));
  seal(srv, false, Level::initial, sh, 0);

  check(cli.set_dcid(scid));
  check(cli.install(Level::one_rtt, Direction::seal, suite, csec));
  check(srv.install(Level::one_rtt, Direction::seal, suite, ssec));
  // 1-RTT: 1 + 8 (DCID) + 4 (packet number) header bytes, payload, 16 tag bytes.
  const size_t payload_len = datagram_len - 1 - 8 - 4 - quic::kTagLen;
  std::vector<uint8_t> p(payload_len);
  for (size_t i = 0; i < n_1rtt; ++i) {
    const bool client = i % 2 == 0;
    quic::PacketProtection& pp = client ? cli : srv;
    if (key_update_every && i > 1 && (i / 2) % key_update_every == 0) {
      const uint64_t next = pp.next_pn(quic::Space::application);
      if (next > 0) {
        pp.on_ack(quic::Space::application, next - 1);
        check(pp.update(Direction::seal));
      }
    }
    for (size_t k = 0; k < payload_len; ++k) p[k] = static_cast<uint8_t>(i * 7 + k);
    p[0] = 0x08;  // a STREAM frame type, for the look of it
    seal(pp, client, Level::one_rtt, p, 4);
  }
  return out;
}

}  // namespace rl::replay::test
