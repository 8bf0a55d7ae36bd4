// Flows: TCP connections, UDP associations and ESP (IP protocol 50) address pairs, keyed by
// 5-tuple. Direction: the endpoint that sent the SYN (or, failing that, spoke first) is the
// client; a SYN-ACK names its sender the server.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "tools/replay/common.h"
#include "tools/replay/tcp_reassembly.h"
#include "tools/replay/tls_framing.h"

namespace rl::replay {

struct FiveTuple {
  IpAddr src, dst;
  uint16_t sport = 0, dport = 0;
  uint8_t proto = 0;  // 6 TCP, 17 UDP, 50 ESP
};

// State a protocol handler keeps per flow (keys, epochs, replay windows...).
struct FlowState {
  virtual ~FlowState() = default;
};

struct QuicConn;

struct Flow {
  uint32_t id = 0;  // 1-based, in order of first appearance
  uint8_t ip_proto = 0;
  IpAddr client, server;
  uint16_t client_port = 0, server_port = 0;
  uint64_t first_frame = 0, last_frame = 0;
  std::array<uint64_t, 2> packets{}, bytes{};

  Proto proto = Proto::unknown;  // what the flow carries, once detected
  bool proto_forced = false;     // set by --proto
  uint32_t detect_tries = 0;
  // TCP: a SYN was seen (the capture has the connection's start). A flow seen only from
  // the middle of its stream is detected by two chained TLS record headers in its first
  // bytes (held here meanwhile, both directions in capture order) rather than by its
  // first segment, which usually starts inside a record.
  bool tcp_syn_seen = false;
  struct HeldChunk {
    Dir dir;
    uint64_t frame;
    Bytes data;
  };
  std::vector<HeldChunk> midstream_held;
  size_t midstream_bytes = 0;

  // TCP
  std::array<TcpStream, 2> tcp;
  std::array<TlsFramer, 2> tls;
  // TLS / DTLS hello facts
  HelloInfo hello;
  std::array<HelloParser, 2> hello_parser{HelloParser(false), HelloParser(false)};
  std::array<bool, 2> tls12_ccs{};  // TLS 1.2: ChangeCipherSpec seen in this direction
  // TLS 1.2 renegotiation: client randoms of the encrypted ClientHellos the TLS decryptor
  // read (their key log entries are used even though no plaintext hello names them).
  std::vector<std::array<uint8_t, 32>> renegotiated_randoms;
  std::array<uint64_t, 2> plain_seq{};
  // QUIC
  QuicConn* quic = nullptr;

  // The protocol handler's own per-flow state (see record_sink.h).
  std::unique_ptr<FlowState> state;

  Dir dir_of(const FiveTuple& t) const {
    return (t.src == client && t.sport == client_port) ? Dir::client : Dir::server;
  }
  std::string label() const;  // "tcp 10.0.0.1:51000 > 10.0.0.2:443"
};

class FlowTable {
 public:
  // Finds or creates the flow of `t`. `syn` = SYN without ACK, `synack` = SYN with ACK.
  Flow& lookup(const FiveTuple& t, bool syn, bool synack, uint64_t frame, Dir& dir);
  size_t size() const { return flows_.size(); }
  const std::vector<std::unique_ptr<Flow>>& all() const { return flows_; }
  std::vector<std::unique_ptr<Flow>>& all() { return flows_; }

 private:
  struct Key {
    IpAddr a, b;
    uint16_t pa = 0, pb = 0;
    uint8_t proto = 0;
    bool operator==(const Key& o) const {
      return proto == o.proto && pa == o.pa && pb == o.pb && a == o.a && b == o.b;
    }
  };
  struct Hash {
    size_t operator()(const Key& k) const;
  };
  std::unordered_map<Key, uint32_t, Hash> index_;
  std::vector<std::unique_ptr<Flow>> flows_;
  Key last_key_{};
  uint32_t last_idx_ = UINT32_MAX;
};

}  // namespace rl::replay
