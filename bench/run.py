#!/usr/bin/env python3
"""Run every benchmark side by side with its baseline; print a table; write BENCHMARKS.md.

    python bench/run.py                 # everything (about 3-4 minutes on 2 cores)
    python bench/run.py --quick         # smaller sizes, fewer repetitions (a smoke test;
                                        # leaves BENCHMARKS.md alone)
    python bench/run.py --only calls    # one or more groups, comma separated (see below)
    python bench/run.py --no-profile    # skip the profiler section
    python bench/run.py --fresh-venv    # rebuild bench/.venv from scratch

Groups (``--only``): cold, calls, streams, blobs, latency, upload, invoke, refs, models,
profile.
BENCHMARKS.md is only rewritten by a full-size run of every group (``--no-profile``
allowed); a partial or ``--quick`` run prints its table, saves
bench/.last-results-partial.json and writes Markdown only to an explicit
``--output FILE`` (marked as partial / quick there).

It creates its own virtual environment (bench/.venv, gitignored) with the
interpreter running it, installs bench/requirements.txt (httpx, pydantic, PyYAML:
benchmark-only, never dependencies of the module) and installs this checkout's
dify_plugin_client into it with pip, so the console script and the compiled
bytecode are what a user gets.  Every figure runs in fresh child processes of
that venv, with PYTHON* variables removed from their environment, against
servers on 127.0.0.1 only:

* bench/replay_server.py: pre-rendered fake-daemon responses with keep-alive
  (calls, streams, blobs, latency), because the fake daemon itself is the bottleneck;
* tests/fake_daemon as a process (the 200 MiB upload), and in-process (the
  request count per invoke).

Stdlib only; the module under test is never imported by this script.
"""

import argparse
import datetime
import hashlib
import json
import math
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
VENV = os.path.join(BENCH, ".venv")
MODULE = os.path.join(ROOT, "dify_plugin_client.py")
MiB = 1024 * 1024


# ----------------------------------------------------------------------------------
# environment
# ----------------------------------------------------------------------------------


def log(text):
    sys.stderr.write("[bench] %s\n" % text)
    sys.stderr.flush()


def venv_python():
    return os.path.join(VENV, "bin", "python")


_CHILD_CWD = []


def child_cwd():
    """An empty directory for child processes: with ``python -c`` the current
    directory is sys.path[0], so a stray dify_plugin_client.py (or httpx.py) in
    /tmp would otherwise be imported instead of the installed one."""
    if not _CHILD_CWD:
        path = tempfile.mkdtemp(prefix="dify-bench-cwd-")
        import atexit

        atexit.register(shutil.rmtree, path, True)
        _CHILD_CWD.append(path)
    return _CHILD_CWD[0]


def child_env():
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    env["PYTHONHASHSEED"] = "0"
    return env


def _digest(*paths):
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            digest.update(handle.read())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def ensure_venv(fresh):
    requirements = os.path.join(BENCH, "requirements.txt")
    stamp = os.path.join(VENV, ".bench-stamp")
    wanted = _digest(requirements)
    if fresh and os.path.isdir(VENV):
        shutil.rmtree(VENV)
    current = open(stamp).read().split() if os.path.exists(stamp) else []
    if not current or current[0] != wanted:
        if os.path.isdir(VENV):
            shutil.rmtree(VENV)
        log("creating %s with %s" % (VENV, sys.executable))
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        subprocess.run([venv_python(), "-m", "pip", "install", "--quiet",
                        "--disable-pip-version-check", "-r", requirements], check=True,
                       env=child_env())
        current = [wanted, ""]
        with open(stamp, "w") as handle:
            handle.write(" ".join(current))
    build_files = [MODULE] + [os.path.join(ROOT, name) for name in
                              ("pyproject.toml", "README.md", "scripts/_build_backend.py")]
    module_digest = _digest(*build_files)
    if len(current) < 2 or current[1] != module_digest:
        log("installing dify_plugin_client from this checkout into the venv")
        with tempfile.TemporaryDirectory() as staging:
            for path in build_files:  # what the in-tree build backend needs
                target = os.path.join(staging, os.path.relpath(path, ROOT))
                os.makedirs(os.path.dirname(target), exist_ok=True)
                shutil.copy(path, target)
            subprocess.run([venv_python(), "-m", "pip", "install", "--quiet", "--no-deps",
                            "--force-reinstall", "--disable-pip-version-check", staging],
                           check=True, env=child_env(), cwd=staging)
        with open(stamp, "w") as handle:
            handle.write("%s %s" % (current[0], module_digest))


def run_case(args, timeout=600):
    """Run bench/cases.py in the venv; return its JSON."""
    command = [venv_python(), os.path.join(BENCH, "cases.py")] + [str(a) for a in args]
    result = subprocess.run(command, capture_output=True, text=True, env=child_env(),
                            cwd=child_cwd(), timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError("%s failed:\n%s%s" % (" ".join(args[:3]), result.stdout,
                                                 result.stderr))
    return json.loads(result.stdout.strip().splitlines()[-1])


class Server:
    """A child process that prints "URL http://..." and serves until stopped."""

    def __init__(self, command):
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, env=child_env(),
                                        cwd=child_cwd(), text=True)
        line = self.process.stdout.readline()
        if not line.startswith("URL "):
            self.stop()
            raise RuntimeError("server did not start: %r %s" % (line, self.process.stderr.read()))
        self.url = line.split()[1]

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream:
                stream.close()


