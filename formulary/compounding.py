"""How the pharmacy makes each vehicle: the steps, the equipment, the container and closure, and the order of
addition (lysates and ferments last, below 40 °C). The master formulation record is built from these, and the
worksheet follows its MFR; fulfillment.documents reads them from here so both say the same thing."""

from __future__ import annotations

VEHICLE_STEPS = {
    "cream": ["Weigh the base into a tared ointment jar or unguator jar.",
              "Add each material in the order listed; add lysates and ferments last, below 40 °C.",
              "Mix with the electronic mortar and pestle for 2 minutes at medium speed; scrape down and mix 1 more minute."],
    "lotion": ["Weigh the base into a tared bottle.", "Add each material in the order listed; ferments and lysates last, below 40 °C.",
               "Cap and shake or mix on the vortex for 1 minute until uniform."],
    "gel": ["Weigh the gel base into a tared jar.", "Dissolve water-soluble materials in a small part of the gel first.",
            "Fold in the rest with a spatula; avoid trapping air."],
    "serum": ["Weigh the base into a tared beaker.", "Add each material while stirring; ferments and lysates last.",
              "Stir 2 minutes and fill into the dropper bottle."],
    "spray": ["Weigh the base into a tared beaker.", "Dissolve each material with stirring.", "Fill into the spray bottle."],
    "shampoo": ["Weigh the base into a tared beaker.", "Add each material with slow stirring to avoid foam.", "Fill into the bottle."],
    "conditioner": ["Weigh the base into a tared jar.", "Add each material and mix gently until uniform.", "Fill into the bottle."],
    "scalp_solution": ["Weigh the base into a tared beaker.", "Dissolve each material with stirring.", "Fill into the dropper bottle."],
    "ointment": ["Weigh the ointment base into a tared jar.", "Levigate powders with a little mineral oil or the base on a slab.",
                 "Incorporate geometrically; mix until smooth."],
    "balm": ["Melt the balm base at 60–65 °C.", "Cool to 40 °C and add each material with stirring.", "Pour into the tin and let set."],
}

_CLEAN = "Clean before and after: wash with hot water and detergent, rinse with purified water, wipe with 70 % isopropyl alcohol and let dry."
EQUIPMENT = {
    "cream": "Class A balance, unguator jar and electronic mortar and pestle, stainless spatula.",
    "lotion": "Class A balance, tared bottle or beaker, vortex mixer or overhead stirrer.",
    "gel": "Class A balance, tared jar, flexible spatula.",
    "serum": "Class A balance, glass beaker, magnetic stirrer, dropper bottle.",
    "spray": "Class A balance, glass beaker, magnetic stirrer, spray bottle.",
    "shampoo": "Class A balance, beaker, overhead stirrer at low speed.",
    "conditioner": "Class A balance, tared jar, overhead stirrer at low speed.",
    "scalp_solution": "Class A balance, glass beaker, magnetic stirrer, dropper bottle.",
    "ointment": "Class A balance, ointment slab, stainless spatulas.",
    "balm": "Class A balance, water bath with thermometer, stainless beaker, tin.",
}


def equipment_line(vehicle: str) -> str:
    return f"{EQUIPMENT.get(vehicle, 'Class A balance, clean vessel, stainless spatula.')} {_CLEAN}"


CONTAINERS = {
    "cream": "Airless pump bottle or white PP ointment jar with a lined screw cap, tamper-evident seal.",
    "lotion": "HDPE bottle with a pump or disc-top closure, tamper-evident seal.",
    "gel": "Airless pump bottle or PP jar with a lined screw cap, tamper-evident seal.",
    "serum": "Amber glass dropper bottle with a child-resistant dropper closure.",
    "spray": "HDPE or PET bottle with a fine-mist spray pump and overcap.",
    "shampoo": "HDPE bottle with a flip-top closure.",
    "conditioner": "HDPE bottle with a flip-top closure.",
    "scalp_solution": "Amber glass or PET dropper bottle with a child-resistant dropper closure.",
    "ointment": "White PP ointment jar with a lined screw cap, or an aluminium tube, tamper-evident seal.",
    "balm": "Aluminium or tinplate tin with a slip lid, tamper-evident band.",
}

# Lysates and ferments go in last, below 40 °C (the vehicle steps say so); everything else in formula order.
LATE_CATEGORIES = frozenset({"probiotic", "postbiotic"})


def added_late(*, name: str, category: str | None) -> bool:
    name = (name or "").lower()
    return category in LATE_CATEGORIES or "lysate" in name or "ferment" in name
