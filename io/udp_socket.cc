#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "io/gso.h"
#include "io/udp_path.h"

namespace rl::io {

std::unique_ptr<UdpPath> make_mmsg_path(int fd, const PathConfig& cfg, std::string* error);
std::unique_ptr<UdpPath> make_uring_path(int fd, const PathConfig& cfg, std::string* error);

const char* to_string(PathKind k) { return k == PathKind::uring ? "uring" : "mmsg"; }

int open_udp_socket(const sockaddr* bind_addr, socklen_t bind_len, const sockaddr* peer,
                    socklen_t peer_len, bool gro, std::string* error) {
  const int fd = socket(bind_addr->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    if (error) *error = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  const int buf = 8 << 20;  // absorb bursts; the kernel caps it at rmem_max
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  if (gro) {
    const int on = 1;
    if (setsockopt(fd, SOL_UDP, UDP_GRO, &on, sizeof on) != 0 && error)
      *error = std::string("UDP_GRO not available: ") + std::strerror(errno);
  }
  if (bind(fd, bind_addr, bind_len) != 0 || (peer != nullptr && connect(fd, peer, peer_len) != 0)) {
    if (error) *error = std::string("bind/connect: ") + std::strerror(errno);
    close(fd);
    return -1;
  }
  return fd;
}

bool uring_available() {
  static const bool ok = [] {
    io_uring ring;
    if (io_uring_queue_init(4, &ring, 0) != 0) return false;
    io_uring_probe* p = io_uring_get_probe_ring(&ring);
    const bool have = p != nullptr && io_uring_opcode_supported(p, IORING_OP_RECVMSG) &&
                      io_uring_opcode_supported(p, IORING_OP_SENDMSG);
    if (p) io_uring_free_probe(p);
    io_uring_queue_exit(&ring);
    return have;
  }();
  return ok;
}

std::unique_ptr<UdpPath> make_udp_path(int fd, PathConfig cfg, std::string* error) {
  if (const char* env = std::getenv("RL_IO"); env != nullptr && *env != '\0') {
    if (std::strcmp(env, "mmsg") == 0) cfg.kind = PathKind::mmsg;
    else if (std::strcmp(env, "uring") == 0) cfg.kind = PathKind::uring;
    else if (error) *error = std::string("RL_IO=") + env + " is not uring|mmsg; ignored";
  }
  if (cfg.kind == PathKind::uring) {
    if (uring_available()) {
      if (auto p = make_uring_path(fd, cfg, error)) return p;
    } else if (error) {
      *error = "io_uring not available here; using recvmmsg/sendmmsg";
    }
  }
  return make_mmsg_path(fd, cfg, error);
}

}  // namespace rl::io
