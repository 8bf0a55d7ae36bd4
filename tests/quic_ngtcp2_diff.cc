// Differential test: rl::quic against ngtcp2's crypto helpers over GnuTLS
// (Debian libngtcp2-crypto-gnutls, 0.12.x). Same secrets, same packets, same
// bytes out, for QUIC v1 and v2 and all three suites.
//
// ngtcp2 0.12 exports HKDF (extract, expand-label), AEAD encrypt/decrypt,
// the header-protection mask and the Retry writer; the key schedule, nonce
// and header-protection application on the ngtcp2 side are written here from
// RFC 9001 on top of those, independently of core/quic.cc. GnuTLS (nettle)
// and BoringSSL share no symbols, so both live in this one process.
#include <gtest/gtest.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/aead.h"
#include "core/quic.h"
#include "tests/support/vectors.h"

namespace rl::quic {
namespace {

using test::Bytes;
using test::hex;
using test::to_hex;

// ---- the ngtcp2 side ------------------------------------------------------------

struct NgSuite {
  gnutls_cipher_algorithm_t aead, hp;
  gnutls_mac_algorithm_t mac;
};
NgSuite ng_suite(Suite s) {
  switch (s) {
    case Suite::aes128_gcm:
      return {GNUTLS_CIPHER_AES_128_GCM, GNUTLS_CIPHER_AES_128_CBC, GNUTLS_MAC_SHA256};
    case Suite::aes256_gcm:
      return {GNUTLS_CIPHER_AES_256_GCM, GNUTLS_CIPHER_AES_256_CBC, GNUTLS_MAC_SHA384};
    default:
      return {GNUTLS_CIPHER_CHACHA20_POLY1305, GNUTLS_CIPHER_CHACHA20_32, GNUTLS_MAC_SHA256};
  }
}

std::string prefix(Version v) { return v == Version::v1 ? "quic " : "quicv2 "; }

Bytes ng_expand_label(Suite s, const Bytes& secret, const std::string& label, size_t len) {
  ngtcp2_crypto_md md;
  ngtcp2_crypto_md_init(&md, reinterpret_cast<void*>(ng_suite(s).mac));
  Bytes out(len);
  EXPECT_EQ(ngtcp2_crypto_hkdf_expand_label(out.data(), len, &md, secret.data(), secret.size(),
                                            reinterpret_cast<const uint8_t*>(label.data()),
                                            label.size()),
            0);
  return out;
}

// RFC 9001 §5.2 salts, typed from the RFC text (RFC 9369 §3.3.1 for v2).
const char* kSaltV1 = "38762cf7f55934b34d179ae6a4c80cadccbb7f0a";
const char* kSaltV2 = "0dede3def700a6db819381be6e269dcbf9bd2ed9";

std::pair<Bytes, Bytes> ng_initial_secrets(Version v, const Bytes& dcid) {
  ngtcp2_crypto_md md;
  ngtcp2_crypto_md_init(&md, reinterpret_cast<void*>(GNUTLS_MAC_SHA256));
  const Bytes salt = hex(v == Version::v1 ? kSaltV1 : kSaltV2);
  Bytes initial(32);
  EXPECT_EQ(ngtcp2_crypto_hkdf_extract(initial.data(), &md, dcid.data(), dcid.size(), salt.data(),
                                       salt.size()),
            0);
  return {ng_expand_label(Suite::aes128_gcm, initial, "client in", 32),
          ng_expand_label(Suite::aes128_gcm, initial, "server in", 32)};
}

struct NgKeys {
  Suite suite;
  Bytes key, iv, hp;
  ngtcp2_crypto_aead aead{};
  ngtcp2_crypto_cipher hp_cipher{};
  ngtcp2_crypto_aead_ctx enc{}, dec{};
  ngtcp2_crypto_cipher_ctx hp_ctx{};