def machine_info():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        cpu = platform.processor() or "unknown"
    versions = subprocess.run(
        [venv_python(), "-c", "import sys, httpx, pydantic, pydantic_core; print(sys.version.split()[0]);"
         "print(httpx.__version__); print(pydantic.VERSION); print(pydantic_core.__version__)"],
        capture_output=True, text=True, env=child_env(), check=True).stdout.split()
    mem = ""
    try:
        with open("/proc/meminfo") as handle:
            mem = "%.0f GiB" % (int(handle.readline().split()[1]) / 1024 / 1024)
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory": mem,
            "os": "%s %s" % (platform.system(), platform.release()),
            "python": versions[0], "implementation": platform.python_implementation(),
            "httpx": versions[1], "pydantic": versions[2], "pydantic_core": versions[3],
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


# ----------------------------------------------------------------------------------
# CPU use by other processes (for the cold-start figures and the report)
# ----------------------------------------------------------------------------------


def _busy_seconds():
    """(busy, steal): seconds of CPU time all CPUs spent busy since boot, and of it
    the time the hypervisor gave our virtual CPUs to someone else (from /proc/stat)."""
    with open("/proc/stat") as handle:
        fields = [int(value) for value in handle.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest time is inside user)
    busy = fields[0] + fields[1] + fields[2] + sum(fields[5:8])
    steal = fields[7] if len(fields) > 7 else 0
    hz = float(os.sysconf("SC_CLK_TCK"))
    return busy / hz, steal / hz


def _own_seconds():
    """CPU time of this process and its waited-for children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class OtherLoad:
    """CPU used by processes other than this benchmark over a window, in cores
    (1.0 = one core fully busy).  Only valid while no long-lived child (server) runs,
    since a child's CPU time is counted only once it has been waited for."""

    def __init__(self):
        self.wall = time.monotonic()
        self.busy, self.steal = _busy_seconds()
        self.own = _own_seconds()

    def cores(self):
        """CPU used by others (steal included), in cores."""
        return self.measure()[0]

    def measure(self):
        """(cores used by others including steal, cores of hypervisor steal alone)."""
        wall = time.monotonic() - self.wall
        if wall <= 0:
            return 0.0, 0.0
        busy, steal = _busy_seconds()
        other = (busy - self.busy) - (_own_seconds() - self.own)
        return max(0.0, other / wall), max(0.0, (steal - self.steal) / wall)


def settle(max_wait, threshold=0.25):
    """Wait (up to max_wait s) until other processes use < threshold of a core,
    sampled over 1 s windows; return the last sample."""
    deadline = time.monotonic() + max_wait
    while True:
        meter = OtherLoad()
        time.sleep(1.0)
        cores = meter.cores()
        if cores < threshold or time.monotonic() >= deadline:
            if cores >= threshold:
                log("other processes still use %.2f cores; measuring anyway (noisy)" % cores)
            return cores
        log("other processes use %.2f cores; waiting for the machine to calm down" % cores)


# ----------------------------------------------------------------------------------
# figures
# ----------------------------------------------------------------------------------


def _exit_code(status):
    if hasattr(os, "waitstatus_to_exitcode"):
        return os.waitstatus_to_exitcode(status)
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status)


def _timed_run(command, env, cwd):
    """Wall time (ms, spawn to reap) and the child's own CPU time (ms, user + sys)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=env, cwd=cwd)
    _, status, usage = os.wait4(process.pid, 0)
    wall = (time.perf_counter() - start) * 1e3
    process.returncode = _exit_code(status)
    if process.returncode != 0:
        raise RuntimeError("%s exited with %d" % (" ".join(command), process.returncode))
    return wall, (usage.ru_utime + usage.ru_stime) * 1e3


def _summary(values):
    ordered = sorted(values)
    return {"min": ordered[0], "p25": ordered[len(ordered) // 4],
            "median": statistics.median(ordered), "n": len(ordered)}


def bench_cold_start(reps, settle_seconds):
    """Each command ``reps`` times, in a freshly shuffled order every round (so no
    command always follows another, and slow drifts in machine load hit all alike);
    wall time and the child's CPU time are both recorded."""
    python = venv_python()
    script = os.path.join(VENV, "bin", "dify-plugin-client")  # the installed console script
    variants = [
        ("bare", [python, "-c", "pass"]),
        ("import_ours", [python, "-c", "import dify_plugin_client"]),
        ("help_ours", [script, "--help"]),
        ("import_baseline", [python, "-c", "import httpx, pydantic"]),
    ]
    env = child_env()
    cwd = child_cwd()
    for _, command in variants:  # check each one works (and prints what it should)
        result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd)
        if result.returncode != 0:
            raise RuntimeError("%s failed:\n%s" % (" ".join(command), result.stderr))
    if "usage" not in subprocess.run([script, "--help"], capture_output=True, text=True,
                                     env=env, cwd=cwd).stdout.lower():
        raise RuntimeError("dify-plugin-client --help printed no usage text")
    for _ in range(3):  # page cache, bytecode caches
        for _, command in variants:
            _timed_run(command, env, cwd)
    before = settle(settle_seconds) if settle_seconds else None
    load = os.getloadavg()[0]
    meter = OtherLoad()
    wall = {name: [] for name, _ in variants}
    cpu = {name: [] for name, _ in variants}
    rng = random.Random(20240101)
    order = list(variants)
    for _ in range(reps):
        rng.shuffle(order)
        for name, command in order:
            w, c = _timed_run(command, env, cwd)
            wall[name].append(w)
            cpu[name].append(c)
    out = {name: dict(_summary(wall[name]), cpu=_summary(cpu[name])) for name, _ in variants}
    # the import's cost paired with the bare interpreter of the same round
    out["paired_import_median"] = statistics.median(
        a - b for a, b in zip(wall["import_ours"], wall["bare"]))
    out["paired_help_ratio_median"] = statistics.median(
        a / b for a, b in zip(wall["help_ours"], wall["import_baseline"]))
    out["other_cores_before"] = before
    out["other_cores_during"], out["steal_cores_during"] = meter.measure()
    out["load_at_start"] = load
    return out


