// A real TLS peer for tests/tls_interop_test.cc, built on OpenSSL's libssl and
// nothing else (it must never share a process with BoringSSL).
//
//   openssl_tls_peer <fd> <1.2|1.3> <aes128gcm|aes256gcm|chacha20poly1305>
//
// It completes a handshake between two SSL objects in memory (memory BIOs, a
// self-signed ECDSA P-256 certificate made at start-up), then hands the
// client's role to the test: the client's secrets go to the test, the client
// SSL object is dropped, and the server SSL object talks to the test's record
// layer over `fd` with this framing (both ways):
//
//   frame = kind (1 byte) ‖ length (4 bytes, big endian) ‖ payload
//
//   peer -> test  'K'  key log text: NSS key log lines plus "SERVER_RANDOM <hex>",
//                      "VERSION <name>", "CIPHER <name>" (sent once, first)
//   test -> peer  'R'  TLS records for the server to read; reply 'P' with the
//                      plaintext SSL_read returned, then 'T' with "ok", "closed"
//                      (a close_notify was read) or the SSL_read error text
//   test -> peer  'W'  plaintext for the server to SSL_write; reply 'R' records
//   test -> peer  'U'  SSL_key_update(NOT_REQUESTED) then SSL_write(payload);
//                      reply 'R' records
//   test -> peer  'u'  the same with SSL_KEY_UPDATE_REQUESTED
//   test -> peer  'S'  SSL_shutdown (sends close_notify); reply 'R' records
//   test -> peer  'Q'  exit
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

int g_fd = -1;
std::string g_keylog;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "openssl_tls_peer: %s\n", what);
  ERR_print_errors_fp(stderr);
  std::exit(2);
}

void write_all(const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t w = ::write(g_fd, c, n);
    if (w <= 0) die("write to test failed");
    c += w, n -= static_cast<size_t>(w);
  }
}

bool read_all(void* p, size_t n) {
  char* c = static_cast<char*>(p);
  while (n > 0) {
    const ssize_t r = ::read(g_fd, c, n);
    if (r <= 0) return false;
    c += r, n -= static_cast<size_t>(r);
  }
  return true;
}

void send_frame(char kind, const std::string& payload) {
  unsigned char hdr[5] = {static_cast<unsigned char>(kind),
                          static_cast<unsigned char>(payload.size() >> 24),
                          static_cast<unsigned char>(payload.size() >> 16),
                          static_cast<unsigned char>(payload.size() >> 8),
                          static_cast<unsigned char>(payload.size())};
  write_all(hdr, 5);
  write_all(payload.data(), payload.size());
}

bool recv_frame(char& kind, std::string& payload) {
  unsigned char hdr[5];
  if (!read_all(hdr, 5)) return false;
  kind = static_cast<char>(hdr[0]);
  const size_t n = size_t{hdr[1]} << 24 | size_t{hdr[2]} << 16 | size_t{hdr[3]} << 8 | hdr[4];
  payload.resize(n);
  return read_all(payload.data(), n);
}

std::string hex(const unsigned char* p, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) s += d[p[i] >> 4], s += d[p[i] & 15];
  return s;
}

void keylog_cb(const SSL*, const char* line) {
  g_keylog += line;
  g_keylog += '\n';
}

