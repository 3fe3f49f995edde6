"""Evaluation: the metric registry, the Evaluator, the naive baseline, the quality gate and the report.

The evaluation loop builds an EvalBatch per batch of model outputs, feeds an Evaluator, writes
the result with write_report and may check it with compare_to_baseline; `headline` sums the
model against the naive baseline up in a few lines.
"""

from tryon.eval.baseline import PastedGarment, naive_paste
from tryon.eval.evaluator import EvalResult, Evaluator
from tryon.eval.gate import GateResult, OutdatedReference, Regression, compare_to_baseline
from tryon.eval.records import EvalBatch
from tryon.eval.report import ReportPaths, write_report
from tryon.eval.summary import headline
from tryon.eval.weights import EvalWeights

__all__ = [
    "EvalBatch",
    "EvalResult",
    "EvalWeights",
    "Evaluator",
    "GateResult",
    "OutdatedReference",
    "PastedGarment",
    "Regression",
    "ReportPaths",
    "compare_to_baseline",
    "headline",
    "naive_paste",
    "write_report",
]
