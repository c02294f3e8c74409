"""Rules: small stateful classes turning tracks, zones, lines and lanes into `RuleHit`s.

Import the registry (`analytics.rules.registry`) for `RuleConfig` and `build_rule`;
this package init stays import-light so rule plug-ins can import `analytics.rules.base`.
"""
