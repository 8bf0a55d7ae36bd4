// IPsec ESP record protection (RFC 4303) with the AEAD transforms AES-GCM
// (RFC 4106), AES-GMAC (RFC 4543), ChaCha20-Poly1305 (RFC 7634), their
// implicit-IV variants (RFC 8750), and UDP encapsulation framing (RFC 3948).
//
// One Sa is one direction of one Security Association, named by its SPI. An
// Sadb holds the SAs of one endpoint: outbound SAs are chosen by the caller
// (policy lookup is not ours) and sealed by SPI; inbound packets are routed to
// their SA by the SPI on the wire. Rekeying is make-before-break, as IKEv2 and
// Linux xfrm do it: install the new inbound SPI, move the outbound side to the
// new SA, and remove the old inbound SA when the caller decides late packets
// are over; until then both open.
//
// The wire format (RFC 4303 §2), in place in caller memory:
//   [SPI 4][Seq 4][IV 8, absent with RFC 8750][payload][TFC pad][pad 1,2,3..]
//   [pad len 1][next header 1][ICV 8/12/16]
// Seal takes the payload at [offset, offset+length) and needs header_len()
// bytes of headroom and trailer room (see tailroom_needed()); open leaves the
// payload (inner IP packet in tunnel mode, upper-layer data in transport mode)
// at [offset, offset+length) and reports the next header in OpenInfo.
//
// Not thread-safe: one Sadb, one thread.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/keys.h"
#include "core/packet.h"
#include "core/replay_window.h"
#include "simd/aead_key.h"
#include "simd/jobs.h"
#include "simd/status.h"
#include "simd/suite.h"

namespace rl::esp {

inline constexpr uint8_t kNextHeaderIpv4 = 4;    // IP-in-IP: tunnel mode, IPv4 inside
inline constexpr uint8_t kNextHeaderIpv6 = 41;   // tunnel mode, IPv6 inside
inline constexpr uint8_t kNextHeaderNone = 59;   // dummy packet (RFC 4303 §2.6)
inline constexpr uint16_t kNatTraversalPort = 4500;  // RFC 3948 §2
inline constexpr size_t kSaltLen = 4;            // RFC 4106 §8.1, RFC 4543 §8, RFC 7634 §2
inline constexpr size_t kIvLen = 8;
inline constexpr size_t kMaxBurst = 64;          // packets per AEAD call; longer spans are chunked

enum class Mode : uint8_t { tunnel, transport };

struct SaConfig {
  uint32_t spi = 0;  // 0 is reserved for local use and never sent (RFC 4303 §2.1): refused
  Suite suite = Suite::aes128_gcm;
  // KEYMAT = key ‖ 4-byte salt, as IKEv2 hands it out (RFC 4106 §8.1).
  std::span<const uint8_t> keymat;
  uint8_t icv_len = 16;      // AES-GCM: 8, 12 or 16 (RFC 4106 §6); others: 16
  bool esn = false;          // 64-bit extended sequence numbers (RFC 4303 §2.2.1)
  bool implicit_iv = false;  // RFC 8750: no IV on the wire, nonce = salt ‖ 64-bit seq
                             // (ICV 16, not with GMAC: the registered transforms)
  bool gmac = false;         // RFC 4543 ENCR_NULL_AUTH_AES_GMAC: authenticated, not encrypted
  Mode mode = Mode::tunnel;
  uint32_t replay_window = 64;  // inbound: 32..4096 packets
  // Lifetimes as IKEv2 / xfrm set them: soft/hard packets (records), bytes
  // (payload bytes), seconds since install; max_auth_failures kills the SA.
  // Soft → KeyEvent::soft_limit; hard → key_expired. Events name the SA by
  // SPI (KeyEvent::epoch); the first authenticated packet of an inbound SA
  // queues peer_updated.
  Limits lifetime{};
  // State carried over when an SA moves between hosts (xfrm replay state), and
  // for known-answer tests: the next sequence number to send, the highest
  // sequence number already received (0 = none).
  uint64_t first_seq = 1;
  uint64_t highest_received = 0;
  // Explicit IV = 64-bit sequence number XOR iv_mask. Any constant keeps the
  // IV unique per key (RFC 4106 §3.1); Linux's seqiv uses a random one.
  uint64_t iv_mask = 0;
  // Inbound ESN SAs, RFC 4303 Appendix A3: after every `resync_after`
  // consecutive packets that failed authentication, the last of them is
  // retried with the high half of its sequence number raised by 1, 2, ...
  // `resync_tries` (the sender got more than 2^32 packets ahead, all lost).
  // Selecting one packet in `resync_after` bounds what a flood of forgeries
  // can cost: resync_tries / resync_after extra opens per forgery.
  // resync_after = 0 turns it off.
  uint32_t resync_after = 64;
  uint32_t resync_tries = 8;
};

// Per-packet instructions for seal.
struct SealMeta {
  // Transport mode: the upper-layer protocol (required, not 0 or 59).
  // Tunnel mode: 0 = from the inner IP version (4 → 4, 6 → 41).
  uint8_t next_header = 0;
  bool dummy = false;        // send a dummy packet (next header 59, RFC 4303 §2.6)
  uint32_t tfc_pad_to = 0;   // TFC padding: zero bytes up to this payload size (§2.7)
};

// What open learned about each packet.
struct OpenInfo {
  uint32_t spi = 0;
  uint64_t seq = 0;          // full sequence number (with ESN: reconstructed high half)
  uint8_t next_header = 0;
  uint32_t tfc_stripped = 0; // tunnel mode: bytes after the inner packet's IP length
};

// xfrm-like statistics (ip -s xfrm state).
struct SaCounters {
  uint64_t packets = 0, bytes = 0;  // sealed, or opened and authenticated; payload bytes
  uint64_t replay = 0;              // replayed or left of the window
  uint64_t integrity_failed = 0;    // ICV did not verify
  uint64_t malformed = 0;           // authenticated, but padding/next header broke §2.4
  uint64_t dummy = 0;               // dummy packets received or sent
  uint64_t resync_tries = 0;        // Appendix A3 retries with a raised Seqh
  uint64_t resyncs = 0;             // ... of which one authenticated
};

// RFC 4303 Appendix A2.2: the high half of the sequence number of a packet
// whose low half is `seql`, given the window top T and size W.
struct SeqHi {
  bool valid;   // false: the packet would sit outside the 64-bit space
  uint32_t hi;
};
SeqHi reconstruct_seq_hi(uint64_t top, uint32_t window, uint32_t seql);

class Sa {
 public:
  Sa() = default;
  ~Sa();
  Sa(const Sa&) = delete;
  Sa& operator=(const Sa&) = delete;

