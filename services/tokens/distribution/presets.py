"""The five presets of SPEC.md "Token Distribution". A preset fills these fields; editing any of them makes the
policy "custom"."""

PRESET_FIELDS = ("floor", "ceiling", "auto_increase", "increase_method", "increase_amount", "trigger_pct",
                 "cooldown_minutes", "near_ceiling_bump_pct")

PRESETS: dict[str, dict] = {
    "conservative": dict(floor=200_000, ceiling=1_000_000, auto_increase=True, increase_method="percent_current",
                         increase_amount=25, trigger_pct=90.0, cooldown_minutes=240, near_ceiling_bump_pct=None),
    "standard": dict(floor=500_000, ceiling=5_000_000, auto_increase=True, increase_method="percent_current",
                     increase_amount=25, trigger_pct=80.0, cooldown_minutes=60, near_ceiling_bump_pct=50),
    "aggressive": dict(floor=1_000_000, ceiling=None, auto_increase=True, increase_method="flat",
                       increase_amount=500_000, trigger_pct=75.0, cooldown_minutes=30, near_ceiling_bump_pct=None),
    "dynamic": dict(floor=500_000, ceiling=None, auto_increase=True, increase_method="tiered",
                    increase_amount=25, trigger_pct=75.0, cooldown_minutes=60, near_ceiling_bump_pct=None),
}
PRESET_NAMES = ("conservative", "standard", "aggressive", "dynamic", "custom")
LABELS = {"conservative": "Conservative", "standard": "Standard", "aggressive": "Aggressive", "dynamic": "Dynamic",
          "custom": "Custom"}

# Dynamic's tiered mode: the higher the usage, the bigger the step (a multiple of the headroom percentage).
TIERS = ((99.9, 3), (90.0, 2), (75.0, 1))
# "Near the ceiling" = the current allocation is at least this share of the ceiling.
NEAR_CEILING_PCT = 80
