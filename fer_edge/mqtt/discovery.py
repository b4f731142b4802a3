"""Home Assistant MQTT discovery: the configs that make a camera a device with sensors and an event.

One device per camera (``identifiers``: ``fer-edge_<device_id>``) with three sensors read from the
``state`` topic (faces now, the dominant emotion with every emotion's share as attributes, frames/s)
and one ``event`` entity fired when the dominant emotion changes. Every entity has a ``unique_id`` and
the camera's ``availability`` topic, so Home Assistant shows it unavailable when the camera's last
will (``offline``) arrives.
"""
from __future__ import annotations

import re

from .. import __version__

#: keys Home Assistant requires of each platform's config (besides what every entity carries)
REQUIRED = {"sensor": ("state_topic",), "event": ("state_topic", "event_types")}


def node_id(device_id: str) -> str:
    """The device id as Home Assistant's discovery topics allow it (letters, digits, ``_`` and ``-``)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", device_id)


def discovery_messages(device_id: str, base: str, labels, discovery_prefix: str = "homeassistant") -> list:
    """``(topic, config)`` pairs, to publish retained; ``base`` is the camera's topic root
    (``fer-edge/<device_id>``)."""
    node = node_id(device_id)
    device = {"identifiers": [f"fer-edge_{node}"], "name": f"fer-edge {device_id}", "manufacturer": "fer-edge",
              "model": "emotion camera", "sw_version": __version__}
    common = {"availability": [{"topic": f"{base}/availability"}], "payload_available": "online",
              "payload_not_available": "offline", "device": device,
              "origin": {"name": "fer-edge", "sw": __version__}}
    state = f"{base}/state"
    entities = [
        ("sensor", "faces", {"name": "Faces", "state_topic": state, "value_template": "{{ value_json.face_count }}",
                             "state_class": "measurement", "icon": "mdi:face-recognition"}),
        ("sensor", "emotion", {"name": "Emotion", "state_topic": state,
                               "value_template": "{{ value_json.emotion or 'none' }}",
                               "json_attributes_topic": state,
                               "json_attributes_template": "{{ value_json.shares | tojson }}",
                               "icon": "mdi:emoticon-outline"}),
        ("sensor", "fps", {"name": "Frames per second", "state_topic": state, "value_template": "{{ value_json.fps }}",
                           "unit_of_measurement": "frames/s", "state_class": "measurement", "icon": "mdi:speedometer"}),
        ("event", "emotion_changed", {"name": "Emotion changed", "state_topic": f"{base}/event",
                                      "event_types": list(labels), "icon": "mdi:emoticon-excited-outline"}),
    ]
    return [(f"{discovery_prefix}/{platform}/{node}/{key}/config",
             {**common, **config, "unique_id": f"fer-edge_{node}_{key}", "object_id": f"fer_edge_{node}_{key}"})
            for platform, key, config in entities]
