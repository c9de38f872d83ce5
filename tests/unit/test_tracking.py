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
