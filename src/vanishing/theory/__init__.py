"""Mean-field theory of gradient flow: how many orders of magnitude a config loses, and why.

Pure functions of floats (no networks are built): the variance map and its fixed point q*, the
per-layer gradient factor χ₁ and depth scale ξ_∇, the correlation map (c*, χ_c, ξ_c), the phase,
the critical σ_w², per-layer predictions for a whole config and their comparison with a measured trace, and the
same map through time for a vanilla RNN (:mod:`~vanishing.theory.recurrent`).

Example:
    >>> from vanishing import theory
    >>> round(theory.critical_sigma_w2("tanh", sigma_b2=0.05), 2)
    1.76
"""

from .compare import Comparison, compare_with_measurement
from .meanfield import (
    PHASE_TOLERANCE,
    MeanField,
    Phase,
    c_star,
    chi1,
    chi_c,
    correlation_map,
    critical_sigma_w2,
    depth_scale,
    mean_field,
    phase,
    q_star,
    variance_map,
)
from .phase_diagram import FIGURE_SUFFIXES, PhaseDiagram, phase_diagram, plot_phase_diagram
from .predict import Prediction, predict, predict_gains
from .quadrature import gaussian_expectation
from .recurrent import RecurrentPrediction, predict_recurrent, predict_rnn_config, time_scale
from .scales import sigma_b2_of_init, sigma_w2_of_init

__all__ = [
    "FIGURE_SUFFIXES",
    "PHASE_TOLERANCE",
    "Comparison",
    "MeanField",
    "Phase",
    "PhaseDiagram",
    "Prediction",
    "RecurrentPrediction",
    "c_star",
    "chi1",
    "chi_c",
    "compare_with_measurement",
    "correlation_map",
    "critical_sigma_w2",
    "depth_scale",
    "gaussian_expectation",
    "mean_field",
    "phase",
    "phase_diagram",
    "plot_phase_diagram",
    "predict",
    "predict_gains",
    "predict_recurrent",
    "predict_rnn_config",
    "q_star",
    "sigma_b2_of_init",
    "sigma_w2_of_init",
    "time_scale",
    "variance_map",
]
