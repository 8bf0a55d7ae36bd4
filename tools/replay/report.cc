#include "tools/replay/report.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace rl::replay {

void JsonLinesWriter::emit(const Verdict& v) {
  buf_.clear();
  append_json(buf_, v);
  buf_ += '\n';
  std::fwrite(buf_.data(), 1, buf_.size(), out_);
}

bool Summary::neutral(std::string_view s) {
  return s == "ok" || s == kNoKey || s == kSkipped || s == "not_protected" || s == "keepalive" ||
         s == "dummy_packet";
}

uint64_t Summary::Row::failed_total() const {
  uint64_t n = 0;
  for (auto& [k, c] : failed) n += c;
  return n;
}

void Summary::emit(const Verdict& v) {
  // Runs of one (proto, dir) are the rule: keep the last row (map nodes do not move).
  if (!last_ || last_dir_ != v.dir || last_proto_ != v.proto) {
    last_ = &rows_[{v.proto, v.dir}];
    last_proto_ = v.proto;
    last_dir_ = v.dir;
  }
  Row& r = *last_;
  ++r.seen;
  const std::string_view s = v.status;
  if (s == "ok") ++r.ok;
  else if (s == kNoKey) ++r.no_key;
  else if (s == kSkipped) ++r.skipped;
  else if (s == "not_protected") ++r.not_protected;
  else if (!neutral(s)) ++r.failed[std::string(s)];
}

uint64_t Summary::failed() const {
  uint64_t n = 0;
  for (auto& [k, r] : rows_) n += r.failed_total();
  return n;
}

void Summary::print(std::FILE* out) const {
  std::fprintf(out, "%-9s %-10s %9s %9s %9s %9s %9s %9s  %s\n", "proto", "dir", "seen", "decrypted",
               "failed", "no_key", "skipped", "plain", "failures by status");
  for (auto& [k, r] : rows_) {
    std::string by;
    for (auto& [st, c] : r.failed) by += (by.empty() ? "" : ", ") + st + "=" + std::to_string(c);
    std::fprintf(out, "%-9s %-10s %9llu %9llu %9llu %9llu %9llu %9llu  %s\n", k.first.c_str(),
                 k.second.c_str(), (unsigned long long)r.seen, (unsigned long long)r.ok,
                 (unsigned long long)r.failed_total(), (unsigned long long)r.no_key,
                 (unsigned long long)r.skipped, (unsigned long long)r.not_protected, by.c_str());
  }
  if (rows_.empty()) std::fprintf(out, "(no records of a known protocol in the capture)\n");
}

bool ExpectChecker::load(const std::string& path, Diag& diag) {
  path_ = path;
  diag_ = &diag;
  std::ifstream in(path);
  if (!in) {
    diag.error(path, "cannot open expectations");
    return false;
  }
  std::string line;
  size_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (trim(line).empty()) continue;
    Line l;
    std::string err;
    uint64_t frame = 0, index = 0;
    if (!parse_flat_json(line, l.f, &err)) {
      diag.error(path + ":" + std::to_string(n), "not a JSON object: " + err);
      continue;
    }
    if (!l.f.count("frame") || !l.f.count("index") || !parse_uint(l.f["frame"], frame) ||
        !parse_uint(l.f["index"], index)) {
      diag.error(path + ":" + std::to_string(n), "needs numeric \"frame\" and \"index\"");
      continue;
    }
    l.lineno = n;
    if (!expected_.emplace(std::make_pair(frame, index), std::move(l)).second)
      diag.error(path + ":" + std::to_string(n), "a second line for the same frame and index");
  }
  return true;
}

void ExpectChecker::emit(const Verdict& v) {
  auto it = expected_.find({v.frame, v.index});
  const std::string where = "frame " + std::to_string(v.frame) + " index " + std::to_string(v.index);
  if (it == expected_.end()) {
    ++mismatches_;
    pending_.push_back(where + ": not in " + path_ + " (got " + to_json(v) + ")");
    return;
  }
  it->second.matched = true;
  const auto got = fields(v);
  for (auto& [k, want] : it->second.f) {
    auto g = got.find(k);
    if (g == got.end()) continue;  // a field we do not produce
    if (g->second != want) {
      ++mismatches_;
      pending_.push_back(where + " (" + path_ + ":" + std::to_string(it->second.lineno) + "): " + k +
                         " expected " + want + ", got " + g->second);
    }
  }
}

size_t ExpectChecker::finish(Diag& diag) {
  for (auto& [key, l] : expected_) {
    if (l.matched) continue;
    ++mismatches_;
    pending_.push_back("frame " + std::to_string(key.first) + " index " + std::to_string(key.second) +
                       " (" + path_ + ":" + std::to_string(l.lineno) + "): expected, never produced");
  }
  for (const std::string& m : pending_) diag.warn("--expect", m);
  pending_.clear();
  return mismatches_;
}

bool PlaintextWriter::open(const std::string& dir, Diag& diag) {
  diag_ = &diag;
  dir_ = dir;
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    diag.error(dir, std::string("cannot create directory: ") + std::strerror(errno));
    return false;
  }
  return true;
}

void PlaintextWriter::emit(const Verdict& v) {
  if (std::string_view(v.status) != "ok" || !v.len) return;
  std::string name = "flow" + std::to_string(v.flow) + "-" + v.proto + "-" + v.dir + ".bin";
  auto it = files_.find(name);
  if (it == files_.end()) {
    std::FILE* f = std::fopen((dir_ + "/" + name).c_str(), "wb");
    if (!f) {
      if (diag_) diag_->error(dir_ + "/" + name, std::string("cannot write: ") + std::strerror(errno));
      files_.emplace(name, nullptr);
      return;
    }
    it = files_.emplace(name, f).first;
  }
  if (it->second && !v.plaintext.empty()) std::fwrite(v.plaintext.data(), 1, v.plaintext.size(), it->second);
}

PlaintextWriter::~PlaintextWriter() {
  for (auto& [n, f] : files_)
    if (f) std::fclose(f);
}

}  // namespace rl::replay
