// rl-replay: replays a capture through the record layers with the keys users already have,
// one verdict per record/packet. See --help.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "tools/replay/dtls_decryptor.h"
#include "tools/replay/esp_decryptor.h"
#include "tools/replay/quic_decryptor.h"
#include "tools/replay/srtp_decryptor.h"
#include "tools/replay/replay.h"
#include "tools/replay/report.h"
#include "tools/replay/tls_decryptor.h"
#include "tools/replay/ovpn_decryptor.h"
#include "tools/replay/wg_decryptor.h"

namespace {

const char* kHelp = R"(usage: rl-replay [options] CAPTURE

Reads CAPTURE (pcap or pcapng; Ethernet, raw IP, Linux cooked SLL/SLL2; IPv4/IPv6,
fragments reassembled, VLAN tags skipped), finds TLS (TCP), DTLS, QUIC, SRTP/SRTCP, ESP
(IP protocol 50 or UDP-encapsulated) and WireGuard traffic, and gives one verdict per
record or packet. Keys come from the files below and from the pcapng's Decryption Secrets
Blocks.

  --keylog FILE         NSS key log (SSLKEYLOGFILE format) for TLS, DTLS and QUIC:
                        CLIENT_RANDOM, CLIENT/SERVER_HANDSHAKE_TRAFFIC_SECRET,
                        CLIENT/SERVER_TRAFFIC_SECRET_0, CLIENT_EARLY_TRAFFIC_SECRET,
                        EXPORTER_SECRET lines (OpenSSL's "_N" lines are ignored:
                        later generations are derived). May be given more than once.
  --xfrm FILE           ESP keys: the text `ip xfrm state` prints (aead rfc4106(gcm(aes))
                        or rfc7539esp(chacha20,poly1305), flag esn, encap espinudp, and the
                        "anti-replay esn context" seq-hi/seq lines for mid-stream captures).
  --srtp-keys FILE      SRTP keys: one SDP "a=crypto:" attribute per line (RFC 4568),
                        preceded by ssrc=<n|0xhex> and/or dst=<ip>:<port>, optionally
                        roc=<n>; '#' starts a comment.
  --wg-keylog FILE      WireGuard keys: Wireshark's WireGuard key log (wg.keylog_file:
                        LOCAL_STATIC_PRIVATE_KEY, REMOTE_STATIC_PUBLIC_KEY,
                        LOCAL_EPHEMERAL_PRIVATE_KEY, PRESHARED_KEY = base64 lines, as
                        extract-handshakes.sh writes them). Transport data opens when its
                        handshake is in the capture. With it, WireGuard is also found by
                        content (message types 1-4 and their lengths); without it only a
                        --proto rule says so. May be given more than once.
  --ovpn-keys FILE      OpenVPN data-channel keys: the lines tests/data/openvpn/ekm_shim.c
                        logs from a running openvpn 2.6 (EXPORTER-OpenVPN-datakeys <hex>,
                        one per renegotiation, in order), or "cipher NAME" and
                        "key <key_id> <hex>" lines. Without a cipher line every AEAD is
                        tried. With it, OpenVPN is also found by content (opcodes 4-10);
                        without it on udp/1194 only. May be given more than once.
  --proto SPEC=PROTO    Decide a port's protocol instead of detecting it, e.g.
                        udp/5004=srtp, udp/4433-4440=dtls, tcp/8443=tls, udp/443=quic,
                        udp/4501=esp, udp/51820=wireguard, udp/1195=openvpn, udp/53=none.
                        May be given
                        more than once.
  --json                One JSON line per record on stdout (frame, index, proto, dir,
                        epoch, seq, status, len, sha256, type; plus wire_len and flow);
                        the summary then goes to stderr.
  --expect FILE         Compare with a previous (or independent) --json output, matched
                        by frame and index; every difference is reported (exit 1).
  --write-plaintext DIR Write decrypted payloads to DIR/flow<id>-<proto>-<dir>.bin.
  --fail-fast           Stop at the first error in the input or key files.
  --quiet               No summary (messages and --json still printed).
  -h, --help            This text.

Conventions (as Wireshark's): frame is the 1-based number of the frame that delivered a
record's last byte; index counts records completing in that frame from 0. Statuses are the
engine's (ok, auth_failed, replayed, malformed, ...), plus no_key (nothing in the key files
for it), skipped (keys present, no decryptor for the protocol in this build) and
not_protected (a record sent in the clear, e.g. a ClientHello).

Exit status: 0 every record that had keys authenticated; 1 some failed (or --expect
differences); 2 usage or input errors (bad key lines, damaged capture, ...).
)";

