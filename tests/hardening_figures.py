#!/usr/bin/env python3
"""Run the hardening tests once and print their figures (for the README).

    python tests/hardening_figures.py            # text
    python tests/hardening_figures.py --json     # the same figures as JSON
    python tests/hardening_figures.py -- -x      # anything after -- goes to pytest

It runs ``tests/test_properties.py``, ``test_faults.py``, ``test_concurrency.py`` and
``test_security.py`` in one pytest session (with the suite's own options) and reports:

* property tests: the examples hypothesis tried for each test (passing, and invalid
  ones it discarded), read from the statistics hypothesis keeps on each test item
  (the same numbers ``--hypothesis-show-statistics`` prints);
* fault injection: the scenarios (test cases of test_faults.py) and how each ended;
* concurrency: calls, threads, kinds, connections open at once and the pool size
  (``test_concurrency.FIGURES``);
* security: the outputs searched for the key, the forms searched, error scenarios,
  CLI runs, route and header cases (``test_security.FIGURES``).

The exit status is pytest's. This is a script, not a test: the suite does not run it.
"""

import json
import os
import re
import sys
import time

import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))
MODULES = ("test_properties.py", "test_faults.py", "test_concurrency.py", "test_security.py")


class Figures(object):
    """A pytest plugin that collects the figures while the tests run."""

    def __init__(self):
        self.outcomes = {}      # nodeid -> passed / failed / xfailed / xpassed / skipped
        self.durations = {}     # module file -> seconds (setup + call + teardown)
        self.hypothesis = {}    # nodeid -> {"passing": n, "invalid": n, "failing": n}
        self.module_figures = {}

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        module = os.path.basename(str(item.fspath))
        self.durations[module] = self.durations.get(module, 0.0) + report.duration
        if report.when == "call" or (report.when == "setup" and not report.passed):
            if hasattr(report, "wasxfail"):
                state = "xpassed" if report.passed else "xfailed"
            else:
                state = report.outcome
            self.outcomes[item.nodeid] = state
        if report.when == "call":
            figures = getattr(getattr(item, "module", None), "FIGURES", None)
            if isinstance(figures, dict):
                self.module_figures[module] = figures
        if report.when == "teardown" and hasattr(item, "hypothesis_statistics"):
            self.hypothesis[item.nodeid] = _parse_statistics(item.hypothesis_statistics)


def _parse_statistics(text):
    """Sum the per-phase counts of hypothesis's statistics text (old and new wording:
    "N passing examples, M failing examples, K invalid examples" and
    "N passing, M failing, and K invalid test cases")."""
    counts = {"passing": 0, "failing": 0, "invalid": 0}
    for kind in counts:
        counts[kind] = sum(int(n) for n in re.findall(r"(\d+) %s" % kind, text))
    return counts


def _module_outcomes(outcomes, module):
    states = {}
    for nodeid, state in outcomes.items():
        if nodeid.split("::")[0].endswith(module):
            states[state] = states.get(state, 0) + 1
    return states


