// rl-esp-tool: a command-line face of rl::esp for interop tests with other
// implementations (tests/interop/esp_scapy.py drives it).
//
//   rl-esp-tool seal|open --suite aes128gcm|aes256gcm|chacha20poly1305
//       --keymat HEX --spi N [--icv 16] [--esn] [--transport] [--nh N]
//       [--seq N] [--udp]
//
// One hex string per line on stdin, one line per input on stdout:
//   seal: payload (inner IP packet, or upper-layer data with --transport and
//         --nh) → the ESP packet (= the UDP payload with --udp); --seq is the
//         first sequence number (64-bit with --esn).
//   open: ESP packet (UDP payload with --udp) → "<status> <next header> <hex>";
//         --seq is the highest sequence number already received (window top).
// Exit code 0 when every line was processed, 2 on bad usage.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "core/esp.h"

namespace {

std::vector<uint8_t> from_hex(const std::string& s, bool& ok) {
  std::vector<uint8_t> out;
  ok = s.size() % 2 == 0;
  for (size_t i = 0; ok && i + 1 < s.size(); i += 2) {
    char* end = nullptr;
    const std::string byte = s.substr(i, 2);
    const long v = std::strtol(byte.c_str(), &end, 16);
    ok = end == byte.c_str() + 2;
    out.push_back(static_cast<uint8_t>(v));
  }
  return out;
}

std::string to_hex(const uint8_t* p, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s.push_back(d[p[i] >> 4]);
    s.push_back(d[p[i] & 15]);
  }
  return s;
}

int usage() {
  std::fprintf(stderr,
               "usage: rl-esp-tool seal|open --suite S --keymat HEX --spi N [--icv N] [--esn]\n"
               "                   [--transport] [--nh N] [--seq N] [--udp]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace rl;
  if (argc < 2) return usage();
  const std::string op = argv[1];
  if (op != "seal" && op != "open") return usage();
  esp::SaConfig c;
  std::vector<uint8_t> keymat;
  uint8_t nh = 0;
  uint64_t seq = 0;
  bool udp = false, have_seq = false;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (a == "--suite") {
      const char* v = next();
      if (v == nullptr) return usage();
      const std::string s = v;
      if (s == "aes128gcm") c.suite = Suite::aes128_gcm;
      else if (s == "aes256gcm") c.suite = Suite::aes256_gcm;
      else if (s == "chacha20poly1305") c.suite = Suite::chacha20_poly1305;
      else return usage();
    } else if (a == "--keymat") {
      const char* v = next();
      bool ok = false;
      if (v == nullptr || (keymat = from_hex(v, ok), !ok)) return usage();
    } else if (a == "--spi" || a == "--icv" || a == "--nh" || a == "--seq") {
      const char* v = next();
      if (v == nullptr) return usage();
      const unsigned long long n = std::strtoull(v, nullptr, 0);
      if (a == "--spi") c.spi = static_cast<uint32_t>(n);
      if (a == "--icv") c.icv_len = static_cast<uint8_t>(n);
      if (a == "--nh") nh = static_cast<uint8_t>(n);
      if (a == "--seq") {
        seq = n;
        have_seq = true;
      }
    } else if (a == "--esn") {
      c.esn = true;
    } else if (a == "--transport") {
      c.mode = esp::Mode::transport;
    } else if (a == "--udp") {
      udp = true;
    } else {
      return usage();
    }
  }
  c.keymat = keymat;
  const Direction dir = op == "seal" ? Direction::seal : Direction::open;
  if (have_seq) {
    if (dir == Direction::seal) c.first_seq = seq;
    else c.highest_received = seq;
  }
  esp::Sadb db;
  if (const Status st = db.install(dir, c); st != Status::ok) {
    std::fprintf(stderr, "install: %s\n", to_string(st));
    return 2;
  }
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    bool ok = false;
    const std::vector<uint8_t> in = from_hex(line, ok);
    if (!ok) {
      std::fprintf(stderr, "bad hex line\n");
      return 2;
    }
    std::vector<uint8_t> mem(64 + in.size() + 64);
    if (!in.empty()) std::memcpy(mem.data() + 64, in.data(), in.size());
    PacketView p{mem.data(), static_cast<uint32_t>(mem.size()), 64,
                 static_cast<uint32_t>(in.size()), Status::ok};
    if (dir == Direction::seal) {
      esp::SealMeta m;
      m.next_header = nh;
      db.seal(c.spi, {&p, 1}, {&m, 1});
      if (p.status != Status::ok)
        std::printf("%s\n", to_string(p.status));
      else
        std::printf("%s\n", to_hex(p.data(), p.length).c_str());
    } else {
      esp::OpenInfo info;
      if (udp)
        db.open_udp({&p, 1}, {&info, 1});
      else
        db.open({&p, 1}, {&info, 1});
      std::printf("%s %u %s\n", to_string(p.status), info.next_header,
                  to_hex(p.data(), p.length).c_str());
    }
    std::fflush(stdout);
  }
  return 0;
}
