"""`dvc repro` end to end on the embedded synthetic data, in a temporary copy of the repository."""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.conftest import TINY_ROWS, copy_repository, free_ports, sh, wait_until_up

pytestmark = [pytest.mark.slow, pytest.mark.pipeline]
TINY_TRAIN = {"arch": "tiny_cnn", "epochs": 2, "batch_size": 32, "lr": 3e-3}


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A fresh clone-like copy: the files git would have, committed in a new repository."""
    copy = tmp_path_factory.mktemp("repo")
    copy_repository(copy, {"synthetic": {"rows": TINY_ROWS}, "train": TINY_TRAIN})
    first = sh("dvc", "repro", cwd=copy)
    return copy, first


def test_repro_runs_every_stage_and_writes_its_outputs(repo):
    copy, first = repo
    # A fresh clone has no data: the embedded synthetic faces are the first stage's output.
    for stage in ("synthesize", "ingest", "convert", "train", "evaluate"):
        assert f"Running stage '{stage}'" in first
    # What a newcomer reads: no start-up line that looks like an error, and one screen of it
    # apart from a line per epoch.
    lines = first.splitlines()
    noise = (
        r"[EWI]\d{4} |WARNING: All log|Traceback|.*Warning: |\d{4}/\d\d/\d\d |Assets written to"  # TF, Python, MLflow
    )
    assert [line for line in lines if re.match(noise, line)] == []
    assert len([line for line in lines if not re.match(r"Epoch \d+/|\d+/\d+ - ", line)]) <= 40, first
    manifest = json.loads((copy / "data/arrays/manifest.json").read_text())
    assert manifest["data"] == "synthetic"
    assert {k: v["count"] for k, v in manifest["splits"].items()} == {"train": 140, "val": 35, "test": 35}
    assert np.load(copy / "data/arrays/x_train.npy").shape == (140, 48, 48, 1)
    assert (copy / "reports/data/class_distribution.png").stat().st_size > 0
    assert (copy / "models/model.keras").stat().st_size > 0
    for png in ("confusion_matrix", "confusion_matrix_normalized", "per_class", "misclassified"):
        assert (copy / f"reports/eval/{png}.png").stat().st_size > 0
    assert (copy / "dvc.lock").exists()
    # Nothing staged behind the user's back: the run's record (dvc.lock, reports/) is theirs to commit.
    assert sh("git", "diff", "--cached", "--name-only", cwd=copy).strip() == ""


def test_one_mlflow_run_holds_params_metrics_tags_and_model(repo):
    import mlflow

    copy, _ = repo
    mlflow.set_tracking_uri(f"sqlite:///{copy / 'mlflow.db'}")
    (run,) = mlflow.search_runs(experiment_names=["fer2013"], output_format="list")
    assert run.info.status == "FINISHED"
    # `mlflow ui` opens a model-training experiment on its runs, not on the GenAI overview.
    assert mlflow.get_experiment_by_name("fer2013").tags["mlflow.experimentKind"] == "custom_model_development"
    (dataset,) = run.inputs.dataset_inputs
    manifest = json.loads((copy / "data/arrays/manifest.json").read_text())
    assert dataset.dataset.digest == manifest["source_sha256"][:36] and "synthetic" in dataset.dataset.name
    assert run.data.params["arch"] == "tiny_cnn" and run.data.params["epochs"] == "2"
    assert run.data.tags["data"] == "synthetic"
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=copy, capture_output=True, text=True).stdout.strip()
    assert run.data.tags["mlflow.source.git.commit"] == head
    metrics = json.loads((copy / "reports/eval/details.json").read_text())
    assert run.data.metrics["eval.test.accuracy"] == pytest.approx(metrics["test"]["accuracy"])
    assert len(mlflow.tracking.MlflowClient().get_metric_history(run.info.run_id, "val_accuracy")) == 2
    # Each figure once: no validation_* copies of val_*, no optimizer config beside the params.
    assert not [name for name in run.data.metrics if name.startswith("validation_")]
    assert not [name for name in run.data.params if name.startswith("optimizer_")]
    summary = json.loads((copy / "reports/train/train_metrics.json").read_text())
    assert run.data.metrics["best_epoch"] == summary["best_epoch"]
    assert run.data.metrics["best_val_accuracy"] == pytest.approx(summary["best_val_accuracy"])
    model = mlflow.pyfunc.load_model(json.loads((copy / "reports/train/mlflow_run.json").read_text())["model_uri"])
    images = np.load(copy / "data/arrays/x_test.npy")[:3].astype(np.float32)
    assert model.predict(images).shape == (3, 1 + 7)  # the emotion, then a probability per class


def test_metrics_and_plots_are_visible_to_dvc(repo):
    copy, _ = repo
    metrics = json.loads(sh("dvc", "metrics", "show", "--json", cwd=copy))
    (headline,) = metrics[""]["data"].values()  # one file of figures people compare; details live elsewhere
    evaluation = headline["data"]
    assert 0 <= evaluation["ci95_low"] <= evaluation["test_accuracy"] <= evaluation["ci95_high"] <= 1
    details = json.loads((copy / "reports/eval/details.json").read_text())
    assert details["test"]["rows"] == TINY_ROWS["PrivateTest"]
    assert 0 <= evaluation["ece"] <= 1 and 0 <= evaluation["ece_calibrated"] <= 1 and evaluation["temperature"] > 0
    assert evaluation["best_epoch"] == json.loads((copy / "reports/train/train_metrics.json").read_text())["best_epoch"]
    shown = sh("dvc", "metrics", "show", cwd=copy)
    assert max(map(len, shown.splitlines())) <= 200, shown
    report = json.loads((copy / "reports/data/data_report.json").read_text())
    assert report["data"] == "synthetic" and report["rows"]["by_usage"] == TINY_ROWS
    plots = json.loads(sh("dvc", "plots", "show", "--json", cwd=copy))["data"]
    # Every figure once, as a picture that shows every class (a chart DVC draws from a table drops
    # a class never predicted, and drew the confusion matrix a second time, transposed).
    assert set(plots) == {
        "reports/data/class_distribution.png",
        "Accuracy (train vs val)",
        "Loss (train vs val)",
        *(
            f"reports/eval/{name}.png"
            for name in (
                "confusion_matrix",
                "confusion_matrix_normalized",
                "per_class",
                "misclassified",
                "explanations",
                "reliability",
            )
        ),
    }
    counts = (copy / "reports/data/class_distribution.csv").read_text()
    assert {"train", "val", "test"} <= set(counts.replace(",", "\n").split())  # the counts the picture draws
    (accuracy,) = plots["Accuracy (train vs val)"]
    assert {"accuracy", "val_accuracy"} <= set(accuracy["content"]["data"]["values"][0])


def test_second_repro_does_nothing(repo):
    copy, _ = repo
    before = (copy / "data/validated/faces.parquet").stat().st_mtime_ns
    second = sh("dvc", "repro", cwd=copy)
    assert "Running stage" not in second
    assert "up to date" in second
    assert (copy / "data/validated/faces.parquet").stat().st_mtime_ns == before


def test_changed_param_reruns_ingest(repo):
    copy, _ = repo
    params = yaml.safe_load((copy / "params.yaml").read_text())
    params["ingest"]["seed"] = 99
    (copy / "params.yaml").write_text(yaml.safe_dump(params))
    out = sh("dvc", "repro", cwd=copy)
    assert "Running stage 'ingest'" in out


def test_data_and_model_round_trip_through_a_dvc_remote(repo, tmp_path):
    copy, _ = repo
    sh("dvc", "repro", cwd=copy)  # back to the committed params' outputs
    sh("dvc", "remote", "add", "--local", "-f", "-d", "storage", str(tmp_path / "remote"), cwd=copy)
    sh("dvc", "push", cwd=copy)
    model = (copy / "models/model.keras").read_bytes()
    shutil.rmtree(copy / ".dvc/cache")
    for output in ("models/model.keras", "data/arrays", "data/validated/faces.parquet"):
        path = copy / output
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    sh("dvc", "pull", cwd=copy)
    assert (copy / "models/model.keras").read_bytes() == model
    assert np.load(copy / "data/arrays/x_train.npy").shape == (140, 48, 48, 1)
    assert "up to date" in sh("dvc", "status", cwd=copy)


def test_dvc_experiment_becomes_a_named_mlflow_run_with_its_params(repo):
    import mlflow

    copy, _ = repo
    out = sh("dvc", "exp", "run", "-S", "train.lr=1e-4", "--name", "lr-1e-4", cwd=copy)
    # A second version registers quietly: no "already exists", no fallback from a runs:/ URI.
    assert "already exists" not in out and "has no artifacts" not in out
    mlflow.set_tracking_uri(f"sqlite:///{copy / 'mlflow.db'}")
    (run,) = mlflow.search_runs(
        experiment_names=["fer2013"], filter_string="attributes.run_name = 'lr-1e-4'", output_format="list"
    )
    assert float(run.data.params["lr"]) == 0.0001
    assert run.data.tags["dvc_exp_name"] == "lr-1e-4"
    shown = json.loads(sh("dvc", "exp", "show", "--json", cwd=copy))
    assert "lr-1e-4" in json.dumps(shown)


def test_the_experiments_view_the_summary_prints_fits_a_screen(repo):
    from ferpipe.tools.summary import EXPERIMENTS_VIEW

    copy, _ = repo
    sh("dvc", "exp", "run", "-S", "train.lr=3e-4", "-S", "train.epochs=3", "--name", "narrow", cwd=copy)
    table = sh(*shlex.split(EXPERIMENTS_VIEW), "--md", cwd=copy)
    header = table.splitlines()[0]
    assert "test_accuracy" in header and "ci95_low" in header and "train.lr" in header and "train.epochs" in header
    assert "src/" not in header and "train.arch" not in header  # hashes and unchanged params are left out
    assert max(map(len, table.splitlines())) <= 260, table


def test_compare_renders_the_runs_side_by_side(repo):
    copy, _ = repo
    table = sh("ferpipe", "compare", cwd=copy)
    assert "lr-1e-4" in table and "test accuracy (95% CI)" in table and "train img/s" in table
    header, _, first = table.splitlines()[:3]
    cells = dict(zip(header.split(" | "), first.split(" | "), strict=True))
    assert float(cells["train img/s"]) > 0 and float(cells["train min"]) >= 0  # what each run cost, beside its score
    rows = [line for line in (copy / "reports/compare/runs.md").read_text().splitlines() if line.startswith("| ")]
    assert len(rows) >= 1 + 2  # header and at least the first repro and the experiment
    assert (copy / "reports/compare/confusion_matrices.png").stat().st_size > 10_000


def queued_task_states(repository: Path) -> set[str]:
    """The states of the tasks in a repository's experiment queue: the table `dvc queue status` prints.
    Not the command itself: after the table it counts the workers by asking them over the queue's
    file broker, and kombu reads a worker's reply file that may not be written yet, so while workers
    run, the command now and then fails with 'Expecting value: line 1 column 1 (char 0)'."""
    from dvc.repo import Repo

    with Repo(str(repository)) as dvc_repository:
        return {task["status"] for task in dvc_repository.experiments.celery_queue.status()}


def test_queued_and_temporary_experiments_land_once_in_the_shared_store_tagged_synthetic(repo):
    import time

    import mlflow

    copy, _ = repo
    # New params: unchanged ones would be restored from DVC's run-cache without running anything.
    sh("dvc", "exp", "run", "--temp", "-S", "train.lr=2e-3", "--name", "temporary", cwd=copy)
    sh("dvc", "exp", "run", "--queue", "-S", "train.lr=1e-3,5e-3,1e-2,3e-2", cwd=copy)
    sh("dvc", "queue", "start", "-j", "2", cwd=copy)
    deadline = time.monotonic() + 600
    while {"Queued", "Running"} & (states := queued_task_states(copy)):
        assert time.monotonic() < deadline, states
        time.sleep(3)
    assert states == {"Success"}

    mlflow.set_tracking_uri(f"sqlite:///{copy / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["fer2013"], output_format="list")
    queued = sorted(
        float(r.data.params["lr"])
        for r in runs
        if r.data.tags.get("dvc_exp_name") and r.info.run_name not in ("lr-1e-4", "temporary", "epochs-3", "narrow")
    )
    assert queued == [0.001, 0.005, 0.01, 0.03]
    assert [r.info.run_name for r in runs].count("temporary") == 1
    assert all(r.info.status == "FINISHED" for r in runs)
    # The copies DVC ran them in had only what git and DVC track: the data still says it is synthetic.
    assert {r.data.tags["data"] for r in runs} == {"synthetic"}
    client = mlflow.MlflowClient()
    assert {m.name for m in client.search_registered_models()} <= {
        "fer2013-expression-synthetic",
        "fer2013-expression-ferplus-synthetic",
    }


def test_explicit_epochs_are_what_trains_and_what_every_record_says(repo):
    import mlflow

    copy, _ = repo
    sh("dvc", "exp", "run", "-S", "train.epochs=3", "--name", "epochs-3", cwd=copy)
    assert json.loads((copy / "reports/train/train_metrics.json").read_text())["epochs"] == 3
    assert len((copy / "reports/train/history.csv").read_text().splitlines()) == 1 + 3
    shown = json.dumps([e for e in json.loads(sh("dvc", "exp", "show", "--json", cwd=copy))])
    assert '"epochs": 3' in shown
    mlflow.set_tracking_uri(f"sqlite:///{copy / 'mlflow.db'}")
    (run,) = mlflow.search_runs(
        experiment_names=["fer2013"], filter_string="attributes.run_name = 'epochs-3'", output_format="list"
    )
    params = yaml.safe_load((copy / "params.yaml").read_text())["train"]
    for key in ("arch", "epochs", "batch_size", "lr", "loss", "optimizer", "label_smoothing"):
        assert yaml.safe_load(run.data.params[key]) == params[key], key


@pytest.mark.parametrize(
    ("module", "stages"),
    [
        ("train/inputs.py", {"train"}),
        ("ingest/pixels.py", {"ingest"}),
        ("core/faces.py", {"ingest", "convert"}),
        ("core/tracking.py", {"train", "evaluate"}),
        ("core/registry.py", {"evaluate"}),
        ("core/inference.py", {"train", "evaluate"}),  # the logged model answers through it
        ("synthesize/stage.py", {"synthesize"}),
    ],
)
def test_a_comment_in_a_module_flips_dvc_status_for_exactly_the_stages_that_run_it(repo, module, stages):
    copy, _ = repo
    sh("dvc", "repro", cwd=copy)
    path = copy / "src/ferpipe" / module
    original = path.read_text()
    try:
        path.write_text(original + "# a comment\n")
        changed = set(json.loads(sh("dvc", "status", "--json", cwd=copy)))
    finally:
        path.write_text(original)
    assert changed == stages


def test_no_stage_output_holds_a_path_of_this_machine(repo):
    copy, _ = repo
    sh("dvc", "repro", cwd=copy)
    written = [copy / "dvc.lock", *(copy / "reports").rglob("*"), *(copy / "data/arrays").glob("*.json")]
    leaks = [
        str(f.relative_to(copy))
        for f in written
        if f.is_file() and f.suffix != ".png" and str(copy) in f.read_text(errors="replace")
    ]
    assert leaks == []


def test_a_copied_repository_never_writes_into_the_original(repo, tmp_path):
    import hashlib

    copy, _ = repo

    def fingerprint(root):
        files = [root / "mlflow.db", *sorted((root / "mlartifacts").rglob("*"))]
        return {str(f.relative_to(root)): hashlib.sha256(f.read_bytes()).hexdigest() for f in files if f.is_file()}

    before = fingerprint(copy)
    moved = tmp_path / "moved"
    shutil.copytree(copy, moved, symlinks=True)  # as `cp -a`
    sh("dvc", "exp", "run", "-S", "train.lr=4e-3", "--name", "in-the-copy", cwd=moved)
    assert fingerprint(copy) == before
    assert len(fingerprint(moved)) > len(before)  # the copy's run and model went to the copy's own folder


def test_tools_on_a_model_trained_on_synthetic_data_say_so(repo):
    from PIL import Image

    copy, _ = repo
    refused = sh("ferpipe", "promote", cwd=copy, returncode=1)
    assert "'fer2013-expression' has no 'challenger' version" in refused and "use --data synthetic" in refused
    Image.fromarray(np.load(copy / "data/arrays/x_test.npy")[0, ..., 0]).save(copy / "face.png")
    answered = sh("ferpipe", "predict", "models:/fer2013-expression-synthetic@challenger", "face.png", cwd=copy)
    assert "trained on SYNTHETIC data" in answered and "predicted 1 face(s)" in answered


def test_ferplus_experiment_says_its_label_mode_and_registers_apart(repo):
    import mlflow

    copy, _ = repo
    # `ferpipe synthesize` wrote FER+-style votes beside the synthetic faces (ingest.ferplus_votes).
    out = sh("dvc", "exp", "run", "-S", "ingest.labels=ferplus_probability", "--name", "ferplus", cwd=copy)
    assert "Running stage 'ingest'" in out
    assert "ferplus_probability" in json.dumps(json.loads(sh("dvc", "exp", "show", "--json", cwd=copy)))
    mlflow.set_tracking_uri(f"sqlite:///{copy / 'mlflow.db'}")
    (run,) = mlflow.search_runs(
        experiment_names=["fer2013"], filter_string="attributes.run_name = 'ferplus'", output_format="list"
    )
    assert run.data.tags["labels"] == "ferplus_probability"
    manifest = json.loads((copy / "data/arrays/manifest.json").read_text())
    assert len(manifest["label_names"]) == 8 and manifest["targets"] == "soft"
    rows = [line for line in sh("ferpipe", "compare", "--last", "2", cwd=copy).splitlines() if line.startswith("| ")]
    assert rows[-1].startswith("| ferplus | ferplus_probability |") and rows[-2].split(" | ")[1] == "fer2013"
    promoted = sh("ferpipe", "promote", "--data", "synthetic", "--labels", "ferplus", cwd=copy)
    assert "fer2013-expression-ferplus-synthetic" in promoted and "champion is now v1" in promoted


def headless_browser() -> str:
    for name in ("chromium-headless-shell", "chromium", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("no headless Chromium (.ci/run installs Debian's chromium-headless-shell)")


def browse(url: str, *options: str) -> str:
    """The page as a browser shows it once its scripts have run, with no network but this machine's."""
    done = subprocess.run(
        [
            headless_browser(),
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=15000",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            *options,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.stdout


def test_dvc_plots_page_draws_its_charts_without_internet(repo, tmp_path):
    from PIL import Image

    copy, _ = repo
    sh("dvc", "plots", "show", "-o", str(tmp_path / "plots"), cwd=copy)
    page = tmp_path / "plots/index.html"
    assert "<script src=" not in page.read_text()  # the libraries are in the page, not on a CDN
    drawn = browse(page.as_uri(), "--dump-dom")
    assert drawn.count('class="marks"') == 2  # the charts DVC draws: accuracy and loss
    pictures = re.findall(r'<img src="[^"]*?(\w+)\.png"', drawn)
    assert sorted(pictures) == sorted(set(pictures)) and len(pictures) == 7  # class counts, the evaluation's six
    browse(page.as_uri(), "--window-size=1300,1600", f"--screenshot={tmp_path / 'plots.png'}")
    assert np.asarray(Image.open(tmp_path / "plots.png").convert("L")).std() > 20  # not a blank page


def test_mlflow_ui_opens_the_experiment_on_its_runs(repo, tmp_path):
    import mlflow

    copy, _ = repo
    (port,) = free_ports(1)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    server = subprocess.Popen(
        ["mlflow", "ui", "--backend-store-uri", "sqlite:///mlflow.db", "--host", "127.0.0.1", "--port", str(port)],
        cwd=copy,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "ui.log", "w"),
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", server, tmp_path / "ui.log")
        mlflow.set_tracking_uri(f"sqlite:///{copy / 'mlflow.db'}")
        experiment = mlflow.get_experiment_by_name("fer2013").experiment_id
        url = f"http://127.0.0.1:{port}/#/experiments/{experiment}?workflowType=machine_learning"
        assert url in sh("ferpipe", "summary", cwd=copy).replace(":5000/", f":{port}/")  # what it tells people
        page = re.sub(r"<[^>]+>", "", browse(url, "--dump-dom"))  # the text a person sees
        runs = mlflow.search_runs(experiment_names=["fer2013"], output_format="list")
        # "N matching runs", or "1 matching run" when this test runs alone on the fixture's one run.
        assert re.search(rf"(?<!\d){len(runs)} matching run", page) and all(run.info.run_name in page for run in runs)
        browse(url, "--window-size=1400,900", f"--screenshot={tmp_path / 'mlflow.png'}")
    finally:
        server.terminate()
        server.wait(timeout=30)
