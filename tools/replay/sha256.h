// SHA-256 of a plaintext for the verdicts (issue 7: `sha256` of what the application gets).
// Every decrypted record is hashed when an output asks for it (--json, --expect), so this
// runs once per record: with the SHA extensions (SHA-NI, CPUID leaf 7 EBX bit 29) when the
// CPU has them, else BoringSSL's SHA256(). BoringSSL (Debian's android 13 build) already
// takes its SHA-NI path on one message at a time; what it cannot do is run two messages'
// dependency chains side by side, which is where sha256_pair gets its speed.
// All give the same digest (tests/replay_sha256_test.cc checks them against BoringSSL).
#pragma once
#include <array>
#include <cstdint>

#include "tools/replay/common.h"

namespace rl::replay {

using Digest = std::array<uint8_t, 32>;

// The fastest implementation this CPU runs (RL_REPLAY_SHA=portable forces BoringSSL's).
Digest sha256(ByteSpan data);
// Two digests at once: with SHA-NI the two block chains interleave (about 1.8x the
// throughput of one chain on Zen 4), so batched verdicts are hashed in pairs.
void sha256_pair(ByteSpan a, ByteSpan b, Digest& da, Digest& db);

// Each implementation on its own, for tests and benchmarks.
Digest sha256_boringssl(ByteSpan data);
bool sha256_shani_supported();
Digest sha256_shani(ByteSpan data);  // only when sha256_shani_supported()
// Two messages at once (two dependency chains interleaved), any lengths.
void sha256_shani_x2(ByteSpan a, ByteSpan b, Digest& da, Digest& db);

}  // namespace rl::replay
