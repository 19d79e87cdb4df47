"""Fuzzing the plan loader: every input ends as a valid plan or a PlanError, never a traceback.

Two deterministic generators, both over the real plugin registry:

- seeded mutations of the example plans (``mutate``): dropped, duplicated and renamed keys and
  tables, values of the wrong type, huge and odd values, truncation, random bytes, odd unicode;
- hypothesis (``derandomize=True``, so CI never flakes): arbitrary TOML values for every
  declared option of every registered dataset, space and evaluator.

In-process cases call :func:`load_plan` on files (fast); a few go through ``rcx validate`` in
a subprocess to prove the exit codes (0 valid, 2 with a message).
"""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rcx.core.plan import Plan, PlanError, load_plan

from .conftest import ROOT

EXAMPLES = sorted((ROOT / "examples").glob("*.toml"))
FAST_CASES = 2000
SLOW_CASES = 20000

# -- TOML text of Python values (tests only: rcx never writes TOML) --------------------------------


def toml_value(v: object) -> str:
    """TOML text of a scalar, list or inline table (strings JSON-escaped, which TOML reads)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(v)


# -- seeded mutations -----------------------------------------------------------------------------

ODD_VALUES = [
    '""', '"x"', "-1", "0", "1", "2", "0.5", "-0.0", "1e308", "-1e308", "5e-324", "nan", "inf", "-inf", "true", "false",
    "[]", "[1, 2]", '["a", 1]', "[[1], [2]]", "{}", '{ a = 1 }', "1979-05-27T07:32:00Z", "07:32:00", "1979-05-27",
    str(2**63 - 1), str(2**63), str(-(2**63) - 1), str(10**9), str(10**30), "1" * 400, "9" * 5000, "0x7fffffffffffffff",
    '"\\u0000"', '"\\u202e\\u200dabc"', '"\U0001F4A5"', '"' + "y" * 5000 + '"', '"cuda:99999999999999999999"',
    '"../../../etc/passwd"', '"__import__(\'os\').system(\'touch PWNED\')"', '"a\\nb"',
    "[" + ", ".join(["3"] * 200) + "]",
    '"ca\u0301fe\u0301"', '"\u0130"', '"ridge_rfm"', '"loo"', '"random"', '"exhaustive"', '"synthetic"', '"ksd"',
]
ODD_KEYS = ["name", "n", "trials", "resize", "train_size", "evaluator", "kind", "zz", "é", "\u200b", '"a.b"', "a.b",
            '"\\u0000"', "1", "device", "seed", "output", "dataset", "space", "sampler", "evaluators"]
ODD_TABLES = ["[dataset]", "[space]", "[sampler]", "[evaluators]", "[evaluators.ridge_rfm]", "[evaluators.cvu]",
              "[evaluators.Bad-Name]", "[[evaluators]]", "[evaluators.x.y]", "[evaluators.\"\u00e9\"]", "[]", "[seed]"]
OPTION_NAMES = ["trials", "n_train", "resize", "image_size", "n", "channels", "layers", "depth", "cells", "batch_size",
                "epochs", "n_init", "expansion", "train_size", "test_size", "lambda", "units"]
SPLICE = ["\x00", "\ufeff", "\u202e", "\u200d", "\r", "\t", "\x0b", "\u2028", "\udcff", "=", "[", "]", '"', "'", "#",
          "\\", "{", "}", ",", ".", "\n[x]\n", "\nseed = 1\n"]


def mutate(text: str, rng: random.Random) -> bytes:
    """One to three random mutations of plan ``text``; the result is bytes (may not be UTF-8)."""
    lines = text.splitlines()
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(12)
        i = rng.randrange(len(lines)) if lines else 0
        line = lines[i] if lines else ""
        if op == 0 and lines:  # drop a line (a key or a table header)
            del lines[i]
        elif op == 1 and lines:  # duplicate a line (a duplicated key or table)
            lines.insert(rng.randrange(len(lines) + 1), line)
        elif op == 2 and "=" in line:  # a value of another type, or a huge or odd one
            key = line.split("=", 1)[0]
            lines[i] = f"{key}= {rng.choice(ODD_VALUES)}"
        elif op == 3 and "=" in line:  # rename a key
            lines[i] = f"{rng.choice(ODD_KEYS)} =" + line.split("=", 1)[1]
        elif op == 4:  # add an odd key anywhere
            lines.insert(rng.randrange(len(lines) + 1), f"{rng.choice(ODD_KEYS)} = {rng.choice(ODD_VALUES)}")
        elif op == 5:  # add, move or rename a table
            lines.insert(rng.randrange(len(lines) + 1), rng.choice(ODD_TABLES))
        elif op == 6 and lines:  # drop a whole table
            starts = [j for j, ln in enumerate(lines) if ln.lstrip().startswith("[")]
            if starts:
                a = rng.choice(starts)
                b = next((j for j in starts if j > a), len(lines))
                del lines[a:b]
        elif op == 7:  # splice odd characters into a line
            pos = rng.randrange(len(line) + 1)
            lines[i:i + 1] = [line[:pos] + rng.choice(SPLICE) + line[pos:]] if lines else [rng.choice(SPLICE)]
        elif op == 8:  # another registered plugin's name
            lines.append(rng.choice(['[dataset]\nname = "imagefolder"', '[space]\nname = "nb201"',
                                     '[evaluators.t]\nevaluator = "trained"\nepochs = 1', '[evaluators.cvu]']))
        elif op == 9:  # swap two lines
            j = rng.randrange(len(lines)) if lines else 0
            if lines:
                lines[i], lines[j] = lines[j], lines[i]
        elif op == 10:  # a known option name with an odd value, appended to the last table
            lines.append(f"{rng.choice(OPTION_NAMES)} = {rng.choice(ODD_VALUES)}")
        elif op == 11 and line.lstrip().startswith("["):  # rename a table
            lines[i] = rng.choice(ODD_TABLES)
    data = "\n".join(lines).encode("utf-8", "surrogatepass")
    final = rng.randrange(10)
    if final == 0:  # truncate
        data = data[: rng.randrange(len(data) + 1)]
    elif final == 1:  # random bytes somewhere
        pos = rng.randrange(len(data) + 1)
        data = data[:pos] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 8))) + data[pos:]
    elif final == 2:  # nothing but random bytes
        data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 300)))
    return data


def check_case(path: Path, registry) -> Plan | PlanError:
    """Load ``path``; anything but a Plan or a PlanError with a message fails the test."""
    try:
        plan = load_plan(path, registry)
    except PlanError as exc:
        assert exc.problems and all(p.message for p in exc.problems), exc
        assert str(exc)
        return exc
    assert isinstance(plan, Plan)
    return plan


def run_cases(tmp_path: Path, registry, seed: int, n: int) -> dict[str, int]:
    rng = random.Random(seed)
    texts = [p.read_text() for p in EXAMPLES]
    outcome = {"valid": 0, "refused": 0}
    path = tmp_path / "fuzz.toml"
    for case in range(n):
        data = mutate(rng.choice(texts), rng)
        path.write_bytes(data)
        try:
            result = check_case(path, registry)
        except Exception as exc:  # report the input that broke the loader
            raise AssertionError(f"case {case} (seed {seed}): {type(exc).__name__}: {exc}\n"
                                 f"input: {data[:2000]!r}") from exc
        outcome["valid" if isinstance(result, Plan) else "refused"] += 1
    return outcome


def test_mutated_example_plans_load_or_are_refused(tmp_path, registry):
    outcome = run_cases(tmp_path, registry, seed=12, n=FAST_CASES)
    assert outcome["valid"] > 40 and outcome["refused"] > 1000, outcome  # both branches are exercised


@pytest.mark.slow
def test_many_more_mutated_plans(tmp_path, registry):
    outcome = run_cases(tmp_path, registry, seed=1212, n=SLOW_CASES)
    assert outcome["valid"] > 0 and outcome["refused"] > 0


# -- hypothesis: any TOML value for any declared option --------------------------------------------

scalars = (st.booleans() | st.integers() | st.integers(-(2**70), 2**70) | st.integers(-(10**400), 10**400)
           | st.floats(allow_nan=True, allow_infinity=True)
           | st.text(max_size=20))
toml_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)


def _declared(registry) -> list[tuple[str, str, str]]:
    """(kind, plugin name, option name) of every declared option."""
    return [(kind, e.name, o.name) for kind in ("dataset", "space", "evaluator") for e in registry.all(kind)
            for o in e.obj.options]


BASE = {"dataset": ("synthetic", {"n_train": 50, "n_test": 20}), "space": ("ksd", {}), "evaluator": ("ridge_rfm", {})}


def plan_text(kind: str, plugin: str, option: str, value: object) -> str:
    tables = {k: dict(v[1], name=v[0]) for k, v in BASE.items() if k != "evaluator"}
    evaluator = {"evaluator": BASE["evaluator"][0], "train_size": 20, "val_size": 10}
    if kind == "evaluator":
        evaluator = {"evaluator": plugin, option: value}
    else:
        tables[kind] = {"name": plugin, option: value}
    out = ['device = "cpu"', "[sampler]", 'kind = "random"', "n = 2"]
    for table, values in [*tables.items(), ("evaluators.e", evaluator)]:
        out.append(f"[{table}]")
        out += [f"{json.dumps(k)} = {toml_value(v)}" for k, v in values.items()]
    return "\n".join(out) + "\n"


@settings(derandomize=True, max_examples=600, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_any_value_for_any_option_loads_or_is_refused(tmp_path, registry, data):
    kind, plugin, option = data.draw(st.sampled_from(_declared(registry)))
    value = data.draw(toml_values)
    path = tmp_path / "h.toml"
    path.write_text(plan_text(kind, plugin, option, value), encoding="utf-8", errors="surrogatepass")
    check_case(path, registry)


# -- the CLI: exit codes ---------------------------------------------------------------------------


def test_rcx_validate_exits_0_or_2_with_a_message_never_a_traceback(tmp_path):
    rng = random.Random(7)
    texts = [p.read_text() for p in EXAMPLES]
    files = []
    for i in range(60):
        f = tmp_path / f"case{i:02d}.toml"
        f.write_bytes(mutate(rng.choice(texts), rng))
        files.append(f)
    valid = tmp_path / "valid.toml"
    valid.write_text(EXAMPLES[0].read_text())
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-m", "rcx.cli", "validate"]
    ok = subprocess.run([*cmd, str(valid)], capture_output=True, text=True, env=env, timeout=300)
    assert ok.returncode == 0 and "ok" in ok.stdout, ok.stderr
    for f in files[:3]:  # one file per call: the exit code is that file's
        r = subprocess.run([*cmd, str(f)], capture_output=True, text=True, env=env, timeout=300)
        assert r.returncode in (0, 2) and "Traceback" not in r.stderr, r.stderr
        assert (r.returncode == 0) == (f"{f}: ok" in r.stdout) and (r.returncode == 0 or str(f) in r.stderr)
    r = subprocess.run([*cmd, *map(str, files)], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode in (0, 2) and "Traceback" not in r.stderr, r.stderr
    for f in files:  # every file is reported: "ok" on stdout or its problems on stderr
        assert f"{f}: ok" in r.stdout or str(f) in r.stderr, f