  NgKeys(Version v, Suite s, const Bytes& secret) : suite(s) {
    const SuiteInfo info = suite_info(s);
    key = ng_expand_label(s, secret, prefix(v) + "key", info.key_len);
    iv = ng_expand_label(s, secret, prefix(v) + "iv", 12);
    hp = ng_expand_label(s, secret, prefix(v) + "hp", info.hp_key_len);
    const NgSuite n = ng_suite(s);
    aead.native_handle = reinterpret_cast<void*>(n.aead);
    aead.max_overhead = 16;
    hp_cipher.native_handle = reinterpret_cast<void*>(n.hp);
    EXPECT_EQ(ngtcp2_crypto_aead_ctx_encrypt_init(&enc, &aead, key.data(), 12), 0);
    EXPECT_EQ(ngtcp2_crypto_aead_ctx_decrypt_init(&dec, &aead, key.data(), 12), 0);
    // 0.12 does not export the cipher-context constructor; this is what its
    // GnuTLS backend does (a plain gnutls cipher handle for the HP cipher).
    gnutls_cipher_hd_t h;
    gnutls_datum_t k{hp.data(), static_cast<unsigned>(hp.size())};
    EXPECT_EQ(gnutls_cipher_init(&h, n.hp, &k, nullptr), 0);
    hp_ctx.native_handle = h;
  }
  ~NgKeys() {
    ngtcp2_crypto_aead_ctx_free(&enc);
    ngtcp2_crypto_aead_ctx_free(&dec);
    gnutls_cipher_deinit(static_cast<gnutls_cipher_hd_t>(hp_ctx.native_handle));
  }
  NgKeys(const NgKeys&) = delete;

  void nonce(uint64_t pn, uint8_t out[12]) const {
    std::memcpy(out, iv.data(), 12);
    for (int i = 0; i < 8; ++i) out[11 - i] ^= static_cast<uint8_t>(pn >> (8 * i));
  }
  void mask(const uint8_t* sample, uint8_t out[16]) const {
    ASSERT_EQ(ngtcp2_crypto_hp_mask(out, &hp_cipher, &hp_ctx, sample), 0);
  }

  // RFC 9001 §5.3/§5.4.1: encrypt, then mask from the ciphertext sample.
  Bytes protect(const Bytes& header, size_t pn_offset, uint64_t pn, const Bytes& payload) const {
    Bytes out = header;
    out.resize(header.size() + payload.size() + 16);
    uint8_t n[12];
    nonce(pn, n);
    EXPECT_EQ(ngtcp2_crypto_encrypt(out.data() + header.size(), &aead, &enc, payload.data(),
                                    payload.size(), n, 12, header.data(), header.size()),
              0);
    uint8_t m[16];
    mask(out.data() + pn_offset + 4, m);
    const size_t pn_len = (header[0] & 3) + 1;
    out[0] ^= m[0] & ((out[0] & 0x80) ? 0x0f : 0x1f);
    for (size_t i = 0; i < pn_len; ++i) out[pn_offset + i] ^= m[1 + i];
    return out;
  }

