// rl-replay's DTLS decryptor: a RecordSink that opens every protected DTLS 1.2 / DTLS 1.3
// record of a UDP association, from the keys of an NSS key log.
//
//   DTLS 1.2: CLIENT_RANDOM <client random> <master secret>; the key block comes from the
//             TLS 1.2 PRF (core/tls12_prf.h) with the randoms and cipher suite of the
//             captured hellos; epoch 1 keys (rl::dtls, RFC 6347 §4.1). Records carry their
//             epoch and 48-bit sequence number. A renegotiation: the new hellos are read
//             from decrypted handshake records and the key log's entry for the new client
//             random gives the next epoch's key block (epoch 2, 3, ...), both directions.
//   DTLS 1.3: CLIENT/SERVER_HANDSHAKE_TRAFFIC_SECRET (epoch 2) and
//             CLIENT/SERVER_TRAFFIC_SECRET_0 (epoch 3) with the "dtls13" labels, record
//             numbers decrypted by rl::dtls13 (RFC 9147 §4.2.3); a decrypted KeyUpdate
//             (handshake type 24) installs the next epoch of that direction (§8).
//
// Each direction has its own record-protection object used as an open side (replay
// windows per epoch: a record replayed in the capture reports `replayed`).
// Verdict: epoch/seq as authenticated, type = the real content type, sha256 over the
// record content (DTLS 1.3 without inner type and padding).
#pragma once
#include "tools/replay/record_sink.h"

namespace rl::replay {

class DtlsDecryptor : public RecordSink {
 public:
  DtlsDecryptor(const Keys& keys, Diag& diag) : RecordSink(keys), diag_(diag) {}
  void on_dtls_record(const DtlsRecord& r, VerdictSink& out) override;

 private:
  Diag& diag_;
};

}  // namespace rl::replay
