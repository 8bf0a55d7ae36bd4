// TLS record framing over a reassembled TCP stream (RFC 8446 §5.1, RFC 5246 §6.2), and the
// hello facts the decryptors need, read from the plaintext ClientHello/ServerHello
// (TLS and DTLS: RFC 8446 §4.1.2-4.1.3, RFC 6347 §4.2.2, RFC 9147 §5.3).
#pragma once
#include <array>
#include <cstdint>
#include <optional>

#include "tools/replay/common.h"

namespace rl::replay {

// What the plaintext hellos of one connection say.
struct HelloInfo {
  bool have_client_hello = false, have_server_hello = false, hello_retry = false;
  std::array<uint8_t, 32> client_random{}, server_random{};
  uint16_t client_legacy_version = 0, server_legacy_version = 0;
  uint16_t client_max_version = 0;  // highest in supported_versions, else legacy_version
  uint16_t version = 0;             // negotiated: supported_versions if present, else legacy
  uint16_t cipher_suite = 0;
  bool encrypt_then_mac = false, extended_master_secret = false;
  // RFC 9146 connection_id (54) in each hello: the CID that side wants to receive.
  bool client_cid_ext = false, server_cid_ext = false;
  Bytes client_cid, server_cid;
  // DTLS 1.2 with CIDs negotiated (both hellos carry the extension, RFC 9146 §3): records
  // sent by the client carry server_cid, the server's carry client_cid (an empty one
  // means plain records that way).
  bool cid_negotiated() const { return client_cid_ext && server_cid_ext; }
  const Bytes& cid_sent_by(bool client) const { return client ? server_cid : client_cid; }
  // TLS 1.3 / DTLS 1.3 negotiated?
  bool is13() const { return version == 0x0304 || version == 0xfefc; }
};

// Feeds plaintext handshake bytes of one direction; finds ClientHello / ServerHello.
class HelloParser {
 public:
  explicit HelloParser(bool dtls) : dtls_(dtls) {}
  // `fragment`: the content of one plaintext handshake record of this direction.
  void on_handshake_record(ByteSpan fragment, HelloInfo& info);
  bool done() const { return done_; }

 private:
  void parse_message(uint8_t type, ByteSpan body, HelloInfo& info);
  bool dtls_;
  bool done_ = false;
  Bytes buf_;  // TLS only: a hello may span records
};
// Parses one ClientHello (type 1) or ServerHello (type 2) body into info; false if malformed.
bool parse_hello(uint8_t type, ByteSpan body, bool dtls, HelloInfo& info);

// One complete TLS record as it crossed the wire.
struct TlsRecordView {
  uint8_t type = 0;        // outer content type
  uint16_t version = 0;    // legacy_record_version
  ByteSpan fragment;       // the record's content (ciphertext if protected)
  ByteSpan wire;           // header + fragment
  uint64_t frame = 0;      // frame that delivered the last byte
  uint64_t stream_offset = 0;  // offset of the header in this direction's stream
};

// Cuts one direction's byte stream into records. A header that cannot be TLS (bad type,
// version or a length over 2^14 + 2048) loses sync: it is reported once and framing resumes
// at the next plausible header. A gap in the stream drops the partial record.
class TlsFramer {
 public:
  struct Output {
    virtual ~Output() = default;
    virtual void on_record(const TlsRecordView& r) = 0;
    // Bytes that could not be framed (bad header / partial record before a gap).
    virtual void on_unframed(uint64_t stream_offset, uint64_t len, uint64_t frame,
                             const char* why) = 0;
  };
  void feed(ByteSpan data, uint64_t frame, Output& out);
  void gap(uint64_t offset, uint64_t len, uint64_t frame, Output& out);
  void finish(uint64_t frame, Output& out);  // end of stream: report a partial record
  // The capture starts in the middle of this stream: the bytes before the first record
  // header found are the tail of a record never captured, reported with kMidStream.
  void start_mid_stream();
  static constexpr const char* kMidStream = "capture starts mid-stream: tail of a record whose start was not captured";
  uint64_t records() const { return records_; }

 private:
  bool resync(Output& out, uint64_t frame);
  Bytes buf_;             // bytes of an incomplete record (or unsynced bytes)
  uint64_t buf_off_ = 0;  // stream offset of buf_[0]
  uint64_t offset_ = 0;   // stream offset of the next byte fed
  bool synced_ = true;
  size_t resync_from_ = 1;  // 0 after a gap: buf_[0] may itself be a header
  bool mid_stream_ = false;  // not synced yet since the capture began mid-stream
  uint64_t records_ = 0;
};

// A plausible TLS record header (5 bytes): type 20..24, version 3.0..3.4, length ≤ 2^14+2048.
bool plausible_tls_header(const uint8_t* h);
// Offset of the first plausible header in `b` whose record ends inside `b` at another
// plausible header (two chained records: strong evidence of TLS), or SIZE_MAX.
size_t find_tls_chain(ByteSpan b);
inline constexpr size_t kTlsHeaderLen = 5;
inline constexpr size_t kTlsMaxRecordLen = 16384 + 2048;

}  // namespace rl::replay
