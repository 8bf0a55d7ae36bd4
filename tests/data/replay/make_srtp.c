/* Builds srtp.pcap for rl-replay's tests with libsrtp2 (an implementation independent of
 * the engine): RTP and RTCP packets protected with srtp_protect / srtp_protect_rtcp and
 * written as Ethernet/IPv4/UDP frames with pcap_dump. Fixed keys: deterministic output.
 *   SSRC 0x11111111  AES_CM_128_HMAC_SHA1_80, RTP seq 65530.. (ROC wraps 0 -> 1), SRTCP
 *   SSRC 0x22222222  AEAD_AES_128_GCM, ROC starting at 3 (signalled out of band, roc=3 in
 *                    the key file), seq 65533.. (ROC 3 -> 4), SRTCP
 *   SSRC 0x33333333  AES_256_CM_HMAC_SHA1_80 (RFC 6188), seq 65528.. (ROC 0 -> 1), SRTCP
 *   SSRC 0x44444444  AEAD_AES_256_GCM (RFC 7714), ROC starting at 0xfffe (roc=65534 in the
 *                    key file), seq 65532.. (ROC 0xfffe -> 0xffff), SRTCP
 * Writes: argv[1] = the capture, argv[2] = the key file (SDP a=crypto lines, RFC 4568),
 * argv[3] = the ground truth: "<frame> <rtp|rtcp> <0xssrc> <hex of the plain packet>" for
 * every packet as it was handed to libsrtp (make_srtp.sh hashes it).
 * With a 4th argument "mki" it writes the MKI variant instead (srtp_mki.pcap):
 *   SSRC 0x55555555  AES_CM_128_HMAC_SHA1_32 (SRTCP keeps its 80-bit tag, RFC 4568 §6.2.2),
 *                    two master keys with 4-byte MKIs (srtp_protect_mki, the second key from
 *                    packet 5 on), RTP header extension (RFC 8285 one-byte), 2 CSRCs,
 *                    padding (P bit) on odd packets, SRTCP under both keys
 *   SSRC 0x66666666  AEAD_AES_256_GCM, two master keys with 1-byte MKIs, RTP header
 *                    extension (two-byte form), SRTCP
 * Build: cc make_srtp.c $(pkg-config --cflags --libs libsrtp2 libpcap) */
#include <pcap/pcap.h>
#include <srtp2/srtp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pcap_dumper_t* dumper;
static FILE* truth;
static int frame_no;

static void put16(uint8_t* p, unsigned v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t* p, uint32_t v) { put16(p, v >> 16); put16(p + 2, v & 0xffff); }

static void b64(const uint8_t* in, size_t n, char* out) {
  static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
                 (i + 2 < n ? in[i + 2] : 0);
    out[o++] = t[v >> 18 & 63];
    out[o++] = t[v >> 12 & 63];
    out[o++] = i + 1 < n ? t[v >> 6 & 63] : '=';
    out[o++] = i + 2 < n ? t[v & 63] : '=';
  }
  out[o] = 0;
}

static void write_frame(const uint8_t* udp_payload, int len, uint16_t port) {
  uint8_t f[2048];
  static const uint8_t eth[14] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00};
  memcpy(f, eth, 14);
  uint8_t* ip = f + 14;
  memset(ip, 0, 20);
  ip[0] = 0x45;
  put16(ip + 2, 20 + 8 + len);
  put16(ip + 4, frame_no);
  ip[6] = 0x40;
  ip[8] = 64;
  ip[9] = 17;
  put32(ip + 12, 0x0a000001);
  put32(ip + 16, 0x0a000002);
  uint32_t sum = 0;
  for (int i = 0; i < 20; i += 2) sum += (uint32_t)ip[i] << 8 | ip[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  put16(ip + 10, ~sum & 0xffff);
  uint8_t* udp = ip + 20;
  put16(udp, port);
  put16(udp + 2, port);
  put16(udp + 4, 8 + len);
  put16(udp + 6, 0);  /* no UDP checksum (allowed over IPv4) */
  memcpy(udp + 8, udp_payload, len);
  struct pcap_pkthdr h;
  memset(&h, 0, sizeof h);
  h.ts.tv_sec = 1700000000 + frame_no / 50;
  h.ts.tv_usec = (frame_no % 50) * 20000;
  h.caplen = h.len = 14 + 20 + 8 + len;
  pcap_dump((u_char*)dumper, &h, f);
  ++frame_no;
}

