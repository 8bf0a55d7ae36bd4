// What the TLS and DTLS decryptors both settle before they install a key: are the hellos
// there, does the key log know the session (by client random), which engine suite the
// negotiated cipher suite is, and for (D)TLS 1.2 the key block from the master secret
// (RFC 5246 §6.3, with the randoms and the suite of the captured hellos). Messages name
// the protocol ("TLS" / "DTLS") and go to diag once per flow.
#pragma once
#include <string>

#include "core/tls12_prf.h"
#include "simd/suite.h"
#include "tools/replay/keys.h"
#include "tools/replay/tls_framing.h"

namespace rl::replay {

struct SessionKeys {
  enum class State {
    wait_hellos,  // ClientHello or ServerHello not (yet) seen: try again with a later record
    no_key,       // nothing (usable) in the key log for this session
    unsupported,  // a version or cipher suite the engine does not do
    ok,
  };
  State state = State::wait_hellos;
  bool v13 = false;                        // TLS 1.3 / DTLS 1.3 (secrets), else 1.2 (key block)
  Suite suite = Suite::aes128_gcm;
  Hash hash = Hash::sha256;                // 1.3: the suite's hash; 1.2: the PRF hash
  const SessionSecrets* secrets = nullptr; // 1.3: the session's key log entry
  tls::KeyBlock kb;                        // 1.2: client/server write keys and IVs
};

// `dtls`: DTLS 1.2 (0xfefd) / 1.3 (0xfefc, or `unified` records seen) rather than TLS
// 1.2 (0x0303) / 1.3. `warned_hellos`: per-flow flag, so "hellos missing" is said once.
// `master`: for (D)TLS 1.2, which of the client random's master secrets (0 = the first
// CLIENT_RANDOM line, n = later_masters[n - 1], past the end: the last one), for a
// renegotiation that kept the client random.
SessionKeys session_keys(const HelloInfo& h, bool dtls, bool unified, const Keys& keys,
                         Diag& diag, const std::string& flow_label, bool& warned_hellos,
                         size_t master = 0);

}  // namespace rl::replay
