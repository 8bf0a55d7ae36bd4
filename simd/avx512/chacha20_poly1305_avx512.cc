// ChaCha20-Poly1305 (RFC 8439) on AVX-512.
//
// ChaCha20 (§2.3) runs "vertically": state word i of W consecutive blocks sits
// in the W 32-bit lanes of one register, so a double round is 8 quarter rounds
// on 16 registers with no shuffles (VPROLD does the rotations). After the
// rounds a 16x16 (or 16x8) transpose turns lanes back into 64-byte blocks.
// Sixteen blocks per pass in ZMM registers; a pass that needs at most eight
// blocks (short packets, tails) runs in YMM registers at half the cost.
//
// Poly1305 (§2.5) with AVX512-IFMA: the 130-bit accumulator is held in radix
// 2^44 (limbs of 44, 44 and 42 bits) so that limb products fit VPMADD52's
// 52-bit inputs. Eight blocks are folded per step: lane j accumulates blocks
// j, j+8, j+16, ... by Horner's rule with r^8, and the last step multiplies
// lane j by the power of r its blocks still owe (r^1..r^16, computed per
// packet since the Poly1305 key is per nonce), then the lanes are summed.
// 2^130 = 5 (mod p) folds the products that overflow the top limb:
// 2^132 -> 20, so the limbs 1 and 2 of r are kept premultiplied by 20.
//
// The AEAD's MAC input (§2.8) is AAD, zero pad, ciphertext, zero pad, lengths:
// always whole 16-byte blocks, so every block gets the 2^128 bit. Groups of
// eight blocks that lie inside the ciphertext are loaded directly; the few
// groups that straddle AAD, padding and the length block are assembled on the
// stack with byte-masked loads (nothing past any buffer is read).
//
// MAC inputs of at most eight blocks (packets up to ~100 bytes) use a scalar
// radix-2^64 Poly1305 instead: no powers of r to set up. Packets of at most
// 448 bytes share keystream passes, several per 16-lane pass, each in its own
// consecutive lanes (own key, nonce, counters 0..). On seal of longer packets
// the Poly1305 groups of the ciphertext written so far run inside the next
// 16- or 8-block pass's rounds (one step per double round); in a burst of
// 449..1472-byte packets that do not fill sixteen lanes, packet i's whole
// Poly1305 runs inside packet i+1's rounds.
//
// On this CPU (Zen 4) the ZMM rounds run at about 1.5 vector instructions per
// cycle (8 cycles per 16-lane quarter round, whatever mix of VPROLD, shifts or
// VPSHUFB does the rotations), so a 16-block pass costs ~640 cycles and every
// Poly1305 group (~45 instructions) competes for the same ports.
//
// Runs of sixteen packets of 449..1472 bytes (seal and open, bursts of 16 or
// more) go across the lanes instead: ChaCha20 with lane l = packet l (pass c
// computes block c of all sixteen: 1 + ceil(len/64) passes, no partial pass),
// the data passes in pairs (two interleaved states). Poly1305 of packets
// 0..7 runs as scalar radix-2^64 chains (MULX) stitched into those rounds:
// the rounds saturate the vector pipes but leave the integer ALUs and the
// multiplier idle. Poly1305 of packets 8..15 runs outside the rounds with
// 64-bit IFMA lanes, lane p = packet p, each multiplying by its own r^2 in
// two chains (no power table, no horizontal sum). Seal MACs the ciphertext
// of earlier passes; open verifies packets 8..15 before the passes and
// decrypts packets 0..7 in place behind their chains, encrypting them again
// if their tag does not match.
// At 32 x 1350 B this measured ~5% (seal) and ~6% (open) fewer cycles than
// all sixteen in IFMA lanes after the passes (rdtsc, minimum and 10th
// percentile of 6000 bursts). All sixteen as scalar chains was slower (the
// multiplier then limits: ~0.87 against 0.78 cycles/byte), as were single
// (not paired) states with scalar chains, and GCC's own code for the chains
// (128-bit products through the stack, state words spilled in the rounds).
//
// Open computes block 0 (the one-time Poly1305 key) and the first pass of
// keystream, then (packets up to 2 KiB) the rest of the keystream into a
// buffer with the Poly1305 groups inside the rounds, verifies the tag over
// the ciphertext, and only then XORs the keystream in (longer packets verify
// first and then compute the keystream): a failed open leaves the bytes as
// they arrived (DESIGN.md §3). Long seals and opens run ChaCha20 in 32-block
// passes (two 16-lane states whose rounds interleave: 6.85 instead of 7.75
// cycles per 16-lane quarter round); Poly1305 then runs outside the rounds
// in two independent chains (seal: after the 32-block passes, per 16 KiB of
// ciphertext). Whole 32-block passes XOR their blocks straight into the data
// (xor32), and packets over 4 KiB start with a 32-block pass (key + 1984
// bytes), so 16 KiB is eight 32-block passes and one block. Against main
// before these two (ab.sh, ratio to BoringSSL at 16384/1, 5 rounds): seal
// 1.50 -> 1.69, open 1.59 -> 1.67.
//
// Scalar Poly1305 chains stitched into the long packets' 32-block passes
// (as the sixteen-packet path does) did not pay here, measured four ways at
// 16 KiB (ab.sh against the code of the time, ratio of ratios):
// - two chains of 41 and 39 blocks per pass (two per stitch site), the rest
//   of the pass's 128 blocks in IFMA after it (open: decrypting in place
//   behind the MAC, restoring the bytes on failure): seal 0.92-0.94x, open
//   0.82-0.88x. The IFMA step after each pass (~100 ns) cannot overlap the
//   next pass's rounds: the reorder window fills with them.
// - seal, the same chains, all IFMA work deferred to one sweep after the
//   passes (two states over alternate regions): 0.97x. The chains cost ~52
//   ns per pass: 80 blocks keep the multiplier busy (MULX is two uops).
// - seal, one block per site (2 x 20 blocks, about free in the rounds) with
//   the sweep: 1.0x; the sweep over the other 88 blocks per pass and the
//   absorbed chains cost about what IFMA saves.
// - that last one on top of xor32: 0.89x.
// (GCC also kept the state words on the stack around the chains' asm unless
// the rounds sat in a loop of their own: IRA allocates loop regions apart.)
//
// Tags are compared without data-dependent branches (only the verdict is
// branched on);
// lengths and nonces are public and steer branches; no memory index depends
// on key or data. Keystream, one-time keys and accumulators are cleared.
#include "simd/avx512/chacha20_poly1305_avx512.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// GCC 12 misreads the vector values that MacInput::group() assembles on its
// stack (and hands back by value) as pointers into that frame.
#pragma GCC diagnostic ignored "-Wdangling-pointer"
#endif
#include <immintrin.h>

#include <cstddef>
#include <cstring>
#include <optional>
#include <type_traits>

#include <openssl/mem.h>

#include "simd/backend.h"
#include "simd/chacha_common.h"

namespace rl::avx512 {
namespace {

// ---- ChaCha20 -----------------------------------------------------------------

inline __m512i vadd(__m512i a, __m512i b) { return _mm512_add_epi32(a, b); }
inline __m256i vadd(__m256i a, __m256i b) { return _mm256_add_epi32(a, b); }
inline __m512i vxor(__m512i a, __m512i b) { return _mm512_xor_si512(a, b); }
inline __m256i vxor(__m256i a, __m256i b) { return _mm256_xor_si256(a, b); }
template <int N> inline __m512i vrol(__m512i a) { return _mm512_rol_epi32(a, N); }
template <int N> inline __m256i vrol(__m256i a) { return _mm256_rol_epi32(a, N); }
inline __m512i unlo32(__m512i a, __m512i b) { return _mm512_unpacklo_epi32(a, b); }
inline __m256i unlo32(__m256i a, __m256i b) { return _mm256_unpacklo_epi32(a, b); }
inline __m512i unhi32(__m512i a, __m512i b) { return _mm512_unpackhi_epi32(a, b); }
inline __m256i unhi32(__m256i a, __m256i b) { return _mm256_unpackhi_epi32(a, b); }
inline __m512i unlo64(__m512i a, __m512i b) { return _mm512_unpacklo_epi64(a, b); }
inline __m256i unlo64(__m256i a, __m256i b) { return _mm256_unpacklo_epi64(a, b); }
inline __m512i unhi64(__m512i a, __m512i b) { return _mm512_unpackhi_epi64(a, b); }
inline __m256i unhi64(__m256i a, __m256i b) { return _mm256_unpackhi_epi64(a, b); }
inline void bcast(__m512i& v, uint32_t x) { v = _mm512_set1_epi32(static_cast<int>(x)); }
inline void bcast(__m256i& v, uint32_t x) { v = _mm256_set1_epi32(static_cast<int>(x)); }

template <class V>
inline __attribute__((always_inline)) void quarter(V& a, V& b, V& c, V& d) {
  a = vadd(a, b), d = vrol<16>(vxor(d, a));
  c = vadd(c, d), b = vrol<12>(vxor(b, c));
  a = vadd(a, b), d = vrol<8>(vxor(d, a));
  c = vadd(c, d), b = vrol<7>(vxor(b, c));
}

struct NoHook {
  void operator()() const {}
};

// One column round and one diagonal round (RFC 8439 §2.3).
template <class V>
inline __attribute__((always_inline)) void columns_diagonals(V* x) {
  quarter(x[0], x[4], x[8], x[12]);
  quarter(x[1], x[5], x[9], x[13]);
  quarter(x[2], x[6], x[10], x[14]);
  quarter(x[3], x[7], x[11], x[15]);
  quarter(x[0], x[5], x[10], x[15]);
  quarter(x[1], x[6], x[11], x[12]);
  quarter(x[2], x[7], x[8], x[13]);
  quarter(x[3], x[4], x[9], x[14]);
}

// The same with hook() after every second quarter round.
template <class V, class Hook>
inline __attribute__((always_inline)) void columns_diagonals_hooked(V* x, Hook& hook) {
  quarter(x[0], x[4], x[8], x[12]);
  quarter(x[1], x[5], x[9], x[13]);
  hook();
  quarter(x[2], x[6], x[10], x[14]);
  quarter(x[3], x[7], x[11], x[15]);
  hook();
  quarter(x[0], x[5], x[10], x[15]);
  quarter(x[1], x[6], x[11], x[12]);
  hook();
  quarter(x[2], x[7], x[8], x[13]);
  quarter(x[3], x[4], x[9], x[14]);
  hook();
}

// 20 rounds (§2.3): ten column + diagonal double rounds. `hook` runs once per
// double round: Poly1305 work stitched into the ChaCha20 rounds so that both
// kinds of execution units are busy.
template <class V>
inline void rounds20_unrolled(V* x);

template <class V, class Hook = NoHook>
inline void rounds20(V* x, Hook&& hook = {}) {
  if constexpr (std::is_same_v<std::decay_t<Hook>, NoHook>) {
    rounds20_unrolled(x);
    return;
  }
  for (int i = 0; i < 10; ++i) {
    hook();
    columns_diagonals(x);
  }
}

// The same, fully unrolled: GCC then keeps every state word in one register
// (the loop costs register-to-register moves at its back edge). Used for all
// passes without a hook (masks: 11.5 vs 12.3 ns per mask here); with a
// Poly1305 hook the loop measured faster (less register pressure).
template <class V>
inline void rounds20_unrolled(V* x) {
#pragma GCC unroll 10
  for (int i = 0; i < 10; ++i) columns_diagonals(x);
}

// Inside every 128-bit lane: 4x4 transpose of 32-bit words. With a..d the
// lanes' values of four state words, out[k] holds those four words of the
// lane's block k. The same transpose also turns four 16-byte samples per lane
// into four state-word vectors.
template <class V>
inline void transpose4(const V* in, V* out) {
  const V t0 = unlo32(in[0], in[1]), t1 = unhi32(in[0], in[1]);
  const V t2 = unlo32(in[2], in[3]), t3 = unhi32(in[2], in[3]);
  out[0] = unlo64(t0, t2);
  out[1] = unhi64(t0, t2);
  out[2] = unlo64(t1, t3);
  out[3] = unhi64(t1, t3);
}

using chacha::ChaChaInput;
using chacha::gather_lanes;
using chacha::input_for;
using chacha::kMaxChaChaBytes;
using chacha::kSigma;
using chacha::lanes_for;
using chacha::le32;

// State for counters c .. c+W-1 (lane l gets c+l).
template <class V>
inline void init_state(V* x, const ChaChaInput& in, uint32_t c) {
  for (int i = 0; i < 4; ++i) bcast(x[i], kSigma[i]);
  for (int i = 0; i < 8; ++i) bcast(x[4 + i], in.key[i]);
  if constexpr (sizeof(V) == 64)
    x[12] = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(c)),
                             _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0));
  else
    x[12] = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(c)), _mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0));
  for (int i = 0; i < 3; ++i) bcast(x[13 + i], in.nonce[i]);
}

// The blocks of the 16 lanes after the rounds (and the feed-forward), from
// word order back to byte order: lane l's block goes to emit(l, block) (the
// multi-buffer seal XORs it straight into packet l).
template <class Emit>
inline void emit_blocks(__m512i* x, Emit&& emit) {
  __m512i y[4][4];
  for (int g = 0; g < 4; ++g) transpose4(x + 4 * g, y[g]);
  for (int k = 0; k < 4; ++k) {
    const __m512i p0 = _mm512_shuffle_i32x4(y[0][k], y[1][k], _MM_SHUFFLE(1, 0, 1, 0));
    const __m512i p1 = _mm512_shuffle_i32x4(y[0][k], y[1][k], _MM_SHUFFLE(3, 2, 3, 2));
    const __m512i p2 = _mm512_shuffle_i32x4(y[2][k], y[3][k], _MM_SHUFFLE(1, 0, 1, 0));
    const __m512i p3 = _mm512_shuffle_i32x4(y[2][k], y[3][k], _MM_SHUFFLE(3, 2, 3, 2));
    emit(0 + k, _mm512_shuffle_i32x4(p0, p2, _MM_SHUFFLE(2, 0, 2, 0)));
    emit(4 + k, _mm512_shuffle_i32x4(p0, p2, _MM_SHUFFLE(3, 1, 3, 1)));
    emit(8 + k, _mm512_shuffle_i32x4(p1, p3, _MM_SHUFFLE(2, 0, 2, 0)));
    emit(12 + k, _mm512_shuffle_i32x4(p1, p3, _MM_SHUFFLE(3, 1, 3, 1)));
  }
}

