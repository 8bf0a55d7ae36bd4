// THE SEAM between the input side (capture, reassembly, detection, framing) and the
// protocol decryptors. The driver (replay.h) cuts the capture into protocol units and calls
// one RecordSink method per unit; a sink answers with one Verdict per unit through the
// VerdictSink it is handed. The base class below is what runs when no decryptor is linked:
// it reports every protected unit as no_key (nothing in the key files for it) or skipped
// (keys present, no decryptor), and unprotected ones as not_protected with their length and
// SHA-256. A protocol's glue subclasses RecordSink, overrides its own method(s) and is
// registered with Replayer::set_sink(Proto::…, &sink).
//
// Every unit carries its attribution, already final: `frame` (1-based frame that delivered
// its last byte) and `index` (0-based among all units completing in that frame). The bytes
// are a private mutable copy: decrypt in place (they live until flush(), see below).
// Per-flow state goes in Flow::state.
#pragma once
#include <cstdint>
#include <optional>
#include <span>

#include "tools/replay/datagram_framing.h"
#include "tools/replay/detect.h"
#include "tools/replay/flows.h"
#include "tools/replay/keys.h"
#include "tools/replay/verdict.h"

namespace rl::replay {

struct UnitContext {
  Flow* flow = nullptr;
  Dir dir = Dir::client;
  uint64_t frame = 0;
  uint32_t index = 0;
};

// A TLS record reassembled from the TCP stream (5-byte header + fragment).
struct TlsRecord {
  UnitContext ctx;
  uint8_t type = 0;              // outer content type
  uint16_t version = 0;          // legacy_record_version
  std::span<uint8_t> wire;       // header + fragment, mutable copy
  std::span<uint8_t> fragment;   // wire minus the header
  uint64_t stream_offset = 0;    // of the header, in this direction's stream
  // The framing's view of protection: TLS 1.3 (ServerHello said so): outer type 23;
  // otherwise (TLS 1.2 or not yet known): type 23, or anything after this direction's
  // ChangeCipherSpec. The decryptor may know better (it sees KeyUpdate, alerts...).
  bool is_protected = false;
  const char* proto = "tls";     // tls13 / tls12 from the hellos, "tls" when unknown
  uint64_t plain_seq = 0;        // count of unprotected records before this one, this direction
};

// One DTLS record of a datagram (several may share one).
struct DtlsRecord {
  UnitContext ctx;
  DtlsRecordInfo info;           // header fields; info.wire/fragment point into `wire`
  std::span<uint8_t> wire;
  bool is_protected = false;     // unified header, or epoch > 0
  const char* proto = "dtls12";  // dtls13 when the ServerHello selected 0xfefc
};

// One QUIC packet of a datagram (coalesced packets are split; index = position).
struct QuicPacket {
  UnitContext ctx;
  QuicPacketInfo info;           // header fields; info.wire points into `wire`
  std::span<uint8_t> wire;
  QuicConn* conn = nullptr;      // connection by CID (original DCID for Initial keys)
  // For CIDs learned after decryption (NEW_CONNECTION_ID): tracker->add_cid(*conn, dir, cid).
  QuicTracker* tracker = nullptr;
};

struct SrtpPacket {
  UnitContext ctx;
  bool rtcp = false;
  uint32_t ssrc = 0;
  uint16_t seq = 0;              // RTP sequence number (RTP only)
  std::span<uint8_t> wire;       // the whole UDP payload
  const SrtpKey* key = nullptr;  // from --srtp-keys, nullptr if none
};

struct EspPacket {
  UnitContext ctx;
  bool udp_encap = false;        // RFC 3948 (the non-ESP marker/keepalive never get here)
  uint32_t spi = 0, seq = 0;     // low 32 bits of the sequence number, as on the wire
  std::span<uint8_t> wire;       // from the SPI to the end of the ICV
  const IpAddr* src = nullptr;
  const IpAddr* dst = nullptr;
  const XfrmState* sa = nullptr; // from --xfrm, nullptr if none
};

// One WireGuard message, the whole UDP payload (the WireGuard paper §5.4): handshake
// initiation (type 1), response (2), cookie reply (3) or transport data (4). The type and
// length were checked (rl::wireguard::message_type); the fields are the wire's (LE32/LE64).
struct WgMessage {
  UnitContext ctx;
  uint32_t type = 0;
  std::optional<uint32_t> sender_index;    // initiation, response: the sender's own index
  std::optional<uint32_t> receiver_index;  // response, cookie reply, transport data
  uint64_t counter = 0;                    // transport data: the nonce counter (§5.4.6)
  std::span<uint8_t> wire;                 // the whole message, mutable copy
};

// One OpenVPN datagram, the whole UDP payload: the opcode (high five bits of its first
// byte) and key_id (low three) are the wire's; data packets (P_DATA_V1 6, P_DATA_V2 9)
// were checked to hold at least their header and tag.
struct OvpnPacket {
  UnitContext ctx;
  uint8_t opcode = 0, key_id = 0;
  std::span<uint8_t> wire;  // mutable copy
};

class RecordSink {
 public:
  explicit RecordSink(const Keys& keys) : keys_(keys) {}
  virtual ~RecordSink() = default;

  virtual void on_tls_record(const TlsRecord& r, VerdictSink& out);
  // A hole in the TCP stream: the TLS framing lost sync; a decryptor's record counter
  // for this direction is now unknown.
  virtual void on_stream_gap(Flow& flow, Dir dir, uint64_t offset, uint64_t len, uint64_t frame);
  virtual void on_dtls_record(const DtlsRecord& r, VerdictSink& out);
  virtual void on_quic_packet(const QuicPacket& p, VerdictSink& out);
  virtual void on_srtp_packet(const SrtpPacket& p, VerdictSink& out);
  virtual void on_esp_packet(const EspPacket& p, VerdictSink& out);
  virtual void on_wg_message(const WgMessage& m, VerdictSink& out);
  virtual void on_ovpn_packet(const OvpnPacket& p, VerdictSink& out);
  // End of capture (report keys that never matched, flush state...).
  virtual void finish(Diag& diag);
  // A sink may hold verdicts back (to open several units as one burst) and emit them here.
  // Until the driver calls flush, the units' bytes stay valid and untouched (and their
  // Flow / QuicConn pointers too); the driver calls it before any other verdict is
  // emitted (another sink's, a malformed unit's), when its buffer of unit copies is full,
  // and at the end of the capture, so verdicts still come out in capture order.
  virtual void flush(VerdictSink& out);
  // Whether flush() has anything to emit (units whose bytes the driver must keep).
  virtual bool holding() const { return false; }

  // A verdict with frame/index/flow/dir/proto/wire_len filled from the unit.
  static Verdict base_verdict(const UnitContext& c, const char* proto, size_t wire_len);

 protected:
  const Keys& keys_;
};

}  // namespace rl::replay
