"""Pareto fronts: the definition, checked by properties over random points and by hand."""

from hypothesis import given
from hypothesis import strategies as st

from edgekit.report.pareto import dominates, mark_pareto, pareto_front

points = st.lists(st.tuples(st.integers(0, 20), st.integers(1, 20)).map(lambda p: (p[0] / 20, float(p[1]))), max_size=25)


def test_small_example_by_hand():
    # (accuracy, cost): B is cheaper than A and as accurate, C is the most accurate, D is dominated by B.
    a, b, c, d = (0.90, 10.0), (0.90, 5.0), (0.95, 20.0), (0.85, 6.0)
    assert pareto_front([a, b, c, d]) == [1, 2]


@given(points)
def test_front_members_are_not_dominated_and_the_rest_are(pts):
    front = set(pareto_front(pts))
    for i, p in enumerate(pts):
        beaten = any(dominates(q, p) for q in pts)
        assert beaten == (i not in front)


@given(points)
def test_front_is_cheapest_first_and_accuracy_rises_along_it(pts):
    front = [pts[i] for i in pareto_front(pts)]
    costs = [p[1] for p in front]
    assert costs == sorted(costs)
    distinct = [p for k, p in enumerate(front) if k == 0 or p != front[k - 1]]
    assert all(x[0] < y[0] and x[1] < y[1] for x, y in zip(distinct, distinct[1:]))


@given(points)
def test_cheapest_and_most_accurate_are_on_the_front(pts):
    if not pts:
        assert pareto_front(pts) == []
        return
    front = {pts[i] for i in pareto_front(pts)}
    cheapest = min(pts, key=lambda p: (p[1], -p[0]))
    best = max(pts, key=lambda p: (p[0], -p[1]))
    assert cheapest in front and best in front


def test_mark_pareto_sets_flags_and_names():
    artifacts = [
        {"name": "big-float", "accuracy": 0.99, "gzip_bytes": 800_000, "latency_us": {"p50": 30.0}},
        {"name": "int8", "accuracy": 0.985, "gzip_bytes": 60_000, "latency_us": {"p50": 20.0}},
        {"name": "worse-int8", "accuracy": 0.98, "gzip_bytes": 70_000, "latency_us": {"p50": 25.0}},
        {"name": "fast-float16", "accuracy": 0.97, "gzip_bytes": 400_000, "latency_us": {"p50": 10.0}},
    ]
    fronts = mark_pareto(artifacts)
    assert fronts == {"size": ["int8", "big-float"], "latency": ["fast-float16", "int8", "big-float"]}
    assert artifacts[2]["pareto"] == {"size": False, "latency": False}
    assert artifacts[3]["pareto"] == {"size": False, "latency": True}
