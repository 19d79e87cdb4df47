"""The flat results table: default sort by the first evaluator's headline metric, missing last."""

from __future__ import annotations

from rcx.core.results import ResultsTable


def table(headline: dict[str, tuple[str, ...]]) -> ResultsTable:
    rows = [{"arch": a, "cvu.mu_u": mu, "cvu.cv_u": cv} for a, mu, cv in
            [("a", 0.2, 0.5), ("b", 0.3, None), ("c", 0.1, 0.1)]]
    return ResultsTable(["arch", "cvu.mu_u", "cvu.cv_u"], rows, {"cvu.mu_u": True, "cvu.cv_u": False}, ["cvu"],
                        headline)


def test_default_sort_follows_the_headline_and_its_direction():
    t = table({"cvu": ("cv_u", "mu_u")})
    assert t.default_sort() == "cvu.cv_u"
    assert [r["arch"] for r in t.sorted("cvu.cv_u")] == ["c", "a", "b"]  # lower is better; missing last
    assert [r["arch"] for r in t.sorted("cvu.cv_u", descending=True)] == ["a", "c", "b"]


def test_default_sort_without_headline_takes_the_first_declared_metric():
    assert table({}).default_sort() == "cvu.mu_u"
    assert ResultsTable(["arch"], []).default_sort() is None
