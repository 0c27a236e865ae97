"""The AlipayHK iPass contract: request models, rules, result codes, the response envelope and
the identifiers AlipayHK hands out.

Shared by the client and the sandbox, so one rule gives one vendor code and one response shape.
"""
