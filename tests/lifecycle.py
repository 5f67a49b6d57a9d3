"""A generated image lifecycle history, with its ground truth kept by construction.

Independent of the product and of the demo simulator: each image is created, uploaded and
activated, updated (sometimes with a new size), and maybe deleted; the truth is the last state
written for each image that was not deleted. As in Glance's quota accounting, an image written to
two stores (two INFO image.upload) stores its size twice, and one only staged for glance-direct
(status uploading) is staged, not stored.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

FORMATS = ("qcow2", "raw", "vmdk", "iso")


def _image(image_id: str, owner: str, status: str, size: int | None, fmt: str, at: datetime,
           created: datetime, deleted: bool = False) -> dict[str, Any]:
    iso = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"id": image_id, "name": f"img-{image_id[:6]}", "status": status,
            "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"), "updated_at": iso,
            "min_disk": 0, "min_ram": 0, "protected": False, "checksum": None, "owner": owner,
            "disk_format": fmt, "container_format": "bare", "size": size, "virtual_size": None,
            "is_public": False, "visibility": "private", "properties": {}, "tags": [],
            "deleted": deleted, "deleted_at": iso if deleted else None}


class _OneImage:
    """The events of one image, in the order Glance emits them."""

    def __init__(self, rng: random.Random, owner: str, at: datetime) -> None:
        self.rng, self.owner, self.at, self.created = rng, owner, at, at
        self.id = str(uuid.UUID(int=rng.getrandbits(128)))
        self.fmt = rng.choice(FORMATS)
        self.events: list[dict[str, Any]] = []

    def emit(self, event_type: str, status: str, size: int | None, deleted: bool = False) -> None:
        self.at += timedelta(seconds=self.rng.randrange(1, 30))
        self.events.append({
            "message_id": str(uuid.UUID(int=self.rng.getrandbits(128))),
            "publisher_id": "image.host1", "event_type": event_type, "priority": "INFO",
            "timestamp": str(self.at.replace(tzinfo=None)),
            "payload": _image(self.id, self.owner, status, size, self.fmt, self.at, self.created,
                              deleted)})


def lifecycle_history(images: int = 400, projects: int = 30, seed: int = 11
                      ) -> tuple[list[dict[str, Any]], dict[str, Counter]]:
    rng = random.Random(seed)
    owners = [uuid.UUID(int=rng.getrandbits(128)).hex for _ in range(projects)]
    per_image: list[list[dict[str, Any]]] = []
    truth_images: Counter = Counter()
    truth_stored: Counter = Counter()
    truth_format: Counter = Counter()
    truth_staged: Counter = Counter()
    base = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    for _ in range(images):
        image = _OneImage(rng, rng.choice(owners), base + timedelta(seconds=rng.randrange(3600)))
        size = rng.randrange(10**6, 5 * 2**31)
        image.emit("image.create", "queued", None)
        stores = 1
        draw = rng.random()
        if draw < 0.1:  # never uploaded: stays queued without a size
            state: tuple[str, int | None] = ("queued", None)
        elif draw < 0.15:  # staged for glance-direct, never imported
            image.emit("image.update", "uploading", None)
            image.emit("image.update", "uploading", size)
            state = ("uploading", size)
        else:
            image.emit("image.prepare", "saving", None)
            image.emit("image.upload", "active", size)
            if draw > 0.9:  # a second store (multi-store import, copy-image)
                image.emit("image.prepare", "active", size)
                image.emit("image.upload", "active", size)
                stores = 2
            image.emit("image.activate", "active", size)
            state = ("active", size)
            for _ in range(rng.randrange(0, 4)):
                if rng.random() < 0.4:
                    size = rng.randrange(10**6, 5 * 2**31)  # an update that changes the size
                image.emit("image.update", "active", size)
                state = ("active", size)
        if rng.random() < 0.25:
            image.emit("image.delete", "deleted", state[1], deleted=True)
        else:
            truth_images[(image.owner, state[0])] += 1
            if state[0] == "uploading":
                truth_staged[(image.owner,)] += state[1]
            elif state[1] is not None:
                truth_stored[(image.owner,)] += state[1] * stores
                truth_format[(image.owner, image.fmt)] += state[1] * stores
        per_image.append(image.events)
    # Interleave images at random, each image's own events in order (as Glance emits them).
    history: list[dict[str, Any]] = []
    queues = [list(e) for e in per_image]
    while queues:
        i = rng.randrange(len(queues))
        history.append(queues[i].pop(0))
        if not queues[i]:
            queues.pop(i)
    truth = {"glance_project_images": truth_images, "glance_project_stored_bytes": truth_stored,
             "glance_project_staged_bytes": truth_staged,
             "glance_project_stored_bytes_by_disk_format": truth_format}
    return history, truth
