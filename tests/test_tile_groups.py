"""Several kinds of tile on one chip: tile_groups, per-layer groups, per-group statistics.

The worked example, hw_configs/wu2023_two_groups.yaml, puts LeNet's convolutions on 256x64
arrays with 8-bit ADCs and its classifier on 64x64 arrays with 4-bit ADCs; its counts and
energies are computed here by hand from the config's numbers (wu2023_64x64.yaml, whose sources
are Wu et al. 2023 in archsim/REFERENCES.md) and the tile's cycle rules (archsim.hw.tile).
"""

from __future__ import annotations

import pytest
from conftest import CONFIGS

from archsim import api
from archsim.cli import main
from archsim.config import load_hardware
from archsim.errors import ConfigError, MappingError

TWO = CONFIGS / "wu2023_two_groups.yaml"
LENET = CONFIGS.parent / "traces" / "lenet-wu_trained_16.jsonl.gz"

# wu2023_64x64.yaml's per-action energies, J.
ROW_READ, DRIVE, SAMPLE, CONVERT_8B, OP = 8.8e-15, 13.17e-15, 1e-12, 10e-12, 1.418e-9


def per_operation_j(rows: int, adc_bits: int) -> float:
    """One operation of a Wu et al. tile of ``rows`` x 64 cells: 8 column groups x 8 input
    bits = 64 reads, each driving every row (gate_idle_rows false) and reading it once; 64
    columns sensed for 8 slices (512 TIA samples) and converted once each (analog
    accumulation), the conversion energy scaling x 2^(bits - 8) (Walden)."""
    reads = 8 * 8
    return (
        rows * reads * (DRIVE + ROW_READ)
        + 64 * 8 * SAMPLE
        + 64 * CONVERT_8B * 2.0 ** (adc_bits - 8)
        + OP
    )


def test_two_groups_counts_and_energies_match_a_hand_computation():
    """LeNet-Wu: conv1 (25 x 4) and conv2 (100 x 12) fit one 256-row array each, for 576 and
    64 operations per image; fc1 (192 x 10) needs three 64-row arrays, one operation each.
    Every operation takes 8 x (8 + 1) = 72 cycles in both groups (a 4-bit conversion still
    takes one cycle), so the latency is 641 x 72 cycles as on the one-group chip."""
    report = api.run(TWO, LENET)
    conv, fc = report["groups"]["conv"], report["groups"]["fc"]
    assert (conv["crossbars_used"], conv["crossbars"], conv["tiles"]) == (2, 4, 4)
    assert (fc["crossbars_used"], fc["crossbars"], fc["first_tile"]) == (3, 3, 4)
    assert conv["counters"]["tile_ops"] == 576 + 64 and fc["counters"]["tile_ops"] == 3
    assert conv["counters"]["macs"] == 576 * 25 * 4 + 64 * 100 * 12
    assert fc["counters"]["macs"] == 192 * 10
    conv_op, fc_op = per_operation_j(256, 8), per_operation_j(64, 4)
    # The paper's 256x64 figure, from which wu2023_64x64.yaml derives its DAC energy: a check
    # that the group's tile is the calibrated one, not an independent validation.
    assert conv_op == pytest.approx(2.93e-9, rel=1e-3)
    assert conv["energy_j"] == pytest.approx(640 * conv_op, rel=1e-12)
    assert fc["energy_j"] == pytest.approx(3 * fc_op, rel=1e-12)
    assert fc["energy_breakdown_j"]["adc"] == pytest.approx(3 * 64 * 10e-12 / 16, rel=1e-12)
    per = report["per_inference"]
    assert per["energy_j"] == pytest.approx(conv["energy_j"] + fc["energy_j"], rel=1e-12)
    assert per["energy_by_group_j"]["conv"] == conv["energy_j"]
    assert per["latency_s"] == pytest.approx(641 * 72 / 100e6, rel=1e-12)
    layers = {layer["name"]: layer["group"] for layer in report["mapping"]["layers"]}
    assert layers == {"conv1": "conv", "conv2": "conv", "fc1": "fc"}


def test_one_group_per_layer_by_default_and_by_name():
    """Without mapping.layers every layer goes to the first group; naming a group moves it."""
    all_conv = api.run(TWO, LENET, overrides=["mapping.layers={}"])
    assert all_conv["groups"]["fc"]["crossbars_used"] == 0
    assert all_conv["groups"]["conv"]["counters"]["tile_ops"] == 576 + 64 + 1
    on_fc = api.run(TWO, LENET, overrides=["mapping.layers={conv2: {group: fc}}"])
    assert on_fc["groups"]["fc"]["counters"]["tile_ops"] == 64 * 2  # 100 rows: two arrays


