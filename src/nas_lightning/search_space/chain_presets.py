"""``space=chain``'s sizes, torch-free so that config checks can read them: the width ladder (multiples of
4: every conv NPU-legal) and, per preset, the depth and the widest width (README, Search spaces)."""

WIDTH_LADDER = (4, 8, 12, 16, 24, 32, 48, 64, 96, 128)
MIN_WIDEST = 16  # the head's Linear takes the last width: >= 16 features on the NPU
MIN_DEPTH, MAX_DEPTH = 2, 24
# preset -> (depth, widest); custom takes m's unless space.depth / space.widest say otherwise
CHAIN_PRESETS = {"s": (3, 16), "m": (6, 32), "l": (8, 48), "xl": (10, 64), "xxl": (12, 128)}


def chain_size(preset: str, depth: int | None, widest: int | None) -> tuple[int, int]:
    """(depth, widest) of the chain space for ``preset``, each overridden when given."""
    d, w = CHAIN_PRESETS.get(preset, CHAIN_PRESETS["m"])
    return depth or d, widest or w
