"""Tables, answered end to end: readable models, what-if curves, Shapley values, and how far to trust them.

Everything here works on a table already prepared as a feature matrix (:mod:`xaidesk.data.tables`)
and a target column, and returns plain numpy results and tables; the Tables tab and the
command line draw and write them.
"""
