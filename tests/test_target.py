"""Target-driven search: choosing and stopping on validation figures (real Optuna studies), refusals,
and real studies through the CLI: one that finishes, one killed and re-run, two workers on one storage."""

import json
import os
import signal
import subprocess
import sys
import time

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState

from nas_lightning.target.config import TargetConfig
from nas_lightning.target.outcome import chosen_trial, write_outcome
from nas_lightning.target.study import settled

# a trial here: small synthetic data, preset s at width 4, short search and retrain (about 10 s on 2 cores)
QUICK = ["preset.init_channels=4", "search.steps=20", "train.steps=80", "data.samples_per_class=30", "device=host",
         "stages=[search,train]", "target.presets=[s]"]
DISTRIBUTIONS = {"preset": CategoricalDistribution(["s", "m"]), "weight": FloatDistribution(0.0, 3.0)}


def add(study, number_of_params: int, val_acc: float, target: TargetConfig, run_dir=None, state=TrialState.COMPLETE):
    """A finished trial through Optuna's ask-and-tell, with the attributes and constraints a real one sets."""
    trial = study.ask(DISTRIBUTIONS)
    for key, value in {"val_acc": val_acc, "params": number_of_params, "macs": 10 * number_of_params,
                       "flash_kb": number_of_params / 1000, "run_dir": str(run_dir)}.items():
        trial.set_user_attr(key, value)
    if target.accuracy is not None:
        trial.set_constraint("accuracy", target.accuracy - val_acc)
    if target.flash_kb is not None:
        trial.set_constraint("flash_kb", number_of_params / 1000 - target.flash_kb)
    study.tell(trial, [val_acc, number_of_params] if state == TrialState.COMPLETE else None, state=state)


def test_the_cheapest_trial_meeting_the_accuracy_is_chosen_and_stands_for_trials_more():
    target = TargetConfig(accuracy=0.9, trials=2)
    study = optuna.create_study(directions=["maximize", "minimize"])
    for params, acc in [(9000, 0.95), (3000, 0.85), (5000, 0.92), (7000, 0.99)]:  # 3000 is cheapest but misses
        add(study, params, acc, target)
    assert chosen_trial(study.trials, target).number == 2 and not settled(study, target)
    add(study, 100, 0.0, target, state=TrialState.FAIL)  # failed trials count as tried
    assert settled(study, target)
    add(study, 4000, 0.90, target)  # a cheaper model meeting the target: chosen, and the count starts again
    assert chosen_trial(study.trials, target).number == 5 and not settled(study, target)


def test_budget_only_targets_choose_the_most_accurate_model_within_them():
    target = TargetConfig(flash_kb=6.0)
    study = optuna.create_study(directions=["maximize", "minimize"])
    for params, acc in [(9000, 0.99), (5000, 0.90), (2000, 0.80)]:
        add(study, params, acc, target)
    assert chosen_trial(study.trials, target).number == 1


def outcome_of(tmp_path, trials: list[tuple[int, float]], test_acc: float):
    """The outcome of a study of (params, val acc) trials against val acc 0.9, where only trial 1's run
    directory holds a report: reading any other run's test accuracy would fail."""
    target = TargetConfig(accuracy=0.9)
    study = optuna.create_study(directions=["maximize", "minimize"])
    run_1 = tmp_path / "trials" / "001"
    run_1.mkdir(parents=True)
    (run_1 / "report.json").write_text(json.dumps({"train": {"test_acc": test_acc}, "export": {}}))
    (run_1 / "genotype.json").write_text("{}")
    for k, (params, acc) in enumerate(trials):
        add(study, params, acc, target, run_dir=tmp_path / "trials" / f"{k:03d}")
    out = tmp_path / "out"
    out.mkdir()
    return write_outcome(study.trials, target, out), out


def test_the_outcome_reads_the_test_split_of_the_chosen_run_only(tmp_path):
    outcome, out = outcome_of(tmp_path, [(9000, 0.95), (5000, 0.91)], test_acc=0.875)
    assert outcome["met"] and outcome["trial"]["trial"] == 1 and outcome["test_acc"] == 0.875
    assert (out / "chosen" / "genotype.json").is_file() and (out / "pareto.png").stat().st_size > 10_000
    assert (out / "trials.md").read_text().count("\n") == 4  # header, rule, two trials


def test_when_no_trial_meets_the_target_the_closest_is_reported_and_nothing_is_chosen(tmp_path):
    outcome, out = outcome_of(tmp_path, [(2000, 0.50), (9000, 0.85)], test_acc=0.75)
    assert not outcome["met"] and outcome["trial"]["trial"] == 1 and outcome["test_acc"] == 0.75
    assert not (out / "chosen").exists()