// After the rounds (and the feed-forward): lane l's block to ks + 64·l.
inline void store_blocks(__m512i* x, uint8_t* ks) {
  emit_blocks(x, [ks](int l, __m512i b) { _mm512_store_si512(ks + 64 * l, b); });
}

inline void store_blocks(__m256i* x, uint8_t* ks) {
  __m256i y[4][4];
  for (int g = 0; g < 4; ++g) transpose4(x + 4 * g, y[g]);
  for (int k = 0; k < 4; ++k) {
    auto* b0 = reinterpret_cast<__m256i*>(ks + 64 * k);        // block k
    auto* b1 = reinterpret_cast<__m256i*>(ks + 64 * (4 + k));  // block 4+k
    _mm256_store_si256(b0, _mm256_permute2x128_si256(y[0][k], y[1][k], 0x20));
    _mm256_store_si256(b0 + 1, _mm256_permute2x128_si256(y[2][k], y[3][k], 0x20));
    _mm256_store_si256(b1, _mm256_permute2x128_si256(y[0][k], y[1][k], 0x31));
    _mm256_store_si256(b1 + 1, _mm256_permute2x128_si256(y[2][k], y[3][k], 0x31));
  }
}

// A double round of two independent states, their eight column (then
// diagonal) quarter rounds in lockstep, each step for all eight before the
// next: one state's chains leave the vector pipes idle part of the time
// (VPROLD has two cycles of latency), and the other fills them. Measured here
// per 16 lanes and quarter round: one ZMM state 7.75 cycles, two YMM states
// 7.3, two ZMM states (all 32 registers) 6.85; lockstep gained another ~1%
// on masks over interleaving quarter round by quarter round.
#define RL_QSTEP(A, B, D, ROT)                                          \
  for (int q = 0; q < 4; ++q) {                                         \
    x[A[q]] = vadd(x[A[q]], x[B[q]]), y[A[q]] = vadd(y[A[q]], y[B[q]]); \
  }                                                                     \
  for (int q = 0; q < 4; ++q) {                                         \
    x[D[q]] = vrol<ROT>(vxor(x[D[q]], x[A[q]]));                        \
    y[D[q]] = vrol<ROT>(vxor(y[D[q]], y[A[q]]));                        \
  }
template <class V>
inline __attribute__((always_inline)) void double_round(V* x, V* y) {
  static constexpr int a[4] = {0, 1, 2, 3}, b[4] = {4, 5, 6, 7}, c[4] = {8, 9, 10, 11}, d[4] = {12, 13, 14, 15};
  static constexpr int b2[4] = {5, 6, 7, 4}, c2[4] = {10, 11, 8, 9}, d2[4] = {15, 12, 13, 14};
  RL_QSTEP(a, b, d, 16)
  RL_QSTEP(c, d, b, 12)
  RL_QSTEP(a, b, d, 8)
  RL_QSTEP(c, d, b, 7)
  RL_QSTEP(a, b2, d2, 16)
  RL_QSTEP(c2, d2, b2, 12)
  RL_QSTEP(a, b2, d2, 8)
  RL_QSTEP(c2, d2, b2, 7)
}

// The same with hook() before every second step (four times per double
// round): scalar Poly1305 work for the integer units, in small pieces so
// that the out-of-order window overlaps it with the vector rounds.
template <class V, class Hook>
inline __attribute__((always_inline)) void double_round_hooked(V* x, V* y, Hook& hook) {
  static constexpr int a[4] = {0, 1, 2, 3}, b[4] = {4, 5, 6, 7}, c[4] = {8, 9, 10, 11}, d[4] = {12, 13, 14, 15};
  static constexpr int b2[4] = {5, 6, 7, 4}, c2[4] = {10, 11, 8, 9}, d2[4] = {15, 12, 13, 14};
  hook();
  RL_QSTEP(a, b, d, 16)
  RL_QSTEP(c, d, b, 12)
  hook();
  RL_QSTEP(a, b, d, 8)
  RL_QSTEP(c, d, b, 7)
  hook();
  RL_QSTEP(a, b2, d2, 16)
  RL_QSTEP(c2, d2, b2, 12)
  hook();
  RL_QSTEP(a, b2, d2, 8)
  RL_QSTEP(c2, d2, b2, 7)
}
#undef RL_QSTEP

// Keystream blocks c .. c+W-1 into ks (64·W bytes, 64-aligned).
template <class V, class Hook = NoHook>
void keystream(const ChaChaInput& in, uint32_t c, uint8_t* ks, Hook&& hook = {}) {
  V x[16], s[16];
  init_state(s, in, c);
  for (int i = 0; i < 16; ++i) x[i] = s[i];
  rounds20(x, hook);
  for (int i = 0; i < 16; ++i) x[i] = vadd(x[i], s[i]);
  store_blocks(x, ks);
}
inline void keystream16(const ChaChaInput& in, uint32_t c, uint8_t* ks) { keystream<__m512i>(in, c, ks); }
inline void keystream8(const ChaChaInput& in, uint32_t c, uint8_t* ks) { keystream<__m256i>(in, c, ks); }

// A packet's last pass with a spare lane also computes a header-protection
// mask (RFC 9001 §5.4.4, RFC 9147 §4.2.3: a ChaCha20 block under the mask's
// own key with the sample as counter and nonce) over ciphertext an earlier
// pass produced. The pass is bound by its rounds' latency, not by how many
// lanes it fills, so the mask costs a few blends and one 16-byte copy
// instead of a 20-round chain of its own after the seal.
inline __m512i set_lane(__m512i v, int lane, uint32_t x) {
  return _mm512_mask_set1_epi32(v, static_cast<__mmask16>(1u << lane), static_cast<int>(x));
}
inline __m256i set_lane(__m256i v, int lane, uint32_t x) {
  return _mm256_mask_set1_epi32(v, static_cast<__mmask8>(1u << lane), static_cast<int>(x));
}

// Lane `lane` of initial state s becomes m's block: its key (words 4..11)
// and the sample as counter and nonce (12..15).
template <class V>
inline void mask_into_lane(V* s, int lane, const MaskJob& m) {
  const uint8_t* hp = m.key->chacha_key();
  for (int i = 0; i < 8; ++i) s[4 + i] = set_lane(s[4 + i], lane, le32(hp + 4 * i));
  for (int i = 0; i < 4; ++i) s[12 + i] = set_lane(s[12 + i], lane, le32(m.sample + 4 * i));
}

template <class V, class Hook>
void keystream_masked(const ChaChaInput& in, uint32_t c, uint8_t* ks, Hook&& hook, MaskJob& m, int lane) {
  V x[16], s[16];
  init_state(s, in, c);
  mask_into_lane(s, lane, m);
  for (int i = 0; i < 16; ++i) x[i] = s[i];
  rounds20(x, hook);
  for (int i = 0; i < 16; ++i) x[i] = vadd(x[i], s[i]);
  store_blocks(x, ks);
  std::memcpy(m.mask, ks + 64 * lane, 16);
}

// Blocks c .. c+31 (two 16-lane states with their rounds interleaved, ~12%
// less per block than keystream16): block l goes to emit(l, block).
template <class Emit>
inline __attribute__((always_inline)) void blocks32(const ChaChaInput& in, uint32_t c, Emit&& emit) {
  __m512i x[16], y[16], s[16];
  init_state(x, in, c);
  for (int i = 0; i < 16; ++i) y[i] = x[i];
  const __m512i sixteen = _mm512_set1_epi32(16);
  y[12] = _mm512_add_epi32(x[12], sixteen);
#pragma GCC unroll 10
  for (int r = 0; r < 10; ++r) double_round(x, y);
  init_state(s, in, c);
  for (int i = 0; i < 16; ++i) x[i] = vadd(x[i], s[i]);
  emit_blocks(x, emit);
  s[12] = _mm512_add_epi32(s[12], sixteen);
  for (int i = 0; i < 16; ++i) y[i] = vadd(y[i], s[i]);
  emit_blocks(y, [&emit](int l, __m512i b) __attribute__((always_inline)) { emit(16 + l, b); });
}

// Keystream blocks c .. c+31 into ks (2048 bytes, 64-aligned).
__attribute__((noinline)) void keystream32(const ChaChaInput& in, uint32_t c, uint8_t* ks) {
  blocks32(in, c, [ks](int l, __m512i b) __attribute__((always_inline)) { _mm512_store_si512(ks + 64 * l, b); });
}

// The same 32 blocks XORed straight into p[0..2048) (no keystream buffer
// to store and load again).
__attribute__((noinline)) void xor32(const ChaChaInput& in, uint32_t c, uint8_t* p) {
  blocks32(in, c, [p](int l, __m512i b) __attribute__((always_inline)) {
    _mm512_storeu_si512(p + 64 * l, _mm512_xor_si512(_mm512_loadu_si512(p + 64 * l), b));
  });
}

inline uint64_t byte_mask(size_t n) { return n >= 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1; }

// p[0..n) ^= ks[0..n); masked lanes are neither read nor written.
inline void xor_ks(uint8_t* p, const uint8_t* ks, size_t n) {
  size_t i = 0;
  for (; i + 64 <= n; i += 64)
    _mm512_storeu_si512(p + i, _mm512_xor_si512(_mm512_loadu_si512(p + i), _mm512_load_si512(ks + i)));
  if (i < n) {
    const __mmask64 m = byte_mask(n - i);
    _mm512_mask_storeu_epi8(p + i, m, _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, p + i), _mm512_load_si512(ks + i)));
  }
}

// Counter-mode from keystream block `ctr` on, over data (already XORed up to
// `off`); ks holds 2048 bytes.
void crypt_rest(const ChaChaInput& in, uint8_t* data, size_t len, size_t off, uint32_t ctr, uint8_t* ks) {
  while (off < len) {
    const size_t left = len - off;
    if (left >= 2048) {
      xor32(in, ctr, data + off);
      off += 2048;
      ctr += 32;
    } else if (left > 1536) {
      keystream32(in, ctr, ks);
      xor_ks(data + off, ks, left);
      off = len;
    } else if (left > 512) {
      keystream16(in, ctr, ks);
      const size_t n = left < 1024 ? left : 1024;
      xor_ks(data + off, ks, n);
      off += n;
      ctr += 16;
    } else {
      keystream8(in, ctr, ks);
      xor_ks(data + off, ks, left);
      off = len;
    }
  }
}

// ---- Poly1305 in radix 2^44 with IFMA -------------------------------------------

constexpr uint64_t kM44 = (uint64_t{1} << 44) - 1;
constexpr uint64_t kM42 = (uint64_t{1} << 42) - 1;

struct L3 {  // eight 130-bit values, one per 64-bit lane
  __m512i l0, l1, l2;
};
struct Mul {  // eight multipliers: limbs, and limbs 1 and 2 times 20
  __m512i r0, r1, r2, s1, s2;
};
struct Acc6 {
  __m512i lo0, lo1, lo2, hi0, hi1, hi2;
};

inline __m512i times20(__m512i v) { return _mm512_add_epi64(_mm512_slli_epi64(v, 4), _mm512_slli_epi64(v, 2)); }
inline Mul as_mul(const L3& r) { return {r.l0, r.l1, r.l2, times20(r.l1), times20(r.l2)}; }
inline Acc6 acc6_zero() {
  const __m512i z = _mm512_setzero_si512();
  return {z, z, z, z, z, z};
}

// a += h * r (unreduced): limb products at weight 2^(44(i+j)); those at 2^132
// and above fold back as x20 via s1, s2.
inline __attribute__((always_inline)) void madd(Acc6& a, const L3& h, const Mul& r) {
  a.lo0 = _mm512_madd52lo_epu64(a.lo0, h.l0, r.r0);
  a.hi0 = _mm512_madd52hi_epu64(a.hi0, h.l0, r.r0);
  a.lo1 = _mm512_madd52lo_epu64(a.lo1, h.l0, r.r1);
  a.hi1 = _mm512_madd52hi_epu64(a.hi1, h.l0, r.r1);
  a.lo2 = _mm512_madd52lo_epu64(a.lo2, h.l0, r.r2);
  a.hi2 = _mm512_madd52hi_epu64(a.hi2, h.l0, r.r2);
  a.lo0 = _mm512_madd52lo_epu64(a.lo0, h.l1, r.s2);
  a.hi0 = _mm512_madd52hi_epu64(a.hi0, h.l1, r.s2);
  a.lo1 = _mm512_madd52lo_epu64(a.lo1, h.l1, r.r0);
  a.hi1 = _mm512_madd52hi_epu64(a.hi1, h.l1, r.r0);
  a.lo2 = _mm512_madd52lo_epu64(a.lo2, h.l1, r.r1);
  a.hi2 = _mm512_madd52hi_epu64(a.hi2, h.l1, r.r1);
  a.lo0 = _mm512_madd52lo_epu64(a.lo0, h.l2, r.s1);
  a.hi0 = _mm512_madd52hi_epu64(a.hi0, h.l2, r.s1);
  a.lo1 = _mm512_madd52lo_epu64(a.lo1, h.l2, r.s2);
  a.hi1 = _mm512_madd52hi_epu64(a.hi1, h.l2, r.s2);
  a.lo2 = _mm512_madd52lo_epu64(a.lo2, h.l2, r.r0);
  a.hi2 = _mm512_madd52hi_epu64(a.hi2, h.l2, r.r0);
}

