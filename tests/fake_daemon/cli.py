"""Command line: run the fake daemon as a separate process (benchmarks, memory tests).

    python tests/fake_daemon --host 127.0.0.1 --port 0 --key K
    cd tests && python -m fake_daemon --port 0

It prints ``URL http://HOST:PORT`` once listening and serves until SIGTERM / SIGINT.
"""

import argparse
import signal
import sys
import threading

from .state import DEFAULT_MAX_BUNDLE_SIZE, DEFAULT_MAX_PACKAGE_SIZE, FakeDaemon


def main(argv=None):
    parser = argparse.ArgumentParser(description="Fake Dify Plugin Daemon (for tests)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--key", default="test-key")
    parser.add_argument("--max-package-size", type=int, default=DEFAULT_MAX_PACKAGE_SIZE)
    parser.add_argument("--max-bundle-size", type=int, default=DEFAULT_MAX_BUNDLE_SIZE)
    parser.add_argument("--install-delay", type=float, default=0.05)
    parser.add_argument("--version", dest="daemon_version", default="0.6.10")
    args = parser.parse_args(argv)
    daemon = FakeDaemon(key=args.key, host=args.host, port=args.port, max_package_size=args.max_package_size,
                        max_bundle_size=args.max_bundle_size, install_delay=args.install_delay,
                        version=args.daemon_version)
    done = threading.Event()

    def on_signal(signum, frame):
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    daemon.start()
    sys.stdout.write("URL %s\n" % daemon.url)
    sys.stdout.flush()
    try:
        while not done.wait(0.2):
            pass
    finally:
        daemon.stop()
    return 0
