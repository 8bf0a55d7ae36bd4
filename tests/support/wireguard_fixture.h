// Test support: tests/data/wireguard/transport.txt (two Noise IK sessions and
// their 22 transport messages, made by make_capture.py and checked by tshark;
// its grammar is in its header), read once for every test that uses it.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/vectors.h"

namespace rl::test::wg {

// tests/data/wireguard/ (with the trailing slash).
std::string data_dir();

struct Session {
  uint32_t initiator_index = 0, responder_index = 0;
  Bytes i2r, r2i;  // the initiator's T_send and T_recv
};

struct Message {
  uint64_t frame = 0;
  int session = 0;
  bool i2r = false;  // from the session's initiator
  uint64_t counter = 0;
  Bytes wire;                   // the whole type-4 message
  bool tshark_checked = false;  // tshark decrypted it (the file says `-` otherwise)
  Bytes tshark;                 // tshark's padded plaintext
  Bytes generator;              // the padded plaintext the generator sealed
};

struct Fixture {
  std::map<int, Session> sessions;
  std::vector<Message> msgs;  // in capture order
};

// The fixture, or nullopt when the file is missing; a malformed line fails
// the calling test (it is data under version control, never user input).
std::optional<Fixture> load_fixture();

}  // namespace rl::test::wg