def best_of(results, key, higher=True):
    values = [r[key] for r in results]
    return max(values) if higher else min(values)


def bench_calls(url, reps, n, fresh_n):
    impls = ["ours", "httpx_pooled", "raw_httpclient"]
    out = {}
    for empty in (False, True):
        label = "empty" if empty else "full"
        runs = {impl: [] for impl in impls}
        for _ in range(reps if not empty else max(1, reps - 2)):
            for impl in impls:
                extra = ["--empty"] if empty else []
                runs[impl].append(run_case(["calls", "--impl", impl, "--url", url, "--n", n]
                                           + extra))
        out[label] = {impl: best_of(results, "per_second") for impl, results in runs.items()}
        out[label + "_runs"] = reps if not empty else max(1, reps - 2)
    fresh = run_case(["calls", "--impl", "httpx_fresh", "--url", url, "--n", fresh_n,
                      "--warmup", 5])
    out["full"]["httpx_fresh"] = fresh["per_second"]
    return out


def bench_streams(url, reps, small_count):
    runs = {impl: [] for impl in ("ours", "httpx_pydantic", "naive_readline")}
    for _ in range(reps):
        for impl in runs:
            runs[impl].append(run_case(["stream", "--impl", impl, "--url", url,
                                        "--n", small_count]))
    return {impl: best_of(results, "per_second") for impl, results in runs.items()}


def bench_blobs(url, reps, blob_total):
    runs = {impl: [] for impl in ("ours", "httpx_pydantic")}
    for _ in range(reps):
        for impl in runs:
            runs[impl].append(run_case(["blob", "--impl", impl, "--url", url,
                                        "--n", blob_total]))
    return {impl: best_of(results, "mb_per_second") for impl, results in runs.items()}


def bench_latency(url, events):
    return {impl: run_case(["latency", "--impl", impl, "--url", url, "--n", events])
            for impl in ("ours", "httpx_pydantic")}


def bench_models(url, workdir, params):
    """The model figures: each implementation in its own processes, interleaved."""
    reps = params["model_reps"]
    out = {"llm": {}, "embeddings": {}, "tts": {}, "stt": {}}
    impls = ("ours", "httpx_pydantic")
    runs = {name: {impl: [] for impl in impls} for name in ("llm", "embeddings", "tts")}
    for _ in range(reps):
        for impl in impls:
            runs["llm"][impl].append(run_case(["llm_stream", "--impl", impl, "--url", url,
                                               "--n", params["llm_count"]]))
            runs["embeddings"][impl].append(run_case(
                ["embeddings", "--impl", impl, "--url", url, "--n", params["embed_vectors"],
                 "--reps", 3]))
            runs["tts"][impl].append(run_case(["tts", "--impl", impl, "--url", url,
                                               "--n", params["tts_bytes"], "--reps", 3]))
    for impl in impls:
        out["llm"][impl] = best_of(runs["llm"][impl], "per_second")
        out["embeddings"][impl] = best_of(runs["embeddings"][impl], "seconds", higher=False)
        out["tts"][impl] = best_of(runs["tts"][impl], "mb_per_second")
    out["llm"]["price_types"] = sorted({r["price_type"] for rs in runs["llm"].values()
                                        for r in rs})
    path = os.path.join(workdir, "speech.wav")
    with open(path, "wb") as handle:
        for _ in range(params["stt_mib"]):
            handle.write(os.urandom(MiB))
    try:
        for impl in ("ours", "httpx_bytes"):
            out["stt"][impl] = run_case(["stt", "--impl", impl, "--url", url, "--pkg", path])
    finally:
        os.unlink(path)
    out["stt"]["size"] = params["stt_mib"] * MiB
    return out


def make_package(path, size_mib):
    """The sample plugin with a stored (uncompressed) random payload appended."""
    code = (
        "import os, sys, zipfile\n"
        "sys.path.insert(0, %r)\n"
        "import fake_daemon\n"
        "path = %r\n"
        "open(path, 'wb').write(fake_daemon.sample_plugin())\n"
        "with zipfile.ZipFile(path, 'a') as archive:\n"
        "    info = zipfile.ZipInfo('payload.bin', date_time=(2024, 1, 1, 0, 0, 0))\n"
        "    info.compress_type = zipfile.ZIP_STORED\n"
        "    with archive.open(info, 'w') as out:\n"
        "        for _ in range(%d):\n"
        "            out.write(os.urandom(1 << 20))\n"
    ) % (os.path.join(ROOT, "tests"), path, size_mib)
    subprocess.run([venv_python(), "-c", code], check=True, env=child_env(), cwd=child_cwd())
    return os.path.getsize(path)