int usage(const char* msg) {
  std::fprintf(stderr, "rl-replay: %s\n(rl-replay --help explains the options)\n", msg);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace rl::replay;
  std::vector<std::string> keylogs, xfrms, srtps, wgs, ovpns, protos;
  std::string expect, plain_dir, capture;
  bool json = false, fail_fast = false, quiet = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i], val;
    const size_t eq = a.find('=');
    auto takes = [&](const char* name, std::string& out) {
      const size_t n = std::strlen(name);
      if (a == name) {
        if (i + 1 >= argc) return -1;
        out = argv[++i];
        return 1;
      }
      if (a.size() > n && a.compare(0, n, name) == 0 && a[n] == '=') {
        out = a.substr(n + 1);
        return 1;
      }
      return 0;
    };
    (void)eq;
    int r;
    if (a == "-h" || a == "--help") {
      std::fputs(kHelp, stdout);
      return 0;
    } else if (a == "--json") {
      json = true;
    } else if (a == "--fail-fast") {
      fail_fast = true;
    } else if (a == "--quiet") {
      quiet = true;
    } else if ((r = takes("--keylog", val))) {
      if (r < 0) return usage("--keylog needs a FILE");
      keylogs.push_back(val);
    } else if ((r = takes("--xfrm", val))) {
      if (r < 0) return usage("--xfrm needs a FILE");
      xfrms.push_back(val);
    } else if ((r = takes("--srtp-keys", val))) {
      if (r < 0) return usage("--srtp-keys needs a FILE");
      srtps.push_back(val);
    } else if ((r = takes("--wg-keylog", val))) {
      if (r < 0) return usage("--wg-keylog needs a FILE");
      wgs.push_back(val);
    } else if ((r = takes("--ovpn-keys", val))) {
      if (r < 0) return usage("--ovpn-keys needs a FILE");
      ovpns.push_back(val);
    } else if ((r = takes("--proto", val))) {
      if (r < 0) return usage("--proto needs PORTSPEC=PROTO");
      protos.push_back(val);
    } else if ((r = takes("--expect", val))) {
      if (r < 0) return usage("--expect needs a FILE");
      expect = val;
    } else if ((r = takes("--write-plaintext", val))) {
      if (r < 0) return usage("--write-plaintext needs a DIR");
      plain_dir = val;
    } else if (a.size() > 1 && a[0] == '-') {
      return usage(("unknown option " + a).c_str());
    } else if (capture.empty()) {
      capture = a;
    } else {
      return usage("only one CAPTURE is read");
    }
  }
  if (capture.empty()) return usage("no CAPTURE given");

  Diag diag(stderr);
  diag.fail_fast = fail_fast;
  ReplayOptions opts;
  for (const std::string& p : protos) {
    PortRule rule;
    std::string err;
    if (!parse_port_rule(p, rule, err)) return usage(("--proto " + p + ": " + err).c_str());
    opts.rules.push_back(rule);
  }
  opts.progress = isatty(STDERR_FILENO);

  Keys keys;
  for (const std::string& f : keylogs) keys.keylog.load_file(f, diag);
  for (const std::string& f : xfrms) keys.xfrm.load_file(f, diag);
  for (const std::string& f : srtps) keys.srtp.load_file(f, diag);
  for (const std::string& f : wgs) load_wg_keylog(f, keys.wg, diag);
  for (const std::string& f : ovpns) keys.ovpn.load_file(f, diag);
  keys.keylog.load_pcapng_dsb(capture, diag);
  if (diag.stop()) return 2;

  Fanout fan;
  Summary summary;
  fan.add(&summary);
  JsonLinesWriter jw(stdout);
  if (json) fan.add(&jw);
  ExpectChecker ex;
  if (!expect.empty()) {
    if (!ex.load(expect, diag)) return 2;
    fan.add(&ex);
  }
  PlaintextWriter pw;
  if (!plain_dir.empty()) {
    if (!pw.open(plain_dir, diag)) return 2;
    fan.add(&pw);
  }
  if (diag.stop()) return 2;

  bool opened;
  ReplayStats st;
  {
    // The decryptors outlive the replayer that calls them.
    TlsDecryptor tls_dec(keys, diag);
    DtlsDecryptor dtls_dec(keys, diag);
    QuicDecryptor quic(keys);
    EspDecryptor esp(keys);
    SrtpDecryptor srtp(keys);
    WgDecryptor wg(keys);
    OvpnDecryptor ovpn(keys);
    Replayer rep(keys, opts, fan, diag);
    rep.set_sink(Proto::tls, &tls_dec);
    rep.set_sink(Proto::dtls, &dtls_dec);
    rep.set_sink(Proto::quic, &quic);
    rep.set_sink(Proto::esp, &esp);
    rep.set_sink(Proto::srtp, &srtp);
    rep.set_sink(Proto::wireguard, &wg);
    rep.set_sink(Proto::openvpn, &ovpn);
    opened = rep.run(capture);
    st = rep.stats();
    if (opened && !quiet) {
      std::FILE* out = json ? stderr : stdout;
      std::fprintf(out, "%s: %llu frames, %llu bytes; %zu flows\n", capture.c_str(),
                   (unsigned long long)st.frames, (unsigned long long)st.capture_bytes,
                   rep.flows().size());
      summary.print(out);
      if (st.udp_unrecognized || st.tcp_not_tls || st.esp_udp_ike || st.esp_udp_keepalive ||
          st.stream_gaps || st.not_ip || st.snaplen_cut)
        std::fprintf(out,
                     "not replayed: %llu UDP datagrams of no known protocol, %llu TCP flows "
                     "not TLS, %llu IKE (non-ESP marker), %llu NAT keepalives, %llu frames "
                     "not IP, %llu frames cut short by the snaplen; %llu TCP stream gaps\n",
                     (unsigned long long)st.udp_unrecognized, (unsigned long long)st.tcp_not_tls,
                     (unsigned long long)st.esp_udp_ike, (unsigned long long)st.esp_udp_keepalive,
                     (unsigned long long)st.not_ip, (unsigned long long)st.snaplen_cut,
                     (unsigned long long)st.stream_gaps);
    }
  }
  const size_t mism = expect.empty() ? 0 : ex.finish(diag);
  if (!expect.empty() && !quiet)
    std::fprintf(json ? stderr : stdout, "--expect: %zu difference(s)\n", mism);
  std::fflush(stdout);
  if (!opened || diag.errors() > 0) return 2;
  if (summary.failed() > 0 || mism > 0) return 1;
  return 0;
}
