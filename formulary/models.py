"""The formulary: what every rule reads.

Materials (as supplied) and bases expand into substances by %, so an allergen or preservative
inside a supplied ferment or inside a base is found. Stock is kept by lot with expiry.

Percentages are Decimal(9, 4): the starter formulary uses at most four decimals (0.0015 %).
Lists that the export must reproduce in order (compositions, allergen groups) keep a position.
"""

from __future__ import annotations

import uuid

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q

PERCENT = {"max_digits": 9, "decimal_places": 4}
PH = {"max_digits": 4, "decimal_places": 2}
# g/mL at 20–25 °C, to four decimals (1.0028); nothing a pharmacy compounds is denser than 3 g/mL.
DENSITY = {"max_digits": 6, "decimal_places": 4}
DENSITY_MAX = 3


def _density_valid() -> Q:
    return Q(density_g_per_ml__isnull=True) | Q(density_g_per_ml__gt=0, density_g_per_ml__lte=DENSITY_MAX)


class FormularyState(models.Model):
    """One row: the formulary's version, a revision bumped by every edit, and its fixed lists."""

    version = models.CharField(max_length=40)
    revision = models.PositiveIntegerField(default=1)
    about = models.TextField(blank=True)
    vehicles = models.JSONField(default=dict, help_text='{"aqueous_kinds": [...], "anhydrous_kinds": [...]}')
    routes = models.JSONField(default=dict, help_text='{"non_sterile": [...], "sterile_out_of_scope": [...]}')
    updated_at = models.DateTimeField(auto_now=True)

    @property
    def label(self) -> str:
        return f"{self.version}.r{self.revision}"


class AllergenGroup(models.Model):
    code = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "code"]

    def __str__(self) -> str:
        return self.name


class EuSumGroup(models.Model):
    """Substances whose EU limit applies to their sum (all parabens together, for example)."""

    code = models.CharField(max_length=60, unique=True)
    eu_leave_on_max_percent = models.DecimalField(null=True, blank=True, **PERCENT)
    eu_rinse_off_max_percent = models.DecimalField(null=True, blank=True, **PERCENT)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "code"]

    def __str__(self) -> str:
        return self.code


class Antimicrobial(models.TextChoices):
    QUALIFYING = "qualifying", "Qualifying preservative"
    NON_QUALIFYING = "non_qualifying", "Antimicrobial that does not qualify as a preservative"
    BOOSTER = "booster", "Preservative booster only"


class Substance(models.Model):
    code = models.CharField(max_length=60, unique=True)
    inci = models.CharField("INCI name", max_length=200)
    is_water = models.BooleanField(default=False)
    antimicrobial = models.CharField(max_length=20, choices=Antimicrobial.choices, blank=True)
    preservative_min_percent = models.DecimalField(null=True, blank=True, **PERCENT)
    preservative_ph_min = models.DecimalField(null=True, blank=True, **PH)
    preservative_ph_max = models.DecimalField(null=True, blank=True, **PH)
    eu_leave_on_max_percent = models.DecimalField(null=True, blank=True, **PERCENT)
    eu_rinse_off_max_percent = models.DecimalField(null=True, blank=True, **PERCENT)
    eu_leave_on_banned = models.BooleanField(default=False)
    eu_limit_as_acid_factor = models.DecimalField(null=True, blank=True, max_digits=6, decimal_places=4)
    eu_limit_sum_group = models.ForeignKey(EuSumGroup, null=True, blank=True, on_delete=models.PROTECT)
    eu_limit_source = models.TextField("source of the EU limits", blank=True, help_text="The Annex V entry the limits come from.")
    notes = models.TextField(blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(antimicrobial__in=["", *Antimicrobial.values]), name="substance_antimicrobial_valid"
            ),
            models.CheckConstraint(
                condition=Q(preservative_min_percent__isnull=True)
                | Q(preservative_min_percent__gt=0, preservative_min_percent__lte=100),
                name="substance_preservative_min_range",
            ),
            models.CheckConstraint(
                condition=Q(preservative_ph_min__isnull=True)
                | Q(preservative_ph_max__isnull=True)
                | Q(preservative_ph_min__lte=F("preservative_ph_max")),
                name="substance_preservative_ph_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.inci} ({self.code})"


class AllergenLink(models.TextChoices):
    CARRIES = "carries", "Carries"
    DISPUTED = "disputed", "Disputed member"
    ORIGIN_UNKNOWN = "origin_unknown", "May carry (origin not stated)"


class SubstanceAllergen(models.Model):
    substance = models.ForeignKey(Substance, on_delete=models.CASCADE, related_name="allergen_links")
    group = models.ForeignKey(AllergenGroup, on_delete=models.PROTECT, related_name="substance_links")
    link = models.CharField(max_length=20, choices=AllergenLink.choices)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["substance", "group", "link"], name="substance_allergen_unique"),
            models.CheckConstraint(condition=Q(link__in=AllergenLink.values), name="substance_allergen_link_valid"),
        ]


