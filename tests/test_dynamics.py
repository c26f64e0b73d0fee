"""The basins merged by their dynamics (engine/hierarchy/dynamics.py)."""

from __future__ import annotations

import numpy as np

from napari_cuts.engine.hierarchy.dynamics import dynamics_partitions, extinctions, passes
from napari_cuts.engine.hierarchy.nodes import boundaries


def test_passes_are_the_lowest_point_of_each_boundary():
    labels = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 2, 2]])
    values = np.arange(12, dtype=float).reshape(3, 4)
    edges, _ = boundaries(labels, values)
    low = passes(labels, values, edges)
    assert edges.tolist() == [[0, 1], [0, 2], [1, 2]]
    assert low.tolist() == [1.5, 6.0, 8.0]  # (1+2)/2; (4+8)/2; (6+10)/2


def test_a_small_deep_basin_outlives_a_large_shallow_one():
    # a row of four basins: 0 deep (a nucleus), 1 and 2 shallow (background pieces), 3 deepest
    depth = np.array([0.0, 4.0, 4.5, -1.0])
    edges = np.array([[0, 1], [1, 2], [2, 3]])
    pass_ = np.array([5.0, 4.6, 4.8])
    tree, ends = extinctions(depth, edges, pass_)
    assert sorted(tree.tolist()) == [0, 1, 2]
    parts = dynamics_partitions(depth, edges, pass_, [4, 3, 2, 1])
    assert parts[4].tolist() == [0, 1, 2, 3]
    # first the two shallow basins (dynamics 0.1), then their group into the deepest
    # (0.8 below its pass), last the deep basin 0 (5 below its pass)
    assert len(set(parts[3].tolist())) == 3 and parts[3][1] == parts[3][2]
    assert parts[2][0] != parts[2][1] and parts[2][1] == parts[2][3]
    assert len(set(parts[1].tolist())) == 1
    for fine, coarse in ((parts[4], parts[3]), (parts[3], parts[2]), (parts[2], parts[1])):
        for r in np.unique(fine):  # nested: every finer region lies in one coarser region
            assert len(np.unique(coarse[fine == r])) == 1


def test_a_graph_in_pieces_stops_at_its_pieces():
    depth = np.zeros(4)
    edges = np.array([[0, 1], [2, 3]])
    parts = dynamics_partitions(depth, edges, np.ones(2), [1, 2])
    assert set(parts) == {2} and len(set(parts[2].tolist())) == 2