  // Refuses bad lengths or combinations with invalid_argument; `now` is the
  // install time on the owner's clock.
  Status install(Direction dir, const SaConfig& cfg, uint64_t now, EventQueue* events);
  void expire();  // wipe the key; the SA then answers key_expired

  bool live() const { return key_.valid(); }
  uint32_t spi() const { return spi_; }
  Direction direction() const { return dir_; }
  Mode mode() const { return mode_; }
  bool esn() const { return esn_; }
  size_t header_len() const { return 8 + iv_len_; }
  size_t icv_len() const { return key_.tag_len(); }
  // Trailer room seal needs after a payload of `payload_len` bytes (TFC excluded).
  size_t tailroom_needed(size_t payload_len) const;
  uint64_t next_seq() const { return next_seq_; }
  const ReplayWindow& replay() const { return window_; }
  const SaCounters& counters() const { return counters_; }
  const Limits& lifetime() const { return limits_; }
  uint64_t installed_at() const { return installed_at_; }

  // Seals a burst in place with consecutive sequence numbers; `meta` is empty
  // (defaults for all) or one per packet. Returns how many are ok.
  size_t seal(std::span<PacketView> pkts, std::span<const SealMeta> meta, uint64_t now);

 private:
  friend class Sadb;
  // The AEAD job that opens the packet at `d` (ESP header first, `body` bytes
  // between header and ICV) as sequence number `seq`. GMAC with ESN borrows
  // the four headroom bytes before `d` (their old value goes to `saved`; the
  // caller restores d[-4..4) after the AEAD call).
  void open_job(uint8_t* d, size_t body, uint64_t seq, AeadJob& j, uint8_t aad[16],
                uint8_t saved[4]) const;
  // Appendix A3 for one packet that failed to authenticate as `seq`: on a
  // selected failure, retries with a raised Seqh; on success `seq` is the
  // packet's sequence number, the packet is decrypted and `j`/`aad` are the
  // job that did it (so that a later refusal can seal the bytes back).
  bool resync(uint8_t* d, size_t body, uint64_t& seq, AeadJob& j, uint8_t aad[16]);
  // Opens the packet at `d` as `seq` alone; on success `j`/`aad` are the job
  // that did it.
  bool open_as(uint8_t* d, size_t body, uint64_t seq, AeadJob& j, uint8_t aad[16]);
  // For a packet of a burst that failed to authenticate as `seq`: the window
  // asked again as the burst left it (see esp.cc). A replay status, ok (then
  // `seq`, `j` and `aad` are those that opened it) or auth_failed.
  Status open_again(uint8_t* d, size_t body, uint64_t& seq, AeadJob& j, uint8_t aad[16]);
  // The sequence number the window, as it is, gives `seq`'s low half
  // (Appendix A2 with ESN, else `seq`); false if it is too old for one.
  bool seq_now(uint64_t seq, uint64_t* now) const;
  // seq_now, then the window's answer for that number (too_old for none or
  // for 0): what one packet at a time is told before its ICV.
  Status ask_window(uint64_t seq, uint64_t* now) const;
  // The lean open path of Sadb::open_chunk (see there). parse_run builds the
  // AEAD jobs of pkts[0..) (into raw storage `jobs`, sequence numbers into
  // `seqs`) while the packets are this SA's, long enough (8 bytes between
  // header and ICV, 28 in tunnel mode) and rising above the window; it
  // returns how many it took. commit_run commits jobs [k, n) of such a prefix
  // while they authenticated with an ordinary trailer and returns the first
  // it left for the general commit (`resume`: called again after the general
  // commit of a packet of the run). Both are inlined into open_chunk /
  // open_rest.
  template <bool kEsn, bool kExplicitIv>
  size_t parse_run(std::span<PacketView> pkts, AeadJob* jobs, uint64_t* seqs,
                   uint8_t (*aad)[16]) const;
  // The lean seal loop of seal() (see there): seals pkts[0..) while they need
  // nothing unusual (no dummy, no TFC, room enough, a next header the mode
  // allows); returns how many it took, their jobs in raw storage `jobs`, their
  // views already sealed (seal() undoes a view whose job the AEAD refuses).
  // kMeta: `meta` is not empty.
  template <bool kEsn, bool kTunnel, bool kMeta>
  size_t seal_run(std::span<PacketView> pkts, std::span<const SealMeta> meta, AeadJob* jobs,
                  uint8_t (*aad)[16]);
  // A burst of one packet (Sadb::seal): seal()'s lean path for one packet
  // without the chunk loop and arrays; a packet the lean loop would not take
  // goes to seal() before anything is changed.
  size_t seal_one(std::span<PacketView> one, std::span<const SealMeta> meta, uint64_t now);
  // seal() for what the lean loop leaves of one chunk: every rule, per packet.
  size_t seal_general(std::span<PacketView> pkts, std::span<const SealMeta> meta, uint64_t now);
  template <bool kTunnel, bool kInfo>
  size_t commit_run(std::span<PacketView> pkts, std::span<OpenInfo> info, const AeadJob* jobs,
                    const uint64_t* seqs, size_t k, size_t n, size_t& ok, bool resume);

