// rl-pipe's protocol adapters: one object per protocol that seals a burst of
// plaintext datagrams in place and opens a burst of protected datagrams in
// place, with the real protocol engines (core/esp, core/quic, core/dtls13,
// core/dtls, core/srtp, core/wireguard, core/openvpn). Configuration allocates; seal/open do not.
//
// Seal: each view holds the plaintext at [offset, offset+length) with at
// least headroom() bytes before it and tailroom() after it; on ok it covers
// the protected datagram. Open: each view covers one received datagram; on ok
// it covers the plaintext to deliver. Each view carries its own Status.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/keys.h"
#include "core/packet.h"
#include "core/srtp.h"
#include "simd/suite.h"

namespace rl::pipe {

enum class Proto : uint8_t { esp, quic, dtls13, srtp, wireguard, openvpn, dtls12 };
const char* to_string(Proto p);

inline constexpr size_t kMaxBurst = 64;

// Everything a codec needs, from flags or a key file (tools/pipe/main.cc).
struct CodecConfig {
  Proto proto = Proto::esp;
  // Each direction has its own suite (its own SA / key / crypto suite).
  Suite seal_suite = Suite::aes128_gcm, open_suite = Suite::aes128_gcm;
  // ESP: key‖salt; QUIC/DTLS 1.3: secret; DTLS 1.2: write key‖write IV (the
  // key block's: a 4-byte salt for AES-GCM, 12 bytes for ChaCha20-Poly1305);
  // SRTP: key‖salt; WireGuard: T_send / T_recv.
  std::vector<uint8_t> seal_key, open_key;
  // ESP (transport mode over UDP encapsulation, RFC 3948).
  uint32_t spi_out = 0x100, spi_in = 0x100;
  uint8_t seal_icv = 16, open_icv = 16;
  bool esn = false;
  uint8_t next_header = 17;  // what the payload is (UDP by default)
  uint32_t replay_window = 1024;
  // QUIC: the Destination Connection ID written on seal; the length of ours
  // that short headers carry on open.
  std::vector<uint8_t> dcid{1, 2, 3, 4, 5, 6, 7, 8};
  uint32_t local_cid_len = 8;
  // DTLS 1.3: the epoch of the traffic secrets (3 = first application epoch).
  uint64_t dtls_epoch = 3;
  // DTLS 1.2: the epoch of the keys (1 after the first handshake), the first
  // sequence number sealed (the handshake's Finished took 0 of epoch 1), and
  // the RFC 9146 Connection IDs: the one the peer issued (written on seal)
  // and the one we issued (required on open); empty: plain records.
  uint16_t dtls12_epoch = 1;
  uint64_t dtls12_first_seq = 1;
  std::vector<uint8_t> dtls12_seal_cid, dtls12_open_cid;
  // SRTP.
  srtp::Profile srtp_seal_profile = srtp::Profile::aes128_cm_sha1_80;
  srtp::Profile srtp_open_profile = srtp::Profile::aes128_cm_sha1_80;
  std::vector<uint8_t> srtp_seal_mki, srtp_open_mki;
  uint64_t srtp_kdr = 0;
  // WireGuard: one session as the handshake hands it in (core/wireguard.h
  // Keypair), and the tunnel MTU that caps the padding (0: pad to 16).
  uint32_t wg_local = 0, wg_remote = 0;
  bool wg_initiator = false;
  uint32_t wg_mtu = 0;
  // OpenVPN: one key's 256 bytes of material (its TLS-EKM export), its
  // key_id, whether this side is the TLS server (which half it seals with),
  // and the peer-id written into P_DATA_V2. The suite is seal_suite.
  std::vector<uint8_t> ovpn_material;
  uint8_t ovpn_key_id = 0;
  bool ovpn_tls_server = false;
  uint32_t ovpn_peer_id = 0;
};

struct CodecCounters {
  // seal_malformed: plaintext the protocol does not carry, refused as
  // malformed (part of seal_failed; WireGuard: not one IPv4 / IPv6 packet).
  uint64_t sealed = 0, seal_failed = 0, seal_malformed = 0;
  uint64_t opened = 0, auth_failed = 0, replayed = 0, malformed = 0, other_failed = 0;
};

class Codec {
 public:
  virtual ~Codec() = default;
  virtual uint32_t headroom() const = 0;
  virtual uint32_t tailroom() const = 0;
  // At most kMaxBurst views per call.
  virtual size_t seal(std::span<PacketView> v) = 0;
  virtual size_t open(std::span<PacketView> v) = 0;
  // Make-before-break rekey of one direction from `next` (new keys, new
  // SPIs for ESP, new MKIs for SRTP): open installs the new inbound SA /
  // master key beside the current one, which still opens late packets
  // until the rekey after this one removes it; seal moves to the new one.
  // Called by the worker that owns the direction, between bursts (it
  // allocates). unsupported where the protocol has no such rekey here (ESP,
  // SRTP and WireGuard have; QUIC and DTLS 1.3 use update() below).
  // WireGuard installs a new keypair (new indices) into its Peer; one codec
  // doing both directions (--workers 1) installs it once, on the first call.
  virtual Status rekey(const CodecConfig& next, Direction which) {
    (void)next;
    (void)which;
    return Status::unsupported;
  }

  // Key updates without a handshake channel (QUIC RFC 9001 §6, DTLS 1.3
  // RFC 9147 §8): both sides derive the next keys from the current traffic
  // secret, and the receiver recognises them on the wire (QUIC key phase,
  // DTLS epoch bits). rl-pipe carries no handshake, ACK or KeyUpdate
  // message, so each codec says what stands in for them. Called by the
  // worker that owns the direction, between bursts; no allocation.
  virtual bool updates_keys() const { return false; }
  // "generation" (QUIC 1-RTT key generation) or "epoch" (DTLS 1.3).
  virtual const char* generation_name() const { return "generation"; }
  // A generation for the log: "<generation_name()> <g>" unless the protocol
  // names its keys otherwise (WireGuard: "keypair local=0x...").
  virtual std::string describe(uint64_t g) const {
    return std::string(generation_name()) + " " + std::to_string(g);
  }
  // Seal: the generation sealed with now. Open: the newest one the peer's
  // packets authenticated with (the configured one before any).
  virtual uint64_t generation(Direction which) const {
    (void)which;
    return 0;
  }
  // Seal only: move to the next keys. `peer` is the newest generation this
  // process's open side authenticated from the peer. ok; invalid_argument
  // with *why when the protocol does not allow it yet (the worker retries
  // after later bursts); unsupported without key updates.
  virtual Status update(uint64_t peer, const char** why) {
    (void)peer;
    *why = "no key update for this protocol";
    return Status::unsupported;
  }
  // Seal only: whether the send keys must follow a peer that moved to
  // generation `peer` (QUIC, RFC 9001 §6.2; WireGuard with one codec per
  // direction: the open side's Peer promoted a keypair that the seal side's
  // holds as next); then update() is called.
  virtual bool must_follow(uint64_t peer) const {
    (void)peer;
    return false;
  }
  // Open only, after each burst: drains the engine's key events; true once
  // per key change of the peer, with its new generation in *generation. The
  // codec also gets ready for the peer's next update here (DTLS 1.3: the
  // epochs after it are installed).
  virtual bool poll_peer_update(uint64_t* generation) {
    (void)generation;
    return false;
  }
};

// nullptr with *error set when the configuration is refused.
std::unique_ptr<Codec> make_codec(const CodecConfig& cfg, std::string* error);

// Counts the statuses of an opened burst into c.
void count_open(std::span<const PacketView> v, CodecCounters& c);

}  // namespace rl::pipe
