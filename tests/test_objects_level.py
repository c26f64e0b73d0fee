"""The objects level: what becomes of every class (no Qt needed)."""

import numpy as np

from napari_cuts.objects import merge_nested_things, objects_partition


def cored_discs(n_side=6, size=20):
    """A (1, Y, X) class map: background 0, discs whose rim is class 1 and core class 2."""
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    r = np.hypot(yy, xx)
    tile = np.where(r < 4, 2, np.where(r < 8, 1, 0))
    return np.tile(tile, (n_side, n_side))[None].astype(np.int32)


def test_cores_join_their_rims_and_the_discs_are_objects():
    classes = cored_discs()
    joined, merged = merge_nested_things(classes, min_size=16, thing_solidity=0.8, few_pieces=3)
    assert merged == {2: 1}
    assert set(np.unique(joined)) == {0, 1}
    # pixels as nodes: each disc, core and rim, is one object of its own
    nodes = np.arange(classes.size).reshape(classes.shape)
    result = objects_partition(nodes, classes.ravel(), min_size=16, thing_solidity=0.8, few_pieces=3)
    part, fate = result.partition, result.fate
    assert result.instances.max() == 36  # the objects, per pixel
    assert fate == ["pieces", "objects", "objects with class 1"]
    part = part.reshape(classes.shape)[0]
    centres = [part[10 + 20 * i, 10 + 20 * j] for i in range(6) for j in range(6)]
    assert len(set(centres)) == 36
    assert part[10, 10] == part[10, 16]  # core and rim of one disc together


def test_tissue_classes_that_border_each_other_stay_apart():
    yy, xx = np.mgrid[:96, :96]
    wave = np.sin(xx / 7.0) + np.sin(yy / 11.0)
    classes = np.digitize(wave, [-0.6, 0.6])[None].astype(np.int32)  # three interleaved classes
    joined, merged = merge_nested_things(classes, min_size=16, thing_solidity=0.8, few_pieces=3)
    assert merged == {}
    np.testing.assert_array_equal(joined, classes)


def test_a_class_of_few_pieces_does_not_join_the_objects_around_it():
    classes = cored_discs()
    classes[0, :20, :40][classes[0, :20, :40] == 2] = 3  # the cores of two discs: a class of 2 pieces
    joined, merged = merge_nested_things(classes, min_size=16, thing_solidity=0.8, few_pieces=3)
    assert merged == {2: 1}
    assert (joined == 3).sum() == (classes == 3).sum()


def test_cored_nuclei_of_a_stack_are_one_object_each():
    """End to end: 9 ellipsoids with a bright core and a dim rim, segmented in 3D."""
    from napari_cuts.encoder import Encoder
    from napari_cuts.io import Normalization
    from napari_cuts.pipeline import SegmentConfig, segment

    zz, yy, xx = np.mgrid[:12, :72, :72]
    stack = np.full((12, 72, 72), 20.0)
    centres = [(6, 12 + 24 * i, 12 + 24 * j) for i in range(3) for j in range(3)]
    for cz, cy, cx in centres:
        r = np.sqrt(((zz - cz) / 4) ** 2 + ((yy - cy) / 9) ** 2 + ((xx - cx) / 9) ** 2)
        stack[r < 1] = 110
        stack[r < 0.5] = 230
    stack = np.clip(stack + np.random.default_rng(0).normal(0, 6, stack.shape), 0, 255).astype(np.uint8)
    encoder = Encoder.create(1, Normalization(np.zeros(1, np.float32), np.full(1, 255, np.float32)), seed=0)
    seg = segment(encoder, stack, SegmentConfig(vector_weight=0), is_stack=True)
    lab = seg.level(seg.default_level)
    cores = [lab[c] for c in centres]
    rims = [lab[cz, cy, cx + 7] for cz, cy, cx in centres]
    assert len(set(cores)) == 9
    assert cores == rims
    assert lab[0, 0, 0] not in cores


