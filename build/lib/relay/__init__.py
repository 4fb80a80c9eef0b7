"""Everything that leaves compuerta towards the MTA: transport, DSNs, DKIM, fan-out.

Imports only gateway.model (and metrics); the gateway calls into it, never the reverse.
"""
