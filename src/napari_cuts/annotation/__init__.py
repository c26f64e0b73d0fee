"""From clusters to annotations: pick, refine, snapping, components, measure."""