def flat_nuclei_pairs(n_pairs=4):
    """A (16, 48, 48 * n) class map: pairs of flat nuclei (3 slices deep, 9 pixels wide)
    overlapping obliquely, one a little above and beside the other; and their centres."""
    z, y, x = np.mgrid[:16, :48, :48 * n_pairs]
    classes = np.zeros(z.shape, np.int32)
    centres = []
    for i in range(n_pairs):
        for cz, cx in ((5, 15 + 48 * i), (8, 25 + 48 * i)):
            classes[((z - cz) / 3) ** 2 + ((y - 24) / 9) ** 2 + ((x - cx) / 9) ** 2 <= 1] = 1
            centres.append((cz, 24, cx))
    return classes, centres


def test_flat_nuclei_of_a_stack_of_unknown_spacing_are_split_as_if_round():
    """z spacing not known (None): touching flat nuclei are split with z scaled by how much
    wider than deep they are; taken as cubic voxels they merge in pairs."""
    from napari_cuts.regions import shape_anisotropy

    classes, centres = flat_nuclei_pairs()
    assert 2.5 < shape_anisotropy(classes == 1, 50) <= 4
    nodes = np.arange(classes.size).reshape(classes.shape)
    found, fate_unknown = {}, None
    for spacing in (None, 1.0):
        result = objects_partition(nodes, classes.ravel(), min_size=50, thing_solidity=0.8,
                                   few_pieces=3, anisotropy=spacing)
        part, fate = result.partition, result.fate
        assert fate[0] == "pieces" and fate[1].startswith("objects")
        part = part.reshape(classes.shape)
        found[spacing] = len({part[c] for c in centres})
        fate_unknown = fate if spacing is None else fate_unknown
    assert found[None] == len(centres)  # every nucleus its own object
    assert "z scaled" in fate_unknown[1]
    assert found[1.0] < len(centres)


def test_shape_anisotropy_of_planes_and_round_pieces_is_one():
    from napari_cuts.regions import shape_anisotropy

    z, y, x = np.mgrid[:20, :20, :20] - 9.5
    ball = (z ** 2 + y ** 2 + x ** 2) <= 64
    assert abs(shape_anisotropy(ball, 10) - 1) < 0.05
    assert shape_anisotropy(ball[:1], 10) == 1.0


