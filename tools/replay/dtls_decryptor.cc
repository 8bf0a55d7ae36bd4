#include "tools/replay/dtls_decryptor.h"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

#include "core/bytes.h"
#include "core/dtls.h"
#include "core/dtls13.h"
#include "core/tls12_prf.h"
#include "tools/replay/session_keys.h"
#include "tools/replay/tls_decryptor.h"

namespace rl::replay {

namespace {

struct DtlsFlow : FlowState {
  bool setup = false;
  bool warned_hellos = false;
  bool v13 = false;
  const char* why_not[2] = {nullptr, nullptr};
  std::unique_ptr<dtls::RecordProtection> rp12[2];
  std::unique_ptr<dtls13::RecordProtection> rp13[2];
  uint64_t newest13[2] = {3, 3};  // DTLS 1.3: newest open epoch per direction
  // DTLS 1.2 renegotiation: the hellos read from decrypted handshake records, and the
  // newest epoch installed (epoch 1 from the plaintext hellos).
  HelloInfo reneg;
  uint16_t newest12 = 1;
  // The client random of the newest key block and how many handshakes used it (GnuTLS
  // keeps the random in a DTLS renegotiation: the next CLIENT_RANDOM line is the master).
  std::array<uint8_t, 32> random_in_use{};
  size_t random_uses = 1;
};

void setup_flow(DtlsFlow& st, const Flow& f, bool unified, const Keys& keys, Diag& diag) {
  const HelloInfo& h = f.hello;
  const SessionKeys k = session_keys(h, /*dtls=*/true, unified, keys, diag, f.label(), st.warned_hellos);
  const char* why = k.state == SessionKeys::State::unsupported ? kUnsupported : kNoKey;
  st.why_not[0] = st.why_not[1] = k.state == SessionKeys::State::ok ? nullptr : why;
  if (k.state == SessionKeys::State::wait_hellos) return;
  st.setup = true;
  if (k.state != SessionKeys::State::ok) return;
  if (k.v13) {
    st.v13 = true;
    const SecretLabel hs_label[2] = {SecretLabel::client_handshake_traffic,
                                     SecretLabel::server_handshake_traffic};
    const SecretLabel app_label[2] = {SecretLabel::client_traffic_0, SecretLabel::server_traffic_0};
    dtls13::KeyOptions opt;
    opt.replay_window = 1024;
    for (int d = 0; d < 2; ++d) {
      auto rp = std::make_unique<dtls13::RecordProtection>();
      bool any = false;
      const Secret* hs = k.secrets->get(hs_label[d]);
      const Secret* app = k.secrets->get(app_label[d]);
      if (hs) {
        const Status s = rp->install(Direction::open, 2, k.suite, hs->value, opt);
        if (s == Status::ok) any = true;
        else diag.warn(hs->where, std::string("cannot install the secret: ") + to_string(s));
      }
      if (app) {
        const Status s = rp->install(Direction::open, 3, k.suite, app->value, opt);
        if (s == Status::ok) any = true;
        else diag.warn(app->where, std::string("cannot install the secret: ") + to_string(s));
      }
      if (any) st.rp13[d] = std::move(rp);
      else st.why_not[d] = kNoKey;
    }
    return;
  }
  const tls::KeyBlock& kb = k.kb;
  st.random_in_use = h.client_random;
  dtls::KeyOptions opt;
  opt.replay_window = 1024;
  for (int d = 0; d < 2; ++d) {
    auto rp = std::make_unique<dtls::RecordProtection>();
    Status s = d == 0 ? rp->install(Direction::open, 1, k.suite, kb.client_key(), kb.client_iv(), opt)
                      : rp->install(Direction::open, 1, k.suite, kb.server_key(), kb.server_iv(), opt);
    // RFC 9146: the records this side sends carry the CID its peer asked for (none when
    // that CID is empty); the open side then takes only tls12_cid records with exactly it.
    if (s == Status::ok && h.cid_negotiated() && !h.cid_sent_by(d == 0).empty())
      s = rp->set_open_cid(h.cid_sent_by(d == 0));
    if (s == Status::ok) st.rp12[d] = std::move(rp);
    else st.why_not[d] = kNoKey;
  }
}

// DTLS 1.2 renegotiation (RFC 6347 §4.2, RFC 5246 §7.4.1): the new ClientHello and
// ServerHello come in handshake records under the current epoch; once both are read, the
// key log's master secret for the new client random gives the key block of the next epoch
// (RFC 6347 §4.1: the epoch goes up by one with each ChangeCipherSpec), installed beside the
// current one in both directions. Only unfragmented hellos are read; a retransmitted
// ServerHello installs nothing new.
void on_handshake_12(DtlsFlow& st, ByteSpan content, uint16_t epoch, Flow& f, Dir d, const Keys& keys,
                     Diag& diag) {
  for (size_t pos = 0; content.size() - pos >= 12;) {
    const uint8_t type = content[pos];
    const size_t len = load_be24(content.data() + pos + 1);
    const size_t frag_off = load_be24(content.data() + pos + 6);
    const size_t frag_len = load_be24(content.data() + pos + 9);
    if (content.size() - pos - 12 < frag_len) break;
    const ByteSpan body(content.data() + pos + 12, frag_len);
    pos += 12 + frag_len;
    if (frag_off != 0 || frag_len != len) continue;
    if (type == 1 && d == Dir::client) {
      st.reneg = HelloInfo{};
      if (parse_hello(1, body, true, st.reneg) && st.reneg.have_client_hello &&
          std::find(f.renegotiated_randoms.begin(), f.renegotiated_randoms.end(),
                    st.reneg.client_random) == f.renegotiated_randoms.end())
        f.renegotiated_randoms.push_back(st.reneg.client_random);
    } else if (type == 2 && d == Dir::server && st.reneg.have_client_hello && epoch == st.newest12) {
      if (!parse_hello(2, body, true, st.reneg) || !st.reneg.have_server_hello) continue;
      bool warned = false;
      const bool same = st.reneg.client_random == st.random_in_use;
      const SessionKeys k = session_keys(st.reneg, true, false, keys, diag, f.label(), warned,
                                         same ? st.random_uses : 0);
      st.random_uses = same ? st.random_uses + 1 : 1;
      st.random_in_use = st.reneg.client_random;
      st.reneg = HelloInfo{};
      if (k.state != SessionKeys::State::ok || k.v13) continue;
      const uint16_t next = static_cast<uint16_t>(epoch + 1);
      dtls::KeyOptions opt;
      opt.replay_window = 1024;
      for (int i = 0; i < 2; ++i) {
        const ByteSpan key = i == 0 ? k.kb.client_key() : k.kb.server_key();
        const ByteSpan iv = i == 0 ? k.kb.client_iv() : k.kb.server_iv();
        // A refused install leaves that direction without the new epoch: its records
        // then say unknown_epoch.
        if (st.rp12[i]) (void)st.rp12[i]->install(Direction::open, next, k.suite, key, iv, opt);
      }
      st.newest12 = next;
    }
  }
}

}  // namespace

void DtlsDecryptor::on_dtls_record(const DtlsRecord& r, VerdictSink& out) {
  if (!r.is_protected) {
    RecordSink::on_dtls_record(r, out);
    return;
  }
  Flow& f = *r.ctx.flow;
  if (!f.state) f.state = std::make_unique<DtlsFlow>();
  DtlsFlow* st = dynamic_cast<DtlsFlow*>(f.state.get());
  Verdict v = base_verdict(r.ctx, r.proto, r.wire.size());
  if (!r.info.unified) {
    v.epoch = r.info.epoch;
    v.seq = r.info.seq;
    v.type = r.info.type;
  }
  if (!st) {
    v.status = kSkipped;
    out.emit(v);
    return;
  }
  if (!st->setup) setup_flow(*st, f, r.info.unified, keys_, diag_);
  const size_t d = static_cast<size_t>(r.ctx.dir);
  PacketView pkt;
  pkt.buf = r.wire.data();
  pkt.capacity = static_cast<uint32_t>(r.wire.size());
  pkt.offset = 0;
  pkt.length = static_cast<uint32_t>(r.wire.size());
  if (st->rp12[d] && !r.info.unified) {
    v.proto = "dtls12";
    dtls::Record rec;
    rec.pkt = pkt;
    st->rp12[d]->open(std::span<dtls::Record>(&rec, 1));
    v.set_status(rec.status());
    if (rec.status() == Status::ok) {
      v.epoch = rec.epoch;
      v.seq = rec.seq;
      v.type = rec.type;
      v.set_plaintext(rec.pkt.bytes());
    }
    out.emit(v);
    if (rec.status() == Status::ok && rec.type == 22)
      on_handshake_12(*st, rec.pkt.bytes(), rec.epoch, f, r.ctx.dir, keys_, diag_);
    return;
  }
  if (st->rp13[d]) {
    v.proto = "dtls13";
    dtls13::Record rec;
    rec.pkt = pkt;
    st->rp13[d]->open(std::span<dtls13::Record>(&rec, 1));
    v.set_status(rec.status());
    if (rec.status() == Status::ok) {
      v.epoch = rec.epoch;
      v.seq = rec.seq;
      v.type = rec.type;
      const ByteSpan content = rec.pkt.bytes();
      v.set_plaintext(content);
      out.emit(v);
      // KeyUpdate (RFC 9147 §8): handshake messages of 12-byte DTLS headers; a KeyUpdate
      // under application keys moves this direction's open side to the next epoch.
      if (rec.type == 22 && rec.epoch >= 3) {
        size_t pos = 0;
        while (content.size() - pos >= 12) {
          const uint8_t type = content[pos];
          const size_t frag_len = load_be24(content.data() + pos + 9);
          if (content.size() - pos - 12 < frag_len) break;
          // A retransmitted KeyUpdate comes under the same (old) epoch: update once.
          if (type == 24 && rec.epoch == st->newest13[d] &&
              st->rp13[d]->update(Direction::open) == Status::ok)
            ++st->newest13[d];
          pos += 12 + frag_len;
        }
      }
      return;
    }
    out.emit(v);
    return;
  }
  v.status = st->why_not[d] ? st->why_not[d] : kNoKey;
  out.emit(v);
}

}  // namespace rl::replay
