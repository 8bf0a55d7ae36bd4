#include "tests/support/wireguard_fixture.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace rl::test::wg {

namespace {
// A plaintext field: hex, or `empty` for a keepalive's.
Bytes plaintext(const std::string& s) { return s == "empty" ? Bytes{} : hex(s); }
}  // namespace

std::string data_dir() { return std::string(RL_SOURCE_DIR) + "/tests/data/wireguard/"; }

std::optional<Fixture> load_fixture() {
  std::ifstream in(data_dir() + "transport.txt");
  if (!in) return std::nullopt;
  Fixture fx;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string kind;
    ls >> kind;
    if (kind == "session") {
      int n = 0;
      std::string k1, i, k2, r, k3, i2r, k4, r2i;
      ls >> n >> k1 >> i >> k2 >> r >> k3 >> i2r >> k4 >> r2i;
      EXPECT_EQ(k1 + k2 + k3 + k4, "initiator_indexresponder_indexi2r_keyr2i_key") << line;
      fx.sessions[n] = {static_cast<uint32_t>(std::stoul(i, nullptr, 16)),
                        static_cast<uint32_t>(std::stoul(r, nullptr, 16)), hex(i2r), hex(r2i)};
      EXPECT_EQ(fx.sessions[n].i2r.size(), 32u) << line;
      EXPECT_EQ(fx.sessions[n].r2i.size(), 32u) << line;
    } else if (kind == "msg") {
      Message m;
      std::string dir, wire, tshark, gen;
      ls >> m.frame >> m.session >> dir >> m.counter >> wire >> tshark >> gen;
      EXPECT_TRUE(dir == "i2r" || dir == "r2i") << line;
      m.i2r = dir == "i2r";
      m.wire = hex(wire);
      m.tshark_checked = tshark != "-";
      if (m.tshark_checked) m.tshark = plaintext(tshark);
      m.generator = plaintext(gen);
      fx.msgs.push_back(std::move(m));
    }
  }
  return fx;
}

}  // namespace rl::test::wg
