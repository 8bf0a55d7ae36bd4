// Seals and opens one record through the installed library; exit 0 on success.
#include <cstdio>
#include <cstring>

#include "core/aead.h"

int main() {
  rl::AeadKey key;
  const uint8_t k[16] = {1, 2, 3};
  if (key.init(rl::Suite::aes128_gcm, k) != rl::Status::ok) return 1;
  uint8_t data[32] = "installed recordlayer works";
  uint8_t tag[16];
  rl::AeadJob job;
  job.key = &key;
  job.data = data;
  job.tag = tag;
  rl::seal({&job, 1});
  if (job.status != rl::Status::ok || std::memcmp(data, "installed", 9) == 0) return 2;
  rl::open({&job, 1});
  if (job.status != rl::Status::ok || std::memcmp(data, "installed", 9) != 0) return 3;
  std::printf("consumer: %s backend ok\n", rl::to_string(rl::active_backend()));
  return 0;
}
