"""The torch bridge (optional extra): build modules from specs, import modules, cross-check."""
