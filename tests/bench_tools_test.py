#!/usr/bin/env python3
"""Tests for tools/bench-merge and tools/bench-report on synthetic Google
Benchmark JSON whose figures are chosen so every ratio is known exactly."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = os.environ.get("RL_SOURCE_DIR") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MERGE = os.path.join(ROOT, "tools", "bench-merge")
REPORT = os.path.join(ROOT, "tools", "bench-report")


def rows(name, bps_reps, bytes_, burst, extra=None):
    """The rows Google Benchmark writes for one benchmark with repetitions:
    one per repetition, then the aggregates."""
    out = []
    for i, bps in enumerate(bps_reps):
        r = {"name": name, "run_name": name, "run_type": "iteration", "repetitions": len(bps_reps),
             "repetition_index": i, "iterations": 1000, "real_time": 1.0, "cpu_time": 1.0,
             "time_unit": "ns", "bytes_per_second": bps, "items_per_second": bps / bytes_,
             "cycles_per_byte": 2.5e9 / bps}
        r.update(extra or {})
        out.append(r)
    mean = sum(bps_reps) / len(bps_reps)
    for agg, v in (("mean", mean), ("median", sorted(bps_reps)[len(bps_reps) // 2])):
        out.append({"name": f"{name}_{agg}", "run_name": name, "run_type": "aggregate",
                    "aggregate_name": agg, "repetitions": len(bps_reps), "bytes_per_second": v,
                    "items_per_second": v / bytes_})
    return out


def doc(executable, benchmarks, **custom):
    ctx = {"date": "2026-11-26T13:00:00+00:00", "host_name": "test", "executable": executable,
           "num_cpus": 2, "mhz_per_cpu": 2600, "library_build_type": "release",
           "rl_topology": "1 package, 2 cores", "rl_tsc_hz": "2500000000",
           "rl_placement": "pinned to core 1", "rl_method": "keys outside the loop"}
    ctx.update(custom)
    return {"context": ctx, "benchmarks": benchmarks}


class BenchTools(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="bench-tools-")
        self.build = os.path.join(self.dir, "build")
        os.makedirs(os.path.join(self.build, "bench-results"))
        with open(os.path.join(self.build, "bench-peers.txt"), "w") as f:
            f.write("# impl\texecutable\tstatus\n"
                    "boringssl\trl-bench\tmeasured\n"
                    "openssl\trl-bench-openssl\tmeasured\n"
                    "sodium\t-\tnot measured: libsodium not found (apt-get install libsodium-dev)\n")
        with open(os.path.join(self.build, "CMakeCache.txt"), "w") as f:
            f.write("CMAKE_BUILD_TYPE:STRING=Release\nCMAKE_CXX_FLAGS_RELEASE:STRING=-O3 -DNDEBUG\n")

    def tearDown(self):
        shutil.rmtree(self.dir)

    def write(self, name, content):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(content if isinstance(content, str) else json.dumps(content))
        return path

    def run_tool(self, *args, ok=True):
        p = subprocess.run([sys.executable, *args], capture_output=True, text=True,
                           env=dict(os.environ, RL_BENCH_REPORT_REEXEC="1"))
        if ok:
            self.assertEqual(p.returncode, 0, p.stderr)
        return p

    def make_result(self, scale=1.0, name="result.json"):
        """Merged result: aead 2 GB/s at 1350 B, BoringSSL 1, OpenSSL 0.5."""
        ours = (rows("seal/aead/aes128gcm/1350/1", [1.9e9 * scale, 2.0e9 * scale, 2.1e9 * scale], 1350, 1)
                + rows("seal/aead/aes128gcm/1350/32", [3.0e9 * scale] * 3, 1350, 32)
                + rows("seal/boringssl/aes128gcm/1350/1", [1.0e9] * 3, 1350, 1)
                + rows("seal/tls13/aes128gcm/1350/32", [1.5e9] * 3, 1350, 32)
                + rows("seal/aead-scale1/aes128gcm/1350/32", [2.0e9] * 3, 1350, 32, {"workers": 1, "cpu_bytes_per_second": 2.0e9})
                + rows("seal/aead-scale2/aes128gcm/1350/32", [3.6e9] * 3, 1350, 32, {"workers": 2, "cpu_bytes_per_second": 3.8e9})
                + [{"name": "open/aead/aes128gcm/64/1", "run_name": "open/aead/aes128gcm/64/1",
                    "run_type": "iteration", "error_occurred": True,
                    "error_message": "open failed"}])
        peer = rows("seal/openssl/aes128gcm/1350/1", [0.5e9] * 3, 1350, 1)
        a = self.write("a.json", doc("rl-bench", ours, **{"rl_kat/aead/aes128gcm": "00ff",
                                                          "rl_kat/boringssl/aes128gcm": "00ff",
                                                          "rl_kat/aead/chacha20poly1305": "1234"}))
        self.write("a.json.cmd", "build/bin/rl-bench --benchmark_filter=x")
        b = self.write("b.json", doc("rl-bench-openssl", peer, rl_openssl_version="OpenSSL 3.0.19",
                                     **{"rl_kat/openssl/aes128gcm": "00ff",
                                        "rl_kat/openssl/chacha20poly1305": "9999"}))
        crashed = self.write("c.json", "{ not json")
        nothing = self.write("d.json", "")  # the filter matched none of its rows
        out = os.path.join(self.build, "bench-results", name)
        self.run_tool(MERGE, "--build", self.build, "--command", "tools/run bench --x", out, a, b,
                      crashed, nothing)
        return out

    def test_merge_keeps_rows_and_says_how_it_was_made(self):
        out = self.make_result()
        with open(out) as f:
            m = json.load(f)
        names = {b["name"] for b in m["benchmarks"]}
        self.assertIn("seal/openssl/aes128gcm/1350/1", names)
        self.assertIn("seal/aead/aes128gcm/1350/1_median", names)
        rl = m["context"]["recordlayer"]
        self.assertEqual(rl["command"], "tools/run bench --x")
        self.assertEqual(rl["build"]["CMAKE_BUILD_TYPE"], "Release")
        self.assertEqual(rl["machine"]["tsc_hz"], 2.5e9)
        self.assertEqual(rl["peers"]["sodium"]["status"][:12], "not measured")
        exes = {e["input"]: e for e in rl["executables"]}
        self.assertEqual(exes["a.json"]["command"], "build/bin/rl-bench --benchmark_filter=x")
        self.assertIn("failed", exes["c.json"])
        self.assertNotIn("failed", exes["d.json"])
        self.assertEqual(exes["d.json"]["rows"], 0)
        self.assertEqual(exes["b.json"]["context"]["rl_openssl_version"], "OpenSSL 3.0.19")
        self.assertEqual(m["context"]["rl_openssl_version"], "OpenSSL 3.0.19")
        self.assertIn("commit", rl)

    def test_report_table_and_ratios(self):
        out = self.make_result()
        text = self.run_tool(REPORT, out, "--no-plot", "--all").stdout
        lines = text.splitlines()
        head = next(l for l in lines if l.startswith("| op | suite | bytes"))
        cols = [c.strip() for c in head.strip("|").split("|")]
        row = next(l for l in lines if l.startswith("| seal | aes128gcm | 1350 |"))
        cells = dict(zip(cols, [c.strip() for c in row.strip("|").split("|")]))
        # median of 1.9/2.0/2.1 and its CV: stdev 0.1 / mean 2.0
        self.assertEqual(cells["aead b1"], "2.00 ±5.0%")
        self.assertEqual(cells["aead b32"], "3.00 ±0.0%")
        self.assertEqual(cells["boringssl"], "1.00 ±0.0%")
        self.assertEqual(cells["aead/boringssl"], "2.00x")
        self.assertEqual(cells["aead/openssl"], "4.00x")
        # the protocol row against aead at the same burst, and the baseline
        prot = next(l for l in lines if l.startswith("| seal/tls13/aes128gcm/1350/32 |"))
        self.assertIn("| 0.50x |", prot)   # 1.5 / aead b32 3.0
        self.assertIn("| 1.50x |", prot)   # 1.5 / boringssl 1.0
        # scaling: 3.6 GB/s on 2 workers vs 2.0 on 1 = 1.8x, 90 % per core
        scale = next(l for l in lines if l.startswith("| seal | aead | aes128gcm | 1350 | 32 | 2 |"))
        self.assertIn("| 1.80x | 90% |", scale)
        # and from the workers' CPU time: 3.8 / (2 x 2.0) = 95 %
        self.assertTrue(scale.endswith("| 3.80 | 95% |"), scale)
        # every row table has cycles/byte: 2.5e9 Hz / 2e9 B/s
        every = next(l for l in lines if l.startswith("| seal/aead/aes128gcm/1350/1 |"))
        self.assertIn("| 1.250 |", every)
        # what was not measured or failed is said, not skipped
        self.assertRegex(text, r"\*\*sodium\*\*: not measured: libsodium not found")
        self.assertRegex(text, r"\*\*ipsec-mb\*\*: not measured")
        self.assertIn("open/aead/aes128gcm/64/1 failed: open failed", text)
        self.assertIn("c.json: no result", text)
        self.assertNotIn("d.json", text)
        self.assertIn("command: `tools/run bench --x`", text)
        # the reference-packet tags from different executables are compared
        self.assertIn("aes128gcm: 3 implementations agree on the reference tag "
                      "(aead, boringssl, openssl)", text)
        self.assertRegex(text, r"\*\*chacha20poly1305: MISMATCH\*\*.*aead: 1234.*openssl: 9999")

    def test_compare_prints_ratio_per_row(self):
        before = self.make_result(1.0, "before.json")
        after = self.make_result(1.5, "after.json")
        text = self.run_tool(REPORT, before, after).stdout
        row = next(l for l in text.splitlines() if l.startswith("| seal/aead/aes128gcm/1350/32 |"))
        self.assertEqual([c.strip() for c in row.strip("|").split("|")][1:],
                         ["3.00", "4.50", "1.50x", "0.0%", "0.0%", "faster"])
        row = next(l for l in text.splitlines() if l.startswith("| seal/boringssl/aes128gcm/1350/1 |"))
        self.assertIn("| 1.00x |", row)
        # 5 % CV: a 1.5x change is beyond 2 CV; the failed row has no ratio
        row = next(l for l in text.splitlines() if l.startswith("| seal/aead/aes128gcm/1350/1 |"))
        self.assertTrue(row.endswith("| 1.50x | 5.0% | 5.0% | faster |"), row)
        self.assertIn("| open/aead/aes128gcm/64/1 | failed | failed |", text)
        # geometric mean over the 7 rows with figures: (1.5 * 1.5) ** (1/7)
        self.assertIn("geometric mean of after/before over 7 rows: 1.123x", text)

    def test_plot_is_written(self):
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            self.skipTest("matplotlib not installed for " + sys.executable)
        out = self.make_result()
        png = os.path.join(self.dir, "plot.png")
        self.run_tool(REPORT, out, "--plot", png)
        with open(png, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")

    def test_bad_usage_fails(self):
        p = self.run_tool(REPORT, os.path.join(self.dir, "missing.json"), ok=False)
        self.assertNotEqual(p.returncode, 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
