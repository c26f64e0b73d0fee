"""From points to a hierarchy: basins, node statistics, condensation, merge tree, levels, default level."""
