"""NAS-Bench-Macro: 50-epoch CIFAR-10 accuracy of its 3,969 distinct networks (``nb_macro``).

The file ``data/nas_bench_macro_cifar10.csv.gz`` (header ``arch,cifar10_test_mean,
cifar10_test_run1,cifar10_test_run2,cifar10_test_run3,std,params,flops``) has one row for each
of the 6,561 codes; codes that build the same network repeat its one record. The table keys by
the canonical code (:func:`rcx.nn.nb_macro_codes.canonical_code`), the id rcx's ``nb_macro``
space gives every architecture, so it holds 3,969 ids. It is NAS-Bench-Macro data (Apache-2.0,
Su et al.); see ``data/NOTICE.md`` for its provenance and checksum. ``params`` and ``flops``
(classifier included) are not subsets: rcx's own columns are the same counts without the
classifier (:func:`published_costs`).
"""

from __future__ import annotations

from rcx.api.options import Metric
from rcx.nn.nb_macro_codes import canonical_code
from rcx.truth.base import TruthTable, Values, columns_by_id, read_packaged_csv

FILE = "nas_bench_macro_cifar10.csv.gz"
SHA256 = "544c649976a9ea22a53e245442a2196e91a042e1a6ed02b918968ae86bb624cd"
SIZE = 3_969
CODES = 6_561

#: subset -> column of the file
COLUMNS = {"cifar10": "cifar10_test_mean", "cifar10_run1": "cifar10_test_run1",
           "cifar10_run2": "cifar10_test_run2", "cifar10_run3": "cifar10_test_run3", "cifar10_std": "std"}


class NBMacroTruth(TruthTable):
    name = "nb_macro"
    version = "1"
    space = "nb_macro"
    help = "NAS-Bench-Macro: 50-epoch CIFAR-10 test accuracy (%) of its 3,969 distinct networks, 3 runs"
    subsets = (
        Metric("cifar10", "%", True, "CIFAR-10 test accuracy, mean of the 3 runs"),
        Metric("cifar10_run1", "%", True, "CIFAR-10 test accuracy, run 1"),
        Metric("cifar10_run2", "%", True, "CIFAR-10 test accuracy, run 2"),
        Metric("cifar10_run3", "%", True, "CIFAR-10 test accuracy, run 3"),
        Metric("cifar10_std", "%", False, "standard deviation of the 3 runs (numpy's, ddof 0)"),
    )
    attribution = (
        "NAS-Bench-Macro (Apache-2.0): Su, Huang, Li, You, Wang, Qian, Zhang & Xu, Prioritized Architecture "
        "Sampling with Monte-Carlo Tree Search, CVPR 2021; repository xiusu/NAS-Bench-Macro, "
        "data/nas-bench-macro_cifar10.json. CIFAR-10 test accuracy after 50 epochs, 3 independent runs."
    )

    def load(self) -> Values:
        """Parse the packaged file: ``{canonical code: {subset: %}}``, one entry per network."""
        values = columns_by_id(FILE, COLUMNS)
        return {code: v for code, v in values.items() if canonical_code(code) == code}


def published_costs() -> dict[str, tuple[int, int]]:
    """The benchmark's ``(params, flops)`` per code, all 6,561 (classifier included; FLOPs are
    multiply-accumulates of the convolutions and the classifier's weights)."""
    header, rows = read_packaged_csv(FILE)
    k, p, f = header.index("arch"), header.index("params"), header.index("flops")
    return {row[k]: (int(row[p]), int(row[f])) for row in rows}
