"""Matching follows the person: the age group comes from the age, the unit genders a
person can be admitted to come from their sex, unless the liaison deliberately overrides.

Pure functions, no I/O: the placement record and bed search both call them, so a unit the
person cannot be admitted to is never ranked as a fit.

Age groups (docs/guide-liaison.md states the same): child 0-12, adolescent 13-17,
adult 18-64, geriatric 65 and over.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bedboard.facilities import Population

# (first age, last age, group), in order.
AGE_BANDS: tuple[tuple[int, int, Population], ...] = (
    (0, 12, Population.CHILD),
    (13, 17, Population.ADOLESCENT),
    (18, 64, Population.ADULT),
    (65, 130, Population.GERIATRIC),
)

Sex = Literal["female", "male", "other", "unknown"]
# Which units a placement may be matched to by their gender:
# "male": men's or mixed units; "female": women's or mixed; "mixed": mixed units only;
# "any": every unit whatever its gender (only by deliberate override for a man or woman).
UnitGender = Literal["male", "female", "mixed", "any"]

GENDER_LABELS: dict[str, str] = {
    "male": "men's or mixed units",
    "female": "women's or mixed units",
    "mixed": "mixed units only",
    "any": "any unit, whatever its gender",
}


def band_label(population: Population) -> str:
    for first, last, group in AGE_BANDS:
        if group is population:
            return f"{first}-{last}" if last < 130 else f"{first} and over"
    raise ValueError(population)


def population_for_age(age: int) -> Population:
    for first, last, group in AGE_BANDS:
        if first <= age <= last:
            return group
    raise ValueError(f"age {age} is outside 0-130")


def possible_ages(age: int | None, birth_year: int | None, year: int) -> tuple[int, int]:
    """The ages the person can be in ``year``: exact with an age, two with a birth year."""
    if age is not None:
        return age, age
    if birth_year is None:
        raise ValueError("an age or a birth year is needed")
    return max(year - birth_year - 1, 0), max(year - birth_year, 0)


def populations_for_ages(low: int, high: int) -> list[Population]:
    """Every age group an age between ``low`` and ``high`` falls in (one or two)."""
    groups = [population_for_age(low)]
    if population_for_age(high) is not groups[0]:
        groups.append(population_for_age(high))
    return groups


def unit_gender_for_sex(sex: Sex) -> UnitGender:
    """The default: men to men's or mixed units, women to women's or mixed units, and a
    person of another or unknown sex to mixed units only."""
    if sex == "male":
        return "male"
    if sex == "female":
        return "female"
    return "mixed"


def unit_genders(choice: UnitGender) -> frozenset[str]:
    """The unit gender values (``units.gender``) a choice admits."""
    return {
        "male": frozenset({"male", "any"}),
        "female": frozenset({"female", "any"}),
        "mixed": frozenset({"any"}),
        "any": frozenset({"male", "female", "any"}),
    }[choice]


@dataclass(frozen=True)
class Match:
    population: Population
    gender: UnitGender
    population_override: bool
    gender_override: bool

    @property
    def overrides(self) -> list[str]:
        return [
            name
            for name, on in (
                ("population", self.population_override),
                ("gender", self.gender_override),
            )
            if on
        ]


class MatchingError(ValueError):
    """A choice the person's age or sex contradicts, without a deliberate override."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _age_text(low: int, high: int) -> str:
    return f"A {low}-year-old" if low == high else f"Someone aged {low} or {high}"


def choose_population(
    low: int, high: int, population: Population | None, *, override: bool, birth_year: int | None
) -> tuple[Population, bool]:
    """(age group, overridden?) for a person aged ``low``-``high``."""
    groups = populations_for_ages(low, high)
    if population is None:
        if len(groups) > 1:
            raise MatchingError(
                "age",
                f"Born in {birth_year}, the person may be {low} or {high}, which changes the "
                f"age group ({groups[0].value} or {groups[1].value}). Enter the age.",
            )
        return groups[0], False
    if population in groups:
        return population, False
    if override:
        return population, True
    raise MatchingError(
        "population",
        f"{_age_text(low, high)} is in the {' or '.join(g.value for g in groups)} age group, "
        f"not {population.value} ({band_label(population)}). Choose “From the person's age”, "
        "or tick the override if this is deliberate.",
    )


def choose_gender(
    sex: Sex, gender: UnitGender | None, *, override: bool
) -> tuple[UnitGender, bool]:
    """(unit genders, overridden?) for a person of ``sex``; a narrower choice than the
    default (mixed units only for a man) needs no override."""
    derived = unit_gender_for_sex(sex)
    if gender is None:
        return derived, False
    if unit_genders(gender) <= unit_genders(derived):
        return gender, False
    if override:
        return gender, True
    who = {"male": "A man", "female": "A woman"}.get(sex, "A person of another or unknown sex")
    raise MatchingError(
        "gender",
        f"{who} is matched to {GENDER_LABELS[derived]}, not {GENDER_LABELS[gender]}. "
        "Choose “From the person's sex”, or tick the override if this is deliberate.",
    )


def resolve(
    *,
    age: int | None,
    birth_year: int | None,
    sex: Sex,
    year: int,
    population: Population | None,
    gender: UnitGender | None,
    override: bool,
) -> Match:
    """The age group and unit genders to match on.

    ``population`` / ``gender`` None: derived from the age / sex. A given value that the
    age or sex contradicts needs ``override``; without it, MatchingError names the field.
    A birth year at a band's edge (17 or 18) needs the exact age or an explicit group.
    """
    low, high = possible_ages(age, birth_year, year)
    chosen_population, population_override = choose_population(
        low, high, population, override=override, birth_year=birth_year
    )
    chosen_gender, gender_override = choose_gender(sex, gender, override=override)
    return Match(chosen_population, chosen_gender, population_override, gender_override)
