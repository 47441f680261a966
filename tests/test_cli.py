"""The command line as a user meets it: bad input refused in one line before any work, and the
stage combinations of the issue (search only, train+export from a genotype file, unrolled)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nas_lightning.errors import UserInputError
from nas_lightning.preflight import prepare_command_line

from conftest import TINY, compose_run_config, read_report, run_cli

BAD = [
    (["preset=zz"], "preset=zz: unknown; allowed: custom, l, m, s, xl, xxl"),
    (["mode=Speed"], "mode=Speed: unknown; allowed: Compute, Latency, Memory"),
    (["mode=Latency", "device=host"], "mode=Latency: device=host has no latency model"),
    (["space=tree"], "space=tree: unknown; allowed: cells, chain"),
    (["space=chain", "space.widest=20"], "space.widest=20: allowed values are 16, 24"),
    (["device=ESP32"], "device=ESP32: unknown; allowed:"),
    (["preset=custom", "preset.layers=2"], "preset.layers=2: must be >= 3"),
    (["preset=custom", "preset.fanout_concat=5"], "preset.fanout_concat=5: must be <= preset.nodes_per_layer=4"),
    (["search.epochs=0"], "search.epochs=0: must be >= 1"),
    (["train.epochs=0"], "train.epochs=0: must be >= 1"),
    (["stages=[train,export]"], "genotype: a path to genotype.json is required"),
    (["stages=[train,export]", "genotype=/no/such/genotype.json"], "genotype=/no/such/genotype.json: file not found"),
    (["stages=[deploy]"], "stages=['deploy']: allowed values"),
    (["model=cls_2k_npu"], "model=cls_2k_npu: unknown; allowed:"),
    (["select=grid"], "select=grid: unknown; allowed: cv, none"),
    (["select.folds=1"], "select.folds=1: must be >= 2"),
    (["select.tolerance=5"], "select.tolerance=5.0: must be in [0, 1)"),
    (["select.rule=best"], "select.rule=best: allowed values are paired_se, tolerance, one_se"),
    (["select.origins=[random]"], "select.origins=['random']: allowed values are non-empty subsets"),
    (["select.repeats=0"], "select.repeats=0: must be >= 1"),
    (["train.epochs=null", "train.steps=null"], "train.epochs: set train.epochs or train.steps"),
    (["train.max_minutes=0"], "train.max_minutes=0.0: must be > 0 or null"),
    (["quant.method=best"], "quant.method=best: allowed values are auto, ceil, mse, mse_bias, output"),
    (["quant.percentile=20"], "quant.percentile=20.0: must be in (50, 100]"),
    (["quant.calibration=max"], "quant.calibration=max: allowed values are percentile, minmax"),
    (["data.input_grid=20"], "data.input_grid=20: allowed values are auto, a percentile in (50, 100], or null"),
    (["train.schedule=step"], "train.schedule=step: allowed values are plateau, cosine"),
    (["logger=wandb"], "logger=wandb: unknown; allowed: csv, mlflow, tensorboard"),
    (["data=aeon", "data.name=JapaneseVowels", "data.length=zero"],
     "data.length=zero: allowed values are error, pad, resample, crop"),
    (["data=aeon", "data.name=JapaneseVowels", "data.length=pad", "data.max_length=4"],
     "data.max_length=4: must be >= 8 or null"),
    (["logger=mlflow", "logger.mlflow.experiment="], "logger.mlflow.experiment: must be a non-empty name"),
    (["train.checkpoint_minutes=-1"], "train.checkpoint_minutes=-1.0: must be >= 0"),
    (["data.input_grid=fine"], "data.input_grid=fine: allowed values are auto, a percentile in (50, 100], or null"),
    (["quant.float_layers=[/stem/Conv]"], "quant.float_layers: device=F28P55 runs the whole int8 graph on its NPU"),
]


# one refusal of each kind through a real CLI process (exit code, no traceback, no report); every refusal's message
# in-process, through the same preflight and validation the CLI runs (a process each would cost ~2 s)
THROUGH_THE_CLI = [BAD[i] for i in (0, 4, 16, 28, 29)]


@pytest.mark.parametrize("args, message", BAD, ids=lambda v: v if isinstance(v, str) else " ".join(v))
def test_bad_input_message_is_one_line(args, message):
    with pytest.raises(UserInputError) as err:
        compose_run_config(prepare_command_line(list(args)))
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("args, message", THROUGH_THE_CLI, ids=lambda v: v if isinstance(v, str) else " ".join(v))
def test_bad_input_is_one_clear_line(tmp_path, args, message):
    run_dir = tmp_path / "run"
    result = run_cli(args, run_dir)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert not (run_dir / "report.json").exists()


def test_invalid_genotype_file_is_refused(tmp_path):
    bad = tmp_path / "g.json"
    bad.write_text(json.dumps({"normal": [["conv_11x1", 0]], "reduce": [["skip_connect", 0]],
                               "normal_concat": [1], "reduce_concat": [1]}))
    result = run_cli(["stages=[train,export]", f"genotype={bad}"], tmp_path / "run")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "unknown op 'conv_11x1'" in result.stderr


def test_previous_run_is_not_overwritten_by_a_bad_one(tiny_run):
    before = (tiny_run / "report.json").read_bytes()
    result = run_cli(["preset.layers=1"], tiny_run)
    assert result.returncode == 2
    assert (tiny_run / "report.json").read_bytes() == before


def one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-3000:]
    [line] = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    return line


def test_unequal_recordings_without_a_policy_are_refused_naming_data_length(tmp_path):
    run_dir = tmp_path / "run"
    line = one_error_line(run_cli(["data=aeon", "data.name=JapaneseVowels"], run_dir))
    assert "data.length=error: whole recordings must have one length" in line and "data.length=pad" in line
    assert not run_dir.exists()


def test_train_and_export_from_a_genotype_file(tiny_run, tmp_path):
    run_dir = tmp_path / "retrain"
    args = [*TINY, "device=host", "data.variables=3", "stages=[train,export]", f"genotype={tiny_run / 'genotype.json'}"]
    result = run_cli(args, run_dir)
    assert result.returncode == 0, result.stderr[-2000:]
    report = read_report(run_dir)
    assert "search" not in report and report["genotype"] == read_report(tiny_run)["genotype"]
    assert (run_dir / "model_int8.onnx").is_file() and not (run_dir / "genotype.json").exists()
    assert "run directory:" in result.stdout


def test_search_only(tmp_path):
    result = run_cli([*TINY, "stages=[search]"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "genotype.json").is_file() and not (tmp_path / "model.onnx").exists()


@pytest.mark.slow
@pytest.mark.parametrize("extra", [[], ["search.unrolled=true"]], ids=["first_order", "unrolled"])
def test_issue_command_line(tmp_path, extra):
    args = ["preset=s", "mode=Compute", "device=F28P55", "search.epochs=2", "train.epochs=2", *extra]
    result = run_cli(args, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert read_report(tmp_path)["device"]["name"] == "F28P55"


def test_console_script_finds_its_config(tmp_path):
    """`nas-lightning` (installed entry point) composes the same config as `python -m nas_lightning`."""
    script = Path(sys.executable).parent / "nas-lightning"
    result = subprocess.run([str(script), "preset.layers=2", f"hydra.run.dir={tmp_path}"], capture_output=True, text=True)
    assert result.returncode == 2 and "error: preset.layers=2: must be >= 3" in result.stderr, result.stderr


def test_help_is_the_products_own():
    result = subprocess.run([sys.executable, "-m", "nas_lightning", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert result.stdout.startswith("nas-lightning: neural architecture search")
    assert "preset: custom, l, m, s, xl, xxl" in result.stdout and "== Examples ==" in result.stdout
    assert "powered by Hydra" not in result.stdout


def test_chance_accuracy_is_a_failure_to_learn(tmp_path):
    """Noise a thousand times the signal: nothing to learn; the run says so and exits 4, files kept. A test
    split of several hundred series, so that chance stays within the 5-point margin (binomial sd < 2 pt)."""
    result = run_cli([*TINY, "data.noise=1000", "stages=[search,train]", "data.samples_per_class=200",
                      "data.split_factor=[0.1,0.05,0.85]"], tmp_path)
    assert result.returncode == 4, result.stderr[-2000:]
    assert "FAILED TO LEARN: test accuracy within 5 pt of chance (25.0%)" in result.stdout
    assert read_report(tmp_path)["train"]["learned"] is False and (tmp_path / "genotype.json").is_file()


def test_progress_and_summary_reach_the_run_log(tiny_run):
    """Not a TTY here, so no bar: ProgressLines' lines and the summary, time-stamped, in __main__.log."""
    text = (tiny_run / "__main__.log").read_text()
    assert "nas-lightning run: preset=s" in text and "search 100%: step" in text and "train 100%: step" in text
    assert "run directory:" in text and text.splitlines()[0].startswith("[")


@pytest.mark.slow  # 10 s: make test-full
def test_a_run_as_one_config_file(tmp_path):
    """docs/my_run.yaml through Hydra's --config-dir/--config-name, command-line overrides on top."""
    docs = Path(__file__).resolve().parents[1] / "docs"
    result = run_cli(["--config-dir", str(docs), "--config-name", "my_run", "preset=s", "search.steps=10",
                      "stages=[search]"], tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    config = read_report(tmp_path)["config"]
    assert config["data"]["name"] == "GunPoint" and config["preset"]["name"] == "s" and config["mode"]["weight"] == 1.0
