// main() of every bench executable (it replaces benchmark_main: an object file
// defines main, so the linker never takes the one in libbenchmark_main.a).
// Order: flags, then placement (pin + NUMA binding, topology and TSC printed),
// then the start hooks (reference-packet tags), then the benchmarks.
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <streambuf>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bench/support/bench_util.h"
#include "bench/support/placement.h"

namespace {

// Rows timed with Google Benchmark's manual time (OpenClock) get
// "/manual_time" appended to their names by the library; this reporter hands
// every run on to the reporter the flags ask for without it, so that all rows
// keep DESIGN.md §7b's <op>/<impl>/<suite>/<bytes>/<burst> and pair with
// their baselines.
class PlainNames : public benchmark::BenchmarkReporter {
 public:
  explicit PlainNames(std::unique_ptr<benchmark::BenchmarkReporter> inner) : inner_(std::move(inner)) {}
  bool ReportContext(const Context& c) override {
    // Google Benchmark points this reporter's streams at the output file
    // before the first call; the inner one writes there too.
    inner_->SetOutputStream(&GetOutputStream());
    inner_->SetErrorStream(&GetErrorStream());
    return inner_->ReportContext(c);
  }
  void ReportRuns(const std::vector<Run>& runs) override {
    std::vector<Run> v(runs);
    for (Run& r : v)
      if (r.run_name.time_type == "manual_time") r.run_name.time_type.clear();
    inner_->ReportRuns(v);
  }
  void Finalize() override { inner_->Finalize(); }

 private:
  std::unique_ptr<benchmark::BenchmarkReporter> inner_;
};

// The value of --name=value (or -name=value) in argv, or `fallback`. Read
// before benchmark::Initialize, which takes its flags out of argv; the
// library does not export them.
std::string flag(int argc, char** argv, const char* name, const char* fallback) {
  std::string v = fallback;
  const size_t n = std::strlen(name);
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    if (a[0] != '-') continue;
    a += a[1] == '-' ? 2 : 1;
    if (std::strncmp(a, name, n) != 0) continue;
    if (a[n] == '=') v = a + n + 1;
    else if (a[n] == '\0') v = "true";  // a bare boolean flag, as Google Benchmark reads it
  }
  return v;
}

// Google Benchmark matches --benchmark_filter against the name with that
// suffix, so a pattern anchored with "$" (".../1350/32$") would miss the
// manual-time rows: every "$" outside a bracket expression also accepts it.
std::string allow_manual_suffix(const std::string& re) {
  std::string out;
  bool escaped = false;
  size_t bracket = std::string::npos;  // where the open bracket expression's items start
  for (size_t i = 0; i < re.size(); ++i) {
    const char c = re[i];
    if (escaped) {
      escaped = false;
    } else if (bracket != std::string::npos) {
      if (c == '^' && i == bracket) ++bracket;           // "[^"
      else if (c == ']' && i != bracket) bracket = std::string::npos;  // "[]" and "[^]" start with ']'
    } else if (c == '\\') {
      escaped = true;
    } else if (c == '[') {
      bracket = i + 1;
    } else if (c == '$') {
      out += "(/manual_time)?$";
      continue;
    }
    out += c;
  }
  return out;
}

// Line by line to `out`, without the suffix (for --benchmark_list_tests,
// which writes the names itself rather than through a reporter).
class PlainNamesBuf : public std::streambuf {
 public:
  explicit PlainNamesBuf(std::streambuf* out) : out_(out) {}
  ~PlainNamesBuf() override { sync(); }

 protected:
  int overflow(int c) override {
    if (c == traits_type::eof()) return traits_type::not_eof(c);
    line_ += static_cast<char>(c);
    if (c == '\n') put_line();
    return c;
  }
  int sync() override {
    put_line();
    return out_->pubsync();
  }

 private:
  void put_line() {
    for (size_t at; (at = line_.find("/manual_time")) != std::string::npos;) line_.erase(at, 12);
    out_->sputn(line_.data(), static_cast<std::streamsize>(line_.size()));
    line_.clear();
  }
  std::streambuf* out_;
  std::string line_;
};

bool truthy(const std::string& v) { return v == "true" || v == "yes" || v == "1" || v == "on"; }

struct Flags {
  std::string format, out_format, color, tabular;
  bool to_file;
};

std::unique_ptr<benchmark::BenchmarkReporter> make_reporter(const std::string& format, bool display,
                                                            const Flags& f) {
  if (format == "json") return std::make_unique<benchmark::JSONReporter>();
  if (format == "csv") {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"  // still what the flag asks for
    return std::make_unique<benchmark::CSVReporter>();
#pragma GCC diagnostic pop
  }
  if (!display) return std::make_unique<benchmark::ConsoleReporter>(benchmark::ConsoleReporter::OO_None);
  // As the library's own console reporter: colour when asked for, or by
  // default on a terminal; tabular counters when asked for.
  const char* term = std::getenv("TERM");
  const bool tty = isatty(STDOUT_FILENO) && term != nullptr && std::strcmp(term, "dumb") != 0;
  int opts = benchmark::ConsoleReporter::OO_None;
  if (f.color == "auto" ? tty : truthy(f.color)) opts |= benchmark::ConsoleReporter::OO_Color;
  if (truthy(f.tabular)) opts |= benchmark::ConsoleReporter::OO_Tabular;
  return std::make_unique<benchmark::ConsoleReporter>(
      static_cast<benchmark::ConsoleReporter::OutputOptions>(opts));
}

}  // namespace

int main(int argc, char** argv) {
  const Flags f{flag(argc, argv, "benchmark_format", "console"),
                flag(argc, argv, "benchmark_out_format", "json"),
                flag(argc, argv, "benchmark_color", "auto"),
                flag(argc, argv, "benchmark_counters_tabular", "false"),
                !flag(argc, argv, "benchmark_out", "").empty()};
  std::vector<std::string> filters;  // rewritten --benchmark_filter values, alive past Initialize
  filters.reserve(static_cast<size_t>(argc));
  for (int i = 1; i < argc; ++i) {
    for (const char* pre : {"--benchmark_filter=", "-benchmark_filter="}) {
      const size_t n = std::strlen(pre);
      if (std::strncmp(argv[i], pre, n) == 0) {
        filters.push_back(pre + allow_manual_suffix(argv[i] + n));
        argv[i] = filters.back().data();
        break;
      }
    }
  }
  const bool listing = truthy(flag(argc, argv, "benchmark_list_tests", "false"));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  rl::bench::start_up();
  for (auto& hook : rl::bench::common::start_hooks()) hook();
  PlainNames display(make_reporter(f.format, true, f));
  PlainNamesBuf list_buf(std::cout.rdbuf());
  std::ostream list_out(&list_buf);
  if (listing) display.SetOutputStream(&list_out);
  if (f.to_file) {
    PlainNames file(make_reporter(f.out_format, false, f));
    benchmark::RunSpecifiedBenchmarks(&display, &file);
  } else {
    benchmark::RunSpecifiedBenchmarks(&display);
  }
  benchmark::Shutdown();
  return 0;
}
