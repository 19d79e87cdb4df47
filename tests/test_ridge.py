"""rcx.nn.ridge against scikit-learn, naive float64 closed forms and brute-force leave-one-out."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import RidgeClassifier
from sklearn.preprocessing import StandardScaler

from rcx.nn.ridge import RidgeAccumulator, RidgeModel, _centre_kernel, default_lam_grid, fit_ridge, make_targets

F64 = torch.float64


def relu_features(n: int, d: int, k: int, seed: int = 0, offset: float = 50.0, n_test: int = 500):
    """ReLU of a random projection of noisy class clusters plus per-feature noise: all >= 0, mean ~offset,
    test accuracy well below 100 % (so there are near-ties to get wrong). float32 (n, d), int64 (n,)."""
    g = torch.Generator().manual_seed(seed)
    p, m = 32, n + n_test
    y = torch.arange(m) % k
    y = y[torch.randperm(m, generator=g)]
    z = torch.randn(k, p, generator=g)[y] + 2.0 * torch.randn(m, p, generator=g)
    x = torch.relu(z @ torch.randn(p, d, generator=g) * (20 / p**0.5) + offset + 5 * torch.randn(m, d, generator=g))
    return x[:n], y[:n], x[n:], y[n:]


def reference(x: torch.Tensor, y: torch.Tensor, k: int, lam: float, targets: str = "pm1"):
    """Naive float64 closed form beta = (lam I + Xc^T Xc)^-1 Xc^T Tc (dual form when d > n), b = t - mu beta."""
    x = x.double()
    t = make_targets(y, k, targets, F64)
    mu, tm = x.mean(0), t.mean(0)
    xc, tc = x - mu, t - tm
    n, d = x.shape
    if d > n:
        w = xc.T @ torch.linalg.solve(xc @ xc.T + lam * torch.eye(n, dtype=F64), tc)
    else:
        w = torch.linalg.solve(xc.T @ xc + lam * torch.eye(d, dtype=F64), xc.T @ tc)
    return w, tm - mu @ w


def sklearn_scores(clf: RidgeClassifier, x: np.ndarray) -> np.ndarray:
    s = clf.decision_function(x)
    return np.stack([-s, s], 1) if s.ndim == 1 else s


def max_rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = torch.as_tensor(a).double(), torch.as_tensor(b).double()
    return ((a - b).abs().max() / b.abs().max()).item()


@pytest.mark.parametrize("lam", [1.0, 0.01])
@pytest.mark.parametrize("k", [10, 2])
@pytest.mark.parametrize("n,d,solver", [(200, 1000, "dual"), (300, 50, "primal")])
def test_matches_sklearn(n, d, solver, k, lam):
    xtr, ytr, xte, yte = relu_features(n, d, k, seed=k)
    model = fit_ridge(xtr, ytr, k, lam)
    assert model.solver == solver and model.lam == lam and model.loo_acc is None
    assert model.weight.shape == (d, k) and model.bias.shape == (k,) and model.weight.dtype == torch.float32

    clf = RidgeClassifier(alpha=lam).fit(xtr.double().numpy(), ytr.numpy())
    ref_pred = clf.predict(xte.double().numpy())
    assert 0.3 < (ref_pred == yte.numpy()).mean() < 0.98  # hard enough to have near-ties
    assert (model.predict(xte).numpy() == ref_pred).all()
    assert max_rel(model.decision(xte), sklearn_scores(clf, xte.double().numpy())) < 1e-3
    coef, bias = clf.coef_.reshape(-1, d).T, np.atleast_1d(clf.intercept_)
    if k == 2:  # sklearn keeps one column for two classes: the positive class's
        coef, bias = np.concatenate([-coef, coef], 1), np.concatenate([-bias, bias])
    assert max_rel(model.weight, coef) < 1e-3
    # the intercept nearly cancels mu @ W (mean ~50): compare on the scale of that product
    cancelled = (xtr.mean(0).double() @ torch.from_numpy(coef)).abs().max()
    assert (model.bias.double() - torch.from_numpy(bias)).abs().max() < 1e-3 * cancelled
    assert model.train_acc == pytest.approx((clf.predict(xtr.double().numpy()) == ytr.numpy()).mean())


@pytest.mark.parametrize("n,d", [(200, 1000), (300, 50)])
def test_streaming_equals_one_batch(n, d):
    xtr, ytr, xte, _ = relu_features(n, d, 5, n_test=200)
    acc = RidgeAccumulator(n, d, 5)
    edges = [0, 1, 8, 9, 40, 77, 150, 151, n]  # uneven batches, including single samples
    for lo, hi in zip(edges, edges[1:]):
        acc.add(xtr[lo:hi].to(torch.float64 if lo % 2 else torch.bfloat16 if lo == 8 else torch.float32), ytr[lo:hi])
    # the bf16 batch is rounded on the way in: compare against the same rounding
    x_same = xtr.clone()
    x_same[8:9] = x_same[8:9].to(torch.bfloat16).float()
    whole = fit_ridge(x_same, ytr, 5, 0.1)
    streamed = acc.fit(0.1)
    assert streamed.solver == whole.solver
    # different shifts (the first batch here is one sample) round differently: both are within
    # float32 noise of float64 (measured 1e-5 to 3e-5), so compare at 1e-4
    w, b = reference(x_same, ytr, 5, 0.1)
    ref = xte.double() @ w + b
    assert max_rel(streamed.decision(xte), ref) < 1e-4 and max_rel(whole.decision(xte), ref) < 1e-4
    assert max_rel(streamed.weight, whole.weight) < 1e-4
    assert max_rel(streamed.decision(xte), whole.decision(xte)) < 1e-4
    assert (streamed.predict(xte) == whole.predict(xte)).all()
    assert streamed.train_acc == whole.train_acc


@pytest.mark.parametrize("n,d", [(120, 400), (300, 50)])
@pytest.mark.parametrize("lam", [0.7, 1e-3])
def test_onehot_closed_form(n, d, lam):
    xtr, ytr, xte, _ = relu_features(n, d, 4, n_test=200)
    model = fit_ridge(xtr, ytr, 4, lam, targets="onehot")
    w, b = reference(xtr, ytr, 4, lam, "onehot")
    assert max_rel(model.weight, w) < 1e-3
    assert max_rel(model.decision(xte), xte.double() @ w + b) < 1e-4
    assert (model.predict(xte) == (xte.double() @ w + b).argmax(1)).all()
    onehot_fitted = (xtr.double() @ w + b).argmax(1)
    assert model.train_acc == pytest.approx((onehot_fitted == ytr).double().mean().item())


def _duplicated_samples(seed: int):
    g = torch.Generator().manual_seed(seed)
    y0 = torch.arange(30) % 3
    x0 = torch.relu(torch.randn(30, 200, generator=g) + y0[:, None] + 2)
    perm = torch.randperm(60, generator=g)
    return torch.cat([x0, x0])[perm], torch.cat([y0, y0])[perm], torch.relu(torch.randn(100, 200, generator=g) + 2)


def _duplicated_columns(seed: int):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(100) % 3
    x0 = torch.relu(torch.randn(100, 20, generator=g) + y[:, None] + 2)
    xt = torch.relu(torch.randn(100, 20, generator=g) + 2)
    return torch.cat([x0, x0, x0], 1), y, torch.cat([xt, xt, xt], 1)


def _huge(seed: int, n: int):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = (torch.randn(n, 100, generator=g) + y[:, None]) * 1e19  # float32 Gram entries overflow (> 3.4e38)
    return x, y, torch.randn(50, 100, generator=g) * 1e19


@pytest.mark.parametrize("case,lam,solver", [
    (lambda: _duplicated_samples(0), 1e-12, "dual+fp64"),
    (lambda: _duplicated_samples(1), 1e-12, "dual+fp64"),
    (lambda: _duplicated_columns(0), 1e-12, "primal+fp64"),
    (lambda: _huge(0, 50), 1.0, "dual+fp64"),
    (lambda: _huge(1, 150), 1.0, "primal+fp64"),
])
def test_fp64_fallback(case, lam, solver):
    x, y, xt = case()
    k = int(y.max()) + 1
    model = fit_ridge(x, y, k, lam)
    assert model.solver == solver
    assert torch.isfinite(model.weight).all() and torch.isfinite(model.bias).all()
    w, b = reference(x, y, k, lam)
    ref = xt.double() @ w + b
    assert max_rel(model.decision(xt), ref) < 1e-4
    assert (model.predict(xt) == ref.argmax(1)).all()


def _brute_force_loo(x: torch.Tensor, y: torch.Tensor, k: int, grid: list[float]) -> torch.Tensor:
    """(n, L, k) residuals t_i - f_{-i}(x_i), refitting in float64 without each sample."""
    n = x.shape[0]
    t = make_targets(y, k, "pm1", F64)
    out = torch.empty(n, len(grid), k, dtype=F64)
    for i in range(n):
        keep = torch.arange(n) != i
        for j, lam in enumerate(grid):
            out[i, j] = t[i] - fit_ridge(x[keep], y[keep], k, lam, dtype=F64).decision(x[i:i + 1])[0]
    return out


@pytest.mark.parametrize("d", [100, 10])  # n = 40: dual, primal
def test_loo_matches_brute_force(d):
    g = torch.Generator().manual_seed(d)
    n, k = 40, 3
    y = torch.arange(n) % k
    x = torch.relu(3 * torch.randn(n, d, generator=g) + y[:, None] + 5)
    grid = [0.03, 1.0, 30.0, 1000.0]
    brute = _brute_force_loo(x, y, k, grid)

    for dtype, tol in ((F64, 1e-8), (torch.float32, 1e-5)):
        acc = RidgeAccumulator(n, d, k, dtype=dtype)
        acc.add(x, y)
        res = acc.loo(grid)
        assert (res.residuals - brute).abs().max() < tol * brute.abs().max()

    brute_acc = ((make_targets(y, k, "pm1", F64)[:, None] - brute).argmax(2) == y[:, None]).double().mean(0)
    brute_mse = brute.square().mean((0, 2))
    best = max(range(len(grid)), key=lambda j: (brute_acc[j].item(), -brute_mse[j].item()))
    model = fit_ridge(x, y, k, "loo", lam_grid=grid)
    assert model.lam == grid[best]
    assert model.loo_acc == pytest.approx(brute_acc.max().item())
    assert model.loo_acc == pytest.approx(res.acc.max().item())
    assert model.solver == ("dual" if d > n else "primal")


@pytest.mark.parametrize("n,d", [(60, 300), (300, 40)])
def test_loo_default_grid_is_relative(n, d):
    xtr, ytr, _, _ = relu_features(n, d, 3, n_test=10)
    acc = RidgeAccumulator(n, d, 3)
    acc.add(xtr, ytr)
    xc = xtr.double() - xtr.double().mean(0)
    m = n if d > n else d
    expected = default_lam_grid(xc.square().sum().item(), m)
    assert torch.allclose(acc.loo().grid, expected, rtol=1e-4)
    scaled = RidgeAccumulator(n, d, 3)
    scaled.add(1e3 * xtr, ytr)
    model, model_scaled = acc.fit("loo"), scaled.fit("loo")
    # features 1000x larger: the relative grid picks the 1e6x larger lambda and the same classifier
    assert model_scaled.lam == pytest.approx(1e6 * model.lam, rel=1e-3)
    assert model.loo_acc == model_scaled.loo_acc
    assert model.lam in expected.tolist() or min(abs(model.lam / e - 1) for e in expected.tolist()) < 1e-4


@pytest.mark.parametrize("n,d", [(200, 1000), (300, 50)])
def test_standardize_matches_sklearn_scaler(n, d):
    xtr, ytr, xte, _ = relu_features(n, d, 5, offset=10.0)  # many zeros
    xtr[:, 3], xtr[:, 5] = 7.0, 0.0  # constant features: a non-zero one and a dead one
    scale_spread = torch.logspace(-3, 3, d)
    xtr, xte = xtr * scale_spread, xte * scale_spread
    assert (xtr.std(0) == 0).sum() >= 2

    model = fit_ridge(xtr, ytr, 5, 1.0, standardize=True)
    scaler = StandardScaler().fit(xtr.double().numpy())
    clf = RidgeClassifier(alpha=1.0).fit(scaler.transform(xtr.double().numpy()), ytr.numpy())
    zte = scaler.transform(xte.double().numpy())
    assert (model.predict(xte).numpy() == clf.predict(zte)).all()
    assert max_rel(model.decision(xte), sklearn_scores(clf, zte)) < 1e-3
    assert model.train_acc == pytest.approx((clf.predict(scaler.transform(xtr.double().numpy())) == ytr.numpy()).mean())
    assert np.isfinite(fit_ridge(xtr, ytr, 5, "loo", standardize=True).loo_acc)


@pytest.mark.parametrize("n,d", [(200, 1000), (300, 50)])
def test_shifted_accumulation_precision(n, d):
    g = torch.Generator().manual_seed(0)
    k = 5
    y = torch.arange(n) % k
    x = 1e3 + torch.randn(n, d, generator=g) + 0.5 * y[:, None] * torch.randn(1, d, generator=g)
    xt = 1e3 + torch.randn(500, d, generator=g)
    x64 = x.double()
    xc = x64 - x64.mean(0)
    exact = xc @ xc.T if d > n else xc.T @ xc

    acc = RidgeAccumulator(n, d, k)
    for lo in range(0, n, 32):
        acc.add(x[lo:lo + 32], y[lo:lo + 32])
    if d > n:
        ours = _centre_kernel(0.5 * (acc.gram + acc.gram.T)).double()
        naive = _centre_kernel(x @ x.T).double()
    else:
        mean = acc.x.mean(0, dtype=F64)
        ours = acc.gram.double() - n * torch.outer(mean, mean)
        naive = (x.T @ x).double() - n * torch.outer(x64.mean(0), x64.mean(0))
    rel = lambda g_: ((g_ - exact).norm() / exact.norm()).item()  # noqa: E731
    # naive float32: the mean's 1e6-sized squares swamp the O(1) centred Gram (measured 36-65 % error)
    assert rel(naive) > 0.1
    assert rel(ours) < 1e-6

    model = acc.fit(1.0)
    w, b = reference(x, y, k, 1.0)
    ref = xt.double() @ w + b
    assert max_rel(model.decision(xt), ref) < 1e-4
    assert (model.predict(xt) == ref.argmax(1)).all()
    # decision subtracts the training shift first; x @ weight + bias would lose ~1e-4 here
    assert max_rel(xt.double() @ model.weight.double() + model.bias.double(), ref) < 1e-3


def test_model_api_and_errors():
    xtr, ytr, xte, _ = relu_features(50, 80, 3, n_test=20)
    model = fit_ridge(xtr, ytr, 3, 1.0)
    assert isinstance(model, RidgeModel)
    assert model.predict(xte.to(torch.bfloat16)).dtype == torch.int64
    plain = RidgeModel(model.weight, model.bias, model.lam, model.train_acc, None, model.solver)
    assert max_rel(plain.decision(xte), model.decision(xte)) < 1e-4

    acc = RidgeAccumulator(50, 80, 3)
    acc.add(xtr[:30], ytr[:30])
    with pytest.raises(ValueError, match="fit after 30"):
        acc.fit(1.0)
    with pytest.raises(ValueError, match="too many"):
        acc.add(xtr, ytr)
    acc.add(xtr[30:], ytr[30:])
    with pytest.raises(ValueError, match="loo"):
        acc.fit("gcv")
    assert acc.fit(1.0).weight.shape == (80, 3)
    with pytest.raises(ValueError, match="targets"):
        RidgeAccumulator(10, 5, 2, targets="zero_one")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("n,d", [(200, 1000), (300, 50)])
def test_cuda_matches_cpu(n, d):
    xtr, ytr, xte, _ = relu_features(n, d, 5)
    cpu = fit_ridge(xtr, ytr, 5, "loo")
    cuda = fit_ridge(xtr.cuda(), ytr.cuda(), 5, "loo")
    assert cuda.weight.is_cuda and cuda.bias.is_cuda
    assert cuda.lam == pytest.approx(cpu.lam) and cuda.solver == cpu.solver
    assert max_rel(cuda.decision(xte.cuda()).cpu(), cpu.decision(xte)) < 1e-3