def test_a_group_tile_is_merged_over_the_top_level_tile():
    """A group states what differs; everything else, and later --set of tile:, applies."""
    config = load_hardware(TWO, ["tile.adc.columns_per_adc=4"])
    conv, fc = config.groups
    assert (conv.tile.crossbar.rows, conv.tile.adc.bits) == (256, 8)
    assert (fc.tile.crossbar.rows, fc.tile.adc.bits) == (64, 4)
    assert conv.tile.adc.columns_per_adc == fc.tile.adc.columns_per_adc == 4
    assert config.tiles == 7 and config.crossbars == 7


@pytest.mark.parametrize(("overrides", "message"), [
    (["chip.tiles=7"], "chip.tiles: each of tile_groups gives its own tiles; remove it here"),
    (["mapping.layers={fc1: {group: dense}}"],
     r"mapping.layers.fc1.group: expected a tile group \(conv, fc\), got 'dense'"),
    (["tile_groups.fc.tile.adc.columns_per_adc=7"],
     r"tile_groups.fc.tile.adc.columns_per_adc: must divide"),
    (["tile_groups.chip={tiles: 1, crossbars_per_tile: 1}"], "tile_groups.chip: a group name"),
    (["tile_groups.fc.tiles=0"], "tile_groups.fc.tiles: must be 1..1048576, got 0"),
])
def test_group_config_errors_name_the_field(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_hardware(TWO, overrides)


def test_a_group_that_is_too_small_is_named():
    with pytest.raises(MappingError, match=r"tile group 'fc' has 3 \(tile_groups.fc.tiles=3"):
        api.run(TWO, LENET, overrides=["mapping.layers={fc1: {group: fc}, conv2: {group: fc}}"])
    with pytest.raises(MappingError, match="mapping.layers.pool1: no matrix layer"):
        api.run(TWO, LENET, overrides=["mapping.layers={pool1: {group: fc}}"])


def test_a_config_without_tiles_or_groups_is_refused(tmp_path, capsys):
    path = tmp_path / "bare.yaml"
    path.write_text(f"base: {CONFIGS / 'wu2023_64x64.yaml'}\nversion: 1\nname: bare\ntile: null\n")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"archsim: error: {path}: tile: required field is missing " \
                          "(or give tile_groups)"


def test_a_stateful_tile_kind_costs_each_array_on_its_own_tile(tmp_path, monkeypatch):
    """The hook a new kind of tile overrides: ``op_cost(layout, input_bits, tile)`` gets the
    tile instance holding each array, with its state. A kind whose arrays run at half speed on
    tiles in mode "slow" (STATEFUL: asked again for every record) is swapped in for the
    crossbar kind; fc1's tiles are put in that mode before the run. fc1 is 100 x 12 on 64x64
    arrays of differential pairs: 2 row blocks on tiles 0 and 1; fc2 (12 x 10) one array on
    tile 2. Each of the 3 records per layer asks the cost of each of the layer's arrays, on
    its tile, and fc1's arrays take twice the 72 cycles of an operation: in layer-sequential
    mode the run is longer by exactly fc1's steps x 72 cycles."""
    from conftest import write_chain_trace

    from archsim.hw import system as system_module
    from archsim.hw.tile import CrossbarTiles, OpCost
    from archsim.sim import default_handlers, simulate
    from archsim.sim.handlers import MatrixForward

    asked: list[tuple[int, str | None]] = []

    class ModalTiles(CrossbarTiles):
        STATEFUL = True

        def op_cost(self, layout, input_bits, tile):
            asked.append((tile.index, tile.mode))
            cost = super().op_cost(layout, input_bits, tile)
            if tile.mode == "slow":
                return OpCost(2 * cost.cycles, cost.actions, cost.busy)
            return cost

    class SlowFc1(MatrixForward):
        """The forward handler, which puts fc1's tiles in mode "slow" when it is made."""

        def __init__(self, sim, layer):
            super().__init__(sim, layer)
            if layer.name == "fc1":
                for placed in sim.system.mapping.layers["fc1"].groups:
                    for crossbar in placed.crossbars:
                        sim.system.tile_of(crossbar).mode = "slow"

    trace = write_chain_trace(tmp_path / "chain.jsonl", [(100, 12, 4), (12, 10, 4)], samples=3)
    config = load_hardware(CONFIGS / "wu2023_64x64.yaml")
    plain = simulate(config, trace)
    monkeypatch.setattr(system_module, "TILE_KINDS", {"crossbar": ModalTiles})
    handlers = default_handlers().register("forward", "mvm", SlowFc1)
    modal = simulate(config, trace, handlers=handlers)
    assert sorted(set(asked)) == [(0, "slow"), (1, "slow"), (2, None)]
    # STATEFUL: per record (3 samples x 2 layers), per array (2 for fc1, 1 for fc2).
    assert len(asked) == 3 * (2 + 1)
    fc1_steps = 3 * 4  # 4 vectors per record, one copy
    assert modal.total_cycles == plain.total_cycles + fc1_steps * 72
    assert modal.tile_ops == plain.tile_ops and modal.macs == plain.macs