def bench_upload(workdir, size_mib):
    path = os.path.join(workdir, "big.difypkg")
    size = make_package(path, size_mib)
    limit = (size_mib + 56) * MiB
    server = Server([venv_python(), os.path.join(ROOT, "tests", "fake_daemon"), "--port", "0",
                     "--key", "bench-key", "--max-package-size", str(limit)])
    try:
        out = {}
        for impl in ("ours", "httpx_bytes"):
            out[impl] = run_case(["upload", "--impl", impl, "--url", server.url, "--pkg", path,
                                  "--limit", limit])
    finally:
        server.stop()
        os.unlink(path)
    out["size"] = size
    return out


def growth_exponent(sizes, impl):
    """Least-squares slope of log(time) against log(input nodes): time ~ n^k."""
    xs = [math.log(s["nodes"]) for s in sizes]
    ys = [math.log(s[impl]["seconds"]) for s in sizes]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return (sum((x - mx) * (y - my) for x, y in zip(xs, ys)) /
            sum((x - mx) ** 2 for x in xs))


# ----------------------------------------------------------------------------------
# report
# ----------------------------------------------------------------------------------


def verdict(ok):
    return "PASS" if ok else "FAIL"


def rows_cold(r):
    cold = r["cold"]
    bare = cold["bare"]
    # Verdicts use the minimum, the statistic least disturbed by other load on the
    # machine; the CPU time and the median are shown next to it.
    add_ours = cold["import_ours"]["min"] - bare["min"]
    add_cpu = cold["import_ours"]["cpu"]["min"] - bare["cpu"]["min"]
    add_base = cold["import_baseline"]["min"] - bare["min"]
    add_base_cpu = cold["import_baseline"]["cpu"]["min"] - bare["cpu"]["min"]
    rows = [("Cold start: `import dify_plugin_client` adds to a bare interpreter "
             "(wall min−min; CPU min−min; median of paired differences)",
             "%.1f ms; %.1f ms; %.1f ms" % (add_ours, add_cpu, cold["paired_import_median"]),
             "httpx+pydantic add %.1f ms; %.1f ms CPU" % (add_base, add_base_cpu),
             "<= 15 ms", verdict(add_ours <= 15.0))]
    help_ratio = cold["help_ours"]["min"] / cold["import_baseline"]["min"]
    rows.append(("Cold start: `dify-plugin-client --help` (venv console script) vs "
                 "`python -c 'import httpx, pydantic'` (whole process; wall min; median)",
                 "%.1f ms; %.1f ms" % (cold["help_ours"]["min"], cold["help_ours"]["median"]),
                 "%.1f ms; %.1f ms" % (cold["import_baseline"]["min"],
                                       cold["import_baseline"]["median"]),
                 "<= 1/3 (min/min %.2fx; paired median %.2fx)" % (
                     help_ratio, cold["paired_help_ratio_median"]),
                 verdict(help_ratio <= 1 / 3.0)))
    return rows


def rows_calls(r):
    rows = []
    calls = r["calls"]["full"]
    ratio = calls["ours"] / calls["httpx_pooled"]
    rows.append(("Calls: %d sequential `list_plugins_with_total` (1-plugin page, 6.7 KB), one "
                 "client" % r["params"]["calls"],
                 "%.0f calls/s" % calls["ours"],
                 "pooled httpx.Client + pydantic: %.0f calls/s" % calls["httpx_pooled"],
                 ">= 1.5x (%.2fx)" % ratio, verdict(ratio >= 1.5)))
    ratio = calls["ours"] / calls["httpx_fresh"]
    rows.append(("Calls: same, vs a fresh `httpx.request` per call (%d calls)"
                 % r["params"]["fresh_calls"],
                 "%.0f calls/s" % calls["ours"],
                 "%.0f calls/s" % calls["httpx_fresh"],
                 ">= 10x (%.1fx)" % ratio, verdict(ratio >= 10)))
    empty = r["calls"]["empty"]
    rows.append(("(info) Calls on an empty page (59 B): transport + envelope only",
                 "%.0f calls/s" % empty["ours"],
                 "pooled httpx + pydantic: %.0f calls/s; raw http.client loop: %.0f calls/s" % (
                     empty["httpx_pooled"], empty["raw_httpclient"]),
                 "-", "%.2fx" % (empty["ours"] / empty["httpx_pooled"])))
    rows.append(("(info) Raw keep-alive http.client loop, 6.7 KB page + json.loads, no "
                 "validation", "-", "%.0f calls/s" % calls["raw_httpclient"], "-", "-"))
    return rows


def rows_streams(r):
    small = r["streams"]
    count = r["params"]["small_count"]
    ratio = small["ours"] / small["httpx_pydantic"]
    rows = [("Stream: %d small tool messages in one invoke, parsed into typed messages"
             % count, "%.0f msg/s" % small["ours"],
             "httpx iter_lines + pydantic envelope/union: %.0f msg/s"
             % small["httpx_pydantic"], ">= 1x (%.2fx)" % ratio, verdict(ratio >= 1.0))]
    ratio = small["ours"] / small["naive_readline"]
    rows.append(("Stream: same, vs naive http.client readline + json.loads + envelope check "
                 "(untyped dicts)",
                 "%.0f msg/s" % small["ours"], "%.0f msg/s" % small["naive_readline"],
                 ">= 1.5x (%.2fx)" % ratio, verdict(ratio >= 1.5)))
    return rows