class Category(models.TextChoices):
    PROBIOTIC = "probiotic", "Probiotic"
    PREBIOTIC = "prebiotic", "Prebiotic"
    POSTBIOTIC = "postbiotic", "Postbiotic"
    ACTIVE = "active", "Active"
    BOTANICAL = "botanical", "Botanical"
    BARRIER_LIPID = "barrier_lipid", "Barrier lipid"
    HUMECTANT = "humectant", "Humectant"
    SOOTHING = "soothing", "Soothing"
    ANTIOXIDANT = "antioxidant", "Antioxidant"
    CONDITIONING = "conditioning", "Conditioning"
    PH_ADJUSTER = "ph_adjuster", "pH adjuster"
    SOLVENT = "solvent", "Solvent"
    PRESERVATIVE = "preservative", "Preservative"
    PRESERVATIVE_BOOSTER = "preservative_booster", "Preservative booster"


class Viability(models.TextChoices):
    LIVE = "live", "Live organisms"
    INACTIVATED = "inactivated", "Inactivated (heat-killed)"
    LYSATE = "lysate", "Lysate"
    FERMENT_FILTRATE = "ferment_filtrate", "Ferment filtrate"


class Storage(models.TextChoices):
    ROOM = "room", "Room temperature"
    REFRIGERATE = "refrigerate", "Refrigerate"


class PhysicalForm(models.TextChoices):
    SOLID = "solid", "Solid"
    SEMISOLID = "semisolid", "Semisolid"
    LIQUID = "liquid", "Liquid"


class StrengthBasis(models.TextChoices):
    """How a material's percent is meant in a preparation made in mL (gram preparations are always w/w)."""

    WW = "w/w", "% w/w (g per 100 g)"
    WV = "w/v", "% w/v (g per 100 mL)"
    VV = "v/v", "% v/v (mL per 100 mL)"


class ActiveQuerySet(models.QuerySet):
    def active(self):
        return self.filter(is_active=True)


