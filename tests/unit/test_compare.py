"""`ferpipe compare`'s table: the params a search varied get columns of their own."""

from types import SimpleNamespace

from ferpipe.tools.compare import markdown_table


def run(name: str, metrics: dict | None = None, **params) -> SimpleNamespace:
    base = {
        "arch": "vgg_small",
        "lr": "0.001",
        "epochs": "16",
        "precision": "float32",
        "crop": "0",
        "train_rows": "28709",
    }
    metrics = metrics or {
        "eval.test.accuracy": 0.64,
        "eval.calibration.before.ece": 0.0283,
        "eval.calibration.after.ece": 0.0206,
    }
    return SimpleNamespace(
        info=SimpleNamespace(run_name=name, run_id=name),
        data=SimpleNamespace(params={**base, **params}, metrics=metrics, tags={"labels": "fer2013"}),
    )


def test_params_that_differ_between_runs_are_shown_and_the_rest_are_not():
    table = markdown_table([run("a"), run("b", precision="mixed_bfloat16", crop="40"), run("c", crop="44")])
    header = table.splitlines()[0].split(" | ")
    assert "precision" in header and "crop" in header and "train_rows" not in header
    cells = dict(zip(header, table.splitlines()[3].split(" | "), strict=True))
    assert cells["crop"] == "40" and cells["precision"] == "mixed_bfloat16"
    assert cells["ECE → calibrated"] == "0.028 → 0.021"
    assert "crop" not in markdown_table([run("a"), run("b")]).splitlines()[0]


def test_a_run_only_trained_shows_its_val_accuracy_and_no_test_figure():
    table = markdown_table([run("searched", {"best_val_accuracy": 0.6123})])
    cells = dict(zip(table.splitlines()[0].split(" | "), table.splitlines()[2].split(" | "), strict=True))
    assert cells["val accuracy"] == "0.6123" and cells["test accuracy (95% CI)"] == "not evaluated"
