// libFuzzer: the QUIC, ESP, SRTP and WireGuard decryptors behind the input side, with keys
// for every protocol (an ESP SA per algorithm, SRTP keys for two SSRCs, a QUIC key log and
// the WireGuard fixture's key log, so handshake derivation runs on what arrives), on
// arbitrary Ethernet frames given as [2-byte length][bytes]... Forged packets cannot
// authenticate; what is fuzzed is every parse before the AEAD and the state they must
// leave alone (QUIC Initials always open: their keys come from the packet itself).
#include <pcap/pcap.h>

#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "tools/replay/esp_decryptor.h"
#include "tools/replay/quic_decryptor.h"
#include "tools/replay/replay.h"
#include "tools/replay/srtp_decryptor.h"
#include "tools/replay/wg_decryptor.h"

namespace {
struct Null : rl::replay::VerdictSink {
  void emit(const rl::replay::Verdict&) override {}
};

const rl::replay::Keys& keys() {
  static rl::replay::Keys* k = [] {
    auto* k = new rl::replay::Keys;
    rl::replay::Diag d;
    d.quiet = true;
    k->xfrm.add_text(
        "src 192.0.2.1 dst 192.0.2.2\n\tproto esp spi 0x00001001 reqid 1 mode tunnel\n"
        "\treplay-window 32 flag af-unspec esn\n"
        "\taead rfc4106(gcm(aes)) 0x101112131415161718191a1b1c1d1e1fa0a1a2a3 128\n"
        "src 192.0.2.1 dst 192.0.2.2\n\tproto esp spi 0x00001003 reqid 3 mode transport\n"
        "\treplay-window 32\n"
        "\taead rfc7539esp(chacha20,poly1305) "
        "0x707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8fc0c1c2c3 128\n"
        "\tencap type espinudp sport 4500 dport 4500 addr 0.0.0.0\n",
        "fuzz.xfrm", d);
    k->srtp.add_text(
        "ssrc=0x11111111 a=crypto:1 AES_CM_128_HMAC_SHA1_80 "
        "inline:MTg/Rk1UW2JpcHd+hYyTmqGor7a9xMvS2eDn7vX8\n"
        "ssrc=0x22222222 roc=3 a=crypto:2 AEAD_AES_128_GCM "
        "inline:Ymlwd36FjJOaoaivtr3Ey9LZ4Ofu9fwDChEYHw==\n",
        "fuzz.keys", d);
    k->keylog.add_text(
        "CLIENT_TRAFFIC_SECRET_0 a0a3a6a9acafb2b5b8bbbec1c4c7cacdd0d3d6d9dcdfe2e5e8ebeef1f4f7fafd "
        "0112233445566778899aabbccddeeff00112233445566778899aabbccddeeff0\n",
        "fuzz.keylog", d);
    std::istringstream wg(
        "LOCAL_STATIC_PRIVATE_KEY = gEvTlmoxhfSeLBafF9Wa7zR1UQqUTMCQA1egLugvWU8=\n"
        "REMOTE_STATIC_PUBLIC_KEY = CYv9qvgvIhxwjuEJvjWgd8B0J/oHsATVz+bVwRSU0i0=\n"
        "LOCAL_EPHEMERAL_PRIVATE_KEY = eGCK+aIxJvUDpYzK+FraQI39DNjae0MtbgJdO6o1XX8=\n");
    std::string err;
    rl::replay::parse_wg_keylog(wg, k->wg, err);
    return k;
  }();
  return *k;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rl::replay;
  ByteSpan in(data, size);
  Null out;
  Diag diag;
  diag.quiet = true;
  QuicDecryptor quic(keys());
  EspDecryptor esp(keys());
  SrtpDecryptor srtp(keys());
  WgDecryptor wg(keys());
  Replayer rep(keys(), {}, out, diag);
  rep.set_sink(Proto::quic, &quic);
  rep.set_sink(Proto::esp, &esp);
  rep.set_sink(Proto::srtp, &srtp);
  rep.set_sink(Proto::wireguard, &wg);
  rep.begin(DLT_EN10MB, "fuzz");
  uint64_t n = 0;
  while (in.size() >= 2) {
    const size_t len = std::min<size_t>(in.size() - 2, size_t{in[0]} << 8 | in[1]);
    Frame f;
    f.number = ++n;
    f.data = in.subspan(2, len);
    f.orig_len = static_cast<uint32_t>(len);
    rep.frame(f);
    in = in.subspan(2 + len);
  }
  rep.end();
  return 0;
}
