"""What each rule code means, in words for people. Pure: no Django.

Codes are part of the API contract and stay in the API and in small print for the pharmacy; pages,
acknowledgements and PDFs lead with the title. `title(code)` never fails: an unknown code (a rule
added without a title) reads as a sentence made from the code, and a test keeps every code titled."""

from __future__ import annotations

# code -> (title, a sentence on why the rule exists)
RULE_TEXT: dict[str, tuple[str, str]] = {
    # errors
    "UNKNOWN_BASE": ("Base not in the formulary", "Only bases the pharmacy keeps can be compounded."),
    "UNKNOWN_INGREDIENT": ("Ingredient not in the formulary", "Only ingredients the pharmacy keeps can be compounded."),
    "DUPLICATE_INGREDIENT": ("Ingredient listed twice", "One line per ingredient keeps the strength unambiguous."),
    "CONCENTRATION_OUT_OF_RANGE": ("Strength outside the usable range",
                                   "Each ingredient has a range in which it is safe and effective on skin."),
    "FORMULA_PERCENT_OVER_100": ("Ingredients add up to 100 % or more", "The base must make up the rest of the preparation."),
    "VEHICLE_NOT_ALLOWED": ("Ingredient does not suit this base", "Some ingredients cannot be mixed into some kinds of base."),
    "QUANTITY_OUT_OF_RANGE": ("Quantity the base cannot be made in", "Each base is made in a range of quantities and one unit."),
    "OUT_OF_SCOPE_STERILE": ("Sterile route", "This pharmacy compounds non-sterile preparations only (USP <797> applies to sterile ones)."),
    "NO_IDENTIFIED_PATIENT": ("No named patient", "A 503A compounded preparation is made for one named patient."),
    "EXCLUDED_ALLERGEN": ("Contains an excluded allergen", "The order asked for the preparation to be free of this group."),
    "PATIENT_ALLERGY": ("Contains something the patient is allergic to", "The patient's recorded allergies always apply."),
    "PRESERVATIVE_EXCLUDED": ("Contains a preservative", "The order asked for a preservative-free preparation."),
    "LIVE_ORGANISM_NOT_COMPOUNDABLE": ("Live organisms", "A live biotherapeutic is a biological product and cannot be compounded under 503A."),
    "INVESTIGATIONAL_BIOLOGIC": ("Investigational biologic", "An investigational biologic cannot be compounded."),
    "LIVE_CULTURE_WITH_PRESERVATIVE": ("Live culture with a preservative", "A preservative kills a live culture."),
    "INCOMPATIBLE_INGREDIENTS": ("Ingredients that cannot be combined", "These ingredients react with or inactivate each other."),
    "PRESCRIBER_NOT_LICENSED_IN_PATIENT_STATE": ("Prescriber not licensed where the patient was seen",
                                                 "A prescriber must hold a licence in the state where the patient was at the visit."),
    "PHARMACY_NOT_LICENSED_FOR_DESTINATION": ("Pharmacy cannot ship to this state",
                                              "The pharmacy needs a licence for the state it ships to."),
    "PH_NOT_TOPICAL": ("Target pH unsafe on skin", "A pH below 3.0 or above 9.0 irritates or burns skin; a topical is made between them."),
    "DIRECTIONS_MISSING": ("No directions for use", "The label must tell the patient how to use the preparation."),
    # warnings
    "DISPUTED_ALLERGEN_MEMBER": ("Possible allergen (disputed member)",
                                 "Some sources count this substance in the allergen group, others do not."),
    "ORIGIN_UNKNOWN": ("Possible allergen (origin not stated)", "The supplier does not say what the substance is made from."),
    "AW_NOT_MEASURED": ("Dated as water-containing", "Without a measured water activity, a preparation with water gets the shorter date."),
    "PRESERVATIVE_PH_OUT_OF_RANGE": ("Preservative does not work at this pH", "Each preservative works only inside its pH window."),
    "NON_QUALIFYING_PRESERVATIVE": ("Preservative does not count for dating",
                                    "Only qualifying preservatives earn the longer USP <795> date."),
    "BOOSTER_NOT_PRESERVATIVE": ("Booster without a preservative", "A booster helps a preservative but never preserves alone."),
    "PH_OUTSIDE_MICROBIOME_TARGET": ("pH outside 4.5–5.5", "Skin's own pH is 4.5–5.5; leave-on preparations are kinder inside it."),
    "INGREDIENT_PH_OUT_OF_RANGE": ("Ingredient outside its pH range", "Some ingredients degrade or do not work outside their pH range."),
    "EXCEEDS_EU_LEAVE_ON_LIMIT": ("Above the EU leave-on limit", "The EU caps some substances in leave-on products."),
    "EU_LEAVE_ON_RESTRICTED": ("Banned in EU leave-on products", "The EU bans some substances in leave-on products."),
    "EXCEEDS_EU_RINSE_OFF_LIMIT": ("Above the EU rinse-off limit", "The EU caps some substances in rinse-off products."),
    "ABOVE_OTC_RANGE": ("Above the over-the-counter range", "A strength above the OTC monograph range is prescription strength."),
    "POSSIBLE_ESSENTIAL_COPY": ("May copy a commercial product",
                                "A compounded copy of a commercial product needs a clinical difference for the patient."),
    "BUD_LIMITED_BY_COMPONENT": ("Date shortened by a lot's expiry", "A preparation cannot outlast the materials in it."),
    "INSUFFICIENT_STOCK": ("Not enough stock", "The pharmacy has too little released, unexpired stock for this batch."),
    "BELOW_MWQ": ("Too light to weigh directly", "Below the balance's minimum weighable quantity the worksheet adds an aliquot step."),
    # at the bench
    "EXPIRED_COMPONENT": ("Expired lot", "An expired lot can never be used."),
}


def title(code: str) -> str:
    text = RULE_TEXT.get(code)
    if text:
        return text[0]
    return code.replace("_", " ").capitalize()


def reason(code: str) -> str:
    text = RULE_TEXT.get(code)
    return text[1] if text else ""