@pytest.mark.parametrize("args, message", [
    (["target.accuracy=1.5"], "target.accuracy=1.5: must be in (0, 1]"),
    (["target.flash_kb=600"], "target.flash_kb=600.0: over device=F28P55's 512 KB flash"),
    (["target.accuracy=0.9", "target.weight=[2,1]"], "target.weight=[2.0, 1.0]: two values [low, high]"),
    (["target.accuracy=0.9", "target.presets=[q]"], "target.presets=['q']: a non-empty list of s, m, l, xl, xxl"),
    (["target.accuracy=0.9", "stages=[search]"], "target: a study searches and retrains every trial"),
    (["target.accuracy=0.9", "preset=l"], "preset: set per trial by the study; use target.presets instead"),
    (["target.accuracy=0.9", "target.storage=postgresql://nobody@localhost/none"], "target.storage=postgresql://"),
])
def test_impossible_targets_are_refused_in_one_line(tmp_path, args, message):
    run_dir, study_dir = tmp_path / "run", tmp_path / "study"
    done = subprocess.run([sys.executable, "-m", "nas_lightning", *args, f"hydra.run.dir={run_dir}",
                           f"target.dir={study_dir}"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert not run_dir.exists() and not study_dir.exists()


@pytest.mark.slow  # a whole CLI run or several: make test-full
def test_a_command_every_trial_would_refuse_ends_the_study_in_one_line(tmp_path):
    (tmp_path / "empty" / "classes").mkdir(parents=True)  # found only when a trial loads the data
    done = subprocess.run([sys.executable, "-m", "nas_lightning", "data=folder", f"data.path={tmp_path / 'empty'}",
                           "target.accuracy=0.9", f"target.dir={tmp_path / 'study'}", f"hydra.run.dir={tmp_path / 'run'}"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "need at least 2" in done.stderr, done.stderr
    assert not (tmp_path / "run").exists() and not (tmp_path / "study").exists()


def study_cli(tmp_path, *extra, run="run", **popen):
    args = [sys.executable, "-m", "nas_lightning", *QUICK, "target.accuracy=0.5", f"target.dir={tmp_path / 'study'}",
            f"hydra.run.dir={tmp_path / run}", *extra]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def stored(tmp_path, storage=None):
    url = storage or f"sqlite:///{tmp_path / 'study' / 'study.db'}"
    (summary,) = optuna.get_all_study_summaries(url)
    return optuna.load_study(study_name=summary.study_name, storage=url).trials


@pytest.mark.slow
def test_a_two_worker_study_runs_end_to_end(tmp_path):
    done = study_cli(tmp_path, "target.trials=1", "target.max_trials=2", "target.workers=2")
    out, err = done.communicate(timeout=300)
    assert done.returncode in (0, 5), err[-2000:]
    trials = stored(tmp_path)  # the cap stops new trials; one still running when it is reached finishes
    assert len(trials) in (2, 3) and all(t.state == TrialState.COMPLETE for t in trials)
    dirs = {t.user_attrs["run_dir"] for t in trials}  # one directory, one complete run, per trial
    assert len(dirs) == len(trials) and all(os.path.isfile(os.path.join(d, "report.json")) for d in dirs)
    outcome = json.loads((tmp_path / "run" / "outcome.json").read_text())
    best = max(t.values[0] for t in trials)
    assert outcome["trials"] == len(trials) and outcome["met"] == (best >= 0.5) and "test_acc" in outcome
    assert (tmp_path / "run" / "chosen" / "genotype.json").is_file() == outcome["met"]
    assert f"trial {outcome['trial']['trial']}, preset s" in (tmp_path / "run" / "summary.txt").read_text()


@pytest.mark.slow
def test_a_killed_study_continues_without_losing_or_repeating_a_trial(tmp_path):
    first = study_cli(tmp_path, "target.trials=4", "target.max_trials=4", start_new_session=True)
    trials_dir = tmp_path / "study" / "trials"
    while not (trials_dir / "001").exists():  # trial 0 finished, trial 1 running
        assert first.poll() is None, first.communicate()[1][-2000:]
        time.sleep(0.5)
    time.sleep(2)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    before = {t.number: t for t in stored(tmp_path)}
    assert before[0].state == TrialState.COMPLETE and before[1].state == TrialState.RUNNING
    report_0 = (trials_dir / "000" / "report.json").stat().st_mtime_ns
    time.sleep(21)  # past the heartbeat grace period: trial 1 is now known to be dead
    second = study_cli(tmp_path, "target.trials=4", "target.max_trials=4", run="run2")
    _, err = second.communicate(timeout=600)
    assert second.returncode in (0, 5), err[-2000:]
    after = stored(tmp_path)
    assert after[0].values == before[0].values and (trials_dir / "000" / "report.json").stat().st_mtime_ns == report_0
    assert after[1].state == TrialState.FAIL  # the killed one: failed, then retried with the same proposal
    retry = next(t for t in after if t.system_attrs.get("failed_trial") == 1)
    assert retry.params == before[1].params and retry.state == TrialState.COMPLETE
    complete = [t for t in after if t.state == TrialState.COMPLETE]
    assert len(complete) == 3 and len({tuple(t.params.items()) for t in complete}) == 3  # 4 finished, none twice


@pytest.mark.slow
def test_two_workers_share_one_sqlite_study_without_duplicates(tmp_path):
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    workers = [study_cli(tmp_path, "target.trials=4", "target.max_trials=4", f"target.storage={storage}",
                         "threads=1", run=f"run{k}") for k in range(2)]
    for worker in workers:
        _, err = worker.communicate(timeout=600)
        assert worker.returncode in (0, 5), err[-2000:]
    trials = stored(tmp_path, storage)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) >= 4 and all(t.state == TrialState.COMPLETE for t in trials)
    assert len({tuple(t.params.items()) for t in complete}) == len(complete)  # no proposal run twice
    dirs = [t.user_attrs["run_dir"] for t in complete]
    assert len(set(dirs)) == len(dirs) and all(os.path.isfile(os.path.join(d, "report.json")) for d in dirs)