def rows_blobs(r):
    blob = r["blobs"]
    return [("Stream: %d x %d MiB blobs in 8 KiB blob_chunk events, merged (decoded MB/s)"
             % (r["params"]["blob_count"], r["params"]["blob_size"] // MiB),
             "%.1f MB/s" % blob["ours"],
             "httpx + pydantic + pre-sized merge: %.1f MB/s (%.2fx)" % (
                 blob["httpx_pydantic"], blob["ours"] / blob["httpx_pydantic"]),
             ">= 100 MB/s", verdict(blob["ours"] >= 100))]


def rows_latency(r):
    lat = r["latency"]
    return [("Stream: send->receive latency, 1 event / 100 ms, each split in 2 writes "
             "20 ms apart (%d events; max, median)" % lat["ours"]["events"],
             "%.2f ms, %.2f ms" % (lat["ours"]["max_ms"], lat["ours"]["median_ms"]),
             "httpx iter_lines: %.2f ms, %.2f ms" % (lat["httpx_pydantic"]["max_ms"],
                                                    lat["httpx_pydantic"]["median_ms"]),
             "every event <= 10 ms", verdict(lat["ours"]["max_ms"] <= 10))]


def rows_upload(r):
    up = r["upload"]
    ours_growth = up["ours"]["peak_growth"]
    return [("Upload: %.0f MiB package from a path, peak RSS growth (VmHWM) of the client "
             "process" % (up["size"] / MiB),
             "%.1f MiB (%.1f s)" % (ours_growth / MiB, up["ours"]["seconds"]),
             "httpx files= with bytes: %.0f MiB = %.2fx the file (%.1f s)" % (
                 up["httpx_bytes"]["peak_growth"] / MiB, up["httpx_bytes"]["growth_x_file"],
                 up["httpx_bytes"]["seconds"]),
             "< 16 MiB", verdict(ours_growth < 16 * MiB))]


def rows_invoke(r):
    inv = r["invoke"]
    return [("Invoke overhead: requests per invoke, counted by the fake daemon (warm "
             "declaration cache; cold)",
             "%g (cold: %d); %.2f ms/invoke" % (inv["ours"]["warm_requests_per_invoke"],
                                                inv["ours"]["cold_requests"],
                                                inv["ours"]["ms_per_invoke"]),
             "fetch declaration + invoke: %g; %.2f ms/invoke" % (
                 inv["httpx_pydantic"]["warm_requests_per_invoke"],
                 inv["httpx_pydantic"]["ms_per_invoke"]),
             "1", verdict(inv["ours"]["warm_requests_per_invoke"] == 1))]


def rows_refs(r):
    sizes = r["refs"]["sizes"]
    exponent = growth_exponent(sizes, "ours")
    base_exponent = growth_exponent(sizes, "deepcopy_bfs")
    return [("`$ref` resolution: µs per input node at %s nodes; growth exponent k "
             "(time ~ n^k, log-log fit)" % " / ".join("%dk" % (s["nodes"] // 1000)
                                                     for s in sizes),
             "%s; k = %.2f" % (" / ".join("%.2f" % s["ours"]["us_per_node"] for s in sizes),
                               exponent),
             "deepcopy + BFS: %s; k = %.2f" % (
                 " / ".join("%.2f" % s["deepcopy_bfs"]["us_per_node"] for s in sizes),
                 base_exponent),
             "linear (k <= 1.10), same output", verdict(exponent <= 1.10 and all(
                 s["same_output"] for s in sizes)))]


def rows_models(r):
    models, p = r["models"], r["params"]
    llm = models["llm"]
    ratio = llm["ours"] / llm["httpx_pydantic"]
    rows = [("Models: one LLM stream of %d small chunks, each parsed into a typed "
             "LLMResultChunk (prices Decimal)" % p["llm_count"],
             "%.0f chunks/s" % llm["ours"],
             "httpx iter_lines + pydantic LLMResultChunk: %.0f chunks/s" % llm["httpx_pydantic"],
             ">= 3x (%.2fx)" % ratio, verdict(ratio >= 3.0))]
    embed = models["embeddings"]
    ratio = embed["httpx_pydantic"] / embed["ours"]
    rows.append(("Models: one text-embedding answer of %d vectors x 1,536 floats (%.1f MB), "
                 "parsed into EmbeddingResult (best of 3 calls x %d runs)"
                 % (p["embed_vectors"], r["fixture_meta"]["embed_sse_bytes"] / 1e6,
                    p["model_reps"]),
                 "%.0f ms" % (embed["ours"] * 1e3),
                 "httpx + pydantic EmbeddingResult: %.0f ms" % (embed["httpx_pydantic"] * 1e3),
                 ">= 1x (%.2fx)" % ratio, verdict(ratio >= 1.0)))
    tts = models["tts"]
    rows.append(("Models: TTS, %d MiB of audio in %d KiB hex pieces, decoded (MB/s of audio)"
                 % (p["tts_bytes"] // MiB, r["fixture_meta"]["tts_piece"] // 1024),
                 "%.1f MB/s" % tts["ours"],
                 "httpx + pydantic + unhexlify: %.1f MB/s (%.2fx)" % (
                     tts["httpx_pydantic"], tts["ours"] / tts["httpx_pydantic"]),
                 ">= 200 MB/s", verdict(tts["ours"] >= 200)))
    stt = models["stt"]
    growth = stt["ours"]["peak_growth"]
    rows.append(("Models: speech to text of a %d MiB audio file from a path (hex in JSON), "
                 "peak RSS growth (VmHWM) of the client process" % (stt["size"] // MiB),
                 "%.1f MiB (%.1f s)" % (growth / MiB, stt["ours"]["seconds"]),
                 "Dify's hexlify(file.read()) + httpx: %.0f MiB = %.2fx the file (%.1f s)" % (
                     stt["httpx_bytes"]["peak_growth"] / MiB,
                     stt["httpx_bytes"]["growth_x_file"], stt["httpx_bytes"]["seconds"]),
                 "< 16 MiB", verdict(growth < 16 * MiB)))
    return rows


ROW_BUILDERS = (("cold", rows_cold), ("calls", rows_calls), ("streams", rows_streams),
                ("blobs", rows_blobs), ("latency", rows_latency), ("upload", rows_upload),
                ("invoke", rows_invoke), ("refs", rows_refs), ("models", rows_models))
GROUPS = [name for name, _ in ROW_BUILDERS] + ["profile"]


def build_rows(r):
    rows = []
    for name, builder in ROW_BUILDERS:
        if name in r:
            rows.extend(builder(r))
    return rows


def print_table(rows):
    headers = ("figure", "ours", "baseline", "target", "result")
    widths = [min(60, max(len(h), max([len(row[i]) for row in rows] or [0]))) for i, h in
              enumerate(headers)]

    def fit(text, width):
        return text if len(text) <= width else text[:width - 1] + "…"

    line = " | ".join(h.ljust(w) for h, w in zip(headers, widths))
    print(line)
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(fit(cell, w).ljust(w) for cell, w in zip(row, widths)))


def _cores(value):
    return "-" if value is None else "%.2f" % value


def write_markdown(path, info, rows, results, profile_text, elapsed, groups, missing, command):
    passed = sum(1 for row in rows if row[4] == "PASS")
    judged = sum(1 for row in rows if row[4] in ("PASS", "FAIL"))
    p = results["params"]
    marks = (["PARTIAL RUN"] if missing else []) + (["QUICK SMOKE TEST"] if p["quick"] else [])
    lines = ["# Benchmarks" + (" (%s)" % ", ".join(marks) if marks else ""), ""]
    if missing:
        lines += ["**Partial run: only %s ran; %s did not.  This is not a complete "
                  "benchmark report.**" % (", ".join(groups), ", ".join(missing)), ""]
    if p["quick"]:
        lines += ["**`--quick`: reduced sizes and repetitions; the figures are not the "
                  "ones the targets are stated for.**", ""]
    lines += [
        "Generated by `%s` (do not edit by hand; methodology, caveats and what the "
        "profiles changed are in [bench/README.md](bench/README.md))." % command,
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        "| date | %s |" % info["date"],
        "| CPU | %s |" % info["cpu"],
        "| cores | %s |" % info["cores"],
        "| memory | %s |" % info["memory"],
        "| OS | %s |" % info["os"],
        "| Python | %s %s (the venv bench/run.py creates) |" % (info["implementation"],
                                                               info["python"]),
        "| baseline stack | httpx %s, pydantic %s (pydantic-core %s) |" % (
            info["httpx"], info["pydantic"], info["pydantic_core"]),
        "| load average (1 min) at start / end | %.2f / %.2f |" % (
            results["load"][0], results["load"][1]),
        "| run time | %.0f s |" % elapsed,
        "",
        "Everything runs on loopback (127.0.0.1).  Throughput figures are the best of "
        "interleaved runs per implementation (%s), each in a fresh process.  Cold-start "
        "verdicts use the minimum of %d runs per command, the commands shuffled in every "
        "round.  The load average shows whether anything else was using the CPUs: above "
        "~0.5 on this 2-core machine expect noisy medians; compare ours with its baseline "
        "(measured minutes apart at most), not with another run's absolute numbers."
        % (", ".join("%s: %d" % (g, p[key]) for g, key in (
            ("calls", "call_reps"), ("streams", "stream_reps"), ("blobs", "blob_reps"))
            if g in groups) or "none in this run", p["cold_reps"]),
        "",
        "## Results: %d of %d targets met" % (passed, judged),
        "",
        "| figure | ours | baseline | target | result |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append("| %s |" % " | ".join(cell.replace("|", "\\|") for cell in row))
    if "cold" in results:
        cold = results["cold"]
        lines += [
            "",
            "### Cold start detail (%d runs each, shuffled rounds; ms)" % cold["bare"]["n"],
            "",
            "Other processes used %s cores just before and %s cores during these runs "
            "(from /proc/stat minus this benchmark's own CPU time; of that, hypervisor "
            "steal %s cores); 1-min load average %.2f at the start.  Wall time is spawn "
            "to exit, as a user sees it; CPU time is the child's user + system time, "
            "which waiting for a busy CPU does not inflate (cache and memory-bandwidth "
            "contention still do)."
            % (_cores(cold["other_cores_before"]), _cores(cold["other_cores_during"]),
               _cores(cold["steal_cores_during"]), cold["load_at_start"]),
            "",
            "| command | wall min | wall p25 | wall median | CPU min | CPU median |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        labels = {"bare": "`python -c pass`",
                  "import_ours": "`python -c 'import dify_plugin_client'`",
                  "help_ours": "`dify-plugin-client --help` (bench/.venv/bin)",
                  "import_baseline": "`python -c 'import httpx, pydantic'`"}
        for key, label in labels.items():
            c = cold[key]
            lines.append("| %s | %.1f | %.1f | %.1f | %.1f | %.1f |" % (
                label, c["min"], c["p25"], c["median"], c["cpu"]["min"], c["cpu"]["median"]))
    if "calls" in results:
        lines += ["", "### Calls detail (calls/s, best run)", "",
                  "| implementation | 1-plugin page (6.7 KB) | empty page (59 B) |",
                  "|---|---:|---:|"]
        names = {"ours": "dify_plugin_client", "httpx_pooled": "pooled httpx.Client + pydantic",
                 "httpx_fresh": "fresh httpx.request + pydantic", "raw_httpclient":
                 "raw http.client keep-alive + json.loads (reference, no validation)"}
        for key, label in names.items():
            full = results["calls"]["full"].get(key)
            empty = results["calls"]["empty"].get(key)
            lines.append("| %s | %s | %s |" % (label, "%.0f" % full if full else "-",
                                               "%.0f" % empty if empty else "-"))
    if "refs" in results:
        lines += ["", "### $ref resolution detail", "",
                  "| input nodes | output nodes | ours ms | ours µs/node | deepcopy+BFS ms | "
                  "deepcopy+BFS µs/node | same output |", "|---:|---:|---:|---:|---:|---:|---|"]
        for s in results["refs"]["sizes"]:
            lines.append("| %d | %d | %.1f | %.2f | %.1f | %.2f | %s |" % (
                s["nodes"], s["ours"]["output_nodes"], s["ours"]["seconds"] * 1e3,
                s["ours"]["us_per_node"], s["deepcopy_bfs"]["seconds"] * 1e3,
                s["deepcopy_bfs"]["us_per_node"], "yes" if s["same_output"] else "NO"))
    if "upload" in results:
        up = results["upload"]
        lines += ["", "### Upload detail", "",
                  "| implementation | VmRSS before | VmHWM before | VmHWM after | peak growth "
                  "| time |", "|---|---:|---:|---:|---:|---:|"]
        for key, label in (("ours", "dify_plugin_client, `upload_pkg(tenant, path)`"),
                           ("httpx_bytes", "httpx `files=` with the package as bytes")):
            u = up[key]
            lines.append("| %s | %.1f MiB | %.1f MiB | %.1f MiB | %.1f MiB | %.1f s |" % (
                label, u["rss_before"] / MiB, u["hwm_before"] / MiB, u["hwm_after"] / MiB,
                u["peak_growth"] / MiB, u["seconds"]))
    if profile_text:
        lines += ["", "## Profiles (raw output of bench/profile_hot.py)", "",
                  "What the module owner changed because of them, and what it gained, is in "
                  "[bench/README.md](bench/README.md#what-the-profiles-changed).", "",
                  profile_text.strip()]
    with open(path, "w") as handle:
        handle.write("\n".join(lines) + "\n")


def parse_groups(text):
    if not text:
        return list(GROUPS)
    groups = [g.strip() for g in text.split(",") if g.strip()]
    unknown = [g for g in groups if g not in GROUPS]
    if unknown or not groups:
        raise SystemExit("unknown group(s) %s; choose from %s" % (", ".join(unknown),
                                                                   ",".join(GROUPS)))
    return [g for g in GROUPS if g in groups]


def main():
    parser = argparse.ArgumentParser(description="Benchmarks, side by side with baselines.")
    parser.add_argument("--quick", action="store_true", help="smaller sizes (smoke test)")
    parser.add_argument("--only", metavar="GROUPS",
                        help="comma-separated subset of: " + ",".join(GROUPS))
    parser.add_argument("--no-profile", action="store_true", help="skip the profile group")
    parser.add_argument("--fresh-venv", action="store_true")
    parser.add_argument("--cold-reps", type=int, help="runs per cold-start command")
    parser.add_argument("--settle", type=float, default=None, metavar="SECONDS",
                        help="before the cold-start runs, wait up to this long for other "
                             "processes to go quiet (default 30, 5 with --quick; 0: don't)")
    parser.add_argument("--output", help="Markdown file to write (default BENCHMARKS.md; "
                                         "a partial run writes Markdown only when given)")
    args = parser.parse_args()
    groups = parse_groups(args.only)
    if args.no_profile and "profile" in groups:
        groups.remove("profile")
    # --no-profile still makes a complete report (just without the profile section)
    missing = [g for g in GROUPS if g not in groups and not (g == "profile" and args.no_profile)]
    complete = not missing and not args.quick
    command = " ".join(["python bench/run.py"] + sys.argv[1:])
    started = time.perf_counter()
    if sys.version_info < (3, 8) or not sys.platform.startswith("linux"):
        sys.exit("bench/run.py needs Linux (it reads /proc) and Python 3.8+")
    ensure_venv(args.fresh_venv)
    info = machine_info()
    quick = args.quick
    params = {"quick": quick, "groups": groups,
              "call_reps": 2 if quick else 5, "stream_reps": 1 if quick else 2,
              "blob_reps": 2 if quick else 3,
              "calls": 300 if quick else 2000, "fresh_calls": 30 if quick else 100,
              "small_count": 20000 if quick else 200000, "blob_count": 4,
              "blob_size": (1 if quick else 8) * MiB, "latency_events": 10 if quick else 20,
              "upload_mib": 20 if quick else 200,
              "llm_count": 20000 if quick else 100000, "embed_vectors": 200 if quick else 1000,
              "tts_bytes": (4 if quick else 20) * MiB, "stt_mib": 10 if quick else 50,
              "model_reps": 1 if quick else 2,
              "cold_reps": args.cold_reps or (15 if quick else 60)}
    settle_seconds = args.settle if args.settle is not None else (5 if quick else 30)
    results = {"params": params, "load": [os.getloadavg()[0], None]}
    profile_text = ""
    workdir = tempfile.mkdtemp(prefix="dify-bench-")
    try:
        if "cold" in groups:
            log("cold start (%d shuffled rounds of 4 commands)" % params["cold_reps"])
            results["cold"] = bench_cold_start(params["cold_reps"], settle_seconds)
        served = [g for g in ("calls", "streams", "blobs", "latency", "profile", "models")
                  if g in groups]
        if served:
            log("rendering fixtures with the fake daemon")
            fixtures = os.path.join(workdir, "fixtures")
            small = params["small_count"] if "streams" in groups else 0
            blobs = params["blob_count"] if ("blobs" in groups or "profile" in groups) else 0
            models = ([str(params[name]) for name in ("llm_count", "embed_vectors",
                                                      "tts_bytes")]
                      if "models" in groups else [])
            subprocess.run([venv_python(), os.path.join(BENCH, "fixtures.py"), fixtures,
                            str(small), str(blobs), str(params["blob_size"])] + models,
                           check=True, env=child_env(), cwd=child_cwd(),
                           stdout=subprocess.DEVNULL)
            with open(os.path.join(fixtures, "meta.json")) as handle:
                meta = json.load(handle)
            results["fixture_meta"] = meta
            server = Server([venv_python(), os.path.join(BENCH, "replay_server.py"),
                             "--fixtures", fixtures, "--watch-stdin"])
            try:
                if "calls" in groups:
                    log("calls")
                    results["calls"] = bench_calls(server.url, params["call_reps"],
                                                   params["calls"], params["fresh_calls"])
                if "streams" in groups:
                    log("streams (%d small messages)" % params["small_count"])
                    results["streams"] = bench_streams(server.url, params["stream_reps"],
                                                       params["small_count"])
                if "blobs" in groups:
                    log("blobs")
                    results["blobs"] = bench_blobs(server.url, params["blob_reps"],
                                                   meta["blob_total"])
                if "latency" in groups:
                    log("latency (%d events, 100 ms apart)" % params["latency_events"])
                    results["latency"] = bench_latency(server.url, params["latency_events"])
                if "models" in groups:
                    log("models (LLM stream, embeddings, TTS, speech to text)")
                    results["models"] = bench_models(server.url, workdir, params)
                if "profile" in groups:
                    log("profiling")
                    result = subprocess.run(
                        [venv_python(), os.path.join(BENCH, "profile_hot.py"), "--url",
                         server.url, "--fixtures", fixtures], capture_output=True, text=True,
                        env=child_env(), cwd=child_cwd(), timeout=600)
                    if result.returncode != 0:
                        raise RuntimeError("profile_hot.py failed:\n" + result.stderr)
                    profile_text = result.stdout
            finally:
                server.stop()
        if "upload" in groups:
            log("upload (%d MiB)" % params["upload_mib"])
            results["upload"] = bench_upload(workdir, params["upload_mib"])
        if "invoke" in groups:
            log("requests per invoke")
            results["invoke"] = run_case(["invoke_requests", "--n", 20])
        if "refs" in groups:
            log("$ref resolution")
            results["refs"] = run_case(["refs"])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["load"][1] = os.getloadavg()[0]
    rows = build_rows(results)
    elapsed = time.perf_counter() - started
    if rows:
        print_table(rows)
    if complete:
        output = args.output or os.path.join(ROOT, "BENCHMARKS.md")
        write_markdown(output, info, rows, results, profile_text, elapsed, groups, missing,
                       command)
        log("wrote %s (%.0f s)" % (os.path.relpath(output), elapsed))
        saved = os.path.join(BENCH, ".last-results.json")
    else:
        kind = "quick" if args.quick else "partial"
        if args.output:
            write_markdown(args.output, info, rows, results, profile_text, elapsed, groups,
                           missing, command)
            log("wrote %s, marked %s (%.0f s)" % (os.path.relpath(args.output), kind, elapsed))
        else:
            log("%s run (%s): BENCHMARKS.md left as it is; pass --output FILE to write "
                "Markdown (%.0f s)" % (kind, ",".join(groups), elapsed))
        if profile_text:
            print("\n" + profile_text)
        saved = os.path.join(BENCH, ".last-results-partial.json")
    with open(saved, "w") as handle:
        json.dump({"info": info, "results": results, "profile": profile_text}, handle, indent=1)


if __name__ == "__main__":
    main()