def collect(pytest_args=()):
    plugin = Figures()
    started = time.monotonic()
    code = pytest.main(["-q", "-p", "no:cacheprovider"]
                       + [os.path.join(TESTS, name) for name in MODULES] + list(pytest_args),
                       plugins=[plugin])
    elapsed = time.monotonic() - started
    properties = {nodeid.split("::", 1)[1]: counts
                  for nodeid, counts in sorted(plugin.hypothesis.items())}
    figures = {
        "python": "%d.%d.%d" % sys.version_info[:3],
        "pytest_exit_code": int(code),
        "seconds_total": round(elapsed, 1),
        "seconds_per_module": {name: round(seconds, 1)
                               for name, seconds in sorted(plugin.durations.items())},
        "properties": {
            "tests": len(properties),
            "examples_passing": sum(c["passing"] for c in properties.values()),
            "examples_invalid": sum(c["invalid"] for c in properties.values()),
            "examples_failing": sum(c["failing"] for c in properties.values()),
            "hypothesis_scale": os.environ.get("DPC_HYPOTHESIS_SCALE", "1"),
            "per_test": properties,
            "outcomes": _module_outcomes(plugin.outcomes, "test_properties.py"),
        },
        "faults": {
            "scenarios": sum(_module_outcomes(plugin.outcomes, "test_faults.py").values()),
            "outcomes": _module_outcomes(plugin.outcomes, "test_faults.py"),
            "per_scenario": {nodeid.split("::", 1)[1]: state
                             for nodeid, state in sorted(plugin.outcomes.items())
                             if nodeid.split("::")[0].endswith("test_faults.py")},
        },
        "concurrency": dict(plugin.module_figures.get("test_concurrency.py", {}),
                            outcomes=_module_outcomes(plugin.outcomes,
                                                      "test_concurrency.py")),
        "security": dict(plugin.module_figures.get("test_security.py", {}),
                         outcomes=_module_outcomes(plugin.outcomes, "test_security.py")),
    }
    try:
        import test_concurrency

        figures["concurrency"].setdefault("threads", test_concurrency.THREADS)
    except ImportError:  # pragma: no cover - the session imported it already
        pass
    return code, figures


def _states(outcomes):
    return ", ".join("%d %s" % (n, state) for state, n in sorted(outcomes.items())) or "none"


def render(figures):
    lines = ["Hardening figures (Python %s, %.0f s in all)" % (figures["python"],
                                                               figures["seconds_total"])]
    props = figures["properties"]
    lines.append("")
    lines.append("Property tests: %d hypothesis tests, %d examples passed (%d generated "
                 "inputs discarded as invalid), %d failing; scale %s; tests: %s"
                 % (props["tests"], props["examples_passing"], props["examples_invalid"],
                    props["examples_failing"], props["hypothesis_scale"],
                    _states(props["outcomes"])))
    for name, counts in props["per_test"].items():
        lines.append("  %-62s %5d passing %5d invalid" % (name, counts["passing"],
                                                           counts["invalid"]))
    faults = figures["faults"]
    lines.append("")
    lines.append("Fault injection: %d scenarios: %s" % (faults["scenarios"],
                                                       _states(faults["outcomes"])))
    for name, state in faults["per_scenario"].items():
        lines.append("  %-70s %s" % (name, state))
    conc = figures["concurrency"]
    lines.append("")
    if "calls" in conc:
        lines.append("Concurrency: %s calls on %s threads in %s s (%s); max open connections "
                     "%s, pool size %s; connections opened %s; tests: %s"
                     % (conc["calls"], conc.get("threads"), conc.get("seconds"),
                        ", ".join("%s %s" % item for item in sorted(conc.get("kinds",
                                                                             {}).items())),
                        conc.get("max_open_connections"), conc.get("pool_size"),
                        conc.get("connections_opened"), _states(conc["outcomes"])))
    else:
        lines.append("Concurrency: no figures (the test did not run); tests: %s"
                     % _states(conc["outcomes"]))
    sec = figures["security"]
    lines.append("")
    lines.append("Security: %s outputs searched for the key (%s forms of it each) and %s log "
                 "records; %s error scenarios, %s in-process CLI runs, %s subprocess CLI runs; "
                 "%s route cases, %s header cases, %s TLS cases; tests: %s"
                 % (sec.get("outputs_searched"), sec.get("leak_needles"),
                    sec.get("log_records_searched"), sec.get("error_scenarios"),
                    sec.get("cli_runs"), sec.get("subprocess_runs"), sec.get("route_cases"),
                    sec.get("header_cases"), sec.get("tls_cases"), _states(sec["outcomes"])))
    lines.append("")
    lines.append("Seconds per module: " + ", ".join(
        "%s %.1f" % item for item in figures["seconds_per_module"].items()))
    return "\n".join(lines)


def main(argv):
    as_json = "--json" in argv
    pytest_args = argv[argv.index("--") + 1:] if "--" in argv else []
    code, figures = collect(pytest_args)
    print()
    print(json.dumps(figures, indent=2, sort_keys=True) if as_json else render(figures))
    return int(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
