// Test helper: runs the replay driver on a capture and keeps every verdict and message.
#pragma once
#include <initializer_list>
#include <string>
#include <vector>

#include "tools/replay/replay.h"

namespace rl::replay::test {

struct Collect : VerdictSink {
  std::vector<Verdict> v;
  void emit(const Verdict& x) override {
    x.digest();  // while the plaintext is alive: the copy keeps the digest
    v.push_back(x);
    v.back().plaintext = {};
  }
};

struct RunResult {
  std::vector<Verdict> verdicts;
  std::vector<std::string> messages;
  size_t errors = 0;
  ReplayStats stats;
  bool opened = false;
  bool has_message(const std::string& needle) const {
    for (auto& m : messages)
      if (m.find(needle) != std::string::npos) return true;
    return false;
  }
  std::string all_messages() const {
    std::string s;
    for (auto& m : messages) s += m + "\n";
    return s;
  }
};

// A decryptor the driver hands one protocol's records to (Replayer::set_sink).
struct SinkFor {
  Proto proto;
  RecordSink* sink;
};

inline RunResult run_capture(const std::string& path, const Keys& keys = Keys{},
                             ReplayOptions opts = {}, bool fail_fast = false,
                             std::initializer_list<SinkFor> sinks = {}) {
  RunResult r;
  Diag diag;
  diag.quiet = true;
  diag.fail_fast = fail_fast;
  Collect c;
  {
    Replayer rep(keys, opts, c, diag);
    for (const SinkFor& s : sinks) rep.set_sink(s.proto, s.sink);
    r.opened = rep.run(path);
    r.stats = rep.stats();
  }
  r.verdicts = std::move(c.v);
  r.messages = diag.messages();
  r.errors = diag.errors();
  return r;
}

}  // namespace rl::replay::test
