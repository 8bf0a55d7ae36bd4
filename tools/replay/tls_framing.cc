#include "tools/replay/tls_framing.h"

#include <algorithm>
#include <cstring>

#include "core/bytes.h"

namespace rl::replay {

bool plausible_tls_header(const uint8_t* h) {
  const uint16_t len = load_be16(h + 3);
  return h[0] >= 20 && h[0] <= 24 && h[1] == 3 && h[2] <= 4 && len <= kTlsMaxRecordLen;
}

namespace {

// The fixed random of a HelloRetryRequest (RFC 8446 §4.1.3): SHA-256("HelloRetryRequest").
constexpr uint8_t kHrrRandom[32] = {0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c,
                                    0x02, 0x1e, 0x65, 0xb8, 0x91, 0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb,
                                    0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};

struct Reader {
  ByteSpan b;
  bool ok = true;
  bool need(size_t n) {
    if (b.size() < n) ok = false;
    return ok;
  }
  uint32_t u(size_t n) {
    if (!need(n)) return 0;
    uint32_t v = static_cast<uint32_t>(load_be(b.data(), n));
    b = b.subspan(n);
    return v;
  }
  ByteSpan bytes(size_t n) {
    if (!need(n)) return {};
    ByteSpan r = b.first(n);
    b = b.subspan(n);
    return r;
  }
  ByteSpan vec(size_t len_bytes) { return bytes(u(len_bytes)); }
};

}  // namespace

bool parse_hello(uint8_t type, ByteSpan body, bool dtls, HelloInfo& info) {
  Reader r{body};
  const uint16_t legacy = static_cast<uint16_t>(r.u(2));
  ByteSpan random = r.bytes(32);
  r.vec(1);  // session id
  if (!r.ok) return false;
  if (type == 1) {
    if (dtls) r.vec(1);  // cookie
    r.vec(2);            // cipher suites
    r.vec(1);            // compression methods
  } else {
    info.cipher_suite = static_cast<uint16_t>(r.u(2));
    r.u(1);
  }
  if (!r.ok) return false;
  uint16_t best = legacy, selected = 0;
  bool etm = false, ems = false, cid_ext = false;
  ByteSpan cid;
  if (!r.b.empty()) {
    Reader ex{r.vec(2)};
    if (!r.ok) return false;
    while (!ex.b.empty() && ex.ok) {
      const uint16_t et = static_cast<uint16_t>(ex.u(2));
      Reader e{ex.vec(2)};
      if (!ex.ok) return false;
      if (et == 43) {  // supported_versions
        if (type == 1) {
          Reader l{e.vec(1)};
          while (l.b.size() >= 2) {
            uint16_t v = static_cast<uint16_t>(l.u(2));
            if ((v & 0x0f0f) == 0x0a0a) continue;  // GREASE (RFC 8701)
            // DTLS versions count down (0xfeff < 0xfefd < 0xfefc is newer).
            bool newer = dtls ? v < best : v > best;
            if (newer) best = v;
          }
        } else {
          selected = static_cast<uint16_t>(e.u(2));
        }
      } else if (et == 22) {
        etm = true;
      } else if (et == 23) {
        ems = true;
      } else if (et == 54 && dtls) {  // RFC 9146 connection_id: opaque cid<0..2^8-1>
        cid = e.vec(1);
        cid_ext = e.ok;
      }
    }
    if (!ex.ok) return false;
  }
  if (type == 1) {
    info.have_client_hello = true;
    std::memcpy(info.client_random.data(), random.data(), 32);
    info.client_legacy_version = legacy;
    info.client_max_version = best;
    info.client_cid_ext = cid_ext;
    info.client_cid.assign(cid.begin(), cid.end());
  } else {
    if (std::memcmp(random.data(), kHrrRandom, 32) == 0) {
      info.hello_retry = true;  // the real ServerHello follows
      return true;
    }
    info.have_server_hello = true;
    std::memcpy(info.server_random.data(), random.data(), 32);
    info.server_legacy_version = legacy;
    info.version = selected ? selected : legacy;
    info.encrypt_then_mac = etm;
    info.extended_master_secret = ems;
    info.server_cid_ext = cid_ext;
    info.server_cid.assign(cid.begin(), cid.end());
  }
  return true;
}

void HelloParser::parse_message(uint8_t type, ByteSpan body, HelloInfo& info) {
  if (type != 1 && type != 2) return;
  if (!parse_hello(type, body, dtls_, info)) {
    done_ = true;  // malformed hello: the decryptor will lack its facts, framing goes on
    return;
  }
  if (type == 1 || info.have_server_hello) done_ = true;  // after an HRR, wait for the real one
}

void HelloParser::on_handshake_record(ByteSpan frag, HelloInfo& info) {
  if (done_) return;
  if (dtls_) {
    // DTLS handshake header: type, length(3), message_seq(2), fragment_offset(3),
    // fragment_length(3). Only whole (unfragmented) hellos are read.
    while (frag.size() >= 12 && !done_) {
      const uint8_t t = frag[0];
      const uint32_t len = load_be24(frag.data() + 1), foff = load_be24(frag.data() + 6),
                     flen = load_be24(frag.data() + 9);
      if (12 + static_cast<size_t>(flen) > frag.size()) return;
      if (foff == 0 && flen == len) parse_message(t, frag.subspan(12, flen), info);
      frag = frag.subspan(12 + flen);
    }
    return;
  }
  if (buf_.size() + frag.size() > 1u << 17) {  // a hello is never this big: give up
    done_ = true;
    return;
  }
  buf_.insert(buf_.end(), frag.begin(), frag.end());
  size_t pos = 0;
  while (buf_.size() - pos >= 4 && !done_) {
    const uint32_t len = load_be24(buf_.data() + pos + 1);
    if (buf_.size() - pos - 4 < len) break;
    parse_message(buf_[pos], ByteSpan(buf_).subspan(pos + 4, len), info);
    pos += 4 + len;
  }
  buf_.erase(buf_.begin(), buf_.begin() + static_cast<ptrdiff_t>(pos));
}

void TlsFramer::feed(ByteSpan data, uint64_t frame, Output& out) {
  // Fast path: nothing buffered, consume whole records straight from `data`.
  size_t pos = 0;
  if (buf_.empty() && synced_) {
    while (data.size() - pos >= kTlsHeaderLen) {
      const uint8_t* h = data.data() + pos;
      if (!plausible_tls_header(h)) break;
      const size_t n = kTlsHeaderLen + load_be16(h + 3);
      if (data.size() - pos < n) break;
      TlsRecordView r;
      r.type = h[0];
      r.version = load_be16(h + 1);
      r.wire = data.subspan(pos, n);
      r.fragment = r.wire.subspan(kTlsHeaderLen);
      r.frame = frame;
      r.stream_offset = offset_ + pos;
      ++records_;
      out.on_record(r);
      pos += n;
    }
  }
  if (pos < data.size()) {
    if (buf_.empty()) buf_off_ = offset_ + pos;
    buf_.insert(buf_.end(), data.begin() + static_cast<ptrdiff_t>(pos), data.end());
  }
  offset_ += data.size();
  // Slow path: records that span chunks, and resynchronisation.
  size_t b = 0;
  for (;;) {
    if (!synced_) {
      if (!resync(out, frame)) break;
      b = 0;
      continue;
    }
    if (buf_.size() - b < kTlsHeaderLen) break;
    const uint8_t* h = buf_.data() + b;
    if (!plausible_tls_header(h)) {
      buf_.erase(buf_.begin(), buf_.begin() + static_cast<ptrdiff_t>(b));
      buf_off_ += b;
      b = 0;
      synced_ = false;
      resync_from_ = 1;
      continue;
    }
    const size_t n = kTlsHeaderLen + load_be16(h + 3);
    if (buf_.size() - b < n) break;
    TlsRecordView r;
    r.type = h[0];
    r.version = load_be16(h + 1);
    r.wire = ByteSpan(buf_).subspan(b, n);
    r.fragment = r.wire.subspan(kTlsHeaderLen);
    r.frame = frame;
    r.stream_offset = buf_off_ + b;
    ++records_;
    out.on_record(r);
    b += n;
  }
  if (b) {
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<ptrdiff_t>(b));
    buf_off_ += b;
  }
}

