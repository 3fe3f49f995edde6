import numpy as np

from tryon.eval.cases import CaseSelector


def test_best_median_and_worst_are_chosen_and_only_kept_rows_are_rendered():
    rng = np.random.default_rng(0)
    scores = rng.permutation(1000) / 1000  # 0.000 .. 0.999, shuffled
    rendered = []
    selector = CaseSelector(per_group=2, reservoir=64, seed=0)
    for index, score in enumerate(scores):

        def render(index=index):
            rendered.append(index)
            return [np.zeros((4, 3, 3), dtype=np.uint8)]

        selector.offer(float(score), f"s{index}", "easy", render)
    cases = selector.select()
    assert [case.group for case in cases] == ["best", "best", "median", "median", "worst", "worst"]
    assert [case.score for case in cases[:2]] == [0.999, 0.998]
    assert [case.score for case in cases[4:]] == [0.001, 0.0]
    assert all(abs(case.score - 0.4995) < 0.05 for case in cases[2:4])  # near the true median
    assert len(rendered) == len(set(rendered)) < 300  # each row rendered at most once, most never


def test_a_small_split_is_shared_out_among_the_groups_without_repeats():
    selector = CaseSelector(per_group=3)
    for index, score in enumerate([0.5, 0.9, 0.1, float("nan")]):  # NaN: no region, not ranked
        selector.offer(score, f"s{index}", "hard", lambda: [np.zeros((2, 2, 3), dtype=np.uint8)])
    cases = selector.select()
    assert [(case.group, case.name) for case in cases] == [("best", "s1"), ("median", "s0"), ("worst", "s2")]
