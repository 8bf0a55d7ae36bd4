// Where verdicts go: JSON Lines, the human summary, the --expect comparison and the
// --write-plaintext export. Fanout sends each verdict to all that are enabled.
#pragma once
#include <cstdio>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "tools/replay/verdict.h"

namespace rl::replay {

class JsonLinesWriter : public VerdictSink {
 public:
  explicit JsonLinesWriter(std::FILE* out) : out_(out) {}
  void emit(const Verdict& v) override;

 private:
  std::FILE* out_;
  std::string buf_;
};

// Per protocol and direction: seen, decrypted, failed by Status, skipped for lack of keys.
class Summary : public VerdictSink {
 public:
  struct Row {
    uint64_t seen = 0, ok = 0, no_key = 0, skipped = 0, not_protected = 0;
    std::map<std::string, uint64_t> failed;  // by status
    uint64_t failed_total() const;
  };
  void emit(const Verdict& v) override;
  bool wants_digest() const override { return false; }
  // ESP/SRTP directions are SPIs/SSRCs; rows are kept per (proto, dir).
  const std::map<std::pair<std::string, std::string>, Row>& rows() const { return rows_; }
  uint64_t failed() const;
  void print(std::FILE* out) const;
  // Statuses that count as neither decrypted nor failed.
  static bool neutral(std::string_view status);

 private:
  std::map<std::pair<std::string, std::string>, Row> rows_;
  Row* last_ = nullptr;
  std::string last_proto_, last_dir_;
};

// --expect FILE.jsonl: compares each verdict with the line of the same (frame, index).
class ExpectChecker : public VerdictSink {
 public:
  bool load(const std::string& path, Diag& diag);
  void emit(const Verdict& v) override;
  // Reports expected records never produced; returns the number of mismatches.
  size_t finish(Diag& diag);
  size_t mismatches() const { return mismatches_; }

 private:
  struct Line {
    std::map<std::string, std::string> f;
    size_t lineno = 0;
    bool matched = false;
  };
  std::string path_;
  std::map<std::pair<uint64_t, uint64_t>, Line> expected_;
  std::vector<std::string> pending_;  // messages, printed at finish (keeps output ordered)
  size_t mismatches_ = 0;
  Diag* diag_ = nullptr;
};

// --write-plaintext DIR: appends each decrypted payload to DIR/flow<id>-<proto>-<dir>.bin.
class PlaintextWriter : public VerdictSink {
 public:
  bool open(const std::string& dir, Diag& diag);
  void emit(const Verdict& v) override;
  bool wants_digest() const override { return false; }
  ~PlaintextWriter() override;
  size_t files() const { return files_.size(); }

 private:
  std::string dir_;
  std::map<std::string, std::FILE*> files_;
  Diag* diag_ = nullptr;
};

class Fanout : public VerdictSink {
 public:
  void add(VerdictSink* s) {
    sinks_.push_back(s);
    wants_ = wants_ || s->wants_digest();
  }
  void emit(const Verdict& v) override {
    for (VerdictSink* s : sinks_) s->emit(v);
  }
  bool wants_digest() const override { return wants_; }

 private:
  std::vector<VerdictSink*> sinks_;
  bool wants_ = false;
};

}  // namespace rl::replay
