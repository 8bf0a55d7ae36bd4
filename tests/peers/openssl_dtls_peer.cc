// A live OpenSSL DTLS 1.2 peer for tests/dtls_interop_test.cc. Linked with
// OpenSSL's libssl only (never in the same binary as BoringSSL).
//
//   openssl_dtls_peer <aes128gcm|aes256gcm|chacha20poly1305> <fd>
//
// It runs a full DTLS 1.2 ECDHE-ECDSA handshake between two SSL objects over
// memory BIOs (self-signed P-256 certificate made at run time), derives the
// TLS 1.2 key block itself (master secret + randoms -> TLS1-PRF "key
// expansion", RFC 5246 §6.3), and hands keys, epoch and the client's next
// write sequence number to the test over `fd` (an AF_UNIX SOCK_SEQPACKET
// socket). From then on the test's engine plays the client: records it seals
// are fed to the server SSL object and read with SSL_read, and what the
// server SSL_writes is returned as raw datagram bytes for the engine to open.
//
// Messages on fd, each one packet: 1 byte kind, then payload.
//   peer -> test  'K' suite(1) key_len(1) iv_len(1) epoch(2) client_next_seq(8)
//                     client_key client_iv server_key server_iv
//   test -> peer  'R' raw records for the server  -> peer answers 'P' with
//                     (len16 ‖ plaintext)* for every SSL_read that returned data
//   test -> peer  'W' (len16 ‖ data)*: one SSL_write each -> peer answers 'D'
//                     with the raw bytes the server wrote
//   test -> peer  'Q' quit
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using Bytes = std::vector<uint8_t>;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "openssl_dtls_peer: %s\n", what);
  ERR_print_errors_fp(stderr);
  std::exit(2);
}

struct SuiteChoice {
  const char* name;
  const char* cipher;  // OpenSSL cipher list name
  size_t key_len, iv_len;
  const char* prf_md;  // the suite's PRF hash
};

const SuiteChoice kSuites[] = {
    {"aes128gcm", "ECDHE-ECDSA-AES128-GCM-SHA256", 16, 4, "SHA256"},
    {"aes256gcm", "ECDHE-ECDSA-AES256-GCM-SHA384", 32, 4, "SHA384"},
    {"chacha20poly1305", "ECDHE-ECDSA-CHACHA20-POLY1305", 32, 12, "SHA256"},
};

void make_cert(EVP_PKEY** key_out, X509** cert_out) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  if (key == nullptr) die("EVP_EC_gen");
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, key);
  X509_NAME* n = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("recordlayer-peer"), -1, -1, 0);
  X509_set_issuer_name(x, n);
  if (X509_sign(x, key, EVP_sha256()) == 0) die("X509_sign");
  *key_out = key;
  *cert_out = x;
}

