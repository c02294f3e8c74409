"""Pure computation on frames and detections: detectors, tiling, tracker, geometry, rules, plates."""
