#include "tools/replay/record_sink.h"

#include "core/bytes.h"
#include "core/openvpn.h"
#include "core/wireguard.h"

namespace rl::replay {

Verdict RecordSink::base_verdict(const UnitContext& c, const char* proto, size_t wire_len) {
  Verdict v;
  v.frame = c.frame;
  v.index = c.index;
  v.proto = proto;
  v.dir = to_string(c.dir);
  v.flow = c.flow ? c.flow->id : 0;
  v.wire_len = static_cast<uint32_t>(wire_len);
  return v;
}

void RecordSink::on_tls_record(const TlsRecord& r, VerdictSink& out) {
  Verdict v = base_verdict(r.ctx, r.proto, r.wire.size());
  if (!r.is_protected) {
    v.set_status(Status::not_protected);
    v.epoch = 0;
    v.seq = r.plain_seq;
    v.type = r.type;
    v.set_plaintext(r.fragment);
  } else {
    const HelloInfo& h = r.ctx.flow->hello;
    const bool have = h.have_client_hello && keys_.keylog.find(h.client_random);
    v.status = have ? kSkipped : kNoKey;
  }
  out.emit(v);
}

void RecordSink::on_stream_gap(Flow&, Dir, uint64_t, uint64_t, uint64_t) {}

void RecordSink::on_dtls_record(const DtlsRecord& r, VerdictSink& out) {
  Verdict v = base_verdict(r.ctx, r.proto, r.wire.size());
  if (!r.info.unified) {
    v.epoch = r.info.epoch;
    v.seq = r.info.seq;
  }
  if (!r.is_protected) {
    v.set_status(Status::not_protected);
    v.type = r.info.type;
    v.set_plaintext(r.info.fragment);
  } else {
    const HelloInfo& h = r.ctx.flow->hello;
    const bool have = h.have_client_hello && keys_.keylog.find(h.client_random);
    v.status = have ? kSkipped : kNoKey;
  }
  out.emit(v);
}

void RecordSink::on_quic_packet(const QuicPacket& p, VerdictSink& out) {
  Verdict v = base_verdict(p.ctx, "quic", p.wire.size());
  switch (p.info.type) {
    case QuicType::version_negotiation:
      v.set_status(Status::not_protected);
      break;
    case QuicType::initial:
    case QuicType::retry:
      // Initial keys come from the client's first DCID (RFC 9001 §5.2), Retry tags from a
      // fixed key (§5.8): no key file needed.
      v.status = kSkipped;
      break;
    default:
      // Which key log entry belongs to this connection is only known once the Initial's
      // ClientHello is decrypted; without a decryptor, any key log counts as "have keys".
      v.status = keys_.keylog.size() ? kSkipped : kNoKey;
      break;
  }
  out.emit(v);
}

void RecordSink::on_srtp_packet(const SrtpPacket& p, VerdictSink& out) {
  Verdict v = base_verdict(p.ctx, p.rtcp ? "srtcp" : "srtp", p.wire.size());
  v.dir = spi_text(p.ssrc);
  if (!p.rtcp) v.seq = p.seq;
  v.status = p.key ? kSkipped : kNoKey;
  out.emit(v);
}

void RecordSink::on_esp_packet(const EspPacket& p, VerdictSink& out) {
  Verdict v = base_verdict(p.ctx, "esp", p.wire.size());
  v.dir = spi_text(p.spi);
  v.seq = p.seq;
  v.status = p.sa ? kSkipped : kNoKey;
  out.emit(v);
}

void RecordSink::on_wg_message(const WgMessage& m, VerdictSink& out) {
  Verdict v = base_verdict(m.ctx, "wireguard", m.wire.size());
  v.type = static_cast<int>(m.type);
  if (m.receiver_index) v.epoch = *m.receiver_index;
  if (m.type != wireguard::kTransportData) {
    // Handshake messages travel as they are (their AEAD fields are the handshake's own,
    // not the tunnel's), as a ClientHello does.
    v.set_status(Status::not_protected);
    v.set_plaintext(m.wire);
  } else {
    v.seq = m.counter;
    v.status = keys_.wg.empty() ? kNoKey : kSkipped;
  }
  out.emit(v);
}

void RecordSink::on_ovpn_packet(const OvpnPacket& p, VerdictSink& out) {
  Verdict v = base_verdict(p.ctx, "openvpn", p.wire.size());
  v.type = p.opcode;
  if (p.opcode != openvpn::kDataV1 && p.opcode != openvpn::kDataV2) {
    // The control channel (TLS in OpenVPN's reliability layer, maybe under tls-auth or
    // tls-crypt): not the data channel's keys, passed on as it is.
    v.set_status(Status::not_protected);
    v.set_plaintext(p.wire);
  } else {
    v.epoch = p.key_id;
    v.seq = load_be32(p.wire.data() + (p.opcode == openvpn::kDataV2 ? 4 : 1));
    v.status = keys_.ovpn.empty() ? kNoKey : kSkipped;
  }
  out.emit(v);
}

void RecordSink::finish(Diag&) {}

void RecordSink::flush(VerdictSink&) {}

}  // namespace rl::replay
