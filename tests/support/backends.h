// Runs a test body once per backend this CPU and build support, forcing it
// through the API, and restores the previous choice.
#pragma once
#include <gtest/gtest.h>

#include "simd/backend.h"

namespace rl::test {

template <class F>
void for_each_backend(F&& body) {
  const Backend saved = active_backend();
  for (Backend b : kAllBackends) {
    if (!backend_supported(b)) continue;
    ASSERT_EQ(set_backend(b), Status::ok);
    SCOPED_TRACE(std::string("backend ") + to_string(b));
    body(b);
  }
  set_backend(saved);
}

}  // namespace rl::test