def lesion_in_surround(size=64):
    """Pixels as nodes: a disc in the middle of a (size, size) image, a connected level
    (four vertical strips; the middle two share the disc) and a compact level (the disc,
    the rest in quarters)."""
    yy, xx = np.mgrid[:size, :size]
    disc = np.hypot(yy - size / 2, xx - size / 2) < size / 6
    connected = (xx // (size // 4)).astype(np.int64)
    compact = np.where(disc, 4, (yy >= size // 2) * 2 + (xx >= size // 2)).astype(np.int64)
    return disc, connected.ravel(), compact.ravel()


def test_a_surrounding_piece_is_split_along_compact_regions():
    from napari_cuts.objects import split_pieces

    disc, connected, compact = lesion_in_surround()
    nodes = np.arange(disc.size).reshape((1,) + disc.shape)
    whole = np.ones_like(nodes)
    parts = split_pieces(whole, nodes, connected, compact, surround=0.5)[0]
    assert len(np.unique(parts[disc])) == 1  # the disc whole, apart from its surround
    assert not np.isin(np.unique(parts[~disc]), np.unique(parts[disc])).any()
    # without compact regions, or as a piece of less than half the image: the connected cut
    for kept in (split_pieces(whole, nodes, connected)[0],
                 split_pieces(whole, nodes, connected, compact, surround=1.0)[0]):
        assert len(np.unique(kept[disc])) == 2


def noisy_node_stats(value, seed=0):
    """Pixels of a (Y, X) `value` as nodes: each node's mean point the value plus noise,
    spread 0.01, touching its 4 neighbours."""
    from napari_cuts.objects import NodeStats
    from napari_cuts.regions import adjacency

    rng = np.random.default_rng(seed)
    edges = adjacency(np.arange(value.size).reshape((1,) + value.shape))[0]
    value = value.ravel() + rng.normal(0, 0.1, value.size)
    return NodeStats(value[:, None].astype(np.float32), np.ones(value.size), np.full(value.size, 0.01), edges)


def test_a_homogeneous_surround_cut_along_compact_regions_is_joined_again():
    from napari_cuts.objects import merge_alike, split_pieces

    disc, _, compact = lesion_in_surround()
    nodes = np.arange(disc.size).reshape((1,) + disc.shape)
    parts = split_pieces(np.ones_like(nodes), nodes, np.zeros(disc.size, np.int64), compact)
    assert len(np.unique(parts)) == 5  # the compact regions: four quarters and the disc
    flat = noisy_node_stats(np.zeros(disc.shape))  # nothing distinct anywhere
    assert len(np.unique(merge_alike(parts, np.ones_like(nodes), nodes, flat, alike=0.5))) == 1


def test_alike_parts_of_a_piece_join_and_distinct_ones_stay():
    from napari_cuts.objects import merge_alike

    disc, _, compact = lesion_in_surround()
    nodes = np.arange(disc.size).reshape((1,) + disc.shape)
    stats = noisy_node_stats(np.where(disc, 1.0, 0.0))
    parts = compact.reshape(nodes.shape) + 1  # five parts: four quarters and the disc
    joined = merge_alike(parts, np.ones_like(nodes), nodes, stats, alike=0.5)[0]
    assert len(np.unique(joined)) == 2  # the quarters as one, the disc apart
    assert len(np.unique(joined[disc])) == 1 and joined[0, 0] != joined[32, 32]
    assert len(np.unique(merge_alike(parts, np.ones_like(nodes), nodes, stats, alike=0.0))) == 5


def test_alike_parts_join_wherever_they_lie_in_the_piece():
    """Eight stripes of two interleaved kinds (a class that holds two tissues): the
    stripes of one kind join although no two of them touch; the kinds stay apart. Small
    parts join only the parts they touch."""
    from napari_cuts.objects import merge_alike

    yy, xx = np.mgrid[:64, :64]
    stripe = xx // 8
    nodes = np.arange(stripe.size).reshape((1,) + stripe.shape)
    stats = noisy_node_stats((stripe % 2).astype(float))
    joined = merge_alike(stripe[None] + 1, np.ones_like(nodes), nodes, stats, alike=0.5)[0]
    assert len(np.unique(joined)) == 2
    assert len(np.unique(joined[stripe % 2 == 0])) == 1 and len(np.unique(joined[stripe % 2 == 1])) == 1
    # small alike parts that do not touch (dim nuclei in a background) stay apart
    spots = (np.hypot((yy % 16) - 8, (xx % 16) - 8) < 3)  # 16 small discs
    spot_id = np.where(spots, (yy // 16) * 4 + xx // 16 + 2, 1)
    spot_stats = noisy_node_stats(spots.astype(float))
    joined = merge_alike(spot_id[None], np.ones_like(nodes), nodes, spot_stats, alike=0.5)[0]
    assert len(np.unique(joined)) == 17
    # parts of another piece never join them
    pieces_ = np.where(xx < 32, 1, 2)[None]
    joined = merge_alike(stripe[None] + 1, pieces_, nodes, stats, alike=0.5)[0]
    assert len(np.unique(joined)) == 4


def test_finer_class_partitions_nearly_as_persistent_compete():
    from types import SimpleNamespace

    from napari_cuts.levels import class_events

    history = SimpleNamespace(n_clusters=[12, 5, 4, 3, 2, 1], persistence=[9, 2, 2, 4, 5, 1])
    assert class_events(history, max_classes=8) == [4]  # only the most persistent
    assert class_events(history, max_classes=8, within=0.75) == [4, 3]
    assert class_events(history, max_classes=8, within=0.0) == [4, 3, 2, 1]
    assert class_events(history, max_classes=1) == []
    # only the partitions just finer than the most persistent, while each is persistent
    history.persistence = [9, 4, 2, 4, 5, 1]
    assert class_events(history, max_classes=8, within=0.75) == [4, 3]
    history.persistence = [9, 1, 1, 1, 1, 1]  # nothing lasts: the coarsest, alone
    assert class_events(history, max_classes=8, within=0.75) == [4]


def bright_and_dim_discs(noise=0.03, texture=False, seed=0):
    """(1, 120, 120) image of 16 discs (radius 7) on a dark background: 11 bright (1.0),
    5 dim (0.45); each pixel a node; the found objects are the bright discs only. Returns
    the image, the objects level, the pixel nodes, the centres and which are dim."""
    from napari_cuts.objects import ObjectsLevel

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:120, :120]
    image = np.zeros((120, 120))
    instances = np.zeros((1, 120, 120), np.int64)
    centres = [(15 + 30 * i, 15 + 30 * j) for i in range(4) for j in range(4)]
    dim = [k % 3 == 1 for k in range(16)]
    for k, (cy, cx) in enumerate(centres):
        disc = np.hypot(yy - cy, xx - cx) < 7
        image[disc] = 0.45 if dim[k] else 1.0
        if not dim[k]:
            instances[0][disc] = instances.max() + 1
    if texture:  # a background of speckles as bright as the dim discs
        image += 0.45 * (rng.random(image.shape) < 0.3)
    image += rng.normal(0, noise, image.shape)
    nodes = np.arange(image.size).reshape(1, 120, 120)
    partition = np.where(instances.ravel() > 0, instances.ravel(), 0)
    return image, ObjectsLevel(partition, ["pieces", "objects"], instances), nodes, centres, dim


def connected_levels(image, nodes):
    """Node partitions: the pixels, the discs of a 0.2 threshold each one region, and the whole."""
    from skimage.measure import label

    regions = np.unique(label(image > 0.2, background=-1, connectivity=1), return_inverse=True)[1]
    return [nodes.ravel(), regions.ravel(), np.zeros(image.size, np.int64)]


def test_dim_objects_the_classes_missed_are_added():
    from napari_cuts.standout import add_dim_objects

    image, objects, nodes, centres, dim = bright_and_dim_discs()
    found, added = add_dim_objects(objects, nodes, connected_levels(image, nodes), image[None, ..., None], 0.35)
    assert added == sum(dim) == 5
    ids = [found.instances[0][c] for c in centres]
    assert all(i > 0 for i in ids) and len(set(ids)) == 16  # every disc its own object
    part = found.partition.reshape(1, 120, 120)[0]
    assert len({part[c] for c in centres}) == 16 and part[0, 0] not in {part[c] for c in centres}
    # never (1), or where the dim discs lie below the level asked for: nothing added
    for level in (1.0, 0.6):
        image, objects, nodes, centres, dim = bright_and_dim_discs()
        assert add_dim_objects(objects, nodes, connected_levels(image, nodes), image[None, ..., None], level)[1] == 0


def test_no_dim_objects_among_textures():
    from napari_cuts.standout import add_dim_objects

    image, objects, nodes, centres, dim = bright_and_dim_discs(texture=True)
    found, added = add_dim_objects(objects, nodes, connected_levels(image, nodes), image[None, ..., None], 0.35)
    assert added == 0 and found.instances.max() == 11


def test_dim_nuclei_of_a_stack_are_objects_at_the_default_level():
    """End to end: 16 blurred nuclei in 3D, 5 of them dim; the classes put the dim ones
    with the background, and they come back as objects of their own (the unit tests
    above show the mechanism)."""
    from scipy import ndimage

    from napari_cuts.encoder import Encoder
    from napari_cuts.io import Normalization
    from napari_cuts.pipeline import SegmentConfig, segment

    zz, yy, xx = np.mgrid[:12, :96, :96]
    stack = np.full(zz.shape, 20.0)
    centres = [(6, 12 + 24 * i, 12 + 24 * j) for i in range(4) for j in range(4)]
    dim = centres[1::3]
    masks = []
    for c in centres:
        cz, cy, cx = c
        masks.append(np.sqrt(((zz - cz) / 4) ** 2 + ((yy - cy) / 8) ** 2 + ((xx - cx) / 8) ** 2) < 1)
        stack[masks[-1]] = 100 if c in dim else 230
    stack = ndimage.gaussian_filter(stack, (1.5, 0.7, 0.7))
    stack = np.clip(stack + np.random.default_rng(0).normal(0, 8, stack.shape), 0, 255).astype(np.uint8)
    encoder = Encoder.create(1, Normalization(np.zeros(1, np.float32), np.full(1, 255, np.float32)), seed=0)

    def dice_of_dim(config):
        seg = segment(encoder, stack, config, is_stack=True)
        lab = seg.level(seg.default_level)
        out = []
        for c, m in zip(centres, masks):
            if c in dim:
                values, counts = np.unique(lab[m], return_counts=True)
                region = lab == values[np.argmax(counts)]
                out.append(2 * (m & region).sum() / (m.sum() + region.sum()))
        return np.array(out), seg.info["dim_objects"]

    dice, added = dice_of_dim(SegmentConfig(vector_weight=0))
    assert added >= 5 and (dice > 0.8).all()
    assert dice_of_dim(SegmentConfig(vector_weight=0, dim_objects=1))[1] == 0  # switched off


def test_an_object_inside_a_surround_is_cut_out_whole():
    """A bright disc in a 64x64 surround, and a thin bright L-shaped bar: among levels that
    cut the disc in two (vertical strips) and one that holds it whole, the disc comes out
    whole; the bar, as distinct but not compact, stays in the surround."""
    from napari_cuts.objects import split_pieces
    from napari_cuts.standout import salient_regions

    disc, connected, compact = lesion_in_surround()
    yy, xx = np.mgrid[:64, :64]
    bar = ((yy >= 4) & (yy < 6) & (xx >= 8) & (xx < 56)) | ((xx >= 54) & (xx < 56) & (yy >= 4) & (yy < 40))
    stats = noisy_node_stats(np.where(disc | bar, 1.0, 0.0))
    nodes = np.arange(disc.size).reshape((1,) + disc.shape)
    whole = np.where(disc, 1, 0).ravel() + np.where(bar, 2, 0).ravel()  # a level holding both whole
    within = np.ones(disc.size, bool)
    inner = salient_regions(within, [connected, whole], nodes, stats, solidity=0.8)
    assert len(np.unique(inner[disc.ravel()])) == 1 and inner[disc.ravel()][0] > 0
    assert (inner[bar.ravel()] == 0).all() and (inner[~(disc | bar).ravel()] == 0).all()
    # the surround cut along the strips, the disc whole apart from it
    parts = split_pieces(np.ones_like(nodes), nodes, connected, connected, surround=0.5,
                         inner_objects=lambda w: salient_regions(w, [connected, whole], nodes, stats, 0.8))[0]
    assert len(np.unique(parts[disc])) == 1
    assert not np.isin(np.unique(parts[~disc]), np.unique(parts[disc])).any()
    # a disc no level holds whole is not cut out
    assert (salient_regions(within, [connected], nodes, stats, solidity=0.8) == 0).all()


def test_a_lesion_with_a_brighter_core_is_cut_out_whole_not_its_core():
    """A disc whose core is brighter than its rim: the core alone stands out most, the
    whole disc over half as much; the whole disc is the object. A disc that stands out
    much less than its core (a rim nearly at the surround's level) leaves the core alone."""
    from napari_cuts.standout import disjoint_best, salient_regions

    yy, xx = np.mgrid[:64, :64]
    r = np.hypot(yy - 32, xx - 32)
    disc, core = r < 12, r < 7
    nodes = np.arange(disc.size).reshape((1,) + disc.shape)
    level = np.where(core, 2, np.where(disc, 1, 0)).ravel()  # core, rim, surround
    whole = disc.ravel().astype(np.int64)
    within = np.ones(disc.size, bool)

    def object_of(rim):
        stats = noisy_node_stats(np.where(core, 1.0, np.where(disc, rim, 0.0)))
        inner = salient_regions(within, [level, whole], nodes, stats, solidity=0.8)
        return inner.reshape(disc.shape) > 0

    assert (object_of(0.5) == disc).all()  # the whole disc, rim included (the core: 14, the disc: 10)
    assert (object_of(0.2) == core).all()  # a rim nearly like the surround: the core alone (35 vs 2.5)
    # the rule itself: a child scoring 3 gives way to a parent scoring >= half of it
    child, parent = np.array([0]), np.array([0, 1])
    assert [len(c) for c in disjoint_best([(3.0, child), (2.0, parent)], 2, whole=0.5)] == [2]
    assert [len(c) for c in disjoint_best([(3.0, child), (1.0, parent)], 2, whole=0.5)] == [1]
    assert [len(c) for c in disjoint_best([(3.0, child), (2.0, parent)], 2)] == [1]
