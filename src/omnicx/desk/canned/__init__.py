"""Canned replies (short codes such as ``/invoice``, with variables from the customer as
the agent may see them) and macros (several conversation actions in one click)."""