  Status admit(uint64_t now, uint64_t add_packets, uint64_t add_bytes);
  void soft_check(uint64_t now);
  // True when `packets` more packets of `bytes` payload in total cannot reach a
  // soft or hard lifetime (nor has the age): admit and soft_check would say ok
  // and stay silent, so a burst may skip them.
  bool quiet(uint64_t now, uint64_t packets, uint64_t bytes) const;
  void event(KeyEvent::Kind k);

  AeadKey key_;
  uint8_t salt_[kSaltLen] = {};
  ReplayWindow window_;
  SaCounters counters_;
  Limits limits_;
  EventQueue* events_ = nullptr;
  uint64_t next_seq_ = 1;
  uint64_t iv_mask_ = 0;
  uint64_t installed_at_ = 0;
  // The lean seal loop's trailer for a payload of length ≡ r (mod 4), r =
  // 0..3 (§2.4 padding to 4 bytes): padding 1, 2, 3 and pad length in memory
  // order, the next header's bit position, and what the trailer (add), the
  // trailer and ICV (room), and header, trailer and ICV (grow) add.
  struct SealRule {
    uint64_t bytes;
    uint8_t nh_shift, add, room, grow;
  };
  SealRule seal_rules_[4] = {};
  // min(soft, hard) of the lifetimes in limits_, for quiet().
  uint64_t rec_cap_ = 0, byte_cap_ = 0, age_cap_ = 0;
  uint32_t spi_ = 0;
  uint32_t iv_len_ = kIvLen;
  Direction dir_ = Direction::seal;
  Mode mode_ = Mode::tunnel;
  bool esn_ = false, gmac_ = false;
  bool soft_sent_ = false, hard_sent_ = false;
  uint32_t resync_after_ = 0, resync_tries_ = 0;
  uint64_t failed_in_a_row_ = 0;  // consecutive packets that failed authentication
  bool seq_exhausted_ = false;  // the last sequence number was sent
  bool dying_ = false;          // integrity limit reached inside the current burst
  uint32_t died_at_ = 0;        // ... by this packet of the chunk
};

// RFC 3948 §2: what a UDP payload on port 4500 carries.
//   ok             an ESP packet (first four bytes are a nonzero SPI)
//   not_protected  IKE after the four-zero non-ESP marker
//   keepalive      a single 0xFF byte (NAT-keepalive, §2.3)
//   truncated / malformed otherwise
Status classify_udp(std::span<const uint8_t> udp_payload);
// Prepends the non-ESP marker to an IKE message (needs 4 bytes of headroom).
Status frame_ike(PacketView& pkt);
// Writes a NAT-keepalive (one 0xFF byte) at pkt.offset.
Status make_keepalive(PacketView& pkt);

class Sadb {
 public:
  explicit Sadb(Clock clock = {}) : clock_(clock) {}
  Sadb(const Sadb&) = delete;
  Sadb& operator=(const Sadb&) = delete;

