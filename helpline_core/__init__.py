"""helpline's domain: store, tickets, officers, routing, and the rules that keep data safe.

Nothing in this package imports click: commands parse, call one function here, print.
"""
