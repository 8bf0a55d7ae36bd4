// QUIC decryption for rl-replay (RFC 9001, RFC 9369) on top of rl::quic::PacketProtection.
//
// Per connection (QuicConn from the tracker) two PacketProtection objects open the packets
// of each direction: Initial keys from the client's first Destination Connection ID
// (RFC 9001 §5.2), then, once the client's Initial CRYPTO frames give the ClientHello (its
// random names the key log entry) and the server's give the ServerHello (its cipher
// suite), Handshake / 0-RTT / 1-RTT keys from the NSS key log secrets. 1-RTT key phase
// flips are followed by PacketProtection itself (RFC 9001 §6).
//
// Verdict: index = position in the datagram, epoch = 0 Initial, 1 0-RTT, 2 Handshake,
// 3 + key generation for 1-RTT (as DTLS 1.3 counts epochs), seq = full packet number,
// sha256 over the whole decrypted payload (every frame, PADDING too).
//
// 1-RTT packets are held back and opened as bursts (up to 64 per flush, grouped by the
// PacketProtection that opens them), then their verdicts go out in capture order; every
// other packet type flushes the held ones first and is opened alone (Initial packets
// teach the keys of everything after them).
#pragma once
#include <memory>
#include <unordered_map>
#include <vector>

#include "core/quic.h"
#include "tools/replay/record_sink.h"

namespace rl::replay {

class QuicDecryptor : public RecordSink {
 public:
  explicit QuicDecryptor(const Keys& keys);
  ~QuicDecryptor() override;
  void on_quic_packet(const QuicPacket& p, VerdictSink& out) override;
  void finish(Diag& diag) override;
  void flush(VerdictSink& out) override;
  bool holding() const override { return !held_.empty(); }

  struct Conn;

 private:
  Conn& conn_of(const QuicPacket& p);
  std::unordered_map<const QuicConn*, std::unique_ptr<Conn>> conns_;
  // Held 1-RTT packets: verdict so far, the packet to open, who opens it.
  struct Held {
    Verdict v;
    quic::Packet pk;
    quic::PacketProtection* rx = nullptr;
    size_t dcid_len = 0;
    bool done = false;
  };
  std::vector<Held> held_;
  std::vector<Verdict*> emit_;  // flush scratch
  const QuicConn* last_qc_ = nullptr;  // conn_of cache
  Conn* last_conn_ = nullptr;
};

}  // namespace rl::replay
