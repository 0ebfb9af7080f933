"""Clinics and their prescribers (NPI, state licences). Patients and orders join them later."""

from __future__ import annotations

import datetime as dt
import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from portal.history import tracked
from portal.models import StateLicence
from portal.states import USState
from portal.npi import validate_npi


class Clinic(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200, unique=True)
    platform_accounts = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="platform_clinics", limit_choices_to={"role": "platform"},
        help_text="Telehealth platform accounts (API only) that order for this clinic's prescribers and read its orders.")

    def __str__(self) -> str:
        return self.name


class Prescriber(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="prescriber")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="prescribers")
    npi = models.CharField("NPI", max_length=10, unique=True, validators=[validate_npi])
    credentials = models.CharField(max_length=20, blank=True, help_text="MD, DO, NP, PA …")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(npi__regex=r"^[12][0-9]{9}$"), name="prescriber_npi_format"),
        ]

    def __str__(self) -> str:
        name = self.user.get_full_name() or self.user.username
        return f"{name}, {self.credentials}" if self.credentials else name

    def licensed_states_on(self, day: dt.date) -> list[str]:
        return sorted(lic.state for lic in self.licences.all() if lic.is_active_on(day))


@tracked()
class PrescriberLicence(StateLicence):
    prescriber = models.ForeignKey(Prescriber, on_delete=models.CASCADE, related_name="licences")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["prescriber", "state", "number"], name="prescriber_licence_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.prescriber} {self.state} {self.number} (expires {self.expires_on})"


class Sex(models.TextChoices):
    FEMALE = "female", "Female"
    MALE = "male", "Male"
    OTHER = "other", "Other"
    UNKNOWN = "unknown", "Not stated"


