"""The message meter the deployed ServerApps use: bytes as Flower serialises them, per type."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("flwr")
from flwr.app import ArrayRecord, Message, MetricRecord, RecordDict  # noqa: E402
from flwr.app.metadata import Metadata  # noqa: E402

from healthdatalab.federation.flower_app import TrafficMeter, message_bytes  # noqa: E402


def _message(values: int, node: int, message_type: str = "train") -> Message:
    metadata = Metadata(run_id=1, message_id="", src_node_id=node, dst_node_id=node,
                        reply_to_message_id="", group_id="1", created_at=0.0, ttl=60.0,
                        message_type=message_type)
    content = RecordDict({"arrays": ArrayRecord([np.zeros(values)]),
                          "metrics": MetricRecord({"num-examples": 10})})
    return Message(content=content, metadata=metadata)


class EchoGrid:
    """Answers every message with a reply carrying ``reply_values`` floats."""

    def __init__(self, reply_values: int) -> None:
        self.reply_values = reply_values

    def get_node_ids(self):
        return [1, 2, 3]

    def send_and_receive(self, messages, *, timeout=None):
        return [_message(self.reply_values, m.metadata.dst_node_id, m.metadata.message_type)
                for m in messages]


def test_bytes_grow_by_eight_per_float():
    # The arrays travel as float64: 1,000 more values are 8,000 more bytes, plus a few bytes
    # of the array header; the records around them cost the same.
    small, large = message_bytes(_message(1_000, 1)), message_bytes(_message(2_000, 1))
    assert 8_000 <= large - small <= 8_016
    assert message_bytes(_message(7, 1)) > 7 * 8  # small messages are mostly structure


def test_the_meter_counts_each_exchange_and_passes_the_rest_through():
    meter = TrafficMeter(EchoGrid(reply_values=30))
    assert meter.get_node_ids() == [1, 2, 3]
    sent = [_message(5, node) for node in (1, 2, 3)]
    for _ in range(4):
        replies = meter.send_and_receive(messages=sent, timeout=5)
    assert len(replies) == 3
    summary = meter.summary()["train"]
    assert summary["exchanges"] == 4 and summary["messages"] == 12 and summary["replies"] == 12
    assert summary["bytes_sent"] == 4 * sum(message_bytes(m) for m in sent)
    assert summary["bytes_per_reply"] == message_bytes(replies[0])
    assert summary["bytes_per_reply"] > summary["bytes_per_message_sent"]
    assert summary["seconds"] >= 0
