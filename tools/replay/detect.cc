#include "tools/replay/detect.h"

#include <algorithm>

#include "core/bytes.h"
#include "core/wireguard.h"
#include "tools/replay/tls_framing.h"

namespace rl::replay {

namespace {
std::string_view cid_view(ByteSpan b) {
  return std::string_view(reinterpret_cast<const char*>(b.data()), b.size());
}
std::string cid_key(ByteSpan b) { return std::string(cid_view(b)); }
}  // namespace

bool parse_port_rule(std::string_view spec, PortRule& out, std::string& err) {
  const size_t eq = spec.find('=');
  const size_t sl = spec.find('/');
  if (eq == std::string_view::npos || sl == std::string_view::npos || sl > eq) {
    err = "expected PROTO/PORT[-PORT]=NAME, e.g. udp/5004=srtp";
    return false;
  }
  std::string_view l4 = spec.substr(0, sl), ports = spec.substr(sl + 1, eq - sl - 1),
                   name = spec.substr(eq + 1);
  PortRule r;
  if (l4 == "udp") r.ip_proto = 17;
  else if (l4 == "tcp") r.ip_proto = 6;
  else {
    err = "transport must be udp or tcp, not '" + std::string(l4) + "'";
    return false;
  }
  uint64_t lo = 0, hi = 0;
  const size_t dash = ports.find('-');
  if (!parse_uint(ports.substr(0, dash), lo) ||
      !parse_uint(dash == std::string_view::npos ? ports.substr(0, dash) : ports.substr(dash + 1), hi) ||
      lo == 0 || hi > 65535 || lo > hi) {
    err = "bad port or port range '" + std::string(ports) + "'";
    return false;
  }
  r.lo = static_cast<uint16_t>(lo);
  r.hi = static_cast<uint16_t>(hi);
  if (name == "tls") r.proto = Proto::tls;
  else if (name == "dtls") r.proto = Proto::dtls;
  else if (name == "quic") r.proto = Proto::quic;
  else if (name == "srtp" || name == "srtcp" || name == "rtp") r.proto = Proto::srtp;
  else if (name == "esp") r.proto = Proto::esp_udp;
  else if (name == "wireguard" || name == "wg") r.proto = Proto::wireguard;
  else if (name == "openvpn" || name == "ovpn") r.proto = Proto::openvpn;
  else if (name == "none" || name == "ignore") r.proto = Proto::unknown;
  else {
    err = "unknown protocol '" + std::string(name) + "' (tls, dtls, quic, srtp, esp, wireguard, openvpn, none)";
    return false;
  }
  if (r.ip_proto == 6 && r.proto != Proto::tls && r.proto != Proto::unknown) {
    err = "only tls (or none) can be carried over tcp";
    return false;
  }
  if (r.ip_proto == 17 && r.proto == Proto::tls) {
    err = "tls runs over tcp; for udp say dtls";
    return false;
  }
  out = r;
  return true;
}

EspUdpKind classify_esp_udp(ByteSpan p) {
  if (p.size() == 1 && p[0] == 0xff) return EspUdpKind::keepalive;  // RFC 3948 §2.3
  if (p.size() >= 4 && load_be32(p.data()) == 0) return EspUdpKind::non_esp_marker;  // IKE
  if (p.size() < 8) return EspUdpKind::malformed;  // SPI + sequence number at least
  return EspUdpKind::esp;
}

bool rtp_version_ok(ByteSpan p) { return p.size() >= 8 && (p[0] >> 6) == 2; }
bool is_rtcp(ByteSpan p) { return p.size() >= 8 && p[1] >= 192 && p[1] <= 223; }
uint32_t rtp_ssrc(ByteSpan p) {
  if (is_rtcp(p)) return load_be32(p.data() + 4);
  return p.size() >= 12 ? load_be32(p.data() + 8) : 0;
}

bool looks_like_wireguard(ByteSpan p) { return wireguard::message_type(p) != 0; }

bool looks_like_openvpn(ByteSpan p) {
  // What a UDP flow of OpenVPN 2.x starts with, or carries once under way: a hard reset
  // (P_CONTROL_HARD_RESET_CLIENT_V2 7, _SERVER_V2 8, _CLIENT_V3 10), P_CONTROL_V1 (4),
  // P_ACK_V1 (5) or data (P_DATA_V1 6, P_DATA_V2 9), at least an opcode byte and a
  // session ID or packet ID.
  if (p.size() < 9) return false;
  switch (p[0] >> 3) {
    case 4: case 5: case 6: case 7: case 8: case 9: case 10: return true;
    default: return false;
  }
}

bool looks_like_tls_stream(ByteSpan b) {
  // A handshake (or, mid-stream, any) record header.
  return b.size() >= kTlsHeaderLen && plausible_tls_header(b.data());
}

Proto Detector::rule_for(const FiveTuple& t) const {
  for (const PortRule& r : rules_) {
    if (r.ip_proto != t.proto) continue;
    if ((t.sport >= r.lo && t.sport <= r.hi) || (t.dport >= r.lo && t.dport <= r.hi)) return r.proto;
  }
  return Proto::count;  // no rule
}

Proto Detector::detect_udp(const FiveTuple& t, ByteSpan p, const QuicTracker& quic) const {
  if (p.empty()) return Proto::unknown;
  // Keys first: what the user gave keys for is what they want decrypted.
  if (hints_.esp_udp_ports.count(t.sport) || hints_.esp_udp_ports.count(t.dport)) {
    return Proto::esp_udp;
  }
  for (auto& [ip, port] : hints_.srtp_dsts)
    if ((ip == t.dst && port == t.dport) || (ip == t.src && port == t.sport)) return Proto::srtp;
  if (rtp_version_ok(p) && (p.size() >= 12 || is_rtcp(p)) && hints_.ssrcs.count(rtp_ssrc(p)))
    return Proto::srtp;
  // With WireGuard keys given. A first byte of 1..4 is no DTLS content type, no QUIC long
  // header and no RTP version 2, so this takes nothing from the checks below but a QUIC
  // short header with a greased fixed bit (RFC 9287) that also has a WireGuard length.
  if (hints_.wireguard && looks_like_wireguard(p)) return Proto::wireguard;
  // With OpenVPN keys given, or on its IANA port. Opcodes 4..10 make first bytes
  // 0x20..0x57: no DTLS content type (20..25), no QUIC long header; a QUIC short header
  // (0x40..0x7f) on a flow whose first datagram it is cannot be told apart, so the
  // content test runs only with keys.
  if ((hints_.openvpn || t.sport == 1194 || t.dport == 1194) && looks_like_openvpn(p)) return Proto::openvpn;
  if (plausible_dtls_header(p)) return Proto::dtls;
  if ((p[0] & 0xc0) == 0xc0 && p.size() >= 7 && quic_version_known(load_be32(p.data() + 1)))
    return Proto::quic;
  if ((p[0] & 0x80) == 0) {  // short header; the fixed bit may be greased (RFC 9287)
    size_t l = 0;
    if (quic.match_short(p, l)) return Proto::quic;
  }
  return Proto::unknown;
}

QuicConn* QuicTracker::on_long(const QuicPacketInfo& p, Flow& flow, Dir dir, uint64_t frame) {
  if (p.type == QuicType::version_negotiation) return flow.quic;
  QuicConn* c = flow.quic;
  if (!c) {
    auto it = by_cid_.find(cid_view(p.dcid));
    if (it != by_cid_.end()) c = it->second;
  }
  if (!c && !p.scid.empty()) {
    auto it = by_cid_.find(cid_view(p.scid));
    if (it != by_cid_.end()) c = it->second;
  }
  if (!c) {
    if (dir != Dir::client || p.type != QuicType::initial) return nullptr;
    conns_.push_back(std::make_unique<QuicConn>());
    c = conns_.back().get();
    c->id = static_cast<uint32_t>(conns_.size());
    c->version = p.version;
    c->original_dcid.assign(p.dcid.begin(), p.dcid.end());
    c->first_frame = frame;
  }
  flow.quic = c;
  // The sender's SCID is what the peer will put in its short-header DCIDs.
  add_cid(*c, dir, p.scid);
  return c;
}

void QuicTracker::add_cid(QuicConn& c, Dir owner, ByteSpan cid) {
  std::string b = cid_key(cid);
  (owner == Dir::client ? c.client_cids : c.server_cids).insert(b);
  cid_lens_.insert(b.size());
  by_cid_[std::move(b)] = &c;
}

QuicConn* QuicTracker::match_short(ByteSpan d, size_t& len) const {
  // Longest known length first: a shorter CID could be a prefix of a longer one.
  // Zero-length CIDs match anything: those connections are found by 5-tuple only.
  for (auto it = cid_lens_.rbegin(); it != cid_lens_.rend(); ++it) {
    if (*it == 0 || d.size() < 1 + *it) continue;
    auto f = by_cid_.find(cid_view(d.subspan(1, *it)));
    if (f != by_cid_.end()) {
      len = *it;
      return f->second;
    }
  }
  return nullptr;
}

bool QuicTracker::short_dcid_len(const QuicConn& c, Dir dir, ByteSpan d, size_t& len) const {
  // A packet from the client carries a server CID, and the other way round.
  const auto& cids = dir == Dir::client ? c.server_cids : c.client_cids;
  size_t best = SIZE_MAX;
  for (const std::string& cid : cids) {
    if (d.size() >= 1 + cid.size() && cid == cid_view(d.subspan(1, cid.size())) &&
        (best == SIZE_MAX || cid.size() > best))
      best = cid.size();
  }
  if (best == SIZE_MAX) {
    // A CID we did not learn (issued in an encrypted NEW_CONNECTION_ID frame): endpoints
    // use one length for all their CIDs in practice, so take it if it is unambiguous.
    if (cids.empty()) return false;
    const size_t l = cids.begin()->size();
    for (const std::string& cid : cids)
      if (cid.size() != l) return false;
    len = l;
    return true;
  }
  len = best;
  return true;
}

}  // namespace rl::replay
