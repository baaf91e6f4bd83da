"""Attacks: a registry of query transforms applied between the dataset and the targets.

``ATTACKS`` holds ``typographic`` (FigStep-style), ``persuasion`` (PAP-style), ``template``
(prompt templates) and ``pgd`` (BAP's image perturbation); ``AttackConfig`` is how a run
config names one, and ``apply_attack`` runs it on a query.
"""

from generation.attacks import persuasion, pgd, templates, typographic
from generation.attacks.base import (
    ATTACK_MEDIA_DIR,
    ATTACKS,
    AttackConfig,
    AttackContext,
    AttackParams,
    AttackSpec,
    apply_attack,
    parse_params,
    public_params,
)

__all__ = [
    "ATTACKS",
    "ATTACK_MEDIA_DIR",
    "AttackConfig",
    "AttackContext",
    "AttackParams",
    "AttackSpec",
    "apply_attack",
    "parse_params",
    "persuasion",
    "pgd",
    "public_params",
    "templates",
    "typographic",
]