@tracked()
class Patient(models.Model):
    """A patient of one clinic, shared by its prescribers and invisible to every other clinic."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="patients")
    external_id = models.CharField(max_length=100, blank=True, help_text="The clinic's own id for this patient.")
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    date_of_birth = models.DateField()
    sex = models.CharField(max_length=10, choices=Sex.choices, default=Sex.UNKNOWN)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=30, blank=True)
    address_line1 = models.CharField(max_length=200)
    address_line2 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100)
    state = models.CharField(max_length=2, choices=USState.choices)
    postal_code = models.CharField(max_length=10)
    allergies = models.ManyToManyField("formulary.AllergenGroup", blank=True, related_name="+")
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "external_id"],
                condition=~Q(external_id=""),
                name="patient_external_id_unique_per_clinic",
            ),
            models.CheckConstraint(condition=Q(sex__in=Sex.values), name="patient_sex_valid"),
        ]
        indexes = [
            # Serves the clinic's patient search by name.
            models.Index(fields=["clinic", "last_name", "first_name"], name="patient_clinic_name"),
        ]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}"


class OrderStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    IN_VERIFICATION = "in_verification", "In verification"
    CLARIFICATION_REQUESTED = "clarification_requested", "Clarification requested"
    APPROVED = "approved", "Approved"
    SHIPPED = "shipped", "Shipped"  # every open preparation has shipped (rolled up from the jobs)
    DELIVERED = "delivered", "Delivered"  # every open preparation has been delivered
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"


class RushStatus(models.TextChoices):
    NONE = "none", "Not asked"
    REQUESTED = "requested", "Asked, waiting for the pharmacist"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"


class Source(models.TextChoices):
    WEB = "web", "Portal"
    API = "api", "API"


@tracked("webhook_sequence")
class Order(models.Model):
    """One patient's order of one or more preparations. Only orders.transitions changes `status`."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    number = models.CharField(max_length=20, unique=True, help_text="RX-YYMM- and six random digits: reveals no count.")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="orders")
    prescriber = models.ForeignKey(Prescriber, on_delete=models.PROTECT, related_name="orders")
    patient = models.ForeignKey(Patient, null=True, blank=True, on_delete=models.PROTECT, related_name="orders")
    status = models.CharField(max_length=30, choices=OrderStatus.choices, default=OrderStatus.DRAFT)
    version = models.PositiveIntegerField(default=1, help_text="Bumped by every change; the API's ETag.")
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.WEB)
    external_id = models.CharField(max_length=100, blank=True)
    ship_to_line1 = models.CharField(max_length=200, blank=True)
    ship_to_line2 = models.CharField(max_length=200, blank=True)
    ship_to_city = models.CharField(max_length=100, blank=True)
    ship_to_state = models.CharField(max_length=2, choices=USState.choices, blank=True)
    ship_to_postal_code = models.CharField(max_length=10, blank=True)
    encounter_state = models.CharField(max_length=2, choices=USState.choices, blank=True)
    clinical_difference_note = models.TextField(blank=True)
    draft = models.JSONField(default=dict, blank=True, help_text="While a draft: the order body as the API takes it.")
    rules_version = models.CharField(max_length=80, blank=True)
    signed_at = models.DateTimeField(null=True, blank=True)
    signed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    attestation = models.TextField(blank=True)
    event_sequence = models.PositiveIntegerField(default=0)
    # The last sequence number given to a webhook event of this order (fulfillment's notifications take the
    # next one under this row's lock). Not in the change history: it moves with every notification.
    webhook_sequence = models.PositiveIntegerField(default=0)
    # The delivery promise made when the order was signed (or when a rush was accepted): kept to measure
    # on-time shipping against. estimated_delivery_date is the promise until it ships, then the carrier's.
    promised_ship_date = models.DateField(null=True, blank=True)
    promised_delivery_date = models.DateField(null=True, blank=True)
    estimated_delivery_date = models.DateField(null=True, blank=True)
    rush = models.CharField(max_length=10, choices=RushStatus.choices, default=RushStatus.NONE)
    rush_reason = models.TextField(blank=True, help_text="Why the prescriber asked for rush.")
    rush_answer = models.TextField(blank=True, help_text="Why the pharmacist declined it.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(status__in=OrderStatus.values), name="order_status_valid"),
            models.CheckConstraint(condition=Q(rush__in=RushStatus.values), name="order_rush_valid"),
            models.CheckConstraint(condition=Q(rush=RushStatus.NONE) | ~Q(rush_reason=""), name="order_rush_has_reason"),
            models.CheckConstraint(condition=Q(source__in=Source.values), name="order_source_valid"),
            models.CheckConstraint(
                condition=Q(status=OrderStatus.DRAFT) | (Q(patient__isnull=False) & Q(signed_at__isnull=False)),
                name="order_signed_unless_draft",
            ),
        ]
        indexes = [
            # Serves the clinic's order list, newest first, optionally by status.
            models.Index(fields=["clinic", "status", "-created_at"], name="order_clinic_status_created"),
            models.Index(fields=["clinic", "-created_at"], name="order_clinic_created"),
            # Serves the API's external_id filter.
            models.Index(fields=["clinic", "external_id"], name="order_clinic_external_id"),
            # Serves the metrics by signing day (orders received, clarification rate, per prescriber and formulation).
            models.Index(fields=["signed_at"], name="order_signed_at"),
            # Serves the pharmacist's list of rush requests waiting for an answer.
            models.Index(fields=["signed_at"], condition=Q(rush="requested"), name="order_rush_waiting"),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def is_draft(self) -> bool:
        return self.status == OrderStatus.DRAFT

    @property
    def status_text(self) -> str:
        """The status as people read it: an approved order whose preparations have partly shipped says so."""
        if self.status == OrderStatus.APPROVED:
            shipped = [p for p in self.preparations.all() if p.status in (PreparationStatus.SHIPPED, PreparationStatus.DELIVERED)]
            if shipped:
                return "Partly shipped"
        return self.get_status_display()


class PreparationStatus(models.TextChoices):
    PENDING = "pending", "Awaiting verification"
    QUEUED = "queued", "Queued"
    COMPOUNDING = "compounding", "Compounding"
    QC = "qc", "Quality check"
    READY = "ready", "Ready"
    SHIPPED = "shipped", "Shipped"
    DELIVERED = "delivered", "Delivered"
    ON_HOLD = "on_hold", "On hold"
    REWORK = "rework", "Rework"
    CANCELLED = "cancelled", "Cancelled"


@tracked("checked")
class Preparation(models.Model):
    """One preparation of a signed order, with a snapshot of everything it was checked against."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="preparations")
    position = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=20, choices=PreparationStatus.choices, default=PreparationStatus.PENDING)
    base_code = models.CharField(max_length=60)
    base_name = models.CharField(max_length=200)
    quantity = models.DecimalField(max_digits=10, decimal_places=3)
    unit = models.CharField(max_length=4)
    route = models.CharField(max_length=40, default="topical")
    target_ph = models.DecimalField(max_digits=4, decimal_places=2, null=True, blank=True)
    water_activity = models.DecimalField(max_digits=4, decimal_places=3, null=True, blank=True)
    directions = models.TextField(blank=True)
    refills = models.PositiveSmallIntegerField(default=0)
    refills_remaining = models.PositiveSmallIntegerField(default=0)
    # The prescriber's interval between fills ("every 30 days"): REFILL_TOO_SOON reads it, and auto-refill requests on it.
    refill_interval_days = models.PositiveSmallIntegerField(null=True, blank=True)
    # Auto-refill runs on that interval (fulfillment.refills.auto_refills_request, a beat task) unless the patient paused it.
    auto_refill_paused = models.BooleanField(default=False)
    exclusions = models.JSONField(default=dict)
    ingredients = models.JSONField(default=list, help_text="Snapshot: [{ingredient, name, percent, share_percent}].")
    checked = models.JSONField(default=dict, help_text="Snapshot of the engine's answer when signed.")
    beyond_use_days = models.PositiveIntegerField(help_text="The USP <795> table's period, from the rules engine.")
    storage = models.CharField(max_length=30)
    # A pharmacist's beyond-use period, longer or shorter than the table's, with what supports it (BUD-13).
    assigned_bud_days = models.PositiveIntegerField(null=True, blank=True)
    bud_citation = models.TextField(blank=True, help_text="Stability study, publication or supplier stability data.")
    bud_reason = models.TextField(blank=True)
    bud_assigned_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    bud_assigned_at = models.DateTimeField(null=True, blank=True)
    # The master formulation record it follows (USP <795> 7.2): the approved version of its formulation, or the
    # draft proposed at submission that a pharmacist approves before the order can be.
    mfr = models.ForeignKey("formulary.MasterFormulationRecord", null=True, blank=True, on_delete=models.PROTECT,
                            related_name="preparations")

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["order", "position"], name="preparation_position_unique"),
            models.CheckConstraint(condition=Q(status__in=PreparationStatus.values), name="preparation_status_valid"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="preparation_quantity_positive"),
            models.CheckConstraint(condition=Q(refills__lte=11) & Q(refills_remaining__lte=F("refills")), name="preparation_refills_range"),
            models.CheckConstraint(condition=Q(refill_interval_days__isnull=True) | Q(refill_interval_days__gte=1, refill_interval_days__lte=365),
                                   name="preparation_refill_interval_range"),
            models.CheckConstraint(
                condition=Q(assigned_bud_days__isnull=True)
                | (Q(assigned_bud_days__gt=0) & ~Q(bud_citation="") & Q(bud_assigned_by__isnull=False)),
                name="preparation_assigned_bud_cited",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order.number}/{self.position}"

    @property
    def label(self) -> str:
        from portal.numbers import percent_text

        actives = ", ".join(f"{line['name']} {percent_text(line['percent'])}" for line in self.ingredients)  # "4 %", never "4.0 %"
        return f"{self.base_name}" + (f" with {actives}" if actives else "")

    @property
    def refill_underway(self) -> bool:
        """A refill is being made: the first fill has left (the order shipped or was delivered) and the preparation is at
        work again. It is still counted among the refills left until it is released."""
        return self.order.status in (OrderStatus.SHIPPED, OrderStatus.DELIVERED) and self.status in REFILL_AT_WORK


REFILL_AT_WORK = (PreparationStatus.QUEUED, PreparationStatus.COMPOUNDING, PreparationStatus.QC, PreparationStatus.READY,
                  PreparationStatus.ON_HOLD, PreparationStatus.REWORK)


class OrderEventKind(models.TextChoices):
    DRAFT_CREATED = "draft_created", "Draft created"
    SIGNED = "signed", "Signed and submitted"
    STATUS_CHANGED = "status_changed", "Status changed"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"
    CLARIFICATION_REQUESTED = "clarification_requested", "Question from the pharmacist"
    CLARIFICATION_ANSWERED = "clarification_answered", "Answer from the prescriber"
    JOB_STATUS = "job_status", "Preparation status changed"
    TRANSITION_REFUSED = "transition_refused", "Status change refused"
    BUD_ASSIGNED = "bud_assigned", "Beyond-use date assigned"
    RUSH_REQUESTED = "rush_requested", "Rush requested"
    RUSH_ACCEPTED = "rush_accepted", "Rush accepted"
    RUSH_DECLINED = "rush_declined", "Rush declined"
    AMENDED = "amended", "Amended and signed again"
    QC_PASSED = "qc_passed", "QC passed"
    REFILL_REQUESTED = "refill_requested", "Refill requested"
    REFILL_RELEASED = "refill_released", "Refill released"
    RENEWAL_REQUESTED = "renewal_requested", "Renewal requested"
    RENEWAL_APPROVED = "renewal_approved", "Renewal approved"
    RENEWAL_DENIED = "renewal_denied", "Renewal denied"
    AUTO_REFILL_PAUSED = "auto_refill_paused", "Automatic refills paused"
    AUTO_REFILL_RESUMED = "auto_refill_resumed", "Automatic refills resumed"


class OrderEvent(models.Model):
    """The order's history: every status change, question and answer, with who and when."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    preparation = models.ForeignKey(Preparation, null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    sequence = models.PositiveIntegerField()
    kind = models.CharField(max_length=40, choices=OrderEventKind.choices)
    from_status = models.CharField(max_length=30, blank=True)
    to_status = models.CharField(max_length=30, blank=True)
    message = models.TextField(blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sequence"]
        constraints = [
            models.UniqueConstraint(fields=["order", "sequence"], name="order_event_sequence_unique"),
            models.CheckConstraint(condition=Q(kind__in=OrderEventKind.values), name="order_event_kind_valid"),
        ]
        indexes = [
            # Serves the metrics: approvals and clarification answers in a date range.
            models.Index(fields=["kind", "created_at"], name="order_event_kind_created"),
        ]


class RefillStatus(models.TextChoices):
    OPEN = "open", "Being filled"
    RELEASED = "released", "Released"
    CANCELLED = "cancelled", "Cancelled"


class RefillSource(models.TextChoices):
    PRESCRIBER = "prescriber", "Prescriber"
    PHARMACY = "pharmacy", "Pharmacy"
    PATIENT = "patient", "Patient"
    AUTO = "auto", "Auto-refill"
    API = "api", "API"


@tracked()
class RefillRequest(models.Model):
    """One refill of a preparation: fill n of the same signed prescription, made as its own job (fulfillment.refills).
    Accepted requests only: a refused one saves nothing. The preparation's refills_remaining goes down when the
    fill is released; until then an open request holds its refill, so two requests cannot take the last one."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    preparation = models.ForeignKey(Preparation, on_delete=models.PROTECT, related_name="refill_requests")
    fill = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=20, choices=RefillStatus.choices, default=RefillStatus.OPEN)
    source = models.CharField(max_length=20, choices=RefillSource.choices)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    note = models.TextField(blank=True)
    override_reason = models.TextField(blank=True, help_text="A pharmacist's reason for filling before the earliest date.")
    created_at = models.DateTimeField(auto_now_add=True)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["fill"]
        constraints = [
            models.UniqueConstraint(fields=["preparation", "fill"], name="refill_one_per_fill"),
            models.CheckConstraint(condition=Q(fill__gte=1), name="refill_fill_from_1"),
            models.CheckConstraint(condition=Q(status__in=RefillStatus.values), name="refill_status_valid"),
            models.CheckConstraint(condition=Q(source__in=RefillSource.values), name="refill_source_valid"),
            models.CheckConstraint(condition=~Q(status=RefillStatus.RELEASED) | Q(released_at__isnull=False),
                                   name="refill_released_has_time"),
        ]


class RenewalStatus(models.TextChoices):
    PENDING = "pending", "Waiting for the prescriber"
    APPROVED = "approved", "Approved"
    DENIED = "denied", "Denied"


@tracked()
class RenewalRequest(models.Model):
    """The pharmacy or the patient asks the prescriber to renew a preparation that has no refills left (or whose
    prescription expired). Approved, it points at the new signed order; denied, it keeps the prescriber's reason.
    While the prescriber changes it on the order form, `draft` is that form's order."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    preparation = models.ForeignKey(Preparation, on_delete=models.PROTECT, related_name="renewal_requests")
    status = models.CharField(max_length=20, choices=RenewalStatus.choices, default=RenewalStatus.PENDING)
    source = models.CharField(max_length=20, choices=RefillSource.choices)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    note = models.TextField(blank=True)
    why = models.CharField(max_length=30, help_text="The refill rule that called for it: NO_REFILLS_LEFT or PRESCRIPTION_EXPIRED.")
    draft = models.ForeignKey(Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    new_order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.PROTECT, related_name="renewed_from")
    reason = models.TextField(blank=True, help_text="The prescriber's reason for denying.")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=RenewalStatus.values), name="renewal_status_valid"),
            models.CheckConstraint(condition=Q(source__in=RefillSource.values), name="renewal_source_valid"),
            # One question at a time per preparation: asking again while one waits answers the waiting one.
            models.UniqueConstraint(fields=["preparation"], condition=Q(status="pending"), name="renewal_one_pending"),
            models.CheckConstraint(condition=~Q(status="approved") | Q(new_order__isnull=False), name="renewal_approved_has_order"),
            models.CheckConstraint(condition=~Q(status="denied") | ~Q(reason=""), name="renewal_denied_has_reason"),
        ]
        indexes = [
            # Serves the prescriber's home: the clinic's pending renewals, oldest first.
            models.Index(fields=["status", "created_at"], name="renewal_status_created"),
        ]