// A throwaway self-signed certificate for the server.
void make_cert(EVP_PKEY*& key, X509*& cert) {
  key = EVP_EC_gen("P-256");
  if (key == nullptr) die("EVP_EC_gen");
  cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("recordlayer peer"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  if (X509_sign(cert, key, EVP_sha256()) == 0) die("X509_sign");
}

// Moves everything `from` wrote into `to`'s read side.
bool pump(BIO* from_w, BIO* to_r) {
  char buf[16384];
  bool moved = false;
  int n;
  while ((n = BIO_read(from_w, buf, sizeof buf)) > 0) {
    BIO_write(to_r, buf, n);
    moved = true;
  }
  return moved;
}

std::string drain(BIO* w) {
  std::string out;
  char buf[16384];
  int n;
  while ((n = BIO_read(w, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) die("usage: openssl_tls_peer <fd> <1.2|1.3> <suite>");
  g_fd = std::atoi(argv[1]);
  const bool v13 = std::strcmp(argv[2], "1.3") == 0;
  const std::string suite = argv[3];
  const char* ciphers13 = suite == "aes128gcm"   ? "TLS_AES_128_GCM_SHA256"
                          : suite == "aes256gcm" ? "TLS_AES_256_GCM_SHA384"
                                                 : "TLS_CHACHA20_POLY1305_SHA256";
  const char* ciphers12 = suite == "aes128gcm"   ? "ECDHE-ECDSA-AES128-GCM-SHA256"
                          : suite == "aes256gcm" ? "ECDHE-ECDSA-AES256-GCM-SHA384"
                                                 : "ECDHE-ECDSA-CHACHA20-POLY1305";

  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  make_cert(key, cert);

  SSL_CTX* sctx = SSL_CTX_new(TLS_server_method());
  SSL_CTX* cctx = SSL_CTX_new(TLS_client_method());
  if (sctx == nullptr || cctx == nullptr) die("SSL_CTX_new");
  const int ver = v13 ? TLS1_3_VERSION : TLS1_2_VERSION;
  for (SSL_CTX* c : {sctx, cctx}) {
    SSL_CTX_set_min_proto_version(c, ver);
    SSL_CTX_set_max_proto_version(c, ver);
    if (v13) {
      if (!SSL_CTX_set_ciphersuites(c, ciphers13)) die("ciphersuites");
    } else if (!SSL_CTX_set_cipher_list(c, ciphers12)) {
      die("cipher list");
    }
    // No tickets: after the handshake nothing is in flight, so the record
    // sequence numbers the test starts from are known.
    SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(c, 0);
  }
  SSL_CTX_set_keylog_callback(cctx, keylog_cb);
  if (SSL_CTX_use_certificate(sctx, cert) != 1 || SSL_CTX_use_PrivateKey(sctx, key) != 1)
    die("server certificate");
  SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, nullptr);

  SSL* server = SSL_new(sctx);
  SSL* client = SSL_new(cctx);
  BIO* s_r = BIO_new(BIO_s_mem());
  BIO* s_w = BIO_new(BIO_s_mem());
  BIO* c_r = BIO_new(BIO_s_mem());
  BIO* c_w = BIO_new(BIO_s_mem());
  SSL_set_bio(server, s_r, s_w);
  SSL_set_bio(client, c_r, c_w);
  SSL_set_accept_state(server);
  SSL_set_connect_state(client);

  bool c_done = false, s_done = false;
  for (int round = 0; round < 50 && !(c_done && s_done); ++round) {
    if (!c_done) {
      const int r = SSL_do_handshake(client);
      if (r == 1) c_done = true;
      else if (SSL_get_error(client, r) != SSL_ERROR_WANT_READ) die("client handshake");
    }
    pump(c_w, s_r);
    if (!s_done) {
      const int r = SSL_do_handshake(server);
      if (r == 1) s_done = true;
      else if (SSL_get_error(server, r) != SSL_ERROR_WANT_READ) die("server handshake");
    }
    pump(s_w, c_r);
  }
  if (!(c_done && s_done)) die("handshake did not finish");
  // Both sides are done and nothing is in flight: no session tickets, and the
  // client's Finished has been read by the server.
  if (BIO_ctrl_pending(s_w) != 0 || BIO_ctrl_pending(c_w) != 0) die("bytes left in flight");

  unsigned char sr[SSL3_RANDOM_SIZE];
  SSL_get_server_random(client, sr, sizeof sr);
  std::string info = g_keylog;
  info += "SERVER_RANDOM " + hex(sr, sizeof sr) + "\n";
  info += std::string("VERSION ") + SSL_get_version(server) + "\n";
  info += std::string("CIPHER ") + SSL_get_cipher_name(server) + "\n";
  send_frame('K', info);
  SSL_free(client);  // the test's record layer is the client from here on

  char kind;
  std::string payload;
  while (recv_frame(kind, payload)) {
    switch (kind) {
      case 'R': {
        BIO_write(s_r, payload.data(), static_cast<int>(payload.size()));
        std::string plain, err;
        bool closed = false;
        char buf[65536];
        for (;;) {
          const int n = SSL_read(server, buf, sizeof buf);
          if (n > 0) {
            plain.append(buf, static_cast<size_t>(n));
            continue;
          }
          const int e = SSL_get_error(server, n);
          if (e == SSL_ERROR_ZERO_RETURN) closed = true;
          else if (e != SSL_ERROR_WANT_READ) {
            char text[256];
            ERR_error_string_n(ERR_get_error(), text, sizeof text);
            err = std::string("SSL_read error ") + std::to_string(e) + ": " + text;
          }
          break;
        }
        send_frame('P', plain);
        send_frame('T', !err.empty() ? err : closed ? "closed" : "ok");
        break;
      }
      case 'W':
      case 'U':
      case 'u': {
        if (kind != 'W' && SSL_key_update(server, kind == 'U' ? SSL_KEY_UPDATE_NOT_REQUESTED
                                                              : SSL_KEY_UPDATE_REQUESTED) != 1)
          die("SSL_key_update");
        if (!payload.empty() &&
            SSL_write(server, payload.data(), static_cast<int>(payload.size())) != static_cast<int>(payload.size()))
          die("SSL_write");
        if (payload.empty() && kind != 'W') SSL_do_handshake(server);  // flushes the KeyUpdate
        send_frame('R', drain(s_w));
        break;
      }
      case 'S':
        SSL_shutdown(server);
        send_frame('R', drain(s_w));
        break;
      case 'Q':
        SSL_free(server);
        SSL_CTX_free(sctx);
        SSL_CTX_free(cctx);
        X509_free(cert);
        EVP_PKEY_free(key);
        return 0;
      default:
        die("unknown frame");
    }
  }
  return 1;
}
