// libFuzzer: every key-file parser (OpenVPN's too) and the --expect/--proto parsers on
// arbitrary text.
#include <cstddef>
#include <cstdint>
#include <map>
#include <sstream>
#include <string>

#include "tools/replay/detect.h"
#include "tools/replay/keys.h"
#include "tools/replay/verdict.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rl::replay;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Diag d;
  d.quiet = true;
  Keys k;
  k.keylog.add_text(text, "f", d);
  k.xfrm.add_text(text, "f", d);
  k.srtp.add_text(text, "f", d);
  {
    std::istringstream in{std::string(text)};
    std::string ovpn_err;
    k.ovpn.parse(in, ovpn_err);
  }
  std::map<std::string, std::string> m;
  parse_flat_json(text, m);
  PortRule r;
  std::string err;
  parse_port_rule(text, r, err);
  Bytes b;
  parse_base64(text, b);
  parse_hex(text, b, true);
  return 0;
}