static void note(const char* kind, uint32_t ssrc, const uint8_t* p, int len) {
  fprintf(truth, "%d %s 0x%08x ", frame_no + 1, kind, ssrc);
  for (int i = 0; i < len; ++i) fprintf(truth, "%02x", p[i]);
  fputc('\n', truth);
}

static void check(srtp_err_status_t s, const char* what) {
  if (s != srtp_err_status_ok) {
    fprintf(stderr, "make_srtp: %s failed (%d)\n", what, (int)s);
    exit(1);
  }
}

struct stream {
  uint32_t ssrc;
  int gcm;   /* 0 AES-CM + HMAC-SHA1-80, 1 AES-GCM (16-byte tag) */
  uint32_t roc;
  uint16_t seq;
  uint8_t key[46];
  int key_len;
  srtp_t session;
};

static void rtp(struct stream* s, int i) {
  uint8_t p[1600];
  const int payload = 20 + 37 * i;
  p[0] = 0x80;
  p[1] = (uint8_t)(i == 0 ? 0x80 | 96 : 96);  /* marker on the first packet */
  put16(p + 2, s->seq);
  put32(p + 4, 160u * (uint32_t)i + 1000u);
  put32(p + 8, s->ssrc);
  for (int k = 0; k < payload; ++k) p[12 + k] = (uint8_t)(s->ssrc + i * 13 + k);
  int len = 12 + payload;
  note("rtp", s->ssrc, p, len);
  check(srtp_protect(s->session, p, &len), "srtp_protect");
  write_frame(p, len, 5004);
  s->seq++;
}

static void rtcp(struct stream* s, int i) {
  uint8_t p[256];
  /* Sender report (RFC 3550 §6.4.1), no report blocks. */
  p[0] = 0x80;
  p[1] = 200;
  put16(p + 2, 6);
  put32(p + 4, s->ssrc);
  put32(p + 8, 0xe0000000u + i);
  put32(p + 12, 0x10000000u * i);
  put32(p + 16, 160u * i);
  put32(p + 20, (uint32_t)i * 10);
  put32(p + 24, (uint32_t)i * 1000);
  int len = 28;
  note("rtcp", s->ssrc, p, len);
  check(srtp_protect_rtcp(s->session, p, &len), "srtp_protect_rtcp");
  write_frame(p, len, 5005);
}

/* The MKI variant: a stream with two master keys, RTP packets with header extensions,
 * CSRCs and padding. */
struct mstream {
  uint32_t ssrc;
  int gcm, key_len, mki_len;
  uint16_t seq;
  uint8_t key[2][46], mki[2][4];
  srtp_master_key_t mk[2];
  srtp_master_key_t* mkp[2];
  srtp_t session;
};

static void mki_rtp(struct mstream* s, int i, unsigned which) {
  uint8_t p[1600];
  int o = 0;
  const int csrcs = s->gcm ? 0 : 2, pad = !s->gcm && (i & 1) ? 7 : 0;
  p[o++] = (uint8_t)(0x80 | 0x10 | (pad ? 0x20 : 0) | csrcs);  /* V=2, X=1 */
  p[o++] = 111;
  put16(p + o, s->seq); o += 2;
  put32(p + o, 960u * (uint32_t)i); o += 4;
  put32(p + o, s->ssrc); o += 4;
  for (int c = 0; c < csrcs; ++c, o += 4) put32(p + o, 0xc0000000u + (uint32_t)c);
  if (s->gcm) {  /* RFC 8285 two-byte header: 0x1000, 2 words: id 1 len 3, id 2 len 2 */
    put16(p + o, 0x1000); put16(p + o + 2, 2); o += 4;
    const uint8_t e[8] = {1, 3, 0xa, 0xb, 0xc, 2, 2, 0x5};
    memcpy(p + o, e, 8); o += 8;
  } else {       /* one-byte header 0xBEDE, 1 word: id 1 len 2 (3 bytes) + 1 byte padding */
    put16(p + o, 0xbede); put16(p + o + 2, 1); o += 4;
    const uint8_t e[4] = {0x12, (uint8_t)i, 0x77, 0};
    memcpy(p + o, e, 4); o += 4;
  }
  const int payload = 30 + 41 * i;
  for (int k = 0; k < payload; ++k) p[o++] = (uint8_t)(s->ssrc + i * 7 + k);
  if (pad) {
    for (int k = 0; k < pad - 1; ++k) p[o++] = 0;
    p[o++] = (uint8_t)pad;
  }
  int len = o;
  note("rtp", s->ssrc, p, len);
  check(srtp_protect_mki(s->session, p, &len, 1, which), "srtp_protect_mki");
  write_frame(p, len, 6004);
  s->seq++;
}