class OrderAmendment(models.Model):
    """A prescriber's answer to a clarification by changing the order: a new version of the same order. The
    preparations as they stood before are kept here, so the pharmacist sees what changed and the old version
    stays readable; the order's preparations are the new version."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="amendments")
    version = models.PositiveSmallIntegerField(help_text="The version this amendment made: 2 for the first.")
    previous = models.JSONField(help_text="The preparations of the version before, as signed.")
    note = models.TextField(blank=True, help_text="The prescriber's words to the pharmacist.")
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["version"]
        constraints = [
            models.UniqueConstraint(fields=["order", "version"], name="order_amendment_version_unique"),
            models.CheckConstraint(condition=Q(version__gte=2), name="order_amendment_version_from_2"),
        ]


class IdempotencyKey(models.Model):
    """One API POST per (caller, key): the first answer is kept and replayed for retries."""

    class State(models.TextChoices):
        IN_PROGRESS = "in_progress", "In progress"
        DONE = "done", "Done"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    state = models.CharField(max_length=20, choices=State.choices, default=State.IN_PROGRESS)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_unique_per_user"),
            models.CheckConstraint(condition=Q(state__in=["in_progress", "done"]), name="idempotency_state_valid"),
        ]


class Visibility(models.TextChoices):
    MINE = "mine", "Only me"
    CLINIC = "clinic", "My clinic"


class Favourite(models.Model):
    """A preparation saved under a name, for its prescriber or for the whole clinic."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="favourites")
    owner = models.ForeignKey(Prescriber, on_delete=models.CASCADE, related_name="favourites")
    name = models.CharField(max_length=120)
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.MINE)
    preparation = models.JSONField(help_text="A preparation as the order body takes it.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(visibility__in=Visibility.values), name="favourite_visibility_valid"),
            models.UniqueConstraint(fields=["owner", "name"], name="favourite_name_unique_per_owner"),
        ]

    def __str__(self) -> str:
        return self.name


# The salt and hash stay out of the copies: with the secret key the salt alone rebuilds the link.
@tracked("salt", "token_hash")
class PatientLink(models.Model):
    """The patient's status link. The token is never stored: it is HMAC(SECRET_KEY, salt), and only
    its SHA-256 is kept for look-up, so the server can show it again to the prescriber but a
    database reader cannot use it."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="patient_links")
    salt = models.CharField(max_length=32, unique=True)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # Serves "the order's current link".
            models.Index(fields=["order", "revoked_at"], name="patient_link_current"),
        ]
