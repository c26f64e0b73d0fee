"""napari's side (npe2): reader, writer, sample data and dock widgets."""
