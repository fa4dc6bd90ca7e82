"""Desk SLAs: business-hours calendars, SLA policies and the clocks that run on them.

``calendar`` does the working-time arithmetic; ``models`` holds the tables; ``policies``
and ``calendars`` manage the definitions; ``clocks`` starts, meets, pauses and fires the
clocks on the scheduler; ``api`` is the router. See docs/desk-sla.md.
"""
