"""Calibrated predictive uncertainty: the ensemble's σ_Q corrected by the lab's own measurements.

The DRXNet ensemble's spread σ_Q measures how much its members disagree, not how wrong they are
together: on the demo and on the real LMTO file errors are 5–20 σ_Q. Two calibrators turn the
ensemble's mean μ and σ_Q (of the primary objective) into a posterior acquisition can trust. Both
take plain arrays, the residuals ``r = measured − μ`` of compositions already measured and the σ_Q
the ensemble gave them, and both only ever *widen* σ (σ_cal ≥ σ_Q everywhere):

``scale``  σ_cal = s · σ_Q. ``s²`` is the maximum-likelihood variance scale of the residuals,
           ``mean(r² / σ_Q²)`` (each residual N(0, s² σ_Q²)), floored at 1. μ is unchanged.
``gp``     a residual Gaussian process (BoTorch ``SingleTaskGP``, zero prior mean, so the prior
           mean of the capacity is the ensemble mean) over element-amount vectors: μ_cal = μ +
           m_GP(x), σ_cal = max(σ_Q, √v_GP(x)) (v_GP includes the measurement noise; the GP
           models the whole error of μ, so σ_Q is a floor, not an addend: records fitted
           before the forward scale below kept σ_cal² = σ_Q² + v_GP and still apply so). Near a measured
           composition it corrects the mean and shrinks to the noise; far from every measurement
           it falls back to the prior variance, so a logged result moves only its neighbourhood.
           Conditioning on a new result is a Cholesky update of a few dozen points: no training.
           Its hyperparameters are maximum likelihood, then its predictive variance is scaled so
           that each suggestion round's residuals, predicted from the rounds before it, have
           unit mean z² (forward validation, :func:`_fit_gp`): likelihood alone let a common bias
           of the ensemble pass for local variance and gave a σ 1.6× too wide near the data.
``none``   the raw ensemble (μ, σ_Q).

Which is the default (``gp``, set in the campaign file's ``[acquisition]``): on 5 simulated UCB
campaigns (he-drx-1e4, κ = 1, 6 rounds of 8, median over seeds) the suggestions of rounds 4–6
fell within 1σ / 2σ of the prediction made before their synthesis: with the virtual lab as
truth raw 0 % / 0 %, scale 35 % / 85 % (one factor for all candidates), gp 71 % / 95 %; with
DRXNet member 0 raw 0 % / 11 %, scale 37 % / 84 %, gp 71 % / 95 % (nominal 68 % / 95 %). Before
the forward scale and the σ_Q floor the gp figures were 90 % / 100 % and 76 % / 95 %.

Conservative fallback (fewer than :data:`MIN_POINTS` measured compositions): nothing can be
fitted, so σ_cal² = σ_Q² + τ₀² with τ₀ = :data:`FALLBACK_REL` × |typical predicted value| (≈ 30
mAh/g for capacities around 200 mAh/g; the released ensemble's errors on real data are 20–60
mAh/g), and μ unchanged. The GP uses the same τ₀² as its prior variance until it can be fitted,
and its fitted prior variance is never below the spread of the prospective residuals over σ_Q².

A fit is a :class:`Calibration`: a JSON-serialisable record with its sha256 (stored with the
model version and with every suggestion), from which :meth:`Calibration.apply` reproduces the
calibrated posterior exactly. Only the primary objective (objective 0) is calibrated.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field

import numpy as np

from drxlab.exceptions import ModelError
from drxlab.vocabulary import CalibrationMethod, values

__all__ = [
    "FALLBACK_REL",
    "METHODS",
    "MIN_POINTS",
    "Calibration",
    "CalibrationError",
    "calibrated_members",
    "conservative_prior",
    "fit",
]

METHODS: tuple[str, ...] = values(CalibrationMethod)
"""Calibration methods: variance scale, residual GP, or the raw ensemble."""

MIN_POINTS = 5
"""Measured compositions needed before anything is fitted (below: the conservative fallback)."""

FALLBACK_REL = 0.15
"""Prior error σ τ₀ as a fraction of the typical |predicted value| (unit-free: mAh/g, mWh/g, ratios)."""

_NOISE_FLOOR_REL = 0.01  # GP noise σ ≥ 1 % of the typical value (cells vary by more than that)
_CHUNK = 20_000


class CalibrationError(ModelError):
    """A calibration that cannot be fitted, read or verified."""


@dataclass(frozen=True)
class Calibration:
    """A fitted calibration of the ensemble's primary objective (see the module docstring)."""

    method: str
    n: int
    """Measured compositions the fit used."""
    fallback: bool
    """True when fewer than :data:`MIN_POINTS` were measured (the conservative prior is used)."""
    scale: float = 1.0
    """σ multiplier s (method ``scale``; 1 otherwise)."""
    tau: float = 0.0
    """Additive prior σ τ (fallback and GP prior variance), objective units."""
    message: str = ""
    gp: dict = field(default_factory=dict)
    """GP state: ``lengthscale``, ``outputscale``, ``noise``, ``X`` (n x d) and ``r`` (n,)."""

    def record(self) -> dict:
        """The JSON-serialisable record (floats rounded to what JSON keeps exactly)."""
        return asdict(self)

    @property
    def sha256(self) -> str:
        return _sha(self.record())

    def summary(self) -> str:
        """One line a chemist reads: what the σ shown is."""
        if self.method == "none":
            return "calibration off: σ is the raw ensemble spread σ_Q"
        if self.fallback:
            return self.message
        if self.method == "scale":
            return f"σ = {self.scale:.2f} × σ_Q (variance scale fitted on {self.n} measured compositions)"
        forward = (
            f"; variance × {self.gp['forward_scale']:.2f} from {self.gp['forward_points']} results "
            "predicted from earlier rounds"
            if self.gp.get("forward_points", 0) >= MIN_POINTS
            else ""
        )
        return (
            f"residual GP on {self.n} measured compositions "
            f"(prior σ {math.sqrt(self.gp['outputscale']):.1f}, "
            f"length {self.gp['lengthscale']:.2f}, noise σ {math.sqrt(self.gp['noise']):.1f}{forward})"
        )

    def apply(self, X: np.ndarray, mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated (mean, σ) at candidates ``X`` (``n x d`` element amounts) from the raw ones.

        Always ``σ_cal >= std`` element-wise.
        """
        mean = np.asarray(mean, dtype=np.float64)
        std = np.asarray(std, dtype=np.float64)
        if self.method == "none":
            return mean.copy(), std.copy()
        if self.fallback or self.method == "scale":
            var = (self.scale * std) ** 2 + self.tau**2
            return mean.copy(), np.maximum(np.sqrt(var), std)
        m, v = _gp_posterior(self.gp, np.asarray(X, dtype=np.float64))
        if self.gp.get("combine", "sum") == "max":
            return mean + m, np.maximum(np.sqrt(v), std)
        return mean + m, np.maximum(np.sqrt(std**2 + v), std)  # records before the forward scale

    @classmethod
    def from_record(cls, record: object, sha256: str | None = None, *, label: str = "record") -> Calibration:
        """Rebuild a calibration from its record, checking its hash; a clear error if it is corrupt."""
        if not isinstance(record, dict):
            raise CalibrationError(f"calibration {label} is missing or not a JSON object")
        if sha256 is not None and _sha(record) != sha256:
            raise CalibrationError(
                f"calibration {label} is corrupt: its content does not match its sha256 {sha256[:12]}; "
                "restore the database from a backup",
                option="calibration",
                option_use="none to rank by the raw ensemble",
            )
        try:
            cal = cls(**record)
        except TypeError as exc:
            raise CalibrationError(f"calibration {label} is corrupt: {exc}") from None
        if cal.method not in METHODS or cal.scale < 1 or cal.tau < 0:
            raise CalibrationError(
                f"calibration {label} is corrupt: method {cal.method!r}, scale {cal.scale}, tau {cal.tau}"
            )
        if cal.method == "gp" and not cal.fallback:
            need = {"lengthscale", "outputscale", "noise", "X", "r"}
            if not need <= set(cal.gp) or len(cal.gp["X"]) != len(cal.gp["r"]):
                raise CalibrationError(f"calibration {label} is corrupt: GP state lacks {need - set(cal.gp)}")
            if cal.gp.get("combine", "sum") not in ("sum", "max"):
                raise CalibrationError(f"calibration {label} is corrupt: GP combine {cal.gp['combine']!r}")
        return cal


def fit(
    method: str,
    X: np.ndarray,
    residuals: np.ndarray,
    std: np.ndarray,
    *,
    typical: float,
    prospective: tuple[np.ndarray, np.ndarray] | None = None,
    rounds: np.ndarray | None = None,
) -> Calibration:
    """Fit a calibration on measured compositions.

    Args:
        method: One of :data:`METHODS`.
        X: ``n x d`` element amounts of the measured compositions (one row per composition).
        residuals: ``(n,)`` measured value − ensemble mean at the measurement's conditions.
        std: ``(n,)`` ensemble σ_Q at those compositions (as predicted before the measurement
            where known: prospective residuals are the honest ones).
        typical: a typical |predicted value| of the space (sets the fallback prior τ₀).
        prospective: for ``gp``, ``(residuals, σ_Q)`` of measurements as predicted *before* each
            was made, when ``residuals`` are those of a model already fine-tuned on them (which
            look smaller than its real errors): they floor the GP's prior variance (see
            :func:`_fit_gp`); ignored with fewer than :data:`MIN_POINTS`.
        rounds: for ``gp``, ``(n,)`` the round in which each composition was measured (0: logged
            without a suggestion): each round's residuals predicted from the earlier rounds'
            scale the GP's predictive variance (see :func:`_fit_gp`). ``None``: no such scale.

    Returns:
        A :class:`Calibration`; with fewer than :data:`MIN_POINTS` compositions the conservative
        fallback, whose ``message`` says so.
    """
    if method not in METHODS:
        raise CalibrationError(f"calibration {method!r} unknown; expected one of {', '.join(METHODS)}")
    X = np.asarray(X, dtype=np.float64).reshape(len(residuals), -1) if len(residuals) else np.zeros((0, 1))
    r = np.asarray(residuals, dtype=np.float64)
    s = np.asarray(std, dtype=np.float64)
    if not (np.isfinite(r).all() and np.isfinite(s).all() and np.isfinite(X).all()):
        raise CalibrationError("calibration data must be finite (a NaN measurement or prediction)")
    if not np.isfinite(typical) or typical <= 0:
        raise CalibrationError(f"typical value {typical} must be finite and > 0")
    n = len(r)
    if method == "none":
        return Calibration("none", n, False)
    tau0 = FALLBACK_REL * float(typical)
    if n < MIN_POINTS:
        return Calibration(
            method,
            n,
            True,
            tau=tau0,
            message=(
                f"only {n} measured composition{'s' * (n != 1)} (< {MIN_POINTS}): calibration not fitted; "
                f"conservative prior σ = √(σ_Q² + ({tau0:.3g})²)"
            ),
        )
    z2 = r**2 / np.maximum(s, 1e-9 * float(typical)) ** 2
    if method == "scale":
        scale = math.sqrt(max(1.0, float(z2.mean())))
        return Calibration("scale", n, False, scale=scale)
    rounds_ = None if rounds is None else np.asarray(rounds, dtype=np.float64).reshape(n)
    return _fit_gp(X, r, s, typical=float(typical), prospective=prospective, rounds=rounds_)


def conservative_prior(predicted: np.ndarray) -> Calibration:
    """The fallback calibration before any measurement, its τ₀ set by the ``predicted`` values."""
    typical = float(np.median(np.abs(predicted))) if len(predicted) else 1.0
    return fit("scale", np.zeros((0, 1)), np.zeros(0), np.zeros(0), typical=typical or 1.0)


def calibrated_members(Y: np.ndarray, mean_cal: np.ndarray, std_cal: np.ndarray) -> np.ndarray:
    """Member predictions ``s x n`` moved and stretched per candidate to mean ``mean_cal`` and
    population σ ``std_cal``, so every ensemble-based acquisition (UCB, EI, Thompson draws) sees
    the calibrated posterior. Where the members agree exactly (σ_Q = 0) the spread is created
    symmetrically (half the members at +σ, half at −σ)."""
    Y = np.asarray(Y, dtype=np.float64)
    mu = Y.mean(axis=0)
    dev = Y - mu
    sd = dev.std(axis=0)
    flat = sd <= 1e-12
    if flat.any():
        signs = np.where(np.arange(Y.shape[0]) % 2 == 0, 1.0, -1.0)
        if Y.shape[0] % 2:
            signs[-1] = 0.0
        dev[:, flat] = signs[:, None]
        sd = np.where(flat, dev.std(axis=0), sd)
    return mean_cal + dev * (std_cal / np.maximum(sd, 1e-300))


def _sha(record: dict) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _fit_gp(
    X: np.ndarray,
    r: np.ndarray,
    s: np.ndarray,
    *,
    typical: float,
    prospective: tuple[np.ndarray, np.ndarray] | None,
    rounds: np.ndarray | None,
) -> Calibration:
    """The residual GP: maximum-likelihood hyperparameters (one Matérn-5/2 length over all
    elements, output scale, noise), then its predictive variance scaled by forward validation.

    1. ML fit with floors: noise σ ≥ 1 % of ``typical``; prior variance ≥ the excess variance
       over σ_Q² of its own residuals and of the ``prospective`` ones, ``mean(r² − σ_Q²)``.
    2. Forward validation (with ``rounds``): each round's residuals predicted, with these
       hyperparameters, from the rounds before it, as the lab saw them; the output scale and
       the noise are multiplied by ``k = mean(z²)`` of those predictions (the mean is unchanged).
       Why: a zero-mean GP explains a common bias of the ensemble (on the virtual lab it
       under-predicts everywhere by 30–55 mAh/g) as local variance, so its σ grows with distance
       from the data far faster than the errors do; maximum likelihood cannot see that, the
       campaign's own next rounds can.
    3. The scaled prior variance is kept ≥ the prospective residuals' spread over σ_Q²,
       ``var(r) − mean(σ_Q²)`` (their bias is what the scale may remove, not their scatter).
    """
    import torch
    from botorch import settings
    from botorch.fit import fit_gpytorch_mll
    from gpytorch.mlls import ExactMarginalLogLikelihood

    pro_r, pro_s = (np.asarray(v, dtype=np.float64) for v in (prospective or (np.zeros(0), np.zeros(0))))
    honest = len(pro_r) >= MIN_POINTS
    excess = max(float(np.mean(r**2 - s**2)), float(np.mean(pro_r**2 - pro_s**2)) if honest else 0.0, 0.0)
    spread = max(float(np.var(pro_r) - np.mean(pro_s**2)), 0.0) if honest else 0.0
    noise_floor = (_NOISE_FLOOR_REL * typical) ** 2
    model = _gp(X, r, lengthscale=0.3, outputscale=max(excess, noise_floor, 1e-6), noise=noise_floor)
    model.likelihood.noise_covar.register_constraint("raw_noise", _greater_than(noise_floor))
    model.likelihood.noise = max(noise_floor * 1.01, float(np.var(r)) / 10)
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    with settings.validate_input_scaling(False):
        try:
            fit_gpytorch_mll(mll)
        except Exception as exc:
            note = f" (hyperparameter fit failed: {type(exc).__name__}; start values kept)"
        else:
            note = ""
    with torch.no_grad():
        fitted = (
            float(model.covar_module.base_kernel.lengthscale.squeeze()),
            float(model.covar_module.outputscale),
            float(model.likelihood.noise.squeeze()),
        )
    if not all(math.isfinite(v) and v > 0 for v in fitted):
        # residuals with no structure can send the optimiser to a degenerate point: keep the start
        fitted = (0.3, max(excess, noise_floor), max(noise_floor, float(np.var(r)) / 10))
        note = " (hyperparameter fit degenerate; start values kept)"
    # element amounts live in [0, ~1.3]: lengths outside [0.02, 10] are degenerate fits too
    state = {
        "lengthscale": min(max(fitted[0], 0.02), 10.0),
        "outputscale": max(fitted[1], excess, noise_floor),
        "noise": max(fitted[2], noise_floor),
        "X": X.tolist(),
        "r": r.tolist(),
    }
    k, m = _forward_scale(state, rounds) if rounds is not None else (1.0, 0)
    state["outputscale"] = max(state["outputscale"] * k, spread, noise_floor)
    state["noise"] = max(state["noise"] * k, noise_floor)
    state["forward_scale"] = k
    state["forward_points"] = m
    # the GP models the whole error of the ensemble mean: σ_Q is a floor on its σ, not an addend
    state["combine"] = "max"
    return Calibration(
        "gp", len(r), False, tau=math.sqrt(state["outputscale"]), gp=state, message=note.strip()
    )


FORWARD_SCALE_RANGE = (0.1, 10.0)
"""Bounds of the forward-validation variance scale (σ at most ~3× narrower or wider than ML's)."""


def _forward_scale(state: dict, rounds: np.ndarray) -> tuple[float, int]:
    """``(k, m)``: the mean z² of ``m`` residuals each predicted (GP ``state``'s hyperparameters,
    noise included) from those of earlier rounds; ``(1, m)`` with fewer than :data:`MIN_POINTS`.

    A round is predicted only from at least :data:`MIN_POINTS` earlier compositions, as a fit
    would have been then; round 0 (results logged without a suggestion) only predicts others.
    """
    X, r = np.asarray(state["X"]), np.asarray(state["r"])
    z2: list[np.ndarray] = []
    for rnd in np.unique(rounds[rounds > 0]):
        before, now = rounds < rnd, rounds == rnd
        if before.sum() < MIN_POINTS:
            continue
        m, v = _gp_posterior({**state, "X": X[before], "r": r[before]}, X[now])
        z2.append((r[now] - m) ** 2 / np.maximum(v, 1e-12))
    z = np.concatenate(z2) if z2 else np.zeros(0)
    if len(z) < MIN_POINTS:
        return 1.0, len(z)
    lo, hi = FORWARD_SCALE_RANGE
    return min(max(float(z.mean()), lo), hi), len(z)


def _greater_than(value: float):
    from gpytorch.constraints import GreaterThan

    return GreaterThan(value * 0.999)


def _gp(X: np.ndarray, r: np.ndarray, *, lengthscale: float, outputscale: float, noise: float):
    """A zero-mean ``SingleTaskGP`` on residuals with the given hyperparameters."""
    import torch
    from botorch import settings
    from botorch.models import SingleTaskGP
    from gpytorch.kernels import MaternKernel, ScaleKernel
    from gpytorch.means import ZeroMean

    tx = torch.as_tensor(X, dtype=torch.float64)
    ty = torch.as_tensor(r, dtype=torch.float64).unsqueeze(-1)
    with settings.validate_input_scaling(False):
        model = SingleTaskGP(
            tx,
            ty,
            mean_module=ZeroMean(),
            covar_module=ScaleKernel(MaternKernel(nu=2.5)),
            outcome_transform=None,
        )
    model.covar_module.base_kernel.lengthscale = lengthscale
    model.covar_module.outputscale = outputscale
    model.likelihood.noise = noise
    return model


def _gp_posterior(state: dict, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GP mean and predictive variance (noise included) of the residual at ``X``."""
    import torch

    model = _gp(
        np.asarray(state["X"], dtype=np.float64),
        np.asarray(state["r"], dtype=np.float64),
        lengthscale=state["lengthscale"],
        outputscale=state["outputscale"],
        noise=state["noise"],
    )
    model.eval()
    means, variances = [], []
    with torch.no_grad():
        for i in range(0, len(X), _CHUNK):
            # n x 1 x d: n independent q=1 posteriors, so no n x n covariance is formed
            post = model.posterior(torch.as_tensor(X[i : i + _CHUNK]).unsqueeze(-2), observation_noise=True)
            means.append(post.mean.reshape(-1))
            variances.append(post.variance.reshape(-1))
    if not means:
        return np.zeros(0), np.zeros(0)
    return torch.cat(means).numpy(), np.maximum(torch.cat(variances).numpy(), 0.0)
