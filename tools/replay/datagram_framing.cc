#include "tools/replay/datagram_framing.h"

#include "core/bytes.h"

namespace rl::replay {

bool plausible_dtls_header(ByteSpan b) {
  if (b.size() < 13) return false;
  const uint16_t v = load_be16(b.data() + 1);
  return b[0] >= 20 && b[0] <= 25 && (v == 0xfeff || v == 0xfefd || v == 0xfefc) &&
         13u + load_be16(b.data() + 11) <= b.size();
}

DtlsSplit split_dtls(ByteSpan d, size_t cid_len, std::vector<DtlsRecordInfo>& out,
                     size_t& bad_offset) {
  size_t pos = 0;
  while (pos < d.size()) {
    ByteSpan b = d.subspan(pos);
    DtlsRecordInfo r;
    if ((b[0] & 0xe0) == 0x20) {
      // Unified header 0b001CSLEE: C = CID present, S = 16-bit sequence number,
      // L = length present, EE = low bits of the epoch.
      r.unified = true;
      r.has_cid = b[0] & 0x10;
      r.seq_len = (b[0] & 0x08) ? 2 : 1;
      const bool has_len = b[0] & 0x04;
      r.epoch = b[0] & 0x03;
      if (r.has_cid && cid_len == 0) {  // unknown CID length: the record runs to the end
        r.wire = b;
        r.fragment = b.subspan(1);
        out.push_back(r);
        return DtlsSplit::ok;
      }
      size_t h = 1 + (r.has_cid ? cid_len : 0) + r.seq_len;
      if (b.size() < h + (has_len ? 2 : 0)) {
        bad_offset = pos;
        return DtlsSplit::malformed;
      }
      size_t len = b.size() - h;
      if (has_len) {
        len = load_be16(b.data() + h);
        h += 2;
        if (b.size() < h + len) {
          bad_offset = pos;
          return DtlsSplit::malformed;
        }
      }
      r.wire = b.first(h + len);
      r.fragment = r.wire.subspan(h);
    } else if (b[0] == 25 && b.size() >= 13 && (load_be16(b.data() + 1) == 0xfefd ||
                                                 load_be16(b.data() + 1) == 0xfeff)) {
      // RFC 9146 §4: type, version, epoch, sequence number, cid, length.
      r.type = 25;
      r.has_cid = true;
      r.version = load_be16(b.data() + 1);
      r.epoch = load_be16(b.data() + 3);
      r.seq = load_be48(b.data() + 5);
      if (cid_len == 0) {
        r.wire = b;
        r.fragment = b.subspan(11);
        out.push_back(r);
        return DtlsSplit::ok;
      }
      const size_t h = 11 + cid_len + 2;
      if (b.size() < h || b.size() - h < load_be16(b.data() + h - 2)) {
        bad_offset = pos;
        return DtlsSplit::malformed;
      }
      r.cid = b.subspan(11, cid_len);
      r.wire = b.first(h + load_be16(b.data() + h - 2));
      r.fragment = r.wire.subspan(h);
    } else if (plausible_dtls_header(b)) {
      r.type = b[0];
      r.version = load_be16(b.data() + 1);
      r.epoch = load_be16(b.data() + 3);
      r.seq = load_be48(b.data() + 5);
      r.wire = b.first(13u + load_be16(b.data() + 11));
      r.fragment = r.wire.subspan(13);
    } else {
      bad_offset = pos;
      return DtlsSplit::malformed;
    }
    out.push_back(r);
    pos += r.wire.size();
  }
  return DtlsSplit::ok;
}

bool read_varint(ByteSpan& b, uint64_t& v) {
  if (b.empty()) return false;
  const size_t n = size_t{1} << (b[0] >> 6);
  if (b.size() < n) return false;
  v = b[0] & 0x3f;
  for (size_t i = 1; i < n; ++i) v = v << 8 | b[i];
  b = b.subspan(n);
  return true;
}

bool quic_version_known(uint32_t v) {
  return v == kQuicV1 || v == kQuicV2 || (v >= 0xff00001d && v <= 0xff000022);
}

QuicSplit split_quic(ByteSpan d, size_t short_dcid_len, std::vector<QuicPacketInfo>& out,
                     size_t& bad_offset) {
  size_t pos = 0;
  while (pos < d.size()) {
    ByteSpan b = d.subspan(pos);
    QuicPacketInfo p;
    if (b[0] == 0 && pos > 0) return QuicSplit::padding;  // zeros after the last packet
    if (b[0] & 0x80) {
      if (b.size() < 7) {
        bad_offset = pos;
        return QuicSplit::malformed;
      }
      p.version = load_be32(b.data() + 1);
      ByteSpan r = b.subspan(5);
      const size_t dl = r[0];
      if (dl > 255 || r.size() < 1 + dl + 1) {
        bad_offset = pos;
        return QuicSplit::malformed;
      }
      p.dcid = r.subspan(1, dl);
      r = r.subspan(1 + dl);
      const size_t sl = r[0];
      if (r.size() < 1 + sl) {
        bad_offset = pos;
        return QuicSplit::malformed;
      }
      p.scid = r.subspan(1, sl);
      r = r.subspan(1 + sl);
      if (p.version == 0) {  // Version Negotiation: the rest is a version list
        p.type = QuicType::version_negotiation;
        p.wire = b;
        out.push_back(p);
        return QuicSplit::ok;
      }
      // The fixed bit (0x40) is not checked: peers that negotiated grease_quic_bit
      // (RFC 9287, ngtcp2 does) send it as 0.
      if (!quic_version_known(p.version) || dl > 20 || sl > 20) {
        bad_offset = pos;
        return QuicSplit::malformed;
      }
      const uint8_t bits = (b[0] >> 4) & 3;
      static constexpr QuicType v1types[4] = {QuicType::initial, QuicType::zero_rtt,
                                              QuicType::handshake, QuicType::retry};
      static constexpr QuicType v2types[4] = {QuicType::retry, QuicType::initial,
                                              QuicType::zero_rtt, QuicType::handshake};
      p.type = p.version == kQuicV2 ? v2types[bits] : v1types[bits];
      if (p.type == QuicType::retry) {
        p.wire = b;
        out.push_back(p);
        return QuicSplit::ok;
      }
      uint64_t v = 0;
      if (p.type == QuicType::initial) {
        if (!read_varint(r, v) || r.size() < v) {
          bad_offset = pos;
          return QuicSplit::malformed;
        }
        p.token = r.first(static_cast<size_t>(v));
        r = r.subspan(static_cast<size_t>(v));
      }
      if (!read_varint(r, v) || r.size() < v || v < 1) {
        bad_offset = pos;
        return QuicSplit::malformed;
      }
      p.pn_offset = static_cast<size_t>(r.data() - b.data());
      p.wire = b.first(p.pn_offset + static_cast<size_t>(v));
      out.push_back(p);
      pos += p.wire.size();
      continue;
    }
    if (b.size() < 1 + short_dcid_len + 1) {
      bad_offset = pos;
      return QuicSplit::malformed;
    }
    p.type = QuicType::one_rtt;
    p.dcid = b.subspan(1, short_dcid_len);
    p.pn_offset = 1 + short_dcid_len;
    p.wire = b;
    out.push_back(p);
    return QuicSplit::ok;
  }
  return QuicSplit::ok;
}

}  // namespace rl::replay
