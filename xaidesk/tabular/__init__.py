"""Tables, answered end to end: readable models, what-if curves, Shapley values, and how far to trust them.

Everything here works on a table already prepared as a feature matrix (:mod:`xaidesk.data.tables`)
and a target column, and returns plain numpy results and tables; the Tables tab and the
command line draw and write them.
"""


def load_builtin_methods() -> None:
    """Register every built-in method: :mod:`xaidesk.explain`'s and this layer's ``tabular.readable``."""
    from ..explain import load_builtin_methods as load_explain_methods
    from . import methods  # noqa: F401  (its import registers tabular.readable)

    load_explain_methods()
