#!/usr/bin/env python3
"""rl-bench keeps DESIGN.md §7b's row names for the open rows timed with
Google Benchmark's manual time (bench/support/bench_util.h's OpenClock), whose
names the library would otherwise end with "/manual_time": in the console, in
the JSON file, in --benchmark_list_tests, and for filters anchored with "$".

usage: bench_names_test.py PATH/TO/rl-bench"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

BENCH = None
OPEN = "open/tls13/aes128gcm/64/1"  # a manual-time row
SEAL = "seal/tls13/aes128gcm/64/1"  # a CPU-time row


def run(*args):
    env = dict(os.environ, RL_BENCH_QUIET="1")
    p = subprocess.run([BENCH, "--benchmark_min_time=0.002", *args], env=env,
                       capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise AssertionError(f"rl-bench {args} exited {p.returncode}: {p.stderr[-2000:]}")
    return p.stdout


class BenchNames(unittest.TestCase):
    def test_anchored_filter_json_and_console(self):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "r.json")
            console = run(f"--benchmark_filter=^({OPEN}|{SEAL})$", f"--benchmark_out={out}")
            with open(out) as f:
                rows = json.load(f)["benchmarks"]
        self.assertEqual(sorted(r["name"] for r in rows), [OPEN, SEAL])
        self.assertEqual(sorted(r["run_name"] for r in rows), [OPEN, SEAL])
        for r in rows:
            self.assertGreater(r["real_time"], 0)
            self.assertGreater(r["bytes_per_second"], 0)
        lines = [l.split()[0] for l in console.splitlines() if l.startswith(("open/", "seal/"))]
        self.assertEqual(sorted(lines), [OPEN, SEAL])
        self.assertNotIn("manual_time", console)

    def test_list_tests(self):
        # "=true" and the bare flag (Google Benchmark reads both as true).
        for flag in ("--benchmark_list_tests=true", "--benchmark_list_tests"):
            listed = run(f"--benchmark_filter=^{OPEN}$", flag).split()
            self.assertEqual([l for l in listed if not l.startswith("[")], [OPEN], flag)

    def test_bracket_and_escaped_dollar_are_left_alone(self):
        # "[$]" and "\$" match a literal dollar sign: no row has one.
        for f in (f"^{OPEN}[$]", f"^{OPEN}\\$"):
            listed = run(f"--benchmark_filter={f}", "--benchmark_list_tests=true").split()
            self.assertEqual([l for l in listed if not l.startswith("[")], [], f)

    def test_aggregates_keep_plain_names(self):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "r.json")
            run(f"--benchmark_filter=^{OPEN}$", "--benchmark_repetitions=2",
                "--benchmark_display_aggregates_only=true", f"--benchmark_out={out}")
            with open(out) as f:
                rows = json.load(f)["benchmarks"]
        names = {r["name"] for r in rows}
        self.assertIn(f"{OPEN}_median", names)
        self.assertTrue(all("manual_time" not in n for n in names), names)


if __name__ == "__main__":
    BENCH = sys.argv.pop(1)
    unittest.main()