// buf_ starts with bytes that are not a record header: skip to the next offset where a
// plausible header starts whose record either ends inside the buffer at another plausible
// header or runs past it. Returns true once synced again.
bool TlsFramer::resync(Output& out, uint64_t frame) {
  size_t i = resync_from_;
  for (; i + kTlsHeaderLen <= buf_.size(); ++i) {
    if (!plausible_tls_header(buf_.data() + i)) continue;
    const size_t n = kTlsHeaderLen + load_be16(buf_.data() + i + 3);
    if (i + n + kTlsHeaderLen <= buf_.size() && !plausible_tls_header(buf_.data() + i + n))
      continue;
    break;
  }
  if (i + kTlsHeaderLen > buf_.size()) {
    // No header yet; keep the last 4 bytes (a header may straddle chunks).
    if (buf_.size() >= kTlsHeaderLen) {
      const size_t drop = buf_.size() - (kTlsHeaderLen - 1);
      resync_from_ = 0;
      out.on_unframed(buf_off_, drop, frame, mid_stream_ ? kMidStream : "not a TLS record header");
      buf_.erase(buf_.begin(), buf_.begin() + static_cast<ptrdiff_t>(drop));
      buf_off_ += drop;
    }
    return false;
  }
  if (i) out.on_unframed(buf_off_, i, frame, mid_stream_ ? kMidStream : "not a TLS record header");
  buf_.erase(buf_.begin(), buf_.begin() + static_cast<ptrdiff_t>(i));
  buf_off_ += i;
  synced_ = true;
  mid_stream_ = false;
  return true;
}

void TlsFramer::start_mid_stream() {
  synced_ = false;
  resync_from_ = 0;
  mid_stream_ = true;
}

size_t find_tls_chain(ByteSpan b) {
  for (size_t i = 0; i + kTlsHeaderLen <= b.size(); ++i) {
    if (!plausible_tls_header(b.data() + i)) continue;
    const size_t n = kTlsHeaderLen + load_be16(b.data() + i + 3);
    if (i + n + kTlsHeaderLen <= b.size() && plausible_tls_header(b.data() + i + n) &&
        load_be16(b.data() + i + 1) == load_be16(b.data() + i + n + 1))
      return i;
  }
  return SIZE_MAX;
}

void TlsFramer::gap(uint64_t offset, uint64_t len, uint64_t frame, Output& out) {
  if (!buf_.empty())
    out.on_unframed(buf_off_, buf_.size(), frame,
                    synced_ ? "partial record before a gap in the TCP stream"
                            : "not a TLS record header");
  buf_.clear();
  offset_ = offset + len;
  buf_off_ = offset_;
  // The byte after a gap is rarely a record boundary: look for a header (it may be one).
  synced_ = false;
  resync_from_ = 0;
}

void TlsFramer::finish(uint64_t frame, Output& out) {
  if (!buf_.empty())
    out.on_unframed(buf_off_, buf_.size(), frame,
                    synced_ ? "record cut short at the end of the stream"
                            : mid_stream_ ? kMidStream : "not a TLS record header");
  buf_.clear();
}

}  // namespace rl::replay
