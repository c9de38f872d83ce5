from pathlib import Path

from ferpipe.core.tracking import flatten, repository_root


def test_store_is_anchored_at_the_repository_even_for_temporary_experiment_copies(monkeypatch, tmp_path):
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    assert repository_root() == tmp_path.resolve()
    copy = tmp_path / ".dvc/tmp/exps/standalone/tmpabc123"
    copy.mkdir(parents=True)
    monkeypatch.setenv("DVC_ROOT", str(copy))
    assert repository_root() == tmp_path.resolve()
    monkeypatch.delenv("DVC_ROOT")
    monkeypatch.chdir(tmp_path)
    assert repository_root() == Path(tmp_path).resolve()


def test_flatten_joins_nested_keys_with_dots():
    assert flatten({"a": {"b": 1, "c": {"d": "x"}}, "e": 2}) == {"a.b": 1, "a.c.d": "x", "e": 2}


def test_a_run_counts_changes_to_the_code_not_the_pipelines_own_outputs_staged_or_not(monkeypatch, tmp_path):
    import subprocess

    from ferpipe.core.tracking import uncommitted_changes

    monkeypatch.delenv("DVC_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)

    def git(*arguments: str) -> None:
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *arguments], check=True, capture_output=True
        )

    git("init", "-q")
    Path("src").mkdir()
    Path("src/stage.py").write_text("LR = 1e-3\n")
    git("add", ".")
    git("commit", "-q", "-m", "code")
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    # What a run leaves, staged as DVC's autostage or a `git add .` would: not a change to the code.
    for product in ("dvc.lock", "params.yaml", "reports/eval/metrics.json", "reports/data/class_distribution.png"):
        Path(product).parent.mkdir(parents=True, exist_ok=True)
        Path(product).write_text("written by the pipeline\n")
    git("add", ".")
    assert uncommitted_changes(commit) == "false"
    Path("src/helper.py").write_text("X = 1\n")  # new code, staged
    git("add", "src/helper.py")
    assert uncommitted_changes(commit) == "true"
    git("rm", "-q", "--cached", "src/helper.py")
    Path("src/stage.py").write_text("LR = 1e-4\n")  # changed code, not staged
    assert uncommitted_changes(commit) == "true"
    assert uncommitted_changes(None) == "unknown"
