"""The command line itself, in new processes: a whole tiny run, a bad setting's one line, and
a run killed with SIGKILL and resumed (tests/test_main.py runs the loop in this process)."""
import os
import signal
import subprocess
import sys
import time

import pytest

from helpers import ROOT, TINY, read_metrics, run_cli, without_seconds


@pytest.fixture(scope="module")
def cli_run(tiny_mnist, tmp_path_factory):
    cwd = tmp_path_factory.mktemp("cli")
    proc = run_cli(cwd, f"--data_root={tiny_mnist}", "--dir_name=a", *TINY)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return cwd, proc


def test_command_line_run_prints_a_line_per_round_and_writes_its_folder(cli_run):
    cwd, proc = cli_run
    lines = [line for line in proc.stdout.splitlines() if line.startswith("round ")]
    assert [line.split(":")[0] for line in lines] == ["round 0/1", "round 1/1"] and "ACC" in lines[-1]
    assert "300 MNIST images" in proc.stdout and "decoded 4 samples of each cluster" in proc.stdout
    assert len(read_metrics(cwd / "model/a/metrics.csv")) == 2 and (cwd / "model/a/recon/manual_9.png").is_file()


def test_bad_setting_exits_with_one_line(tmp_path):
    proc = run_cli(tmp_path, "--colour=red")
    assert proc.returncode != 0 and proc.stderr.startswith("main.py: unknown setting 'colour'")
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "model").exists()


def test_resume_after_sigkill_gives_the_uninterrupted_metrics(cli_run, tiny_mnist):
    """Kill a 2-round run once round 0 is saved, resume it, compare with the same run 'a'.

    The kill must land before the last round is saved and the resumed process must train
    the rest, so a kill that came too late cannot pass the test by comparing two full runs."""
    cwd, _ = cli_run
    args = [f"--data_root={tiny_mnist}", *TINY]
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "main.py"), "--dir_name=killed", *args],
                            cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = cwd / "model" / "killed" / "metrics.csv"
    deadline = time.time() + 120
    while time.time() < deadline and not (metrics.exists() and len(read_metrics(metrics)) >= 1):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved = len(read_metrics(metrics))
    assert saved == 1, f"the kill came after round {saved - 1} of 0-1"
    again = run_cli(cwd, "--dir_name=killed", "--resume=True", *args)
    assert again.returncode == 0, again.stderr[-3000:]
    trained = [line.split("/")[0] for line in again.stdout.splitlines() if line.startswith("round ")]
    assert trained == ["round 1"], again.stdout
    assert without_seconds(read_metrics(metrics)) == without_seconds(read_metrics(cwd / "model/a/metrics.csv"))
    assert not list((cwd / "model" / "killed").rglob("*.tmp*"))
