#include "tools/replay/tls_decryptor.h"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

#include "core/bytes.h"
#include "core/hkdf.h"
#include "core/tls.h"
#include "core/tls12_prf.h"
#include "tools/replay/session_keys.h"

namespace rl::replay {

std::optional<TlsSuiteMap> map_tls12_suite(uint16_t cs) {
  switch (cs) {
    case 0xc02b: case 0xc02f: case 0x009c: case 0x009e:  // *_AES_128_GCM_SHA256
      return TlsSuiteMap{Suite::aes128_gcm, Hash::sha256};
    case 0xc02c: case 0xc030: case 0x009d: case 0x009f:  // *_AES_256_GCM_SHA384
      return TlsSuiteMap{Suite::aes256_gcm, Hash::sha384};
    case 0xcca8: case 0xcca9: case 0xccaa:  // *_CHACHA20_POLY1305_SHA256 (RFC 7905)
      return TlsSuiteMap{Suite::chacha20_poly1305, Hash::sha256};
    default:
      return std::nullopt;
  }
}

std::optional<TlsSuiteMap> map_tls13_suite(uint16_t cs) {
  switch (cs) {
    case 0x1301: return TlsSuiteMap{Suite::aes128_gcm, Hash::sha256};
    case 0x1302: return TlsSuiteMap{Suite::aes256_gcm, Hash::sha384};
    case 0x1303: return TlsSuiteMap{Suite::chacha20_poly1305, Hash::sha256};
    default: return std::nullopt;
  }
}

namespace {

// After a gap in the TCP stream: how many lost records to assume at most.
constexpr uint64_t kGapSearch = 256;

struct TlsFlow : FlowState {
  struct Side {
    std::unique_ptr<tls::RecordProtection> rp;
    bool handshake_keys = false;    // TLS 1.3: still under the handshake traffic secret
    Suite suite12 = Suite::aes128_gcm;  // TLS 1.2: this side's current suite
    uint64_t renegotiations = 0;    // TLS 1.2: key blocks moved to after the first
    // TLS 1.2 renegotiation: the next key block, taken at this side's next (encrypted)
    // ChangeCipherSpec. Wiped on destruction.
    bool pending = false;
    Suite pending_suite = Suite::aes128_gcm;
    uint8_t pending_key[kMaxKeyLen] = {}, pending_iv[kNonceLen] = {};
    uint8_t pending_key_len = 0, pending_iv_len = 0;
    const Secret* app = nullptr;    // TLS 1.3: the application secret to switch to
    uint64_t generation = 0;        // TLS 1.3: KeyUpdates seen
    Bytes hs;                       // partial handshake message(s)
    const char* why_not = nullptr;  // no keys for this side: kNoKey / kUnsupported
    bool gap = false;               // the stream lost bytes: the sequence number is unknown
    bool synced = false;            // a record authenticated under the current key
    uint64_t unsynced_fails = 0;    // records that failed before that
    // The current key material, to re-install it one sequence number further after a
    // record fails (see skip_failed): TLS 1.3 this generation's traffic secret, TLS 1.2
    // the write key and IV. Wiped on destruction.
    uint8_t secret[48] = {}, key[kMaxKeyLen] = {}, iv[kNonceLen] = {};
    uint8_t secret_len = 0, key_len = 0, iv_len = 0;
    void keep_secret(ByteSpan v) {
      secret_len = static_cast<uint8_t>(std::min(v.size(), sizeof secret));
      std::copy_n(v.data(), secret_len, secret);
    }
    ~Side() {
      volatile uint8_t* p[5] = {secret, key, iv, pending_key, pending_iv};
      const size_t n[5] = {sizeof secret, sizeof key, sizeof iv, sizeof pending_key, sizeof pending_iv};
      for (int i = 0; i < 5; ++i)
        for (size_t j = 0; j < n[i]; ++j) p[i][j] = 0;
    }
  };
  bool setup = false;
  bool warned_hellos = false;
  bool tls13 = false;
  Suite suite = Suite::aes128_gcm;
  Side side[2];
  HelloInfo reneg;  // TLS 1.2 renegotiation: the hellos read from decrypted records
  // The client random of the current key block and how many handshakes used it (a
  // renegotiation may keep the random: then the next CLIENT_RANDOM line is its master).
  std::array<uint8_t, 32> random_in_use{};
  size_t random_uses = 1;
  // TLS 1.3 0-RTT (RFC 8446 §2.3, §4.2.10): the client's records sent before the
  // ServerHello are early data under CLIENT_EARLY_TRAFFIC_SECRET, and so are its records
  // up to its EndOfEarlyData (handshake type 5). The suite is the resumed session's, which
  // the ClientHello does not name: each engine suite of the secret's hash length is tried
  // on the first early record (only the right one authenticates).
  struct Early {
    std::unique_ptr<tls::RecordProtection> rp[2];
    Suite suite[2] = {};
    size_t candidates = 0;   // rp[0..candidates): still undecided when > 1
    bool active = false;     // the client's records are tried under the early key first
    bool tried = false;      // key log looked up
    uint8_t secret[48] = {};
    uint8_t secret_len = 0;
    ~Early() {
      volatile uint8_t* p = secret;
      for (size_t i = 0; i < sizeof secret; ++i) p[i] = 0;
    }
  } early;
};

}  // namespace

// Builds both directions' keys of a flow the first time one of its records is protected.
static void setup_flow(TlsFlow& st, const Flow& f, const Keys& keys, Diag& diag) {
  const SessionKeys k = session_keys(f.hello, /*dtls=*/false, false, keys, diag, f.label(), st.warned_hellos);
  const char* why = k.state == SessionKeys::State::unsupported ? kUnsupported : kNoKey;
  st.side[0].why_not = st.side[1].why_not = k.state == SessionKeys::State::ok ? nullptr : why;
  if (k.state == SessionKeys::State::wait_hellos) return;
  st.setup = true;
  if (k.state != SessionKeys::State::ok) return;
  st.suite = k.suite;
  if (k.v13) {
    st.tls13 = true;
    const size_t hlen = hash_len(k.hash);
    const SecretLabel hs_label[2] = {SecretLabel::client_handshake_traffic,
                                     SecretLabel::server_handshake_traffic};
    const SecretLabel app_label[2] = {SecretLabel::client_traffic_0, SecretLabel::server_traffic_0};
    for (int d = 0; d < 2; ++d) {
      TlsFlow::Side& s = st.side[d];
      const Secret* hs = k.secrets->get(hs_label[d]);
      s.app = k.secrets->get(app_label[d]);
      const char* dn = d == 0 ? "client" : "server";
      for (const Secret* x : {hs, s.app}) {
        if (x && x->value.size() != hlen) {
          diag.warn(x->where, std::string("secret is ") + std::to_string(x->value.size()) +
                                  " bytes, the suite's hash needs " + std::to_string(hlen));
          s.why_not = kNoKey;
        }
      }
      if (s.why_not) continue;
      const Secret* first = hs ? hs : s.app;
      if (!first) {
        diag.warn(f.label(), std::string("key log has no ") + dn + " traffic secret for this session");
        s.why_not = kNoKey;
        continue;
      }
      if (!hs)
        diag.warn(f.label(), std::string("key log has no ") + dn +
                                 " handshake traffic secret: handshake records will fail");
      tls::Config cfg;
      cfg.version = tls::Version::tls13;
      cfg.stop_after_failure = false;
      s.rp = std::make_unique<tls::RecordProtection>(cfg);
      const Status ist = s.rp->install(Direction::open, st.suite, first->value);
      if (ist != Status::ok) {
        diag.warn(first->where, std::string("cannot install the secret: ") + to_string(ist));
        s.rp.reset();
        s.why_not = kNoKey;
        continue;
      }
      s.handshake_keys = hs != nullptr;
      s.keep_secret(first->value);
    }
    return;
  }
  const tls::KeyBlock& kb = k.kb;
  st.random_in_use = f.hello.client_random;
  for (int d = 0; d < 2; ++d) {
    tls::Config cfg;
    cfg.version = tls::Version::tls12;
    cfg.stop_after_failure = false;
    TlsFlow::Side& s = st.side[d];
    s.rp = std::make_unique<tls::RecordProtection>(cfg);
    const Status ist = d == 0 ? s.rp->install_tls12(Direction::open, k.suite, kb.client_key(), kb.client_iv())
                              : s.rp->install_tls12(Direction::open, k.suite, kb.server_key(), kb.server_iv());
    if (ist != Status::ok) {
      s.rp.reset();
      s.why_not = kNoKey;
      continue;
    }
    s.suite12 = k.suite;
    const ByteSpan key = d == 0 ? kb.client_key() : kb.server_key();
    const ByteSpan iv = d == 0 ? kb.client_iv() : kb.server_iv();
    s.key_len = static_cast<uint8_t>(key.size());
    s.iv_len = static_cast<uint8_t>(iv.size());
    std::copy_n(key.data(), key.size(), s.key);
    std::copy_n(iv.data(), iv.size(), s.iv);
  }
}

// Appends `content` to the handshake bytes `hs` of one direction and hands each
// complete message (type, body; RFC 8446 §4, RFC 5246 §7.4: 1-byte type,
// 3-byte length) to on_message in order, until it returns false; the messages
// handed over leave `hs`, a partial one waits for the next record.
template <class F>
static void walk_handshake(std::vector<uint8_t>& hs, ByteSpan content, F&& on_message) {
  hs.insert(hs.end(), content.begin(), content.end());
  size_t pos = 0;
  while (hs.size() - pos >= 4) {
    const uint8_t type = hs[pos];
    const size_t len = load_be24(hs.data() + pos + 1);
    if (hs.size() - pos - 4 < len) break;
    const ByteSpan body(hs.data() + pos + 4, len);
    pos += 4 + len;
    if (!on_message(type, body)) break;
  }
  hs.erase(hs.begin(), hs.begin() + static_cast<std::ptrdiff_t>(pos));
}

// TLS 1.3: the handshake messages of one direction (they may span records), for the
// Finished (key switch) and KeyUpdate (next generation) messages.
static void on_handshake_13(TlsFlow& st, TlsFlow::Side& s, ByteSpan content, const Flow& f, Dir d, Diag& diag) {
  walk_handshake(s.hs, content, [&](uint8_t type, ByteSpan) {
    if (type == 20 && s.handshake_keys) {
      // RFC 8446 §7.1: after its Finished a side sends under its application secret.
      s.handshake_keys = false;
      if (!s.app) {
        diag.warn(f.label(), std::string("key log has no ") + to_string(d) +
                                 " application traffic secret: later records have no key");
        s.rp.reset();
        s.why_not = kNoKey;
        return false;
      }
      const Status ist = s.rp->install(Direction::open, st.suite, s.app->value);
      if (ist != Status::ok) {
        diag.warn(s.app->where, std::string("cannot install the secret: ") + to_string(ist));
        s.rp.reset();
        s.why_not = kNoKey;
        return false;
      }
      s.keep_secret(s.app->value);
      s.synced = false;
      s.unsynced_fails = 0;
    } else if (type == 24 && !s.handshake_keys) {
      // RFC 8446 §4.6.3: the sender's next records use the next generation.
      if (s.rp->update(Direction::open) == Status::ok) {
        ++s.generation;
        uint8_t next[48];
        const Hash h = suite_info(st.suite).hash;
        if (hkdf_expand_label(h, ByteSpan(s.secret, s.secret_len), "traffic upd", {},
                              std::span<uint8_t>(next, s.secret_len)) == Status::ok)
          std::copy_n(next, s.secret_len, s.secret);
        volatile uint8_t* w = next;
        for (size_t i = 0; i < sizeof next; ++i) w[i] = 0;
      }
    }
    return true;
  });
}

// TLS 1.2 renegotiation (RFC 5246 §7.4.1.1, RFC 5746): the new ClientHello and ServerHello
// travel in handshake records under the current keys. Once both are read, the key log's
// master secret for the new client random gives the next key block; each side sends under
// it after its own ChangeCipherSpec (also encrypted, see on_ccs_12).
static void on_handshake_12(TlsFlow& st, TlsFlow::Side& s, ByteSpan content, Flow& f, Dir d,
                            const Keys& keys, Diag& diag) {
  walk_handshake(s.hs, content, [&](uint8_t type, ByteSpan body) {
    if (type == 1 && d == Dir::client) {
      st.reneg = HelloInfo{};
      if (parse_hello(1, body, false, st.reneg) && st.reneg.have_client_hello)
        f.renegotiated_randoms.push_back(st.reneg.client_random);
    } else if (type == 2 && d == Dir::server && st.reneg.have_client_hello) {
      if (!parse_hello(2, body, false, st.reneg) || !st.reneg.have_server_hello) return true;
      bool warned = false;
      const bool same = st.reneg.client_random == st.random_in_use;
      const SessionKeys k = session_keys(st.reneg, false, false, keys, diag, f.label(), warned,
                                         same ? st.random_uses : 0);
      st.random_uses = same ? st.random_uses + 1 : 1;
      st.random_in_use = st.reneg.client_random;
      if (k.state != SessionKeys::State::ok || k.v13) {
        diag.warn(f.label(), "renegotiated session: no usable key in the key log, later records have no key");
        for (TlsFlow::Side& x : st.side) {
          x.pending = true;
          x.pending_key_len = 0;  // no key: the side's records after its ChangeCipherSpec
        }
        return true;
      }
      for (int i = 0; i < 2; ++i) {
        TlsFlow::Side& x = st.side[i];
        const ByteSpan key = i == 0 ? k.kb.client_key() : k.kb.server_key();
        const ByteSpan iv = i == 0 ? k.kb.client_iv() : k.kb.server_iv();
        x.pending = true;
        x.pending_suite = k.suite;
        x.pending_key_len = static_cast<uint8_t>(key.size());
        x.pending_iv_len = static_cast<uint8_t>(iv.size());
        std::copy_n(key.data(), key.size(), x.pending_key);
        std::copy_n(iv.data(), iv.size(), x.pending_iv);
      }
      st.reneg = HelloInfo{};
    }
    return true;
  });
}

// TLS 1.2: a decrypted ChangeCipherSpec after a renegotiation's hellos: this side's next
// records are under the new key block, from sequence number 0 (RFC 5246 §6.1).
static void on_ccs_12(TlsFlow::Side& s) {
  if (!s.pending) return;
  s.pending = false;
  ++s.renegotiations;
  s.synced = false;
  s.unsynced_fails = 0;
  s.hs.clear();
  if (s.pending_key_len == 0 ||
      s.rp->install_tls12(Direction::open, s.pending_suite, ByteSpan(s.pending_key, s.pending_key_len),
                          ByteSpan(s.pending_iv, s.pending_iv_len)) != Status::ok) {
    s.rp.reset();
    s.why_not = kNoKey;
    return;
  }
  s.suite12 = s.pending_suite;
  s.key_len = s.pending_key_len;
  s.iv_len = s.pending_iv_len;
  std::copy_n(s.pending_key, sizeof s.key, s.key);
  std::copy_n(s.pending_iv, sizeof s.iv, s.iv);
}

// The engine treats a failed record as if it never arrived (its sequence number unused), as
// a live endpoint must. In a capture the record did cross the wire, framed by TCP, so it
// used its sequence number: the key is installed again at the next one, so that one bad
// record does not fail every record after it.
static void skip_failed(TlsFlow& st, TlsFlow::Side& s, uint64_t next_seq) {
  if (!s.rp) return;
  if (st.tls13)
    s.rp->install(Direction::open, st.suite, ByteSpan(s.secret, s.secret_len), nullptr, next_seq);
  else
    s.rp->install_tls12(Direction::open, s.suite12, ByteSpan(s.key, s.key_len),
                        ByteSpan(s.iv, s.iv_len), nullptr, next_seq);
}

// Looks up the early traffic secret once the ClientHello is known and no ServerHello yet.
static void start_early(TlsFlow& st, const Flow& f, const Keys& keys) {
  TlsFlow::Early& e = st.early;
  e.tried = true;
  const SessionSecrets* ss = keys.keylog.find(f.hello.client_random);
  const Secret* sec = ss ? ss->get(SecretLabel::client_early_traffic) : nullptr;
  if (!sec || (sec->value.size() != 32 && sec->value.size() != 48)) return;
  const Suite cands[2][2] = {{Suite::aes128_gcm, Suite::chacha20_poly1305}, {Suite::aes256_gcm, Suite::aes256_gcm}};
  const size_t row = sec->value.size() == 48, n = row ? 1 : 2;
  for (size_t i = 0; i < n; ++i) {
    tls::Config cfg;
    cfg.version = tls::Version::tls13;
    cfg.stop_after_failure = false;
    auto rp = std::make_unique<tls::RecordProtection>(cfg);
    if (rp->install(Direction::open, cands[row][i], sec->value) != Status::ok) continue;
    e.suite[e.candidates] = cands[row][i];
    e.rp[e.candidates++] = std::move(rp);
  }
  e.secret_len = static_cast<uint8_t>(sec->value.size());
  std::copy_n(sec->value.data(), e.secret_len, e.secret);
  e.active = e.candidates > 0;
}

// A client record while early data may be flowing. Returns false when the record is not
// early data (it failed under the early key and the handshake keys are there to try):
// early data is over (EndOfEarlyData, or the server rejected 0-RTT and the client moved on).
static bool open_early(TlsFlow& st, const TlsRecord& r, Verdict& v, VerdictSink& out) {
  TlsFlow::Early& e = st.early;
  tls::Record rec;
  auto reset = [&] {
    rec.buf = r.wire.data();
    rec.capacity = static_cast<uint32_t>(r.wire.size());
    rec.offset = 0;
    rec.length = static_cast<uint32_t>(r.wire.size());
    rec.status = Status::ok;
  };
  size_t hit = e.candidates;
  const uint64_t seq_before = e.rp[0]->sequence(Direction::open);
  for (size_t i = 0; i < e.candidates; ++i) {
    reset();
    e.rp[i]->open(std::span<tls::Record>(&rec, 1));
    if (rec.status == Status::ok) {
      hit = i;
      break;
    }
  }
  const TlsFlow::Side& cs = st.side[0];
  if (hit == e.candidates) {
    if (st.setup && cs.rp) {  // the handshake keys take over
      e.active = false;
      return false;
    }
    v.epoch = 1;
    v.seq = seq_before;
    v.set_status(rec.status);
    out.emit(v);
    // The record crossed the wire under the early key (whichever suite): it used a number.
    for (size_t i = 0; i < e.candidates; ++i)
      e.rp[i]->install(Direction::open, e.suite[i], ByteSpan(e.secret, e.secret_len), nullptr, seq_before + 1);
    return true;
  }
  if (e.candidates > 1) {  // the suite is decided
    e.rp[0] = std::move(e.rp[hit]);
    e.suite[0] = e.suite[hit];
    e.candidates = 1;
  }
  v.epoch = 1;
  v.seq = rec.seq;
  v.type = rec.type;
  v.set_status(Status::ok);
  const ByteSpan content(rec.data(), rec.length);
  v.set_plaintext(content);
  out.emit(v);
  // EndOfEarlyData ends the early data; the client's next records use its handshake key.
  if (rec.type == tls::handshake)
    for (size_t pos = 0; content.size() - pos >= 4;) {
      if (content[pos] == 5) e.active = false;
      pos += 4 + load_be24(content.data() + pos + 1);
      if (pos > content.size()) break;
    }
  return true;
}

void TlsDecryptor::on_tls_record(const TlsRecord& r, VerdictSink& out) {
  if (!r.is_protected) {
    RecordSink::on_tls_record(r, out);
    return;
  }
  Flow& f = *r.ctx.flow;
  if (!f.state) f.state = std::make_unique<TlsFlow>();
  TlsFlow* st = dynamic_cast<TlsFlow*>(f.state.get());
  Verdict v = base_verdict(r.ctx, r.proto, r.wire.size());
  v.type = r.type;
  if (!st) {
    v.status = kSkipped;
    out.emit(v);
    return;
  }
  if (r.ctx.dir == Dir::client && !st->early.tried && f.hello.have_client_hello &&
      !f.hello.have_server_hello)
    start_early(*st, f, keys_);
  if (!st->setup && (r.ctx.dir == Dir::server || !st->early.active || f.hello.have_server_hello))
    setup_flow(*st, f, keys_, diag_);
  if (r.ctx.dir == Dir::client && st->early.active && open_early(*st, r, v, out)) return;
  TlsFlow::Side& s = st->side[static_cast<size_t>(r.ctx.dir)];
  if (!s.rp) {
    v.status = s.why_not ? s.why_not : kNoKey;
    out.emit(v);
    return;
  }
  v.epoch = st->tls13 ? (s.handshake_keys ? 2 : 3 + s.generation) : 1 + s.renegotiations;
  tls::Record rec;
  rec.buf = r.wire.data();
  rec.capacity = static_cast<uint32_t>(r.wire.size());
  rec.offset = 0;
  rec.length = static_cast<uint32_t>(r.wire.size());
  const uint64_t seq_before = s.rp->sequence(Direction::open);
  s.rp->open(std::span<tls::Record>(&rec, 1));
  // How many records may have been lost or failed unseen before this one: after a gap in
  // the TCP stream an unknown number; before the first record that authenticates under a
  // key, the failures so far (they may or may not have been under this key).
  const uint64_t search = s.gap ? kGapSearch : (s.synced ? 0 : s.unsynced_fails);
  if (rec.status == Status::auth_failed && search > 0) {
    // Look for the sequence number a little further on. A record that fails leaves its
    // bytes as they arrived (core/tls.h), so it can be tried again in place.
    for (uint64_t k = 1; k <= search && rec.status == Status::auth_failed; ++k) {
      skip_failed(*st, s, seq_before + k);
      rec.offset = 0;
      rec.length = static_cast<uint32_t>(r.wire.size());
      rec.status = Status::ok;
      s.rp->open(std::span<tls::Record>(&rec, 1));
    }
    if (rec.status == Status::ok) {
      if (s.gap)
        diag_.note(f.label(), std::string(to_string(r.ctx.dir)) +
                                  ": after the stream gap, records resume at sequence number " +
                                  std::to_string(rec.seq) + " (frame " + std::to_string(r.ctx.frame) + ")");
      s.gap = false;
    } else {
      skip_failed(*st, s, seq_before);
    }
  }
  v.set_status(rec.status);
  if (rec.status != Status::ok) {
    v.seq = seq_before;
    out.emit(v);
    // Until one record has authenticated under this key, a failure may just as well mean
    // the record is not under this key at all (no handshake secret in the key log, so the
    // application key was installed from the start): then it uses no sequence number.
    if (s.synced) skip_failed(*st, s, seq_before + 1);
    else ++s.unsynced_fails;
    return;
  }
  s.synced = true;
  s.unsynced_fails = 0;
  v.seq = rec.seq;
  v.type = rec.type;
  const ByteSpan content(rec.data(), rec.length);
  v.set_plaintext(content);
  out.emit(v);
  if (st->tls13 && rec.type == tls::handshake)
    on_handshake_13(*st, s, content, f, r.ctx.dir, diag_);
  else if (!st->tls13 && rec.type == tls::handshake)
    on_handshake_12(*st, s, content, f, r.ctx.dir, keys_, diag_);
  else if (!st->tls13 && rec.type == tls::change_cipher_spec)
    on_ccs_12(s);
}

void TlsDecryptor::on_stream_gap(Flow& flow, Dir dir, uint64_t, uint64_t, uint64_t) {
  if (!flow.state) flow.state = std::make_unique<TlsFlow>();
  if (auto* st = dynamic_cast<TlsFlow*>(flow.state.get())) {
    TlsFlow::Side& s = st->side[static_cast<size_t>(dir)];
    s.gap = true;
    s.hs.clear();
  }
}

}  // namespace rl::replay
