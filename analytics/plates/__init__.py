"""Licence plates: find, read and validate Vietnamese plates in vehicle crops."""
