"""Run Home Assistant's own MQTT discovery schemas on fer-edge's discovery configs, without a running instance.

Home Assistant is a large install with its own Python floor (2024.3 is the last release for Python 3.11,
2025.x and 2026.x need Python 3.13), so it lives in its own virtual environment and this script talks to it:

    python3.13 -m venv /tmp/ha && /tmp/ha/bin/pip install homeassistant        # 2025.x / 2026.x
    python3.11 -m venv /tmp/ha24 && /tmp/ha24/bin/pip install 'homeassistant==2024.3.3' 'josepy<2'
    python tools/ha_discovery_check.py /tmp/ha/bin/python /tmp/ha24/bin/python

For each interpreter it prints the release and, per config, what Home Assistant does with it:

- the platform's ``DISCOVERY_SCHEMA`` (the one MQTT discovery applies) accepts it;
- the deprecation that Home Assistant 2025.10+ logs (``object_id`` without ``default_entity_id``) and
  2026.4's removal of ``object_id``: the config must not carry ``object_id`` at all;
- the entity id: ``default_entity_id`` where the release keeps it, else the one it makes from the device
  and entity names with its own ``slugify``; both must be the same id.

Exit status 0 when every release accepts every config with no warning.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CHECK = r"""
import asyncio, json, sys, tempfile
from homeassistant.const import __version__
from homeassistant.core import HomeAssistant
from homeassistant.util import slugify
from homeassistant.components.mqtt import sensor, event

async def check(configs):
    # templates validate only inside Home Assistant's event loop, with a hass object: a bare one, never started
    hass = HomeAssistant(tempfile.mkdtemp())
    schemas = {"sensor": sensor.DISCOVERY_SCHEMA, "event": event.DISCOVERY_SCHEMA}
    problems = []
    for topic, config in configs:
        platform = topic.split("/")[1]
        try:
            valid = schemas[platform](dict(config))
        except Exception as e:
            problems.append(f"{topic}: rejected ({e})")
            continue
        if "object_id" in config:
            problems.append(f"{topic}: object_id (warned from 2025.10, unsupported from 2026.4)")
        made = f"{platform}.{slugify(config['device']['name'] + ' ' + config['name'])}"
        kept = valid.get("default_entity_id")
        entity = kept or made
        if entity != config["default_entity_id"]:
            problems.append(f"{topic}: entity id {entity}, asked for {config['default_entity_id']}")
        if valid.get("qos") != 1:
            problems.append(f"{topic}: qos {valid.get('qos')}")
        print(f"  {topic}: accepted, entity {entity} ({'from default_entity_id' if kept else 'from the names'})")
    return problems

problems = asyncio.run(check(json.load(sys.stdin)))
print(f"Home Assistant {__version__}: " + ("; ".join(problems) if problems else "every config accepted, no warning"))
sys.exit(1 if problems else 0)
"""


def configs() -> list:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from fer_edge.labels import FER2013_CLASSES
    from fer_edge.mqtt.discovery import discovery_messages

    return discovery_messages("cam1", "fer-edge/cam1", FER2013_CLASSES)


def main(pythons: list[str]) -> int:
    if not pythons:
        print("usage: python tools/ha_discovery_check.py HA_PYTHON [HA_PYTHON...]", file=sys.stderr)
        return 2
    payload = json.dumps(configs())
    worst = 0
    for python in pythons:
        run = subprocess.run([python, "-c", CHECK], input=payload, text=True, capture_output=True)
        print(run.stdout.rstrip() or f"{python}: {run.stderr.strip().splitlines()[-1:]}")
        worst = max(worst, run.returncode)
    return worst


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