// Back to limbs below 2^45 (one carry step on all limbs at once). The high
// halves sit 52 bits up: 8 bits into the next limb; hi2 is at 2^140 = 5·2^10.
// Bounds: inputs below 2^46 times multipliers below 2^50, at most six terms
// per limb: lo sums < 2^55, hi < 2^47, so nothing here reaches 2^64.
inline __attribute__((always_inline)) L3 carry(const Acc6& a) {
  const __m512i m44 = _mm512_set1_epi64(static_cast<long long>(kM44));
  const __m512i m42 = _mm512_set1_epi64(static_cast<long long>(kM42));
  const __m512i a0 = _mm512_add_epi64(a.lo0, _mm512_add_epi64(_mm512_slli_epi64(a.hi2, 12), _mm512_slli_epi64(a.hi2, 10)));
  const __m512i a1 = _mm512_add_epi64(a.lo1, _mm512_slli_epi64(a.hi0, 8));
  const __m512i a2 = _mm512_add_epi64(a.lo2, _mm512_slli_epi64(a.hi1, 8));
  const __m512i c0 = _mm512_srli_epi64(a0, 44), c1 = _mm512_srli_epi64(a1, 44), c2 = _mm512_srli_epi64(a2, 42);
  return {_mm512_add_epi64(_mm512_and_si512(a0, m44), _mm512_add_epi64(c2, _mm512_slli_epi64(c2, 2))),
          _mm512_add_epi64(_mm512_and_si512(a1, m44), c0), _mm512_add_epi64(_mm512_and_si512(a2, m42), c1)};
}

// h * r + m for the Horner loop (m rides in the low accumulators). The chain
// from one group to the next is long, but the groups run inside the ChaCha20
// rounds (seal) where the latency is hidden; fewer instructions win here.
inline __attribute__((always_inline)) L3 horner(const L3& h, const L3& m, const Mul& r) {
  const __m512i z = _mm512_setzero_si512();
  Acc6 a{m.l0, m.l1, m.l2, z, z, z};
  madd(a, h, r);
  return carry(a);
}

// h * r^16 + m1 * r^8 + m2: two groups per carry. The bounds above hold with
// twelve terms per limb (lo sums < 2^56, hi < 2^46), and the m1 products do
// not wait for h, so the chain from step to step is as long as horner()'s
// for twice the blocks.
inline __attribute__((always_inline)) L3 horner2(const L3& h, const L3& m1, const L3& m2, const Mul& r16, const Mul& r8) {
  const __m512i z = _mm512_setzero_si512();
  Acc6 a{m2.l0, m2.l1, m2.l2, z, z, z};
  madd(a, m1, r8);
  madd(a, h, r16);
  return carry(a);
}

inline __attribute__((always_inline)) L3 mul(const L3& a, const L3& b) {
  Acc6 acc = acc6_zero();
  madd(acc, a, as_mul(b));
  return carry(acc);
}

inline __attribute__((always_inline)) L3 blend(__mmask8 k, const L3& a, const L3& b) {
  return {_mm512_mask_blend_epi64(k, a.l0, b.l0), _mm512_mask_blend_epi64(k, a.l1, b.l1),
          _mm512_mask_blend_epi64(k, a.l2, b.l2)};
}
inline L3 lane(const L3& a, int i) {
  const __m512i idx = _mm512_set1_epi64(i);
  return {_mm512_permutexvar_epi64(idx, a.l0), _mm512_permutexvar_epi64(idx, a.l1),
          _mm512_permutexvar_epi64(idx, a.l2)};
}

// Eight 16-byte blocks (lo = bytes 0..7 of each, hi = bytes 8..15) as limbs,
// with the 2^128 bit in the lanes of `pad`.
inline __attribute__((always_inline)) L3 limbs(__m512i lo, __m512i hi, __mmask8 pad) {
  const __m512i m44 = _mm512_set1_epi64(static_cast<long long>(kM44));
  const __m512i l2 = _mm512_srli_epi64(hi, 24);
  return {_mm512_and_si512(lo, m44),
          _mm512_and_si512(_mm512_or_si512(_mm512_srli_epi64(lo, 44), _mm512_slli_epi64(hi, 20)), m44),
          _mm512_mask_or_epi64(l2, pad, l2, _mm512_set1_epi64(int64_t{1} << 40))};
}
inline __attribute__((always_inline)) L3 limbs_at(const uint8_t* p, __mmask8 pad) {  // 128 contiguous bytes
  const __m512i a = _mm512_loadu_si512(p), b = _mm512_loadu_si512(p + 64);
  const __m512i even = _mm512_set_epi64(14, 12, 10, 8, 6, 4, 2, 0);
  const __m512i odd = _mm512_set_epi64(15, 13, 11, 9, 7, 5, 3, 1);
  return limbs(_mm512_permutex2var_epi64(a, even, b), _mm512_permutex2var_epi64(a, odd, b), pad);
}

// Powers of the per-packet r: d[i] = r^(16-i) for i < 16, zero for 16..23, as
// limb arrays, so that eight consecutive entries from any start load as one Mul.
struct alignas(64) Powers {
  uint64_t r0[24], r1[24], r2[24], s1[24], s2[24];
  Mul at(size_t i) const {
    return {_mm512_loadu_si512(r0 + i), _mm512_loadu_si512(r1 + i), _mm512_loadu_si512(r2 + i),
            _mm512_loadu_si512(s1 + i), _mm512_loadu_si512(s2 + i)};
  }
  Mul all(size_t i) const {  // d[i] in every lane
    auto b = [](uint64_t v) { return _mm512_set1_epi64(static_cast<long long>(v)); };
    return {b(r0[i]), b(r1[i]), b(r2[i]), b(s1[i]), b(s2[i])};
  }
};

void make_powers(uint64_t r0, uint64_t r1, uint64_t r2, Powers& p) {
  const L3 r{_mm512_set1_epi64(static_cast<long long>(r0)), _mm512_set1_epi64(static_cast<long long>(r1)),
             _mm512_set1_epi64(static_cast<long long>(r2))};
  const L3 one{_mm512_set1_epi64(1), _mm512_setzero_si512(), _mm512_setzero_si512()};
  const L3 r2v = mul(r, r);
  L3 x = mul(blend(0xAA, r, r2v), blend(0xCC, one, r2v));  // r^1..r^4, twice
  x = mul(x, blend(0xF0, one, lane(x, 3)));                 // r^1..r^8
  const L3 hi = mul(x, lane(x, 7));                         // r^9..r^16
  const __m512i rev = _mm512_set_epi64(0, 1, 2, 3, 4, 5, 6, 7);
  auto put = [&](uint64_t* dst, __m512i h, __m512i l) {
    _mm512_store_si512(dst, _mm512_permutexvar_epi64(rev, h));
    _mm512_store_si512(dst + 8, _mm512_permutexvar_epi64(rev, l));
    _mm512_store_si512(dst + 16, _mm512_setzero_si512());
  };
  put(p.r0, hi.l0, x.l0);
  put(p.r1, hi.l1, x.l1);
  put(p.r2, hi.l2, x.l2);
  put(p.s1, times20(hi.l1), times20(x.l1));
  put(p.s2, times20(hi.l2), times20(x.l2));
}

// The MAC input of §2.8 as a sequence of 16-byte blocks: AAD (a blocks, zero
// padded), ciphertext (c blocks, zero padded), then the length block.
struct MacInput {
  const uint8_t* aad;
  size_t aad_len;
  const uint8_t* ct;
  size_t ct_len;
  size_t a, c, n;   // block counts; n = a + c + 1
  size_t c_full;    // whole ciphertext blocks
  uint8_t lens[16];

  MacInput() = default;
  MacInput(const uint8_t* ad, size_t al, const uint8_t* p, size_t len)
      : aad(ad), aad_len(al), ct(p), ct_len(len) {
    a = (al + 15) / 16;
    c = (len + 15) / 16;
    n = a + c + 1;
    c_full = len / 16;
    const uint64_t a64 = al, c64 = len;
    std::memcpy(lens, &a64, 8);
    std::memcpy(lens + 8, &c64, 8);
  }

  // Block k as two little-endian words (without the 2^128 bit).
  void block(size_t k, uint64_t& lo, uint64_t& hi) const {
    __m128i v;
    if (k < a) {
      const size_t off = 16 * k, m = aad_len - off < 16 ? aad_len - off : 16;
      v = _mm_maskz_loadu_epi8(static_cast<__mmask16>((1u << m) - 1), aad + off);
    } else if (k < a + c) {
      const size_t off = 16 * (k - a), m = ct_len - off < 16 ? ct_len - off : 16;
      v = _mm_maskz_loadu_epi8(static_cast<__mmask16>((1u << m) - 1), ct + off);
    } else {
      v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(lens));
    }
    lo = static_cast<uint64_t>(_mm_cvtsi128_si64(v));
    hi = static_cast<uint64_t>(_mm_extract_epi64(v, 1));
  }

  // Blocks b .. b+t-1 (t <= 8) with their 2^128 bits.
  // (The fast path inline, the rest out of line: GCC otherwise stops
  // inlining the whole of it into PolyRun's steps.)
  inline __attribute__((always_inline)) L3 group(size_t b, size_t t) const {
    if (b >= a && b + t <= a + c_full && t == 8) return limbs_at(ct + 16 * (b - a), 0xFF);
    return group_slow(b, t);
  }
  __attribute__((noinline)) L3 group_slow(size_t b, size_t t) const {
    const __mmask8 pad = static_cast<__mmask8>((1u << t) - 1);
    alignas(64) uint8_t buf[128];
    for (size_t i = 0; i < 8; ++i) {
      const size_t k = b + i;
      __m128i v = _mm_setzero_si128();
      if (i >= t) {
      } else if (k < a) {
        const size_t off = 16 * k, m = aad_len - off < 16 ? aad_len - off : 16;
        v = _mm_maskz_loadu_epi8(static_cast<__mmask16>((1u << m) - 1), aad + off);
      } else if (k < a + c) {
        const size_t off = 16 * (k - a), m = ct_len - off < 16 ? ct_len - off : 16;
        v = _mm_maskz_loadu_epi8(static_cast<__mmask16>((1u << m) - 1), ct + off);
      } else {
        v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(lens));
      }
      _mm_store_si128(reinterpret_cast<__m128i*>(buf + 16 * i), v);
    }
    const L3 r = limbs_at(buf, pad);
    _mm512_store_si512(buf, _mm512_setzero_si512());
    _mm512_store_si512(buf + 64, _mm512_setzero_si512());
    return r;
  }
};

// h = w0 + w1·2^64 + w2·2^128 < 2p: h mod p by a constant-time conditional
// subtraction of p, plus s, mod 2^128 (§2.5.1).
inline void poly1305_finish(uint64_t w0, uint64_t w1, uint64_t w2, const uint8_t otk[32], uint8_t tag[16]) {
  unsigned __int128 g = static_cast<unsigned __int128>(w0) + 5;
  const uint64_t g0 = static_cast<uint64_t>(g);
  g = static_cast<unsigned __int128>(w1) + static_cast<uint64_t>(g >> 64);
  const uint64_t g1 = static_cast<uint64_t>(g);
  const uint64_t g2 = w2 + static_cast<uint64_t>(g >> 64);
  const uint64_t take = 0 - (g2 >> 2);  // all ones when h >= p
  w0 = (w0 & ~take) | (g0 & take);
  w1 = (w1 & ~take) | (g1 & take);
  uint64_t s0, s1;
  std::memcpy(&s0, otk + 16, 8);
  std::memcpy(&s1, otk + 24, 8);
  unsigned __int128 t0 = static_cast<unsigned __int128>(w0) + s0;
  const uint64_t o0 = static_cast<uint64_t>(t0);
  const uint64_t o1 = w1 + s1 + static_cast<uint64_t>(t0 >> 64);
  std::memcpy(tag, &o0, 8);
  std::memcpy(tag + 8, &o1, 8);
}

// Poly1305 (§2.5.1) of an AEAD MAC input of more than eight blocks, in steps:
// step_upto() folds groups of eight blocks (keeping the last 1..8 for
// finish()) and may be called from a ChaCha20 hook; finish() does the rest.
struct PolyRun {
  const MacInput& in;
  alignas(64) Powers pw;
  L3 h;
  size_t b = 0;
  bool started = false;

