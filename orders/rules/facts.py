"""Plain data in and out of the rules engine. No Django, no database: frozen dataclasses."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class SubstanceFacts:
    code: str
    inci: str
    is_water: bool = False
    antimicrobial: str = ""  # "", "qualifying", "non_qualifying", "booster"
    preservative_min_percent: Decimal | None = None
    preservative_ph_min: Decimal | None = None
    preservative_ph_max: Decimal | None = None
    eu_leave_on_max_percent: Decimal | None = None
    eu_rinse_off_max_percent: Decimal | None = None
    eu_leave_on_banned: bool = False
    eu_limit_as_acid_factor: Decimal | None = None
    eu_limit_sum_group: str | None = None
    allergen_groups: frozenset[str] = frozenset()
    disputed_allergen_groups: frozenset[str] = frozenset()
    origin_unknown_groups: frozenset[str] = frozenset()


@dataclass(frozen=True)
class MaterialFacts:
    code: str
    name: str
    category: str
    composition: tuple[tuple[str, Decimal], ...]  # (substance code, % of the material as supplied)
    use_min_percent: Decimal
    use_max_percent: Decimal
    vehicles: frozenset[str]
    ph_min: Decimal | None = None
    ph_max: Decimal | None = None
    viability: str = ""
    investigational: bool = False
    rx_threshold_percent: Decimal | None = None
    otc_leave_on_max_percent: Decimal | None = None
    otc_rinse_off_max_percent: Decimal | None = None
    active_substance: str | None = None
    active_fraction: Decimal = Decimal(1)
    storage: str = "room"
    physical_form: str = "solid"  # "solid" | "semisolid" | "liquid"
    strength_basis: str = "w/w"  # "w/w" | "w/v" | "v/v": how the percent is meant in a preparation made in mL
    density: Decimal | None = None  # g/mL at 20–25 °C


@dataclass(frozen=True)
class BaseFacts:
    code: str
    name: str
    vehicle: str
    application: str  # "leave_on" | "rinse_off"
    composition: tuple[tuple[str, Decimal], ...]
    default_ph: Decimal | None
    min_quantity: Decimal
    max_quantity: Decimal
    unit: str
    density: Decimal | None = None  # g/mL at 20–25 °C; a base made in mL is weighed in grams with it
    density_source: str = ""


@dataclass(frozen=True)
class FormularyFacts:
    version: str
    substances: dict[str, SubstanceFacts]
    materials: dict[str, MaterialFacts]
    bases: dict[str, BaseFacts]
    allergen_group_names: dict[str, str]
    incompatibilities: dict[frozenset[str], str]
    sum_group_leave_on_max: dict[str, Decimal]
    sterile_routes: frozenset[str]
    non_sterile_routes: frozenset[str]
    sum_group_rinse_off_max: dict[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class Lot:
    item_code: str  # a material or base code
    lot_number: str
    expires_on: dt.date
    quantity_on_hand: Decimal  # g for materials; the base's unit for bases


@dataclass(frozen=True)
class Licence:
    state: str
    expires_on: dt.date


@dataclass(frozen=True)
class PharmacySettings:
    """The pharmacy's compounding settings (WM-03, WM-04, WM-10)."""

    overage_percent: Decimal = Decimal("5")  # process loss added to every batch
    balance_sensitivity_mg: Decimal = Decimal("6")  # Class A prescription balance
    balance_max_error_percent: Decimal = Decimal("5")
    balance_readability_g: Decimal = Decimal("0.01")

    @property
    def minimum_weighable_g(self) -> Decimal:
        return self.balance_sensitivity_mg * 100 / self.balance_max_error_percent / 1000


@dataclass(frozen=True)
class OrderContext:
    """What the order says around its preparations, and what the pharmacy knows."""

    ship_to_state: str | None
    encounter_state: str | None
    prescriber_licences: tuple[Licence, ...] = ()
    pharmacy_licences: tuple[Licence, ...] = ()
    patient_named: bool = True
    patient_allergies: frozenset[str] = frozenset()
    clinical_difference_note: str = ""
    lots: tuple[Lot, ...] = ()
    settings: PharmacySettings = field(default_factory=PharmacySettings)


@dataclass(frozen=True)
class IngredientLine:
    code: str
    percent: Decimal


@dataclass(frozen=True)
class PreparationInput:
    base: str
    quantity: Decimal
    unit: str
    ingredients: tuple[IngredientLine, ...] = ()
    route: str = "topical"
    target_ph: Decimal | None = None
    water_activity: Decimal | None = None
    compounding_date: dt.date | None = None
    excluded_allergen_groups: frozenset[str] = frozenset()
    preservative_free: bool = False
    directions: str | None = None  # None: not judged (a caller with no directions to give, e.g. a bench)


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str
    message: str
    ingredient: str | None = None
    substance: str | None = None


@dataclass(frozen=True)
class WeighingLine:
    """One line of the compounding record: what to weigh and from which lots (first to expire first)."""

    item_code: str
    kind: str  # "material" | "base"
    share_percent: Decimal  # % w/w of the batch
    quantity: Decimal  # grams, rounded to the balance's readability (mL only for an mL base with no density on file)
    lots: tuple[Lot, ...]
    below_mwq: bool = False
    millilitres: Decimal | None = None  # the same amount in mL, for a liquid whose density is known (WM-07)


@dataclass(frozen=True)
class PreparationResult:
    findings: tuple[Finding, ...]
    compounding_date: dt.date
    target_ph: Decimal | None
    aqueous: bool
    preserved: bool
    beyond_use_days: int
    beyond_use_date: dt.date
    storage: str  # "refrigerate" | "room_or_refrigerate"
    base_percent: Decimal
    shares: dict[str, Decimal]  # material code -> % of the finished preparation, as supplied
    substances: tuple[tuple[str, Decimal], ...]  # (substance code, effective %), largest first
    batch_quantity: Decimal  # grams (mL only for an mL base with no density on file)
    weighings: tuple[WeighingLine, ...]
    minimum_weighable_g: Decimal
    density: Decimal | None = None  # the base's density when the preparation is made in mL
    batch_volume: Decimal | None = None  # mL: dispensed volume × (1 + overage)

    @property
    def ok(self) -> bool:
        return not any(f.severity == ERROR for f in self.findings)
