"""The fake daemon against the real one (tests/transcripts/0.6.10, 0.5.4).

Every recorded exchange of the client-call folders is sent again, in recording order, to
a FakeDaemon configured as that release, and the fake's answer is compared with the
recorded one: HTTP status, framing, envelope code, error_type and message, and the data
(keys, types, list lengths and values, ids mapped); for streams the sequence of events.
How requests, ids, uploads and timing are replayed, and what exactly is compared, is
described in tests/fake_replay.py.

One test per recorded file.  A difference fails the test unless ALLOWLIST names it
(exchange id and a piece of the problem text) with the reason it cannot be matched; an
allowlist entry that no longer matches anything fails too.
``test_every_recorded_exchange_is_compared`` fails for any file or exchange of the two
folders that the replay did not compare.
"""

import collections
import os

import pytest

import fake_replay as fr
import transcript_replay as tr

#: Differences the fake cannot match: {exchange id: [(piece of the problem, reason)]}.
ALLOWLIST = {}

_REPLAYS = {}


def replayed(release):
    """The release's replay, run once per test session."""
    if release not in _REPLAYS:
        _REPLAYS[release] = fr.replay_release(release)
    return _REPLAYS[release]


def _files():
    return [(release, scenario) for release in fr.RELEASES for scenario in tr.load_release(release)]


def _allowed(exchange_id, problem):
    for piece, _reason in ALLOWLIST.get(exchange_id, ()):
        if piece in problem:
            return piece
    return None


@pytest.mark.parametrize("release,scenario", _files(), ids=["%s/%s" % f for f in _files()])
def test_recorded_scenario(release, scenario):
    """The fake answers every request of the recorded file as the real daemon did."""
    replay = replayed(release)
    failures = []
    for item in tr.load_release(release)[scenario]:
        problems = replay.problems.get(item.key)
        if problems is None:
            failures.append("%s: not compared" % item.id)
            continue
        used = set()
        for problem in problems:
            piece = _allowed(item.id, problem)
            if piece is None:
                failures.append("%s %s %s: %s" % (item.id, item.method, item.route, problem))
            else:
                used.add(piece)
        for piece, _reason in ALLOWLIST.get(item.id, ()):
            if piece not in used:
                failures.append("%s: allowlisted %r no longer differs; remove the entry" % (item.id, piece))
    assert not failures, "\n".join(failures)


def test_fake_raised_nothing():
    """No request made the fake fail internally (a traceback would be a fake bug)."""
    for release in fr.RELEASES:
        assert not replayed(release).fake_errors, replayed(release).fake_errors


def test_rebuilt_uploads():
    """Every recorded upload was rebuilt; the byte-identical ones are checked by sha256."""
    for release in fr.RELEASES:
        used = replayed(release).payloads.used
        assert used, release
        exact = [what for what, level, _n, _m in used.values() if level == fr.BYTES]
        assert "e2e_tools 0.0.1" in exact and "e2e_tools 0.0.2" in exact, used


def test_every_recorded_exchange_is_compared():
    """A file or exchange of the client-call folders that the replay did not compare fails here."""
    assert sorted(fr.RELEASES) == tr.release_dirs(), tr.release_dirs()
    missing = []
    for release in fr.RELEASES:
        folder = os.path.join(tr.TRANSCRIPTS_DIR, release)
        replay = replayed(release)
        for name in sorted(os.listdir(folder)):
            if not name.endswith(".json"):
                missing.append("%s/%s (not a recording)" % (release, name))
                continue
            exchanges = tr.load_release(release)[name[:-len(".json")]]
            if not exchanges:
                missing.append("%s/%s (no exchanges)" % (release, name))
            missing.extend(x.id for x in exchanges if x.key not in replay.problems)
    unknown = [key for key in ALLOWLIST if key.split("/")[0] not in fr.RELEASES]
    assert not missing, "recorded exchanges the replay did not compare: %s" % missing
    assert not unknown, unknown


def replay_report():
    """How many recorded exchanges this run compared per release (conftest prints it
    in the summary; the test above checks that none was left out)."""
    counts = collections.OrderedDict()
    for release in fr.RELEASES:
        total = sum(len(x) for x in tr.load_release(release).values())
        done = _REPLAYS.get(release)  # (a replay not run by this session is not started)
        counts[release] = (done.compared if done is not None else 0, total)
    return "fake vs real daemon, exchanges compared: %s; allowlisted: %d" % (
        ", ".join("%s %d/%d" % (r, c, t) for r, (c, t) in counts.items()),
        sum(len(v) for v in ALLOWLIST.values()))
