// Cutting one UDP datagram into the protocol units it carries: DTLS records (RFC 6347 §4.1,
// RFC 9147 §4) and coalesced QUIC packets (RFC 9000 §12.2, §17; RFC 9369 §3.2 for v2 types).
// Only cleartext header fields are read; nothing here needs a key.
#pragma once
#include <cstdint>
#include <vector>

#include "tools/replay/common.h"

namespace rl::replay {

struct DtlsRecordInfo {
  ByteSpan wire;          // the whole record
  ByteSpan fragment;      // content (ciphertext if protected)
  bool unified = false;   // DTLS 1.3 unified header (RFC 9147 §4)
  uint8_t type = 0;       // content type (plaintext header), 0 for unified
  uint16_t version = 0;   // plaintext header only
  uint16_t epoch = 0;     // plaintext: full epoch; unified: the low two bits
  uint64_t seq = 0;       // plaintext: 48-bit sequence number; unified: encrypted, not read
  bool has_cid = false;   // unified C bit; or a DTLS 1.2 tls12_cid record (type 25)
  ByteSpan cid;           // tls12_cid record: the connection ID in its header
  uint8_t seq_len = 0;    // unified: 1 or 2
};

enum class DtlsSplit { ok, malformed };
// Appends each record of `dgram`. Unified headers with a connection ID, and DTLS 1.2
// tls12_cid records (RFC 9146 §4: type 25, the CID between sequence number and length),
// need its length (negotiated in the handshake): `cid_len` (0 when unknown; such a record
// is then taken to run to the end of the datagram).
DtlsSplit split_dtls(ByteSpan dgram, size_t cid_len, std::vector<DtlsRecordInfo>& out,
                     size_t& bad_offset);
// A plaintext DTLS record header (13 bytes): type 20..25, version 0xfeff/0xfefd/0xfefc.
bool plausible_dtls_header(ByteSpan b);

enum class QuicType : uint8_t { initial, zero_rtt, handshake, retry, version_negotiation, one_rtt };
constexpr const char* to_string(QuicType t) {
  switch (t) {
    case QuicType::initial: return "initial";
    case QuicType::zero_rtt: return "0rtt";
    case QuicType::handshake: return "handshake";
    case QuicType::retry: return "retry";
    case QuicType::version_negotiation: return "version_negotiation";
    case QuicType::one_rtt: return "1rtt";
  }
  return "?";
}

struct QuicPacketInfo {
  ByteSpan wire;            // the whole packet (header protection still applied)
  QuicType type = QuicType::one_rtt;
  uint32_t version = 0;     // long header only
  ByteSpan dcid, scid;      // scid: long header only
  ByteSpan token;           // Initial only
  size_t pn_offset = 0;     // offset of the (protected) packet number in wire
};

constexpr uint32_t kQuicV1 = 0x00000001, kQuicV2 = 0x6b3343cf;
bool quic_version_known(uint32_t v);  // v1, v2, drafts 29..34

enum class QuicSplit { ok, malformed, padding };
// Appends each packet of `dgram`. A short-header packet takes the rest of the datagram and
// needs its DCID length (`short_dcid_len`, from connection tracking). Trailing zero bytes
// after a packet are padding, not a packet.
QuicSplit split_quic(ByteSpan dgram, size_t short_dcid_len, std::vector<QuicPacketInfo>& out,
                     size_t& bad_offset);
// RFC 9000 §16 variable-length integer; false if cut short.
bool read_varint(ByteSpan& b, uint64_t& v);

}  // namespace rl::replay
