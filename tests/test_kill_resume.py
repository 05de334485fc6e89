"""A run killed with SIGKILL (a real subprocess, no clean-up) at each dangerous point and resumed with
``--resume`` ends with the uninterrupted run's ``results.json`` and ``losses.log`` (issue 14).

One output folder is killed seven times in a row, each time at the next point of the run's timeline, and
resumed after each kill: during the initial evaluation, inside the first epoch (before any checkpoint), while
a checkpoint's temporary file exists, right after a checkpoint is renamed into place, during the evaluation
after an experience, while ``results.json``'s temporary file exists, and inside the second epoch of the second
experience (resumed from its epoch checkpoint, ``checkpoint_every=1``).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

KILLABLE_EXPERIMENT = '''
import os, signal
from lifelong_reid import hookimpl
from lifelong_reid.testing import tiny_config, tiny_stream

config = tiny_config(name="tiny-kill", epochs=2)

def stream(config):
    return tiny_stream(config, num_domains=2, num_unseen=1)

POINT = os.environ.get("LREID_TEST_KILL", "")
kind, _, arg = POINT.partition(":")

def die():
    os.kill(os.getpid(), signal.SIGKILL)

if kind == "eval":  # during the Nth evaluation of this process, after its first feature batch
    from lifelong_reid.strategy import ReIDStrategy
    _extract, calls = ReIDStrategy.extract_features, []
    def extract_features(self, *a, **k):
        calls.append(1)
        out = _extract(self, *a, **k)
        if len(calls) == 2 * int(arg):  # query then gallery of the first domain
            die()
        return out
    ReIDStrategy.extract_features = extract_features

if kind in ("ckpt-tmp", "ckpt-renamed", "results-tmp"):  # around the Nth atomic rename of that file kind
    _replace, seen = os.replace, []
    def replace(src, dst, *a, **k):
        target = str(dst).endswith(".pt") if kind != "results-tmp" else str(dst).endswith("results.json")
        if target:
            seen.append(dst)
            if len(seen) == int(arg) and kind != "ckpt-renamed":
                die()  # the temporary file is written and fsynced, not yet renamed
        _replace(src, dst, *a, **k)
        if target and len(seen) == int(arg) and kind == "ckpt-renamed":
            die()
    os.replace = replace

@hookimpl
def lreid_after_optimizer_step(strategy):
    if kind == "iter":  # experience index : epoch index : iteration in the epoch
        e, ep, it = map(int, arg.split(":"))
        if (strategy.experience.current_experience, strategy.epoch, strategy.clock.train_epoch_iterations) == (e, ep, it):
            die()
'''

#: (kill point, what must be on disk after the kill), in the run's order.
POINTS = [
    ("eval:1", "no checkpoint yet"),
    ("iter:0:0:1", "no checkpoint yet"),
    ("ckpt-tmp:1", "the epoch checkpoint's temporary file"),
    ("ckpt-renamed:1", "exp1_synth1_epoch1.pt"),
    ("eval:1", "exp1_synth1_epoch1.pt"),
    ("results-tmp:1", "results.json's temporary file"),
    ("iter:1:1:1", "exp2_synth2_epoch1.pt"),
]


def _run(experiment, output, *extra, kill=None):
    env = {k: v for k, v in os.environ.items() if k != "LREID_TEST_KILL"}
    if kill:
        env["LREID_TEST_KILL"] = kill
    return subprocess.run([sys.executable, "-m", "lifelong_reid.cli", "run", str(experiment), "--output", str(output),
                           "--set", "checkpoint_every=1", "--no-progress", *extra], env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")
def test_a_run_killed_seven_times_resumes_to_the_uninterrupted_results(tmp_path):
    experiment = tmp_path / "killable.py"
    experiment.write_text(KILLABLE_EXPERIMENT)
    full, killed = tmp_path / "full", tmp_path / "killed"
    from click.testing import CliRunner

    from lifelong_reid.cli import main

    r = CliRunner().invoke(main, ["run", str(experiment), "--output", str(full), "--set", "checkpoint_every=1",
                                  "--no-progress"])  # the uninterrupted run, in this process (saves an import)
    assert r.exit_code == 0, r.output

    for i, (point, expect) in enumerate(POINTS):
        r = _run(experiment, killed, *(["--resume"] if i else []), kill=point)
        assert r.returncode == -signal.SIGKILL, f"kill at {point} did not happen: {r.stdout}\n{r.stderr}"
        names = sorted(p.name for p in (killed / "checkpoints").iterdir()) if (killed / "checkpoints").is_dir() else []
        tmp = [p.name for p in killed.rglob("*.tmp")]
        if expect == "no checkpoint yet":
            assert not [n for n in names if n.endswith(".pt")], (point, names)
        elif expect == "the epoch checkpoint's temporary file":
            assert [n for n in tmp if n.startswith(".exp1_synth1_epoch1.pt.")], tmp
        elif expect == "results.json's temporary file":
            assert "exp1_synth1.pt" in names and [n for n in tmp if n.startswith(".results.json.")], (names, tmp)
        else:
            assert expect in names, (point, names)
        if point == "iter:1:1:1":  # the next start removed the temporary files the kills left
            assert not tmp, tmp

    r = _run(experiment, killed, "--resume")
    assert r.returncode == 0, r.stderr
    assert json.loads((killed / "results.json").read_text()) == json.loads((full / "results.json").read_text())
    assert (killed / "losses.log").read_text() == (full / "losses.log").read_text()
    assert sorted(p.name for p in (killed / "checkpoints").iterdir()) == ["exp1_synth1.pt", "exp2_synth2.pt"]