  PolyRun(const MacInput& m, const uint8_t otk[32]) : in(m) {
    uint64_t k0, k1;
    std::memcpy(&k0, otk, 8);
    std::memcpy(&k1, otk + 8, 8);
    k0 &= 0x0ffffffc0fffffffULL;  // clamp(r), §2.5
    k1 &= 0x0ffffffc0ffffffcULL;
    make_powers(k0 & kM44, ((k0 >> 44) | (k1 << 20)) & kM44, k1 >> 24, pw);
    h = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512()};
  }
  ~PolyRun() { OPENSSL_cleanse(&pw, sizeof pw); }

  // Two groups (or one) if their blocks lie below `ready` (MAC-input blocks
  // that hold their final bytes) and more than eight blocks remain after.
  inline void step_upto(size_t ready) {
    if (b + 16 <= ready && in.n - b > 16) {
      const L3 m1 = in.group(b, 8), m2 = in.group(b + 8, 8);
      const Mul r8 = pw.all(8);
      if (started) h = horner2(h, m1, m2, pw.all(0), r8);  // r^16, r^8
      else h = horner(m1, m2, r8);
      started = true;
      b += 16;
      return;
    }
    if (b + 8 > ready || in.n - b <= 8) return;
    const L3 m = in.group(b, 8);
    if (started) {
      const Mul r8 = pw.all(8);
      h = horner(h, m, r8);
    } else {
      h = m;
    }
    started = true;
    b += 8;
  }

  // Every group below `ready`, keeping the last 1..8 blocks for finish().
  void run_upto(size_t ready) {
    while (b + 8 <= ready && in.n - b > 8) step_upto(ready);
  }

  // The same with two independent chains, for runs outside the ChaCha20
  // rounds, where one chain's latency (~57 cycles per 16 blocks) would
  // bound it: with D0, D1, ... the 16-block double groups (D = m1·r^8 + m2),
  // A takes D0, D2, ... and B takes D1, D3, ... at r^32 apart (A's first
  // step multiplies the earlier h by r^16), and h = A·r^16 + B at the end,
  // the same value as the single chain's h·r^(16k) + D0·r^(16(k-1)) + ...
  void run2_upto(size_t ready) {
    if (b + 32 <= ready && in.n - (b + 32) > 8) {
      const Mul r8 = pw.all(8), r16 = pw.all(0);
      const L3 r16l{_mm512_set1_epi64(static_cast<long long>(pw.r0[0])),
                    _mm512_set1_epi64(static_cast<long long>(pw.r1[0])),
                    _mm512_set1_epi64(static_cast<long long>(pw.r2[0]))};
      const Mul r32 = as_mul(mul(r16l, r16l));
      L3 ha, hb;
      {
        const L3 m1 = in.group(b, 8), m2 = in.group(b + 8, 8), m3 = in.group(b + 16, 8), m4 = in.group(b + 24, 8);
        if (started) ha = horner2(h, m1, m2, r16, r8);
        else ha = horner(m1, m2, r8);
        hb = horner(m3, m4, r8);
        b += 32;
      }
      while (b + 32 <= ready && in.n - (b + 32) > 8) {
        const L3 m1 = in.group(b, 8), m2 = in.group(b + 8, 8), m3 = in.group(b + 16, 8), m4 = in.group(b + 24, 8);
        ha = horner2(ha, m1, m2, r32, r8);
        hb = horner2(hb, m3, m4, r32, r8);
        b += 32;
      }
      const __m512i z = _mm512_setzero_si512();
      Acc6 a{hb.l0, hb.l1, hb.l2, z, z, z};
      madd(a, ha, r16);
      h = carry(a);
      started = true;
    }
    run_upto(ready);
  }

  void finish(const uint8_t otk[32], uint8_t tag[16]) {
    while (in.n - b > 8) step_upto(in.n);
    const size_t t = in.n - b;
    const L3 m = in.group(b, t);
    Acc6 acc = acc6_zero();
    if (started) madd(acc, h, pw.at(8 - t));  // lane j owes r^(8+t-j)
    madd(acc, m, pw.at(16 - t));              // tail block j owes r^(t-j); lanes >= t get 0
    const L3 f = carry(acc);
    uint64_t h0 = static_cast<uint64_t>(_mm512_reduce_add_epi64(f.l0));
    uint64_t h1 = static_cast<uint64_t>(_mm512_reduce_add_epi64(f.l1));
    uint64_t h2 = static_cast<uint64_t>(_mm512_reduce_add_epi64(f.l2));
    // Full carry, then back to radix 2^64 for the final reduction.
    uint64_t c = h0 >> 44;
    h0 &= kM44, h1 += c, c = h1 >> 44, h1 &= kM44, h2 += c, c = h2 >> 42, h2 &= kM42;
    h0 += c * 5, c = h0 >> 44, h0 &= kM44, h1 += c, c = h1 >> 44, h1 &= kM44, h2 += c;
    poly1305_finish(h0 | (h1 << 44), (h1 >> 20) | (h2 << 24), h2 >> 40, otk, tag);
  }
};

// Short MAC inputs (at most eight blocks): one block at a time in radix
// 2^64 with 64x64->128 multiplications; no powers of r to set up.
// h = h0 + h1·2^64 + h2·2^128 (h2 small); r1 is a multiple of 4, so
// r1·2^128 = (r1/4)·2^130 = 5·(r1/4) = s1 (mod p).
using u128 = unsigned __int128;

// One block: h = (h + lo + hi·2^64 + 2^128)·r, partly reduced (h2 stays
// small).
inline __attribute__((always_inline)) void sblock(uint64_t& h0, uint64_t& h1, uint64_t& h2, uint64_t r0, uint64_t r1,
                                                  uint64_t s1, uint64_t lo, uint64_t hi) {
  u128 t = static_cast<u128>(h0) + lo;
  h0 = static_cast<uint64_t>(t);
  t = static_cast<u128>(h1) + hi + static_cast<uint64_t>(t >> 64);
  h1 = static_cast<uint64_t>(t);
  h2 += 1 + static_cast<uint64_t>(t >> 64);
  const u128 d0 = static_cast<u128>(h0) * r0 + static_cast<u128>(h1) * s1;
  u128 d1 = static_cast<u128>(h0) * r1 + static_cast<u128>(h1) * r0 + static_cast<u128>(h2) * s1;
  uint64_t d2 = h2 * r0;
  d1 += static_cast<uint64_t>(d0 >> 64);
  d2 += static_cast<uint64_t>(d1 >> 64);
  h0 = static_cast<uint64_t>(d0);
  h1 = static_cast<uint64_t>(d1);
  h2 = d2 & 3;
  const uint64_t fold = (d2 & ~uint64_t{3}) + (d2 >> 2);  // 5·(d2 >> 2)
  t = static_cast<u128>(h0) + fold;
  h0 = static_cast<uint64_t>(t);
  t = static_cast<u128>(h1) + static_cast<uint64_t>(t >> 64);
  h1 = static_cast<uint64_t>(t);
  h2 += static_cast<uint64_t>(t >> 64);
}

// r (clamped, §2.5) and s1 = r1 + r1/4.
inline void clamp_r(const uint8_t otk[32], uint64_t& r0, uint64_t& r1, uint64_t& s1) {
  std::memcpy(&r0, otk, 8);
  std::memcpy(&r1, otk + 8, 8);
  r0 &= 0x0ffffffc0fffffffULL;
  r1 &= 0x0ffffffc0ffffffcULL;
  s1 = r1 + (r1 >> 2);
}

// sblock() and clamp_r() written out: with them inlined GCC allocates this
// loop's registers worse (64-byte packets in bursts of 32: 4-8% slower,
// measured twice against this version).
void poly1305_short(const uint8_t otk[32], const MacInput& in, uint8_t tag[16]) {
  uint64_t r0, r1;
  std::memcpy(&r0, otk, 8);
  std::memcpy(&r1, otk + 8, 8);
  r0 &= 0x0ffffffc0fffffffULL;
  r1 &= 0x0ffffffc0ffffffcULL;
  const uint64_t s1 = r1 + (r1 >> 2);
  uint64_t h0 = 0, h1 = 0, h2 = 0;
  for (size_t k = 0; k < in.n; ++k) {
    uint64_t lo, hi;
    in.block(k, lo, hi);
    u128 t = static_cast<u128>(h0) + lo;
    h0 = static_cast<uint64_t>(t);
    t = static_cast<u128>(h1) + hi + static_cast<uint64_t>(t >> 64);
    h1 = static_cast<uint64_t>(t);
    h2 += 1 + static_cast<uint64_t>(t >> 64);
    const u128 d0 = static_cast<u128>(h0) * r0 + static_cast<u128>(h1) * s1;
    u128 d1 = static_cast<u128>(h0) * r1 + static_cast<u128>(h1) * r0 + static_cast<u128>(h2) * s1;
    uint64_t d2 = h2 * r0;
    d1 += static_cast<uint64_t>(d0 >> 64);
    d2 += static_cast<uint64_t>(d1 >> 64);
    h0 = static_cast<uint64_t>(d0);
    h1 = static_cast<uint64_t>(d1);
    h2 = d2 & 3;
    const uint64_t fold = (d2 & ~uint64_t{3}) + (d2 >> 2);  // 5·(d2 >> 2)
    t = static_cast<u128>(h0) + fold;
    h0 = static_cast<uint64_t>(t);
    t = static_cast<u128>(h1) + static_cast<uint64_t>(t >> 64);
    h1 = static_cast<uint64_t>(t);
    h2 += static_cast<uint64_t>(t >> 64);
  }
  poly1305_finish(h0, h1, h2, otk, tag);
}

void poly1305(const uint8_t otk[32], const MacInput& in, uint8_t tag[16]) {
  if (in.n <= 8) {
    poly1305_short(otk, in, tag);
  } else {
    PolyRun pr(in, otk);
    pr.run2_upto(in.n);
    pr.finish(otk, tag);
  }
}

// ---- the AEAD (§2.8) ------------------------------------------------------------

// Packets longer than this start with a 32-block pass: the Poly1305 key and
// 1984 bytes (at 16 KiB the rest is then seven whole 32-block passes and one
// block, where a 16-block first pass leaves 1088 bytes for a 16- and an
// 8-block pass).
constexpr size_t kFirst32 = 4096;

// The first pass: blocks 0.. (32 for long packets; 16, or 8 when that covers
// the packet). ks holds 2048 bytes.
inline size_t first_pass(const ChaChaInput& in, size_t len, uint8_t* ks) {
  if (len > kFirst32) {
    keystream32(in, 0, ks);
    return 32;
  }
  if (len > 7 * 64) {
    keystream16(in, 0, ks);
    return 16;
  }
  keystream8(in, 0, ks);
  return 8;
}

}  // namespace

// Seal: the first pass gives the Poly1305 key and the first 960 bytes; every
// later pass runs the Poly1305 groups of the ciphertext written so far inside
// its rounds. With a mask job m whose sample lies in ciphertext written
// before the last pass, that pass computes the mask in a spare lane (an
// 8-block pass lane 7, a 16-block pass lane 15; a last pass of exactly 8
// blocks becomes a 16-block one). Returns whether it did.
static __attribute__((noinline)) bool seal_one(AeadJob& j, MaskJob* m) {
  const size_t len = j.data.size();
  if (len > kMaxChaChaBytes) {
    j.status = Status::invalid_argument;
    return false;
  }
  bool masked = false;
  const ChaChaInput in = input_for(j);
  uint8_t* data = j.data.data();
  alignas(64) uint8_t ks[2048 + 64];  // (+64: GCC cannot see that xor_ks(ks + 64, ...) stays inside)
  const size_t w = first_pass(in, len, ks);
  const size_t first = len < (w - 1) * 64 ? len : (w - 1) * 64;
  xor_ks(data, ks + 64, first);
  alignas(16) uint8_t otk[32];
  std::memcpy(otk, ks, 32);
  const MacInput mi(j.aad.data(), j.aad.size(), data, len);
  uint8_t tag[16];
  if (mi.n <= 8) {
    crypt_rest(in, data, len, first, static_cast<uint32_t>(w), ks);
    poly1305_short(otk, mi, tag);
  } else {
    PolyRun pr(mi, otk);
    size_t off = first;
    uint32_t ctr = static_cast<uint32_t>(w);
    // Long packets: 32-block passes, then the Poly1305 of what they wrote
    // (up to 16 KiB: still in L1) in two chains.
    while (len - off > 1536) {
      size_t n = 2048;
      if (len - off >= 2048) {
        xor32(in, ctr, data + off);
      } else {
        keystream32(in, ctr, ks);
        xor_ks(data + off, ks, n = len - off);
      }
      off += n;
      ctr += 32;
      if (off % 16384 < 2048) pr.run2_upto(mi.a + off / 16);
    }
    pr.run2_upto(mi.a + off / 16);
    // The sample, 16 bytes from data + sample_at, is ciphertext once off
    // passes its end.
    const uintptr_t sample_at =
        m != nullptr ? reinterpret_cast<uintptr_t>(m->sample) - reinterpret_cast<uintptr_t>(data) : ~uintptr_t{0};
    while (off < len) {
      const size_t left = len - off, ready = mi.a + off / 16;
      auto hook = [&] { pr.step_upto(ready); };
      if (left <= 15 * 64 && off >= 16 && sample_at <= off - 16) {
        if (left <= 7 * 64)
          keystream_masked<__m256i>(in, ctr, ks, hook, *m, 7);
        else
          keystream_masked<__m512i>(in, ctr, ks, hook, *m, 15);
        xor_ks(data + off, ks, left);
        off = len;
        masked = true;
      } else if (left > 512) {
        keystream<__m512i>(in, ctr, ks, hook);
        const size_t n = left < 1024 ? left : 1024;
        xor_ks(data + off, ks, n);
        off += n;
        ctr += 16;
      } else {
        keystream<__m256i>(in, ctr, ks, hook);
        xor_ks(data + off, ks, left);
        off = len;
      }
    }
    pr.finish(otk, tag);
  }
  std::memcpy(j.tag, tag, j.key->tag_len());
  OPENSSL_cleanse(ks, len - first > 1536 ? 2048 : 1024);  // what the passes wrote
  OPENSSL_cleanse(otk, sizeof otk);
  j.status = Status::ok;
  return masked;
}

void chacha_seal_one(AeadJob& j) { seal_one(j, nullptr); }

// Open of packets up to kOpenBuffered bytes keeps the whole keystream so that
// the Poly1305 groups of the ciphertext, all present from the start, run
// inside the rounds of every pass after the first (which yields the key);
// only when the tag matches is the buffered keystream XORed in. Longer ones
// verify first and then decrypt with 32-block passes: at 9000 and 16384 bytes
// that measured 4.05-4.1 GB/s against 3.35-3.4 for the buffered, stitched
// open (the 32-block passes are ~12% cheaper per block than 16-block ones,
// and Poly1305 alone runs two groups per carry without competing for ports).
constexpr size_t kOpenBuffered = 2048;

