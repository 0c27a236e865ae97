"""A faithful local AlipayHK iPass server: the default environment and the test double.

It shares the request models, the rules and the signing code with the client
(`reconciler.domain.contract`, `reconciler.adapters.alipayhk`), so both sides describe one contract.
"""