  // Installs an SA; a second SA with the same direction and SPI is refused
  // (invalid_argument). Inbound SAs open side by side during a rekey.
  Status install(Direction dir, const SaConfig& cfg);
  // Wipes and forgets the SA (unknown_epoch if there is none).
  Status remove(Direction dir, uint32_t spi);
  Sa* find(Direction dir, uint32_t spi);
  const Sa* find(Direction dir, uint32_t spi) const;

  // Seals a burst with the outbound SA `spi`.
  size_t seal(uint32_t spi, std::span<PacketView> pkts, std::span<const SealMeta> meta = {});
  // Opens a burst of ESP packets, each routed to its inbound SA by SPI; `info`
  // is empty or one per packet. Returns how many are ok (dummy packets count
  // as not ok: they carry nothing).
  size_t open(std::span<PacketView> pkts, std::span<OpenInfo> info = {});
  // The same for UDP payloads received on port 4500 (RFC 3948): IKE messages
  // come back as not_protected with the marker stripped, keepalives as
  // keepalive, ESP packets are opened.
  size_t open_udp(std::span<PacketView> pkts, std::span<OpenInfo> info = {});

  // Checks soft/hard ages of every SA without traffic (xfrm's timers): soft →
  // soft_limit event, hard → hard_limit event and the key is wiped.
  void tick();

  bool poll_event(KeyEvent& e) { return events_.poll(e); }
  uint64_t dropped_events() const { return events_.dropped(); }
  uint64_t now() const { return clock_.read(); }

 private:
  // open / open_udp: checks info, then kMaxBurst packets at a time.
  size_t open_bursts(std::span<PacketView> pkts, std::span<OpenInfo> info, bool udp);
  size_t open_chunk(std::span<PacketView> pkts, std::span<OpenInfo> info, bool udp, uint64_t now);
  // A burst of one packet (open / open_udp): open_chunk's lean path for one
  // packet without the chunk's arrays and loops; a packet it would not take
  // goes to open_chunk before anything is asked or changed, and after the
  // AEAD call a packet the lean commit leaves goes to open_rest, as there.
  size_t open_one(std::span<PacketView> one, std::span<OpenInfo> info, bool udp);
  // The general path of open_chunk: takes over from the lean one with the
  // jobs it built (jobs[0..fast_n) of SA `fast`, sequence numbers in `seqs`).
  // `opened`: the AEAD call is done and jobs [0, k) are committed (`ok` of
  // them ok); otherwise it parses pkts[fast_n..), opens all and commits all.
  size_t open_rest(std::span<PacketView> pkts, std::span<OpenInfo> info, bool udp, uint64_t now,
                   AeadJob* jobs, const uint64_t* seqs, uint8_t (*aad)[16], Sa* fast,
                   size_t fast_n, bool opened, size_t k, size_t ok);
  // find() behind a one-entry cache of the last SA found in that direction.
  Sa* find_cached(Direction dir, uint32_t spi) {
    Sa*& hint = dir == Direction::seal ? out_hint_ : in_hint_;
    if (hint == nullptr || hint->spi_ != spi) hint = find(dir, spi);
    return hint;
  }
  // The clock is read once per burst, and only when some SA has an age limit
  // (0 then never reaches an age: every SA was installed at a later time or
  // has none).
  uint64_t burst_time() const { return timed_ != 0 ? clock_.read() : 0; }
  std::vector<std::unique_ptr<Sa>>& table(Direction d) { return d == Direction::seal ? out_ : in_; }
  const std::vector<std::unique_ptr<Sa>>& table(Direction d) const {
    return d == Direction::seal ? out_ : in_;
  }

  Clock clock_;
  EventQueue events_;
  std::vector<std::unique_ptr<Sa>> out_, in_;  // sorted by SPI
  size_t timed_ = 0;                           // SAs with a soft or hard age
  Sa* out_hint_ = nullptr;                     // find_cached(); cleared by remove()
  Sa* in_hint_ = nullptr;
};

}  // namespace rl::esp