// With a mask job m (packets of up to kOpenBuffered bytes: its sample in the
// ciphertext, which the buffered path leaves untouched until the tag
// matched), the mask runs in a spare lane of the first pass (packets of up to
// 14 data blocks) or of the last one, which has one unless 16 blocks remain
// for it (15 or 31 data blocks); otherwise m is computed on its own before
// the data changes.
static __attribute__((noinline)) void open_one(AeadJob& j, MaskJob* m) {
  const size_t len = j.data.size();
  if (len > kMaxChaChaBytes) {
    j.status = Status::invalid_argument;
    return;
  }
  const ChaChaInput in = input_for(j);
  uint8_t tag[16];
  const __mmask16 tm = static_cast<__mmask16>((1u << j.key->tag_len()) - 1);
  if (len <= kOpenBuffered) {
    // Blocks 0 .. nb-1 (block 0 = the Poly1305 key); passes may run up to
    // 15 blocks past nb.
    alignas(64) uint8_t kb[64 * (kOpenBuffered / 64 + 1 + 15)];
    const size_t nb = 1 + (len + 63) / 64;
    const size_t w1 = len > 7 * 64 ? 16 : 8;  // first_pass's width up to kFirst32
    size_t done;
    if (m != nullptr && nb < w1) {
      if (w1 == 16)
        keystream_masked<__m512i>(in, 0, kb, NoHook{}, *m, 15);
      else
        keystream_masked<__m256i>(in, 0, kb, NoHook{}, *m, 7);
      done = w1;
      m = nullptr;
    } else {
      done = first_pass(in, len, kb);
    }
    const MacInput mi(j.aad.data(), j.aad.size(), j.data.data(), len);
    if (mi.n <= 8) {
      if (done < nb) keystream8(in, static_cast<uint32_t>(done), kb + 64 * done), done += 8;
      poly1305_short(kb, mi, tag);
    } else {
      PolyRun pr(mi, kb);
      auto hook = [&] { pr.step_upto(mi.n); };
      while (done < nb) {
        if (m != nullptr && nb - done < 16) {
          if (nb - done < 8)
            keystream_masked<__m256i>(in, static_cast<uint32_t>(done), kb + 64 * done, hook, *m, 7);
          else
            keystream_masked<__m512i>(in, static_cast<uint32_t>(done), kb + 64 * done, hook, *m, 15);
          done += nb - done < 8 ? 8 : 16;
          m = nullptr;
        } else if (nb - done > 8) {
          keystream<__m512i>(in, static_cast<uint32_t>(done), kb + 64 * done, hook);
          done += 16;
        } else {
          keystream<__m256i>(in, static_cast<uint32_t>(done), kb + 64 * done, hook);
          done += 8;
        }
      }
      pr.finish(kb, tag);
    }
    if (m != nullptr) chacha_masks(m, 1);  // no spare lane; the data is still as it arrived
    const __m128i diff = _mm_xor_si128(_mm_maskz_loadu_epi8(tm, tag), _mm_maskz_loadu_epi8(tm, j.tag));
    const bool ok = _mm_testz_si128(diff, diff);
    if (ok) xor_ks(j.data.data(), kb + 64, len);
    OPENSSL_cleanse(kb, 64 * done);
    OPENSSL_cleanse(tag, sizeof tag);
    j.status = ok ? Status::ok : Status::auth_failed;
    return;
  }
  // Longer packets: verify first (RFC 8439 §2.8 allows it: the MAC covers
  // the ciphertext), then decrypt, recomputing the keystream after the first
  // pass. (chacha_open_masked gives them no mask job.)
  alignas(64) uint8_t ks[2048 + 64];  // (+64: GCC cannot see that xor_ks(ks + 64, ...) stays inside)
  const size_t w = first_pass(in, len, ks);
  poly1305(ks, MacInput(j.aad.data(), j.aad.size(), j.data.data(), len), tag);
  const __m128i diff = _mm_xor_si128(_mm_maskz_loadu_epi8(tm, tag), _mm_maskz_loadu_epi8(tm, j.tag));
  if (!_mm_testz_si128(diff, diff)) {
    OPENSSL_cleanse(ks, sizeof ks);
    j.status = Status::auth_failed;
    return;
  }
  const size_t first = len < (w - 1) * 64 ? len : (w - 1) * 64;
  xor_ks(j.data.data(), ks + 64, first);
  crypt_rest(in, j.data.data(), len, first, static_cast<uint32_t>(w), ks);
  OPENSSL_cleanse(ks, sizeof ks);
  j.status = Status::ok;
}

void chacha_open_one(AeadJob& j) { open_one(j, nullptr); }

// ---- several short packets per pass ------------------------------------------

namespace {

// Packets of at most 448 bytes need at most 8 blocks (block 0 for the
// Poly1305 key, then the data); several of them share one pass, each in
// consecutive lanes with its own key, nonce and counters 0, 1, ...
constexpr size_t kShortMax = 7 * 64;

// A short packet's seal or open, given its block 0 (otk: the Poly1305 key)
// and the keystream blocks after it.
template <bool kSeal>
inline void finish_short(AeadJob& j, const uint8_t* otk) {
  const uint8_t* kd = otk + 64;
  const size_t len = j.data.size();
  uint8_t tag[16];
  if constexpr (kSeal) {
    xor_ks(j.data.data(), kd, len);
    poly1305(otk, MacInput(j.aad.data(), j.aad.size(), j.data.data(), len), tag);
    std::memcpy(j.tag, tag, j.key->tag_len());
    j.status = Status::ok;
  } else {
    poly1305(otk, MacInput(j.aad.data(), j.aad.size(), j.data.data(), len), tag);
    const __mmask16 tm = static_cast<__mmask16>((1u << j.key->tag_len()) - 1);
    const __m128i diff = _mm_xor_si128(_mm_maskz_loadu_epi8(tm, tag), _mm_maskz_loadu_epi8(tm, j.tag));
    if (_mm_testz_si128(diff, diff)) {
      xor_ks(j.data.data(), kd, len);
      j.status = Status::ok;
    } else {
      j.status = Status::auth_failed;
    }
  }
}

template <bool kSeal, class V, int W>
void short_batch(AeadJob* const* js, size_t n, MaskJob* m = nullptr) {
  alignas(64) uint32_t w[16][W];  // w[word][lane]; words 0..3 are broadcast
  alignas(64) uint8_t ks[64 * W];
  size_t start[16];
  V x[16], s[16];
  if (n == 1) {  // one packet: its counters 0..W-1, nothing to gather
    start[0] = 0;
    init_state(s, input_for(*js[0]), 0);
    if (!kSeal && m != nullptr) mask_into_lane(s, W - 1, *m);  // a spare last lane (chacha_open_masked)
  } else {
    gather_lanes(js, n, w, start);
    for (int i = 0; i < 4; ++i) bcast(s[i], kSigma[i]);
    for (int i = 4; i < 16; ++i) std::memcpy(&s[i], w[i], sizeof(V));
    OPENSSL_cleanse(w, sizeof w);
  }
  for (int i = 0; i < 16; ++i) x[i] = s[i];
  rounds20(x);
  for (int i = 0; i < 16; ++i) x[i] = vadd(x[i], s[i]);
  store_blocks(x, ks);
  if (!kSeal && m != nullptr) std::memcpy(m->mask, ks + 64 * (W - 1), 16);
  for (size_t p = 0; p < n; ++p) finish_short<kSeal>(*js[p], ks + 64 * start[p]);
  OPENSSL_cleanse(ks, sizeof ks);
}

// ---- one short packet on its own ----------------------------------------------
// A lone packet of at most 192 bytes needs four blocks (its Poly1305 key and
// three of data), one of at most 64 bytes two. The 8-lane pass above computes
// eight blocks with 96 vector operations per double round. Here the blocks sit
// side by side instead, block k in 128-bit lane k of four rows a, b, c, d (the
// state's rows, §2.3): a double round is two quarter rounds on whole rows
// (the four column quarter rounds at once), with the diagonals lined up by
// rotating the words of rows b, c, d within each lane: 30 operations, one
// dependency chain. Measured here (Zen 4, 64-byte seal, burst 1): see the
// README's AEAD table.
template <int Imm>
inline __m256i lane_rot(__m256i v) { return _mm256_shuffle_epi32(v, Imm); }
template <int Imm>
inline __m512i lane_rot(__m512i v) { return _mm512_shuffle_epi32(v, static_cast<_MM_PERM_ENUM>(Imm)); }

inline void each_lane(__m256i& v, __m128i row) { v = _mm256_broadcastsi128_si256(row); }
inline void each_lane(__m512i& v, __m128i row) { v = _mm512_broadcast_i32x4(row); }

// Lane k's row d gets block counter c + k.
inline __m256i lane_counters(__m256i d) { return _mm256_add_epi32(d, _mm256_set_epi32(0, 0, 0, 1, 0, 0, 0, 0)); }
inline __m512i lane_counters(__m512i d) {
  return _mm512_add_epi32(d, _mm512_set_epi32(0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0));
}

// Rows a, b, c, d back to blocks: lane k of each row, in that order, is block k.
inline void store_rows(const __m256i* r, uint8_t* ks) {
  _mm256_store_si256(reinterpret_cast<__m256i*>(ks), _mm256_permute2x128_si256(r[0], r[1], 0x20));
  _mm256_store_si256(reinterpret_cast<__m256i*>(ks + 32), _mm256_permute2x128_si256(r[2], r[3], 0x20));
  _mm256_store_si256(reinterpret_cast<__m256i*>(ks + 64), _mm256_permute2x128_si256(r[0], r[1], 0x31));
  _mm256_store_si256(reinterpret_cast<__m256i*>(ks + 96), _mm256_permute2x128_si256(r[2], r[3], 0x31));
}
inline void store_rows(const __m512i* r, uint8_t* ks) {
  const __m512i ab01 = _mm512_shuffle_i32x4(r[0], r[1], 0x44), cd01 = _mm512_shuffle_i32x4(r[2], r[3], 0x44);
  const __m512i ab23 = _mm512_shuffle_i32x4(r[0], r[1], 0xEE), cd23 = _mm512_shuffle_i32x4(r[2], r[3], 0xEE);
  _mm512_store_si512(ks, _mm512_shuffle_i32x4(ab01, cd01, 0x88));
  _mm512_store_si512(ks + 64, _mm512_shuffle_i32x4(ab01, cd01, 0xDD));
  _mm512_store_si512(ks + 128, _mm512_shuffle_i32x4(ab23, cd23, 0x88));
  _mm512_store_si512(ks + 192, _mm512_shuffle_i32x4(ab23, cd23, 0xDD));
}

// With a mask job m (open only: its sample is ciphertext as it arrived), the
// last lane runs m's block instead (its key in rows b and c, the sample as row
// d), so a packet of at most 128 bytes gets its mask from the same chain.
template <bool kSeal, class V>
void short_one(AeadJob& j, MaskJob* m = nullptr) {
  constexpr int kBlocks = sizeof(V) / 16;
  alignas(64) uint8_t ks[64 * kBlocks];
  const ChaChaInput in = input_for(j);
  V s[4], r[4];
  each_lane(s[0], _mm_loadu_si128(reinterpret_cast<const __m128i*>(kSigma)));
  each_lane(s[1], _mm_loadu_si128(reinterpret_cast<const __m128i*>(in.key)));
  each_lane(s[2], _mm_loadu_si128(reinterpret_cast<const __m128i*>(in.key + 4)));
  each_lane(s[3], _mm_set_epi32(static_cast<int>(in.nonce[2]), static_cast<int>(in.nonce[1]),
                                static_cast<int>(in.nonce[0]), 0));
  s[3] = lane_counters(s[3]);
  if constexpr (sizeof(V) == 64) {
    if (m != nullptr) {
      const uint8_t* hp = m->key->chacha_key();
      s[1] = _mm512_inserti32x4(s[1], _mm_loadu_si128(reinterpret_cast<const __m128i*>(hp)), 3);
      s[2] = _mm512_inserti32x4(s[2], _mm_loadu_si128(reinterpret_cast<const __m128i*>(hp + 16)), 3);
      s[3] = _mm512_inserti32x4(s[3], _mm_loadu_si128(reinterpret_cast<const __m128i*>(m->sample)), 3);
    }
  }
  for (int i = 0; i < 4; ++i) r[i] = s[i];
#pragma GCC unroll 10
  for (int i = 0; i < 10; ++i) {
    quarter(r[0], r[1], r[2], r[3]);  // columns
    r[1] = lane_rot<0x39>(r[1]), r[2] = lane_rot<0x4E>(r[2]), r[3] = lane_rot<0x93>(r[3]);
    quarter(r[0], r[1], r[2], r[3]);  // diagonals
    r[1] = lane_rot<0x93>(r[1]), r[2] = lane_rot<0x4E>(r[2]), r[3] = lane_rot<0x39>(r[3]);
  }
  for (int i = 0; i < 4; ++i) r[i] = vadd(r[i], s[i]);
  store_rows(r, ks);
  if (m != nullptr) std::memcpy(m->mask, ks + 64 * (kBlocks - 1), 16);
  finish_short<kSeal>(j, ks);
  OPENSSL_cleanse(ks, sizeof ks);
}

// Seal of a run of packets of 449..1472 bytes (one 16-block pass, or a 16-
// and an 8-block pass): the Poly1305 of packet i runs inside the rounds of
// packet i+1, so that its latency (the power table, the last groups and the
// final sum) hides behind ChaCha20 work, and packet i's tag is written once
// packet i+1's keystream is done. The last packet's MAC finishes on its own.
constexpr size_t kPipeMax = 23 * 64;

class SealPipe {
 public:
  ~SealPipe() { OPENSSL_cleanse(ks_, sizeof ks_); }

  // One packet: a 16-block pass (blocks 0..15) and, past 960 bytes, an
  // 8-block pass (blocks 16..23).
  void push(AeadJob& j) {
    const size_t len = j.data.size();
    const ChaChaInput in = input_for(j);
    auto hook = [this] { step_pending(); };
    Slot& me = first_pass(j, in, hook);
    if (len > 960) {
      keystream<__m256i>(in, 16, ks_, hook);
      xor_ks(j.data.data() + 960, ks_, len - 960);
    }
    retire(&me, nullptr);
  }

  // Two packets of 961..1472 bytes: their first 16-block passes, then one
  // 16-lane pass for both tails (lanes 0..7: A's blocks 16..23, lanes 8..15:
  // B's) instead of two 8-lane passes, which cost 2/3 of a 16-lane pass each.
  void push_pair(AeadJob& ja, AeadJob& jb) {
    const ChaChaInput ia = input_for(ja), ib = input_for(jb);
    auto hook = [this] { step_pending(); };
    Slot& sa = first_pass(ja, ia, hook);
    Slot& sb = first_pass(jb, ib, hook);
    __m512i x[16], st[16];
    const __mmask16 hi = 0xFF00;
    for (int i = 0; i < 4; ++i) bcast(st[i], kSigma[i]);
    auto pair = [&](uint32_t va, uint32_t vb) {
      return _mm512_mask_blend_epi32(hi, _mm512_set1_epi32(static_cast<int>(va)), _mm512_set1_epi32(static_cast<int>(vb)));
    };
    for (int i = 0; i < 8; ++i) st[4 + i] = pair(ia.key[i], ib.key[i]);
    st[12] = _mm512_set_epi32(23, 22, 21, 20, 19, 18, 17, 16, 23, 22, 21, 20, 19, 18, 17, 16);
    for (int i = 0; i < 3; ++i) st[13 + i] = pair(ia.nonce[i], ib.nonce[i]);
    for (int i = 0; i < 16; ++i) x[i] = st[i];
    rounds20(x, hook);
    for (int i = 0; i < 16; ++i) x[i] = vadd(x[i], st[i]);
    store_blocks(x, ks_);
    xor_ks(ja.data.data() + 960, ks_, ja.data.size() - 960);
    xor_ks(jb.data.data() + 960, ks_ + 512, jb.data.size() - 960);
    retire(&sa, &sb);
  }

