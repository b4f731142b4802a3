"""Home Assistant MQTT discovery: the configs that make a camera a device with sensors and an event.

One device per camera (``identifiers``: ``fer-edge_<device_id>``) with three sensors read from the
``state`` topic (faces now, the dominant emotion with every emotion's share as attributes, frames/s)
and one ``event`` entity fired when the dominant emotion changes. Every entity has a ``unique_id`` and
the camera's ``availability`` topic, so Home Assistant shows it unavailable when the camera's last
will (``offline``) arrives.

Home Assistant 2025.10 and later warn on ``object_id`` and 2026.4 dropped it; ``default_entity_id``
(``sensor.fer_edge_cam1_faces``) replaces it. Older releases drop that key and name the entity from the
device and entity names, which gives the same id, so one config serves both
(``tools/ha_discovery_check.py`` runs Home Assistant's own schemas on these configs).
"""
from __future__ import annotations

import re

from .. import __version__

QOS = 1  #: Home Assistant subscribes to the topics a config names at this QoS

#: keys Home Assistant requires of each platform's config (besides what every entity carries)
REQUIRED = {"sensor": ("state_topic",), "event": ("state_topic", "event_types")}


def node_id(device_id: str) -> str:
    """The device id as Home Assistant's discovery topics allow it (letters, digits, ``_`` and ``-``)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", device_id)


def object_id(device_name: str, entity_name: str) -> str:
    """The entity id's object part as Home Assistant makes it from the device's and the entity's names
    (lower case, ``_`` for any run of other characters): releases that ignore ``default_entity_id``
    arrive at the same id."""
    return re.sub(r"[^a-z0-9]+", "_", f"{device_name} {entity_name}".lower()).strip("_")


def discovery_messages(device_id: str, base: str, labels, discovery_prefix: str = "homeassistant") -> list:
    """``(topic, config)`` pairs, to publish retained; ``base`` is the camera's topic root
    (``fer-edge/<device_id>``)."""
    node = node_id(device_id)
    device = {"identifiers": [f"fer-edge_{node}"], "name": f"fer-edge {device_id}", "manufacturer": "fer-edge",
              "model": "emotion camera", "sw_version": __version__}
    # payload_(not_)available belong in each availability item: at the top level they only apply to
    # availability_topic, which these configs do not use
    common = {"availability": [{"topic": f"{base}/availability", "payload_available": "online",
                                "payload_not_available": "offline"}],
              "qos": QOS, "device": device, "origin": {"name": "fer-edge", "sw_version": __version__}}
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
             {**common, **config, "unique_id": f"fer-edge_{node}_{key}",
              "default_entity_id": f"{platform}.{object_id(device['name'], config['name'])}"})
            for platform, key, config in entities]
