"""Shared parts of the generators: words for keys, deterministic ids, sizing a context to a
number of real tokens, where contexts go."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from evals.tasks import INLINE_LIMIT_CHARS, Task
from evals.tokens import CHARS_PER_TOKEN, Tokenizer

T = TypeVar("T")
FIT_LOW = 0.97  # a context holds between 97% and 100% of its length in tokens (when it can)

ADJECTIVES = [
    "abundant", "adorable", "aggressive", "agreeable", "ancient", "angry", "anxious", "arrogant",
    "ashamed", "awful", "bashful", "beautiful", "bewildered", "bitter", "blushing", "brave",
    "breezy", "bright", "broad", "bumpy", "calm", "careful", "cheerful", "chilly", "clever",
    "clumsy", "cold", "colossal", "combative", "comfortable", "crooked", "cruel", "curious", "damp",
    "dazzling", "defiant", "delightful", "dizzy", "drab", "eager", "elegant", "embarrassed",
    "enchanting", "energetic", "envious", "evil", "fancy", "fierce", "filthy", "flat", "fluffy",
    "foolish", "fragile", "frantic", "friendly", "gentle", "gifted", "gigantic", "glamorous",
    "gleaming", "glorious", "grumpy", "handsome", "happy", "harsh", "helpful", "hollow", "homely",
    "hungry", "icy", "immense", "jealous", "jolly", "juicy", "kind", "lazy", "lively", "lonely",
    "loud", "lucky", "magnificent", "melodic", "misty", "modern", "mysterious", "narrow", "nervous",
    "nutty", "obedient", "odd", "old", "panicky", "plain", "polite", "proud", "quaint", "quiet",
    "rapid", "rich", "roasted", "round", "rustic", "scary", "shallow", "shiny", "silly", "sleepy",
    "slimy", "smooth", "sparkling", "spicy", "steep", "stormy", "strange", "sturdy", "tender",
    "thankful", "thirsty", "tiny", "tough", "ugly", "uneven", "upset", "vast", "victorious",
    "vivacious", "wandering", "weary", "wicked", "witty", "wooden", "worried", "zany", "zealous"
]
NOUNS = [
    "anchor", "apple", "arch", "badge", "bakery", "balloon", "banjo", "barn", "basket", "beacon",
    "bicycle", "blanket", "boat", "bottle", "bridge", "bucket", "cabin", "camera", "candle",
    "canyon", "carpet", "castle", "cellar", "chair", "cherry", "chimney", "circus", "cliff",
    "clock", "cloud", "compass", "cottage", "crayon", "crown", "cup", "curtain", "desert",
    "diamond", "dolphin", "door", "dragon", "drum", "eagle", "engine", "falcon", "feather", "fence",
    "ferry", "fiddle", "flag", "forest", "fountain", "garden", "garlic", "giraffe", "glacier",
    "glove", "guitar", "hammer", "harbor", "helmet", "hill", "honey", "horizon", "island", "jacket",
    "jungle", "kettle", "kite", "ladder", "lagoon", "lantern", "lemon", "library", "lighthouse",
    "lizard", "magnet", "maple", "marble", "meadow", "mirror", "monastery", "mountain", "museum",
    "needle", "oasis", "orchard", "otter", "oven", "paddle", "palace", "parrot", "pebble", "pepper",
    "piano", "pillow", "pine", "planet", "pond", "puzzle", "quarry", "rabbit", "raft", "river",
    "rocket", "saddle", "sailboat", "scarf", "shadow", "shovel", "spoon", "squirrel", "stable",
    "statue", "stove", "sunflower", "swamp", "teapot", "temple", "tiger", "tower", "trumpet",
    "tunnel", "umbrella", "valley", "violin", "volcano", "wagon", "walrus", "whistle", "window",
    "yacht"
]


def rng_for(suite: str, seed: int, index: int, length: int) -> random.Random:
    """A generator's random source: the same (suite, seed, index, length) gives the same task."""
    return random.Random(f"{suite}:{seed}:{index}:{length}")


def make_key(rng: random.Random, taken: set[str]) -> str:
    while True:
        key = f"{rng.choice(ADJECTIVES)}-{rng.choice(NOUNS)}"
        if key not in taken:
            taken.add(key)
            return key


def make_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def make_number(rng: random.Random) -> str:
    return str(rng.randint(1_000_000, 9_999_999))


def fit_tokens(build: Callable[[int], tuple[T, int]], length: int, tok: Tokenizer, *,
               chars_per_token: float = CHARS_PER_TOKEN, tries: int = 6) -> tuple[T, int]:
    """Size a context to `length` tokens of `tok`: `build(chars)` makes one (deterministically,
    from its own seed) about `chars` characters long and returns it with its token count; the
    character budget is rescaled by the measured ratio until the count lands in
    [FIT_LOW * length, length]. Returns the closest try that does not exceed `length` (or the
    smallest, when every try does)."""
    chars = max(1, int(length * chars_per_token))
    made: list[tuple[T, int]] = []
    for _ in range(tries):
        made.append(build(chars))
        tokens = made[-1][1]
        if FIT_LOW * length <= tokens <= length:
            return made[-1]
        # aim at the middle of the band, so that the next try lands inside it
        chars = max(1, int(chars * length * (1 + FIT_LOW) / 2 / max(tokens, 1)))
    within = [m for m in made if m[1] <= length]
    return max(within, key=lambda m: m[1]) if within else min(made, key=lambda m: m[1])


def place_context(task: Task, text: str, out_dir: Path) -> Task:
    """Keep a small context inline; write a large one to out_dir/contexts/<id>.txt."""
    task.chars = len(text)
    if len(text) <= INLINE_LIMIT_CHARS:
        task.context = text
        return task
    rel = Path("contexts") / f"{task.id}.txt"
    (out_dir / rel).parent.mkdir(parents=True, exist_ok=True)
    (out_dir / rel).write_text(text, encoding="utf-8")
    task.context_path = str(rel)
    return task