  void drain() { retire(nullptr, nullptr); }

 private:
  struct Slot {
    AeadJob* j = nullptr;
    MacInput mi;
    alignas(16) uint8_t otk[32];
    std::optional<PolyRun> pr;
    ~Slot() { OPENSSL_cleanse(otk, sizeof otk); }
  };

  // Blocks 0..15 of j: the one-time key into a fresh slot (whose power table
  // then builds while later passes run) and the first 960 bytes encrypted.
  template <class Hook>
  Slot& first_pass(AeadJob& j, const ChaChaInput& in, Hook& hook) {
    const size_t len = j.data.size();
    keystream<__m512i>(in, 0, ks_, hook);
    xor_ks(j.data.data(), ks_ + 64, len < 960 ? len : 960);
    Slot& me = slot_[next_];
    next_ = (next_ + 1) % 4;
    std::memcpy(me.otk, ks_, 32);
    me.j = &j;
    me.mi = MacInput(j.aad.data(), j.aad.size(), j.data.data(), len);
    me.pr.emplace(me.mi, me.otk);
    return me;
  }

  // One Poly1305 group of each packet whose MAC is pending (its ciphertext
  // is complete).
  inline void step_pending() {
    if (pend_[0] != nullptr) pend_[0]->pr->step_upto(pend_[0]->mi.n);
    if (pend_[1] != nullptr) pend_[1]->pr->step_upto(pend_[1]->mi.n);
  }

  // Finishes the pending MACs and makes a, b (just encrypted) pending.
  void retire(Slot* a, Slot* b) {
    for (Slot* p : pend_)
      if (p != nullptr) finish(*p);
    pend_[0] = a;
    pend_[1] = b;
  }

  static void finish(Slot& s) {
    uint8_t tag[16];
    s.pr->finish(s.otk, tag);
    std::memcpy(s.j->tag, tag, s.j->key->tag_len());
    s.j->status = Status::ok;
    s.pr.reset();
    OPENSSL_cleanse(s.otk, sizeof s.otk);
    OPENSSL_cleanse(tag, sizeof tag);
  }

  alignas(64) uint8_t ks_[1024];
  Slot slot_[4];  // at most two pending and two being encrypted
  Slot* pend_[2] = {nullptr, nullptr};
  int next_ = 0;
};

// Kept out of line, as are chacha_seal_one and chacha_open_one: their stack
// frames (up to 17 KiB for open's buffered keystream) would otherwise sit in
// run_many's frame and cost short packets ~40 ns a call in cache misses.
__attribute__((noinline)) void seal_pipelined(AeadJob* const* js, size_t n) {
  SealPipe pipe;
  for (size_t i = 0; i < n; ++i) {
    if (i + 1 < n && js[i]->data.size() > 960 && js[i + 1]->data.size() > 960) {
      pipe.push_pair(*js[i], *js[i + 1]);
      ++i;
    } else {
      pipe.push(*js[i]);
    }
  }
  pipe.drain();
}

// ---- sixteen packets across the lanes (multi-buffer) ---------------------------

// A run of 16 packets of 449..1472 bytes: ChaCha20 with lane l = packet l
// (pass c computes block c of all sixteen packets, so 1 + ceil(len/64)
// passes cover them with no partial pass), and Poly1305 with lane p = packet
// p, eight packets per register, each lane multiplying by its own r one
// block at a time: no power table and no horizontal sum per packet. Lanes
// whose MAC input has ended (packets of different lengths or AAD) keep
// their accumulator through a mask.
constexpr int kMbLanes = 16;

// 8x8 transpose of 64-bit words: r[p] = row p (64 bytes of packet p), out
// c[w] = word w of every row.
inline void transpose8x8(const __m512i* r, __m512i* c) {
  __m512i t[8], u[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm512_unpacklo_epi64(r[2 * i], r[2 * i + 1]);      // words 0,2,4,6
    t[2 * i + 1] = _mm512_unpackhi_epi64(r[2 * i], r[2 * i + 1]);  // words 1,3,5,7
  }
  for (int h = 0; h < 2; ++h) {  // rows 4h..4h+3
    __m512i* t4 = t + 4 * h;
    u[4 * h + 0] = _mm512_shuffle_i64x2(t4[0], t4[2], _MM_SHUFFLE(2, 0, 2, 0));  // w0 | w4
    u[4 * h + 1] = _mm512_shuffle_i64x2(t4[0], t4[2], _MM_SHUFFLE(3, 1, 3, 1));  // w2 | w6
    u[4 * h + 2] = _mm512_shuffle_i64x2(t4[1], t4[3], _MM_SHUFFLE(2, 0, 2, 0));  // w1 | w5
    u[4 * h + 3] = _mm512_shuffle_i64x2(t4[1], t4[3], _MM_SHUFFLE(3, 1, 3, 1));  // w3 | w7
  }
  c[0] = _mm512_shuffle_i64x2(u[0], u[4], _MM_SHUFFLE(2, 0, 2, 0));
  c[4] = _mm512_shuffle_i64x2(u[0], u[4], _MM_SHUFFLE(3, 1, 3, 1));
  c[2] = _mm512_shuffle_i64x2(u[1], u[5], _MM_SHUFFLE(2, 0, 2, 0));
  c[6] = _mm512_shuffle_i64x2(u[1], u[5], _MM_SHUFFLE(3, 1, 3, 1));
  c[1] = _mm512_shuffle_i64x2(u[2], u[6], _MM_SHUFFLE(2, 0, 2, 0));
  c[5] = _mm512_shuffle_i64x2(u[2], u[6], _MM_SHUFFLE(3, 1, 3, 1));
  c[3] = _mm512_shuffle_i64x2(u[3], u[7], _MM_SHUFFLE(2, 0, 2, 0));
  c[7] = _mm512_shuffle_i64x2(u[3], u[7], _MM_SHUFFLE(3, 1, 3, 1));
}

// Poly1305 of eight MAC inputs, one per 64-bit lane, in chunks of four
// blocks: prep(q) loads blocks 4q..4q+3 of every lane, step(i) folds block i
// of the chunk: h = (h + m)·r in the lanes whose input still has that block.
struct alignas(64) MbPoly {
  L3 m[4];
  L3 h;
  Mul r;
  L3 hb;        // two-chain mode (step2): blocks 4q+1, 4q+3; h takes 4q, 4q+2
  Mul rr;       // r^2
  __mmask8 odd;  // lanes whose MAC input has an odd number of blocks
  __mmask8 act[4];
  const MacInput* mi[8];
  const uint8_t* base[8];  // ct - 16·a: MAC block k of a ciphertext block at base + 16k
  size_t fast_lo, fast_hi;  // chunks whose blocks lie in whole ciphertext blocks of every lane
  size_t nmax;
  alignas(64) uint8_t tmp[8][64];

  void init(const MacInput* const* in, const uint8_t* const* otk) {
    alignas(64) uint64_t r0[8], r1[8], r2[8];
    size_t lo = 0, hi = SIZE_MAX;
    nmax = 0;
    for (int p = 0; p < 8; ++p) {
      mi[p] = in[p];
      uint64_t k0, k1;
      std::memcpy(&k0, otk[p], 8);
      std::memcpy(&k1, otk[p] + 8, 8);
      k0 &= 0x0ffffffc0fffffffULL;  // clamp(r), §2.5
      k1 &= 0x0ffffffc0ffffffcULL;
      r0[p] = k0 & kM44;
      r1[p] = ((k0 >> 44) | (k1 << 20)) & kM44;
      r2[p] = k1 >> 24;
      base[p] = in[p]->ct - 16 * in[p]->a;
      if (in[p]->a > lo) lo = in[p]->a;
      if (in[p]->a + in[p]->c_full < hi) hi = in[p]->a + in[p]->c_full;
      if (in[p]->n > nmax) nmax = in[p]->n;
    }
    fast_lo = (lo + 3) / 4;
    fast_hi = hi / 4;
    const L3 rv{_mm512_load_si512(r0), _mm512_load_si512(r1), _mm512_load_si512(r2)};
    r = as_mul(rv);
    h = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512()};
    OPENSSL_cleanse(r0, sizeof r0);
    OPENSSL_cleanse(r1, sizeof r1);
    OPENSSL_cleanse(r2, sizeof r2);
  }
  size_t chunks() const { return (nmax + 3) / 4; }

  inline void prep(size_t q) {
    const size_t k0 = 4 * q;
    __m512i rows[8], c[8];
    if (q >= fast_lo && q < fast_hi) {
      for (int p = 0; p < 8; ++p) rows[p] = _mm512_loadu_si512(base[p] + 16 * k0);
      act[0] = act[1] = act[2] = act[3] = 0xFF;
    } else {
      act[0] = act[1] = act[2] = act[3] = 0;
      for (int p = 0; p < 8; ++p) {
        const MacInput& in = *mi[p];
        for (int i = 0; i < 4; ++i) {
          uint64_t w[2] = {0, 0};
          if (k0 + i < in.n) {
            in.block(k0 + i, w[0], w[1]);
            act[i] |= static_cast<__mmask8>(1u << p);
          }
          std::memcpy(tmp[p] + 16 * i, w, 16);
        }
        rows[p] = _mm512_load_si512(tmp[p]);
      }
    }
    transpose8x8(rows, c);
    for (int i = 0; i < 4; ++i) m[i] = limbs(c[2 * i], c[2 * i + 1], 0xFF);
  }

  // Horner's rule in the form h = h·r + m (m rides in the low accumulators),
  // which leaves one multiplication by r for finish(): with h = 0 at the start
  // this is (((m1·r + m2)·r + ...)·r + mn)·r, as §2.5.1 computes.
  inline void step(int i) {
    const __m512i z = _mm512_setzero_si512();
    Acc6 a{m[i].l0, m[i].l1, m[i].l2, z, z, z};
    madd(a, h, r);
    h = act[i] == 0xFF ? carry(a) : blend(act[i], h, carry(a));
  }

  // Two independent chains per lane at r^2 (the latency of one step hides
  // behind the other): set up with init2() after init(), then step2(i).
  void init2() {
    const L3 rl{r.r0, r.r1, r.r2};
    rr = as_mul(mul(rl, rl));
    hb = h;
    odd = 0;
    for (int p = 0; p < 8; ++p) odd |= static_cast<__mmask8>((mi[p]->n & 1) << p);
  }
  inline void step2(int i) {
    L3& t = (i & 1) ? hb : h;
    const __m512i z = _mm512_setzero_si512();
    Acc6 a{m[i].l0, m[i].l1, m[i].l2, z, z, z};
    madd(a, t, rr);
    t = act[i] == 0xFF ? carry(a) : blend(act[i], t, carry(a));
  }
  // With A = h (even blocks) and B = hb (odd), both at r^2: the value h·r
  // of the single chain is A·r^2 + B·r for an even number of blocks (the
  // last one is B's) and A·r + B·r^2 for an odd number.
  void finish2(const uint8_t* const* otk, uint8_t (*tags)[16]) {
    const Mul x{_mm512_mask_blend_epi64(odd, rr.r0, r.r0), _mm512_mask_blend_epi64(odd, rr.r1, r.r1),
                _mm512_mask_blend_epi64(odd, rr.r2, r.r2), _mm512_mask_blend_epi64(odd, rr.s1, r.s1),
                _mm512_mask_blend_epi64(odd, rr.s2, r.s2)};
    const Mul y{_mm512_mask_blend_epi64(odd, r.r0, rr.r0), _mm512_mask_blend_epi64(odd, r.r1, rr.r1),
                _mm512_mask_blend_epi64(odd, r.r2, rr.r2), _mm512_mask_blend_epi64(odd, r.s1, rr.s1),
                _mm512_mask_blend_epi64(odd, r.s2, rr.s2)};
    Acc6 a = acc6_zero();
    madd(a, h, x);
    madd(a, hb, y);
    h = carry(a);
    tags_of(otk, tags);
  }

  // Lane p's tag.
  void finish(const uint8_t* const* otk, uint8_t (*tags)[16]) {
    Acc6 a = acc6_zero();
    madd(a, h, r);
    h = carry(a);
    tags_of(otk, tags);
  }

  // Lane p's tag from h (the value of h·r of §2.5.1, before the final
  // reduction).
  void tags_of(const uint8_t* const* otk, uint8_t (*tags)[16]) {
    alignas(64) uint64_t l0[8], l1[8], l2[8];
    _mm512_store_si512(l0, h.l0);
    _mm512_store_si512(l1, h.l1);
    _mm512_store_si512(l2, h.l2);
    for (int p = 0; p < 8; ++p) {
      uint64_t h0 = l0[p], h1 = l1[p], h2 = l2[p];
      uint64_t c = h0 >> 44;
      h0 &= kM44, h1 += c, c = h1 >> 44, h1 &= kM44, h2 += c, c = h2 >> 42, h2 &= kM42;
      h0 += c * 5, c = h0 >> 44, h0 &= kM44, h1 += c, c = h1 >> 44, h1 &= kM44, h2 += c;
      poly1305_finish(h0 | (h1 << 44), (h1 >> 20) | (h2 << 24), h2 >> 40, otk[p], tags[p]);
    }
    OPENSSL_cleanse(l0, sizeof l0);
    OPENSSL_cleanse(l1, sizeof l1);
    OPENSSL_cleanse(l2, sizeof l2);
  }

  void wipe() { OPENSSL_cleanse(this, sizeof *this); }
};


