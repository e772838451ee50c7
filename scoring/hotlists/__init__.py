"""The weekly HOT lists and the inside-sales workbench (seed 004)."""
