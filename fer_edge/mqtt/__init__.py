"""fer-edge on MQTT: a camera's emotions published where smart homes and fleets read them.

:class:`MqttPublisher` (topics under ``fer-edge/<device_id>/``, Home Assistant discovery, a bounded
on-disk spool), :func:`parse_mqtt_url`, and the fleet :mod:`~fer_edge.mqtt.monitor`. Needs the
``[mqtt]`` extra (paho-mqtt 2).
"""
from .discovery import discovery_messages
from .publisher import MqttOptions, MqttPublisher
from .url import MqttUrl, parse_mqtt_url

__all__ = ["MqttOptions", "MqttPublisher", "MqttUrl", "discovery_messages", "parse_mqtt_url"]