SSL_CTX* make_ctx(bool server, const SuiteChoice& s, EVP_PKEY* key, X509* cert) {
  SSL_CTX* ctx = SSL_CTX_new(server ? DTLS_server_method() : DTLS_client_method());
  if (ctx == nullptr) die("SSL_CTX_new");
  SSL_CTX_set_min_proto_version(ctx, DTLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx, DTLS1_2_VERSION);
  if (SSL_CTX_set_cipher_list(ctx, s.cipher) != 1) die("cipher list");
  SSL_CTX_set_options(ctx, SSL_OP_NO_QUERY_MTU | SSL_OP_NO_TICKET);
  if (server) {
    if (SSL_CTX_use_certificate(ctx, cert) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1)
      die("server certificate");
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  return ctx;
}

// Records seen on the wire, per direction: the highest (epoch, seq) of the
// newest epoch, so the engine continues the client's sequence without reuse.
struct WireSeen {
  uint16_t epoch = 0;
  uint64_t seq = 0;
  bool any = false;
  void scan(const uint8_t* p, size_t n) {
    size_t pos = 0;
    while (pos + 13 <= n) {
      const uint16_t e = static_cast<uint16_t>(p[pos + 3] << 8 | p[pos + 4]);
      uint64_t s = 0;
      for (int i = 0; i < 6; ++i) s = s << 8 | p[pos + 5 + i];
      if (!any || e > epoch || (e == epoch && s > seq)) epoch = e, seq = s, any = true;
      pos += 13 + (size_t{p[pos + 11]} << 8 | p[pos + 12]);
    }
  }
};

Bytes drain(BIO* b) {
  Bytes out;
  uint8_t buf[4096];
  int n;
  while ((n = BIO_read(b, buf, sizeof buf)) > 0) out.insert(out.end(), buf, buf + n);
  return out;
}

void send_msg(int fd, char kind, const Bytes& payload) {
  Bytes m(1 + payload.size());
  m[0] = static_cast<uint8_t>(kind);
  if (!payload.empty()) std::memcpy(m.data() + 1, payload.data(), payload.size());
  if (send(fd, m.data(), m.size(), 0) != static_cast<ssize_t>(m.size())) die("send");
}

Bytes derive_key_block(SSL* ssl, const SuiteChoice& s) {
  SSL_SESSION* sess = SSL_get_session(ssl);
  uint8_t master[SSL_MAX_MASTER_KEY_LENGTH];
  const size_t mlen = SSL_SESSION_get_master_key(sess, master, sizeof master);
  uint8_t cr[SSL3_RANDOM_SIZE], sr[SSL3_RANDOM_SIZE];
  SSL_get_client_random(ssl, cr, sizeof cr);
  SSL_get_server_random(ssl, sr, sizeof sr);
  // RFC 5246 §6.3: key_block = PRF(master, "key expansion", server_random ‖ client_random).
  std::string seed = "key expansion";
  seed.append(reinterpret_cast<char*>(sr), sizeof sr);
  seed.append(reinterpret_cast<char*>(cr), sizeof cr);
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "TLS1-PRF", nullptr);
  EVP_KDF_CTX* kctx = EVP_KDF_CTX_new(kdf);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(s.prf_md), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, master, mlen),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, seed.data(), seed.size()),
      OSSL_PARAM_construct_end()};
  Bytes kb(2 * s.key_len + 2 * s.iv_len);
  if (EVP_KDF_derive(kctx, kb.data(), kb.size(), params) != 1) die("TLS1-PRF");
  EVP_KDF_CTX_free(kctx);
  EVP_KDF_free(kdf);
  OPENSSL_cleanse(master, sizeof master);
  return kb;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) die("usage: openssl_dtls_peer <suite> <fd>");
  const SuiteChoice* suite = nullptr;
  uint8_t suite_id = 0;
  for (uint8_t i = 0; i < 3; ++i)
    if (std::strcmp(argv[1], kSuites[i].name) == 0) suite = &kSuites[i], suite_id = i;
  if (suite == nullptr) die("unknown suite");
  const int fd = std::atoi(argv[2]);

  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  make_cert(&key, &cert);
  SSL_CTX* sctx = make_ctx(true, *suite, key, cert);
  SSL_CTX* cctx = make_ctx(false, *suite, key, cert);
  SSL* srv = SSL_new(sctx);
  SSL* cli = SSL_new(cctx);
  BIO *s_in = BIO_new(BIO_s_mem()), *s_out = BIO_new(BIO_s_mem());
  BIO *c_in = BIO_new(BIO_s_mem()), *c_out = BIO_new(BIO_s_mem());
  for (BIO* b : {s_in, s_out, c_in, c_out}) BIO_set_mem_eof_return(b, -1);
  SSL_set_bio(srv, s_in, s_out);
  SSL_set_bio(cli, c_in, c_out);
  DTLS_set_link_mtu(srv, 1500);
  DTLS_set_link_mtu(cli, 1500);
  SSL_set_accept_state(srv);
  SSL_set_connect_state(cli);

  WireSeen from_client, from_server;
  bool cdone = false, sdone = false;
  for (int round = 0; round < 50 && !(cdone && sdone); ++round) {
    if (!cdone) {
      const int r = SSL_do_handshake(cli);
      if (r == 1) cdone = true;
      else if (SSL_get_error(cli, r) != SSL_ERROR_WANT_READ) die("client handshake");
    }
    Bytes c2s = drain(c_out);
    from_client.scan(c2s.data(), c2s.size());
    if (!c2s.empty()) BIO_write(s_in, c2s.data(), static_cast<int>(c2s.size()));
    if (!sdone) {
      const int r = SSL_do_handshake(srv);
      if (r == 1) sdone = true;
      else if (SSL_get_error(srv, r) != SSL_ERROR_WANT_READ) die("server handshake");
    }
    Bytes s2c = drain(s_out);
    from_server.scan(s2c.data(), s2c.size());
    if (!s2c.empty()) BIO_write(c_in, s2c.data(), static_cast<int>(s2c.size()));
  }
  if (!cdone || !sdone) die("handshake did not finish");
  // Let the client consume the server's last flight too.
  SSL_do_handshake(cli);
  if (SSL_version(cli) != DTLS1_2_VERSION) die("not DTLS 1.2");
  if (std::strcmp(SSL_get_cipher_name(cli), SSL_CIPHER_get_name(SSL_get_current_cipher(srv))) != 0)
    die("cipher mismatch");

  const Bytes kb = derive_key_block(cli, *suite);
  Bytes k = {suite_id, static_cast<uint8_t>(suite->key_len), static_cast<uint8_t>(suite->iv_len),
             static_cast<uint8_t>(from_client.epoch >> 8), static_cast<uint8_t>(from_client.epoch)};
  const uint64_t next = from_client.seq + 1;
  for (int i = 7; i >= 0; --i) k.push_back(static_cast<uint8_t>(next >> (8 * i)));
  // key_block = client_write_key ‖ server_write_key ‖ client_write_IV ‖ server_write_IV
  const size_t kl = suite->key_len, il = suite->iv_len;
  k.insert(k.end(), kb.begin(), kb.begin() + kl);                             // client key
  k.insert(k.end(), kb.begin() + 2 * kl, kb.begin() + 2 * kl + il);           // client iv
  k.insert(k.end(), kb.begin() + kl, kb.begin() + 2 * kl);                    // server key
  k.insert(k.end(), kb.begin() + 2 * kl + il, kb.begin() + 2 * kl + 2 * il);  // server iv
  send_msg(fd, 'K', k);

  std::vector<uint8_t> msg(1 << 17);
  for (;;) {
    const ssize_t n = recv(fd, msg.data(), msg.size(), 0);
    if (n <= 0) break;
    const char kind = static_cast<char>(msg[0]);
    if (kind == 'Q') break;
    if (kind == 'R') {
      BIO_write(s_in, msg.data() + 1, static_cast<int>(n - 1));
      Bytes out;
      uint8_t buf[20000];
      for (;;) {
        const int r = SSL_read(srv, buf, sizeof buf);
        if (r <= 0) {
          const int err = SSL_get_error(srv, r);
          if (err != SSL_ERROR_WANT_READ) die("SSL_read");
          break;
        }
        out.push_back(static_cast<uint8_t>(r >> 8));
        out.push_back(static_cast<uint8_t>(r));
        out.insert(out.end(), buf, buf + r);
      }
      ERR_clear_error();
      send_msg(fd, 'P', out);
    } else if (kind == 'W') {
      size_t pos = 1;
      while (pos + 2 <= static_cast<size_t>(n)) {
        const size_t len = size_t{msg[pos]} << 8 | msg[pos + 1];
        if (SSL_write(srv, msg.data() + pos + 2, static_cast<int>(len)) != static_cast<int>(len))
          die("SSL_write");
        pos += 2 + len;
      }
      send_msg(fd, 'D', drain(s_out));
    }
  }
  SSL_free(srv);
  SSL_free(cli);
  SSL_CTX_free(sctx);
  SSL_CTX_free(cctx);
  X509_free(cert);
  EVP_PKEY_free(key);
  return 0;
}
