"""Closed-form ridge classifier that matches scikit-learn's ``RidgeClassifier(alpha=lam)``.

Model (``fit_intercept=True``, intercept not penalised): with targets ``T`` (n, k), features
``X`` (n, d), column means ``mu = mean(X)``, ``t = mean(T)`` and centred ``X_c``, ``T_c``,

    W = argmin ||T_c - X_c W||^2 + lam ||W||^2      (no 1/n scaling, as sklearn)
    b = t - mu @ W,    prediction = argmax(x @ W + b)

``targets="pm1"`` is sklearn's: +1 for the class, -1 elsewhere, one column per class even for
two classes (argmax then equals sklearn's sign rule). ``targets="onehot"`` uses 1/0 columns,
seed 000's ``beta = (lam I + H^T H)^-1 H^T T`` with the intercept handled by centring.

The solve uses the smaller Gram matrix: the dual ``W = X_c^T (K_c + lam I)^-1 T_c`` with
``K_c = X_c X_c^T`` (n x n) when d > n, else the primal ``W = (C_c + lam I)^-1 X_c^T T_c``
with ``C_c = X_c^T X_c`` (d x d). The Gram matrix is accumulated while batches stream in, on
data shifted by ``mu0`` (the first batch's mean) and centred exactly at fit time: features of
ReLU networks are all positive with a mean far above their spread, and an uncentred float32
Gram loses most of its digits to that mean. Cholesky runs in float32; when it fails or gives
non-finite numbers the Gram matrix is rebuilt and solved in float64 (``solver`` says so).

``lam="loo"`` picks lambda from a grid by exact leave-one-out accuracy, all lambdas from one
float64 eigendecomposition of the centred Gram matrix (see ``RidgeAccumulator.fit``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

__all__ = ["RidgeAccumulator", "RidgeModel", "LooResult", "fit_ridge", "make_targets", "default_lam_grid", "TARGETS"]

TARGETS = ("pm1", "onehot")
LOO_POWERS = torch.linspace(-6.0, 2.0, 17, dtype=torch.float64)
"""Default LOO grid: lam = (trace(G_c) / m) * 10**p for these p (m: side of the Gram matrix)."""


@dataclass
class RidgeModel:
    """A fitted ridge classifier on raw (unstandardised) features.

    ``weight`` (d, k) and ``bias`` (k,) are sklearn's ``coef_.T`` and ``intercept_`` (float32,
    on the features' device), standardisation folded in. ``decision`` computes ``x @ weight +
    bias`` as ``(x - center) @ weight + center_bias`` when ``center`` (d,), the training shift,
    is set: large feature means then cancel before the matmul, not against the bias after it.
    """

    weight: Tensor
    bias: Tensor
    lam: float
    train_acc: float
    loo_acc: float | None
    solver: str
    center: Tensor | None = None
    center_bias: Tensor | None = None

    def decision(self, x: Tensor) -> Tensor:
        """Scores: (B, d) any float dtype -> (B, k) float32."""
        x = x.to(self.weight.dtype)
        if self.center is None or self.center_bias is None:  # set together
            return torch.addmm(self.bias, x, self.weight)
        return torch.addmm(self.center_bias, x - self.center, self.weight)

    def predict(self, x: Tensor) -> Tensor:
        """Labels: (B, d) any float dtype -> (B,) int64, the argmax of ``decision``."""
        return self.decision(x).argmax(dim=1)


@dataclass
class LooResult:
    """Exact leave-one-out statistics over a lambda grid (all float64, on the device).

    grid (L,): absolute lambdas; acc (L,): LOO accuracy; mse (L,): mean squared LOO residual;
    residuals (n, L, k): t_i - (prediction for sample i by the model fitted without it).
    """

    grid: Tensor
    acc: Tensor
    mse: Tensor
    residuals: Tensor

    @property
    def best(self) -> int:
        """Index of the highest LOO accuracy; ties go to the lower LOO mean squared error."""
        acc, mse = self.acc.tolist(), self.mse.tolist()
        return max(range(len(acc)), key=lambda j: (acc[j], -mse[j]))


def make_targets(y: Tensor, num_classes: int, kind: str = "pm1", dtype: torch.dtype = torch.float32) -> Tensor:
    """(n,) int64 labels -> (n, num_classes) targets: ``pm1`` in {-1, +1}, ``onehot`` in {0, 1}."""
    if kind not in TARGETS:
        raise ValueError(f"unknown targets {kind!r} (known: {', '.join(TARGETS)})")
    t = torch.nn.functional.one_hot(y, num_classes).to(dtype)
    return 2 * t - 1 if kind == "pm1" else t


def default_lam_grid(trace: float, m: int) -> Tensor:
    """(17,) float64 lambdas ``(trace / m) * 10**p``, p = -6, -5.5, ..., 2.

    ``trace / m`` is the mean eigenvalue of the centred Gram matrix (m = its side), so the grid
    follows the features' scale, which varies by orders of magnitude between architectures.
    """
    scale = trace / m if trace > 0 else 1.0
    return scale * 10.0 ** LOO_POWERS


def _cholesky_solve(a: Tensor, rhs: Tensor) -> Tensor | None:
    """Solve a x = rhs for symmetric positive definite a (m, m); None when Cholesky fails or
    the solution is not finite."""
    chol, info = torch.linalg.cholesky_ex(a)
    if info.item() != 0:
        return None
    x = torch.cholesky_solve(rhs, chol)
    return x if bool(torch.isfinite(x).all()) else None


def _eigh_solve(g: Tensor, lam: float, rhs: Tensor) -> Tensor:
    """Solve (g + lam I) x = rhs by eigendecomposition, dropping eigenvalues that vanish at
    working precision (pseudo-inverse: the last resort for singular systems)."""
    s, u = torch.linalg.eigh(g)
    s = s.clamp_min(0) + lam
    keep = s > s.max() * g.shape[0] * torch.finfo(g.dtype).eps
    inv = torch.where(keep, 1.0 / s.clamp_min(torch.finfo(g.dtype).tiny), torch.zeros_like(s))
    return u @ (inv[:, None] * (u.T @ rhs))


def _centre_kernel(k: Tensor) -> Tensor:
    """J k J for symmetric k (n, n), J = I - 11^T/n; row means accumulated in float64."""
    r = k.mean(dim=1, dtype=torch.float64)
    g = r.mean()
    r = r.to(k.dtype)
    return k - r[:, None] - r[None, :] + g.to(k.dtype)


def _add_constant_direction(kc: Tensor) -> Tensor:
    """kc + c 11^T with c n = trace(kc) / n: the centred kernel has the constant vector in its
    null space; this lifts that eigenvalue to the mean eigenvalue without changing the solution
    for right-hand sides orthogonal to 1 (centred targets), so tiny lambdas stay factorisable."""
    n = kc.shape[0]
    c = torch.diagonal(kc).sum(dtype=torch.float64).clamp_min(0) / n**2
    return kc + c.to(kc.dtype)


def _complement_eigh(k: Tensor) -> tuple[Tensor, Tensor]:
    """Eigendecomposition of k (n, n) float64 restricted to the complement of the constant vector.

    Returns s (n-1,) >= 0 and e (n, n-1) with orthonormal columns orthogonal to 1, so that
    J k J = e diag(s) e^T exactly up to rounding (no stray near-zero eigenvalue for the
    constant direction). Uses the Householder reflection q that maps 1/sqrt(n) to e_1.
    """
    n = k.shape[0]
    v = torch.full((n,), n**-0.5, dtype=k.dtype, device=k.device)
    v[0] -= 1.0
    beta = 2.0 / (v @ v)
    qk = k - beta * torch.outer(v, v @ k)
    m = qk - beta * torch.outer(qk @ v, v)
    sub = m[1:, 1:]
    s, u = torch.linalg.eigh(0.5 * (sub + sub.T))
    e = torch.cat([torch.zeros(1, n - 1, dtype=k.dtype, device=k.device), u]) - beta * torch.outer(v, v[1:] @ u)
    return s.clamp_min(0), e


class _Design(NamedTuple):
    """What the solver sees. feats (n, d): the shifted features, or standardised ones; mean (d,)
    float64: their column means; gram: their uncentred Gram matrix, symmetrised (n, n) or
    (d, d); scale (d,) float64: the standardisation scale, else None; offset (d,) float64: the
    column means of the shifted buffer (what standardisation subtracted)."""

    feats: Tensor
    mean: Tensor
    gram: Tensor
    scale: Tensor | None
    offset: Tensor


class RidgeAccumulator:
    """Streams (features, labels) batches into a ridge classifier.

    ``n`` training samples of ``d`` features arrive through ``add`` in any number of batches;
    the total is fixed upfront. The shifted features ``x - mu0`` live in an (n, d) buffer of
    ``dtype`` (float32) on ``device``, and the shifted Gram matrix is built as they come: the
    kernel K (n, n) when d > n (dual), else C = X^T X (d, d) (primal).
    """

    def __init__(self, n: int, d: int, num_classes: int, *, targets: str = "pm1", standardize: bool = False,
                 device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> None:
        if targets not in TARGETS:
            raise ValueError(f"unknown targets {targets!r} (known: {', '.join(TARGETS)})")
        if n < 2 or d < 1 or num_classes < 2:
            raise ValueError(f"need n >= 2, d >= 1, num_classes >= 2 (got n={n}, d={d}, num_classes={num_classes})")
        self.n, self.d, self.num_classes = n, d, num_classes
        self.targets, self.standardize, self.dtype = targets, standardize, dtype
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.dual = d > n
        self.x = torch.empty(n, d, dtype=dtype, device=self.device)
        self.y = torch.empty(n, dtype=torch.int64, device=self.device)
        m = n if self.dual else d
        self.gram = torch.zeros(m, m, dtype=dtype, device=self.device)
        self.shift: Tensor | None = None
        self.count = 0

    @torch.no_grad()
    def add(self, x: Tensor, y: Tensor) -> None:
        """Append a batch: x (B, d) any float dtype (converted to ``dtype``), y (B,) int64 labels."""
        b = x.shape[0]
        if x.dim() != 2 or x.shape[1] != self.d or y.shape != (b,):
            raise ValueError(f"expected x (B, {self.d}) and y (B,), got {tuple(x.shape)} and {tuple(y.shape)}")
        lo, hi = self.count, self.count + b
        if hi > self.n:
            raise ValueError(f"too many samples: {hi} > n = {self.n}")
        x = x.to(device=self.device, dtype=self.dtype)
        if self.shift is None:
            self.shift = x.mean(dim=0, dtype=torch.float64).to(self.dtype)
        xs = self.x[lo:hi]
        torch.sub(x, self.shift, out=xs)
        self.y[lo:hi] = y.to(self.device)
        if self.dual:
            block = xs @ self.x[:hi].T
            self.gram[lo:hi, :hi] = block
            self.gram[:lo, lo:hi] = block[:, :lo].T
        else:
            self.gram.addmm_(xs.T, xs)
        self.count = hi

    @torch.no_grad()
    def fit(self, lam: float | str = 1.0, lam_grid: Tensor | Sequence[float] | None = None) -> RidgeModel:
        """Solve the ridge problem for all ``n`` samples added so far.

        ``lam``: the penalty (sklearn's alpha, absolute), or ``"loo"`` to pick it from a grid by
        exact leave-one-out accuracy (ties: lower LOO mean squared error). The default grid is
        relative: ``(trace(G_c) / m) * 10**p`` for p in ``linspace(-6, 2, 17)``, where G_c is
        the centred Gram matrix of the fit (K_c, m = n, for d > n; C_c, m = d, otherwise) and
        trace / m its mean eigenvalue; ``lam_grid`` (absolute values) overrides it. With
        ``standardize=True`` LOO keeps the full-sample feature statistics. ``lam_grid`` is
        ignored for a numeric ``lam``.
        """
        if self.count != self.n:
            raise ValueError(f"fit after {self.count} of n = {self.n} samples")
        shift = self._shift()
        design = self._design()
        t = make_targets(self.y, self.num_classes, self.targets, torch.float64)
        t_mean = t.mean(dim=0)

        loo_acc = None
        if isinstance(lam, str):
            if lam != "loo":
                raise ValueError(f"lam must be a number or 'loo', got {lam!r}")
            grid = None if lam_grid is None else torch.as_tensor(lam_grid, dtype=torch.float64, device=self.device)
            res = self._loo(design, t, grid)
            lam, loo_acc = res.grid[res.best].item(), res.acc[res.best].item()
        lam = float(lam)
        if lam < 0:
            raise ValueError(f"lam must be >= 0, got {lam}")

        weight, solver = self._solve(design, t - t_mean, lam)
        w64 = weight.double()
        center_bias = t_mean - design.mean @ w64
        fitted = torch.addmm(center_bias.to(self.dtype), design.feats, weight)
        train_acc = (fitted.argmax(dim=1) == self.y).double().mean().item()

        if design.scale is not None:
            # z = (xs - offset) / scale, so z @ w + c = xs @ (w / scale) + c - offset @ (w / scale)
            w64 = w64 / design.scale[:, None]
            center_bias = center_bias - design.offset @ w64
        bias = center_bias - shift.double() @ w64
        return RidgeModel(weight=w64.to(self.dtype), bias=bias.to(self.dtype), lam=lam, train_acc=train_acc,
                          loo_acc=loo_acc, solver=solver, center=shift.clone(),
                          center_bias=center_bias.to(self.dtype))

    def _shift(self) -> Tensor:
        """The first batch's mean (d,) in ``dtype``, set by the first :meth:`add`."""
        if self.shift is None:
            raise ValueError("no samples added yet")
        return self.shift

    def _design(self) -> _Design:
        """The stored buffers, or (standardize=True) the z-scored features and their Gram matrix."""
        offset = self.x.mean(dim=0).double()  # torch's cascade sum: float32 is accurate, 10x faster
        if not self.standardize:
            return _Design(self.x, offset, 0.5 * (self.gram + self.gram.T), None, offset)
        z = self.x - offset.to(self.dtype)
        var = (z * z).mean(dim=0).double()
        # sklearn's StandardScaler: variance indistinguishable from rounding error -> scale 1.
        eps = torch.finfo(torch.float64).eps
        raw_mean = offset + self._shift().double()
        constant = var <= self.n * eps * var + (self.n * raw_mean * eps) ** 2
        scale = torch.where(constant, torch.ones_like(var), var.sqrt())
        z /= scale.to(self.dtype)
        gram = z @ z.T if self.dual else z.T @ z
        return _Design(z, z.mean(dim=0).double(), 0.5 * (gram + gram.T), scale, offset)

    def _solve(self, design: _Design, tc64: Tensor, lam: float) -> tuple[Tensor, str]:
        """Weights (d, k) in ``dtype`` for centred float64 targets tc64 (n, k), and the solver's
        name. float32 Cholesky first; float64 from the stored features when that fails."""
        feats, mean, gram = design.feats, design.mean, design.gram
        n = feats.shape[0]
        tc = tc64.to(self.dtype)
        kind = "dual" if self.dual else "primal"
        if self.dual:
            a = _add_constant_direction(_centre_kernel(gram))
            rhs = tc
        else:
            a = gram - (n * torch.outer(mean, mean)).to(gram.dtype)
            rhs = feats.T @ tc - torch.outer(mean.to(tc.dtype), tc.sum(dim=0))
        a.diagonal().add_(lam)
        sol = _cholesky_solve(a, rhs)
        if sol is not None:
            w = feats.T @ (sol - sol.mean(dim=0)) if self.dual else sol
            if bool(torch.isfinite(w).all()):
                return w, kind

        # float64 from the stored features: the float32 Gram matrix itself may be what failed.
        xc = feats.double() - mean
        if self.dual:
            g = _add_constant_direction(xc @ xc.T)
            rhs = tc64
        else:
            g = xc.T @ xc
            rhs = xc.T @ tc64
        kind += "+fp64"
        sol = _cholesky_solve(g + lam * torch.eye(g.shape[0], dtype=g.dtype, device=g.device), rhs)
        if sol is None:
            sol, kind = _eigh_solve(g, lam, rhs), kind + "+eigh"
        w = xc.T @ (sol - sol.mean(dim=0)) if self.dual else sol
        return w.to(self.dtype), kind

    @torch.no_grad()
    def loo(self, lam_grid: Tensor | Sequence[float] | None = None) -> LooResult:
        """Exact leave-one-out statistics over ``lam_grid`` (absolute; default: the relative grid
        of ``fit``) for the samples added so far (all ``n`` must be in)."""
        if self.count != self.n:
            raise ValueError(f"loo after {self.count} of n = {self.n} samples")
        t = make_targets(self.y, self.num_classes, self.targets, torch.float64)
        grid = None if lam_grid is None else torch.as_tensor(lam_grid, dtype=torch.float64, device=self.device)
        return self._loo(self._design(), t, grid)

    def _loo(self, design: _Design, t: Tensor, grid: Tensor | None) -> LooResult:
        """LOO over ``grid`` (None: the default relative grid) for float64 targets t (n, k).

        The hat matrix with an unpenalised intercept is H = 11^T/n + H_c. One float64
        eigendecomposition of the centred Gram matrix serves every lambda: dual, K_c = e s e^T
        on the complement of 1, H_c = e diag(s/(s+lam)) e^T and 1 - H_ii = sum_j e_ij^2
        lam/(s_j+lam) (no cancellation); primal, C_c = V s V^T, p = X_c V,
        H_c = p diag(1/(s+lam)) p^T, its diagonal without forming n x n matrices. The LOO
        residual of sample i is (t_i - fitted_i) / (1 - H_ii), its LOO prediction t_i minus that.
        """
        n, k = t.shape
        tc = t - t.mean(dim=0)
        feats, mean, gram = design.feats, design.mean, design.gram
        eps = torch.finfo(torch.float64).eps
        if self.dual:
            s, e = _complement_eigh(gram.double())
            grid = default_lam_grid(s.sum().item(), n).to(s.device) if grid is None else grid
            s = torch.where(s > s.max() * n * eps, s, torch.zeros_like(s))
            shrink = s[:, None] / (s[:, None] + grid)                      # (n-1, L)
            coef = (e.T @ tc)[:, None, :] * shrink[:, :, None]              # (n-1, L, k)
            fitted_c = (e @ coef.reshape(n - 1, -1)).reshape(n, -1, k)
            one_minus_h = (e * e) @ (1 - shrink)                            # (n, L)
        else:
            xc = feats.double() - mean
            cc = gram.double() - n * torch.outer(mean, mean)
            s, v = torch.linalg.eigh(0.5 * (cc + cc.T))
            grid = default_lam_grid(s.sum().item(), self.d).to(s.device) if grid is None else grid
            p = xc @ v
            p[:, s <= s.max() * self.d * eps] = 0
            inv = 1 / (s.clamp_min(0)[:, None] + grid)                     # (d, L)
            coef = (p.T @ tc)[:, None, :] * inv[:, :, None]                 # (d, L, k)
            fitted_c = (p @ coef.reshape(self.d, -1)).reshape(n, -1, k)
            one_minus_h = 1 - 1 / n - (p * p) @ inv                         # (n, L)
        resid = (tc[:, None, :] - fitted_c) / one_minus_h[:, :, None]
        acc = ((t[:, None, :] - resid).argmax(dim=2) == self.y[:, None]).double().mean(dim=0)
        mse = resid.square().mean(dim=(0, 2)).nan_to_num(nan=torch.inf)
        acc = torch.where(torch.isfinite(mse), acc, torch.zeros_like(acc))
        return LooResult(grid=grid, acc=acc, mse=mse, residuals=resid)


def fit_ridge(x_train: Tensor, y_train: Tensor, num_classes: int, lam: float | str = 1.0, *,
              lam_grid: Tensor | Sequence[float] | None = None, targets: str = "pm1",
              standardize: bool = False, dtype: torch.dtype = torch.float32) -> RidgeModel:
    """In-memory convenience: x_train (n, d) float, y_train (n,) int64 -> ``RidgeModel`` on
    x_train's device (one ``RidgeAccumulator.add`` of the whole set)."""
    acc = RidgeAccumulator(x_train.shape[0], x_train.shape[1], num_classes, targets=targets,
                           standardize=standardize, device=x_train.device, dtype=dtype)
    acc.add(x_train, y_train)
    return acc.fit(lam, lam_grid)