  // The reverse; returns false when the tag does not verify. `pn_full` is the
  // packet number the caller expects (reconstruction is tested elsewhere).
  bool unprotect(const Bytes& packet, size_t pn_offset, uint64_t pn_full, Bytes* header,
                 Bytes* payload) const {
    Bytes p = packet;
    uint8_t m[16];
    mask(p.data() + pn_offset + 4, m);
    p[0] ^= m[0] & ((p[0] & 0x80) ? 0x0f : 0x1f);
    const size_t pn_len = (p[0] & 3) + 1;
    for (size_t i = 0; i < pn_len; ++i) p[pn_offset + i] ^= m[1 + i];
    uint64_t truncated = 0;
    for (size_t i = 0; i < pn_len; ++i) truncated = truncated << 8 | p[pn_offset + i];
    EXPECT_EQ(truncated, pn_full & ((uint64_t{1} << (8 * pn_len)) - 1));
    const size_t hl = pn_offset + pn_len;
    *header = Bytes(p.begin(), p.begin() + hl);
    payload->assign(p.size() - hl - 16, 0);
    uint8_t n[12];
    nonce(pn_full, n);
    return ngtcp2_crypto_decrypt(payload->data(), &aead, &dec, p.data() + hl, p.size() - hl, n,
                                 12, p.data(), hl) == 0;
  }
};

// Where the packet number starts, read independently of core/quic.cc.
size_t pn_offset_of(const Bytes& p, size_t short_dcid_len) {
  if ((p[0] & 0x80) == 0) return 1 + short_dcid_len;
  size_t pos = 5;
  pos += 1 + p[pos];  // DCID
  pos += 1 + p[pos];  // SCID
  const uint32_t version = uint32_t{p[1]} << 24 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 8 | p[4];
  const unsigned type = (p[0] >> 4) & 3;
  const bool initial = version == 1 ? type == 0 : type == 1;
  auto varint = [&](size_t at, uint64_t* v) {
    const size_t n = size_t{1} << (p[at] >> 6);
    *v = p[at] & 0x3f;
    for (size_t i = 1; i < n; ++i) *v = *v << 8 | p[at + i];
    return n;
  };
  uint64_t v = 0;
  if (initial) {
    pos += varint(pos, &v);
    pos += v;
  }
  pos += varint(pos, &v);  // Length
  return pos;
}

// ---- tests -------------------------------------------------------------------------

constexpr Version kVersions[] = {Version::v1, Version::v2};

TEST(QuicNgtcp2, InitialSecretsAndKeys) {
  for (Version v : kVersions)
    for (size_t len = 0; len <= 20; ++len) {
      const Bytes dcid = test::random_bytes(len, 100 + len);
      uint8_t c[32], s[32];
      ASSERT_EQ(derive_initial_secrets(v, dcid, c, s), Status::ok);
      const auto [nc, ns] = ng_initial_secrets(v, dcid);
      EXPECT_EQ(to_hex(c, 32), to_hex(nc));
      EXPECT_EQ(to_hex(s, 32), to_hex(ns));
    }
}

TEST(QuicNgtcp2, PacketKeysAndKeyUpdateSecrets) {
  for (Version v : kVersions)
    for (Suite s : kAllSuites)
      for (uint64_t seed = 1; seed <= 8; ++seed) {
        const Bytes secret = test::random_bytes(hash_len(suite_info(s).hash), seed);
        PacketKeys k;
        ASSERT_EQ(derive_packet_keys(v, s, secret, k), Status::ok);
        NgKeys n(v, s, secret);
        EXPECT_EQ(to_hex(k.key, k.key_len), to_hex(n.key));
        EXPECT_EQ(to_hex(k.iv, 12), to_hex(n.iv));
        EXPECT_EQ(to_hex(k.hp, k.hp_len), to_hex(n.hp));
        Bytes next(secret.size());
        ASSERT_EQ(derive_next_secret(v, s, secret, next), Status::ok);
        EXPECT_EQ(to_hex(next), to_hex(ng_expand_label(s, secret, prefix(v) + "ku", secret.size())));
      }
}

TEST(QuicNgtcp2, HeaderProtectionMask) {
  for (Suite s : kAllSuites)
    for (uint64_t seed = 1; seed <= 32; ++seed) {
      const Bytes secret = test::random_bytes(hash_len(suite_info(s).hash), seed);
      NgKeys n(Version::v1, s, secret);
      MaskKey mk;
      ASSERT_EQ(mk.init(s, n.hp), Status::ok);
      const Bytes sample = test::random_bytes(16, seed * 31);
      MaskJob j;
      j.key = &mk;
      j.sample = sample.data();
      rl::mask({&j, 1});
      uint8_t m[16];
      n.mask(sample.data(), m);
      EXPECT_EQ(to_hex(j.mask, 5), to_hex(m, 5)) << suite_info(s).name;
    }
}

// Seal with rl::quic; ngtcp2 rebuilds the same bytes from our unprotected
// header and payload and opens ours; then ngtcp2 protects packets whose
// headers we did not build, and rl::quic opens them.
TEST(QuicNgtcp2, SameBytesBothWays) {
  uint64_t seed = 1000;
  for (Version v : kVersions)
    for (Suite s : kAllSuites)
      for (Level l : {Level::initial, Level::handshake, Level::zero_rtt, Level::one_rtt}) {
        SCOPED_TRACE(std::string(suite_info(s).name) + " level " +
                     std::to_string(static_cast<int>(l)) + (v == Version::v1 ? " v1" : " v2"));
        const Bytes secret = test::random_bytes(hash_len(suite_info(s).hash), ++seed);
        PacketProtection tx(v), rx(v);
        ASSERT_EQ(tx.install(l, Direction::seal, s, secret), Status::ok);
        ASSERT_EQ(rx.install(l, Direction::open, s, secret), Status::ok);
        const Bytes dcid = test::random_bytes(seed % 21, seed);
        ASSERT_EQ(tx.set_dcid(dcid), Status::ok);
        ASSERT_EQ(tx.set_scid(test::random_bytes((seed * 3) % 21, seed + 7)), Status::ok);
        ASSERT_EQ(rx.set_short_dcid_length(dcid.size()), Status::ok);
        NgKeys ng(v, s, secret);
        const size_t sizes[] = {1, 4, 20, 64, 500, 1200, 1350, 1452};
        for (size_t i = 0; i < 16; ++i) {
          const Bytes payload = test::random_bytes(sizes[i % 8], seed * 50 + i);
          Bytes buf(128 + payload.size() + 32);
          std::copy(payload.begin(), payload.end(), buf.begin() + 128);
          Packet p;
          p.view = PacketView{buf.data(), static_cast<uint32_t>(buf.size()), 128,
                              static_cast<uint32_t>(payload.size())};
          p.level = l;
          p.min_pn_length = static_cast<uint8_t>(i % 5);
          const Bytes token = test::random_bytes(i, seed + i);
          if (l == Level::initial) p.token = token;
          if (i == 8) {
            ASSERT_EQ(tx.skip_packet_numbers(space_of(l), 70000), Status::ok);
            p.min_pn_length = 4;
          }
          ASSERT_EQ(tx.seal({&p, 1}), 1u);
          const Bytes ours(p.view.data(), p.view.data() + p.view.length);

          // ngtcp2 opens ours.
          Bytes header, plain;
          const size_t pn_off = pn_offset_of(ours, dcid.size());
          ASSERT_TRUE(ng.unprotect(ours, pn_off, p.pn, &header, &plain)) << i;
          Bytes want = payload;  // RFC 9001 §5.4.2: PADDING up to 4 bytes with the PN
          if (want.size() + p.pn_length < 4) want.resize(4 - p.pn_length, 0);
          EXPECT_EQ(plain, want);
          // ngtcp2 protects the same header and payload: the same bytes.
          EXPECT_EQ(to_hex(ng.protect(header, pn_off, p.pn, want)), to_hex(ours)) << i;

          // rl::quic opens what ngtcp2 protected with a header of its own
          // making: a 1-byte (or 4-byte) Length on long headers.
          Bytes h2 = header;
          // At least 4 bytes so the sample fits whatever the PN length.
          const Bytes payload2 = test::random_bytes(sizes[(i + 3) % 8] + 3, seed * 70 + i);
          size_t pn_off2 = pn_off;
          if (l != Level::one_rtt) {
            // Rewrite the Length field: find it just before the packet number.
            const size_t pn_len = (h2[0] & 3) + 1;
            size_t len_at = pn_off - 2;  // we write 2-byte Lengths (or 4)
            if ((h2[len_at] >> 6) != 1) len_at = pn_off - 4;
            const uint64_t length = pn_len + payload2.size() + 16;
            Bytes nh(h2.begin(), h2.begin() + len_at);
            if (length < 64) {
              nh.push_back(static_cast<uint8_t>(length));
            } else {
              nh.push_back(static_cast<uint8_t>(0x80 | (length >> 24)));
              nh.push_back(static_cast<uint8_t>(length >> 16));
              nh.push_back(static_cast<uint8_t>(length >> 8));
              nh.push_back(static_cast<uint8_t>(length));
            }
            pn_off2 = nh.size();
            nh.insert(nh.end(), h2.begin() + pn_off, h2.end());
            h2 = nh;
          }
          // A fresh packet number: the previous one is now taken.
          const size_t pn_len = (h2[0] & 3) + 1;
          const uint64_t pn2 = p.pn + 1;
          if (pn_len < 4 && (pn2 >> (8 * pn_len)) != (p.pn >> (8 * pn_len))) continue;
          for (size_t b = 0; b < pn_len; ++b)
            h2[pn_off2 + b] = static_cast<uint8_t>(pn2 >> (8 * (pn_len - 1 - b)));
          Bytes theirs = ng.protect(h2, pn_off2, pn2, payload2);
          Packet r;
          r.view = PacketView{theirs.data(), static_cast<uint32_t>(theirs.size()), 0,
                              static_cast<uint32_t>(theirs.size())};
          // Our receiver has not seen p.pn; first open ours to keep the
          // numbers moving as a real peer would.
          Bytes ours_copy = ours;
          Packet ro;
          ro.view = PacketView{ours_copy.data(), static_cast<uint32_t>(ours_copy.size()), 0,
                               static_cast<uint32_t>(ours_copy.size())};
          ASSERT_EQ(rx.open({&ro, 1}), 1u) << to_string(ro.status());
          ASSERT_EQ(rx.open({&r, 1}), 1u) << to_string(r.status()) << " " << i;
          EXPECT_EQ(r.pn, pn2);
          EXPECT_EQ(Bytes(r.view.data(), r.view.data() + r.view.length), payload2);
          ASSERT_EQ(tx.skip_packet_numbers(space_of(l), 1), Status::ok);  // pn2 is used
        }
      }
}

// v1 only: ngtcp2 0.12.1 predates RFC 9369 and writes v2 Retry packets with
// the v1 type bits (0b11 instead of 0b00) and a tag under neither the RFC 9001
// nor the RFC 9369 key (checked: neither key verifies it), so its v2 Retry
// is not the RFC's (ours matches RFC 9369 App. A.4 byte for byte, see
// quic_test Rfc/QuicVectors.RetryIntegrityTag/v2).
TEST(QuicNgtcp2, RetryPacketsAndTagsV1) {
  for (Version v : {Version::v1})
    for (uint64_t seed = 1; seed <= 16; ++seed) {
      const Bytes dcid = test::random_bytes(seed % 21, seed), scid = test::random_bytes(8, seed + 1),
                  odcid = test::random_bytes(8 + (seed * 5) % 13, seed + 2),  // ngtcp2: >= 8 (RFC 9000 §7.2)
                  token = test::random_bytes(seed * 7, seed + 3);
      ngtcp2_cid d, sc, od;
      ngtcp2_cid_init(&d, dcid.data(), dcid.size());
      ngtcp2_cid_init(&sc, scid.data(), scid.size());
      ngtcp2_cid_init(&od, odcid.data(), odcid.size());
      Bytes theirs(256);
      const auto n = ngtcp2_crypto_write_retry(theirs.data(), theirs.size(),
                                               static_cast<uint32_t>(v), &d, &sc, &od,
                                               token.data(), token.size());
      ASSERT_GT(n, 0) << "version " << std::hex << static_cast<uint32_t>(v) << " seed " << seed;
      theirs.resize(static_cast<size_t>(n));
      EXPECT_EQ(verify_retry(v, odcid, theirs), Status::ok);
      Bytes ours(256);
      size_t len = 0;
      ASSERT_EQ(write_retry(v, dcid, scid, token, odcid, ours, &len, theirs[0] & 0x0f), Status::ok);
      ours.resize(len);
      EXPECT_EQ(to_hex(ours), to_hex(theirs));
    }
}

}  // namespace
}  // namespace rl::quic
