"""Dataset cards, one per config (Markdown with a YAML header); used as the README of exports."""