class Material(models.Model):
    """A raw material as supplied (a ferment solution, a preservative blend, a pure active)."""

    code = models.CharField(max_length=60, unique=True)
    name = models.CharField(max_length=200)
    category = models.CharField(max_length=30, choices=Category.choices)
    use_min_percent = models.DecimalField(**PERCENT)
    use_max_percent = models.DecimalField(**PERCENT)
    vehicles = models.JSONField(default=list, help_text="Vehicle kinds this material may go into.")
    ph_min = models.DecimalField(null=True, blank=True, **PH)
    ph_max = models.DecimalField(null=True, blank=True, **PH)
    viability = models.CharField(max_length=20, choices=Viability.choices, blank=True)
    investigational = models.BooleanField(default=False)
    rx_only = models.BooleanField(default=False)
    rx_threshold_percent = models.DecimalField(null=True, blank=True, **PERCENT)
    otc_leave_on_min_percent = models.DecimalField(null=True, blank=True, **PERCENT)
    otc_leave_on_max_percent = models.DecimalField(null=True, blank=True, **PERCENT)
    otc_rinse_off_min_percent = models.DecimalField(null=True, blank=True, **PERCENT)
    otc_rinse_off_max_percent = models.DecimalField(null=True, blank=True, **PERCENT)
    active_substance = models.ForeignKey(Substance, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    active_fraction = models.DecimalField(max_digits=7, decimal_places=6, default=1)
    storage = models.CharField(max_length=20, choices=Storage.choices, default=Storage.ROOM)
    cfu_per_g = models.FloatField(null=True, blank=True)
    physical_form = models.CharField(max_length=10, choices=PhysicalForm.choices, default=PhysicalForm.SOLID)
    strength_basis = models.CharField(max_length=4, choices=StrengthBasis.choices, default=StrengthBasis.WW)
    density_g_per_ml = models.DecimalField("density (g/mL at 20–25 °C)", null=True, blank=True, **DENSITY)
    density_source = models.TextField(blank=True, help_text="Supplier data sheet or standard reference for the density.")
    notes = models.TextField(blank=True)
    is_active = models.BooleanField(default=True, help_text="Offered to prescribers.")
    position = models.PositiveIntegerField(default=0)

    objects = ActiveQuerySet.as_manager()

    class Meta:
        ordering = ["position", "code"]
        constraints = [
            models.CheckConstraint(condition=Q(category__in=Category.values), name="material_category_valid"),
            models.CheckConstraint(condition=Q(viability__in=["", *Viability.values]), name="material_viability_valid"),
            models.CheckConstraint(condition=Q(storage__in=Storage.values), name="material_storage_valid"),
            models.CheckConstraint(
                condition=Q(use_min_percent__gte=0) & Q(use_min_percent__lte=F("use_max_percent")) & Q(use_max_percent__lte=100),
                name="material_use_range_valid",
            ),
            models.CheckConstraint(
                condition=Q(active_fraction__gt=0, active_fraction__lte=1), name="material_active_fraction_range"
            ),
            models.CheckConstraint(
                condition=Q(ph_min__isnull=True) | Q(ph_max__isnull=True) | Q(ph_min__lte=F("ph_max")),
                name="material_ph_ordered",
            ),
            models.CheckConstraint(condition=Q(physical_form__in=PhysicalForm.values), name="material_physical_form_valid"),
            models.CheckConstraint(condition=Q(strength_basis__in=StrengthBasis.values), name="material_strength_basis_valid"),
            models.CheckConstraint(condition=_density_valid(), name="material_density_range",
                                   violation_error_message="A density must be above 0 and at most 3 g/mL."),
            models.CheckConstraint(
                condition=~Q(strength_basis=StrengthBasis.VV) | Q(physical_form=PhysicalForm.LIQUID, density_g_per_ml__isnull=False),
                name="material_vv_only_for_liquids",
                violation_error_message="%% v/v is only for a liquid whose density is on file.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def vehicles_display(self) -> str:
        return ", ".join(v.replace("_", " ") for v in self.vehicles)


class MaterialComponent(models.Model):
    material = models.ForeignKey(Material, on_delete=models.CASCADE, related_name="components")
    substance = models.ForeignKey(Substance, on_delete=models.PROTECT, related_name="material_components")
    percent = models.DecimalField(**PERCENT)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["material", "substance"], name="material_component_unique"),
            models.CheckConstraint(condition=Q(percent__gt=0, percent__lte=100), name="material_component_percent_range"),
        ]


class Application(models.TextChoices):
    LEAVE_ON = "leave_on", "Leave-on"
    RINSE_OFF = "rinse_off", "Rinse-off"


class Unit(models.TextChoices):
    GRAM = "g", "g"
    MILLILITRE = "mL", "mL"


class Base(models.Model):
    """A vehicle the pharmacy keeps ready: it fills whatever share the materials leave."""

    code = models.CharField(max_length=60, unique=True)
    name = models.CharField(max_length=200)
    vehicle = models.CharField(max_length=30)
    application = models.CharField(max_length=20, choices=Application.choices)
    default_ph = models.DecimalField(null=True, blank=True, **PH)
    ph_min = models.DecimalField(null=True, blank=True, **PH)
    ph_max = models.DecimalField(null=True, blank=True, **PH)
    min_quantity = models.DecimalField(max_digits=10, decimal_places=3)
    max_quantity = models.DecimalField(max_digits=10, decimal_places=3)
    unit = models.CharField(max_length=4, choices=Unit.choices)
    density_g_per_ml = models.DecimalField("density (g/mL at 20–25 °C)", null=True, blank=True, **DENSITY)
    density_source = models.TextField(blank=True, help_text="Supplier data sheet or standard reference for the density.")
    notes = models.TextField(blank=True)
    is_active = models.BooleanField(default=True, help_text="Offered to prescribers.")
    position = models.PositiveIntegerField(default=0)

    objects = ActiveQuerySet.as_manager()

    class Meta:
        ordering = ["position", "code"]
        constraints = [
            models.CheckConstraint(condition=Q(application__in=Application.values), name="base_application_valid"),
            models.CheckConstraint(condition=_density_valid(), name="base_density_range",
                                   violation_error_message="A density must be above 0 and at most 3 g/mL."),
            models.CheckConstraint(condition=Q(unit__in=Unit.values), name="base_unit_valid"),
            models.CheckConstraint(
                condition=Q(min_quantity__gt=0) & Q(min_quantity__lte=F("max_quantity")), name="base_quantity_range_valid"
            ),
            models.CheckConstraint(
                condition=Q(ph_min__isnull=True) | Q(ph_max__isnull=True) | Q(ph_min__lte=F("ph_max")),
                name="base_ph_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        # Not a database constraint: bases saved before densities existed must still load; import and the
        # admin refuse a new or edited mL base without one.
        if self.unit == Unit.MILLILITRE and self.density_g_per_ml is None:
            raise ValidationError({"density_g_per_ml": "A base made in mL needs its density (g/mL at 20–25 °C)."})

    @property
    def vehicle_display(self) -> str:
        return self.vehicle.replace("_", " ").capitalize()


class BaseComponent(models.Model):
    base = models.ForeignKey(Base, on_delete=models.CASCADE, related_name="components")
    substance = models.ForeignKey(Substance, on_delete=models.PROTECT, related_name="base_components")
    percent = models.DecimalField(**PERCENT)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["base", "substance"], name="base_component_unique"),
            models.CheckConstraint(condition=Q(percent__gt=0, percent__lte=100), name="base_component_percent_range"),
        ]


class Incompatibility(models.Model):
    material_a = models.ForeignKey(Material, on_delete=models.CASCADE, related_name="+")
    material_b = models.ForeignKey(Material, on_delete=models.CASCADE, related_name="+")
    reason = models.TextField()
    position = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name_plural = "incompatibilities"
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["material_a", "material_b"], name="incompatibility_unique_pair"),
            models.CheckConstraint(condition=~Q(material_a=F("material_b")), name="incompatibility_two_materials"),
        ]

    def __str__(self) -> str:
        return f"{self.material_a.code} + {self.material_b.code}"


