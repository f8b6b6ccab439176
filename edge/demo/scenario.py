"""A realistic gate scenario: keys, passes of every colour, a forged and an expired pass,
camera videos of residents holding the printed cards, a config, and what each should get."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import tomli_w

from edge.demo.cards import camera_effects, place_card, render_card
from edge.shared_data import shared_data_dir
from gate.model import Colour, PersonKind
from gate.passes import SigningKey, TrustList, encode_pass, generate_signing_key, write_key_pair
from gate.passes.claims import PassClaims
from gate.vocabulary import Rule

COMPOUND = "wenjiang-01"
CARD_FRAMES, GAP_FRAMES = 20, 10


@dataclass(frozen=True)
class Actor:
    """Somebody in the scenario and what the gate should do with them."""

    label: str
    reader: str  # "in" or "out"
    person_id: str
    household_id: str
    colour: Colour
    expect_granted: bool
    expect_rules: tuple[Rule, ...]  # any of these is right
    kind: PersonKind = PersonKind.RESIDENT
    forged: bool = False
    expired: bool = False


CAST: tuple[Actor, ...] = (
    Actor("green resident leaves", "out", "p-101", "h-1", Colour.GREEN, True, (Rule.GREEN_OUT,)),
    Actor("yellow resident goes shopping", "out", "p-201", "h-2", Colour.YELLOW, True,
          (Rule.YELLOW_EXIT,)),
    Actor("second yellow of the same household", "out", "p-202", "h-2", Colour.YELLOW, False,
          (Rule.YELLOW_HOUSEHOLD_QUOTA, Rule.YELLOW_COMPANIONS)),
    Actor("red resident tries to leave", "out", "p-301", "h-3", Colour.RED, False,
          (Rule.RED_EXIT_DENIED,)),
    Actor("white, not yet verified", "out", "p-401", "h-4", Colour.WHITE, False,
          (Rule.WHITE_UNVERIFIED,)),
    Actor("forged pass with a copied person id", "out", "p-101", "h-1", Colour.GREEN, False,
          (Rule.PASS_BAD_SIGNATURE,), forged=True),
    Actor("expired pass", "out", "p-102", "h-1", Colour.GREEN, False, (Rule.PASS_EXPIRED,),
          expired=True),
    Actor("green resident comes home", "in", "p-103", "h-5", Colour.GREEN, True, (Rule.GREEN_IN,)),
    Actor("red resident comes home", "in", "p-302", "h-6", Colour.RED, True, (Rule.RED_IN,)),
    Actor("visitor of household h-5", "in", "v-900", "h-5", Colour.GREEN, True,
          (Rule.GREEN_IN,), kind=PersonKind.VISITOR),
)


@dataclass(frozen=True)
class Appearance:
    """One actor in front of one reader from start_frame to end_frame (inclusive)."""

    actor: Actor
    pass_text: str
    start_frame: int
    end_frame: int


@dataclass
class Scenario:
    """Everything a simulated gate needs, written under `root`."""

    root: Path
    config_path: Path
    trust_list: Path
    videos: dict[str, Path]
    appearances: list[Appearance] = field(default_factory=list)
    width: int = 640
    height: int = 480
    fps: int = 15


def _claims(actor: Actor, now: datetime, index: int) -> PassClaims:
    if actor.expired:
        not_before, expires = now - timedelta(days=30), now - timedelta(days=1)
    else:
        not_before, expires = now - timedelta(days=1), now + timedelta(days=30)
    return PassClaims(
        pass_id=f"pass-{index:03d}", person_id=actor.person_id,
        household_id=actor.household_id, compound_id=COMPOUND, colour=actor.colour,
        issued_at=not_before, not_before=not_before, expires_at=expires, kind=actor.kind,
        grid_id="grid-7",
        host_household_id=actor.household_id if actor.kind is PersonKind.VISITOR else None,
    )


def _forge(claims: PassClaims, genuine: SigningKey) -> str:
    """An attacker's pass: right key id, wrong private key (the signature cannot verify)."""
    attacker = generate_signing_key()
    object.__setattr__(attacker, "key_id", genuine.key_id)
    return encode_pass(claims, attacker)


