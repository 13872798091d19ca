"""One English sentence per clip, built only from what was actually drawn."""
from __future__ import annotations

from helpers.synth.scene import Appearance

VERBS: dict[str, str] = {
    "move_left": "moves to the left",
    "move_right": "moves to the right",
    "move_up": "moves up",
    "move_down": "moves down",
    "rotate_cw": "rotates clockwise",
    "rotate_ccw": "rotates counterclockwise",
    "grow": "grows larger",
    "shrink": "shrinks",
    "orbit_cw": "circles clockwise",
    "orbit_ccw": "circles counterclockwise",
    "shake_horizontal": "shakes from side to side",
    "shake_vertical": "bobs up and down",
}


def make_caption(class_name: str, appearance: Appearance, speed: str | None = None,
                 second: str | None = None) -> str:
    """e.g. "a striped red arrow quickly rotates clockwise on a checkered navy background".
    ``class_name`` is the motion pattern shown (not an HMDB51 name: captions describe
    what is on screen); ``second`` adds a simultaneous pattern ("… moves to the left
    and grows larger …")."""
    texture = "" if appearance.texture == "plain" else f"{appearance.texture} "
    article = "an" if (texture or appearance.colour)[0] in "aeiou" else "a"
    adverb = f"{speed} " if speed else ""
    pattern = "" if appearance.background_pattern == "plain" else f"{appearance.background_pattern} "
    verb = VERBS[class_name] if second is None else f"{VERBS[class_name]} and {VERBS[second]}"
    return (f"{article} {texture}{appearance.colour} {appearance.shape} {adverb}{verb} "
            f"on a {pattern}{appearance.background_colour} background")


def caption_attributes(text: str) -> dict[str, str | None]:
    """What a caption of :func:`make_caption`'s form says, attribute by attribute
    (``colour``, ``texture``, ``shape``, ``speed``, ``motion``, ``pattern``,
    ``background``); None where it names none of the attribute's words. Reads any text,
    so a model's caption is scored word by word against its reference."""
    from helpers.synth.scene import BACKGROUND_COLOURS, BACKGROUND_PATTERNS, OBJECT_COLOURS, SHAPES

    words = text.lower().strip().rstrip(".")
    thing, _, ground = words.partition(" on a ")
    thing_words = thing.split()

    def first(candidates, where: str, as_words: bool) -> str | None:
        found = [c for c in sorted(candidates, key=len, reverse=True)
                 if (c.lower() in where.split() if as_words else f" {c.lower()} " in f" {where} ")]
        return found[0] if found else None

    motion = [name for name, phrase in VERBS.items() if f" {phrase}" in f" {thing}"]
    return {
        "colour": first(OBJECT_COLOURS, thing, True),
        "texture": next((t for t in ("striped", "two-tone") if t in thing_words), "plain" if thing else None),
        "shape": first(SHAPES, thing, False),
        "speed": next((s for s in ("quickly", "slowly") if s in thing_words), "normal" if thing else None),
        "motion": max(motion, key=lambda m: len(VERBS[m])) if motion else None,
        "pattern": first([p for p in BACKGROUND_PATTERNS if p != "plain"], ground, True) or ("plain" if ground else None),
        "background": first(BACKGROUND_COLOURS, ground.removesuffix(" background"), False),
    }