// One scalar Poly1305 chain per packet (radix 2^64, as poly1305_short), for
// the integer units while the vector units run the rounds. The chains step
// over the whole ciphertext blocks; the AAD blocks before and the partial
// block and the length block after run outside the rounds.
struct alignas(64) Chain {
  uint64_t h0, h1, h2, r0, r1, s1;
  const uint8_t* p;    // next whole ciphertext block
  const uint8_t* lim;  // blocks below lim hold their final bytes
};

inline uint64_t ld64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// One block of sblock() in assembly, for the chain at %[A] (r0, r1, s1 at
// 24, 32, 40): h += block at p + OFF (with the 2^128 bit), then d0 = h0·r0 +
// h1·s1, d1 = h0·r1 + h1·r0 + h2·s1 + d0/2^64, d2 = h2·r0 + d1/2^64, and h =
// d mod 2^130 + 5·(d2 >> 2). (GCC's own code for the 128-bit products went
// through the stack.)
#define RL_SBLOCK(OFF)                    \
  "add  " #OFF "(%[p]), %[h0]\n\t"        \
  "adc  " #OFF "+8(%[p]), %[h1]\n\t"      \
  "adc  $1, %[h2]\n\t"                    \
  "mov  %[h1], %%rdx\n\t"                 \
  "mulx 40(%[A]), %[a], %[b]\n\t"         \
  "mulx 24(%[A]), %[h1], %[c]\n\t"        \
  "mov  %[h0], %%rdx\n\t"                 \
  "mulx 24(%[A]), %[h0], %[d]\n\t"        \
  "add  %[a], %[h0]\n\t"                  \
  "adc  %[b], %[d]\n\t"                   \
  "mulx 32(%[A]), %[a], %[b]\n\t"         \
  "add  %[a], %[h1]\n\t"                  \
  "adc  %[b], %[c]\n\t"                   \
  "mov  %[h2], %[a]\n\t"                  \
  "imul 40(%[A]), %[a]\n\t"               \
  "imul 24(%[A]), %[h2]\n\t"              \
  "add  %[a], %[h1]\n\t"                  \
  "adc  $0, %[c]\n\t"                     \
  "add  %[d], %[h1]\n\t"                  \
  "adc  %[c], %[h2]\n\t"                  \
  "mov  %[h2], %[b]\n\t"                  \
  "shr  $2, %[b]\n\t"                     \
  "and  $3, %[h2]\n\t"                    \
  "lea  (%[b], %[b], 4), %[a]\n\t"        \
  "add  %[a], %[h0]\n\t"                  \
  "adc  $0, %[h1]\n\t"                    \
  "adc  $0, %[h2]\n\t"

// Two blocks of chain A if they are ready (lim - p >= 32). One asm
// statement, branch included, so that the compiler sees no branch inside the
// rounds (with branches of its own it spilled state words there).
inline __attribute__((always_inline)) void chain2(Chain* A) {
  uint64_t h0, h1, h2, a, b, c, d, rdx;
  const uint8_t* p;
  asm volatile(
      "mov  48(%[A]), %[p]\n\t"
      "mov  56(%[A]), %[a]\n\t"
      "sub  %[p], %[a]\n\t"
      "cmp  $32, %[a]\n\t"
      "jl   1f\n\t"
      "mov  0(%[A]), %[h0]\n\t"
      "mov  8(%[A]), %[h1]\n\t"
      "mov  16(%[A]), %[h2]\n\t"
      RL_SBLOCK(0) RL_SBLOCK(16)
      "mov  %[h0], 0(%[A])\n\t"
      "mov  %[h1], 8(%[A])\n\t"
      "mov  %[h2], 16(%[A])\n\t"
      "add  $32, %[p]\n\t"
      "mov  %[p], 48(%[A])\n\t"
      "1:\n\t"
      : [h0] "=&r"(h0), [h1] "=&r"(h1), [h2] "=&r"(h2), [a] "=&r"(a), [b] "=&r"(b), [c] "=&r"(c), [d] "=&r"(d),
        [p] "=&r"(p), "=&d"(rdx)
      : [A] "r"(A)
      : "cc", "memory");
}
#undef RL_SBLOCK
static_assert(offsetof(Chain, r0) == 24 && offsetof(Chain, s1) == 40 && offsetof(Chain, p) == 48 &&
              offsetof(Chain, lim) == 56);

template <int N>
struct Chains {
  Chain ch[N];
  const uint8_t* end[N];  // past the whole ciphertext blocks
  void init(int l, const uint8_t otk[32], const MacInput& mi) {
    Chain& c = ch[l];
    clamp_r(otk, c.r0, c.r1, c.s1);
    c.h0 = c.h1 = c.h2 = 0;
    for (size_t k = 0; k < mi.a; ++k) {
      uint64_t lo, hi;
      mi.block(k, lo, hi);
      sblock(c.h0, c.h1, c.h2, c.r0, c.r1, c.s1, lo, hi);
    }
    c.p = c.lim = mi.ct;
    end[l] = mi.ct + 16 * mi.c_full;
  }

  // One stitch site: chain cur (then the next in turn), two blocks if they
  // are ready.
  inline __attribute__((always_inline)) void site(unsigned& cur) {
    chain2(ch + cur);
    cur = (cur + 1) & (N - 1);
  }

  // Blocks below ct + bytes are ready.
  void ready(const MacInput* mi, size_t bytes) {
    for (int l = 0; l < N; ++l) ch[l].lim = bytes < 16 * mi[l].c_full ? mi[l].ct + bytes : end[l];
  }

  // Everything left (outside the rounds), then the tags. The chains take
  // turns (independent: their multiplications overlap).
  void finish(const MacInput* mi, const uint8_t (*otk)[32], uint8_t (*tags)[16]) {
    size_t most = 0;
    for (int l = 0; l < N; ++l) {
      ch[l].lim = end[l];
      const size_t left = static_cast<size_t>(end[l] - ch[l].p);
      if (left > most) most = left;
    }
    for (size_t i = 0; i + 32 <= most; i += 32)
      for (int l = 0; l < N; ++l) chain2(ch + l);
    size_t k[N];
    for (int l = 0; l < N; ++l) {
      Chain& c = ch[l];
      if (end[l] - c.p >= 16) {  // an odd last whole block
        sblock(c.h0, c.h1, c.h2, c.r0, c.r1, c.s1, ld64(c.p), ld64(c.p + 8));
        c.p += 16;
      }
      k[l] = mi[l].a + static_cast<size_t>(c.p - mi[l].ct) / 16;
    }
    for (int t = 0; t < 2; ++t) {  // the partial block (if any) and the length block
      for (int l = 0; l < N; ++l) {
        if (k[l] >= mi[l].n) continue;
        Chain& c = ch[l];
        uint64_t lo, hi;
        mi[l].block(k[l]++, lo, hi);
        sblock(c.h0, c.h1, c.h2, c.r0, c.r1, c.s1, lo, hi);
      }
    }
    for (int l = 0; l < N; ++l) poly1305_finish(ch[l].h0, ch[l].h1, ch[l].h2, otk[l], tags[l]);
  }

  void wipe() { OPENSSL_cleanse(this, sizeof *this); }
};

// Sixteen packets of at most kPipeMax bytes: ChaCha20 across the
// lanes (pass 0 the one-time keys, then the data passes two at a time in
// interleaved states). Poly1305 of packets 0..7 as scalar chains stitched
// into the data passes (four sites per double round, two blocks each; the
// vector pipes are saturated by the rounds, the multiplier and integer ALUs
// are not), of packets 8..15 in the 64-bit IFMA lanes (two chains per lane
// at r^2) outside the rounds. Seal: the chains run over the ciphertext of
// the earlier passes; the IFMA half after the passes, with the chains'
// leftovers in its shadow. Open: the IFMA half first, so packets 8..15 are
// decrypted in the passes if their tag matched; packets 0..7 are decrypted
// in place behind their chains except their last 64-byte block, whose
// keystream is XORed in once the tag matched; on a mismatch the decrypted
// blocks are encrypted again (the bytes as they arrived). On Zen 5 this is
// ~22% fewer cycles per 32 x 1350 B than the keystream buffer it replaced
// (all of packets 0..7's keystream stored, then XORed in after the tags).
template <bool kSeal>
__attribute__((noinline)) void mb16(AeadJob* const* js) {
  alignas(64) uint32_t w[16][16];  // w[word][lane]
  alignas(64) uint8_t otk[16][32];
  constexpr int kS = 8;  // packets 0..7: scalar chains; 8..15: IFMA
  // Open: the keystream of the last (64-byte) block of packets 0..kS-1, XORed
  // in once their tag matched; their other blocks are decrypted in place.
  alignas(64) uint8_t last[kSeal ? 1 : kS][64];
  MacInput mi[16];
  Chains<kS> st;
  alignas(64) MbPoly poly;
  const uint8_t* o1[8] = {otk[8], otk[9], otk[10], otk[11], otk[12], otk[13], otk[14], otk[15]};
  size_t maxb = 0;
  for (int l = 0; l < kMbLanes; ++l) {
    const ChaChaInput in = input_for(*js[l]);
    for (int i = 0; i < 8; ++i) w[4 + i][l] = in.key[i];
    w[12][l] = 0;
    for (int i = 0; i < 3; ++i) w[13 + i][l] = in.nonce[i];
    const size_t len = js[l]->data.size();
    mi[l] = MacInput(js[l]->aad.data(), js[l]->aad.size(), js[l]->data.data(), len);
    if ((len + 63) / 64 > maxb) maxb = (len + 63) / 64;
  }
  __m512i s[16];
  for (int i = 0; i < 4; ++i) bcast(s[i], kSigma[i]);
  for (int i = 4; i < 16; ++i) s[i] = _mm512_load_si512(w[i]);
  OPENSSL_cleanse(w, sizeof w);

  size_t lens[16];
  uint8_t* data[16];
  for (int l = 0; l < kMbLanes; ++l) lens[l] = js[l]->data.size(), data[l] = js[l]->data.data();
  uint32_t live = 0xFFFF;  // open: packets 8..15 whose tag matched (0..7 wait)
  // Feed-forward of pass c and data block c-1 XORed into every live packet.
  // Open, packets 0..kS-1: decrypted in place behind their chains, which
  // must read only ciphertext. Every chain gets five stitch sites (160
  // bytes) per pass pair against the 128 bytes a pair decrypts, so it is
  // always past the blocks decrypted so far (checking that here at run time
  // cost more than the buffer this replaced; simd_diff_test's across-lanes
  // tests fail if the sites change so that it is not). A last block's keystream waits in `last`: finish() MACs its
  // odd whole block and partial block, which must still be ciphertext.
  auto emit_pass = [&](__m512i* x, uint32_t c) {
    s[12] = _mm512_set1_epi32(static_cast<int>(c));
    for (int i = 0; i < 16; ++i) x[i] = vadd(x[i], s[i]);
    const size_t off = 64 * (c - 1);
    emit_blocks(x, [&](int l, __m512i b) {
      if (!kSeal && l < kS) {
        if (off + 64 >= lens[l]) {
          if (off < lens[l]) _mm512_store_si512(last[kSeal ? 0 : l], b);
          return;
        }
        uint8_t* p = data[l] + off;
        _mm512_storeu_si512(p, _mm512_xor_si512(_mm512_loadu_si512(p), b));
        return;
      }
      if (((live >> l) & 1) == 0) return;
      if (off + 64 <= lens[l]) {
        uint8_t* p = data[l] + off;
        _mm512_storeu_si512(p, _mm512_xor_si512(_mm512_loadu_si512(p), b));
      } else if (off < lens[l]) {
        const __mmask64 m = byte_mask(lens[l] - off);
        uint8_t* p = data[l] + off;
        _mm512_mask_storeu_epi8(p, m, _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, p), b));
      }
    });
  };
  uint8_t tags[16][16];
  unsigned cur = 0;
  // The IFMA Poly1305 of packets kS.., with scalar chain steps of packets
  // 0..kS-1 (those whose blocks are ready) in its shadow.
  auto mac_ifma = [&] {
    for (size_t q = 0, nq = poly.chunks(); q < nq; ++q) {
      poly.prep(q);
      for (int i = 0; i < 4; ++i) poly.step2(i);
      if constexpr (kSeal)
        for (int i = 0; i < 4; ++i) st.site(cur);
    }
    poly.finish2(o1, tags + 8);
  };
  // Open: whether packet l's tag matched (its status set).
  auto verify = [&](int l) {
    AeadJob& j = *js[l];
    const __mmask16 tm = static_cast<__mmask16>((1u << j.key->tag_len()) - 1);
    const __m128i diff = _mm_xor_si128(_mm_maskz_loadu_epi8(tm, tags[l]), _mm_maskz_loadu_epi8(tm, j.tag));
    const bool ok = _mm_testz_si128(diff, diff);
    j.status = ok ? Status::ok : Status::auth_failed;
    return ok;
  };

  {  // pass 0: the one-time keys
    __m512i x[16];
    s[12] = _mm512_setzero_si512();
    for (int i = 0; i < 16; ++i) x[i] = s[i];
    rounds20_unrolled(x);
    for (int i = 0; i < 16; ++i) x[i] = vadd(x[i], s[i]);
    emit_blocks(x, [&](int l, __m512i b) {
      _mm256_store_si256(reinterpret_cast<__m256i*>(otk[l]), _mm512_castsi512_si256(b));
    });
  }
  for (int l = 0; l < kS; ++l) st.init(l, otk[l], mi[l]);
  {
    const MacInput* m1[8] = {&mi[8], &mi[9], &mi[10], &mi[11], &mi[12], &mi[13], &mi[14], &mi[15]};
    poly.init(m1, o1);
    poly.init2();
  }
  if constexpr (!kSeal) {
    st.ready(mi, SIZE_MAX);
    mac_ifma();
    live = 0;
    for (int l = kS; l < kMbLanes; ++l) live |= static_cast<uint32_t>(verify(l)) << l;
  }
  auto hook = [&st, &cur]() __attribute__((always_inline)) { st.site(cur); };
  for (uint32_t c = 1; c <= maxb;) {
    if constexpr (kSeal) st.ready(mi, 64 * (c - 1));
    __m512i x[16], y[16];
    for (int i = 0; i < 16; ++i) x[i] = s[i];
    x[12] = _mm512_set1_epi32(static_cast<int>(c));
    if (c + 1 <= maxb) {
      for (int i = 0; i < 16; ++i) y[i] = s[i];
      y[12] = _mm512_set1_epi32(static_cast<int>(c + 1));
      // Two double rounds per iteration, not ten: fully unrolled, this loop
      // made mb16 ~44 KB, and byte-identical copies of the executable
      // differed here: 2 of 32 ran their opens ~1.55x slower and 1 of 8 its
      // seals ~1.5x slower, reproducibly for that file (where its pages
      // landed decided it; AES-GCM was unaffected). At ~27 KB none of 24
      // copies was slow on open nor of 8 on seal; the price is 4% on open
      // and 6% on seal against the unrolled kernel's fast copies.
#pragma GCC unroll 1
      for (int r = 0; r < 5; ++r) {
        double_round_hooked(x, y, hook);
        double_round_hooked(x, y, hook);
      }
      emit_pass(x, c);
      emit_pass(y, c + 1);
      c += 2;
    } else {
      for (int r = 0; r < 10; ++r) columns_diagonals_hooked(x, hook);
      emit_pass(x, c);
      c += 1;
    }
  }
  if constexpr (kSeal) {
    st.ready(mi, SIZE_MAX);
    mac_ifma();
    st.finish(mi, otk, tags);
    for (int l = 0; l < kMbLanes; ++l) {
      AeadJob& j = *js[l];
      std::memcpy(j.tag, tags[l], j.key->tag_len());
      j.status = Status::ok;
    }
  } else {
    st.finish(mi, otk, tags);
    for (int l = 0; l < kS; ++l) {
      if (lens[l] == 0) {  // no data (a WireGuard keepalive): nothing to write or put back
        verify(l);
        continue;
      }
      const size_t at = 64 * ((lens[l] - 1) / 64);  // the last block
      if (verify(l)) {
        const __mmask64 m = byte_mask(lens[l] - at);
        uint8_t* p = data[l] + at;
        _mm512_mask_storeu_epi8(p, m, _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, p), _mm512_load_si512(last[l])));
      } else {
        // Forged: the blocks decrypted in place are encrypted again (the
        // same keystream), which gives the bytes back as they arrived.
        if (at != 0) {
          alignas(64) uint8_t ks[2048];
          crypt_rest(input_for(*js[l]), data[l], at, 0, 1, ks);
          OPENSSL_cleanse(ks, sizeof ks);
        }
      }
    }
    OPENSSL_cleanse(last, sizeof last);
  }
  OPENSSL_cleanse(otk, sizeof otk);
  OPENSSL_cleanse(tags, sizeof tags);
  OPENSSL_cleanse(s, sizeof s);  // the keys, if spilled
  st.wipe();
  poly.wipe();
}

