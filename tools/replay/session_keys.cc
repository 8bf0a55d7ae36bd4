#include "tools/replay/session_keys.h"

#include <algorithm>
#include <cstdio>

#include "tools/replay/tls_decryptor.h"

namespace rl::replay {

namespace {
std::string hex16(uint16_t v) {
  char b[8];
  std::snprintf(b, sizeof b, "0x%04x", v);
  return b;
}
}  // namespace

SessionKeys session_keys(const HelloInfo& h, bool dtls, bool unified, const Keys& keys,
                         Diag& diag, const std::string& label, bool& warned_hellos, size_t master) {
  SessionKeys k;
  const std::string name = dtls ? "DTLS" : "TLS";
  auto fail = [&](SessionKeys::State s, const std::string& msg) {
    k.state = s;
    if (!msg.empty()) diag.warn(label, msg);
    return k;
  };
  if (!h.have_client_hello || !h.have_server_hello) {
    // Not yet (0-RTT data before the ServerHello) or never (a capture that starts
    // mid-session): no key for this record; tried again with the next one.
    const bool first = !warned_hellos;
    warned_hellos = true;
    return fail(SessionKeys::State::wait_hellos,
                first ? name + " hellos not (yet) in the capture: the session's keys cannot be matched" : "");
  }
  const SessionSecrets* ss = keys.keylog.find(h.client_random);
  if (!ss) return fail(SessionKeys::State::no_key, "");  // reported as no_key per record
  k.v13 = dtls ? (h.version == 0xfefc || unified) : h.is13();
  if (k.v13) {
    const auto m = map_tls13_suite(h.cipher_suite);
    if (!m)
      return fail(SessionKeys::State::unsupported,
                  name + " 1.3 cipher suite " + hex16(h.cipher_suite) +
                      " is not supported (only 0x1301, 0x1302, 0x1303)");
    k.suite = m->suite;
    k.hash = m->prf;
    k.secrets = ss;
    k.state = SessionKeys::State::ok;
    return k;
  }
  // 1.2 (AEAD suites only: earlier versions have no AEAD).
  if (h.version != (dtls ? 0xfefd : 0x0303))
    return fail(SessionKeys::State::unsupported, name + " version " + hex16(h.version) +
                                                     " is not supported (" + name + " 1.2/1.3 only)");
  const auto m = map_tls12_suite(h.cipher_suite);
  if (!m)
    return fail(SessionKeys::State::unsupported,
                name + " 1.2 cipher suite " + hex16(h.cipher_suite) +
                    " is not supported (AES-GCM and ChaCha20-Poly1305 suites only)");
  k.suite = m->suite;
  k.hash = m->prf;
  const Secret* ms = ss->get(SecretLabel::client_random);
  if (ms && master > 0 && !ss->later_masters.empty())
    ms = &ss->later_masters[std::min(master, ss->later_masters.size()) - 1];
  if (!ms)
    return fail(SessionKeys::State::no_key,
                "key log has no CLIENT_RANDOM (master secret) line for this " + name + " 1.2 session");
  const Status s = tls::tls12_key_block(m->suite, m->prf, ms->value, h.client_random, h.server_random, k.kb);
  if (s != Status::ok) {
    diag.warn(ms->where, "cannot derive the " + name + " 1.2 key block: " + to_string(s));
    return fail(SessionKeys::State::no_key, "");
  }
  k.state = SessionKeys::State::ok;
  return k;
}

}  // namespace rl::replay