class LotStatus(models.TextChoices):
    QUARANTINED = "quarantined", "Quarantined"
    RELEASED = "released", "Released"
    EXHAUSTED = "exhausted", "Exhausted"
    EXPIRED = "expired", "Expired"


class StockLot(models.Model):
    """A received lot of a material or a base. Quantity in the item's unit (g for materials)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    material = models.ForeignKey(Material, null=True, blank=True, on_delete=models.PROTECT, related_name="lots")
    base = models.ForeignKey(Base, null=True, blank=True, on_delete=models.PROTECT, related_name="lots")
    lot_number = models.CharField(max_length=60)
    supplier = models.CharField(max_length=120)
    manufacturer = models.CharField(max_length=120, blank=True, help_text="Who made it, when the supplier is a distributor.")
    expires_on = models.DateField()
    received_on = models.DateField()
    quantity_received = models.DecimalField(max_digits=12, decimal_places=3)
    quantity_on_hand = models.DecimalField(max_digits=12, decimal_places=3)
    certificate = models.FileField(upload_to="coa/%Y/", blank=True)
    status = models.CharField(max_length=20, choices=LotStatus.choices, default=LotStatus.QUARANTINED)
    received_by = models.ForeignKey("portal.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(material__isnull=False) & Q(base__isnull=True)) | (Q(material__isnull=True) & Q(base__isnull=False)),
                name="stock_lot_material_xor_base",
            ),
            models.CheckConstraint(condition=Q(status__in=LotStatus.values), name="stock_lot_status_valid"),
            models.CheckConstraint(condition=Q(quantity_on_hand__gte=0), name="stock_lot_quantity_non_negative"),
            models.CheckConstraint(condition=Q(quantity_received__gt=0), name="stock_lot_received_positive"),
            models.CheckConstraint(condition=Q(expires_on__gt=F("received_on")), name="stock_lot_expiry_after_receipt"),
            models.UniqueConstraint(fields=["material", "lot_number"], name="stock_lot_unique_per_material"),
            models.UniqueConstraint(fields=["base", "lot_number"], name="stock_lot_unique_per_base"),
        ]
        indexes = [
            # Serves "usable lots of these items, first to expire first" (rules engine stock context).
            models.Index(fields=["material", "status", "expires_on"], name="stock_lot_material_fefo"),
            models.Index(fields=["base", "status", "expires_on"], name="stock_lot_base_fefo"),
        ]

    def __str__(self) -> str:
        return f"{self.item_code} lot {self.lot_number}"

    @property
    def item(self):
        return self.material or self.base

    @property
    def item_code(self) -> str:
        return self.item.code

    @property
    def unit(self) -> str:
        return self.base.unit if self.base_id else "g"

    def effective_status(self, today) -> str:
        """A released lot past its expiry date is expired, whatever its stored status says."""
        if self.status in (LotStatus.RELEASED, LotStatus.QUARANTINED) and self.expires_on < today:
            return LotStatus.EXPIRED
        return self.status


from formulary.models_mfr import MasterFormulationRecord, MfrStatus  # noqa: E402,F401 - Django finds models here