// Whether a run of sixteen packets fills enough of the multi-buffer passes.
inline bool mb_worth(AeadJob* const* js) {
  size_t sum = 0, maxb = 0;
  for (int l = 0; l < kMbLanes; ++l) {
    const size_t b = (js[l]->data.size() + 63) / 64;
    sum += b;
    if (b > maxb) maxb = b;
  }
  return sum * 8 >= maxb * kMbLanes * 7;
}

// Runs of sixteen across the lanes (mb16) wherever their lengths fill the
// passes well; the others are moved to the front of js, in order. Returns
// how many are left.
template <bool kSeal>
size_t across_lanes(AeadJob** js, size_t n) {
  size_t rest = 0;
  for (size_t i = 0; i < n;) {
    if (n - i >= kMbLanes && mb_worth(js + i)) {
      mb16<kSeal>(js + i);
      i += kMbLanes;
    } else {
      js[rest++] = js[i++];
    }
  }
  return rest;
}

// Packets of 449..1472 bytes: runs of sixteen across the lanes when their
// lengths fill the passes well, the rest one by one (seal: pipelined).
template <bool kSeal>
void run_band(AeadJob** js, size_t n) {
  const size_t rest = across_lanes<kSeal>(js, n);
  if constexpr (kSeal) {
    if (rest > 1) seal_pipelined(js, rest);
    else if (rest == 1) chacha_seal_one(*js[0]);
  } else {
    for (size_t i = 0; i < rest; ++i) chacha_open_one(*js[i]);
  }
}

// Packets of at most kShortMax bytes: runs of sixteen across the lanes when
// their lengths fill the passes well, the rest several to a pass (lanes_for
// lanes each, short_batch). Across the lanes they cost 15-40% less (seal,
// b32, TSC ticks per packet: 64 bytes 175 -> 137, 128 bytes 291 -> 182, 256
// bytes 378 -> 245, 448 bytes 452 -> 317), since a short pass leaves lanes
// idle and its Poly1305 runs after the rounds. (Zen 5. On Zen 4, whose
// 512-bit units are two 256-bit halves, 64-byte bursts of 32 still gained
// 17-30%: raw seal 3009 -> 2474 ns, open 2884 -> 2293.)
template <bool kSeal>
void run_short(AeadJob** js, size_t n) {
  const size_t rest = across_lanes<kSeal>(js, n);
  AeadJob* batch[16];
  size_t nb = 0, lanes = 0;
  auto flush = [&] {
    if (lanes > 8)
      short_batch<kSeal, __m512i, 16>(batch, nb);
    else if (nb > 1 || lanes > 4)
      short_batch<kSeal, __m256i, 8>(batch, nb);
    else if (lanes > 2)
      short_one<kSeal, __m512i>(*batch[0]);
    else if (nb == 1)
      short_one<kSeal, __m256i>(*batch[0]);
    nb = lanes = 0;
  };
  for (size_t i = 0; i < rest; ++i) {
    const size_t need = lanes_for(js[i]->data.size());
    if (lanes + need > 16) flush();
    batch[nb++] = js[i];
    lanes += need;
  }
  flush();
}

template <bool kSeal>
void run_many(AeadJob* const* js, size_t n) {
  AeadJob* shorts[32];
  AeadJob* pipe[32];
  size_t ns = 0, np = 0;
  for (size_t i = 0; i < n; ++i) {
    AeadJob& j = *js[i];
    const size_t len = j.data.size();
    if (len <= kShortMax) {
      shorts[ns++] = &j;
      if (ns == 32) run_short<kSeal>(shorts, ns), ns = 0;
    } else if (len <= kPipeMax && n > 1) {
      pipe[np++] = &j;
      if (np == 32) run_band<kSeal>(pipe, np), np = 0;
    } else if constexpr (kSeal) {
      chacha_seal_one(j);
    } else {
      chacha_open_one(j);
    }
  }
  run_short<kSeal>(shorts, ns);
  run_band<kSeal>(pipe, np);
}

}  // namespace

void chacha_seal_many(AeadJob* const* js, size_t n) { run_many<true>(js, n); }

void chacha_open_masked(AeadJob& j, MaskJob& m) {
  const size_t len = j.data.size();
  if (len > kShortMax && len <= kOpenBuffered) {
    open_one(j, &m);
    return;
  }
  // Up to 448 bytes, the kernels run_many would take, with a spare lane: the
  // row-wise one to 128 bytes (its fourth 128-bit lane), an 8-lane pass to
  // 384 bytes, a 16-lane one above.
  AeadJob* one = &j;
  const size_t lanes = lanes_for(len);
  if (lanes <= 3) {
    short_one<false, __m512i>(j, &m);
  } else if (lanes <= 7) {
    short_batch<false, __m256i, 8>(&one, 1, &m);
  } else if (len <= kShortMax) {
    short_batch<false, __m512i, 16>(&one, 1, &m);
  } else {
    chacha_masks(&m, 1);  // before the open decrypts the sample in place
    chacha_open_one(j);   // over kOpenBuffered: what run_many does with one such job
  }
}

void chacha_seal_masked(AeadJob& j, MaskJob& m) {
  bool masked = false;
  if (j.data.size() > kShortMax) {
    masked = seal_one(j, &m);
  } else {
    AeadJob* one = &j;
    run_many<true>(&one, 1);
  }
  if (!masked && j.status == Status::ok) chacha_masks(&m, 1);
}
void chacha_open_many(AeadJob* const* js, size_t n) { run_many<false>(js, n); }

// ---- header-protection masks --------------------------------------------------

namespace {

// Up to W samples under one key: lane l runs the block whose counter and nonce
// are sample l (state words 12..15 are the sample's four LE words); the mask
// is that block's words 0..3 (§5.4.4 of RFC 9001 uses the first five bytes,
// the job carries sixteen). Register g holds samples g, 4+g, 8+g, 12+g in its
// 128-bit lanes, so one in-lane 4x4 transpose turns the samples into words
// 12..15 with lane 4L+g = sample 4L+g, and the same transpose of words 0..3
// after the rounds puts each mask back in one 128-bit lane: no scalar gather
// or scatter, and words 4..15 are neither fed forward nor transposed. Spare
// lanes repeat the last sample and are not stored.
inline __m128i sample_at(const MaskJob* m, size_t n, size_t l) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(m[l < n ? l : n - 1].sample));
}

// Words 12..15 of W lanes from samples m[0..W) (of n; spare lanes repeat the
// last sample).
template <class V, int W>
inline void load_samples(const MaskJob* m, size_t n, V* x12) {
  V in[4];
  for (int g = 0; g < 4; ++g) {
    if constexpr (W == 16) {
      __m512i v = _mm512_castsi128_si512(sample_at(m, n, g));
      v = _mm512_inserti32x4(v, sample_at(m, n, 4 + g), 1);
      v = _mm512_inserti32x4(v, sample_at(m, n, 8 + g), 2);
      in[g] = _mm512_inserti32x4(v, sample_at(m, n, 12 + g), 3);
    } else {
      in[g] = _mm256_inserti128_si256(_mm256_castsi128_si256(sample_at(m, n, g)), sample_at(m, n, 4 + g), 1);
    }
  }
  transpose4(in, x12);
}

// Feed-forward of words 0..3 and the masks of lanes l < n out.
template <class V, int W>
inline __attribute__((always_inline)) void put_masks(const V* x, MaskJob* m, size_t n) {
  V in[4], out[4];
  for (int i = 0; i < 4; ++i) {
    V c;
    bcast(c, kSigma[i]);
    in[i] = vadd(x[i], c);
  }
  transpose4(in, out);
  auto put = [](MaskJob& j, __m128i v) { _mm_storeu_si128(reinterpret_cast<__m128i*>(j.mask), v); };
  for (int g = 0; g < 4; ++g) {
    for (int L = 0; L < W / 4; ++L) {
      const size_t l = static_cast<size_t>(4 * L + g);
      if (l >= n) continue;
      if constexpr (W == 16) {
        switch (L) {
          case 0: put(m[l], _mm512_castsi512_si128(out[g])); break;
          case 1: put(m[l], _mm512_extracti32x4_epi32(out[g], 1)); break;
          case 2: put(m[l], _mm512_extracti32x4_epi32(out[g], 2)); break;
          default: put(m[l], _mm512_extracti32x4_epi32(out[g], 3)); break;
        }
      } else {
        put(m[l], L == 0 ? _mm256_castsi256_si128(out[g]) : _mm256_extracti128_si256(out[g], 1));
      }
    }
  }
}

template <class V, int W>
void masks_w(MaskJob* m, size_t n) {
  const uint8_t* key = m[0].key->chacha_key();
  V x[16];
  load_samples<V, W>(m, n, x + 12);
  for (int i = 0; i < 4; ++i) bcast(x[i], kSigma[i]);
  for (int i = 0; i < 8; ++i) bcast(x[4 + i], le32(key + 4 * i));
  rounds20_unrolled(x);
  put_masks<V, W>(x, m, n);
}

template <class V, int W>
__attribute__((noinline)) void masks_2w(MaskJob* m, size_t n) {
  const uint8_t* key = m[0].key->chacha_key();
  V x[16], y[16];
  load_samples<V, W>(m, n, x + 12);
  load_samples<V, W>(m + W, n - W, y + 12);
  for (int i = 0; i < 4; ++i) bcast(x[i], kSigma[i]), y[i] = x[i];
  for (int i = 0; i < 8; ++i) bcast(x[4 + i], le32(key + 4 * i)), y[4 + i] = x[4 + i];
#pragma GCC unroll 10
  for (int r = 0; r < 10; ++r) double_round(x, y);
  put_masks<V, W>(x, m, W);
  put_masks<V, W>(y, m + W, n - W);
}

}  // namespace

void chacha_masks(MaskJob* m, size_t n) {
  // A lone mask: the scalar chain (79 against 110 ns for one block held row by
  // row in four XMM registers, seal/mask/chacha20poly1305/16/1 here). From two
  // masks on, one 8- or 16-lane pass wins.
  if (n == 1) {
    chacha::mask_block_scalar(m[0].key->chacha_key(), m[0].sample, m[0].mask);
    return;
  }
  // 17..32 masks: two ZMM states in lockstep; 9..16: one ZMM state; up to 8:
  // one YMM state. On the Zen 5 host one ZMM state at 16 masks measured 18%
  // less than two YMM states in lockstep (147-168 vs 187-206 ns per 16,
  // interleaved runs); two YMM states had won on an earlier (Zen 4) host,
  // where a ZMM operation costs two YMM ones. The rounds are bound both by latency (a
  // quarter-round step add-xor-rotate takes 4.2 cycles, 20 rounds of four
  // steps) and by throughput (three ZMM operations per cycle with rotates on
  // two pipes), so 16 lanes take ~1.5x the ~330-cycle bound. Stopping the
  // last round once words 0..3 are done (only the last diagonal quarter
  // rounds' a outputs are needed) removes 2% of the vector ops but measured
  // 2% slower here.
  while (n > 16) {
    const size_t k = n < 32 ? n : 32;
    masks_2w<__m512i, 16>(m, k);
    m += k, n -= k;
  }
  while (n > 8) {
    const size_t k = n < 16 ? n : 16;
    masks_w<__m512i, 16>(m, k);
    m += k, n -= k;
  }
  if (n > 0) masks_w<__m256i, 8>(m, n);
}

}  // namespace rl::avx512
