// rl-replay's TLS decryptor: a RecordSink that opens every protected TLS 1.2 / TLS 1.3
// record of a TCP flow with rl::tls, from the keys of an NSS key log.
//
//   TLS 1.2: CLIENT_RANDOM <client random> <master secret>; the key block comes from the
//            PRF (core/tls12_prf.h) with the randoms and cipher suite of the captured
//            hellos. EMS changes only how the master secret was made, not the key block.
//   TLS 1.3: CLIENT/SERVER_HANDSHAKE_TRAFFIC_SECRET until the Finished (handshake type 20)
//            of that direction has been decrypted, then CLIENT/SERVER_TRAFFIC_SECRET_0;
//            a decrypted KeyUpdate (type 24) moves that direction to the next generation
//            (RFC 8446 §4.6.3, §7.2), as OpenSSL's "_N" lines are not usable.
//
// Each direction has its own rl::tls::RecordProtection used as an open side, with
// stop_after_failure = false so that one bad record does not hide the rest. The engine
// treats a failed record as never received; in a capture it did cross the wire, so once a
// key has authenticated a record, a failure uses up its sequence number (the key is
// re-installed at the next one). Before a key's first success, a failure may also mean the
// record was not under that key at all (a key log without handshake secrets), so it uses
// none, and the next record is tried at up to that many numbers further on. After a gap in
// the TCP stream the next record is tried at up to 256 numbers further on (lost records).
//   TLS 1.3 0-RTT: the client's records before the ServerHello, and after it up to its
//            EndOfEarlyData, open under CLIENT_EARLY_TRAFFIC_SECRET (suite found by trial:
//            the ClientHello does not say which one the resumed session had); when the
//            server rejected 0-RTT the first record that fails under it goes to the
//            handshake key instead.
//   TLS 1.2 renegotiation: the new hellos are read from decrypted handshake records, the
//            key log's entry for the new client random gives the next key block, and each
//            side moves to it after its own (encrypted) ChangeCipherSpec.
//
// Verdict fields: epoch = 1 + n for TLS 1.2 protected records (n renegotiations this side
// has moved through); for TLS 1.3 the RFC 9147 §6.1
// numbering: 1 = early data, 2 = handshake keys, 3 + n = application generation n (n
// KeyUpdates). seq =
// the record sequence number under that key. type = the real content type (TLS 1.3: the
// inner type). sha256 = the record content (TLS 1.3 without inner type and padding).
#pragma once
#include <cstdint>
#include <optional>

#include "simd/suite.h"
#include "tools/replay/record_sink.h"

namespace rl::replay {

// Cipher suites this decryptor maps to engine suites (IANA numbers).
struct TlsSuiteMap {
  Suite suite;
  Hash prf;  // TLS 1.2 PRF hash; TLS 1.3: the suite hash
};
std::optional<TlsSuiteMap> map_tls12_suite(uint16_t cs);  // AES-GCM / ChaCha20 AEAD suites
std::optional<TlsSuiteMap> map_tls13_suite(uint16_t cs);  // 0x1301..0x1303

// Status text for records whose cipher suite the engine does not support.
inline constexpr const char* kUnsupported = "unsupported";

class TlsDecryptor : public RecordSink {
 public:
  TlsDecryptor(const Keys& keys, Diag& diag) : RecordSink(keys), diag_(diag) {}
  void on_tls_record(const TlsRecord& r, VerdictSink& out) override;
  void on_stream_gap(Flow& flow, Dir dir, uint64_t offset, uint64_t len, uint64_t frame) override;

 private:
  Diag& diag_;
};

}  // namespace rl::replay
