// Per-packet and per-call outcomes. Names say what happened; tools print them as-is.
#pragma once
#include <cstdint>

namespace rl {

enum class Status : uint8_t {
  ok,
  auth_failed,       // tag/ICV did not verify
  replayed,          // already seen inside the replay window
  too_old,           // left of the replay window
  malformed,         // header or trailer breaks the protocol's rules
  truncated,         // shorter than the protocol's minimum
  unknown_epoch,     // no key for this epoch/SPI/SSRC/key phase
  key_expired,       // key wiped, or hard lifetime reached
  key_exhausted,     // hard usage limit reached: sealing would risk nonce reuse
  buffer_too_small,  // not enough headroom/tailroom for the output
  record_overflow,   // TLS/DTLS record longer than the protocol allows
  invalid_argument,  // caller misuse (wrong key length, unknown suite, ...)
  unsupported,       // suite/feature not available in this build or on this CPU
  closed,            // connection closed (close_notify sealed or received)
  dummy_packet,      // ESP next header 59: authenticated, carries nothing
  keepalive,         // NAT keepalive or similar, carries nothing
  not_protected,     // authenticated framing that carries plaintext (e.g. non-ESP marker)
};

constexpr const char* to_string(Status s) {
  switch (s) {
    case Status::ok: return "ok";
    case Status::auth_failed: return "auth_failed";
    case Status::replayed: return "replayed";
    case Status::too_old: return "too_old";
    case Status::malformed: return "malformed";
    case Status::truncated: return "truncated";
    case Status::unknown_epoch: return "unknown_epoch";
    case Status::key_expired: return "key_expired";
    case Status::key_exhausted: return "key_exhausted";
    case Status::buffer_too_small: return "buffer_too_small";
    case Status::record_overflow: return "record_overflow";
    case Status::invalid_argument: return "invalid_argument";
    case Status::unsupported: return "unsupported";
    case Status::closed: return "closed";
    case Status::dummy_packet: return "dummy_packet";
    case Status::keepalive: return "keepalive";
    case Status::not_protected: return "not_protected";
  }
  return "unknown";
}

}  // namespace rl
