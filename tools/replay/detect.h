// What a flow carries, decided from its content and from the keys the user gave, unless a
// --proto PORTSPEC=PROTO rule says so. QUIC connections are tracked by connection ID so that
// short-header packets (which carry no length of their DCID) are matched to a connection
// learned from long headers, also after a change of address.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "tools/replay/common.h"
#include "tools/replay/datagram_framing.h"
#include "tools/replay/flows.h"

namespace rl::replay {

// --proto udp/5004=srtp, tcp/8443=tls, udp/4433-4440=dtls, udp/443=quic, udp/4501=esp,
// udp/51820=wireguard, udp/1194=openvpn
struct PortRule {
  uint8_t ip_proto = 0;  // 6 or 17
  uint16_t lo = 0, hi = 0;
  Proto proto = Proto::unknown;
};
// Parses "udp/5004=srtp" (also "tcp/443", port ranges "a-b"); err says what is wrong.
bool parse_port_rule(std::string_view spec, PortRule& out, std::string& err);

// What the key files tell detection.
struct KeyHints {
  std::set<uint32_t> esp_spis;
  std::set<uint16_t> esp_udp_ports{4500};  // RFC 3948; plus encap ports from `ip xfrm state`
  std::set<uint32_t> ssrcs;
  std::vector<std::pair<IpAddr, uint16_t>> srtp_dsts;  // dst=<ip>:<port>
  // --wg-keylog given: WireGuard is found by content (looks_like_wireguard). Without keys
  // only a --proto rule says so: four bytes and a length are too weak a sign on their own.
  bool wireguard = false;
  // --ovpn-keys given: OpenVPN is found by content (looks_like_openvpn); without keys on
  // port 1194 only.
  bool openvpn = false;
};

struct QuicConn {
  uint32_t id = 0;
  uint32_t version = 0;
  Bytes original_dcid;    // the client's first Initial DCID: Initial keys come from it
  // CIDs each side uses for itself (bytes kept in std::string: cheap, ordered)
  std::set<std::string> client_cids, server_cids;
  uint64_t first_frame = 0;
};

class QuicTracker {
 public:
  // Learns from a long-header packet sent in direction `dir` of `flow`.
  QuicConn* on_long(const QuicPacketInfo& p, Flow& flow, Dir dir, uint64_t frame);
  // Finds the connection of a short-header datagram by its DCID prefix; sets dcid_len.
  QuicConn* match_short(ByteSpan dgram, size_t& dcid_len) const;
  // The DCID length to use for short headers sent in direction `dir` on a known connection.
  bool short_dcid_len(const QuicConn& c, Dir dir, ByteSpan dgram, size_t& len) const;
  // For the QUIC glue: CIDs issued later in NEW_CONNECTION_ID frames (encrypted).
  void add_cid(QuicConn& c, Dir owner, ByteSpan cid);
  size_t size() const { return conns_.size(); }
  const std::vector<std::unique_ptr<QuicConn>>& all() const { return conns_; }

 private:
  std::vector<std::unique_ptr<QuicConn>> conns_;
  std::map<std::string, QuicConn*, std::less<>> by_cid_;  // every known CID (both sides) -> connection
  std::set<size_t> cid_lens_;
};

enum class EspUdpKind { esp, non_esp_marker, keepalive, malformed };
// RFC 3948 §2.2/§2.3 demultiplexing of a UDP-encapsulated ESP port.
EspUdpKind classify_esp_udp(ByteSpan payload);
// RTP (RFC 3550 §5.1) / RTCP (RFC 5761 §4: packet types 192..223) by version bits.
bool rtp_version_ok(ByteSpan p);
bool is_rtcp(ByteSpan p);
uint32_t rtp_ssrc(ByteSpan p);  // RTP: bytes 8..11; RTCP: bytes 4..7 (caller checked length)
// A WireGuard message (the WireGuard paper §5.4): a little-endian type 1..4 whose three
// reserved bytes are zero, with its fixed length (148 / 92 / 64) or, for transport data,
// at least a header and a tag (rl::wireguard::message_type).
bool looks_like_wireguard(ByteSpan p);
// An OpenVPN 2.x UDP datagram: opcode 4..10 (control, ack, data, hard resets).
bool looks_like_openvpn(ByteSpan p);
// First bytes of a TCP stream that look like a TLS record.
bool looks_like_tls_stream(ByteSpan first);

class Detector {
 public:
  Detector(std::vector<PortRule> rules, KeyHints hints)
      : rules_(std::move(rules)), hints_(std::move(hints)) {}
  // --proto rule for this tuple, if any.
  Proto rule_for(const FiveTuple& t) const;
  // A UDP datagram of a flow whose protocol is not decided yet: decide if possible.
  Proto detect_udp(const FiveTuple& t, ByteSpan payload, const QuicTracker& quic) const;
  Proto detect_tcp(ByteSpan first) const { return looks_like_tls_stream(first) ? Proto::tls : Proto::unknown; }
  const KeyHints& hints() const { return hints_; }

 private:
  std::vector<PortRule> rules_;
  KeyHints hints_;
};

}  // namespace rl::replay
