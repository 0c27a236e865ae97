"""The AlipayHK iPass contract: request models, rules and result codes (shared by client and sandbox)."""
