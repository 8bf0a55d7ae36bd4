// Every key source the tool reads, in one bundle handed to the decryptors.
#pragma once
#include "tools/replay/keylog.h"
#include "tools/replay/ovpn_keys.h"
#include "tools/replay/srtp_keys.h"
#include "tools/replay/wg_keys.h"
#include "tools/replay/xfrm_keys.h"

namespace rl::replay {

struct Keys {
  KeyLog keylog;                  // --keylog and the capture's Decryption Secrets Blocks
  XfrmKeys xfrm;                  // --xfrm
  SrtpKeys srtp;                  // --srtp-keys
  std::vector<WgKeylogEntry> wg;  // --wg-keylog (Wireshark's WireGuard key log)
  OvpnKeys ovpn;                  // --ovpn-keys (OpenVPN data-channel key material)
};

}  // namespace rl::replay
