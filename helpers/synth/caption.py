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
