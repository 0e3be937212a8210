"""Generated subscribers for the benchmarks: a CSV file written as it is made (never held in
memory): 70% at ten big providers, the rest spread over 5,000 organisations' domains; some
names in "Last, First" form (quoted, with a comma)."""

from __future__ import annotations

import csv
import random
from collections.abc import Sequence
from pathlib import Path

PROVIDERS = ["gmail.com", "outlook.com", "hotmail.co.uk", "yahoo.co.uk", "btinternet.com",
             "icloud.com", "gov.wales", "nhs.net", "sky.com", "live.co.uk"]
FIRST = ["Ann", "Bethan", "Carys", "Dafydd", "Emyr", "Ffion", "Gareth", "Huw", "Iolo", "Jane"]
LAST = ["Jones", "Williams", "Davies", "Evans", "Thomas", "Roberts", "Hughes", "Lewis"]


def generate(path: Path, rows: int, languages: Sequence[str] = ("en", "cy", ""),
             seed: int = 20261124) -> None:
    """`rows` distinct subscribers at `path`, their languages taken in turn from `languages`."""
    chance = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\r\n")
        writer.writerow(["email", "name", "language"])
        for number in range(rows):
            if chance.random() < 0.7:
                domain = PROVIDERS[chance.randrange(len(PROVIDERS))]
            else:
                domain = f"council{chance.randrange(5000)}.gov.uk"
            first, last = chance.choice(FIRST), chance.choice(LAST)
            name = f"{last}, {first}" if number % 3 == 0 else f"{first} {last}"
            language = languages[number % len(languages)]
            writer.writerow([f"{first}.{last}.{number}@{domain}", name, language])