static void mki_rtcp(struct mstream* s, int i, unsigned which) {
  uint8_t p[256];
  p[0] = 0x80;
  p[1] = 200;
  put16(p + 2, 6);
  put32(p + 4, s->ssrc);
  for (int k = 8; k < 28; k += 4) put32(p + k, 0x01010101u * (uint32_t)(i + k));
  int len = 28;
  note("rtcp", s->ssrc, p, len);
  check(srtp_protect_rtcp_mki(s->session, p, &len, 1, which), "srtp_protect_rtcp_mki");
  write_frame(p, len, 6005);
}

static int main_mki(char** argv) {
  check(srtp_init(), "srtp_init");
  struct mstream st[2] = {{0x55555555, 0, 30, 4, 40000, {{0}}, {{0}}, {{0}}, {0}, NULL},
                          {0x66666666, 1, 44, 1, 100, {{0}}, {{0}}, {{0}}, {0}, NULL}};
  FILE* keys = fopen(argv[2], "w");
  truth = fopen(argv[3], "w");
  if (!keys || !truth) return 2;
  fprintf(keys, "# rl-replay SRTP keys for srtp_mki.pcap (written by make_srtp.c mki)\n");
  for (int n = 0; n < 2; ++n) {
    struct mstream* s = &st[n];
    srtp_policy_t pol;
    memset(&pol, 0, sizeof pol);
    if (s->gcm) {
      srtp_crypto_policy_set_aes_gcm_256_16_auth(&pol.rtp);
      srtp_crypto_policy_set_aes_gcm_256_16_auth(&pol.rtcp);
    } else {
      srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&pol.rtp);
      srtp_crypto_policy_set_rtcp_default(&pol.rtcp);
    }
    fprintf(keys, "ssrc=0x%08x a=crypto:%d %s ", s->ssrc, n + 1,
            s->gcm ? "AEAD_AES_256_GCM" : "AES_CM_128_HMAC_SHA1_32");
    for (int m = 0; m < 2; ++m) {
      for (int k = 0; k < s->key_len; ++k) s->key[m][k] = (uint8_t)(0x45 * (n + 1) + 11 * k + 97 * m);
      for (int k = 0; k < s->mki_len; ++k) s->mki[m][k] = (uint8_t)(k == s->mki_len - 1 ? m + 1 : 0);
      s->mk[m].key = s->key[m];
      s->mk[m].mki_id = s->mki[m];
      s->mk[m].mki_size = (unsigned)s->mki_len;
      s->mkp[m] = &s->mk[m];
      char b[96];
      b64(s->key[m], (size_t)s->key_len, b);
      fprintf(keys, "%sinline:%s|2^31|%d:%d", m ? ";" : "", b, m + 1, s->mki_len);
    }
    fputc('\n', keys);
    pol.ssrc.type = ssrc_specific;
    pol.ssrc.value = s->ssrc;
    pol.keys = s->mkp;
    pol.num_master_keys = 2;
    pol.window_size = 128;
    check(srtp_create(&s->session, &pol), "srtp_create");
  }
  pcap_t* dead = pcap_open_dead(DLT_EN10MB, 65535);
  dumper = pcap_dump_open(dead, argv[1]);
  if (!dumper) return 2;
  for (int i = 0; i < 10; ++i) {
    const unsigned which = i < 5 ? 0 : 1;
    for (int n = 0; n < 2; ++n) mki_rtp(&st[n], i, which);
    if (i == 3 || i == 8)
      for (int n = 0; n < 2; ++n) mki_rtcp(&st[n], i, which);
  }
  pcap_dump_close(dumper);
  fclose(keys);
  fclose(truth);
  for (int n = 0; n < 2; ++n) srtp_dealloc(st[n].session);
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 5 && strcmp(argv[4], "mki") == 0) return main_mki(argv);
  if (argc != 4) {
    fprintf(stderr, "usage: make_srtp CAPTURE KEYFILE TRUTH\n");
    return 2;
  }
  check(srtp_init(), "srtp_init");
  enum { kStreams = 4 };
  struct stream st[kStreams] = {{0x11111111, 0, 0, 65530, {0}, 30, NULL},
                                {0x22222222, 1, 3, 65533, {0}, 28, NULL},
                                {0x33333333, 0, 0, 65528, {0}, 46, NULL},
                                {0x44444444, 1, 0xfffe, 65532, {0}, 44, NULL}};
  FILE* keys = fopen(argv[2], "w");
  truth = fopen(argv[3], "w");
  if (!keys || !truth) return 2;
  fprintf(keys, "# rl-replay SRTP keys for srtp.pcap (written by make_srtp.c)\n");
  for (int n = 0; n < kStreams; ++n) {
    struct stream* s = &st[n];
    const int big = s->key_len > 30;
    for (int k = 0; k < s->key_len; ++k) s->key[k] = (uint8_t)(0x31 * (n + 1) + 7 * k);
    srtp_policy_t pol;
    memset(&pol, 0, sizeof pol);
    if (s->gcm && big) {
      srtp_crypto_policy_set_aes_gcm_256_16_auth(&pol.rtp);
      srtp_crypto_policy_set_aes_gcm_256_16_auth(&pol.rtcp);
    } else if (s->gcm) {
      srtp_crypto_policy_set_aes_gcm_128_16_auth(&pol.rtp);
      srtp_crypto_policy_set_aes_gcm_128_16_auth(&pol.rtcp);
    } else if (big) {
      srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(&pol.rtp);
      srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(&pol.rtcp);
    } else {
      srtp_crypto_policy_set_rtp_default(&pol.rtp);
      srtp_crypto_policy_set_rtcp_default(&pol.rtcp);
    }
    pol.ssrc.type = ssrc_specific;
    pol.ssrc.value = s->ssrc;
    pol.key = s->key;
    pol.window_size = 128;
    check(srtp_create(&s->session, &pol), "srtp_create");
    if (s->roc) check(srtp_set_stream_roc(s->session, s->ssrc, s->roc), "srtp_set_stream_roc");
    char b[96];
    b64(s->key, (size_t)s->key_len, b);
    char roc[32] = "";
    if (s->roc) snprintf(roc, sizeof roc, " roc=%u", (unsigned)s->roc);
    fprintf(keys, "ssrc=0x%08x%s a=crypto:%d %s inline:%s\n", s->ssrc, roc, n + 1,
            s->gcm ? (big ? "AEAD_AES_256_GCM" : "AEAD_AES_128_GCM")
                   : (big ? "AES_256_CM_HMAC_SHA1_80" : "AES_CM_128_HMAC_SHA1_80"), b);
  }
  pcap_t* dead = pcap_open_dead(DLT_EN10MB, 65535);
  dumper = pcap_dump_open(dead, argv[1]);
  if (!dumper) return 2;
  for (int i = 0; i < 10; ++i) {
    for (int n = 0; n < kStreams; ++n) rtp(&st[n], i);
    if (i == 4 || i == 9)
      for (int n = 0; n < kStreams; ++n) rtcp(&st[n], i);
  }
  pcap_dump_close(dumper);
  fclose(keys);
  fclose(truth);
  for (int n = 0; n < kStreams; ++n) srtp_dealloc(st[n].session);
  return 0;
}