def background_frames(width: int, height: int, count: int, seed: int) -> list[np.ndarray]:
    """Real gate-like backgrounds: frames of the shared face clip when present, else a street."""
    data = shared_data_dir()
    clip = data / "faces" / "short_hamilton_clip.mp4" if data else None
    frames: list[np.ndarray] = []
    if clip is not None and clip.exists():
        capture = cv2.VideoCapture(str(clip))
        while len(frames) < count:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(cv2.resize(frame, (width, height)))
        capture.release()
    if not frames:
        rng = np.random.default_rng(seed)
        base = np.zeros((height, width, 3), np.uint8)
        base[:] = np.linspace(90, 170, height, dtype=np.uint8)[:, None, None]
        for _ in range(12):  # walls, a gate post, windows
            x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
            w, h = int(rng.integers(20, width // 3)), int(rng.integers(20, height // 3))
            colour = tuple(int(c) for c in rng.integers(40, 220, 3))
            cv2.rectangle(base, (x, y), (x + w, y + h), colour, -1)
        frames = [base]
    return frames


def build_scenario(root: Path, *, width: int = 640, height: int = 480, fps: int = 15,
                   seed: int = 7, now: datetime | None = None,
                   cast: tuple[Actor, ...] = CAST) -> Scenario:
    """Write keys, trust list, the two reader videos and a config under `root`."""
    now = now or datetime.now(UTC)
    root.mkdir(parents=True, exist_ok=True)
    keys_dir = root / "keys"
    if not (keys_dir / "signing.key").exists():
        write_key_pair(keys_dir)
    from gate.passes import load_signing_key  # after the pair exists

    key = load_signing_key(keys_dir / "signing.key")
    trust = TrustList()
    trust.add(key.key_id, key.public_key)
    trust_path = root / "trust.json"
    trust.save(trust_path)
    rng = np.random.default_rng(seed)
    scale = width / 640
    videos: dict[str, Path] = {}
    appearances: list[Appearance] = []
    backgrounds = background_frames(width, height, 90, seed)
    for reader in ("out", "in"):
        actors = [a for a in cast if a.reader == reader]
        path = root / f"gate-{reader}.mp4"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (width, height))
        frame_no = 0
        for actor in actors:
            index = cast.index(actor)
            claims = _claims(actor, now, index)
            text = _forge(claims, key) if actor.forged else encode_pass(claims, key)
            card = render_card(text, actor.colour, actor.label)
            start = frame_no + GAP_FRAMES
            for _ in range(GAP_FRAMES):
                bg = backgrounds[frame_no % len(backgrounds)]
                writer.write(camera_effects(bg, rng, blur=0.5, noise=3, light_gradient=0.1))
                frame_no += 1
            centre = np.array([width * rng.uniform(0.4, 0.6), height * rng.uniform(0.45, 0.55)])
            for step in range(CARD_FRAMES):
                bg = backgrounds[frame_no % len(backgrounds)]
                arriving = step < 4  # the card swings into view, blurred
                pos = centre + rng.normal(0, 3 * scale, 2) + ([(4 - step) * 40 * scale, 0]
                                                              if arriving else 0)
                image = place_card(bg, card, centre=(float(pos[0]), float(pos[1])),
                                   width=(200 + 6 * step) * scale, tilt=rng.uniform(-20, 20),
                                   yaw=rng.uniform(-25, 25), roll=rng.uniform(-12, 12))
                image = camera_effects(image, rng, blur=3.0 if arriving else rng.uniform(0, 1.2),
                                       noise=rng.uniform(2, 6),
                                       light_gradient=rng.uniform(0.1, 0.35))
                writer.write(image)
                frame_no += 1
            appearances.append(Appearance(actor, text, start, start + CARD_FRAMES - 1))
        for _ in range(GAP_FRAMES):
            writer.write(backgrounds[frame_no % len(backgrounds)])
            frame_no += 1
        writer.release()
        videos[reader] = path
    scenario = Scenario(root, root / "gridgate.toml", trust_path, videos, appearances,
                        width, height, fps)
    write_config(scenario)
    (root / "expected.json").write_text(json.dumps(
        [{**asdict(a.actor), "start_frame": a.start_frame, "end_frame": a.end_frame}
         for a in appearances], default=str, indent=1))
    return scenario


def write_config(scenario: Scenario, *, loop: bool = False,
                 sections: dict[str, Any] | None = None) -> None:
    """A gate config that reads the scenario videos with mock GPIO pins 17 (in) and 18 (out);
    `sections` adds or replaces whole sections (e.g. mqtt, panel)."""
    config: dict[str, Any] = {
        "gate": {"gate_id": "gate-east", "compound_id": COMPOUND, "name": "East gate (demo)"},
        "readers": [
            {"reader_id": f"{reader}-cam", "direction": reader, "camera": str(path),
             "loop": loop, "width": scenario.width, "height": scenario.height,
             "fps": scenario.fps, "relay_pin": 17 if reader == "in" else 18}
            for reader, path in scenario.videos.items()
        ],
        "door": {"open_seconds": 1.0},
        "storage": {"state_dir": str(scenario.root / "state")},
        "passes": {"trust_list": str(scenario.trust_list)},
        **(sections or {}),
    }
    scenario.config_path.write_text(tomli_w.dumps(config))
