"""Pure computation on frames and detections: detectors, tiling, tracker, geometry, rules, plates.

Entry points: `analytics.detections.Detections`, `analytics.detectors.build_detector`,
`analytics.scene.SceneAnalyzer` / `SceneConfig`, `analytics.rules.base.Rule` / `RuleHit`.
No I/O other than loading a model file.
"""
