"""The AlipayHK iPass contract: request models, rules and result codes.

Shared by the client-side validator and the sandbox, so one rule gives one vendor code.
"""
