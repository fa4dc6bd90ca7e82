"""The unified customer: traits, timeline, counters, and the 360 view."""
