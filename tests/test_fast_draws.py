"""The fast engine asks its random streams for the same batches as the event engine.

One first-packet sampler exists per node × Service × sender that traffic uses, so its
batch size decides a large cluster's memory: the event engine's FirstPacketCost starts
at 16 draws and doubles to 256. The fast engine's twin must ask the stream for those
same batches — held memory per pair stays small, and both engines consume the stream
alike. The reference is the event engine's own sampler, run on a recording stream.
"""

from __future__ import annotations

import numpy as np

from netsim.config.schema import KubeProxyConfig
from netsim.fast.draws import BlockDraws
from netsim.fast.engine import _FirstPacket
from netsim.model.first_packet import FirstPacketCost
from netsim.model.kube_proxy import draw_rule_position


class RecordingStream:
    """A random stream that notes the size of every batch asked of it (a scalar draw is noted as None)."""

    def __init__(self) -> None:
        self.asked: list[int | None] = []
        self._rng = np.random.default_rng(7)

    def random(self, size: int | None = None):  # type: ignore[no-untyped-def]
        self.asked.append(size)
        return self._rng.random(size)


def test_fast_first_packet_draws_in_the_event_engines_batches():
    config = KubeProxyConfig()
    event_stream, fast_stream = RecordingStream(), RecordingStream()
    position = draw_rule_position(event_stream, 5000)  # the event engine's build draws it from the same stream
    event_engine = FirstPacketCost(config, position, event_stream, 5000)
    event_values = [event_engine() for _ in range(700)]
    fast = _FirstPacket(config, fast_stream, 5000)
    fast_values = np.concatenate([fast.draws.take(n) for n in (1, 5, 40, 100, 300, 254)])
    assert fast_stream.asked == event_stream.asked == [None, 16, 32, 64, 128, 256, 256]
    np.testing.assert_array_equal(fast_values, event_values)


def test_block_draws_hand_out_values_in_order_across_growing_batches():
    stream = np.arange(10_000, dtype=float)
    asked: list[int] = []

    def draw(n: int) -> np.ndarray:
        start = sum(asked)
        asked.append(n)
        return stream[start:start + n]

    draws = BlockDraws(draw, first=4, most=16)
    taken = np.concatenate([draws.take(n) for n in (1, 3, 10, 0, 40, 2)])
    np.testing.assert_array_equal(taken, stream[:56])
    assert asked == [4, 8, 16, 16, 16]
