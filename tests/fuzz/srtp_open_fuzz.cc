// libFuzzer target: SRTP and SRTCP unprotect on arbitrary bytes, for every
// profile, with MKI, RFC 6904 and cryptex streams. The first input byte picks
// the configuration; the rest is the packet. Checks: no crash, no overread
// (ASan), and a refused packet keeps its bytes and changes no stream state.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "core/srtp.h"

namespace {

using namespace rl;
using namespace rl::srtp;

struct Fixture {
  std::unique_ptr<Session> rx[2][2][8];  // [cryptex or 6904][mki][profile]
  std::unique_ptr<Session> rt_tx[2][2][8], rt_rx[2][2][8];  // round-trip pairs
  Fixture() {
    static const uint8_t key[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                    17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
    static const uint8_t salt[14] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4};
    static const uint8_t mki[2] = {0, 1};
    for (int x = 0; x < 2; ++x) {
      for (int m = 0; m < 2; ++m) {
        for (int p = 0; p < 8; ++p) {
          Policy pol;
          pol.profile = kAllProfiles[p];
          pol.mki_len = m ? 2 : 0;
          if (profile_info(pol.profile).encrypts) {
            pol.header_ext = x ? HeaderExtCrypto::cryptex : HeaderExtCrypto::rfc6904;
          }
          pol.encrypt_ext_id(1);
          pol.encrypt_ext_id(200);
          const ProfileInfo i = profile_info(pol.profile);
          const MasterKey mk{{key, i.master_key_len}, {salt, i.master_salt_len},
                             {mki, pol.mki_len}};
          rx[x][m][p] = std::make_unique<Session>(Direction::open, 8);
          if (rx[x][m][p]->set_template(pol, {&mk, 1}) != Status::ok) std::abort();
          rt_tx[x][m][p] = std::make_unique<Session>(Direction::seal, 8);
          rt_rx[x][m][p] = std::make_unique<Session>(Direction::open, 8);
          if (rt_tx[x][m][p]->set_template(pol, {&mk, 1}) != Status::ok) std::abort();
          if (rt_rx[x][m][p]->set_template(pol, {&mk, 1}) != Status::ok) std::abort();
        }
      }
    }
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture* f = new Fixture();
  if (size < 1) return 0;
  const uint8_t sel = data[0];
  const int x = (sel >> 4) & 1, m = (sel >> 3) & 1, p = sel & 7;
  Session& s = *f->rx[x][m][p];
  const bool rtcp = (sel >> 5) & 1;
  if (sel & 0x40) {
    // Round trip: whatever seal accepts, the twin receiver must open back to
    // the same bytes (exercises the seal-side header parsing, RFC 6904 walk,
    // cryptex insertion of an empty extension).
    std::vector<uint8_t> pkt(data + 1, data + size);
    const uint32_t len = static_cast<uint32_t>(pkt.size());
    pkt.resize(pkt.size() + 64);
    PacketView w{pkt.data(), static_cast<uint32_t>(pkt.size()), 0, len};
    rtcp ? f->rt_tx[x][m][p]->seal_rtcp({&w, 1}) : f->rt_tx[x][m][p]->seal({&w, 1});
    if (w.status != Status::ok) return 0;
    rtcp ? f->rt_rx[x][m][p]->open_rtcp({&w, 1}) : f->rt_rx[x][m][p]->open({&w, 1});
    if (w.status != Status::ok) std::abort();
    if (w.length < len || std::memcmp(pkt.data(), data + 1, 12 < len ? 12 : len) != 0) {
      // Cryptex may add an empty extension (4 bytes) to a CSRC-only packet;
      // the fixed 12-byte header other than the X bit is unchanged.
      if (!(x == 1 && w.length == len + 4)) std::abort();
    }
    if (w.length == len && std::memcmp(pkt.data(), data + 1, len) != 0) std::abort();
    return 0;
  }
  std::vector<uint8_t> buf(data + 1, data + size);
  const std::vector<uint8_t> before = buf;
  PacketView v{buf.data(), static_cast<uint32_t>(buf.size()), 0, static_cast<uint32_t>(buf.size())};
  if (buf.empty()) v.buf = reinterpret_cast<uint8_t*>(&v);  // non-null, capacity 0
  const size_t streams = s.stream_count();
  rtcp ? s.open_rtcp({&v, 1}) : s.open({&v, 1});
  if (v.status != Status::ok) {
    if (buf != before) std::abort();            // refused packets keep their bytes
    if (s.stream_count() != streams) std::abort();  // and create no stream
  }
  return 0;
}
