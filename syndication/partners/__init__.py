"""Partners: who receives pushes (registry), in which format (formats/), signed how (signing)."""
